"""Company names: case, accents, punctuation, "&", legal suffixes.

"ACME, Inc.", "Acme Incorporated" and "acme" agree.
"""

import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms.normalizers.name import fold
from crmsync.transforms.normalizers.placeholders import (
    PLACEHOLDER_COMPANIES, blank_placeholders)
from crmsync.transforms.normalizers.text import blank_to_null

LEGAL = ["inc", "incorporated", "llc", "l l c", "ltd", "limited", "corp",
         "corporation", "co", "company", "gmbh", "ag", "sa", "sas", "sarl",
         "bv", "nv", "plc", "pty", "lp", "llp", "srl", "spa", "ab", "oy",
         "as", "kg", "pvt", "pte"]


def normalize(values: pa.Array) -> pa.Array:
  """The company key of each value ("acme", "smith and sons"): a string
  array of the same length, null where nothing is left or the value is a
  placeholder ("[not provided]": normalizers/placeholders.py)."""
  v = pc.replace_substring(values.cast(pa.string()), "&", " and ")
  v = fold(v)
  v = pc.replace_substring_regex(v, r"^the ", "")
  v = pc.replace_substring_regex(v, r"(?: (?:and|%s))+$" % "|".join(LEGAL),
                                 "")
  return blank_placeholders(blank_to_null(v), PLACEHOLDER_COMPANIES)
