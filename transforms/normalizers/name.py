"""Person names: case, accents, punctuation, titles and suffixes.

"Dr. José Müller-Smith, PhD" and "jose muller smith" agree.
"""

import pyarrow as pa
import pyarrow.compute as pc

from transforms.normalizers.text import blank_to_null, squeeze

TITLES = ["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "rev"]
SUFFIXES = ["jr", "sr", "ii", "iii", "iv", "phd", "md", "esq", "dds", "mba",
            "cpa", "rn"]


def fold(values: pa.Array) -> pa.Array:
  """Lowercase, accents stripped, punctuation to spaces, whitespace squeezed."""
  v = pc.utf8_lower(values.cast(pa.string()))
  v = pc.replace_substring_regex(pc.utf8_normalize(v, "NFKD"), r"\pM", "")
  v = pc.replace_substring_regex(v, r"['’`]", "")
  v = pc.replace_substring_regex(v, r"[^\pL\pN]+", " ")
  return squeeze(v)


def normalize(values: pa.Array, **_) -> pa.Array:
  v = fold(values)
  v = pc.replace_substring_regex(v, r"^(?:(?:%s) )+" % "|".join(TITLES), "")
  v = pc.replace_substring_regex(v, r"(?: (?:%s))+$" % "|".join(SUFFIXES), "")
  return blank_to_null(v)
