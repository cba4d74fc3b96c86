"""Report rows written where they are made, in parts, not gathered in one
place.

A report can have as many rows as the input (every row in conflict, every
enriched row unmatched). Each batch of report rows (one per original batch
for conflicts, refused values and rejected matches; one per source for
unmatched rows) is sorted and encoded as CSV by the worker that made it,
into a part file of the run's temporary folder, and becomes a small
`ReportPart`: its report, its position key, its path and row count.
`Finalize` (transforms/reports.py) streams each report's parts, in key
order, after the header. Batches of one report never interleave: each
covers a range of input positions that no other covers, so the parts in key
order are the report in input order, whatever the runner's bundles.
"""

import csv
import hashlib
import io
import json
import posixpath
import shutil
from typing import (Any, Callable, Dict, Iterable, NamedTuple, Optional,
                    Sequence, Tuple)

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems

from crmsync.transforms import worker
from crmsync.transforms.columns import FILE_COL, LINE_COL
from crmsync.transforms.handoff import attempt_name
from crmsync.transforms.normalizers.text import has_any
from crmsync.transforms.rows import contiguous
from crmsync.transforms.writing import encode_csv, header_line

CONFLICTS = ("original_file", "original_line", "column", "original_value",
             "enriched_value", "enriched_source", "strategy", "resolution")
INVALID_VALUES = ("original_file", "original_line", "column", "value",
                  "source", "enriched_file", "enriched_line", "reason")
REJECTED_MATCHES = ("original_file", "original_line", "source", "key",
                    "confirm_score", "original_values", "enriched_file",
                    "enriched_line", "enriched_values")
REVIEW = ("original_file", "original_line", "source", "key",
          "match_probability", "match_weight", "evidence", "original_values",
          "enriched_file", "enriched_line", "enriched_values", "decision")
UNMATCHED = ("source", "file", "line", "row")
REJECTED = ("source", "file", "line", "reason", "raw")
HEADERS = {"conflicts.csv": CONFLICTS, "invalid_values.csv": INVALID_VALUES,
           "rejected_matches.csv": REJECTED_MATCHES, "review.csv": REVIEW,
           "unmatched_enriched.csv": UNMATCHED, "rejected.csv": REJECTED}


class ReportPart(NamedTuple):
  report: str  # file name in the reports folder, e.g. conflicts.csv
  key: Tuple  # the part's place in the report (parts sort by it)
  path: str
  rows: int
  summary: Any = None  # rejected.csv: its rows' rejected_summary


def _strings(columns) -> list:
  return [pc.cast(c, pa.large_string()) for c in columns]


def _table(names: Sequence[str], columns) -> pa.Table:
  return pa.table(_strings(columns), names=list(names))


def _in_order(t: pa.Table, then: Sequence[str], sources=None):
  """(key, t sorted by input position, then the columns `then`): the
  report rows of one original batch. With `sources` (an array of source
  names in priority order), `then` may name "rank", each row's source's
  place in it."""
  if sources is not None:
    t = t.append_column("rank", pc.index_in(t["source"], value_set=sources))
  t = t.sort_by([("offset", "ascending")] + [(c, "ascending") for c in then])
  return (t["file_index"][0].as_py(), t["offset"][0].as_py()), t


class Conflicts:
  """A batch of conflicts.csv rows (assemble.CONFLICT_COLUMNS) of one
  original batch -> (key, table of the report's columns): sorted by input
  position, then column."""

  def __init__(self, original_files: Sequence[str]):
    self._files = pa.array(list(original_files), pa.string())

  def __call__(self, t: pa.Table):
    key, t = _in_order(t, ["column"])
    return key, _table(CONFLICTS, [
        self._files.take(t["file_index"]), t["line"], t["column"],
        t["original"], t["enriched"], t["source"], t["strategy"],
        t["resolution"]])


class InvalidValues:
  """A batch of invalid_values.csv rows (assemble.INVALID_COLUMNS) of one
  original batch -> (key, table): sorted by input position, column, then
  source priority. `source_files`: each source's files, in priority order."""

  def __init__(self, original_files: Sequence[str],
               source_files: Sequence[Tuple[str, Sequence[str]]]):
    self._files = pa.array(list(original_files), pa.string())
    self._order = pa.array([name for name, _ in source_files], pa.string())
    self._source_files = {name: list(f) for name, f in source_files}

  def __call__(self, t: pa.Table):
    key, t = _in_order(t, ["column", "rank"], self._order)
    enriched_files = pa.array([
        self._source_files[s][f] for s, f in zip(
            t["source"].to_pylist(), t["source_file"].to_pylist())],
        pa.string())
    return key, _table(INVALID_VALUES, [
        self._files.take(t["file_index"]), t["line"], t["column"],
        t["value"], t["source"], enriched_files, t["source_line"],
        t["reason"]])


class RejectedMatches:
  """A batch of rejected_matches.csv rows (confirm.REJECTED_COLUMNS) of one
  original batch -> (key, table): sorted by input position, source
  priority, key."""

  def __init__(self, original_files: Sequence[str],
               source_order: Sequence[str]):
    self._files = pa.array(list(original_files), pa.string())
    self._order = pa.array(list(source_order), pa.string())

  def __call__(self, t: pa.Table):
    key, t = _in_order(t, ["rank", "key"], self._order)
    return key, _table(REJECTED_MATCHES, [
        self._files.take(t["file_index"]), t["line"], t["source"], t["key"],
        t["score"], t["original"], t["enriched_file"], t["enriched_line"],
        t["enriched"]])


class Review:
  """A batch of review.csv rows (review.REVIEW_COLUMNS) of one original
  batch -> (key, table): sorted by input position, source priority, then
  the most likely pair first; `decision` left empty for the reviewer."""

  def __init__(self, original_files: Sequence[str],
               source_order: Sequence[str]):
    self._files = pa.array(list(original_files), pa.string())
    self._order = pa.array(list(source_order), pa.string())

  def __call__(self, t: pa.Table):
    t = t.append_column("minus_weight", pc.negate(pc.cast(
        t["match_weight"], pa.float64())))
    key, t = _in_order(t, ["rank", "minus_weight", "enriched_line"],
                       self._order)
    return key, _table(REVIEW, [
        self._files.take(t["file_index"]), t["line"], t["source"], t["key"],
        t["match_probability"], t["match_weight"], t["evidence"],
        t["original"], t["enriched_file"], t["enriched_line"], t["enriched"],
        pa.array([""] * t.num_rows, pa.string())])


class Unmatched:
  """One source's account (join.EnrichedAccount) -> (key, table) of its
  unmatched_enriched.csv rows, in file order. `source_order`: the sources
  in priority order (the report lists them so)."""

  def __init__(self, source_order: Sequence[str]):
    self._rank = {name: i for i, name in enumerate(source_order)}

  def __call__(self, account):
    part = account.unmatched.sort_by([(FILE_COL, "ascending"),
                                      (LINE_COL, "ascending")])
    n = part.num_rows
    return (self._rank[account.source],), _table(UNMATCHED, [
        pa.array([account.source] * n, pa.string()),
        pa.array(account.files, pa.string()).take(part[FILE_COL]),
        part[LINE_COL],
        json_objects(part.drop_columns([FILE_COL, LINE_COL]))])


class Rejected:
  """A batch of rejected records of one file (rows.REJECTED_SCHEMA, as
  ReadCsv hands them on) -> (key, table), in file order; parts sort by
  input (original first, then sources in priority order), file, offset.
  Written by Python's csv module, as the raw text was always written (a
  bare CR stays unquoted)."""

  def __init__(self, input_order: Sequence[str]):
    self._rank = {name: i for i, name in enumerate(input_order)}

  @staticmethod
  def summarize(table: pa.Table) -> Dict:
    return rejected_summary(table)

  def __call__(self, t: pa.Table):
    t = t.sort_by([("offset", "ascending")])
    key = (self._rank.get(t["source"][0].as_py(), len(self._rank)),
           t["file"][0].as_py(), t["offset"][0].as_py())
    return key, t.select(list(REJECTED))

  @staticmethod
  def encode(table: pa.Table) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(
        zip(*(table.column(c).to_pylist() for c in REJECTED)))
    return buf.getvalue().encode("utf-8")


def rejected_summary(t: pa.Table) -> Dict:
  """Rejected records (rows.REJECTED_SCHEMA) -> {input: {reason: [count,
  file, offset, line]}}, where file, offset and line are those of the
  reason's first record (by file, then offset): what the books and the
  max_rejected_fraction check need, without the records themselves."""
  t = t.sort_by([("file", "ascending"), ("offset", "ascending")])
  first = t.append_column("at", pa.array(np.arange(t.num_rows))).group_by(
      ["source", "reason"], use_threads=False).aggregate(
          [("at", "min"), ("at", "count")])
  out: Dict = {}
  columns = ("source", "reason", "at_min", "at_count")
  for source, reason, at, count in zip(*(first.column(c).to_pylist()
                                         for c in columns)):
    out.setdefault(source, {})[reason] = [
        count, t["file"][at].as_py(), t["offset"][at].as_py(),
        t["line"][at].as_py()]
  return out


def merge_rejected_summaries(summaries: Iterable[Dict]) -> Dict:
  """Several rejected_summary results as one: counts added, the first
  record of each reason kept."""
  out: Dict = {}
  for summary in summaries:
    for source, reasons in summary.items():
      for reason, seen in reasons.items():
        known = out.setdefault(source, {}).get(reason)
        if known is None:
          out[source][reason] = list(seen)
        else:
          out[source][reason] = [known[0] + seen[0],
                                 *min(tuple(known[1:]), tuple(seen[1:]))]
  return out


class _WritePart(beam.DoFn):

  def __init__(self, report: str, encode: Callable, folder: str):
    self._report, self._encode, self._folder = report, encode, folder

  def setup(self):
    worker.prepare()

  def process(self, element):
    if isinstance(element, pa.RecordBatch):
      if not element.num_rows:
        return
      element = pa.Table.from_batches([element])
    key, table = self._encode(element)
    if not table.num_rows:
      return
    # A name of its own per attempt: a retried or speculative attempt never
    # rewrites the part that the kept attempt's ReportPart points to.
    stem = hashlib.sha256(repr((self._report, key)).encode()).hexdigest()
    path = FileSystems.join(self._folder,
                            attempt_name(stem[:16], ".csv"))
    encode = getattr(self._encode, "encode", encode_csv)
    with FileSystems.create(path) as f:
      f.write(encode(table))
    summarize = getattr(self._encode, "summarize", None)
    yield ReportPart(self._report, key, path, table.num_rows,
                     summarize(element) if summarize else None)


class WriteReportParts(beam.PTransform):
  """Batches of one report's rows (Arrow batches or tables, or accounts for
  unmatched_enriched.csv) -> ReportPart, each part a file in `folder`.
  `encode`: one of the classes above, element -> (key, table of the
  report's columns)."""

  def __init__(self, report: str, encode: Callable, folder: str):
    super().__init__()
    self._report, self._encode, self._folder = report, encode, folder

  def expand(self, batches):
    return batches | beam.ParDo(_WritePart(self._report, self._encode,
                                           self._folder))


def write_report(report: str, parts: Iterable[ReportPart], folder: str,
                 header: Optional[Sequence[str]] = None) -> str:
  """Writes `report` into `folder`: its header, then its parts in key
  order, streamed; returns the path. The parts stay (a retried Finalize
  reads them again); they go with the run's temporary folder."""
  parts = sorted((p for p in parts if p.report == report),
                 key=lambda p: p.key)
  path = FileSystems.join(folder, posixpath.basename(report))
  with FileSystems.create(path) as out:
    out.write(header_line(header or HEADERS[report]))
    for part in parts:
      with FileSystems.open(part.path,
                            compression_type="uncompressed") as f:
        shutil.copyfileobj(f, out, 1 << 22)
  return path


# json.dumps(..., ensure_ascii=False) escapes these, and other control
# characters as \u00XX.
_JSON_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"),
                 ("\t", "\\t"), ("\b", "\\b"), ("\f", "\\f"))
_OTHER_CONTROLS = bytes(c for c in range(0x20) if c not in b"\n\r\t\b\f")


def json_objects(table: pa.Table) -> pa.Array:
  """Each row as the JSON object json.dumps(row, ensure_ascii=False) makes
  of it, built column by column: unmatched rows can be millions."""
  n, text = table.num_rows, pa.large_string()  # may pass 2 GB

  def lit(s):
    return pa.scalar(s, text)
  if not table.num_columns:
    return pa.array(["{}"] * n, text)
  parts = [pc.binary_join_element_wise(
      lit(json.dumps(name, ensure_ascii=False) + ": "), _json_strings(column),
      lit("")) for name, column in zip(table.column_names, table.columns)]
  body = pc.binary_join_element_wise(*parts, lit(", ")) if len(parts) > 1 \
      else parts[0]
  return pc.binary_join_element_wise(lit("{"), body, lit("}"), lit(""))


def _json_strings(column) -> pa.Array:
  text = pa.large_string()
  values = pc.cast(column, text)
  values = contiguous(values)
  if has_any(values, _OTHER_CONTROLS):  # rare: Python escapes this column
    return pa.array([json.dumps(v, ensure_ascii=False)
                     for v in values.to_pylist()], text)
  for char, escaped in _JSON_ESCAPES:
    if has_any(values, char.encode()):
      values = pc.replace_substring(values, char, escaped)
  quote = pa.scalar('"', text)
  return pc.fill_null(pc.binary_join_element_wise(
      quote, values, quote, pa.scalar("", text)), pa.scalar("null", text))
