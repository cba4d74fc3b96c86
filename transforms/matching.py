"""The match cascade: normalised keys, and an index of one enriched source.

An original row matches an enriched source at the first key of the cascade
that hits. Keys are computed column-wise; the lookup is a Python dict built
once per source, which is the fastest hash join available per batch here
(pyarrow's index_in rebuilds its hash table on every call).
"""

import logging
import pickle
import uuid
from itertools import repeat
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms import multi_value, normalizers
from transforms.resolve import resolve_duplicates
from transforms.rows import INTERNAL_COLS, LINE_COL, OFFSET_COL, RowBatch
from transforms.spec import EnrichedSpec, MatchKey, MergeSpec

_LOG = logging.getLogger(__name__)
KEY_SEPARATOR = "\x1f"
FILE_COL = "__file"


def key_values(table, key: MatchKey, region: str) -> pa.Array:
  """The normalised key of each row; null where any part is missing."""
  parts = [normalizers.get(n)(table.column(c), phone_region=region)
           for c, n in zip(key.columns, key.normalizers)]
  if len(parts) == 1:
    return parts[0]
  # binary_join_element_wise yields null when any part is null.
  return pc.binary_join_element_wise(*parts, KEY_SEPARATOR)


def applicable_keys(spec: MergeSpec, columns) -> List[MatchKey]:
  """The cascade keys whose columns this table has: others are skipped."""
  present = set(columns)
  return [k for k in spec.keys if set(k.columns) <= present]


_DECODED: "OrderedDict[str, tuple]" = OrderedDict()  # uid -> lookups, members


class EnrichedIndex:
  """One enriched source, ready to join: its rows (file order) followed by
  rows synthesised for groups of duplicates, and a lookup per key.

  It travels as a side input. Its dicts are pickled to one bytes blob and
  decoded once per worker process (cached by uid): Beam's side-input cache
  would otherwise walk every dict entry to size the object, and decode it
  again for every bundle.
  """

  def __init__(self, name: str, files: List[str], columns: List[str],
               table: pa.Table, rows_read: int,
               lookups: Dict[str, Dict[str, int]],
               members: Dict[int, List[int]], cols: "SourceColumns"):
    self.name = name
    self.files = files
    self.columns = columns  # output columns it supplies, spread included
    self.source_columns = cols
    self.table = table  # columns + __file, __offset, __line
    self.rows_read = rows_read
    self.uid = uuid.uuid4().hex
    self._local = (lookups, members)  # until the index is pickled
    self._blob = None

  def __getstate__(self):
    state = dict(self.__dict__)
    if state["_blob"] is None:
      state["_blob"] = pickle.dumps(self._local, pickle.HIGHEST_PROTOCOL)
    state["_local"] = None
    return state

  def _decoded(self):
    if self._local is not None:
      return self._local
    if self.uid not in _DECODED:
      _remember(self.uid, pickle.loads(self._blob))
    return _DECODED[self.uid]

  @property
  def lookups(self) -> Dict[str, Dict[str, int]]:
    return self._decoded()[0]

  @property
  def members(self) -> Dict[int, List[int]]:
    return self._decoded()[1]

  def rows(self, rows: np.ndarray) -> pa.Table:
    """Source rows as the reports list them: file rank, line, then the kept
    and key columns (as written, multi-value policy applied)."""
    c = self.source_columns
    return self.table.take(pa.array(rows, pa.int64())).select(
        [FILE_COL, LINE_COL] + list(c.keep) + list(c.key_columns))

  def used_rows(self, hit_rows: np.ndarray) -> np.ndarray:
    """The source rows behind hit rows (a synthesised row stands for its
    group)."""
    hit_rows = np.unique(hit_rows)
    own = hit_rows[hit_rows < self.rows_read]
    members = self.members
    groups = [members[r] for r in hit_rows[hit_rows >= self.rows_read].tolist()]
    return np.unique(np.concatenate([own] + [np.asarray(g, np.int64)
                                             for g in groups]))


def _remember(uid: str, decoded):
  _DECODED[uid] = decoded
  _DECODED.move_to_end(uid)
  while len(_DECODED) > 32:
    _DECODED.popitem(last=False)


def rename_batch(batch: pa.RecordBatch, rename: Dict[str, str]):
  return batch.rename_columns([rename.get(n, n) for n in batch.schema.names])


@dataclass(frozen=True)
class SourceColumns:
  """Which columns of an enriched source matter, after mapping."""
  keep: Tuple[str, ...]  # written to the output
  keys: Tuple[MatchKey, ...]  # cascade keys the source has columns for
  key_columns: Tuple[str, ...]  # key columns that are not kept

  @classmethod
  def of(cls, source: EnrichedSpec, spec: MergeSpec, mapped_header):
    keep = tuple(source.keep_columns(mapped_header, spec.original_header))
    keys = tuple(applicable_keys(spec, mapped_header))
    key_columns = tuple(sorted({c for k in keys for c in k.columns} -
                               set(keep)))
    return cls(keep, keys, key_columns)

  @property
  def wanted(self):
    return list(self.keep) + list(self.key_columns) + list(INTERNAL_COLS)


def source_table(batch: RowBatch, source: EnrichedSpec,
                 cols: SourceColumns) -> pa.Table:
  """An enriched batch, mapped, reduced to the columns that matter, with
  its file rank as a column."""
  t = pa.Table.from_batches([rename_batch(batch.table, source.rename)])
  t = t.select(cols.wanted)
  return t.append_column(FILE_COL, pa.array(
      np.full(t.num_rows, batch.file_index, np.int64)))


def build_index(batches: List[RowBatch], source: EnrichedSpec,
                spec: MergeSpec, mapped_header, files: List[str]):
  """Builds the EnrichedIndex of a source from all its batches."""
  cols = SourceColumns.of(source, spec, mapped_header)
  tables = [source_table(b, source, cols) for b in batches]
  return index_from_tables(tables, source, spec, cols, files)


def index_from_tables(tables, source: EnrichedSpec, spec: MergeSpec,
                      cols: SourceColumns, files: List[str]):
  """The EnrichedIndex of the rows in `tables` (from source_table)."""
  keep, keys = list(cols.keep), cols.keys
  key_columns = list(cols.key_columns)
  if tables:
    table = pa.concat_tables(tables)
  else:
    table = pa.table({c: pa.array([], pa.string()) for c in keep + key_columns}
                     | {c: pa.array([], pa.int64())
                        for c in list(INTERNAL_COLS) + [FILE_COL]})
  # File order, whatever order the runner delivered the batches in.
  table = table.take(pc.sort_indices(
      table, [(FILE_COL, "ascending"), (OFFSET_COL, "ascending")]))
  table = table.combine_chunks()
  n = table.num_rows

  lookups, groups = {}, {}
  for key in keys:
    lookups[key.name], groups[key.name] = _group_rows(table, key, spec)
  written = _apply_multi_value(table, keep, spec)
  # Key columns that are not kept still show in unmatched_enriched.csv.
  internal = table.select([FILE_COL, OFFSET_COL, LINE_COL] + key_columns)
  dups = resolve_duplicates(written, internal, groups, spec)
  for name, chosen in dups.choice.items():
    lookups[name].update(chosen)
  base = internal
  for c in written.column_names:
    base = base.append_column(c, written[c])
  for c in dups.spread_columns:
    base = base.append_column(c, pa.array([""] * n, pa.string()))
  ext = pa.concat_tables([base, dups.table.select(base.column_names)])
  _LOG.debug("enriched source %s: %d rows, keys %s, %d duplicate groups",
             source.name, n, [k.name for k in keys], len(dups.members))
  return EnrichedIndex(source.name, files, keep + list(dups.spread_columns),
                       ext.combine_chunks(), n, lookups, dups.members, cols)


def _group_rows(table: pa.Table, key: MatchKey, spec: MergeSpec):
  """value -> first row, and value -> all rows for values shared by several
  rows. A multi-valued cell gives its row one entry per value."""
  if key.multi_valued:
    values, rows = multi_value.explode(table.column(key.columns[0]))
    values = normalizers.get(key.normalizers[0])(
        values, phone_region=spec.phone_region)
    rows = rows.to_numpy()
  else:
    values = key_values(table, key, spec.phone_region)
    rows = np.arange(table.num_rows)
  pairs = pa.table({"value": values, "row": pa.array(rows, pa.int64())})
  pairs = pairs.filter(pc.is_valid(pairs["value"]))
  # Grouped in Arrow; Python only touches the (rare) shared values.
  grouped = pairs.group_by("value", use_threads=False).aggregate(
      [("row", "min"), ("row", "count_distinct")])
  lookup = dict(zip(grouped["value"].to_pylist(),
                    grouped["row_min"].to_pylist()))
  shared_values = grouped.filter(pc.greater(grouped["row_count_distinct"], 1))
  shared: Dict[str, List[int]] = {}
  if shared_values.num_rows:
    members = pairs.filter(pc.is_in(pairs["value"],
                                    value_set=shared_values["value"]))
    for value, row in zip(members["value"].to_pylist(),
                          members["row"].to_pylist()):
      group = shared.setdefault(value, [])
      if not group or group[-1] != row:
        group.append(row)
  return lookup, shared


def _apply_multi_value(table: pa.Table, keep, spec: MergeSpec) -> pa.Table:
  """Rewrites multi-valued cells of email/phone key columns and of columns
  named in multi_value.columns, per the multi_value policy."""
  splittable = {k.columns[0]: k.normalizers[0] for k in spec.keys
                if k.multi_valued}
  columns = []
  for c in keep:
    values = table.column(c).combine_chunks()
    if c in spec.multi_value_columns or c in splittable:
      policy = spec.multi_value_columns.get(c, spec.multi_value_default)
      values = multi_value.apply_policy(values, policy,
                                        splittable.get(c, "text"),
                                        spec.multi_value_separator,
                                        spec.phone_region)
    columns.append(values)
  return pa.table(columns, names=list(keep))


def lookup_rows(values: pa.Array, lookup: Dict[str, int],
                pending: Optional[np.ndarray] = None) -> np.ndarray:
  """Index rows for each key value (-1: no hit); only `pending` rows."""
  if pending is not None and not pending.all():
    rows = np.flatnonzero(pending)
    hits = np.full(len(values), -1, np.int64)
    hits[rows] = lookup_rows(values.take(pa.array(rows)), lookup)
    return hits
  keys = values.to_pylist()
  # map() calls dict.get in C: the fastest per-key lookup Python offers.
  return np.array(list(map(lookup.get, keys, repeat(-1, len(keys)))),
                  np.int64)
