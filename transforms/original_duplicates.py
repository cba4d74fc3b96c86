"""Duplicates inside the CRM export: groups of original rows that share an
identifying key (one email or one phone column, extension included:
claims.identifying). Every row of such a group gets the same enrichment,
so reports/original_duplicates.csv lists them and stats.json counts them.

Both joins hand over a 64-bit hash of each original batch's identifying
key values, which they compute for the match anyway (`BatchKeyValues`):
16 bytes a row and key, not the values. `FindDuplicates` groups them all
at once, with numpy; the report numbers the groups (by their first row)
rather than repeating the value, which the listed lines hold.
"""

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms.claims import identifying
from crmsync.transforms.columns import LINE_COL
from crmsync.transforms.hashing import stable_hash
from crmsync.transforms.rows import contiguous
from crmsync.transforms.spec import MergeSpec

REPORT = "original_duplicates.csv"
COLUMNS = ("key", "group", "group_rows", "original_file", "original_line")


@dataclass
class BatchKeyValues:
  """One original batch's identifying keys: key name -> (the lines of
  the rows that have one, the hashes of their normalised values)."""
  file_index: int
  keys: Dict[str, Tuple[np.ndarray, np.ndarray]]


def batch_key_values(batch, spec: MergeSpec,
                     exact: Callable[[object], pa.Array]
                     ) -> Optional[BatchKeyValues]:
  """`exact(key)`: the batch's normalised values of an exact key; None
  unless the job asks for the report (output.original_duplicates)."""
  if not spec.report_duplicates:
    return None
  keys = {}
  for key in spec.keys:
    if identifying(key) and key.columns[0] in batch.table.column_names:
      values = exact(key)
      values = contiguous(values)
      filled = pc.is_valid(values).to_numpy(zero_copy_only=False)
      lines = pc.cast(batch.table.column(LINE_COL),
                      pa.int64()).to_numpy()[filled]
      keys[key.name] = (lines, stable_hash(values.filter(pa.array(filled))))
  return BatchKeyValues(batch.file_index, keys) if keys else None


@dataclass
class Duplicates:
  """The report's rows (COLUMNS; file as its rank), by key, group, file
  and line, and per key the number of groups and of rows in them."""
  rows: pa.Table
  counts: Dict[str, Dict[str, int]]


class FindDuplicates(beam.CombineFn):
  """BatchKeyValues -> Duplicates."""

  def create_accumulator(self):
    return []

  def add_input(self, acc, item):
    acc.append(item)
    return acc

  def merge_accumulators(self, accs):
    return [item for acc in accs for item in acc]

  def extract_output(self, acc) -> Duplicates:
    tables, counts = [], {}
    for name in sorted({k for item in acc for k in item.keys}):
      parts = [(item.file_index, *item.keys[name]) for item in acc
               if name in item.keys]
      files = np.concatenate([np.full(p[1].size, p[0], np.int64)
                              for p in parts])
      lines = np.concatenate([p[1] for p in parts])
      hashes = np.concatenate([p[2] for p in parts])
      _, inverse, sizes = np.unique(hashes, return_inverse=True,
                                    return_counts=True)
      inverse = inverse.ravel()
      shared = np.flatnonzero(sizes[inverse] > 1)
      counts[name] = {"groups": int((sizes > 1).sum()),
                      "rows": int(shared.size)}
      if not shared.size:
        continue
      # Rows in file order; groups numbered by their first row.
      shared = shared[np.lexsort((lines[shared], files[shared]))]
      _, first = np.unique(inverse[shared], return_index=True)
      number = np.empty(inverse.max() + 1, np.int64)
      number[inverse[shared][np.sort(first)]] = np.arange(1, first.size + 1)
      group = number[inverse[shared]]
      order = np.lexsort((lines[shared], files[shared], group))
      shared, group = shared[order], group[order]
      tables.append(pa.table({
          "key": pa.array([name] * shared.size, pa.string()),
          "group": pa.array(group, pa.int64()),
          "group_rows": pa.array(sizes[inverse][shared], pa.int64()),
          "original_file": pa.array(files[shared], pa.int64()),
          "original_line": pa.array(lines[shared], pa.int64())}))
    rows = pa.concat_tables(tables) if tables else pa.table(
        {c: pa.array([], pa.string() if c == "key" else pa.int64())
         for c in COLUMNS})
    return Duplicates(rows, counts)


def report_rows(found: Duplicates, files: List[str]) -> pa.Table:
  """The report's table, each file named."""
  rows = found.rows
  names = pa.array(files, pa.string()).take(rows.column("original_file"))
  return rows.set_column(rows.column_names.index("original_file"),
                         "original_file", names).select(list(COLUMNS))
