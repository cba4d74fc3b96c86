"""Reading CSV in a pipeline: `ReadCsv`, a path or glob (local or s3://) ->
RowBatch elements (`.rows`) and Arrow batches of rejected records
(`.rejected`).

The pieces, one concern each:
  csv_dialect  how a file is written (delimiter, escape, encoding, sep=)
  csv_files    listing the files, their headers, the CLI's samples
  csv_scan     the quote scan that finds records in bytes
  csv_parse    records -> Arrow rows and rejections
  csv_source   the splittable source over the planned files, its re-read
"""

from typing import Dict, List, Optional

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics

from crmsync.transforms import worker
from crmsync.transforms.csv_dialect import CsvFormat
from crmsync.transforms.csv_files import match_files, shared_header
from crmsync.transforms.csv_source import DEFAULT_BATCH_ROWS, CsvSource
from crmsync.transforms.progress import Progress


class _SplitRowsAndRejects(beam.DoFn):
  """The source's elements -> RowBatch (main output) and Arrow batches of
  rejected records ("rejected"), counted here: this runs on the runner's
  thread, where Beam metrics belong, and counts each record once (the
  source also serves re-reads)."""

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
      yield element


class ReadCsv(beam.PTransform):
  """Reads a CSV path or glob (local or s3://) as RowBatch elements.

  Returns a tuple-like result: `.rows` (RowBatch) and `.rejected` (Arrow
  batches of rejected records, rows.REJECTED_SCHEMA: source, file, line,
  offset, reason, raw). Files are matched and their headers read when the
  transform is built, so a missing file or bad header fails (InputError)
  before anything runs. `files`: the pattern's files when the caller has listed
  them already; `formats`, `copies`: as CsvSource takes them.
  """

  def __init__(self, pattern: str, fmt: CsvFormat = CsvFormat(),
               source_name: str = "", batch_rows: int = DEFAULT_BATCH_ROWS,
               files: Optional[List[str]] = None,
               formats: Optional[Dict[str, CsvFormat]] = None,
               copies: Optional[Dict[str, str]] = None):
    super().__init__()
    self._name = source_name or pattern
    self.files = files if files is not None else match_files(pattern)
    formats, copies = formats or {}, copies or {}
    self.header = shared_header(
        [copies.get(f, f) for f in self.files], fmt,
        {copies.get(f, f): own for f, own in formats.items()})
    self.source = CsvSource(pattern, fmt, self._name, batch_rows, self.files,
                            formats=formats, copies=copies)

  def expand(self, pbegin):
    return (pbegin
            | "Read" >> beam.io.Read(self.source)
            | "SplitRejects" >> beam.ParDo(_SplitRowsAndRejects(
                self._name)).with_outputs("rejected", main="rows"))
