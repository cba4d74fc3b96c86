"""The CSV source: a splittable Beam BoundedSource of Arrow row batches over
the files planned at submission, and its re-read of one batch.

Positions are byte offsets into the planned files laid end to end, in their
order (a file read from its UTF-8 copy spans the copy's bytes): one
OffsetRangeTracker covers the source, and `split` cuts it at every file's
boundaries and, within a file, into ranges of `min_split_bytes` or more, so
the splits of one file read in parallel. A record belongs to the range its
first byte is in. A range starting at byte S of a file counts the quotes
before S (csv_scan) to take the first record that starts at or after S, so
every split point yields the same records; the tests check it with
`source_test_utils`.

Reading counts nothing in Beam metrics: `reread` runs on thread pools, and
its rows were counted when first read (csv_io's ReadCsv counts them).
"""

import collections
import threading
import uuid
from typing import Dict, Iterator, List, NamedTuple, Optional, Union

import numpy as np
import pyarrow as pa
from apache_beam.io import iobase
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.range_trackers import OffsetRangeTracker
from apache_beam.io.restriction_trackers import OffsetRange

from crmsync.transforms import csv_scan
from crmsync.transforms.csv_dialect import CsvFormat
from crmsync.transforms.csv_files import (CsvHeader, file_size, match_files,
                                          read_header)
from crmsync.transforms.csv_parse import RecordParser
from crmsync.transforms.csv_scan import CR, QuoteScan, strip_eol
from crmsync.transforms.errors import InputError
from crmsync.transforms.rows import RejectedRow, RowBatch, rejected_batch

DEFAULT_BATCH_ROWS = 30_000
# Each split scans the bytes before its start for the quote parity, so
# splits are kept large: enough of them to spread the work, few enough that
# the scans stay small next to the reads.
MIN_SPLIT_BYTES = 16 << 20
REJECTED_BATCH_ROWS = 10_000  # rejected records handed on per element


class _Span(NamedTuple):
  """A planned file's place among the source's positions: its bytes are
  [base, base + size)."""
  file: str
  base: int
  size: int


class _Checkpoints:
  """Record starts seen by the reads of this process: (offset, newlines
  before it), per (run, file). A split must know the quote parity and line
  count before its start; it scans from the nearest record start an earlier
  split read instead of from the top of the file, so the splits of a file
  read in one process scan it once, not once each."""

  def __init__(self, files: int = 256):
    self._files = files
    self._marks: "collections.OrderedDict" = collections.OrderedDict()
    self._lock = threading.Lock()  # reads run on worker threads too

  def add(self, key, offset: int, newlines: int):
    with self._lock:
      self._marks.setdefault(key, []).append((offset, newlines))
      self._marks.move_to_end(key)
      while len(self._marks) > self._files:  # bounded in a long-lived process
        self._marks.popitem(last=False)

  def before(self, key, offset: int, default):
    """The last mark at or before `offset` (or `default`)."""
    with self._lock:
      marks = [m for m in self._marks.get(key, ()) if m[0] <= offset]
    return max([default] + marks)


_CHECKPOINTS = _Checkpoints()


class _InFile:
  """The source's range tracker seen from one file: positions are offsets
  in the file (or its copy), the file's bytes starting at `base`."""

  def __init__(self, tracker, base: int):
    self._tracker, self._base = tracker, base

  def start_position(self) -> int:
    return max(0, self._tracker.start_position() - self._base)

  def stop_position(self) -> int:
    return self._tracker.stop_position() - self._base

  def try_claim(self, offset: int) -> bool:
    return self._tracker.try_claim(self._base + offset)

  def set_current_position(self, offset: int):
    self._tracker.set_current_position(self._base + offset)


class CsvSource(iobase.BoundedSource):
  """Reads CSV files as RowBatch elements, plus Arrow batches of the
  malformed records (rows.REJECTED_SCHEMA; ReadCsv separates the two).

  `pattern`: the path or glob; `files`: its files as listed when the job
  was planned (listed here if not given), in row order; `batch_rows`: rows
  per RowBatch at most; `formats`: a file's own format, where it is not
  `fmt`; `copies`: a file -> its UTF-8 copy (csv_dialect.transcode), read
  and split in its stead while rows and rejections still name the file.

  Errors (InputError): at construction, a file in an encoding not read in
  place and given no copy; where the job is split (a worker, on a
  cluster), the pattern listing other non-empty files than `files` there
  (relative paths, storage the worker cannot see), or a missing copy.
  """

  def __init__(self, pattern: str, fmt: CsvFormat = CsvFormat(),
               source_name: str = "", batch_rows: int = DEFAULT_BATCH_ROWS,
               files: Optional[List[str]] = None,
               min_split_bytes: int = MIN_SPLIT_BYTES,
               formats: Optional[Dict[str, CsvFormat]] = None,
               copies: Optional[Dict[str, str]] = None):
    self._pattern, self._fmt = pattern, fmt
    self._name = source_name or pattern
    self._batch_rows = max(1, batch_rows)
    self._min_split_bytes = min_split_bytes
    self._files = files if files is not None else match_files(pattern)
    self._file_index = {f: i for i, f in enumerate(self._files)}
    self._formats, self._copies = dict(formats or {}), dict(copies or {})
    self._copy_sizes = {f: file_size(c) for f, c in self._copies.items()}
    for f in self._files:
      if not self._formats.get(f, fmt).in_place:
        raise InputError(
            f"{f}: {self._formats.get(f, fmt).encoding} is read from a "
            f"UTF-8 copy: make one with transforms.csv_dialect.transcode "
            f"and pass it in `copies`, with its format")
    self._headers: Dict[str, CsvHeader] = {}
    self._spans: Optional[List[_Span]] = None  # set where the job is split
    # Names this pipeline's reads in the process-wide record checkpoints
    # (each split of the source arrives as an unpickled copy).
    self._run = uuid.uuid4().hex

  @property
  def files(self) -> List[str]:
    return self._files

  # -- BoundedSource ---------------------------------------------------------

  def estimate_size(self) -> int:
    return sum(s.size for s in self._layout())

  def split(self, desired_bundle_size: int, start_position=None,
            stop_position=None) -> Iterator[iobase.SourceBundle]:
    """Bundles of about `desired_bundle_size` bytes (`min_split_bytes` at
    least), none across a file's end; weights in bytes."""
    start = start_position or 0
    stop = self.estimate_size() if stop_position is None else stop_position
    for span in self._layout():
      lo, hi = max(start, span.base), min(stop, span.base + span.size)
      if lo >= hi:
        continue
      for r in OffsetRange(lo, hi).split(desired_bundle_size,
                                         self._min_split_bytes):
        yield iobase.SourceBundle(r.stop - r.start, self, r.start, r.stop)

  def get_range_tracker(self, start_position=None, stop_position=None):
    return OffsetRangeTracker(
        0 if start_position is None else start_position,
        self.estimate_size() if stop_position is None else stop_position)

  def read(self, range_tracker
           ) -> Iterator[Union[RowBatch, pa.RecordBatch]]:
    """RowBatch elements, and the rejected records as Arrow batches
    (rows.REJECTED_SCHEMA), each a run of records of one file's part of the
    range: batches of the same file never interleave, so a report can be
    written batch by batch in position order."""
    for span in self._layout():
      if span.base + span.size <= range_tracker.start_position():
        continue
      if span.base >= range_tracker.stop_position():  # it may have shrunk
        return
      rejected = []
      for element in self.read_records(span.file, _InFile(range_tracker,
                                                          span.base)):
        if isinstance(element, RejectedRow):
          rejected.append(element)
          if len(rejected) >= REJECTED_BATCH_ROWS:
            yield rejected_batch(rejected)
            rejected = []
        else:
          yield element
      if rejected:
        yield rejected_batch(rejected)

  def _layout(self) -> List[_Span]:
    """The planned non-empty files and where their bytes are among the
    source's positions. Listed once, where it is first asked for (where
    the job is split), and carried by the splits."""
    if self._spans is None:
      listed = {m.path: m.size_in_bytes
                for m in FileSystems.match([self._pattern])[0].metadata_list}
      planned = set(self._files)
      # Empty files hold no rows: one listed or missing here changes none.
      odd = sorted(f for f, size in listed.items()
                   if f not in planned and size) + [
          f for f in self._files if f not in listed and file_size(f) != 0]
      if odd:
        raise InputError(f"{self._pattern}: the workers list other files "
                         f"than the job was planned on ({odd[0]}); use "
                         f"absolute paths or storage every worker can reach")
      spans, base = [], 0
      for f in self._files:
        if not listed.get(f):
          continue
        size = self._copy_sizes.get(f, listed[f])
        if size < 0:
          raise InputError(f"{self._copies[f]}: the UTF-8 copy of {f} is "
                           f"missing")
        spans.append(_Span(f, base, size))
        base += size
      self._spans = spans
    return self._spans

  # -- reading one file ------------------------------------------------------

  def open_file(self, file_name: str):
    """The bytes read for `file_name`: its copy's, if it has one."""
    return FileSystems.open(self._copies.get(file_name, file_name),
                            compression_type="uncompressed")

  def _header(self, file_name: str) -> CsvHeader:
    if file_name not in self._headers:
      self._headers[file_name] = read_header(
          self._copies.get(file_name, file_name),
          self._formats.get(file_name, self._fmt))
    return self._headers[file_name]

  def _parser(self, file_name: str) -> RecordParser:
    return RecordParser(self._name, file_name,
                        self._file_index.get(file_name, 0),
                        self._header(file_name))

  def read_records(self, file_name: str, range_tracker
                   ) -> Iterator[Union[RowBatch, RejectedRow]]:
    """The elements of the records of `file_name` that start in the
    tracker's range; its positions are offsets in the file (its copy)."""
    header = self._header(file_name)
    begin = max(range_tracker.start_position(), header.data_start)
    with self.open_file(file_name) as f:
      first, lines_before = self._first_record_at_or_after(
          f, file_name, header, begin)
      if first is None:
        return
      yield from self._read_from(f, file_name, header, first, lines_before,
                                 range_tracker)

  def reread(self, file_index: int, start: int, last: int,
             line: int) -> RowBatch:
    """The rows of a batch read before: the records starting in [start,
    last] of the source's file `file_index`, where `start` is a record's
    offset and `line` its line (no quote scan from the top of the file).
    The partitioned join re-reads original batches rather than shuffle
    them; it calls this on a thread pool, and nothing here counts in Beam
    metrics."""
    file_name = self._files[file_index]
    header = self._header(file_name)
    tracker = OffsetRangeTracker(start, last + 1)
    with self.open_file(file_name) as f:
      parts = [b.table for b in self._read_from(f, file_name, header, start,
                                                line - 1, tracker)
               if isinstance(b, RowBatch)]
    if len(parts) == 1:
      return RowBatch(file_index, parts[0])
    table = pa.Table.from_batches(parts).combine_chunks()
    return RowBatch(file_index, table.to_batches()[0])

  def _first_record_at_or_after(self, f, file_name, header: CsvHeader,
                                begin: int):
    """(offset, newlines before it) of the first record starting >= begin;
    (None, 0) if none does."""
    if begin == header.data_start:
      return begin, header.lines
    # Quote parity and newline count over [data_start, begin - 1), from the
    # last record start an earlier split of this run read before there.
    start, newlines = _CHECKPOINTS.before(
        (self._run, file_name), begin - 1, (header.data_start, header.lines))
    f.seek(start)
    escape = header.fmt.escape
    state = csv_scan.OUTSIDE
    remaining = begin - 1 - start
    while remaining > 0:
      chunk = f.read(min(csv_scan.CHUNK_BYTES, remaining))
      if not chunk:
        return None, 0
      state = QuoteScan(chunk, escape, state).after
      newlines += chunk.count(b"\n")
      remaining -= len(chunk)
    pos = begin - 1
    while True:
      chunk = f.read(csv_scan.CHUNK_BYTES)
      if not chunk:
        return None, 0
      scan = QuoteScan(chunk, escape, state)
      if scan.ends.size:
        end = int(scan.ends[0])
        return pos + end + 1, newlines + chunk.count(b"\n", 0, end + 1)
      state = scan.after
      newlines += chunk.count(b"\n")
      pos += len(chunk)

  def _read_from(self, f, file_name, header, pos, lines_before, tracker):
    """The elements of the records from offset `pos` (a record's start,
    after `lines_before` newlines) on, while `tracker` lets them be
    claimed: a batch of up to `batch_rows` records is claimed at its first
    record's offset."""
    parser = self._parser(file_name)
    f.seek(pos)
    carry = b""
    line = lines_before + 1
    while True:
      chunk = f.read(csv_scan.CHUNK_BYTES)
      eof = not chunk
      data = carry + chunk
      if not data:
        return
      scan = QuoteScan(data, header.fmt.escape)
      newlines, ends = scan.newlines, scan.ends
      unterminated = False
      if eof and (ends.size == 0 or ends[-1] != len(data) - 1):
        unterminated = True
        ends = np.append(ends, len(data) - 1)
      if ends.size == 0:
        if len(data) > header.fmt.max_row_bytes:
          # One record longer than the limit: skip to its end without
          # holding it, and reject it.
          if not tracker.try_claim(pos):
            return
          rejected, length, lines, carry = self._skip_record(
              f, data, parser, header.fmt, pos, line)
          yield rejected
          pos, line = pos + length, line + lines
          continue
        carry = data
        continue
      starts = np.concatenate(([0], ends[:-1] + 1))
      lines = line + np.searchsorted(newlines, starts)
      lengths = ends - starts + 1
      blank = (lengths == 1) | ((lengths == 2) & (
          np.frombuffer(data, np.uint8)[starts] == CR))
      keep = ~blank
      if unterminated:
        keep[-1] = bool(strip_eol(data[starts[-1]:]).strip())
      rec_starts, rec_ends, rec_lines = starts[keep], ends[keep], lines[keep]
      # After a whole batch, the chunk's last, partial one waits for the
      # next chunk's records: one batch per chunk or so, not one big and one
      # small (rescanning at most one batch's bytes; a chunk of less than
      # a batch, wide rows, is a batch of its own).
      whole = rec_starts.size
      if not eof and whole > self._batch_rows:
        whole -= whole % self._batch_rows
      for a in range(0, whole, self._batch_rows):
        b = min(a + self._batch_rows, rec_starts.size)
        abs_starts = rec_starts[a:b] + pos
        if not tracker.try_claim(int(abs_starts[0])):
          return
        # Records of a batch are not split points: claiming the last one's
        # position stops any split from landing inside the batch; a split
        # that landed before that call shows in stop_position.
        tracker.set_current_position(int(abs_starts[-1]))
        owned = int(np.searchsorted(abs_starts, tracker.stop_position()))
        yield from parser.parse(data, rec_starts[a:a + owned],
                                rec_ends[a:a + owned], abs_starts[:owned],
                                rec_lines[a:a + owned],
                                scan.quotes,
                                unterminated and b == rec_starts.size)
        if owned < b - a:
          return
      # Read on from the first record not in a batch yet (after the last
      # record end when every record is).
      after = (int(rec_starts[whole]) if whole < rec_starts.size
               else int(ends[-1]) + 1)
      line += int(np.searchsorted(newlines, after))
      pos += after
      _CHECKPOINTS.add((self._run, file_name), pos, line - 1)
      carry = data[after:]
      if eof:
        return

  @staticmethod
  def _skip_record(f, data: bytes, parser: RecordParser, fmt: CsvFormat,
                   pos: int, line: int):
    """Reads past a record that starts at `pos` (its first bytes in `data`,
    no end among them) keeping only its head: (RejectedRow, its length, the
    newlines in it, the bytes after it already read)."""
    state = QuoteScan(data, fmt.escape).after
    length, newlines, head = len(data), data.count(b"\n"), data[:200]
    rest = b""
    while True:
      chunk = f.read(csv_scan.CHUNK_BYTES)
      if not chunk:
        break
      scan = QuoteScan(chunk, fmt.escape, state)
      if scan.ends.size:
        end = int(scan.ends[0]) + 1
        length += end
        newlines += chunk.count(b"\n", 0, end)
        rest = chunk[end:]
        break
      state = scan.after
      newlines += chunk.count(b"\n")
      length += len(chunk)
    reason = (f"row is over the limit of {fmt.max_row_bytes} bytes "
              f"(limits.max_row_bytes): {length} bytes"
              + (", up to the end of the file (an unclosed quote?)"
                 if not rest and state.in_quotes else ""))
    text = head.decode(fmt.encoding, errors="replace") + "..."
    return parser.rejected(line, pos, reason, text), length, newlines, rest
