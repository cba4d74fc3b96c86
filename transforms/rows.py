"""The elements that travel through a crmsync pipeline.

Rows move as Arrow record batches of string columns (up to 30,000 rows each),
never one Beam element per row: per-element runner overhead dominates
otherwise. Two bookkeeping columns ride along in every batch so that any
stage can report a row's file and line, and the writer can restore the
original order (transforms/columns.py).
"""

from typing import NamedTuple, Optional, Sequence, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def contiguous(values: Union[pa.Array, pa.ChunkedArray]) -> pa.Array:
  """A column as one Array: a table's columns are ChunkedArrays, and most
  kernels and buffers here want one piece."""
  return (values.combine_chunks() if isinstance(values, pa.ChunkedArray)
          else values)


def append_part(out: pa.Array, part: pa.Array, separator: str,
                where: Optional[np.ndarray] = None) -> pa.Array:
  """Per row, `out` with `part` appended after `separator` (just `part`
  where `out` is empty); `out` as it is where `part` is null or empty, or
  `where` (a mask) is false. For columns whose rows list parts, such as
  _match_key and _match_detail: string arrays of one length."""
  keep = pc.invert(pc.fill_null(pc.equal(part, ""), True))
  if where is not None:
    keep = pc.and_(keep, pa.array(where))
  return pc.if_else(keep, pc.if_else(
      pc.equal(out, ""), part,
      pc.binary_join_element_wise(out, part, separator)), out)


class RowBatch(NamedTuple):
  """A batch of rows from one file of a source (file_index: its rank in the
  sorted list of files the source's path or glob matched)."""
  file_index: int
  table: pa.RecordBatch

  @property
  def num_rows(self) -> int:
    return self.table.num_rows


class RejectedRow(NamedTuple):
  """A malformed input record, kept for rejected.csv: nothing read is dropped
  without being listed."""
  source: str
  file: str
  line: int
  offset: int
  reason: str
  raw: str


REJECTED_SCHEMA = pa.schema([("source", pa.string()), ("file", pa.string()),
                             ("line", pa.int64()), ("offset", pa.int64()),
                             ("reason", pa.string()), ("raw", pa.string())])


def rejected_batch(rows: Sequence[RejectedRow]) -> pa.RecordBatch:
  """Rejected records as one Arrow batch (REJECTED_SCHEMA): how ReadCsv
  hands them on, a batch per run of records of one file."""
  return pa.RecordBatch.from_pylist([r._asdict() for r in rows],
                                    schema=REJECTED_SCHEMA)

