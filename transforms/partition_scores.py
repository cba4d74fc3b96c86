"""Scoring in the key-partitioned join (transforms/partitioned.py): the
broadcast join's candidate pairs (transforms/candidates.py), rebuilt from
what the partitions know, so that both joins fit the same model and write
the same bytes.

What the broadcast join reads from a whole source, the partitioned join
gathers:

- term frequencies: each enriched batch sends, per compared column, its
  values' counts to the partitions their hashes pick; an original batch
  sends its values there too, and gets back their counts among the whole
  source (`term_counts`, `count_answer`). The partitions' sums of squared
  counts add up to the mean term frequency (a side input);
- the random pairs' vendor rows: each batch's rows with the smallest stable
  hashes, combined into the source's (`VendorSampleFn`, a side input);
- candidate pairs: the partitions answer every exact hit (a synthesised
  row's members too) and the fuzzy key's top candidates, with the compared
  columns; `pairs_from_answers` keeps each row's pairs as
  candidates.candidate_rows would, and compares them.
"""

from typing import Dict, List, Sequence, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms.candidates import (CandidatePairs,
                                           OriginalSide, PreparedColumns,
                                           TermCounts, VendorSample,
                                           candidate_pairs,
                                           first_per_pair, sample_rows,
                                           single_columns, tf_columns,
                                           tf_mean, vendor_locations)
from crmsync.transforms.columns import (EVIDENCE, FILE_COL, GROUP_COL,
                                        LINE_COL, RANK_COL, VENDOR_ID_COL,
                                        internal)
from crmsync.transforms.comparisons import prepared, preparation
from crmsync.transforms.fuzzy import top_candidates
from crmsync.transforms.hashing import partition_of
from crmsync.transforms.matching import (BatchKeys, apply_multi_value,
                                         identities)
from crmsync.transforms.spec import MergeSpec

SAMPLE_ID = internal("sample_id")  # a VendorSampleFn table's identities


def as_indexed(table: pa.Table, keep: Sequence[str], spec: MergeSpec,
               columns: Sequence[str]) -> Dict[str, pa.Array]:
  """An enriched table's `columns` as its index holds them: kept columns
  with the multi-value policy applied (matching.apply_multi_value)."""
  kept = [c for c in columns if c in keep]
  written = apply_multi_value(table, kept, spec) if kept else None
  return {c: written.column(c) if c in kept else table.column(c)
          for c in columns}


def scoring_fragments(table: pa.Table, source: str, keep: Sequence[str],
                      spec: MergeSpec, comparisons, partitions: int):
  """(the batch's sample: (rows read, table of its VendorSample rows);
  [(partition, ("tf", source, column, table of (value, count)))]) of one
  enriched batch (matching.source_table)."""
  compared = [c for c in single_columns(comparisons)
              if c.column in table.column_names]
  values = as_indexed(table, keep, spec, [c.column for c in compared])
  ids = identities(table)
  at = pa.array(sample_rows(ids))
  sample = pa.table({c: v.take(at) for c, v in values.items()}).append_column(
      SAMPLE_ID, pa.array(ids).take(at))
  items = []
  for c in compared:
    counts = pc.value_counts(prepared(values[c.column], c,
                                      spec.phone_region).drop_null())
    uniq = counts.field("values")
    parts = partition_of(uniq, partitions)
    for p in np.unique(parts).tolist():
      sel = pa.array(parts == p)
      items.append((p, ("tf", source, c.column, pa.table({
          "value": uniq.filter(sel),
          "count": counts.field("counts").filter(sel)}))))
  return (table.num_rows, sample), items


def tf_probes(batch_id, table: pa.Table, keys: BatchKeys, comparisons,
              partitions: int):
  """[(partition, ("tf_probe", batch id, column, table of (rows, values)))]
  of an original batch (`table`, its matching.BatchKeys `keys`): its values
  of the columns with term frequencies (candidates.tf_columns), prepared as
  OriginalSide prepares them, sent where their counts are."""
  items = []
  by_column = {c.column: c for c in comparisons}
  for column in tf_columns(comparisons):
    if column not in table.column_names:
      continue
    values = keys.column(column, preparation(by_column[column]))
    valid = pc.is_valid(values).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(valid)
    values = values.filter(pa.array(valid))
    parts = partition_of(values, partitions)
    for p in np.unique(parts).tolist():
      sel = parts == p
      items.append((p, ("tf_probe", batch_id, column, pa.table({
          "rows": pa.array(rows[sel], pa.int32()),
          "values": values.filter(pa.array(sel))}))))
  return items


def term_counts(tables: List[pa.Table]) -> TermCounts:
  """One column's counts in one partition, from its batches' tables."""
  summed = pa.concat_tables(tables).group_by(
      "value", use_threads=False).aggregate([("count", "sum")])
  counts = summed.column("count_sum").to_numpy().astype(np.int64)
  return TermCounts(summed.column("value").combine_chunks(), counts,
                    int(counts.sum()))


def count_answer(counts: TermCounts, probe: pa.Table) -> pa.Table:
  """(rows, count) of the probe's values that the partition's counts
  hold."""
  at = counts.find(probe.column("values").combine_chunks())
  known = at >= 0
  return pa.table({
      "rows": probe.column("rows").filter(pa.array(known)),
      "count": pa.array(counts.counts[at[known]], pa.int64())})


class SumPairs(beam.CombineFn):
  """(squares, filled) pairs of a (source, column) -> their sums."""

  def create_accumulator(self):
    return (0, 0)

  def add_input(self, acc, value):
    return (acc[0] + value[0], acc[1] + value[1])

  def merge_accumulators(self, accs):
    accs = list(accs)
    return (sum(a[0] for a in accs), sum(a[1] for a in accs))

  def extract_output(self, acc):
    return acc


class VendorSampleFn(beam.CombineFn):
  """A source's batches' (rows read, sample table) -> (the source's rows
  read, its VendorSample rows in sample order): the smallest hashes of
  the smallest hashes."""

  def create_accumulator(self):
    return (0, None)

  def add_input(self, acc, value):
    return self.merge_accumulators([acc, value])

  def merge_accumulators(self, accs):
    rows, tables = 0, []
    for n, table in accs:
      rows += n
      if table is not None:
        tables.append(table)
    if not tables:
      return (rows, None)
    table = pa.concat_tables(tables, promote_options="default")
    ids = table.column(SAMPLE_ID).to_numpy()
    return (rows, table.take(pa.array(sample_rows(ids))).combine_chunks())

  def extract_output(self, acc):
    return acc


def vendor_sample(sampled, comparisons, region: str) -> VendorSample:
  """The VendorSample of a VendorSampleFn's table."""
  _, table = sampled
  if table is None:
    return VendorSample({}, np.zeros(0, np.int64))
  return VendorSample.of(table, table.column(SAMPLE_ID).to_numpy(),
                         comparisons, region)


class AnswerSide:
  """The vendor rows a batch's answers from one source hold, as
  candidates.compare_pairs reads them (`columns`: their compared
  columns)."""

  def __init__(self, table: pa.Table, comparisons, region: str):
    values = {}
    for c in single_columns(comparisons):
      name = EVIDENCE + c.column
      if name in table.column_names:
        values[c.column] = prepared(table.column(name), c, region)
    self.columns = PreparedColumns(values)


def _scoring_columns(table: pa.Table) -> pa.Table:
  return table.select([c for c in table.column_names
                       if c.startswith(EVIDENCE) or c in (
                           VENDOR_ID_COL, GROUP_COL, RANK_COL, FILE_COL,
                           LINE_COL)])


def pairs_from_answers(source: str, spec: MergeSpec, comparisons,
                       original: OriginalSide,
                       by_key: Dict[int, List[Tuple[np.ndarray, pa.Table]]],
                       counts: Dict[str, List[pa.Table]],
                       vendor_rows: int, sample: VendorSample,
                       sums: Dict[str, Tuple[int, int]],
                       supplied) -> CandidatePairs:
  """One batch's CandidatePairs with one source, from its answers: `by_key`:
  key position -> (original rows, answer table); `counts`: column -> the
  (rows, count) answers of its values; `vendor_rows`: the rows the source
  read; `sample`: its VendorSample (vendor_sample); `sums`: column ->
  (squares, filled) over the source."""
  # What scoring reads of the answers: a partition without a wide
  # duplicate group lacks some spread columns, so the answers' other
  # columns may differ.
  by_key = {k: [(rows, _scoring_columns(table)) for rows, table in answers]
            for k, answers in by_key.items()}
  rows_l, at_l, keys_l, tables = [], [], [], []
  base = 0
  proposed = np.zeros(original.num_rows, bool)
  for k in sorted(by_key):
    if spec.keys[k].fuzzy:
      continue
    for rows, table in by_key[k]:
      rows_l.append(rows)
      at_l.append(base + np.arange(rows.size))
      keys_l.append(np.full(rows.size, k, np.int8))
      tables.append(table)
      base += table.num_rows
      proposed[rows] = True
  for k in sorted(by_key):
    if not spec.keys[k].fuzzy:
      continue
    rows = np.concatenate([r for r, _ in by_key[k]])
    table = pa.concat_tables([t for _, t in by_key[k]])
    ids = table.column(VENDOR_ID_COL).to_numpy()
    rank = table.column(RANK_COL).to_numpy()
    # A row's candidates from every partition, each once, in (row, file)
    # order: the broadcast join's FuzzyIndex.candidates of the rows no
    # exact key proposed.
    order = np.lexsort((ids, rows))
    order = order[~proposed[rows[order]]]
    once = np.ones(order.size, bool)
    once[1:] = ((rows[order][1:] != rows[order][:-1]) |
                (ids[order][1:] != ids[order][:-1]))
    order = order[once]
    order = order[top_candidates(rows[order], rank[order])]
    rows_l.append(rows[order])
    at_l.append(base + order)
    keys_l.append(np.full(order.size, k, np.int8))
    tables.append(table)
    base += table.num_rows
  if not tables:  # no pairs: the batch's random pairs still count
    tables = [pa.table({VENDOR_ID_COL: pa.array([], pa.int64()),
                        GROUP_COL: pa.array([], pa.int64()),
                        FILE_COL: pa.array([], pa.int64()),
                        LINE_COL: pa.array([], pa.int64())})]
    rows_l = at_l = [np.zeros(0, np.int64)]
    keys_l = [np.zeros(0, np.int8)]
  table = pa.concat_tables(tables, promote_options="default")
  rows, at = np.concatenate(rows_l), np.concatenate(at_l)
  by = np.concatenate(keys_l)
  vendor_ids = table.column(VENDOR_ID_COL).to_numpy()[at]
  groups = table.column(GROUP_COL).to_numpy()[at]
  first = first_per_pair(rows, vendor_ids, by, groups)
  rows, at, by = rows[first], at[first], by[first]
  original_tf = {}
  for column in tf_columns(comparisons):
    if column not in sums or column not in original.values:
      continue
    tf = np.full(original.num_rows, np.nan, np.float32)
    for answer in counts.get(column, ()):
      found = answer.column("rows").to_numpy().astype(np.int64)
      tf[found] = np.log2(answer.column("count").to_numpy() /
                          max(sums[column][1], 1))
    original_tf[column] = tf
  # Each vendor row once (partitions answer a fuzzy candidate once per
  # shared block, and a row may be a candidate of many): its values are
  # prepared once per batch.
  _, once, found = np.unique(vendor_ids[first], return_index=True,
                             return_inverse=True)
  vendor = table.take(pa.array(at[once], pa.int64()))
  found = found.ravel()
  return candidate_pairs(
      source, spec, comparisons, original,
      AnswerSide(vendor, comparisons, spec.phone_region), rows,
      found, by, groups[first], vendor_ids[first],
      *vendor_locations(spec, vendor, found), original_tf,
      sample, vendor_rows,
      {c: tf_mean(*sums[c]) for c in sums}, supplied)


class DecisionView:
  """A source's answers for one batch, as SourceMatch.take_decisions reads
  an index: `table` (the answers, their compared columns under their own
  names), `rows_of` (vendor identities -> rows of it)."""

  def __init__(self, name: str, files: List[str], table: pa.Table):
    self.name, self.files = name, files
    for column in table.column_names:
      if column.startswith(EVIDENCE):
        own = column[len(EVIDENCE):]
        if own not in table.column_names:
          table = table.append_column(own, table.column(column))
    self.table = table
    ids = table.column(VENDOR_ID_COL).to_numpy()
    self._order = np.argsort(ids, kind="stable")
    self._ids = ids[self._order]

  def rows_of(self, vendor_ids: np.ndarray) -> np.ndarray:
    return self._order[np.searchsorted(self._ids, vendor_ids)]
