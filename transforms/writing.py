"""Writing the merged rows: sharded CSV (or Parquet: parquet_shards.py), in
original order.

Each row's place in the output is its byte position in the original input
(file rank, then offset), so shard i holds the rows whose position falls in
the i-th of N equal byte ranges. Each merged batch (a run of consecutive
records) is encoded at once into a part file of its shard; a shard is its
header and its parts in position order. The shards therefore concatenate,
in name order, to the original row order, and the bytes do not depend on
how the runner split or batched the work. File caps cut a shard into
several files, each within them.

Shards are written under a temporary folder beside the prefix and
published (transforms/publish.py) only when the whole job succeeded: a
failed run leaves the previous output (or none) at the final names.
"""

import csv
import glob
import hashlib
import io
import logging
import posixpath
import re
import shutil
from typing import List, Sequence, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from crmsync.transforms import faults, handoff
from crmsync.transforms.ahead import AheadDoFn
from crmsync.transforms.normalizers.text import (byte_set, byte_spans,
                                                raw_bytes)
from crmsync.transforms.parquet_shards import arrow_parts, write_parquet
from crmsync.transforms.columns import OFFSET_COL, ROW_POSITION_COLS
from crmsync.transforms.rows import RowBatch, contiguous

_LOG = logging.getLogger(__name__)
TEMP_MARKER = ".crmsync-tmp-"


FORMATS = ("csv", "parquet")


def shard_name(prefix: str, shard: int, shards: int,
               extension: str = ".csv") -> str:
  return f"{prefix}-{shard:05d}-of-{shards:05d}{extension}"


def temp_dir(prefix: str, run_id: str) -> str:
  return f"{prefix}{TEMP_MARKER}{run_id}"


_SPECIAL = (b'"', b"\n", b"\r")


def _quote(values: pa.Array, delimiter: str) -> pa.Array:
  """Quotes a value only if it holds the delimiter, a quote or a line break,
  as Python's csv.QUOTE_MINIMAL does: the original's bytes stay as they were
  wherever possible."""
  raw = raw_bytes(values)
  if not any(ch in raw for ch in _SPECIAL + (delimiter.encode(),)):
    return values  # most columns hold no such character at all
  needs = pc.match_substring_regex(values, f'[{re.escape(delimiter)}"\r\n]')
  quote = pa.scalar('"', values.type)
  quoted = pc.binary_join_element_wise(
      quote, pc.replace_substring(values, '"', '""'), quote,
      pa.scalar("", values.type))
  return pc.if_else(needs, quoted, values)


# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_LEADS = byte_set(b"=+-@\t\r")
# Numbers and phone numbers start with + or - too, and are plain values:
# an optional sign, a digit or "(", then digits and " ().,-/" only.
_SIGNS = byte_set(b"+-")
_NUMBER_LEADS = byte_set(b"0123456789(")
_NUMBER_BYTES = byte_set(b"0123456789 ().,-/")


def escape_formulas(values: pa.Array) -> pa.Array:
  """Prefixes a quote to cells a spreadsheet would run as a formula (those
  starting with = + - @ tab or CR), leaving numbers such as "-5" and
  "+1 555 123 4567" alone: CSV injection protection for whoever opens the
  output in Excel, Sheets or LibreOffice. Byte tests in numpy: a column
  of phone numbers starts with + throughout."""
  data, starts, ends = byte_spans(values)
  lead = ends > starts
  if values.null_count:
    lead &= pc.is_valid(values).to_numpy(zero_copy_only=False)
  lead[lead] = _FORMULA_LEADS[data[starts[lead]]]
  if not lead.any():
    return values
  rows = np.flatnonzero(lead)
  risky = np.zeros(len(values), bool)
  risky[rows] = ~_plain_numbers(data, starts[rows], ends[rows])
  if not risky.any():
    return values
  quoted = pc.binary_join_element_wise(pa.scalar("'", values.type), values,
                                       pa.scalar("", values.type))
  return pc.if_else(pa.array(risky), quoted, values)


def _plain_numbers(data: np.ndarray, starts: np.ndarray,
                   ends: np.ndarray) -> np.ndarray:
  """Per value (non-empty spans of `data`): an optional sign, then a digit
  or "(", then nothing but _NUMBER_BYTES."""
  body = starts + _SIGNS[data[starts]]
  plain = body < ends
  plain[plain] = _NUMBER_LEADS[data[body[plain]]]
  outside = np.r_[0, np.cumsum(~_NUMBER_BYTES[data], dtype=np.int64)]
  return plain & (outside[ends] == outside[body])


def encode_csv(table, delimiter: str = ",") -> bytes:
  """CSV bytes of a table of strings, without header; LF line ends. Give
  it large_string columns for more than 2 GB of text (a report can be)."""
  return encode_csv_rows(table, delimiter)[0]


def encode_csv_rows(table, delimiter: str = ","):
  """(encode_csv's bytes, where each row starts in them and where the last
  ends: num_rows + 1 offsets)."""
  if table.num_rows == 0:
    return b"", np.zeros(1, np.int64)
  kind = (pa.large_string() if any(pa.types.is_large_string(c.type)
                                   for c in table.columns) else pa.string())
  cols = [_quote(pc.fill_null(contiguous(c.cast(kind)), ""), delimiter)
          for c in table.columns]
  lines = pc.binary_join_element_wise(
      *cols, pa.scalar(delimiter, kind)) if len(cols) > 1 else cols[0]
  lines = pc.binary_join_element_wise(
      lines, pa.scalar("\n", kind), pa.scalar("", kind)).cast(
          pa.large_string())
  # The lines are contiguous in the array's data buffer: write it as is.
  offsets = np.frombuffer(lines.buffers()[1], np.int64)[
      lines.offset:lines.offset + len(lines) + 1]
  data = lines.buffers()[2].to_pybytes()[int(offsets[0]):int(offsets[-1])]
  return data, offsets - offsets[0]


def cap_cuts(ends: np.ndarray, max_rows: int, max_bytes: int) -> List[int]:
  """Row indexes where a run of rows (`ends`: encode_csv_rows' offsets)
  is cut so that no piece holds more than `max_rows` rows or `max_bytes`
  bytes (0: no limit); a row longer than `max_bytes` is a piece alone."""
  cuts, start, n = [0], 0, len(ends) - 1
  while start < n:
    stop = n if not max_rows else min(n, start + max_rows)
    if max_bytes:
      fits = int(np.searchsorted(ends, ends[start] + max_bytes, "right")) - 1
      stop = max(start + 1, min(stop, fits))
    cuts.append(stop)
    start = stop
  return cuts


def header_line(columns, delimiter: str = ",") -> bytes:
  buf = io.StringIO()
  csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerow(columns)
  return buf.getvalue().encode("utf-8")


class _WriteParts(AheadDoFn):
  """Encodes each merged batch as CSV (or Arrow, for Parquet) right away
  and writes it to a part file of its shard: rows never wait in memory for
  their shard, and the shuffle carries only part names.

  Encoding and writing run on a background thread while the next batch is
  merged: both are mostly Arrow kernels and file I/O, which release the GIL,
  so the stage uses a second core. At most 2 batches wait for it."""

  threads, depth = 1, 2

  def __init__(self, shards: int, file_starts: Sequence[int], total: int,
               tmp: str, delimiter: str, escape: bool,
               caps: Tuple[int, int] = (0, 0), file_format: str = "csv"):
    self._shards = shards
    self._starts = np.asarray(file_starts, np.int64)
    self._total = max(1, total)
    self._tmp, self._delimiter = tmp, delimiter
    self._escape = escape and file_format == "csv"
    self._caps = caps
    self._format = file_format

  def work(self, batch: RowBatch) -> list:
    """The (shard, part) of each part file written for the batch; part:
    (file rank, first offset, path, rows, bytes). The batch's columns are
    the output's header (the join's layout): taking them from the batch,
    not as a side input, lets a portable runner fuse this with the merge
    (Beam's fuser starts a new stage at every ParDo with side inputs), so
    the merged rows never leave the Python worker."""
    t = batch.table
    offsets = t.column(OFFSET_COL).to_numpy()
    position = offsets + self._starts[batch.file_index]
    shard = np.minimum(position * self._shards // self._total,
                       self._shards - 1)
    data = t.drop_columns(list(ROW_POSITION_COLS))
    if self._escape:
      data = pa.table([escape_formulas(contiguous(c))
                       for c in data.columns], names=data.column_names)
    # A batch is a run of consecutive records, so each shard's rows in it
    # are one contiguous slice.
    bounds = np.flatnonzero(np.diff(shard)) + 1
    # With file caps, in pieces no bigger than a file may be, with room
    # for the header in each file.
    max_rows, max_bytes = self._caps
    if max_bytes:
      max_bytes = max(1, max_bytes - len(header_line(data.column_names,
                                                     self._delimiter)))
    parts = []
    for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(shard)]):
      s = int(shard[start])
      # Encoded before the file is opened: a failure must not close (and
      # so publish) a half-written object.
      rows = data.slice(start, stop - start)
      if self._format == "parquet":
        parts.extend(arrow_parts(rows, s, batch.file_index,
                                 offsets[start:stop],
                                 FileSystems.join(self._tmp, "parts"),
                                 self._caps[0]))
        continue
      encoded, ends = encode_csv_rows(rows, self._delimiter)
      cuts = cap_cuts(ends, max_rows, max_bytes) if any(self._caps) else [
          0, stop - start]
      for a, b in zip(cuts[:-1], cuts[1:]):
        first = int(offsets[start + a])
        name = f"part-{s:05d}-{batch.file_index:05d}-{first:015d}.csv"
        path = FileSystems.join(self._tmp, "parts", name)
        with FileSystems.create(path) as f:
          f.write(encoded[int(ends[a]):int(ends[b])])
        parts.append((s, (batch.file_index, first, path, int(b - a),
                          int(ends[b] - ends[a]))))
    return parts


class _CountingSink:
  """A file from FileSystems.create (local or S3) that counts and hashes
  the bytes written on the way; pyarrow's ParquetWriter writes into it.
  After `discard()`, writes go nowhere."""

  def __init__(self, out):
    self._out, self.size, self.digest = out, 0, hashlib.sha256()
    self.closed = False

  def write(self, data) -> int:
    if self._out is None:
      return len(data)
    data = bytes(data)
    self._out.write(data)
    self.digest.update(data)
    self.size += len(data)
    return len(data)

  def discard(self):
    self._out = None

  def tell(self) -> int:
    return self.size

  def flush(self):
    pass

  def close(self):
    self.closed = True


class _ConcatShard(AheadDoFn):
  """Header, then the shard's parts in input order, streamed into one file,
  or with caps as many as they need (each attempt its own: the runner
  keeps one attempt's output); for Parquet, the parts' rows written as
  one Parquet file. Shards are written on a thread per core (file I/O and
  hashing, which release the GIL)."""

  def __init__(self, prefix: str, shards: int, tmp: str, delimiter: str,
               caps: Tuple[int, int] = (0, 0), file_format: str = "csv"):
    self._prefix, self._shards, self._tmp = prefix, shards, tmp
    self._delimiter = delimiter
    self._caps = caps
    self._format = file_format

  def setup(self):
    super().setup()
    self._rows = Metrics.counter("crmsync", "rows_written")

  def prepare(self, element):
    shard, parts = element
    return shard, [p for p in parts if p is not None]

  def work(self, element, header: List[str]) -> list:
    shard, parts = element
    parts = sorted(parts)
    head = (header_line(header, self._delimiter) if self._format == "csv"
            else b"")
    files = self._files(parts, len(head)) if any(self._caps) else [parts]
    out = []
    for piece, chunk in enumerate(files):
      name = posixpath.basename(shard_name(self._prefix, shard, self._shards,
                                           ""))
      name += f"-{piece:05d}" if any(self._caps) else ""
      path = FileSystems.join(self._tmp, "shards", handoff.attempt_name(
          name, f".{self._format}"))
      with FileSystems.create(path) as f:
        sink = _CountingSink(f)
        if self._format == "parquet":
          rows = write_parquet(sink, header, chunk)
        else:
          rows = _csv_file(sink, head, chunk)
      # The parts stay until the run's temporary folder goes, after the
      # publish: a retried or speculative attempt of this bundle reads
      # them again.
      _LOG.info("shard %d/%d ready (published at the end): %d rows",
                shard + 1, self._shards, rows)
      out.append(((shard, piece) if any(self._caps) else shard, path, rows,
                  {"size": sink.size, "sha256": sink.digest.hexdigest()}))
    return out

  def emit(self, outputs):
    for written in outputs:
      self._rows.inc(written[2])
      yield written

  def _files(self, parts, header_bytes: int) -> List[list]:
    """The shard's parts (each within the caps) packed in order into as
    few files as the caps allow; one empty file for an empty shard."""
    max_rows, max_bytes = self._caps
    files, rows, size = [[]], 0, header_bytes
    for part in parts:
      n, b = part[3], part[4]
      if files[-1] and ((max_rows and rows + n > max_rows) or
                        (max_bytes and size + b > max_bytes)):
        files.append([])
        rows, size = 0, header_bytes
      files[-1].append(part)
      rows, size = rows + n, size + b
    return files


def _csv_file(sink: _CountingSink, head: bytes, parts) -> int:
  """Writes the header, then the parts' bytes; the rows written."""
  sink.write(head)
  rows = 0
  for _, _, part, n, _ in parts:
    with FileSystems.open(part, compression_type="uncompressed") as f:
      for block in iter(lambda: f.read(1 << 22), b""):
        sink.write(block)
    rows += n
    faults.fail_once("write:concat")  # a half-written shard left
  return rows


class WriteShards(beam.PTransform):
  """RowBatch -> N shards in a temporary folder, CSV or Parquet; yields
  (shard, temp path, rows, {"size": bytes, "sha256": hex}). Every shard is
  written, with its header (its schema), even if empty.

  `file_sizes`: byte size of each input file, in rank order; `header`: a
  singleton PCollection (or a list) of the output column names, which must
  be the columns of the batches, in order. `caps`: (rows, bytes) a file
  may hold at most, header included (0: no limit); with caps, each shard
  is as many files as they need, yielded as ((shard, piece), ...), in
  order (a row bigger than the byte cap is a file alone). `file_format`:
  "csv", or "parquet" (string columns, blank cells null, no formula
  escaping; a byte cap is a ValueError: a file's size is known once
  written).
  """

  def __init__(self, prefix: str, shards: int, file_sizes: Sequence[int],
               header, tmp: str, delimiter: str = ",",
               escape_formulas: bool = True, caps: Tuple[int, int] = (0, 0),
               file_format: str = "csv"):
    super().__init__()
    if file_format not in FORMATS:
      raise ValueError(f"file_format: {file_format!r} is not one of "
                       f"{', '.join(FORMATS)}")
    if file_format == "parquet" and caps[1]:
      raise ValueError("caps: a byte cap is for CSV files; a Parquet "
                       "file's size is known once it is written")
    self._caps = caps
    self._format = file_format
    self._prefix, self._shards, self._tmp = prefix, shards, tmp
    self._delimiter = delimiter
    self._escape = escape_formulas
    self._starts = np.concatenate(([0], np.cumsum(file_sizes)[:-1])).tolist()
    self._total = int(sum(file_sizes))
    self._header = header

  def expand(self, merged):
    # Markers that only join the grouping below: no reshuffle to spread
    # them (a stage of its own).
    every_shard = (merged.pipeline
                   | "AllShards" >> beam.Create(
                       [(s, None) for s in range(self._shards)],
                       reshuffle=False))
    header = (beam.pvalue.AsSingleton(self._header)
              if isinstance(self._header, beam.pvalue.PCollection)
              else list(self._header))
    parts = merged | "WriteParts" >> beam.ParDo(_WriteParts(
        self._shards, self._starts, self._total, self._tmp, self._delimiter,
        self._escape, self._caps, self._format))
    return ((parts, every_shard)
            | "Flatten" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "Concat" >> beam.ParDo(_ConcatShard(
                self._prefix, self._shards, self._tmp, self._delimiter,
                self._caps, self._format), header))


def _delete_matching(pattern: str):
  found = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
  if found:
    FileSystems.delete(found)


def remove_folder(folder: str):
  """Removes one run's temporary folder (a run that must not commit)."""
  if "://" not in folder:
    shutil.rmtree(folder, ignore_errors=True)
  else:
    _delete_matching(folder.rstrip("/") + "/**")


def remove_temp_dirs(prefix: str):
  """Removes the temporary folders of this prefix: this run's, and those
  that killed or failed runs left behind."""
  pattern = f"{prefix}{TEMP_MARKER}*"
  if "://" not in prefix:
    for path in glob.glob(pattern):
      shutil.rmtree(path, ignore_errors=True)
  else:  # object stores: a folder is just the keys under it
    _delete_matching(pattern + "*")
