"""Parsing records found in CSV bytes into Arrow rows and rejections.

pyarrow parses a whole batch of records in one call. Only a batch that holds
a malformed record (or one pyarrow would read differently from Python's csv
module: a stray quote, a NUL byte, a record or field over the limits) is
parsed again record by record with Python's csv module, so the bad records
can be rejected with their line and reason.
"""

import csv
import io
from typing import Iterator, Optional, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from crmsync.transforms.columns import LINE_COL, OFFSET_COL
from crmsync.transforms.csv_dialect import DELIMITERS, CsvFormat
from crmsync.transforms.csv_files import CsvHeader
from crmsync.transforms.csv_scan import (CR, NEWLINE, QUOTE, QuoteScan,
                                         strip_eol)
from crmsync.transforms.rows import RejectedRow, RowBatch

# Per delimiter, the bytes that may follow a closing quote.
_CLOSES = {d: np.isin(np.arange(256), [ord(d), NEWLINE, CR, QUOTE])
           for d in DELIMITERS}
_RAW_HEAD = 200  # characters of a rejected record kept for the report


class _Rejected(Exception):
  """A record rejected before parsing."""


class RecordParser:
  """Parses the records of one file of a source into RowBatch elements and
  RejectedRow elements (malformed records), in record order.

  `source_name` and `file_name` name the rejections; `file_index` is the
  rows' RowBatch.file_index; `header` gives the column names and format.
  """

  def __init__(self, source_name: str, file_name: str, file_index: int,
               header: CsvHeader):
    self._name, self._file = source_name, file_name
    self._file_index, self._header = file_index, header

  def rejected(self, line: int, offset: int, reason: str,
               text: str) -> RejectedRow:
    return RejectedRow(self._name, self._file, line, offset, reason, text)

  def parse(self, data: bytes, starts: np.ndarray, ends: np.ndarray,
            offsets: np.ndarray, lines: np.ndarray, quotes: np.ndarray,
            last_unterminated: bool
            ) -> Iterator[Union[RowBatch, RejectedRow]]:
    """The rows and rejections of the records `data[starts[k]:ends[k] + 1]`
    (int64 arrays: ascending positions in `data`, an end at the record's
    newline or last byte). `offsets`, `lines`: each record's byte offset in
    the file and 1-based line, for the rows' bookkeeping columns and the
    rejections. `quotes`: the positions in `data` of the quotes that toggle
    quoting (QuoteScan.quotes). `last_unterminated`: the last record runs
    to the end of the file with no line end."""
    if starts.size == 0:
      return
    first, last = int(starts[0]), int(ends[-1])
    raw = data[first:last + 1]
    quotes = quotes[np.searchsorted(quotes, first):np.searchsorted(
        quotes, last + 1)]
    header = self._header
    fmt = header.fmt
    # Rows too long or holding a NUL byte are rejected by the slow path.
    suspect = (ends - starts + 1 > fmt.max_row_bytes).any() or (
        raw.find(b"\x00") >= 0)
    table = None if last_unterminated or suspect else _parse_fast(
        raw, header, quotes - first)
    if table is not None and table.num_rows != starts.size:
      table = None
    if (table is not None and len(raw) > fmt.max_field_bytes
        and _longest_field(table) > fmt.max_field_bytes):
      table = None
    rejected = []
    good = np.arange(starts.size)
    if table is None:
      table, good = self._parse_slow(data, starts, ends, offsets, lines,
                                     rejected, last_unterminated)
    columns = [c.combine_chunks() for c in table.columns] + [
        pa.array(offsets[good], pa.int64()), pa.array(lines[good], pa.int64())]
    names = list(header.names) + [OFFSET_COL, LINE_COL]
    batch = pa.RecordBatch.from_arrays(columns, names=names)
    # Elements come out in record order (rows before a rejected record, the
    # rejection, the rows after it), whatever the batching.
    done = 0
    for r in rejected:
      upto = int(np.searchsorted(offsets[good], r.offset))
      if upto > done:
        yield RowBatch(self._file_index, batch.slice(done, upto - done))
      yield r
      done = upto
    if batch.num_rows > done:
      yield RowBatch(self._file_index, batch.slice(done))

  def _parse_slow(self, data, starts, ends, offsets, lines, rejected,
                  last_unterminated):
    """Record by record with Python's csv module: (the good records' table,
    their indices in `starts`); bad records are appended to `rejected`."""
    header = self._header
    fmt, width = header.fmt, len(header.names)
    rows, good = [], []
    max_row, max_field = fmt.max_row_bytes, fmt.max_field_bytes
    # Python's csv module has a field limit of its own (128 KB by default).
    csv.field_size_limit(max(max_field, csv.field_size_limit()))
    for k in range(starts.size):
      raw = strip_eol(data[int(starts[k]):int(ends[k]) + 1])
      reason = None
      if len(raw) > max_row:
        reason = (f"row is over the limit of {max_row} bytes "
                  f"(limits.max_row_bytes): {len(raw)} bytes")
        raw = raw[:_RAW_HEAD]
      try:
        if reason:
          raise _Rejected(reason)
        text = raw.decode(fmt.encoding)
        if last_unterminated and k == starts.size - 1 and (
            QuoteScan(raw, fmt.escape).after.in_quotes):
          lines_over = raw.count(b"\n") + 1
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
            text = text[:_RAW_HEAD] + "..."
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
        text = text if len(text) <= _RAW_HEAD else text[:_RAW_HEAD] + "..."
      if reason and fmt.escape is None and b'\\"' in raw and (
          reason.startswith(("malformed", "expected"))):
        reason += ('; the record holds \\" (quotes escaped by a '
                   'backslash?): set csv.escape: "\\\\"')
      if reason:
        rejected.append(self.rejected(int(lines[k]), int(offsets[k]), reason,
                                      text))
      else:
        rows.append(parsed[0])
        good.append(k)
    columns = [pa.array([r[i] for r in rows], pa.string())
               for i in range(width)]
    return (pa.Table.from_arrays(columns, names=list(header.names)),
            np.array(good, dtype=np.int64))


def _parse_fast(raw: bytes, header: CsvHeader,
                quotes: np.ndarray) -> Optional[pa.Table]:
  """The rows of `raw` (whole records) by pyarrow; None sends them to the
  slow path: a malformed row, or a quote pyarrow would read past
  (`_stray_quote`; `quotes`: the toggling quotes' positions in `raw`). In a
  file whose rows end with a delimiter the header lacks, a batch is parsed
  with one more column, dropped when it is empty throughout."""
  fmt, width = header.fmt, len(header.names)
  if _stray_quote(raw, fmt, quotes):
    return None
  extra = fmt.trailing
  table, invalid = _arrow(raw, header, extra)
  if extra and (table is None or invalid or _filled(table, width)):
    extra = False  # rows without the extra delimiter: maybe all of them
    table, invalid = _arrow(raw, header, extra)
  if table is None or invalid:
    return None
  return table.remove_column(width) if extra else table


def _stray_quote(raw: bytes, fmt: CsvFormat, quotes: np.ndarray) -> bool:
  """Whether a quote that closes a quoted field is followed by anything but
  the delimiter, a line end, another quote or the end: pyarrow would read on
  and join the pieces into one value (`"Acme \\"West\\" Division"` as
  `Acme \\West\\"" Division"`), where Python's csv, strict, rejects the
  record. `raw` starts outside quotes, so `quotes` (the positions of the
  toggling quotes in `raw`) alternate open, close."""
  after = quotes[1::2] + 1
  if after.size and after[-1] >= len(raw):
    after = after[:-1]  # the last byte: the end
  return not _CLOSES[fmt.delimiter][np.frombuffer(raw, np.uint8)[after]].all()


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
