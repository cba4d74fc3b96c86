"""The key-partitioned join, for enriched sides too big to broadcast.

Every key value is hashed to one of P partitions (a stable hash: the same on
every worker and runner). One GroupByKey brings each partition's
elements together:

- enriched fragments: each enriched row goes to the partitions of its key
  values, and an index of just those rows is built there. All rows sharing a
  key value meet in its partition, so duplicates resolve exactly as in the
  broadcast join; a row is "owned" by the lowest of its partitions, which
  counts it once for the reports;
- probes: each original batch sends, per key of the cascade, its rows' key
  values to their partitions, and gets back the enriched values of the hits.

A second CoGroupByKey brings each original batch's answers together, with
the batch itself, or, given the CsvSource it came from (the job does),
where to re-read it from its file by byte range (a shuffle holds its data
in memory on the local runner, and the original side is the largest). The
cascade (the first key that hits, per source) is applied there, and the
batch is resolved by the same code as the broadcast join
(transforms/assemble.py). Output and reports are therefore byte-identical
whichever join runs.

With scoring, the partitions also count the compared columns' values and
answer every candidate with its compared columns; the batch's pairs are
rebuilt from the answers and scored by the broadcast join's model
(transforms/partition_scores.py), and the merge takes its decisions.

Tables cross the shuffles as zstd-compressed Arrow IPC (`pack`). Beam's
local runner holds a whole shuffle in memory, so with a folder (the job
passes the run's temporary folder) they are written to files there and the
shuffles carry slices of them (`spill`): memory then no longer grows with
the input (the README's Performance section has the figures).
"""

import itertools
import pickle
from typing import Dict, List, Optional, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms import claims, confirm, handoff, partition_scores
from crmsync.transforms.assignment import Decide
from crmsync.transforms.broadcast import model_reports
from crmsync.transforms.candidates import (OriginalSide, single_columns,
                                           synthesised_members)
from crmsync.transforms.comparisons import comparisons_of
from crmsync.transforms.claims import decide_claims, first_hits
from crmsync.transforms.ahead import AheadDoFn
from crmsync.transforms.csv_source import CsvSource
from crmsync.transforms.fuzzy import CodeCounts, FuzzyValues, choose
from crmsync.transforms.gather import GatherAll
from crmsync.transforms.hashing import (hash_partition, in_sorted,
                                       partition_of, sorted_unique)
from crmsync.transforms.matching import (BatchKeys, SourceColumns,
                                         batch_identities, identities,
                                         index_from_tables, key_pairs,
                                         lookup_rows, source_table)
from crmsync.transforms.assemble import resolve_batch
from crmsync.transforms.join import (EnrichedAccount, JoinResult, JoinSource,
                                     SourceMatch, Supplied, account,
                                     count_outputs, join_layout,
                                     require_global_window)
from crmsync.transforms.original_duplicates import batch_key_values
from crmsync.transforms.progress import Progress
from crmsync.transforms.columns import (EVIDENCE, FILE_COL, GROUP_COL,
                                        ID_COL, LINE_COL, OFFSET_COL,
                                        OWNED_COL, RANK_COL, ROUTED_COL,
                                        ROUTED_KEYS, ROWS_COL, SCORE_COL,
                                        USED_COL, VENDOR_ID_COL, is_internal)
from crmsync.transforms.rows import RowBatch
from crmsync.transforms.spec import EnrichedSpec, MergeSpec

_PICKLED = b"PKL5"  # packed by pickle (Arrow IPC streams start otherwise)


def pack(value) -> bytes:
  """A table as compressed Arrow IPC bytes, for the shuffles: the local
  runner holds a shuffle in memory (decoded, then re-encoded), and vendor
  columns compress several times over. zstd rather than LZ4: markedly
  fewer bytes in the shuffles for little more time. Anything else (the
  fuzzy key's probes) is pickled."""
  if not isinstance(value, pa.Table):
    return _PICKLED + pickle.dumps(value, protocol=5)
  sink = pa.BufferOutputStream()
  options = pa.ipc.IpcWriteOptions(compression="zstd")
  with pa.ipc.new_stream(sink, value.schema, options=options) as writer:
    writer.write_table(value)
  return sink.getvalue().to_pybytes()


def unpack(data):
  """A packed value, from its bytes or from the Slice they were spilled
  to."""
  if isinstance(data, handoff.Slice):
    data = handoff.read_slice(data)
  if data[:len(_PICKLED)] == _PICKLED:
    return pickle.loads(memoryview(data)[len(_PICKLED):])
  return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def spill(items, folder, name: str):
  """Packs the value that ends each (key, (..., value)) item (bytes: packed
  already). Without a folder the bytes travel in the element; with one, all
  of an element's values go to one file there, named after `name`, and the
  element carries a Slice."""
  def packed(value):
    return value if isinstance(value, bytes) else pack(value)
  if folder is None:
    for key, (*head, value) in items:
      yield key, (*head, packed(value))
    return
  items = list(items)
  if not items:
    return
  path = f"{folder}/{handoff.attempt_name(name, '.arrows')}"
  with handoff.SliceWriter(path) as out:
    where = [out.add(packed(value)) for _, (*_, value) in items]
  for (key, (*head, _)), at in zip(items, where):
    yield key, (*head, at)


def _routes(table, key, spec: MergeSpec, partitions: int):
  """(partition, row) of every key value (fuzzy: block code) of a table,
  and for a fuzzy key its CodeCounts (else None)."""
  if key.fuzzy:
    values = FuzzyValues.of(table, key, spec.phone_region)
    return (hash_partition(values.hashes, partitions), values.rows,
            CodeCounts.of(values))
  values, rows = key_pairs(table, key, spec)
  return partition_of(values, partitions), rows, None


class _EnrichedFragments(beam.DoFn):
  """Enriched RowBatch -> (partition, ("enriched", source, rows)); per
  fuzzy key, the batch's CodeCounts, tagged `code_counts` ((source, key
  name), counts). With `scoring`, its compared columns' counts too
  (partition, ("tf", ...)), and tagged `samples` (source, its part of the
  VendorSample: partition_scores.py)."""

  def __init__(self, source: EnrichedSpec, spec: MergeSpec, mapped_header,
               partitions: int, folder, scoring: bool = False):
    self._source, self._spec = source, spec
    self._cols = SourceColumns.of(source, spec, mapped_header)
    self._partitions, self._folder = partitions, folder
    self._comparisons = comparisons_of(spec) if scoring else None

  def process(self, batch: RowBatch):
    first = batch.table.column(OFFSET_COL)[0].as_py()
    items = self._fragments(batch)
    for item in items:  # the code counts come first
      if isinstance(item, beam.pvalue.TaggedOutput):
        yield item
        continue
      yield from spill(itertools.chain([item], items), self._folder,
                       f"fragments-{handoff.file_name(self._source.name)}-"
                       f"{batch.file_index}-{first}")

  def _fragments(self, batch: RowBatch):
    table = source_table(batch, self._source, self._cols)
    n = table.num_rows
    owner = np.full(n, self._partitions, np.int64)
    rows_in = []
    counts = []
    for key in self._cols.keys:
      parts, rows, code_counts = _routes(table, key, self._spec,
                                         self._partitions)
      np.minimum.at(owner, rows, parts)
      rows_in.append((parts, rows))
      if code_counts is not None:
        counts.append(beam.pvalue.TaggedOutput("code_counts", (
            (self._source.name, key.name), code_counts)))
    yield from counts
    if self._comparisons is not None:
      sample, tf_items = partition_scores.scoring_fragments(
          table, self._source.name, self._cols.keep, self._spec,
          self._comparisons, self._partitions)
      yield beam.pvalue.TaggedOutput("samples", (self._source.name, sample))
      yield from tf_items
    owner[owner == self._partitions] = 0  # no key at all: counted in 0
    for p in range(self._partitions):
      routed = np.zeros(n, np.int64)
      for k, (parts, rows) in enumerate(rows_in):
        routed[rows[parts == p]] |= 1 << min(k, ROUTED_KEYS)
      mask = (owner == p) | (routed != 0)
      if mask.any():
        part = table.filter(pa.array(mask)).append_column(
            OWNED_COL, pa.array((owner == p)[mask]))
        if len(rows_in) <= ROUTED_KEYS:  # else every key indexes every row
          part = part.append_column(ROUTED_COL, pa.array(routed[mask]))
        yield p, ("enriched", self._source.name, part)


class _Probes(AheadDoFn):
  """Original RowBatch -> (batch id, the batch: where to re-read it, or
  its table) and, per cascade key, the rows' key values to their
  partitions: (partition, ("probe", ...)); with `scoring`, its values of
  the columns with term frequencies too: (partition, ("tf_probe", ...))."""

  def __init__(self, spec: MergeSpec, key_names: Sequence[str],
               partitions: int, folder, reread: bool, scoring: bool = False):
    self._spec, self._partitions, self._folder = spec, partitions, folder
    self._reread = reread
    self._comparisons = comparisons_of(spec) if scoring else None
    self._keys = [(k, key) for k, key in enumerate(spec.keys)
                  if key.name in key_names]

  def work(self, batch: RowBatch) -> list:
    return list(self._probes(batch))

  def _probes(self, batch: RowBatch):
    table = batch.table
    offsets = table.column(OFFSET_COL)
    batch_id = (batch.file_index, offsets[0].as_py())
    if self._reread:
      yield beam.pvalue.TaggedOutput("batches", (batch_id, (
          "at", offsets[-1].as_py(), table.column(LINE_COL)[0].as_py(),
          table.num_rows)))
    else:
      for item in spill([(batch_id, ("table", pa.Table.from_batches(
          [table])))], self._folder, f"batch-{batch_id[0]}-{batch_id[1]}"):
        yield beam.pvalue.TaggedOutput("batches", item)
    probes, keys = [], BatchKeys(table, self._spec)
    if self._comparisons is not None:  # its values' term frequencies
      probes += partition_scores.tf_probes(batch_id, table, keys,
                                           self._comparisons,
                                           self._partitions)
    for k, key in self._keys:
      if key.fuzzy:
        probes += self._fuzzy_probes(batch_id, k, key, table)
        continue
      values = keys.exact(key)
      valid = pc.is_valid(values).to_numpy(zero_copy_only=False)
      rows = np.flatnonzero(valid)
      values = values.filter(pa.array(valid))
      parts = partition_of(values, self._partitions)
      for p in np.unique(parts).tolist():
        sel = parts == p
        probes.append((p, ("probe", batch_id, k, pa.table({
            "rows": pa.array(rows[sel], pa.int32()),
            "values": values.filter(pa.array(sel))}))))
    yield from spill(probes, self._folder,
                     f"probes-{batch_id[0]}-{batch_id[1]}")
    found = batch_key_values(batch, self._spec, keys.exact)
    if found is not None:
      yield beam.pvalue.TaggedOutput("key_values", found)

  def _fuzzy_probes(self, batch_id, k, key, table):
    """Each partition gets the rows with a block code there, with their
    compared values. Rows an exact key matches are sent too: which ones
    those are is only known once the answers meet."""
    values = FuzzyValues.of(table, key, self._spec.phone_region)
    parts = hash_partition(values.hashes, self._partitions)
    for p in np.unique(parts).tolist():
      part = values.only(parts == p)
      rows = sorted_unique(part.rows)
      yield p, ("probe", batch_id, k, (rows, part.take(rows)))


def _answer(index, found: np.ndarray, evidence, columns) -> pa.Table:
  """The hit rows as an answer: the columns the source supplies, the row's
  identity, the identities it stands for (a row synthesised from
  duplicates stands for its group), and the `evidence` columns the hits are
  checked on (confirm.evidence_columns) with the row's file and line."""
  take = pa.array(found, pa.int64())
  ids = identities(index.table, found)
  # Built from its identities: a source may supply no columns at all.
  table = pa.table({ID_COL: pa.array(ids, pa.int64())})
  for c in columns:
    table = table.append_column(c, index.table.column(c).take(take))
  if (found < index.rows_read).all():  # no duplicates: each stands for itself
    used = pa.ListArray.from_arrays(
        pa.array(np.arange(found.size + 1, dtype=np.int32)), pa.array(ids))
  else:
    used = pa.array([
        [i] if r < index.rows_read else
        identities(index.table, np.asarray(index.members[r])).tolist()
        for r, i in zip(found.tolist(), ids.tolist())], pa.list_(pa.int64()))
  table = table.append_column(USED_COL, used)
  for c in (FILE_COL, LINE_COL):  # where a refused value came from
    table = table.append_column(c, index.table.column(c).take(take))
  if evidence:
    for c in list(evidence) + [FILE_COL, LINE_COL]:
      table = table.append_column(EVIDENCE + c, index.table.column(c).take(
          take))
  return table


class _JoinPartition(AheadDoFn):
  """One partition: index its enriched rows, answer its probes. With
  scoring, also sum its term counts (tagged `tf_sums`) and answer the
  original's values with them (`term_counts`)."""

  def __init__(self, sources: Sequence[EnrichedSpec], spec: MergeSpec,
               headers: Dict[str, Sequence[str]], files: Dict[str, List[str]],
               folder, scoring: bool = False):
    self._sources = list(sources)
    self._spec = spec
    self._cols = {s.name: SourceColumns.of(s, spec, headers[s.name])
                  for s in sources}
    self._files, self._folder = files, folder
    self._compared = ([c.column for c in single_columns(comparisons_of(spec))]
                      if scoring else None)

  def prepare(self, element):
    p, items = element
    return p, list(items)

  def work(self, element, partitions, code_counts=None) -> list:
    return list(self._join(element, partitions, code_counts or {}))

  def _join(self, element, partitions, code_counts):
    items = list(self._outputs(element, partitions, code_counts))
    tables = [i for i in items if isinstance(i[1][-1], bytes)]
    rest = [i for i in items if not isinstance(i[1][-1], bytes)]
    for tag, value in list(spill(tables, self._folder,
                                 f"partition-{element[0]:05d}")) + rest:
      if tag in ("answers", "term_counts"):  # keyed by the batch answered
        value = (value[0], tuple(value[1:]))
      yield beam.pvalue.TaggedOutput(tag, tuple(value))

  def _outputs(self, element, partitions, code_counts):
    """(tag, value) pairs; tables are packed as they come (a partition's
    answers wait for the others in this compressed form). `code_counts`:
    (source, fuzzy key name) -> the source's CodeCounts."""
    p, items = element
    fragments: Dict[str, list] = {}
    probes, tfs, tf_probes = [], {}, []
    for item in items:
      if item[0] == "enriched":
        fragments.setdefault(item[1], []).append(unpack(item[2]))
      elif item[0] == "tf":
        tfs.setdefault(item[1:3], []).append(unpack(item[3]))
      elif item[0] == "tf_probe":
        tf_probes.append(item[1:])
      else:
        probes.append(item[1:])
    yield from self._term_counts(tfs, tf_probes)
    for source in self._sources:
      tables = fragments.get(source.name, [])
      if not tables:
        continue
      table = pa.concat_tables(tables)
      owned = identities(table, np.flatnonzero(
          table.column(OWNED_COL).to_numpy(zero_copy_only=False)))
      index = index_from_tables(
          [table.drop_columns([OWNED_COL])], source, self._spec,
          self._cols[source.name], self._files[source.name], (p, partitions),
          {key: counts for (name, key), counts in code_counts.items()
           if name == source.name})
      mine = identities(index.table, np.arange(index.rows_read))
      is_owned = in_sorted(mine, sorted_unique(owned))
      yield "owned", (source.name, pack(index.rows(
          np.flatnonzero(is_owned)).append_column(
              ID_COL, pa.array(mine[is_owned], pa.int64()))))
      yield "supplied", Supplied(source.name, dict(index.spread))
      for batch_id, k, *probe in probes:
        key = self._spec.keys[k]
        groups = None
        if key.fuzzy:
          if key.name not in index.fuzzy:
            continue
          rows, values = unpack(probe[0])
          # Every top candidate, scored: which one wins is decided once
          # the row's candidates from all partitions meet.
          if self._compared is None:
            asked, found, rank, scores = index.fuzzy[key.name].scored(
                values)
          else:  # the model scores them
            asked, found, rank = index.fuzzy[key.name].candidates(values)
            scores = np.full(asked.size, np.nan)
          rows = rows[asked]
        else:
          if key.name not in index.lookups:
            continue
          probe = unpack(probe[0])
          rows = probe.column("rows").to_numpy().astype(np.int64)
          values = probe.column("values").combine_chunks()
          hit = lookup_rows(values, index.lookups[key.name])
          rows, found = rows[hit >= 0], hit[hit >= 0]
          if self._compared is not None:  # a group's members are compared
            m_rows, m_found, m_of = synthesised_members(index, rows, found)
            groups = np.concatenate([np.full(rows.size, -1, np.int64),
                                     index.vendor_ids[m_of]])
            rows = np.concatenate([rows, m_rows])
            found = np.concatenate([found, m_found])
          scores = np.ones(rows.size)
        if rows.size:
          if self._compared is None:
            evidence = confirm.evidence_columns(
                self._spec, key, index.table.column_names)
          else:  # the model compares them all
            evidence = [c for c in dict.fromkeys(self._compared)
                        if c in index.table.column_names]
          answer = _answer(index, found, evidence, index.columns)
          if key.fuzzy:
            answer = answer.append_column(RANK_COL, pa.array(rank))
          if self._compared is not None:
            answer = answer.append_column(VENDOR_ID_COL, pa.array(
                index.vendor_ids[found])).append_column(GROUP_COL, pa.array(
                    np.full(rows.size, -1, np.int64) if groups is None
                    else groups))
          answer = answer.append_column(ROWS_COL, pa.array(rows, pa.int64()))
          answer = answer.append_column(SCORE_COL, pa.array(scores))
          yield "answers", (batch_id, source.name, k, pack(answer))

  def _term_counts(self, tfs, tf_probes):
    """The partition's sums of squared counts, and the counts of the
    original values probed (partition_scores.py)."""
    counts = {sc: partition_scores.term_counts(tables)
              for sc, tables in tfs.items()}
    for sc, c in sorted(counts.items()):
      yield "tf_sums", (sc, (c.squares, c.filled))
    for batch_id, column, probe in tf_probes:
      probe = unpack(probe)
      for (source, of), c in sorted(counts.items()):
        if of == column:
          yield "term_counts", (batch_id, source, column, pack(
              partition_scores.count_answer(c, probe)))


class _Assemble(AheadDoFn):
  """An original batch (re-read) and its answers -> the merged batch; side
  inputs: the layout, and with scoring the decisions (assignment.Decide's,
  or its Handoff), else the cascade's claims (transforms/claims.py) where
  the job needs them."""

  def __init__(self, spec: MergeSpec, source_order: Sequence[str],
               reread: Optional[CsvSource], files: Dict[str, List[str]]):
    self._spec, self._order = spec, tuple(source_order)
    self._reread, self._files = reread, files

  def setup(self):
    super().setup()
    self._progress = Progress("merged")
    self._opened = handoff.OpenedOnce()

  def process(self, element, window=beam.DoFn.WindowParam,
              timestamp=beam.DoFn.TimestampParam, *side_inputs):
    # The decisions may come as a Handoff (assignment.Decide).
    yield from super().process(element, window, timestamp,
                               *map(self._opened, side_inputs))

  def prepare(self, element):
    batch_id, grouped = element
    return batch_id, {tag: list(values) for tag, values in grouped.items()}

  def work(self, element, layout, decided=None) -> list:
    return list(self._assemble(element, layout, decided or {}))

  def emit(self, outputs):
    return count_outputs(outputs, self._progress)

  def _assemble(self, element, layout, decided):
    batch, by_source = self._answers(element)
    gathered, matches = {}, {}
    for name in self._order:
      columns = [c for c, srcs in layout.sources.items() if name in srcs]
      if self._spec.scoring:
        match, table = self._decisions(batch, by_source.get(name, {}), name,
                                       decided.get(name), columns)
      else:
        match, table = self._cascade(batch, by_source.get(name, {}), name,
                                     decided.get(name), columns)
      taken = table.take(pa.array(match.hit, mask=match.how < 0))
      used = pc.list_flatten(taken.column(USED_COL)).drop_null()
      if len(used):
        yield beam.pvalue.TaggedOutput("used", (name, used.to_numpy()))
      gathered[name] = taken.select(columns + [FILE_COL, LINE_COL])
      matches[name] = match
    yield from resolve_batch(batch, gathered, matches, layout, self._spec)

  def _answers(self, element):
    """(the original batch, source -> key position -> its answers)."""
    (file_index, start), grouped = element
    batch = self._batch(file_index, start, grouped["batch"][0])
    by_source: Dict[str, Dict[int, list]] = {}
    for source, k, packed in grouped["answers"]:
      answer = unpack(packed)
      by_source.setdefault(source, {}).setdefault(k, []).append((
          answer.column(ROWS_COL).to_numpy(),
          answer.column(SCORE_COL).to_numpy(),
          answer.drop_columns([ROWS_COL, SCORE_COL])))
    return batch, by_source

  def _cascade(self, batch, by_key, name, claims, columns=()):
    """(one source's SourceMatch, the answers it indexes, with `columns`
    and the internal ones)."""
    match = SourceMatch(batch.num_rows)
    tables, base = [], 0
    # Lowest cascade position first: the first key that hits wins.
    for k, answers in sorted(by_key.items()):
      key = self._spec.keys[k]
      rows = np.concatenate([a[0] for a in answers])
      scores = np.concatenate([a[1] for a in answers])
      table = pa.concat_tables([_with_columns(a[2], columns)
                                for a in answers])
      at = np.arange(rows.size)
      if key.fuzzy:  # the same choice as the broadcast join's
        keep = choose(rows, table.column(RANK_COL).to_numpy(),
                      table.column(ID_COL).to_numpy(), scores,
                      key.fuzzy.threshold)
        rows, at, scores = rows[keep], at[keep], scores[keep]
      evidence = _evidence(table.take(pa.array(at)))
      hits = evidence if evidence.num_columns else None
      allowed = None
      if claims is not None and not key.fuzzy:
        allowed = (lambda found, k=k, used=table.column(USED_COL), base=base:
                   claims.allowed(k, *_members(used, found - base)))
      match.accept(batch, k, key, rows, base + at, scores, hits, name,
                   self._files[name], self._spec, allowed)
      tables.append(table)
      base += table.num_rows
    # Only checked keys' answers carry evidence columns.
    return match, _concat(tables, columns)

  def _decisions(self, batch, by_key, name, decided, columns):
    """(one source's SourceMatch from the model's decisions, the answers
    it indexes, with `columns` and the internal ones)."""
    match = SourceMatch(batch.num_rows)
    table = _concat([_with_columns(a[2], columns)
                     for _, answers in sorted(by_key.items())
                     for a in answers], columns)
    if decided is not None and table.num_rows:
      match.take_decisions(batch, decided, partition_scores.DecisionView(
          name, self._files[name], table), self._spec)
    return match, table

  def _batch(self, file_index: int, start: int, where) -> RowBatch:
    """The original batch: re-read from its file, or from the shuffle."""
    if where[0] == "table":
      table = unpack(where[1]).combine_chunks()
      return RowBatch(file_index, table.to_batches()[0])
    _, last, line, rows = where
    batch = self._reread.reread(file_index, start, last, line)
    if batch.num_rows != rows:  # the file changed: the books would not balance
      raise RuntimeError(f"{self._reread.files[file_index]}: {rows} rows at "
                         f"byte {start} when first read, {batch.num_rows} "
                         f"when re-read")
    return batch


def _concat(tables: List[pa.Table], columns) -> pa.Table:
  """Answer tables as one (an empty one with `columns` where none)."""
  if tables:
    return pa.concat_tables(tables, promote_options="default")
  return pa.table({**{c: pa.array([], pa.string()) for c in columns},
                   USED_COL: pa.array([], pa.list_(pa.int64())),
                   FILE_COL: pa.array([], pa.int64()),
                   LINE_COL: pa.array([], pa.int64())})


class _ScoreBatches(_Assemble):
  """An original batch (re-read) and its answers -> CandidatePairs
  (transforms/candidates.py), one per source; side inputs: each source's
  VendorSampleFn output, and (source, column) -> its (squares, filled).
  What the broadcast join's ScorePairs gives the same batch."""

  def __init__(self, spec: MergeSpec, source_order: Sequence[str],
               reread: Optional[CsvSource], files: Dict[str, List[str]],
               supplied: Dict[str, Sequence[str]]):
    super().__init__(spec, source_order, reread, files)
    self._supplied = {name: frozenset(keep)
                      for name, keep in supplied.items()}

  def setup(self):
    super().setup()
    self._comparisons = comparisons_of(self._spec)
    self._samples = {}  # source -> its VendorSample, prepared once

  def _sample(self, name: str, samples):
    if name not in self._samples:  # a thread that races here sets the same
      self._samples[name] = partition_scores.vendor_sample(
          samples.get(name, (0, None)), self._comparisons,
          self._spec.phone_region)
    return self._samples[name]

  def work(self, element, samples, sums) -> list:
    batch, by_source = self._answers(element)
    original = OriginalSide(batch, self._spec, self._comparisons)
    counts: Dict[str, Dict[str, list]] = {}
    for source, column, packed in element[1].get("term_counts", ()):
      counts.setdefault(source, {}).setdefault(column, []).append(
          unpack(packed))
    out = []
    for name in self._order:
      by_key = {k: [(rows, table) for rows, _, table in answers]
                for k, answers in by_source.get(name, {}).items()}
      out.append(partition_scores.pairs_from_answers(
          name, self._spec, self._comparisons, original, by_key,
          counts.get(name, {}), samples.get(name, (0, None))[0],
          self._sample(name, samples),
          {column: v for (source, column), v in sums.items()
           if source == name}, self._supplied[name]))
    return out

  def emit(self, outputs):
    return outputs


class _ClaimHits(_Assemble):
  """An original batch (re-read) and its answers -> claims.FirstHits, one
  per source that needs claims (`key_names`: each source's keys): each
  row's first hit, with no claims applied."""

  def __init__(self, spec: MergeSpec, source_order: Sequence[str],
               reread: Optional[CsvSource], files: Dict[str, List[str]],
               key_names: Dict[str, Sequence[str]]):
    super().__init__(spec, source_order, reread, files)
    self._key_names = key_names

  def work(self, element) -> list:
    batch, by_source = self._answers(element)
    originals = batch_identities(batch)
    out = []
    for name in self._order:
      if not claims.needed(self._spec, self._key_names[name]):
        continue
      match, table = self._cascade(batch, by_source.get(name, {}), name,
                                   None)
      used = table.column(USED_COL)
      out.append(first_hits(name, originals, match.hit, match.how,
                            self._spec, lambda found: _members(used, found)))
    return out

  def emit(self, outputs):
    return outputs


class _SumCodeCounts(beam.CombineFn):
  """A source's batches' CodeCounts -> the source's, summed as they come."""

  def create_accumulator(self):
    return None

  def add_input(self, acc, counts):
    return counts if acc is None else CodeCounts.total([acc, counts])

  def merge_accumulators(self, accs):
    accs = [a for a in accs if a is not None]
    return CodeCounts.total(accs) if accs else None

  def extract_output(self, acc):
    return acc


def _members(used: pa.ChunkedArray, at: np.ndarray):
  """(identities of the source rows behind answers `at`, in order; how many
  per answer), from their USED_COL lists."""
  lists = used.take(pa.array(at, pa.int64())).combine_chunks()
  return (pc.list_flatten(lists).to_numpy().astype(np.int64),
          pc.list_value_length(lists).to_numpy().astype(np.int64))


def _evidence(table: pa.Table) -> pa.Table:
  """An answer's confirming columns under their own names."""
  names = [c for c in table.column_names if c.startswith(EVIDENCE)]
  return table.select(names).rename_columns(
      [c[len(EVIDENCE):] for c in names])


def _with_columns(table: pa.Table, columns) -> pa.Table:
  """The answer's columns as the layout has them (a partition without a
  wide duplicate group lacks some spread columns), then its own."""
  empty = pa.array([""] * table.num_rows, pa.string())
  own = [c for c in table.column_names if is_internal(c)]
  return pa.table([table.column(c) if c in table.column_names else empty
                   for c in columns] + [table.column(c) for c in own],
                  names=list(columns) + own)


def _account(element, used, files) -> EnrichedAccount:
  """A source's account from the rows each partition owns."""
  name, parts = element
  return account(name, files[name], (unpack(p) for p in parts
                                     if p is not None),
                 (ids for source, ids in used if source == name))


class PartitionedMerge(beam.PTransform):
  """The key-partitioned join, in the joins' contract (transforms/join.py):
  original RowBatches | PartitionedMerge(spec, sources) -> JoinResult,
  for enriched sides too big to broadcast.

  `partitions`: how many partitions the keys are hashed to. With `folder`
  (one every worker can reach, such as the run's temporary folder) the
  shuffles carry Slices of files written there rather than the tables
  (see transforms/handoff.py). With `reread` (the CsvSource the original
  batches came from) each batch is re-read from its file by byte range
  instead of crossing the shuffle: the original side is the largest."""

  def __init__(self, spec: MergeSpec, sources: Sequence[JoinSource],
               folder: Optional[str] = None, *, partitions: int = 16,
               reread: Optional[CsvSource] = None):
    super().__init__()
    self._spec, self._sources = spec, list(sources)
    self._partitions, self._folder = partitions, folder
    self._reread = reread

  def expand(self, original):
    require_global_window(original, "PartitionedMerge")
    spec, partitions = self._spec, self._partitions
    order = [s.spec.name for s in self._sources]
    headers, files, kept, key_names, fragments = {}, {}, [], set(), []
    code_counts, samples, tf_sums = [], [], []
    source_keys = {}
    scoring = spec.scoring
    compared = {c.column for c in single_columns(comparisons_of(spec))}
    for s in self._sources:
      source, mapped = s.spec, s.mapped_header
      cols = SourceColumns.of(source, spec, mapped)
      headers[source.name], files[source.name] = mapped, list(s.files)
      kept.append((source.name, cols.keep))
      key_names.update(k.name for k in cols.keys)
      source_keys[source.name] = [k.name for k in cols.keys]
      out = s.rows | f"Fragments[{source.name}]" >> beam.ParDo(
          _EnrichedFragments(source, spec, mapped, partitions,
                             self._folder, scoring)).with_outputs(
                                 "code_counts", "samples",
                                 main="fragments")
      fragments.append(out.fragments)
      code_counts.append(out.code_counts)
      samples.append(out.samples)
      # Every compared column the source has gets a sum, rows or not (the
      # broadcast join's VendorSide counts every column of its index).
      tf_sums += [((source.name, c), (0, 0)) for c in cols.wanted
                  if c in compared]
    probes = original | "Probes" >> beam.ParDo(
        _Probes(spec, sorted(key_names), partitions, self._folder,
                self._reread is not None, scoring)).with_outputs(
                    "batches", "key_values", main="probes")
    joined = ((*fragments, probes.probes)
              | "AllFragments" >> beam.Flatten()
              | "ByPartition" >> beam.GroupByKey()
              | "JoinPartitions" >> beam.ParDo(_JoinPartition(
                  [s.spec for s in self._sources], spec, headers, files,
                  self._folder, scoring), partitions, beam.pvalue.AsDict(
                      tuple(code_counts)
                      | "AllCodeCounts" >> beam.Flatten()
                      | "SumCodeCounts" >> beam.CombinePerKey(
                          _SumCodeCounts()))).with_outputs(
                      "answers", "owned", "supplied", "tf_sums",
                      "term_counts"))
    layout = (joined.supplied
              | "AllSupplied" >> GatherAll()
              | "Layout" >> beam.Map(lambda s: join_layout(spec, kept, s)))
    grouped = {"batch": probes.batches, "answers": joined.answers}
    if scoring:
      grouped["term_counts"] = joined.term_counts
    by_batch = grouped | "ByBatch" >> beam.CoGroupByKey()
    side = [beam.pvalue.AsSingleton(layout)]
    decisions = None
    if scoring:
      decisions = (by_batch
                   | "CandidatePairs" >> beam.ParDo(
                       _ScoreBatches(spec, order, self._reread, files,
                                     dict(kept)),
                       beam.pvalue.AsDict(
                           tuple(samples) | "AllSamples" >> beam.Flatten()
                           | "VendorSamples" >> beam.CombinePerKey(
                               partition_scores.VendorSampleFn())),
                       beam.pvalue.AsDict(
                           (original.pipeline
                            | "EveryColumnSum" >> beam.Create(tf_sums),
                            joined.tf_sums)
                           | "AllTfSums" >> beam.Flatten()
                           | "TfSums" >> beam.CombinePerKey(
                               partition_scores.SumPairs())))
                   | "Decisions" >> Decide(spec, self._folder))
      side.append(beam.pvalue.AsSingleton(decisions))
    elif any(claims.needed(spec, k) for k in source_keys.values()):
      side.append(beam.pvalue.AsSingleton(
          by_batch
          | "ClaimHits" >> beam.ParDo(
              _ClaimHits(spec, order, self._reread, files, source_keys))
          | "AllClaims" >> GatherAll()
          | "DecideClaims" >> beam.Map(decide_claims, spec)))
    merged = (by_batch
              | "Assemble" >> beam.ParDo(
                  _Assemble(spec, order, self._reread, files),
                  *side).with_outputs(
                      "conflicts", "invalid_values", "rejected_matches",
                      "review", "stats", "used", "changes", "undo",
                      main="merged"))
    every_source = original.pipeline | "EverySource" >> beam.Create(
        [(name, None) for name in order])
    accounts = ((joined.owned, every_source)
                | "AllOwned" >> beam.Flatten()
                | "OwnedBySource" >> beam.GroupByKey()
                | "Account" >> beam.Map(_account,
                                        beam.pvalue.AsList(merged.used),
                                        files))
    header = layout | "Header" >> beam.Map(lambda l: list(l.columns))
    models = (original.pipeline | "NoModels" >> beam.Create([])
              if decisions is None else
              decisions | "Models" >> beam.FlatMap(model_reports))
    return JoinResult(merged.merged, merged.conflicts, merged.invalid_values,
                      merged.rejected_matches, merged.stats, accounts, header,
                      models, merged.review, merged.changes, merged.undo,
                      probes.key_values)
