"""The match cascade: normalised keys, and an index of one enriched source.

An original row matches an enriched source at the first key of the cascade
that hits. Keys are computed column-wise and looked up with KeyLookup, a
sorted-hash search in numpy (pyarrow's index_in rebuilds its hash table on
every call; a dict of Python strings costs ten times the memory).
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms import multi_value, normalizers, validity
from crmsync.transforms.ahead import default_threads
from crmsync.transforms.comparisons import compared_columns, prepare_as
from crmsync.transforms.fuzzy import FuzzyIndex, FuzzyValues, fuzzy_index
from crmsync.transforms.hashing import (in_sorted, mix64, runs,
                                       search_sorted, sorted_unique,
                                       stable_argsort, stable_hash)
from crmsync.transforms.normalizers.text import clean
from crmsync.transforms.resolve import resolve_duplicates
from crmsync.transforms.columns import (FILE_COL, LINE_COL, OFFSET_COL,
                                        ROUTED_COL, ROW_POSITION_COLS)
from crmsync.transforms.rows import RowBatch, contiguous
from crmsync.transforms.spec import EnrichedSpec, MatchKey, MergeSpec

_LOG = logging.getLogger(__name__)
KEY_SEPARATOR = "\x1f"
# The bit that marks a vendor identity as a row synthesised for duplicates
# (EnrichedIndex.vendor_ids); own rows' identities stay below it.
SYNTHESISED = np.int64(1) << np.int64(62)


def key_values(table, key: MatchKey, region: str) -> pa.Array:
  """The normalised key of each row; null where any part is missing."""
  return join_parts([normalizers.get(n)(table.column(c), phone_region=region)
                     for c, n in zip(key.columns, key.normalizers)])


def join_parts(parts: List[pa.Array]) -> pa.Array:
  """A key from its normalised parts: null where any part is null."""
  if len(parts) == 1:
    return parts[0]
  # binary_join_element_wise yields null when any part is null.
  return pc.binary_join_element_wise(*parts, KEY_SEPARATOR)


def applicable_keys(spec: MergeSpec, columns) -> List[MatchKey]:
  """The cascade keys whose columns this table has: others are skipped."""
  present = set(columns)
  return [k for k in spec.keys if set(k.needed_columns) <= present]


def batch_identities(batch: RowBatch) -> np.ndarray:
  """The identities of an original batch's rows (see identities)."""
  offsets = pc.cast(batch.table.column(OFFSET_COL), pa.int64()).to_numpy()
  return (np.int64(batch.file_index) << 40) | offsets


def identities(table, rows: Optional[np.ndarray] = None) -> np.ndarray:
  """A row's identity wherever it travels: file rank and byte offset."""
  files = table.column(FILE_COL)
  offsets = table.column(OFFSET_COL)
  if rows is not None:
    files = files.take(pa.array(rows, pa.int64()))
    offsets = offsets.take(pa.array(rows, pa.int64()))
  return ((pc.cast(files, pa.int64()).to_numpy() << 40) |
          pc.cast(offsets, pa.int64()).to_numpy())


class KeyLookup:
  """Exact lookup of a source's normalised key values, vectorised: the
  values sorted by a 64-bit hash and searched with numpy, each candidate
  confirmed by comparing the strings. A few numpy arrays instead of a dict of
  Python strings: about a tenth of the memory, and no per-key Python."""

  def __init__(self, values: pa.Array, rows: np.ndarray):
    hashes = stable_hash(values)
    order = stable_argsort(hashes)
    self.hashes = hashes[order]
    self.rows = np.asarray(rows, np.int64)[order]
    self.keys = values.take(pa.array(order))

  def __len__(self):
    return len(self.hashes)

  def find(self, values: pa.Array) -> np.ndarray:
    """The row for each value (-1: none, or a null value)."""
    values = contiguous(values)
    out = np.full(len(values), -1, np.int64)
    if not len(self) or not len(values):
      return out
    h = stable_hash(values)
    pos = search_sorted(self.hashes, h)
    todo = np.flatnonzero(pc.is_valid(values).to_numpy(zero_copy_only=False))
    step = 0
    while todo.size:  # more than one step only on a hash collision
      p = pos[todo] + step
      inside = p < len(self)
      todo, p = todo[inside], p[inside]
      same_hash = self.hashes[p] == h[todo]
      todo, p = todo[same_hash], p[same_hash]
      if not todo.size:
        break
      equal = pc.equal(self.keys.take(pa.array(p)),
                       values.take(pa.array(todo))).to_numpy(
                           zero_copy_only=False)
      out[todo[equal]] = self.rows[p[equal]]
      todo = todo[~equal]
      step += 1
    return out


class EnrichedIndex:
  """One enriched source, ready to join: its rows (file order) followed by
  rows synthesised for groups of duplicates, and a KeyLookup per key. It
  travels as a side input: Arrow tables and numpy arrays, cheap to ship."""

  def __init__(self, name: str, files: List[str], columns: List[str],
               table: pa.Table, rows_read: int, lookups: Dict[str, KeyLookup],
               members: Dict[int, List[int]], cols: "SourceColumns",
               fuzzy: Dict[str, FuzzyIndex], spread: Dict[str, int],
               vendor_ids: np.ndarray):
    self.name = name
    self.files = files
    self.columns = columns  # output columns it supplies, spread included
    self.spread = spread  # column -> its widest duplicate group (spread)
    self.source_columns = cols
    self.table = table  # columns + FILE_COL, OFFSET_COL, LINE_COL
    self.rows_read = rows_read
    self.lookups = lookups
    self.members = members  # synthesised row -> the rows it stands for
    self.fuzzy = fuzzy  # key name -> FuzzyIndex of the source's own rows
    # Per row, its identity in the scoring model's pairs (vendor_identities).
    self.vendor_ids = vendor_ids
    self._sorted_ids = None  # (order, vendor_ids in that order)

  def rows_of(self, vendor_ids: np.ndarray) -> np.ndarray:
    """The rows of these vendor identities (each must be in the index)."""
    if self._sorted_ids is None:  # a thread that races here sets the same
      order = np.argsort(self.vendor_ids, kind="stable")
      self._sorted_ids = (order, self.vendor_ids[order])
    order, ids = self._sorted_ids
    return order[np.searchsorted(ids, vendor_ids)]

  def rows(self, rows: np.ndarray) -> pa.Table:
    """Source rows as the reports list them: file rank, line, then the kept
    and key columns (as written, multi-value policy applied)."""
    c = self.source_columns
    return self.table.take(pa.array(rows, pa.int64())).select(
        [FILE_COL, LINE_COL] + list(c.keep) + list(c.key_columns))

  def member_identities(self, hit_rows: np.ndarray):
    """(identities of the source rows behind each hit row, in order; how
    many per hit row): a synthesised row stands for its group."""
    counts = np.ones(hit_rows.size, np.int64)
    synthesised = np.flatnonzero(hit_rows >= self.rows_read)
    if not synthesised.size:
      return identities(self.table, hit_rows), counts
    groups = [np.asarray(self.members[r], np.int64)
              for r in hit_rows[synthesised].tolist()]
    counts[synthesised] = [g.size for g in groups]
    rows = np.repeat(hit_rows, counts)
    starts = np.cumsum(counts) - counts
    for at, group in zip(starts[synthesised].tolist(), groups):
      rows[at:at + group.size] = group
    return identities(self.table, rows), counts

  def used_rows(self, hit_rows: np.ndarray) -> np.ndarray:
    """The source rows behind hit rows (a synthesised row stands for its
    group)."""
    hit_rows = sorted_unique(hit_rows)
    own = hit_rows[hit_rows < self.rows_read]
    groups = [self.members[r] for r in
              hit_rows[hit_rows >= self.rows_read].tolist()]
    if not groups:
      return own
    return sorted_unique(np.concatenate([own] + [np.asarray(g, np.int64)
                                                 for g in groups]))


def vendor_identities(table: pa.Table, rows_read: int,
                      choice: Dict[str, Dict[str, int]],
                      members: Dict[int, List[int]]) -> np.ndarray:
  """Each index row's identity in the scoring model's pairs, the same in
  either join: an own row's identity (file order), and for a row
  synthesised for duplicates, SYNTHESISED and a hash of its key's name and
  its members' identities (a partition's index numbers its rows its own
  way, but holds every member of a group). `choice`: key name -> value ->
  synthesised row; `members`: synthesised row -> its rows."""
  out = identities(table)
  own = out[:rows_read]
  for name, chosen in choice.items():
    salt = np.uint64(stable_hash(pa.array([name]))[0])
    for row in chosen.values():
      h = np.bitwise_xor.reduce(mix64(own[members[row]].astype(np.uint64)
                                      ^ salt))
      out[row] = SYNTHESISED | np.int64(h >> np.uint64(2))
  return out


def rename_batch(batch: pa.RecordBatch, rename: Dict[str, str]):
  return batch.rename_columns([rename.get(n, n) for n in batch.schema.names])


@dataclass(frozen=True)
class SourceColumns:
  """Which columns of an enriched source matter, after mapping."""
  keep: Tuple[str, ...]  # written to the output
  keys: Tuple[MatchKey, ...]  # cascade keys the source has columns for
  # Not kept, but matched or compared on: the columns of those keys, and
  # every column any key or `confirm` names that the source has (a vendor
  # without the ZIP of the name + ZIP key still has names to compare).
  key_columns: Tuple[str, ...]

  @classmethod
  def of(cls, source: EnrichedSpec, spec: MergeSpec, mapped_header):
    keep = tuple(source.keep_columns(mapped_header, spec.original_header))
    keys = tuple(applicable_keys(spec, mapped_header))
    compared = {c.column for c in compared_columns(spec)} & set(mapped_header)
    key_columns = tuple(sorted(
        ({c for k in keys for c in k.needed_columns} | compared) - set(keep)))
    return cls(keep, keys, key_columns)

  @property
  def wanted(self):
    return list(self.keep) + list(self.key_columns) + list(ROW_POSITION_COLS)


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
                      cols: SourceColumns, files: List[str], partition=None,
                      code_counts=None):
  """The EnrichedIndex of the rows in `tables` (from source_table);
  `partition` (p, P): fuzzy block codes of partition p only, ranked by
  `code_counts` (fuzzy key name -> the whole source's CodeCounts). Tables
  with a ROUTED_COL (a partition's fragments) index each key's values of
  the rows it routed there only: the others' are looked up elsewhere."""
  keep, keys = list(cols.keep), cols.keys
  key_columns = list(cols.key_columns)
  if tables:
    table = pa.concat_tables(tables)
  else:
    table = pa.table({c: pa.array([], pa.string()) for c in keep + key_columns}
                     | {c: pa.array([], pa.int64())
                        for c in list(ROW_POSITION_COLS) + [FILE_COL]})
  # File order, whatever order the runner delivered the batches in.
  table = table.take(pc.sort_indices(
      table, [(FILE_COL, "ascending"), (OFFSET_COL, "ascending")]))
  table = table.combine_chunks()
  n = table.num_rows
  routed = None
  if ROUTED_COL in table.column_names:
    routed = table.column(ROUTED_COL).to_numpy()
    table = table.drop_columns([ROUTED_COL])

  def build(k):
    key = keys[k]
    rows = None if routed is None else np.flatnonzero(routed & (1 << k))
    if key.fuzzy:
      return fuzzy_index(table, key, spec.phone_region, n, identities(table),
                         partition, (code_counts or {}).get(key.name), rows)
    return _group_rows(table, key, spec, rows)
  # Key by key on a thread per core: they are independent, and mostly
  # Arrow and numpy kernels. The fuzzy keys, which take longest, start
  # first; the others share the remaining threads meanwhile.
  if len(keys) > 1:
    first = sorted(range(len(keys)), key=lambda k: not keys[k].fuzzy)
    with ThreadPoolExecutor(min(default_threads(), len(keys))) as pool:
      done = dict(zip(first, pool.map(build, first)))
    built = [done[k] for k in range(len(keys))]
  else:
    built = [build(k) for k in range(len(keys))]
  firsts, groups, fuzzy = {}, {}, {}
  for key, done in zip(keys, built):
    if key.fuzzy:
      fuzzy[key.name] = done
    else:
      firsts[key.name], groups[key.name] = done
  written = apply_multi_value(table, keep, spec)
  # Key columns that are not kept still show in unmatched_enriched.csv.
  internal = table.select([FILE_COL, OFFSET_COL, LINE_COL] + key_columns)
  dups = resolve_duplicates(written, internal, groups, spec)
  lookups = {}
  for name, (values, rows) in firsts.items():
    chosen = dups.choice.get(name)
    if chosen:  # shared values resolve to their synthesised row
      at = pc.index_in(pa.array(list(chosen), pa.string()),
                       value_set=values).to_numpy(zero_copy_only=False)
      rows[at] = list(chosen.values())
    lookups[name] = KeyLookup(values, rows)
  base = internal
  for c in written.column_names:
    base = base.append_column(c, written[c])
  for c in dups.spread_columns:
    base = base.append_column(c, pa.array([""] * n, pa.string()))
  ext = pa.concat_tables([base, dups.table.select(base.column_names)])
  _LOG.debug("enriched source %s: %d rows, keys %s, %d duplicate groups",
             source.name, n, [k.name for k in keys], len(dups.members))
  ext = ext.combine_chunks()
  return EnrichedIndex(source.name, files, keep + list(dups.spread_columns),
                       ext, n, lookups, dups.members, cols, fuzzy,
                       dups.widths,
                       vendor_identities(ext, n, dups.choice, dups.members))


def key_pairs(table, key: MatchKey, spec: MergeSpec):
  """(key value, row) pairs of an enriched table, nulls dropped; a
  multi-valued cell gives its row one pair per value."""
  if key.multi_valued:
    values, rows = multi_value.explode(table.column(key.columns[0]))
    values = normalizers.get(key.normalizers[0])(
        values, phone_region=spec.phone_region)
    rows = rows.to_numpy()
  else:
    values = key_values(table, key, spec.phone_region)
    rows = np.arange(table.num_rows)
  valid = pc.is_valid(values).to_numpy(zero_copy_only=False)
  return values.filter(pa.array(valid)), rows[valid]


def _group_rows(table: pa.Table, key: MatchKey, spec: MergeSpec,
                only: Optional[np.ndarray] = None):
  """(distinct values, the first row of each), and value -> all rows for
  values shared by several rows, of the table's rows or, with `only`, of
  those rows (ascending). A multi-valued cell gives its row one entry per
  value."""
  if only is None:
    values, rows = key_pairs(table, key, spec)
  else:
    mine = table.select(list(dict.fromkeys(key.columns)))
    values, rows = key_pairs(mine.take(pa.array(only, pa.int64())), key,
                             spec)
    rows = only[rows]
  # Grouped by dictionary codes (first-appearance order) and a sort;
  # Python only touches the (rare) shared values.
  encoded = pc.dictionary_encode(contiguous(values))
  codes = encoded.indices.to_numpy(zero_copy_only=False)
  order = np.lexsort((rows, codes))
  codes, rows = codes[order], np.asarray(rows, np.int64)[order]
  starts, lengths = runs(codes)
  first = (encoded.dictionary, rows[starts].copy())
  # A row repeats within a value only for a multi-valued cell.
  new_row = np.r_[True, (rows[1:] != rows[:-1]) | (codes[1:] != codes[:-1])]
  distinct = (np.add.reduceat(new_row.astype(np.int64), starts)
              if starts.size else starts)
  shared: Dict[str, List[int]] = {}
  at = np.flatnonzero(distinct > 1)
  for value, start, length in zip(
      encoded.dictionary.take(pa.array(at)).to_pylist(),
      starts[at].tolist(), lengths[at].tolist()):
    shared[value] = rows[start:start + length][
        new_row[start:start + length]].tolist()
  return first, shared


def apply_multi_value(table: pa.Table, keep, spec: MergeSpec) -> pa.Table:
  """Rewrites multi-valued cells of email/phone key columns and of columns
  named in multi_value.columns, per the multi_value policy; an email
  column's display names are dropped ('Ana <a@x.com>' -> 'a@x.com'), and
  an email, phone, ZIP or URL column's invisible characters and
  surrounding spaces (a CRM's importer rejects "a@x.com\u00a0"), and a
  ZIP or phone a spreadsheet mangled is written as it was ("2134.0" ->
  "02134")."""
  splittable = {k.columns[0] for k in spec.keys if k.multi_valued}
  columns = []
  for c in keep:
    values = table.column(c).combine_chunks()
    kind = spec.key_normalizer(c)
    if kind in validity.VALIDATED:
      values = validity.restore(pc.utf8_trim_whitespace(clean(values)), kind,
                                spec.phone_region)
    if (c in spec.multi_value_columns or c in splittable
        or kind in multi_value.EMAIL_KINDS):
      policy = spec.multi_value_columns.get(c, spec.multi_value_default)
      values = multi_value.apply_policy(values, policy, kind,
                                        spec.multi_value_separator,
                                        spec.phone_region)
    columns.append(values)
  return pa.table(columns, names=list(keep))


def lookup_rows(values: pa.Array, lookup: KeyLookup,
                pending: Optional[np.ndarray] = None) -> np.ndarray:
  """Index rows for each key value (-1: no hit); only `pending` rows."""
  if pending is not None and not pending.all():
    rows = np.flatnonzero(pending)
    hits = np.full(len(values), -1, np.int64)
    hits[rows] = lookup.find(values.take(pa.array(rows)))
    return hits
  return lookup.find(values)


class BatchKeys:
  """A batch's key values, computed the first time a source needs them."""

  def __init__(self, table: pa.Table, spec: MergeSpec):
    self._table, self._spec = table, spec
    self.num_rows = table.num_rows
    self._exact: Dict[str, pa.Array] = {}
    self._fuzzy: Dict[str, FuzzyValues] = {}
    self._columns: Dict[Tuple[str, Tuple[str, str]], pa.Array] = {}

  def column(self, column: str, how: Tuple[str, str]) -> pa.Array:
    """A column prepared `how` (comparisons.preparation), once per batch:
    the keys and the scoring's comparisons share them."""
    if (column, how) not in self._columns:
      self._columns[column, how] = prepare_as(
          self._table.column(column), how, self._spec.phone_region)
    return self._columns[column, how]

  def column_keys(self) -> Dict[str, pa.Array]:
    """Column -> its keys, for the one-column exact keys computed so far
    whose normalizer is the column's (conflicts compare by those)."""
    found = {}
    for key in self._spec.keys:
      if (key.name in self._exact and len(key.columns) == 1 and
          self._spec.key_normalizer(key.columns[0]) == key.normalizers[0]):
        found.setdefault(key.columns[0], self._exact[key.name])
    return found

  def exact(self, key) -> pa.Array:
    if key.name not in self._exact:
      self._exact[key.name] = join_parts([
          self.column(c, ("normalize", n))
          for c, n in zip(key.columns, key.normalizers)])
    return self._exact[key.name]

  def fuzzy(self, key, rows: np.ndarray) -> FuzzyValues:
    """The fuzzy key's values of `rows` (renumbered from 0): computed for
    the rows the first source asks for, which later sources (asking for the
    rows still unmatched for them) mostly share."""
    known = self._fuzzy.get(key.name)
    if known is None or not in_sorted(rows, known[0]).all():
      rows_all = rows if known is None else np.union1d(known[0], rows)
      take = pa.array(rows_all)
      ready = {(c, kind): self._columns[c, ("prepare", kind)].take(take)
               for c, kind in zip(key.columns, key.normalizers)
               if (c, ("prepare", kind)) in self._columns}
      known = (rows_all, FuzzyValues.of(
          self._table.take(take), key, self._spec.phone_region, ready))
      self._fuzzy[key.name] = known
    return known[1].take(np.searchsorted(known[0], rows))
