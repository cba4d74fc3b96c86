"""Company names: case, accents, punctuation, "&", legal suffixes.

"ACME, Inc.", "Acme Incorporated" and "acme" agree.
"""

import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms.normalizers.name import fold
from crmsync.transforms.normalizers.text import blank_to_null

LEGAL = ["inc", "incorporated", "llc", "l l c", "ltd", "limited", "corp",
         "corporation", "co", "company", "gmbh", "ag", "sa", "sas", "sarl",
         "bv", "nv", "plc", "pty", "lp", "llp", "srl", "spa", "ab", "oy",
         "as", "kg", "pvt", "pte"]


def normalize(values: pa.Array) -> pa.Array:
  """The company key of each value ("acme", "smith and sons"): a string
  array of the same length, null where nothing is left."""
  v = pc.replace_substring(values.cast(pa.string()), "&", " and ")
  v = fold(v)
  v = pc.replace_substring_regex(v, r"^the ", "")
  v = pc.replace_substring_regex(v, r"(?: (?:and|%s))+$" % "|".join(LEGAL),
                                 "")
  return blank_to_null(v)
