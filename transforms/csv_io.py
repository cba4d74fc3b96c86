"""Reading CSV in a pipeline: `ReadCsv`, a path or glob (local or s3://) ->
RowBatch elements (`.rows`), Arrow batches of rejected records
(`.rejected`) and how many rows each batch holds (`.counts`).

The pieces, one concern each:
  csv_dialect  how a file is written (delimiter, escape, encoding, sep=)
  csv_files    listing the files, their headers, the CLI's samples
  csv_scan     the quote scan that finds records in bytes
  csv_parse    records -> Arrow rows and rejections
  csv_source   the splittable source over the planned files, its re-read
"""

import math
from typing import Dict, List, Optional

import apache_beam as beam
import pyarrow as pa
from apache_beam.io import iobase
from apache_beam.metrics import Metrics

from crmsync.transforms import progress, worker
from crmsync.transforms.columns import OFFSET_COL
from crmsync.transforms.csv_dialect import CsvFormat
from crmsync.transforms.csv_files import match_files, shared_header
from crmsync.transforms.csv_source import (DEFAULT_BATCH_ROWS,
                                           MIN_SPLIT_BYTES, CsvSource)
from crmsync.transforms.progress import Progress


class _SplitRowsAndRejects(beam.DoFn):
  """The source's elements -> RowBatch (main output), Arrow batches of
  rejected records ("rejected") and each RowBatch's number of rows
  ("counts"), counted here: this runs on the runner's thread, where Beam
  metrics belong, and counts each record once (the source also serves
  re-reads). Counting here, not in a consumer of the rows, keeps the rows
  from being sent to a second stage on a portable runner."""

  def __init__(self, source_name: str):
    self._name = source_name

  def setup(self):
    worker.prepare()
    self._rows = Metrics.counter("crmsync", f"rows_read[{self._name}]")
    self._rejected = Metrics.counter("crmsync", "rows_rejected")
    self._progress = Progress(f"read {self._name}")

  def process(self, element):
    if isinstance(element, pa.RecordBatch):
      self._rejected.inc(element.num_rows)
      yield beam.pvalue.TaggedOutput("rejected", element)
    else:
      self._rows.inc(element.num_rows)
      self._progress.add(element.num_rows)
      progress.bytes_read(_span(element))
      yield beam.pvalue.TaggedOutput("counts", element.num_rows)
      yield element


def _span(batch) -> int:
  """About how many bytes of its file a RowBatch came from: from its first
  row's offset to its last's, plus one row's average."""
  offsets = batch.table.column(OFFSET_COL)
  n = len(offsets)
  first, last = offsets[0].as_py(), offsets[n - 1].as_py()
  return (last - first) * n // max(n - 1, 1) if n > 1 else 0


class ReadSplits(beam.PTransform):
  """A BoundedSource's elements, its splits spread over the workers:
  Impulse -> the splits -> Reshuffle -> each split read where it lands.
  Beam's own Read (a splittable DoFn) splits a source in the task that
  starts it, and the Flink and Spark runners then read every split in
  that task: one worker read a whole file. `split_bytes`: about how many
  bytes a split holds (default: Beam's Read's choice, 1000 x the square
  root of the source's bytes, and no less than the source allows)."""

  def __init__(self, source: iobase.BoundedSource,
               split_bytes: Optional[int] = None):
    super().__init__()
    self._source, self._split_bytes = source, split_bytes

  def expand(self, pbegin):
    return (pbegin
            | "Impulse" >> beam.Impulse()
            | "Split" >> beam.FlatMap(_splits, self._source,
                                      self._split_bytes)
            | "Spread" >> beam.Reshuffle()
            | "ReadSplit" >> beam.FlatMap(_read_split))


def _splits(_, source: iobase.BoundedSource, split_bytes: Optional[int]):
  size = source.estimate_size()
  desired = split_bytes or max(1, 1000 * int(math.sqrt(size)))
  return [(b.source, b.start_position, b.stop_position)
          for b in source.split(desired)]


def _read_split(split):
  source, start, stop = split
  return source.read(source.get_range_tracker(start, stop))


class ReadCsv(beam.PTransform):
  """Reads a CSV path or glob (local or s3://) as RowBatch elements.

  Returns a tuple-like result: `.rows` (RowBatch), `.rejected` (Arrow
  batches of rejected records, rows.REJECTED_SCHEMA: source, file, line,
  offset, reason, raw) and `.counts` (int: each RowBatch's rows). Files
  are matched and their headers read when the transform is built, so a
  missing file or bad header fails (InputError) before anything runs.
  `files`: the pattern's files when the caller has listed them already;
  `formats`, `copies`: as CsvSource takes them;
  `split_bytes`: as ReadSplits takes it (smaller than the source's
  smallest split, 16 MB, it lowers that too).
  """

  def __init__(self, pattern: str, fmt: CsvFormat = CsvFormat(),
               source_name: str = "", batch_rows: int = DEFAULT_BATCH_ROWS,
               files: Optional[List[str]] = None,
               formats: Optional[Dict[str, CsvFormat]] = None,
               copies: Optional[Dict[str, str]] = None,
               split_bytes: Optional[int] = None):
    super().__init__()
    self._name = source_name or pattern
    self._split_bytes = split_bytes
    self.files = files if files is not None else match_files(pattern)
    formats, copies = formats or {}, copies or {}
    self.header = shared_header(
        [copies.get(f, f) for f in self.files], fmt,
        {copies.get(f, f): own for f, own in formats.items()})
    self.source = CsvSource(
        pattern, fmt, self._name, batch_rows, self.files,
        min(MIN_SPLIT_BYTES, split_bytes or MIN_SPLIT_BYTES), formats,
        copies)

  def expand(self, pbegin):
    return (pbegin
            | "Read" >> ReadSplits(self.source, self._split_bytes)
            | "SplitRejects" >> beam.ParDo(_SplitRowsAndRejects(
                self._name)).with_outputs("rejected", "counts", main="rows"))
