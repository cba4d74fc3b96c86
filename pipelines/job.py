"""The merge job: a config checked against the input headers (the plan), and
the Beam graph built from it.

    ReadCsv(original).rows ---------+
    ReadCsv(enriched_i) -> JoinSource +-> BroadcastMerge or PartitionedMerge
                                          (JoinResult: transforms/join.py)
        JoinResult.merged -> WriteShards
        readers' row counts and rejects, JoinResult's conflicts, stats,
        accounts, header -> Finalize: reports, books, publish
"""

import dataclasses
import difflib
import logging
import os
import re
import uuid
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from crmsync.pipelines.config import EnrichedInput, JobConfig
from crmsync.pipelines.runners import on_portable_runner
from crmsync.transforms import claims, csv_dialect
from crmsync.transforms.csv_dialect import CsvFormat
from crmsync.transforms.csv_files import (match_files, shared_header,
                                          write_sample)
from crmsync.transforms.csv_io import ReadCsv, ReadSplits
from crmsync.transforms.csv_source import DEFAULT_BATCH_ROWS
from crmsync.transforms.errors import ConfigError
from crmsync.transforms.matching import applicable_keys
from crmsync.transforms.broadcast import BroadcastMerge
from crmsync.transforms.changes import change_columns
from crmsync.transforms.original_duplicates import FindDuplicates
from crmsync.transforms.join import JoinSource, join_layout
from crmsync.transforms.partitioned import PartitionedMerge
from crmsync.transforms.review import read_decisions
from crmsync.transforms.reports import Finalize, ReportParts, SumStats
from crmsync.transforms.spec import EnrichedSpec, MergeSpec
from crmsync.transforms.writing import WriteShards, temp_dir

_LOG = logging.getLogger(__name__)


class CrmsyncOptions(PipelineOptions):

  @classmethod
  def _add_argparse_args(cls, parser):
    # 30,000 rows (about a 4 MB read chunk of a typical export): fewer,
    # larger batches cut per-element runner and pyarrow call overhead, up
    # to a point past which they only cost memory.
    parser.add_argument("--batch_rows", type=int, default=DEFAULT_BATCH_ROWS,
                        help="rows per Arrow batch (default 30000)")
    # Each split of an input is read by one worker; Beam's choice (1000 x
    # the square root of the bytes, 16 MB at least) suits most jobs.
    parser.add_argument("--split_bytes", type=int, default=None,
                        help="bytes per split of an input file read by "
                             "one worker (default: Beam's choice, 16 MB "
                             "at least)")


@dataclass
class SourcePlan:
  config: EnrichedInput
  spec: EnrichedSpec
  fmt: CsvFormat
  files: List[str]
  header: Tuple[str, ...]
  mapped_header: Tuple[str, ...]
  kept: Tuple[str, ...]
  keys: Tuple[str, ...]
  formats: Dict[str, CsvFormat] = field(default_factory=dict)  # per file


@dataclass
class JobPlan:
  config: JobConfig
  original_fmt: CsvFormat
  original_files: List[str]
  original_sizes: List[int]
  original_header: Tuple[str, ...]
  sources: List[SourcePlan]
  spec: MergeSpec
  join: str  # broadcast | partitioned, as configured or chosen by size
  enriched_bytes: int
  # Each original file's format (original_fmt is the first file's).
  original_formats: Dict[str, CsvFormat] = field(default_factory=dict)

  @property
  def source_order(self):
    return tuple(s.spec.name for s in self.sources)

  def dialect_lines(self) -> List[str]:
    """What each input file was found to be, for `crmsync validate`."""
    found = [(self.config.original.csv, self.original_formats)] + [
        (s.config.csv, s.formats) for s in self.sources]
    return [f"csv {path}: " + csv_dialect.describe(
        fmt, _delimiter(options), options.encoding, options.escape)
            for options, formats in found for path, fmt in formats.items()]


def _formats(source, where: str, limits,
             files: List[str]) -> Dict[str, CsvFormat]:
  """Each file's format (`source`: its input's config): what the settings
  leave to `auto`, a BOM or a sep= line decided on the file's first bytes
  (transforms/csv_dialect); a workbook or a Parquet file is read as CSV
  text (transforms/csv_views)."""
  csv_options = source.csv
  return {f: csv_dialect.resolve(
      f, _delimiter(csv_options), csv_options.encoding, csv_options.escape,
      max_field_bytes=limits.max_field_bytes,
      max_row_bytes=limits.max_row_bytes, where=where,
      compression=csv_options.compression, view=source.format,
      sheet=source.sheet) for f in files}


def _delimiter(csv_options) -> Optional[str]:
  """None when not set: then a UTF-16 file's is detected (Excel's)."""
  return (csv_options.delimiter if "delimiter" in
          csv_options.model_fields_set else None)


def _copies(formats: Dict[str, CsvFormat], folder: str):
  """(formats, copies) to read with: a file in an encoding records cannot
  be found in (UTF-16, ...) or compressed is transcoded to plain UTF-8 in
  `folder`, once, and its copy read and split instead."""
  formats, copies = dict(formats), {}
  for k, (path, fmt) in enumerate(list(formats.items())):
    if not fmt.in_place:
      copies[path] = f"{folder}-{k:05d}.csv"
      formats[path] = csv_dialect.transcode(path, fmt, copies[path])
      _LOG.info("%s: %s%s, read from a plain UTF-8 copy (%s)", path,
                fmt.encoding, f", {fmt.compression}" if fmt.compression
                else "", copies[path])
  return formats, copies


def _columns(names) -> str:
  return ", ".join(names) if len(names) <= 12 else ", ".join(
      names[:12]) + ", ..."


def _memory_bytes() -> int:
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _sizes(files) -> List[int]:
  return [m.size_in_bytes for r in FileSystems.match(files)
          for m in r.metadata_list]


def plan_job(config: JobConfig) -> JobPlan:
  """Checks the config against the input headers; reads no data rows."""
  files = match_files(config.original.path)
  formats = _formats(config.original, "original.csv", config.limits,
                     files)
  fmt = formats[files[0]]
  sizes = _sizes(files)
  header = shared_header(files, fmt, formats)
  spec = config.merge_spec(header)
  for i, key in enumerate(spec.keys):
    missing = [c for c in key.needed_columns if c not in header]
    if missing:
      raise ConfigError(
          f"match.keys.{i} ({key.name}): column {missing[0]!r} is not in the "
          f"header of {files[0]} (columns: {_columns(header)})")
  sources = []
  for i, (e, es) in enumerate(zip(config.enriched, config.enriched_specs())):
    sources.append(_plan_source(i, e, es, spec, config.limits))
  # The enriched columns' names say their kinds too.
  spec = config.merge_spec(header, [c for s in sources
                                    for c in s.mapped_header])
  _check_columns(config, spec, sources)
  if config.output.changes:
    for c in config.output.changes.id_columns:
      if c not in header:
        raise ConfigError(
            f"output.changes.id_columns: {c!r} is not a column of "
            f"{files[0]} (columns: {_columns(header)})")
    supplied = {c for s in sources for c in s.kept}
    spec = dataclasses.replace(spec, unsupplied=tuple(
        c for c in header if c not in supplied))
  enriched_bytes = sum(sum(_sizes(s.files)) for s in sources)
  join = config.join
  if join == "auto":
    limit = config.broadcast_limit_mb
    if limit is None:
      limit = _memory_bytes() // 40 >> 20
    join = "broadcast" if enriched_bytes <= limit << 20 else "partitioned"
  if config.match.decisions:
    if not spec.scoring:
      raise ConfigError("match.decisions: decisions override the scoring "
                        "model, and match.scoring is false")
    spec = dataclasses.replace(spec, decisions=read_decisions(
        config.match.decisions, files,
        {s.spec.name: list(s.files) for s in sources}))
  return JobPlan(config, fmt, files, sizes, header, sources, spec, join,
                 enriched_bytes, formats)


def _plan_source(i: int, e: EnrichedInput, es: EnrichedSpec,
                 spec: MergeSpec, limits) -> SourcePlan:
  files = match_files(e.path)
  formats = _formats(e, f"enriched.{i}.csv", limits, files)
  fmt = formats[files[0]]
  header = shared_header(files, fmt, formats)
  for name in e.columns:
    if name not in header:
      raise ConfigError(f"enriched.{i}.columns: {name!r} is not a column of "
                        f"{files[0]} (columns: {_columns(header)})")
  mapped = tuple(es.rename.get(c, c) for c in header)
  dup = {c for c in mapped if mapped.count(c) > 1}
  if dup:
    raise ConfigError(f"enriched.{i}.columns: two columns of {files[0]} "
                      f"map to {sorted(dup)[0]!r}")
  for name in e.keep or ():
    if name not in mapped:
      raise ConfigError(f"enriched.{i}.keep: {name!r} is not a column of "
                        f"{files[0]} after mapping (columns: "
                        f"{_columns(mapped)})")
  for k, key in enumerate(spec.keys):
    lacks = [c for c in key.needed_columns if c not in mapped]
    if lacks and set(key.columns) <= set(mapped):
      raise ConfigError(
          f"match.keys.{k} ({key.name}): {files[0]} ({es.name}) lacks "
          f"column {lacks[0]!r}, which the key also needs (block or "
          f"confirm); map it with enriched.{i}.columns")
  keys = applicable_keys(spec, mapped)
  if not keys:
    raise ConfigError(
        f"enriched.{i} ({es.name}): {files[0]} has the columns of no match "
        f"key; map its columns to the key columns with `columns:`")
  return SourcePlan(e, es, fmt, files, header, mapped,
                    es.keep_columns(mapped, spec.original_header),
                    tuple(k.name for k in keys), formats)


def _check_columns(config: JobConfig, spec: MergeSpec, sources):
  for column in config.conflicts.columns:
    if column not in spec.original_header:
      raise ConfigError(f"conflicts.columns: {column!r} is not a column of "
                        f"the original (strategies apply to its columns)")
  kept = {c for s in sources for c in s.kept}
  for column in config.multi_value.columns:
    if column not in kept:
      raise ConfigError(f"multi_value.columns: {column!r} is not a kept "
                        f"enriched column")
  if config.columns.placement == "explicit":
    if not config.columns.order:
      raise ConfigError("columns.order: required with placement: explicit")
    # Every column the job could write, placed as `append` would place it.
    layout = join_layout(dataclasses.replace(spec, placement="append"),
                         [(s.spec.name, s.kept) for s in sources], [])
    known = list(layout.columns)
    for column in config.columns.order:
      spread = re.match(r"^(.*)_\d+$", column)
      if column not in known and not (spread and spread.group(1) in kept):
        close = difflib.get_close_matches(column, known, n=1)
        raise ConfigError(f"columns.order: unknown column {column!r}" + (
            f" (did you mean {close[0]!r}?)" if close else
            f" (columns: {_columns(known)})"))
    missing = [c for c in spec.original_header
               if c not in config.columns.order]
    if missing:
      raise ConfigError(f"columns.order: original column {missing[0]!r} is "
                        f"missing (every original column is written)")


def build_pipeline(p: beam.Pipeline, plan: JobPlan,
                   batch_rows: int = DEFAULT_BATCH_ROWS,
                   run_id: str = "", sample: Optional[int] = None,
                   split_bytes: Optional[int] = None):
  """Adds the whole job to `p`; with `sample`, on the first `sample`
  original records only (copied to the run's temporary folder). Files in an
  encoding read from a UTF-8 copy are transcoded here, into that folder;
  rows, reports and stats still name the files themselves."""
  config = plan.config
  run_id = run_id or uuid.uuid4().hex[:12]
  prefix = config.output.path
  tmp = temp_dir(prefix, run_id)
  original_files, original_sizes = plan.original_files, plan.original_sizes
  formats, copies = _copies(plan.original_formats, f"{tmp}/utf8/original")
  if copies:  # rows are placed in shards by their offsets in what is read
    original_sizes = _sizes([copies.get(f, f) for f in original_files])
  if sample:
    first = formats[original_files[0]]
    original_files = [write_sample(
        [copies.get(f, f) for f in original_files], first, sample,
        f"{tmp}/sample-original.csv",
        {copies.get(f, f): fmt for f, fmt in formats.items()})]
    formats, copies = {original_files[0]: first}, {}
    original_sizes = _sizes(original_files)
    _LOG.info("sample: the first %d original records, in %s", sample,
              original_files[0])
  read_original = ReadCsv(original_files[0] if sample else
                          config.original.path, plan.original_fmt,
                          "original", batch_rows, original_files, formats,
                          copies, split_bytes)
  original = p | "ReadOriginal" >> read_original
  reads = []
  for i, s in enumerate(plan.sources):
    formats, copies = _copies(s.formats, f"{tmp}/utf8/enriched-{i}")
    reads.append(p | f"Read[{s.spec.name}]" >> ReadCsv(
        s.config.path, s.fmt, s.spec.name, batch_rows, s.files, formats,
        copies, split_bytes))
  sources = [JoinSource(s.spec, s.header, s.files, read.rows)
             for s, read in zip(plan.sources, reads)]
  if plan.join == "partitioned":
    out = original.rows | "PartitionedMerge" >> PartitionedMerge(
        plan.spec, sources, f"{tmp}/shuffle",
        partitions=config.join_partitions, reread=read_original.source)
  else:
    # Parked in files the batches skip the runner (a cluster's JVM heap
    # and data plane; the DirectRunner's buffers, slower than a file on
    # local disk and its memory map); on S3 only for a cluster.
    park = (on_portable_runner(p.options) or
            FileSystems.get_scheme(tmp) in (None, "file"))
    reread = None
    if not park and (plan.spec.scoring or any(
        claims.needed(plan.spec, s.keys) for s in plan.sources)):
      # The candidate pairs (or the claims) read the original again, from
      # the same source, rather than the runner holding the first read
      # until the decisions are made (parked, it holds only the files'
      # names); its rejected records and counts come from the first read
      # only.
      reread = (p
                | "RereadOriginal" >> ReadSplits(read_original.source,
                                                 split_bytes)
                | "RereadRows" >> beam.Filter(
                    lambda e: not isinstance(e, pa.RecordBatch)))
    out = original.rows | "BroadcastMerge" >> BroadcastMerge(
        plan.spec, sources, f"{tmp}/indexes", reread=reread, park_rows=park)
  delimiter = config.output.delimiter or plan.original_fmt.delimiter
  caps = (config.output.max_rows_per_file, config.output.max_bytes_per_file)
  written = out.merged | "Write" >> WriteShards(
      prefix, config.output.shards, original_sizes, out.header, tmp,
      delimiter, config.output.escape_formulas,
      caps if config.output.format == "csv" else (caps[0], 0),
      config.output.format)
  updates = []  # the changes and undo files' shards, with output.changes
  if plan.spec.changes_ids:
    columns = out.header | "ChangeColumns" >> beam.Map(
        change_columns, plan.spec)
    for name, rows in (("changes", out.changes), ("undo", out.undo)):
      updates.append(rows | f"Write[{name}]" >> WriteShards(
          f"{prefix}-{name}", config.output.shards, original_sizes, columns,
          f"{tmp}/{name}", delimiter, config.output.escape_formulas, caps))
  # Rows as the readers counted them: the books are checked against these.
  counts = [read.counts | f"Count[{name}]" >> beam.Map(
      lambda rows, n=name: {"read": {n: rows}})
            for name, read in [("original", original)] + list(
                zip(plan.source_order, reads))]
  stats = ((out.stats, *counts)
           | "AllStats" >> beam.Flatten()
           | "SumStats" >> beam.CombineGlobally(SumStats()))
  rejected = ((original.rejected, *[r.rejected for r in reads])
              | "Rejected" >> beam.Flatten())
  parts = (out, rejected) | "ReportParts" >> ReportParts(
      f"{tmp}/report-parts", "original", original_files,
      [(s.spec.name, s.files) for s in plan.sources])
  books = out.accounts | "Books" >> beam.Map(lambda a: a.books())
  side = beam.pvalue
  return (p
          | "Once" >> beam.Create([None])
          | "Finalize" >> beam.ParDo(
              Finalize(prefix=prefix, shards=config.output.shards,
                       reports_dir=config.output.reports_dir, tmp=tmp,
                       original_name="original",
                       original_files=original_files,
                       source_order=plan.source_order,
                       max_rejected_fraction=(
                           config.limits.max_rejected_fraction),
                       run_id=run_id,
                       strategies={c: plan.spec.strategy(c)
                                   for c in plan.spec.original_header}),
              side.AsSingleton(stats), side.AsList(written),
              side.AsList(parts),
              side.AsList(books),
              side.AsList(out.models),
              *[side.AsList(u) for u in updates],
              **({"duplicates": side.AsSingleton(
                  out.key_values
                  | "OriginalDuplicates" >> beam.CombineGlobally(
                      FindDuplicates()))}
                 if plan.spec.report_duplicates else {})))
