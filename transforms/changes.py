"""The CRM's update import, and its undo: which cells the merge changed.

With `output.changes`, every original row in which the merge filled or
changed at least one cell becomes one row of the changes file (the id
columns, then every column a source can write) and one row of the undo
file (the same cells as they were before the merge). A cell the merge did
not change is blank: in an update import a blank cell leaves the field as
it is, in each CRM crmsync knows:

- HubSpot's importer: a blank cell does not overwrite a property when it
  updates a record, and crmsync knows no cell value that clears one; so
  the undo file cannot blank a property the merge filled (such cells are
  counted, `undo_cells_not_clearable`, and left blank).
- Salesforce's Data Loader: a blank cell leaves the field as it is unless
  the "Insert null values" setting is on; `#N/A` sets it to null. The undo
  file writes `#N/A` where the merge filled a blank field.
- generic: a blank cell leaves the field as it is, and no value clears one
  (as HubSpot).
"""

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms.columns import LINE_COL, OFFSET_COL
from crmsync.transforms.resolve import MATCH_COLUMNS
from crmsync.transforms.rows import RowBatch, contiguous
from crmsync.transforms.spec import MergeSpec

CRMS = ("generic", "hubspot", "salesforce")
# The cell that sets a field to null in an update import; None: no such
# cell (a blank cell leaves the field as it is).
CLEAR = {"generic": None, "hubspot": None, "salesforce": "#N/A"}


def change_columns(columns: Sequence[str], spec: MergeSpec) -> List[str]:
  """The changes and undo files' columns, from the merged output's: the id
  columns, then every column a source can write (not an original column
  that no source supplies, nor _match_*)."""
  ids = list(spec.changes_ids)
  return ids + [c for c in columns if c not in ids and
                c not in MATCH_COLUMNS and c not in spec.unsupplied]


def changes_batches(batch: RowBatch, values: Dict[str, pa.Array],
                    columns: Sequence[str], spec: MergeSpec
                    ) -> Tuple[Optional[RowBatch], Optional[RowBatch], dict]:
  """(the changes rows, the undo rows, counts) of one merged batch:
  `values`, the merged columns; `columns`, the merged output's columns.
  None where no row changed. Counts: rows, cells, and the undo's cells
  that the CRM cannot clear."""
  table = batch.table
  n = table.num_rows
  shown = change_columns(columns, spec)[len(spec.changes_ids):]
  blank = pa.array([""] * n, pa.string())
  changed, before, after = {}, {}, {}
  for c in shown:
    new = pc.fill_null(values[c], "")
    old = (pc.fill_null(table.column(c), "") if c in spec.original_header
           else blank)
    changed[c] = pc.not_equal(new, old).to_numpy(zero_copy_only=False)
    before[c], after[c] = old, new
  rows = np.zeros(n, bool)
  for mask in changed.values():
    rows |= mask
  counts = {"rows": int(rows.sum()), "cells": 0,
            "undo_cells_not_clearable": 0}
  if not rows.any():
    return None, None, counts
  take = pa.array(np.flatnonzero(rows))
  clear = CLEAR[spec.crm]
  out_changes = [table.column(c).take(take) for c in spec.changes_ids]
  out_undo = list(out_changes)
  for c in shown:
    mask = pa.array(changed[c])
    out_changes.append(pc.if_else(mask, after[c], "").take(take))
    filled = pc.and_(mask, pc.equal(before[c], ""))
    counts["cells"] += int(changed[c].sum())
    if clear is None:
      counts["undo_cells_not_clearable"] += int(
          pc.sum(filled).as_py() or 0)
      undo = pc.if_else(mask, before[c], "")
    else:
      undo = pc.if_else(filled, clear, pc.if_else(mask, before[c], ""))
    out_undo.append(undo.take(take))
  names = list(spec.changes_ids) + shown
  position = [table.column(OFFSET_COL).take(take),
              table.column(LINE_COL).take(take)]
  make = lambda arrays: RowBatch(batch.file_index, pa.RecordBatch.from_arrays(
      [contiguous(a) for a in arrays + position],
      names=names + [OFFSET_COL, LINE_COL]))
  return make(out_changes), make(out_undo), counts

