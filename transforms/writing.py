"""Writing the merged rows: sharded CSV, in original order, committed at once.

Each row's place in the output is its byte position in the original input
(file rank, then offset), so shard i holds the rows whose position falls in
the i-th of N equal byte ranges; a shard sorts its rows by position. The
shards therefore concatenate, in name order, to the original row order, and
the bytes do not depend on how the runner split or batched the work.

Shards are written under a temporary folder beside the prefix and moved into
place by `commit` only when the whole job succeeded: a failed run leaves the
previous output (or none) at the final names, never a mix.
"""

import logging
import os
import posixpath
from typing import List, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.rows import INTERNAL_COLS, OFFSET_COL, RowBatch

_LOG = logging.getLogger(__name__)
TEMP_MARKER = ".crmsync-tmp-"
FILE_RANK_COL = "__file_rank"


def shard_name(prefix: str, shard: int, shards: int) -> str:
  return f"{prefix}-{shard:05d}-of-{shards:05d}.csv"


def temp_dir(prefix: str, run_id: str) -> str:
  return f"{prefix}{TEMP_MARKER}{run_id}"


def write_csv_table(table: pa.Table, path: str):
  """Deterministic CSV bytes: header, LF line ends, quotes only if needed."""
  with FileSystems.create(path) as f:
    pacsv.write_csv(table, f, pacsv.WriteOptions(quoting_style="needed"))


class _AssignShards(beam.DoFn):

  def __init__(self, shards: int, file_starts: Sequence[int], total: int):
    self._shards = shards
    self._starts = np.asarray(file_starts, np.int64)
    self._total = max(1, total)

  def process(self, batch: RowBatch):
    t = batch.table
    position = t.column(OFFSET_COL).to_numpy() + self._starts[batch.file_index]
    shard = np.minimum(position * self._shards // self._total,
                       self._shards - 1)
    t = t.append_column(FILE_RANK_COL, pa.array(
        np.full(t.num_rows, batch.file_index, np.int64)))
    for s in np.unique(shard):
      yield int(s), t.filter(pa.array(shard == s))


class _WriteShard(beam.DoFn):

  def __init__(self, prefix: str, shards: int, tmp: str):
    self._prefix, self._shards, self._tmp = prefix, shards, tmp

  def setup(self):
    self._rows = Metrics.counter("crmsync", "rows_written")

  def process(self, element, header: List[str]):
    shard, parts = element
    parts = [p for p in parts if p is not None]
    if parts:
      table = pa.Table.from_batches(parts)
      table = table.take(pc.sort_indices(
          table, [(FILE_RANK_COL, "ascending"), (OFFSET_COL, "ascending")]))
      table = table.drop_columns(list(INTERNAL_COLS) + [FILE_RANK_COL])
      table = table.select(header)
    else:
      table = pa.table({c: pa.array([], pa.string()) for c in header})
    name = posixpath.basename(shard_name(self._prefix, shard, self._shards))
    path = FileSystems.join(self._tmp, name)
    write_csv_table(table, path)
    self._rows.inc(table.num_rows)
    _LOG.info("wrote shard %d/%d: %d rows", shard + 1, self._shards,
              table.num_rows)
    yield shard, path, table.num_rows


class WriteShards(beam.PTransform):
  """RowBatch -> N CSV shards in a temporary folder; yields (shard, temp
  path, rows). Every shard is written, with its header, even if empty.

  `file_sizes`: byte size of each input file, in rank order; `header`: a
  singleton PCollection (or a list) of the output column names.
  """

  def __init__(self, prefix: str, shards: int, file_sizes: Sequence[int],
               header, tmp: str):
    super().__init__()
    self._prefix, self._shards, self._tmp = prefix, shards, tmp
    self._starts = np.concatenate(([0], np.cumsum(file_sizes)[:-1])).tolist()
    self._total = int(sum(file_sizes))
    self._header = header

  def expand(self, merged):
    every_shard = (merged.pipeline
                   | "AllShards" >> beam.Create([(s, None)
                                                 for s in range(self._shards)]))
    header = (beam.pvalue.AsSingleton(self._header)
              if isinstance(self._header, beam.pvalue.PCollection)
              else list(self._header))
    return ((merged | "AssignShards" >> beam.ParDo(
        _AssignShards(self._shards, self._starts, self._total)),
             every_shard)
            | "Flatten" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(_WriteShard(self._prefix, self._shards,
                                                self._tmp), header))


def _delete_matching(pattern: str):
  found = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
  if found:
    FileSystems.delete(found)


def _ensure_parent(path: str):
  if "://" not in path:  # object stores have no folders to create
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)


def commit(prefix: str, tmp: str, moves: List[tuple]):
  """Moves (temp path, final path) pairs into place, replacing the previous
  output of this prefix, then removes this run's temporary folder and those
  that failed runs left behind. Called once, after everything was written."""
  _delete_matching(f"{prefix}-*-of-*.csv")
  previous = [t for _, t in moves if FileSystems.exists(t)]
  if previous:
    FileSystems.delete(previous)
  for _, target in moves:
    _ensure_parent(target)
  FileSystems.rename([s for s, _ in moves], [t for _, t in moves])
  remove_temp_dirs(prefix)


def remove_temp_dirs(prefix: str):
  parent = posixpath.dirname(prefix) if "://" in prefix else os.path.dirname(
      os.path.abspath(prefix))
  marker = posixpath.basename(prefix) + TEMP_MARKER
  stale = {m.path for m in FileSystems.match(
      [f"{prefix}{TEMP_MARKER}*"])[0].metadata_list}
  roots = set()
  for path in stale:
    rest = path[len(parent):].lstrip("/")
    if rest.startswith(marker):
      roots.add(FileSystems.join(parent, rest.split("/")[0]))
  if roots:
    FileSystems.delete(sorted(roots))
