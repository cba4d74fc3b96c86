"""The broadcast join: merging enriched sources into the original rows,
batch by batch.

`BuildIndexes` turns each enriched source into an EnrichedIndex (several
at once; `BuildIndex` one); `Merge` joins each original batch against every
index (a broadcast hash join: the indexes are a side input, handed over as
memory-mapped files by the job) and resolves the output columns
(transforms/assemble.py). Batches merge on a thread per core
(transforms/ahead.py).
"""

from typing import List, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa

from crmsync.transforms import handoff
from crmsync.transforms.ahead import AheadDoFn
from crmsync.transforms.assemble import resolve_batch
from crmsync.transforms.assignment import Decide
from crmsync.transforms.candidates import ScorePairs
from crmsync.transforms.claims import (Claims, decide_claims, first_hits,
                                       identifying, needed as claims_needed)
from crmsync.transforms import confirm
from crmsync.transforms.columns import FILE_COL, ID_COL, LINE_COL, OFFSET_COL
from crmsync.transforms.gather import GatherAll, GatherByKey
from crmsync.transforms.join import (EnrichedAccount, JoinResult, JoinSource,
                                     SourceMatch, Supplied, account,
                                     count_outputs, join_layout,
                                     require_global_window)
from crmsync.transforms.matching import (BatchKeys, EnrichedIndex,
                                         SourceColumns, batch_identities,
                                         build_index, identities,
                                         lookup_rows)
from crmsync.transforms.original_duplicates import batch_key_values
from crmsync.transforms.progress import Progress
from crmsync.transforms.rows import RowBatch
from crmsync.transforms.spec import EnrichedSpec, MergeSpec


class BuildIndexes(beam.PTransform):
  """The RowBatch PCollections of several enriched sources (a tuple, in the
  order of `sources`) -> one EnrichedIndex per source, in no order.

  `sources`: per input, (EnrichedSpec, its header as read (ReadCsv.header),
  its files (ReadCsv.files, for the reports)). The sources' batches are
  grouped by source, and the indexes built on a thread per core: several
  sources index at once. With `folder` (one every worker can reach, such
  as the run's temporary folder) each index is written there and travels
  as a small Handoff (see transforms/handoff.py); with `park_rows` too, so
  do the sources' batches on their way to the index: on Flink and Spark
  the grouped list would be one element as large as the source, decoded
  whole on the JVM's heap and sorted in its managed memory."""

  def __init__(self, sources: Sequence[Tuple[EnrichedSpec, Sequence[str],
                                             List[str]]],
               spec: MergeSpec, folder: Optional[str] = None,
               park_rows: bool = False):
    super().__init__()
    self._sources = {
        source.name: (source, spec,
                      tuple(source.rename.get(c, c) for c in header),
                      list(files))
        for source, header, files in sources}
    self._folder = folder
    self._park = park_rows and folder is not None

  def expand(self, rows_per_source):
    folder, keyed = self._folder, []
    for name, rows in zip(self._sources, rows_per_source):
      if self._park:
        rows = rows | f"Park[{name}]" >> _Park(folder, name)
      keyed.append(rows | f"Key[{name}]" >> beam.Map(
          lambda batch, name=name: (name, batch)))
    # Every source gets an index, an empty one too.
    return (tuple(keyed)
            | "AllSources" >> beam.Flatten()
            | "Collect" >> GatherByKey(self._sources)
            | "Index" >> beam.ParDo(_IndexSources(self._sources, folder)))


class _IndexSources(AheadDoFn):
  """(source name, its batches or their Handoffs) -> its EnrichedIndex, or
  the Handoff of it with `folder`."""

  def __init__(self, sources: dict, folder: Optional[str]):
    self._sources = sources
    self._folder = folder

  def work(self, element) -> list:
    name, batches = element
    source, spec, header, files = self._sources[name]
    index = build_index([handoff.opened(b) for b in batches], source, spec,
                        header, files)
    if self._folder is None:
      return [index]
    return [handoff.save_in(self._folder, index.name, ".index", index,
                            index.name, supplied(index))]


class _Park(beam.PTransform):
  """RowBatch -> the Handoff of its file in `folder` (`stem`: the file's
  name); the DoFns that take the batches open them (handoff.opened)."""

  def __init__(self, folder: str, stem: str):
    super().__init__()
    self._folder, self._stem = folder, stem

  def expand(self, rows):
    folder, stem = self._folder, self._stem
    return rows | beam.Map(
        lambda batch: handoff.save_in(folder, stem, ".rows", batch))


class BuildIndex(beam.PTransform):
  """RowBatch of one enriched source -> a single EnrichedIndex: BuildIndexes
  of that one source (`header`, `files`: ReadCsv.header and ReadCsv.files;
  `folder`, `park_rows`: as there)."""

  def __init__(self, source: EnrichedSpec, spec: MergeSpec,
               header: Sequence[str], files: List[str],
               folder: Optional[str] = None, park_rows: bool = False):
    super().__init__()
    self._indexes = BuildIndexes([(source, header, files)], spec, folder,
                                 park_rows)

  def expand(self, rows):
    return (rows,) | self._indexes


def open_index(index) -> EnrichedIndex:
  """An EnrichedIndex, whether it came in the element or as a Handoff."""
  return handoff.opened(index)


def supplied(index) -> Supplied:
  """What an index, or the Handoff of one, adds to its kept columns."""
  if isinstance(index, handoff.Handoff):
    return index.summary
  return Supplied(index.name, dict(index.spread))


def layout_of(spec: MergeSpec, indexes: Sequence[EnrichedIndex]):
  """The layout of indexes in priority order (join.join_layout)."""
  return join_layout(spec, [(i.name, i.source_columns.keep)
                            for i in indexes], map(supplied, indexes))


def sort_indexes(indexes, source_order: Sequence[str]):
  """Side inputs arrive in any order: put them back in priority order."""
  rank = {name: i for i, name in enumerate(source_order)}
  return sorted(indexes, key=lambda i: rank[i.name])


class _OpensIndexes(AheadDoFn):
  """An AheadDoFn whose first side input is the sources' indexes
  (EnrichedIndexes or their Handoffs); any other side input may be a
  Handoff too (the decisions): each is opened once per worker, on the
  runner's thread, before its batches go to the pool."""

  def setup(self):
    super().setup()
    self._opened = handoff.OpenedOnce()

  def prepare(self, batch):
    return handoff.opened(batch)  # a parked batch (BroadcastMerge)

  def process(self, batch: RowBatch, window=beam.DoFn.WindowParam,
              timestamp=beam.DoFn.TimestampParam, indexes=(), *side_inputs):
    yield from super().process(batch, window, timestamp,
                               [self._opened(i) for i in indexes],
                               *map(self._opened, side_inputs))


class MergeBatches(_OpensIndexes):
  """Original RowBatch -> merged RowBatch, plus tagged outputs: conflicts,
  invalid_values and rejected_matches (one Arrow batch each per original
  batch, where any), used ((source, identities of the source rows its
  matches used)) and stats (a dict per batch). The broadcast join: every
  enriched index is a side input, and with `decided_by` the scoring's
  decisions ("scoring": assignment.Decide's, or its Handoff) or the
  cascade's claims
  ("claims": claims.decide_claims's). Batches merge on a thread per
  core."""

  def __init__(self, spec: MergeSpec, source_order: Sequence[str],
               decided_by: Optional[str] = None):
    self._spec = spec
    self._order = tuple(source_order)
    self._decided_by = decided_by

  def setup(self):
    super().setup()
    self._progress = Progress("merged")

  def work(self, batch: RowBatch, indexes: List[EnrichedIndex],
           decided=None) -> list:
    return list(self._merge_outputs(
        batch, sort_indexes(indexes, self._order), decided))

  def emit(self, outputs):
    return count_outputs(outputs, self._progress)

  def _merge_outputs(self, batch, indexes, decided):
    spec = self._spec
    decisions = decided if self._decided_by == "scoring" else None
    claims = decided if self._decided_by == "claims" else {}
    # With scoring, no key is computed for the conflicts: resolve_column
    # normalises just the rows whose two sides both hold a value.
    values = BatchKeys(batch.table, spec)
    gathered, matches = {}, {}
    for index in indexes:
      match = SourceMatch(batch.num_rows)
      if decisions is None:
        cascade(match, batch, index, values, spec, claims.get(index.name))
      elif index.name in decisions:
        match.take_decisions(batch, decisions[index.name], index, spec)
      matches[index.name] = match
      gathered[index.name] = index.table.take(
          pa.array(match.hit, mask=match.how < 0))
      used = match.hit[match.how >= 0]
      if used.size:
        yield beam.pvalue.TaggedOutput("used", (index.name, identities(
            index.table, index.used_rows(used))))
    found = batch_key_values(batch, spec, values.exact)
    if found is not None:
      yield beam.pvalue.TaggedOutput("key_values", found)
    yield from resolve_batch(batch, gathered, matches,
                             layout_of(spec, indexes), spec,
                             values.column_keys())


def cascade(match: SourceMatch, batch: RowBatch, index: EnrichedIndex,
            values: BatchKeys, spec: MergeSpec,
            claims: Optional[Claims] = None,
            known: Optional[dict] = None) -> None:
  """Without scoring: each row matches at the first key that hits, and
  that `claims` (the cascade's assignment, transforms/claims.py)
  allows. `known`: key name -> each row's hit, looked up already (by
  default, what the claims' pass handed over for this batch)."""
  if known is None:
    known = (claims.lookups.get(batch_id(batch), {}) if claims is not None
             else {})
  for k, key in enumerate(spec.keys):
    if key.name not in index.lookups and key.name not in index.fuzzy:
      continue
    pending = match.how < 0
    if not pending.any():
      break
    if key.fuzzy:
      todo = np.flatnonzero(pending)
      rows, found, scores = index.fuzzy[key.name].best(
          values.fuzzy(key, todo))
      rows = todo[rows]
    else:
      if key.name in known:  # looked up by the claims' pass
        found = np.where(pending, known[key.name], -1).astype(np.int64)
      else:
        found = lookup_rows(values.exact(key), index.lookups[key.name],
                            pending)
      rows = np.flatnonzero(found >= 0)
      found, scores = found[rows], np.ones(rows.size)
    checked = confirm.evidence_columns(spec, key, index.table.column_names)
    hits = (index.table.select(checked + [FILE_COL, LINE_COL]).take(
        pa.array(found, pa.int64())) if checked else None)
    allowed = None
    if claims is not None and not key.fuzzy:
      allowed = (lambda found, k=k: claims.allowed(
          k, *index.member_identities(found)))
    match.accept(batch, k, key, rows, found, scores, hits, index.name,
                 index.files, spec, allowed)


class ClaimHits(_OpensIndexes):
  """Original RowBatch -> claims.FirstHits, one per source that needs
  claims (side input: the sources' EnrichedIndexes or their Handoffs):
  each row's first hit, with no claims applied. Batches run on a thread
  per core."""

  def __init__(self, spec: MergeSpec):
    self._spec = spec

  def work(self, batch: RowBatch, indexes=()) -> list:
    values = BatchKeys(batch.table, self._spec)
    originals = batch_identities(batch)
    out = []
    for index in indexes:
      if not claims_needed(self._spec, index.lookups):
        continue
      # Every row's hits by the keys that do not identify: the cascade's
      # here, and the merge's later.
      lookups = {key.name: lookup_rows(values.exact(key),
                                       index.lookups[key.name]).astype(
                                           np.int32)
                 for key in self._spec.keys
                 if key.name in index.lookups and not identifying(key)}
      match = SourceMatch(batch.num_rows)
      cascade(match, batch, index, values, self._spec, known=lookups)
      out.append(first_hits(index.name, originals, match.hit, match.how,
                            self._spec, index.member_identities,
                            batch_id(batch), lookups))
    return out


def batch_id(batch: RowBatch):
  """claims.BatchId: the same for a batch read twice."""
  return (batch.file_index, int(batch.table.column(OFFSET_COL)[0].as_py()))


class Merge(beam.PTransform):
  """Joins original RowBatches with the enriched indexes.

  Input: original RowBatch PCollection; `indexes`: a PCollection of
  EnrichedIndex, or their Handoffs (one per source); `decisions` (with
  scoring): a singleton PCollection of assignment.Decide's result (or its
  Handoff), or
  `claims` (the cascade's assignment): one of claims.decide_claims's.
  Output tags: `merged` (RowBatch), `conflicts`, `invalid_values`,
  `rejected_matches` and `review` (Arrow batches), `used` ((source,
  identities of the rows used)), `stats`.
  BroadcastMerge wraps it in the joins' contract.
  """

  def __init__(self, spec: MergeSpec, source_order: Sequence[str], indexes,
               decisions=None, claims=None):
    super().__init__()
    self._spec = spec
    self._order = tuple(source_order)
    self._indexes = indexes
    self._decided, self._decided_by = (
        (decisions, "scoring") if decisions is not None else
        (claims, "claims") if claims is not None else (None, None))

  def expand(self, rows):
    side = [beam.pvalue.AsList(self._indexes)]
    if self._decided is not None:
      side.append(beam.pvalue.AsSingleton(self._decided))
    return rows | beam.ParDo(
        MergeBatches(self._spec, self._order, self._decided_by),
        *side).with_outputs(
            "conflicts", "invalid_values", "rejected_matches", "review",
            "used", "stats", "changes", "undo", "key_values",
            main="merged")


class BroadcastMerge(beam.PTransform):
  """The broadcast join, in the joins' contract (transforms/join.py):
  original RowBatches | BroadcastMerge(spec, sources) -> JoinResult.

  Each source becomes one EnrichedIndex (BuildIndexes), a side input of
  every merge bundle: for enriched sides that fit in a worker's memory.
  With `folder` (one every worker can reach, such as the run's temporary
  folder) the indexes are handed over as files there, and with
  `park_rows` the sources' batches on their way to them (see
  BuildIndexes), and the original batches (and the reread) on their way to
  the merge: the merge, the claims and the scoring each take the indexes
  as a side input, and Beam's fuser starts a new stage at every ParDo with
  side inputs, so on Flink and Spark every original batch would otherwise
  cross the JVM, once for each output of the stage that reads it (their
  translation of a stage's outputs); the local runner would hold them.

  With `spec.scoring`, the original batches are scored first
  (transforms/candidates.py, transforms/assignment.py) and the merge takes
  the decisions; a cascade that needs claims (transforms/claims.py) runs
  once first for them. `reread` (the same original RowBatches read a
  second time, as the job passes them) spares the runner holding the first
  read until the decisions are made."""

  def __init__(self, spec: MergeSpec, sources: Sequence[JoinSource],
               folder: Optional[str] = None, reread=None,
               park_rows: bool = False):
    super().__init__()
    self._spec, self._sources = spec, list(sources)
    self._folder = folder
    self._reread = reread
    self._park = park_rows and folder is not None

  def expand(self, original):
    require_global_window(original, "BroadcastMerge")
    spec, order = self._spec, [s.spec.name for s in self._sources]
    reread = self._reread
    if self._park:
      original = original | "ParkOriginal" >> _Park(self._folder, "original")
      if reread is not None:
        reread = reread | "ParkReread" >> _Park(self._folder, "reread")
    files = {s.spec.name: list(s.files) for s in self._sources}
    kept = [(s.spec.name, SourceColumns.of(s.spec, spec, s.mapped_header).keep)
            for s in self._sources]
    indexes = (tuple(s.rows for s in self._sources)
               | "Indexes" >> BuildIndexes(
                   [(s.spec, s.header, s.files) for s in self._sources],
                   spec, self._folder, self._park))
    decisions = None
    if spec.scoring:
      decisions = ((original if reread is None else reread)
                   | "CandidatePairs" >> beam.ParDo(
                       ScorePairs(spec), beam.pvalue.AsList(indexes))
                   | "Decisions" >> Decide(spec, self._folder))
    claims = None  # the cascade's: with scoring, the model decides
    if not spec.scoring and any(claims_needed(spec, [
        k.name for k in SourceColumns.of(s.spec, spec, s.mapped_header).keys])
                                for s in self._sources):
      claims = ((original if reread is None else reread)
                | "ClaimHits" >> beam.ParDo(
                    ClaimHits(spec), beam.pvalue.AsList(indexes))
                | "AllClaims" >> GatherAll()
                | "DecideClaims" >> beam.Map(decide_claims, spec))
    merged = original | "Merge" >> Merge(spec, order, indexes, decisions,
                                         claims)
    header = (indexes
              | "Supplied" >> beam.Map(supplied)
              | "AllSupplied" >> GatherAll()
              | "Layout" >> beam.Map(
                  lambda s: list(join_layout(spec, kept, s).columns)))
    accounts = indexes | "Account" >> beam.Map(
        _account, beam.pvalue.AsList(merged.used), files)
    models = (original.pipeline | "NoModels" >> beam.Create([])
              if decisions is None else
              decisions | "Models" >> beam.FlatMap(model_reports))
    return JoinResult(merged.merged, merged.conflicts, merged.invalid_values,
                      merged.rejected_matches, merged.stats, accounts, header,
                      models, merged.review, merged.changes, merged.undo,
                      merged.key_values)


def model_reports(decisions) -> List[dict]:
  """Each source's model, as match_weights.json shows it (`decisions`:
  assignment.Decide's, or its Handoff)."""
  return [dict(d.model.to_json(), pairs_scored=d.pairs_scored)
          for _, d in sorted(handoff.opened(decisions).items())]


def _account(index, used, files) -> EnrichedAccount:
  """A source's account: every row of its index, and the rows used."""
  index = open_index(index)
  rows = np.arange(index.rows_read)
  owned = index.rows(rows).append_column(
      ID_COL, pa.array(identities(index.table, rows), pa.int64()))
  return account(index.name, files[index.name], [owned],
                 (ids for name, ids in used if name == index.name))
