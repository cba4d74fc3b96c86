"""Cells that hold several values: "a@x.com, b@y.com" or a JSON array.

Every value of an email or phone cell is a match candidate; the `multi_value`
policy decides what is written: the first value, all of them, the distinct
ones, or the best (the first that its normalizer says is valid).
"""

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms import normalizers
from crmsync.transforms.normalizers.phone import EXTENSION_MARK
from crmsync.transforms.normalizers.text import has_any
from crmsync.transforms.rows import contiguous

SEPARATORS = r"\s*[,;|]\s*"
JSON_ARRAY = r"^\s*\[.*\]\s*$"
# A piece with neither "@" nor a digit before a piece with an address in
# angle brackets is part of its display name, as Outlook writes
# "Lopez, Ana <a@x.com>" and '"Ng, Ben" <b@x.org>'.
VALUE_LIKE = r"[@0-9]"
# A piece that is only an extension ("555-201-3344;ext=12", "..., x12")
# belongs to the number before it.
EXTENSION_ONLY = rf"(?i)^{EXTENSION_MARK}\d{{1,6}}$"
# One address with a display name: 'Ana Lopez <ana@x.com>' -> 'ana@x.com'.
DISPLAY_NAME = r"^[^<>]*<\s*([^<>\s]+@[^<>\s]+)\s*>\s*$"
EMAIL_KINDS = ("email", "email_provider")


def split_cells(values: pa.Array) -> pa.ListArray:
  """Each cell as a list of its non-empty values; a display name holding
  a separator stays with its address."""
  values = values.cast(pa.string())
  unwrapped = pc.replace_substring_regex(
      pc.if_else(pc.match_substring_regex(values, JSON_ARRAY),
                 pc.replace_substring_regex(values, r"[\[\]\"]", ""), values),
      r"^\s+|\s+$", "")
  lists = pc.split_pattern_regex(unwrapped, SEPARATORS)
  flat = pc.list_flatten(lists)
  bare = pc.and_(pc.invert(pc.match_substring_regex(flat, VALUE_LIKE)),
                 pc.not_equal(flat, ""))
  partial = pc.or_(bare, pc.match_substring_regex(flat, EXTENSION_ONLY))
  if not pc.any(partial).as_py():
    return lists
  # Rare: only the cells holding such a piece are rebuilt in Python.
  cells = pc.unique(pc.list_parent_indices(lists).filter(partial)).to_pylist()
  out = lists.to_pylist()
  for i in cells:
    out[i] = _rejoin(out[i])
  return pa.array(out, pa.list_(pa.string()))


def _rejoin(pieces):
  """Display names joined to the address after them, extensions to the
  number before them; other pieces stay values of their own."""
  kept, pending = [], []
  for piece in pieces:
    if kept and not pending and re.match(EXTENSION_ONLY, piece):
      kept[-1] = f"{kept[-1]} {piece}"
    elif piece and not re.search(VALUE_LIKE, piece):
      pending.append(piece)
    elif "<" in piece and pending:
      kept.append(", ".join(pending + [piece]))
      pending = []
    else:
      kept += pending + [piece]
      pending = []
  return kept + pending


def unwrap_display_names(values: pa.Array) -> pa.Array:
  """'Ana Lopez <ana@x.com>' -> 'ana@x.com' (as written): what a CRM's
  email field takes."""
  if not has_any(values, b"<"):
    return values
  return pc.replace_substring_regex(values, DISPLAY_NAME, r"\1")


def _may_hold_several(values: pa.Array) -> bool:
  """Cheap test on the column's bytes: without a separator or a bracket no
  cell holds several values, and the regex passes can be skipped."""
  return has_any(values, b",;|[")


def explode(values: pa.Array):
  """(each value, index of the cell it came from), empty values dropped."""
  values = contiguous(values)
  if not _may_hold_several(values):
    values = pc.utf8_trim_whitespace(values.cast(pa.string()))
    keep = pc.fill_null(pc.not_equal(values, ""), False)
    rows = pa.array(np.arange(len(values), dtype=np.int64))
    return values.filter(keep), rows.filter(keep)
  lists = split_cells(values)
  flat = pc.list_flatten(lists)
  parents = pc.list_parent_indices(lists)
  nonempty = pc.not_equal(flat, "")
  return flat.filter(nonempty), parents.filter(nonempty)


def _json_values(cell: str):
  try:
    parsed = json.loads(cell)
  except ValueError:
    return None
  if isinstance(parsed, list):
    return [str(v).strip() for v in parsed if str(v).strip()]
  return None


def apply_policy(values: pa.Array, policy: str, normalizer: str = "text",
                 separator: str = ", ", phone_region: str = "US") -> pa.Array:
  """What to write for each cell; single-valued cells are left as they are,
  but for an email column's display names, which go."""
  email = normalizer in EMAIL_KINDS
  if email:
    values = unwrap_display_names(values)
  if not _may_hold_several(values):
    return values
  lists = split_cells(values)
  multi = pc.greater(pc.list_value_length(lists), 1)
  if not pc.any(multi).as_py():
    return values
  out = values.to_pylist()
  normalize = normalizers.get(normalizer)
  valid = normalizers.VALIDATORS.get(normalizer)
  for i in pc.indices_nonzero(multi).to_pylist():
    parts = _json_values(out[i]) or [p for p in lists[i].as_py() if p]
    if email:
      parts = unwrap_display_names(pa.array(parts, pa.string())).to_pylist()
    if policy == "first":
      out[i] = parts[0]
    elif policy == "all":
      out[i] = separator.join(parts)
    elif policy == "deduplicated":
      keys = normalize(pa.array(parts), phone_region=phone_region).to_pylist()
      seen, kept = set(), []
      for part, key in zip(parts, keys):
        if (key or part) not in seen:
          seen.add(key or part)
          kept.append(part)
      out[i] = separator.join(kept)
    elif policy == "best":
      good = [p for p in parts if valid is None or (
          valid(p, phone_region) if normalizer == "phone" else valid(p))]
      out[i] = (good or parts)[0]
  return pa.array(out, pa.string())
