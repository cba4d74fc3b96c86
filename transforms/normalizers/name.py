"""Person names: case, accents, punctuation, titles and suffixes.

"Dr. José Müller-Smith, PhD" and "jose muller smith" agree.
"""

import pyarrow as pa
import pyarrow.compute as pc

from transforms.normalizers.text import blank_to_null, squeeze

TITLES = ["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "rev"]
SUFFIXES = ["jr", "sr", "ii", "iii", "iv", "phd", "md", "esq", "dds", "mba",
            "cpa", "rn"]


def _on_rows(values: pa.Array, rows: pa.Array, fn) -> pa.Array:
  """Applies `fn` only to the rows where `rows` is true (the few that need a
  slow regex pass), leaving the others as they are."""
  rows = pc.fill_null(rows, False)
  if not pc.any(rows).as_py():
    return values
  return pc.replace_with_mask(values, rows, fn(values.filter(rows)))


def _strip_accents(v: pa.Array) -> pa.Array:
  return pc.replace_substring_regex(pc.utf8_normalize(v, "NFKD"), r"\pM", "")


def _words(v: pa.Array) -> pa.Array:
  v = pc.replace_substring_regex(v, r"['’`]", "")
  return squeeze(pc.replace_substring_regex(v, r"[^\pL\pN]+", " "))


def fold(values: pa.Array) -> pa.Array:
  """Lowercase, accents stripped, punctuation to spaces, whitespace squeezed."""
  v = pc.utf8_lower(values.cast(pa.string()))
  v = _on_rows(v, pc.invert(pc.string_is_ascii(v)), _strip_accents)
  # A one-word name of letters and digits is already folded.
  return _on_rows(v, pc.invert(pc.utf8_is_alnum(v)), _words)


def normalize(values: pa.Array, **_) -> pa.Array:
  v = fold(values)
  spaced = pc.match_substring(v, " ")
  v = _on_rows(v, spaced, lambda w: pc.replace_substring_regex(
      w, r"^(?:(?:%s) )+" % "|".join(TITLES), ""))
  v = _on_rows(v, spaced, lambda w: pc.replace_substring_regex(
      w, r"(?: (?:%s))+$" % "|".join(SUFFIXES), ""))
  return blank_to_null(v)
