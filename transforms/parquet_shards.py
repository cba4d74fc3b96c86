"""The merged shards as Parquet (output.format: parquet).

Each merged batch's slice of a shard is kept as an Arrow IPC part file,
blank cells null; the shard's file is then written from its parts in input
order, every column a string column (a column blank throughout a shard is
still one: files that type a column by its values disagree from shard to
shard, as in fink-client #234), in row groups of ROW_GROUP_ROWS counted
from the file's first row, so the bytes do not depend on how the runner
batched the rows.
"""

from typing import List

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from crmsync.transforms import faults
from crmsync.transforms.rows import contiguous

ROW_GROUP_ROWS = 65_536


def arrow_parts(rows: pa.Table, shard: int, file_index: int,
                offsets: np.ndarray, folder: str, max_rows: int) -> list:
  """Writes a shard's slice of a batch (`offsets`: its rows' byte
  offsets) as part files in `folder`, each at most `max_rows` rows (0: no
  limit); returns [(shard, (file rank, first offset, path, rows, bytes))].
  """
  table = pa.table([_nulls_for_blanks(c) for c in rows.columns],
                   names=rows.column_names)
  step = max_rows or max(1, table.num_rows)
  parts = []
  for a in range(0, table.num_rows, step):
    piece = table.slice(a, step)
    first = int(offsets[a])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
      writer.write_table(piece)
    encoded = sink.getvalue()
    path = FileSystems.join(
        folder, f"part-{shard:05d}-{file_index:05d}-{first:015d}.arrow")
    with FileSystems.create(path) as f:
      f.write(encoded)
    parts.append((shard, (file_index, first, path, piece.num_rows,
                          encoded.size)))
  return parts


def _nulls_for_blanks(column) -> pa.Array:
  values = contiguous(column).cast(pa.string())
  return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()),
                    values)


def write_parquet(sink, header: List[str], parts) -> int:
  """Writes the parts' rows (arrow_parts' tuples, in order) into `sink`
  (writing._CountingSink) as one Parquet file; the rows written. On a
  failure nothing more reaches the sink (pyarrow would close the file
  with a footer, making the rows so far look like a whole file)."""
  schema = pa.schema([(name, pa.string()) for name in header])
  writer = pq.ParquetWriter(sink, schema)
  rows, pending = 0, []
  try:
    for _, _, part, n, _ in parts:
      with FileSystems.open(part, compression_type="uncompressed") as f:
        pending.append(pa.ipc.open_stream(f.read()).read_all()
                       .rename_columns(schema.names).cast(schema))
      rows += n
      pending = _write_full_groups(writer, pending)
      faults.fail_once("write:concat")  # a half-written shard left
    if pending:
      writer.write_table(pa.concat_tables(pending),
                         row_group_size=ROW_GROUP_ROWS)
  except BaseException:
    sink.discard()
    writer.close()
    raise
  writer.close()
  return rows


def _write_full_groups(writer, pending: List[pa.Table]) -> List[pa.Table]:
  """Writes the whole row groups the pending tables hold; the rest."""
  held = sum(t.num_rows for t in pending)
  full = held - held % ROW_GROUP_ROWS
  if not full:
    return pending
  table = pa.concat_tables(pending)
  writer.write_table(table.slice(0, full), row_group_size=ROW_GROUP_ROWS)
  rest = table.slice(full)
  return [rest] if rest.num_rows else []
