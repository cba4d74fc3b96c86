"""Enriched values that are not values of their column's kind.

A vendor's phone column that went through Excel holds "5.55201E+09", its
ZIP column "2134.5", its email column "n/a". Such a value must never replace
a valid CRM value nor fill a blank, whatever the conflict strategy: the
merge treats it as empty (unless `conflicts.write_invalid`) and lists it in
invalid_values.csv with the reason found here. The kind of a column is the
normalizer of its key, else the kind its name says (MergeSpec.key_normalizer);
a value is valid when that normalizer gives it a key.
"""

from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms import multi_value, normalizers

# The kinds whose normalizer tells a value from noise (names, companies and
# free text have no invalid values).
VALIDATED = ("email", "email_provider", "phone", "zip", "url", "domain")
SCIENTIFIC = r"^\s*[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+\s*$"
DECIMALS = r"^\s*\d+[.,]\d+\s*$"


def _reason(kind: str, values: pa.Array) -> pa.Array:
  if kind == "phone":
    return pc.if_else(pc.match_substring_regex(values, SCIENTIFIC),
                      "scientific notation: a spreadsheet rounded the "
                      "number, its digits are lost", "not a phone number")
  if kind == "zip":
    return pc.if_else(pc.or_(pc.match_substring_regex(values, SCIENTIFIC),
                             pc.match_substring_regex(values, DECIMALS)),
                      "a number with decimals, not a postal code",
                      "not a postal code")
  if kind in ("email", "email_provider"):
    return pa.array(["not an email address"] * len(values), pa.string())
  return pa.array(["not a web address"] * len(values), pa.string())


def invalid_reasons(values: pa.Array, kind: str,
                    region: str = "US") -> Optional[pa.Array]:
  """Why each value is not one of `kind` (null where it is valid or
  blank); None when every value is valid or blank, the common case. A cell
  of several values ("a@x.com, b@y.com") is valid when each one is."""
  return check(values, kind, region)[0]


def check(values: pa.Array, kind: str, region: str = "US"):
  """(invalid_reasons, the values' keys by the kind's normalizer: null
  where blank or invalid, None for a kind that is not VALIDATED), so that
  a caller comparing the values need not normalise them again."""
  if kind not in VALIDATED or not len(values):
    return None, None
  if isinstance(values, pa.ChunkedArray):
    values = values.combine_chunks()
  filled = pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(values), ""),
                        False)
  rows = pc.indices_nonzero(filled)
  if not len(rows):
    return None, pa.nulls(len(values), pa.string())
  normalize = normalizers.get(kind)
  sub = values.take(rows)
  found = normalize(sub, phone_region=region)
  keys = pc.replace_with_mask(pa.nulls(len(values), pa.string()), filled,
                              found)
  bad = pc.is_null(found).to_numpy(zero_copy_only=False)
  if not bad.any():
    return None, keys
  at = np.flatnonzero(bad)
  several = pc.match_substring_regex(sub.take(pa.array(at)),
                                     multi_value.SEPARATORS).to_numpy(
                                         zero_copy_only=False)
  if several.any():
    cells = at[several]
    parts, parents = multi_value.explode(sub.take(pa.array(cells)))
    part_bad = pc.is_null(normalize(parts, phone_region=region)).to_numpy(
        zero_copy_only=False)
    bad_parent = np.zeros(cells.size, bool)
    bad_parent[parents.to_numpy()[part_bad]] = True
    bad[cells[~bad_parent]] = False
    if not bad.any():
      return None, keys
  bad_rows = rows.to_numpy()[bad]
  reasons = np.full(len(values), None, object)
  reasons[bad_rows] = _reason(kind, values.take(pa.array(bad_rows))).to_numpy(
      zero_copy_only=False)
  return pa.array(reasons, pa.string()), keys
