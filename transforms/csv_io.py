"""Reading CSV: a quote-aware, splittable Beam source producing Arrow batches.

A record starts after a newline that is outside quotes. In RFC 4180 CSV every
quote character toggles the quoted state (an escaped quote is two quotes), so
whether a newline ends a record only depends on the parity of the quotes
before it. A split starting at byte S counts the quotes in [0, S) (a fast
bytes scan) and takes the first record that starts at or after S; records are
claimed by their start offset. Every split point therefore yields the same
records, which `source_test_utils` checks exhaustively in the tests.

With `csv.escape: "\\"` a quote after an odd run of backslashes is escaped
and toggles nothing; the scan skips those quotes (numpy, per chunk).

Within a split, numpy finds all record boundaries of a chunk at once and
pyarrow parses a whole batch of records in one call; only a batch that holds
a malformed record falls back to Python's csv module, record by record, so the
bad records can be rejected with their line and reason. A file's dialect
(delimiter, escape, encoding, a `sep=` line) is resolved before reading
(transforms/csv_dialect.py).
"""

import codecs
import collections
import csv
import io
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from apache_beam.io.concat_source import ConcatSource
from apache_beam.io.filebasedsource import FileBasedSource, _SingleFileSource
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.range_trackers import OffsetRangeTracker
from apache_beam.metrics import Metrics

# CsvFormat lives with the dialects; imported from here too.
from crmsync.transforms.csv_dialect import DELIMITERS, CsvFormat, view_chunks
from crmsync.transforms.errors import InputError
from crmsync.transforms.hashing import in_sorted
from crmsync.transforms.progress import Progress
from crmsync.transforms.columns import LINE_COL, OFFSET_COL, check_header
from crmsync.transforms.rows import RejectedRow, RowBatch

_LOG = logging.getLogger(__name__)

QUOTE = ord('"')
NEWLINE = ord("\n")
CR = ord("\r")
NEWLINE_BYTE = b"\n"
UTF8_BOM = codecs.BOM_UTF8
CHUNK_BYTES = 1 << 22
DEFAULT_BATCH_ROWS = 30_000
MIN_SPLIT_BYTES = 16 << 20


@dataclass(frozen=True)
class CsvHeader:
  names: Tuple[str, ...]
  data_start: int  # byte offset of the first data record
  lines: int  # physical lines the header (and BOM, sep= line) occupy
  fmt: CsvFormat = CsvFormat()  # the format it was read with


def _escaped(buf: np.ndarray, escape: Optional[str], pending: bool = False):
  """(positions in `buf` of the bytes an escape character escapes: each
  one after an odd run of them, whether the byte after `buf` is one).
  `pending`: buf[0] is escaped by the end of the previous chunk."""
  none = np.zeros(0, np.int64)
  if escape is None:
    return none, False
  marks = np.flatnonzero(buf == ord(escape))
  if marks.size == 0:
    return (np.zeros(1, np.int64) if pending and buf.size else none), (
        pending and buf.size == 0)
  cuts = np.flatnonzero(np.diff(marks) != 1)
  firsts = marks[np.concatenate(([0], cuts + 1))]
  lasts = marks[np.concatenate((cuts, [marks.size - 1]))]
  runs = lasts - firsts + 1
  lead = pending and firsts[0] != 0
  if pending and not lead:
    runs[0] -= 1  # the run's first escape character is itself escaped
  after = lasts[(runs & 1).astype(bool)] + 1
  if lead:
    after = np.concatenate(([0], after))
  carry = bool(after.size) and int(after[-1]) == buf.size
  return (after[:-1] if carry else after), carry


def _unescaped(positions: np.ndarray, escaped: Optional[np.ndarray]):
  if escaped is None or not escaped.size or not positions.size:
    return positions
  return positions[~in_sorted(positions, escaped)]


def _toggles(chunk: bytes, escape: Optional[str], pending: bool = False):
  """(the quotes in `chunk` that toggle quoting, whether the byte after it
  is escaped): a plain count without an escape character."""
  if escape is None:
    return chunk.count(b'"'), False
  buf = np.frombuffer(chunk, np.uint8)
  escaped, pending = _escaped(buf, escape, pending)
  return _unescaped(np.flatnonzero(buf == QUOTE), escaped).size, pending


def _ends_in(chunk: bytes, in_quotes: bool, escape: Optional[str],
             pending: bool = False) -> np.ndarray:
  buf = np.frombuffer(chunk, np.uint8)
  return _record_ends(buf, in_quotes,
                      escaped=_escaped(buf, escape, pending)[0])


def _record_ends(buf: np.ndarray, in_quotes: bool = False,
                 newlines: Optional[np.ndarray] = None,
                 escaped: Optional[np.ndarray] = None,
                 quotes: Optional[np.ndarray] = None) -> np.ndarray:
  """Indices of the newlines outside quotes in `buf`: those with an even
  number of quotes before them (odd if the buffer starts inside quotes).
  Quotes and newlines at `escaped` positions count for nothing (`quotes`:
  the others' positions, if known)."""
  if newlines is None:
    newlines = np.flatnonzero(buf == NEWLINE)
  newlines = _unescaped(newlines, escaped)
  if quotes is None:
    quotes = _unescaped(np.flatnonzero(buf == QUOTE), escaped)
  if quotes.size == 0:
    return newlines if not in_quotes else newlines[:0]
  odd = (np.searchsorted(quotes, newlines) & 1).astype(bool)
  return newlines[odd == in_quotes]


def _strip_eol(raw: bytes) -> bytes:
  if raw.endswith(b"\r\n"):
    return raw[:-2]
  if raw.endswith(b"\n") or raw.endswith(b"\r"):
    return raw[:-1]
  return raw


def _start(head: bytes, fmt: CsvFormat) -> int:
  """Where the header starts: after a BOM and a `sep=` line."""
  start = len(UTF8_BOM) if head.startswith(UTF8_BOM) else 0
  if fmt.sep_line:
    line_end = head.find(NEWLINE_BYTE, start)
    return len(head) if line_end < 0 else line_end + 1
  return start


def read_header(path: str, fmt: CsvFormat = CsvFormat()) -> CsvHeader:
  """Reads the header record of `path`; a clear InputError if it is unusable.
  Offsets are those of the bytes csv_io reads: of the UTF-8 copy for an
  encoding read from one (csv_dialect.view_chunks)."""
  try:
    f = FileSystems.open(path, compression_type="uncompressed")
  except Exception as e:  # Beam wraps the OS error in its own type.
    raise InputError(f"{path}: cannot open ({_short(e)})") from None
  at = 2 if fmt.sep_line else 1  # the header's line
  with f:
    head = b""
    chunks = view_chunks(f, fmt)
    while True:
      chunk = next(chunks, b"")
      head += chunk
      start = _start(head, fmt)
      ends = _ends_in(head[start:], False, fmt.escape)
      if ends.size or not chunk:
        break
  end = start + int(ends[0]) + 1 if ends.size else len(head)
  raw = _strip_eol(head[start:end])
  if not raw.strip():
    raise InputError(f"{path}: file is empty (no header row)")
  try:
    text = raw.decode(fmt.encoding if fmt.in_place else "utf-8")
  except UnicodeDecodeError as e:
    raise InputError(f"{path}: line {at}: header is not valid {fmt.label}"
                     + (f" ({e.reason} at byte {e.start})" if fmt.in_place
                        and not fmt.decoded_from else "")) from None
  try:
    rows = list(csv.reader(io.StringIO(text, newline=""),
                           delimiter=fmt.delimiter, escapechar=fmt.escape,
                           strict=True))
  except csv.Error as e:
    raise InputError(f"{path}: line {at}: malformed header ({e})") from None
  if len(rows) > 1:
    raise InputError(f"{path}: line {at}: the header holds a bare carriage "
                     f"return: lines end with CR only (classic Mac OS)? "
                     f"Convert the file to LF or CRLF line ends")
  names = tuple(n.strip() or f"column_{i + 1}" for i, n in enumerate(rows[0]))
  seen = {}
  for i, n in enumerate(names):
    if n in seen:
      raise InputError(f"{path}: line {at}: duplicate column name {n!r} "
                       f"(columns {seen[n] + 1} and {i + 1})")
    seen[n] = i
  check_header(names, f"{path}: line {at}")
  return CsvHeader(names, end, head[:end].count(b"\n"), fmt)


def shared_header(files: List[str], fmt: CsvFormat = CsvFormat(),
                  formats: Optional[Dict[str, CsvFormat]] = None):
  """The column names all `files` (one path or glob) share; InputError if
  one differs. `formats`: a file's own format, where it is not `fmt`."""
  formats = formats or {}
  headers = [read_header(f, formats.get(f, fmt)).names for f in files]
  for f, h in zip(files[1:], headers[1:]):
    if h != headers[0]:
      raise InputError(f"{f}: header differs from {files[0]}'s (all files "
                       f"of one glob must share a header)")
  return headers[0]


def match_files(pattern: str) -> List[str]:
  """The files a path or glob names, sorted: their order is the row order."""
  try:
    result = FileSystems.match([pattern])[0]
  except Exception as e:
    raise InputError(f"{pattern}: cannot list ({_short(e)})") from None
  files = sorted(m.path for m in result.metadata_list)
  if not files:
    raise InputError(f"{pattern}: no such file")
  return files


def write_sample(files: List[str], fmt: CsvFormat, rows: int,
                 dest: str,
                 formats: Optional[Dict[str, CsvFormat]] = None) -> str:
  """Copies the header and the first `rows` records of `files` (in order)
  to `dest`, byte for byte, so `--sample N` runs the whole job on them.
  `formats`: a file's own format, where it is not `fmt`; the sample stops
  before a file whose delimiter or escape differs from the first file's."""
  formats = formats or {}
  first = formats.get(files[0], fmt)
  header = read_header(files[0], first)
  with FileSystems.open(files[0], compression_type="uncompressed") as f:
    head = f.read(header.data_start)
  left = rows
  with FileSystems.create(dest) as out:
    out.write(head if head.endswith(b"\n") else head + b"\n")
    for path in files:
      own = formats.get(path, fmt)
      if (own.delimiter, own.escape) != (first.delimiter, first.escape):
        break
      data_start = read_header(path, own).data_start
      with FileSystems.open(path, compression_type="uncompressed") as f:
        f.seek(data_start)
        in_quotes, pending, carry = False, False, b""
        while left > 0:
          chunk = f.read(CHUNK_BYTES)
          if not chunk:
            if carry.strip():
              out.write(carry + b"\n")
              left -= 1
            break
          ends = _ends_in(chunk, in_quotes, own.escape, pending)[:left]
          if ends.size:
            out.write(carry + chunk[:int(ends[-1]) + 1])
            left -= ends.size
            carry = chunk[int(ends[-1]) + 1:]
            quotes, pending = _toggles(carry, own.escape)
          else:
            carry += chunk
            quotes, pending = _toggles(chunk, own.escape, pending)
            quotes += in_quotes
          in_quotes = bool(quotes & 1)
      if left <= 0:
        break
  return dest


def _size(path: str) -> int:
  """The size of `path`, -1 if it cannot be found."""
  try:
    found = FileSystems.match([path])[0].metadata_list
  except Exception:  # Beam wraps "not found" in its own error types
    return -1
  return found[0].size_in_bytes if found else -1


def _short(e: Exception) -> str:
  return str(e).strip().splitlines()[-1][:300] if str(e).strip() else type(
      e).__name__


class _Rejected(Exception):
  """A record rejected before parsing."""


def _stray_quote(raw: bytes, fmt: CsvFormat,
                 quotes: Optional[np.ndarray] = None, base: int = 0) -> bool:
  """Whether a quote that closes a quoted field is followed by anything but
  the delimiter, a line end, another quote or the end: pyarrow would read on
  and join the pieces into one value (`"Acme \\"West\\" Division"` as
  `Acme \\West\\"" Division"`), where Python's csv, strict, rejects the
  record. `raw` starts outside quotes, so quotes alternate open, close.
  `quotes`: their positions (escaped ones left out), if known, counted
  from `base` bytes before `raw`."""
  if quotes is None and raw.find(b'"') < 0:
    return False
  buf = np.frombuffer(raw, np.uint8)
  if quotes is None:
    quotes, base = _unescaped(np.flatnonzero(buf == QUOTE),
                              _escaped(buf, fmt.escape)[0]), 0
  after = quotes[1::2] + (1 - base)
  if after.size and after[-1] >= buf.size:
    after = after[:-1]  # the last byte: the end
  return not _CLOSES[fmt.delimiter][buf[after]].all()


# Per delimiter, the bytes that may follow a closing quote.
_CLOSES = {d: np.isin(np.arange(256), [ord(d), NEWLINE, CR, QUOTE])
           for d in DELIMITERS}


def _arrow(raw: bytes, header: CsvHeader, extra: bool = False):
  """(pyarrow's table of `raw`, or None if it cannot parse it; its invalid
  rows). `extra`: with one more column, after the header's."""
  fmt, names, invalid = header.fmt, list(header.names), []
  if extra:
    names.append("_" * max(map(len, names)) + "_trailing")
  try:
    table = pacsv.read_csv(
        pa.py_buffer(raw),
        read_options=pacsv.ReadOptions(
            column_names=names, encoding=fmt.encoding,
            use_threads=False, block_size=max(1 << 20, len(raw) + 1)),
        parse_options=pacsv.ParseOptions(
            delimiter=fmt.delimiter, newlines_in_values=True,
            escape_char=fmt.escape or False,
            invalid_row_handler=lambda row: invalid.append(row) or "skip"),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False, quoted_strings_can_be_null=False))
  except (pa.ArrowInvalid, UnicodeDecodeError):
    return None, []
  return table, invalid


def _filled(table: pa.Table, column: int) -> bool:
  return bool(pc.max(pc.binary_length(table.column(column))).as_py())


def _longest_field(table: pa.Table) -> int:
  return max((pc.max(pc.binary_length(c)).as_py() or 0)
             for c in table.columns)


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


class CsvSource(FileBasedSource):
  """Reads CSV files as RowBatch elements, plus RejectedRow elements for
  malformed records (ReadCsv separates the two).

  `formats`: a file's own format, where it is not `fmt`; `copies`: a file ->
  its UTF-8 copy (csv_dialect.transcode), read and split in its stead while
  rows and rejections still name the file."""

  def __init__(self, pattern: str, fmt: CsvFormat = CsvFormat(),
               source_name: str = "", batch_rows: int = DEFAULT_BATCH_ROWS,
               files: Optional[List[str]] = None,
               min_split_bytes: int = MIN_SPLIT_BYTES,
               formats: Optional[Dict[str, CsvFormat]] = None,
               copies: Optional[Dict[str, str]] = None):
    # Each split counts the quotes before its start, so splits are kept at
    # 16 MB or more: enough of them to spread work, few enough to scan.
    super().__init__(pattern, min_bundle_size=min_split_bytes,
                     splittable=True, validate=False)
    self._fmt = fmt
    self._name = source_name or pattern
    self._batch_rows = max(1, batch_rows)
    self._files = files if files is not None else match_files(pattern)
    self._file_index = {f: i for i, f in enumerate(self._files)}
    self._formats, self._copies = dict(formats or {}), dict(copies or {})
    self._copy_sizes = {f: _size(c) for f, c in self._copies.items()}
    for f in self._files:
      if not self._formats.get(f, fmt).in_place:
        raise InputError(
            f"{f}: {self._formats.get(f, fmt).encoding} is read from a "
            f"UTF-8 copy: make one with transforms.csv_dialect.transcode "
            f"and pass it in `copies`, with its format")
    self._headers = {}
    # Names this pipeline's reads in the process-wide record checkpoints
    # (each split of the source arrives as an unpickled copy).
    self._run = uuid.uuid4().hex

  @property
  def files(self) -> List[str]:
    return self._files

  def _get_concat_source(self):
    # FileBasedSource lists the pattern again where the job is split, which
    # on a cluster is a worker: a file it cannot see would be read as no
    # rows at all. The job was planned on the files listed at submission.
    concat = super()._get_concat_source()
    seen = {s._file_name for s in concat.sources}
    # Empty files are left out by Beam; only those are asked for a size.
    odd = sorted(seen - set(self._files)) + [
        f for f in self._files if f not in seen and _size(f) != 0]
    if odd:
      raise InputError(f"{self._pattern.get()}: the workers list other files "
                       f"than the job was planned on ({odd[0]}); use "
                       f"absolute paths or storage every worker can reach")
    sizes = self._copy_sizes
    if any(sizes.get(s._file_name, s._stop_offset) != s._stop_offset
           for s in concat.sources):
      # A copied file is split over its copy's bytes, under its own name.
      self._concat_source = concat = ConcatSource([
          _SingleFileSource(s._file_based_source, s._file_name, 0,
                            sizes[s._file_name],
                            min_bundle_size=s._min_bundle_size,
                            splittable=s._splittable)
          if s._file_name in self._copies else s for s in concat.sources])
    return concat

  def open_file(self, file_name):
    return super().open_file(self._copies.get(file_name, file_name))

  def _header(self, file_name: str) -> CsvHeader:
    if file_name not in self._headers:
      self._headers[file_name] = read_header(
          self._copies.get(file_name, file_name),
          self._formats.get(file_name, self._fmt))
    return self._headers[file_name]

  def read_records(self, file_name, range_tracker):
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
    them."""
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
    """(offset, newlines before it) of the first record starting >= begin."""
    if begin == header.data_start:
      return begin, header.lines
    # Quote parity and newline count over [data_start, begin - 1), from the
    # last record start an earlier split of this run read before there.
    start, newlines = _CHECKPOINTS.before(
        (self._run, file_name), begin - 1, (header.data_start, header.lines))
    f.seek(start)
    escape = header.fmt.escape
    quotes, pending = 0, False
    remaining = begin - 1 - start
    while remaining > 0:
      chunk = f.read(min(CHUNK_BYTES, remaining))
      if not chunk:
        return None, 0
      toggles, pending = _toggles(chunk, escape, pending)
      quotes += toggles
      newlines += chunk.count(b"\n")
      remaining -= len(chunk)
    pos = begin - 1
    in_quotes = bool(quotes & 1)
    while True:
      chunk = f.read(CHUNK_BYTES)
      if not chunk:
        return None, 0
      ends = _ends_in(chunk, in_quotes, escape, pending)
      if ends.size:
        end = int(ends[0])
        return pos + end + 1, newlines + chunk.count(b"\n", 0, end + 1)
      toggles, pending = _toggles(chunk, escape, pending)
      in_quotes ^= bool(toggles & 1)
      newlines += chunk.count(b"\n")
      pos += len(chunk)

  def _read_from(self, f, file_name, header, pos, lines_before, tracker):
    f.seek(pos)
    carry = b""
    line = lines_before + 1
    while True:
      chunk = f.read(CHUNK_BYTES)
      eof = not chunk
      data = carry + chunk
      if not data:
        return
      buf = np.frombuffer(data, np.uint8)
      newlines = np.flatnonzero(buf == NEWLINE)
      escaped = _escaped(buf, header.fmt.escape)[0]
      # The quotes that toggle: for the record ends, and the batches' check.
      quotes = _unescaped(np.flatnonzero(buf == QUOTE), escaped)
      ends = _record_ends(buf, newlines=newlines, escaped=escaped,
                          quotes=quotes)
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
              f, data, file_name, header.fmt, pos, line)
          yield rejected
          pos, line = pos + length, line + lines
          continue
        carry = data
        continue
      starts = np.concatenate(([0], ends[:-1] + 1))
      lines = line + np.searchsorted(newlines, starts)
      lengths = ends - starts + 1
      blank = (lengths == 1) | ((lengths == 2) & (buf[starts] == CR))
      keep = ~blank
      if unterminated:
        keep[-1] = bool(_strip_eol(data[starts[-1]:]).strip())
      rec_starts, rec_ends, rec_lines = starts[keep], ends[keep], lines[keep]
      for a in range(0, rec_starts.size, self._batch_rows):
        b = min(a + self._batch_rows, rec_starts.size)
        abs_starts = rec_starts[a:b] + pos
        if not tracker.try_claim(int(abs_starts[0])):
          return
        # Records of a batch are not split points: claiming the last one's
        # position stops any split from landing inside the batch; a split
        # that landed before that call shows in stop_position.
        tracker.set_current_position(int(abs_starts[-1]))
        owned = int(np.searchsorted(abs_starts, tracker.stop_position()))
        yield from self._parse(file_name, header, data, rec_starts[a:a + owned],
                               rec_ends[a:a + owned], abs_starts[:owned],
                               rec_lines[a:a + owned],
                               unterminated and b == rec_starts.size, quotes)
        if owned < b - a:
          return
      last = int(ends[-1])
      line += int(np.searchsorted(newlines, last + 1))
      pos += last + 1
      _CHECKPOINTS.add((self._run, file_name), pos, line - 1)
      carry = data[last + 1:]
      if eof:
        return

  def _skip_record(self, f, data: bytes, file_name: str, fmt: CsvFormat,
                   pos: int, line: int):
    """Reads past a record that starts at `pos` (its first bytes in `data`,
    no end among them) keeping only its head: (RejectedRow, its length, the
    newlines in it, the bytes after it already read)."""
    quotes, pending = _toggles(data, fmt.escape)
    in_quotes = bool(quotes & 1)
    length, newlines, head = len(data), data.count(b"\n"), data[:200]
    rest = b""
    while True:
      chunk = f.read(CHUNK_BYTES)
      if not chunk:
        break
      ends = _ends_in(chunk, in_quotes, fmt.escape, pending)
      if ends.size:
        end = int(ends[0]) + 1
        length += end
        newlines += chunk.count(b"\n", 0, end)
        rest = chunk[end:]
        break
      quotes, pending = _toggles(chunk, fmt.escape, pending)
      in_quotes ^= bool(quotes & 1)
      newlines += chunk.count(b"\n")
      length += len(chunk)
    reason = (f"row is over the limit of {fmt.max_row_bytes} bytes "
              f"(limits.max_row_bytes): {length} bytes"
              + (", up to the end of the file (an unclosed quote?)"
                 if not rest and in_quotes else ""))
    Metrics.counter("crmsync", "rows_rejected").inc()
    text = head.decode(fmt.encoding, errors="replace") + "..."
    return (RejectedRow(self._name, file_name, line, pos, reason, text),
            length, newlines, rest)

  def _parse(self, file_name, header, data, starts, ends, offsets, lines,
             last_unterminated, quotes=None):
    """`quotes`: where the quotes that toggle are in `data`, if known."""
    if starts.size == 0:
      return
    first, last = int(starts[0]), int(ends[-1])
    raw = data[first:last + 1]
    if quotes is not None:
      quotes = quotes[np.searchsorted(quotes, first):np.searchsorted(
          quotes, last + 1)]
    fmt = header.fmt
    # Rows too long or holding a NUL byte are rejected by the slow path.
    suspect = (ends - starts + 1 > fmt.max_row_bytes).any() or (
        raw.find(b"\x00") >= 0)
    table = None if last_unterminated or suspect else self._parse_fast(
        raw, header, quotes, first)
    if table is not None and table.num_rows != starts.size:
      table = None
    if (table is not None and len(raw) > fmt.max_field_bytes
        and _longest_field(table) > fmt.max_field_bytes):
      table = None
    rejected = []
    good = np.arange(starts.size)
    if table is None:
      table, good = self._parse_slow(file_name, header, data, starts, ends,
                                     offsets, lines, rejected,
                                     last_unterminated)
    columns = [c.combine_chunks() for c in table.columns] + [
        pa.array(offsets[good], pa.int64()), pa.array(lines[good], pa.int64())]
    names = list(header.names) + [OFFSET_COL, LINE_COL]
    batch = pa.RecordBatch.from_arrays(columns, names=names)
    file_index = self._file_index.get(file_name, 0)
    # Elements come out in record order (rows before a rejected record, the
    # rejection, the rows after it), whatever the batching.
    done = 0
    for r in rejected:
      upto = int(np.searchsorted(offsets[good], r.offset))
      if upto > done:
        yield RowBatch(file_index, batch.slice(done, upto - done))
      yield r
      done = upto
    if batch.num_rows > done:
      yield RowBatch(file_index, batch.slice(done))

  def _parse_fast(self, raw: bytes, header: CsvHeader,
                  quotes: Optional[np.ndarray] = None,
                  base: int = 0) -> Optional[pa.Table]:
    """The batch's rows by pyarrow; None sends it to the slow path: a
    malformed row, or a quote pyarrow would read past (`_stray_quote`).
    In a file whose rows end with a delimiter the header lacks, a batch is
    parsed with one more column, dropped when it is empty throughout."""
    fmt, width = header.fmt, len(header.names)
    if _stray_quote(raw, fmt, quotes, base):
      return None
    extra = fmt.trailing
    table, invalid = _arrow(raw, header, extra)
    if extra and (table is None or invalid or _filled(table, width)):
      extra = False  # rows without the extra delimiter: maybe all of them
      table, invalid = _arrow(raw, header, extra)
    if table is None or invalid:
      return None
    return table.remove_column(width) if extra else table

  def _parse_slow(self, file_name, header, data, starts, ends, offsets, lines,
                  rejected, last_unterminated):
    """Record by record with Python's csv module; bad records are rejected."""
    fmt, width = header.fmt, len(header.names)
    rows, good = [], []
    max_row, max_field = fmt.max_row_bytes, fmt.max_field_bytes
    # Python's csv module has a field limit of its own (128 KB by default).
    csv.field_size_limit(max(max_field, csv.field_size_limit()))
    for k in range(starts.size):
      raw = _strip_eol(data[int(starts[k]):int(ends[k]) + 1])
      reason = None
      if len(raw) > max_row:
        reason = (f"row is over the limit of {max_row} bytes "
                  f"(limits.max_row_bytes): {len(raw)} bytes")
        raw = raw[:200]
      try:
        if reason:
          raise _Rejected(reason)
        text = raw.decode(fmt.encoding)
        if last_unterminated and k == starts.size - 1 and (
            _toggles(raw, fmt.escape)[0] & 1):
          lines_over = raw.count(NEWLINE_BYTE) + 1
          raise csv.Error(f"unclosed quote: the field runs to the end of the "
                          f"file, over {lines_over} lines")
        if b"\x00" in raw:
          raise _Rejected("a NUL byte: binary data, not text")
        parsed = list(csv.reader(io.StringIO(text, newline=""),
                                 delimiter=fmt.delimiter,
                                 escapechar=fmt.escape, strict=True))
        if fmt.trailing and len(parsed) == 1 and (
            len(parsed[0]) == width + 1 and not parsed[0][-1]):
          parsed[0].pop()  # a trailing delimiter
        if len(parsed) > 1 and b"\r" in raw:
          reason = ("a bare carriage return (CR) outside quotes: only LF "
                    "and CRLF end a line")
        elif len(parsed) != 1 or len(parsed[0]) != width:
          found = len(parsed[0]) if len(parsed) == 1 else "several records"
          reason = f"expected {width} fields, found {found}"
          if found == width + 1 and not parsed[0][-1]:
            reason += (" (a trailing delimiter, which most of the file's "
                       "rows lack)")
        else:
          big = [i for i, v in enumerate(parsed[0]) if len(v) * 4 > max_field
                 and len(v.encode(fmt.encoding)) > max_field]
          if big:
            reason = (f"field {header.names[big[0]]!r} is over the limit of "
                      f"{max_field} bytes (limits.max_field_bytes)")
            text = text[:200] + "..."
      except UnicodeDecodeError as e:
        text = raw.decode(fmt.encoding, errors="replace")
        # A copy's offsets are not the user's file's: no byte given.
        reason = (f"not valid {fmt.label}: undecodable bytes"
                  if fmt.decoded_from else f"not valid {fmt.encoding}: "
                  f"{e.reason} at byte {e.start} of the row")
      except csv.Error as e:
        reason = f"malformed quoting ({e})"
      except _Rejected as e:
        reason = str(e)
        text = raw.decode(fmt.encoding, errors="replace")
        text = text if len(text) <= 200 else text[:200] + "..."
      if reason and fmt.escape is None and b'\\"' in raw and (
          reason.startswith(("malformed", "expected"))):
        reason += ('; the record holds \\" (quotes escaped by a '
                   'backslash?): set csv.escape: "\\\\"')
      if reason:
        Metrics.counter("crmsync", "rows_rejected").inc()
        rejected.append(RejectedRow(self._name, file_name, int(lines[k]),
                                    int(offsets[k]), reason, text))
      else:
        rows.append(parsed[0])
        good.append(k)
    columns = [pa.array([r[i] for r in rows], pa.string())
               for i in range(width)]
    return (pa.Table.from_arrays(columns, names=list(header.names)),
            np.array(good, dtype=np.int64))


class _SplitRowsAndRejects(beam.DoFn):

  def __init__(self, source_name: str):
    self._name = source_name

  def setup(self):
    self._rows = Metrics.counter("crmsync", f"rows_read[{self._name}]")
    self._progress = Progress(f"read {self._name}")

  def process(self, element):
    if isinstance(element, RejectedRow):
      yield beam.pvalue.TaggedOutput("rejected", element)
    else:
      self._rows.inc(element.num_rows)
      self._progress.add(element.num_rows)
      yield element


class ReadCsv(beam.PTransform):
  """Reads a CSV path or glob (local or s3://) as RowBatch elements.

  Returns a tuple-like result: `.rows` (RowBatch) and `.rejected`
  (RejectedRow). Files are matched and their headers read when the transform
  is built, so a missing file or bad header fails before anything runs.
  """

  def __init__(self, pattern: str, fmt: CsvFormat = CsvFormat(),
               source_name: str = "", batch_rows: int = DEFAULT_BATCH_ROWS,
               files: Optional[List[str]] = None,
               formats: Optional[Dict[str, CsvFormat]] = None,
               copies: Optional[Dict[str, str]] = None):
    super().__init__()
    self._name = source_name or pattern
    # `files`: the pattern's files when the caller has listed them already;
    # `formats`, `copies`: as CsvSource takes them.
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
