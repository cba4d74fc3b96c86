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

from crmsync.transforms import multi_value, normalizers
from crmsync.transforms.normalizers import phone as phone_numbers
from crmsync.transforms.normalizers.text import has_any
from crmsync.transforms.normalizers.zip import US_REGIONS
from crmsync.transforms.rows import contiguous

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


def restore(values: pa.Array, kind: str, region: str = "US") -> pa.Array:
  """Values a spreadsheet mangled, written as they were: a ZIP read as a
  number ("2134.0", "2134" -> "02134" in the US), a phone read as a float
  ("5552013344.0") or in scientific notation that kept every digit. The
  same rules as the normalizers' (never another value); others unchanged."""
  if kind == "zip":
    v = values
    if has_any(v, b"."):
      v = pc.replace_substring_regex(v, r"^(\s*\d{3,5})\.0+\s*$", r"\1")
    if region in US_REGIONS:
      v = pc.replace_substring_regex(v, r"^\s*(\d{4})\s*$", r"0\1")
      v = pc.replace_substring_regex(v, r"^\s*(\d{3})\s*$", r"00\1")
    return v
  if kind != "phone" or not has_any(values, b"."):
    return values
  v = pc.replace_substring_regex(values, phone_numbers.FLOAT, r"\1")
  if has_any(v, b"eE"):
    sci = pc.fill_null(pc.match_substring_regex(v, SCIENTIFIC), False)
    if pc.any(sci).as_py():
      digits = [phone_numbers.from_scientific(x) or x
                for x in v.filter(sci).to_pylist()]
      v = pc.replace_with_mask(v, sci, pa.array(digits, pa.string()))
  return v


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
  values = contiguous(values)
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
    parents = parents.to_numpy()
    # Bad: a part is not of the kind, or the cell is separators only.
    bad_parent = np.bincount(parents, minlength=cells.size) == 0
    bad_parent[parents[part_bad]] = True
    bad[cells[~bad_parent]] = False
    if not bad.any():
      return None, keys
  bad_rows = rows.to_numpy()[bad]
  reasons = np.full(len(values), None, object)
  reasons[bad_rows] = _reason(kind, values.take(pa.array(bad_rows))).to_numpy(
      zero_copy_only=False)
  return pa.array(reasons, pa.string()), keys
