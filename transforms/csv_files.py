"""The input files of a CSV read, before any row is read: listing a path
or glob, their sizes, their header records, and the sample the CLI's
`--sample N` runs a job on.

Offsets and sizes are in bytes of what the source reads: for a file in an
encoding read from a UTF-8 copy (csv_dialect.transcode), of that copy.
Errors the user can fix are InputErrors that name the file (and line).
"""

import codecs
import csv
import io
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from apache_beam.io.filesystems import FileSystems

from crmsync.transforms import csv_scan
from crmsync.transforms.columns import check_header
from crmsync.transforms.csv_dialect import CsvFormat, open_input, view_chunks
from crmsync.transforms.csv_scan import QuoteScan, strip_eol
from crmsync.transforms.errors import InputError, short_error

UTF8_BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class CsvHeader:
  """A file's header record, and where its data records start."""
  names: Tuple[str, ...]
  data_start: int  # byte offset of the first data record
  lines: int  # physical lines the header (and BOM, sep= line) occupy
  fmt: CsvFormat = CsvFormat()  # the format it was read with


def match_files(pattern: str) -> List[str]:
  """The files a path or glob names, sorted: their order is the row order.
  InputError if it cannot be listed or names no file."""
  try:
    result = FileSystems.match([pattern])[0]
  except Exception as e:
    raise InputError(f"{pattern}: cannot list ({short_error(e)})") from None
  files = sorted(m.path for m in result.metadata_list)
  if not files:
    raise InputError(f"{pattern}: no such file")
  return files


def file_size(path: str) -> int:
  """The size of `path` in bytes, -1 if it cannot be found."""
  try:
    found = FileSystems.match([path])[0].metadata_list
  except Exception:  # Beam wraps "not found" in its own error types
    return -1
  return found[0].size_in_bytes if found else -1


def _header_start(head: bytes, fmt: CsvFormat) -> int:
  """Where the header starts in `head`: after a BOM and a `sep=` line."""
  start = len(UTF8_BOM) if head.startswith(UTF8_BOM) else 0
  if fmt.sep_line:
    line_end = head.find(b"\n", start)
    return len(head) if line_end < 0 else line_end + 1
  return start


def read_header(path: str, fmt: CsvFormat = CsvFormat()) -> CsvHeader:
  """Reads the header record of `path`. InputError if the file cannot be
  opened or its header is empty, undecodable, malformed, holds a bare CR,
  a duplicate column name or one in crmsync's namespace
  (columns.check_header)."""
  f = open_input(path, fmt)
  at = 2 if fmt.sep_line else 1  # the header's line
  with f:
    head = b""
    chunks = view_chunks(f, fmt)
    while True:
      chunk = next(chunks, b"")
      head += chunk
      start = _header_start(head, fmt)
      ends = QuoteScan(head[start:], fmt.escape).ends
      if ends.size or not chunk:
        break
  end = start + int(ends[0]) + 1 if ends.size else len(head)
  raw = strip_eol(head[start:end])
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
  # Before stripping: Python counts the reserved character as whitespace.
  check_header(rows[0], f"{path}: line {at}")
  names = tuple(n.strip() or f"column_{i + 1}" for i, n in enumerate(rows[0]))
  seen = {}
  for i, n in enumerate(names):
    if n in seen:
      raise InputError(f"{path}: line {at}: duplicate column name {n!r} "
                       f"(columns {seen[n] + 1} and {i + 1})")
    seen[n] = i
  return CsvHeader(names, end, head[:end].count(b"\n"), fmt)


def shared_header(files: List[str], fmt: CsvFormat = CsvFormat(),
                  formats: Optional[Dict[str, CsvFormat]] = None):
  """The column names (a tuple) all `files` share; InputError if one
  differs. `formats`: a file's own format, where it is not `fmt`."""
  formats = formats or {}
  headers = [read_header(f, formats.get(f, fmt)).names for f in files]
  for f, h in zip(files[1:], headers[1:]):
    if h != headers[0]:
      raise InputError(f"{f}: header differs from {files[0]}'s (all files "
                       f"of one glob must share a header)")
  return headers[0]


def write_sample(files: List[str], fmt: CsvFormat, rows: int,
                 dest: str,
                 formats: Optional[Dict[str, CsvFormat]] = None) -> str:
  """Copies the header and the first `rows` records of `files` (in order)
  to `dest`, byte for byte, so `--sample N` runs the whole job on them;
  returns `dest`. `formats`: a file's own format, where it is not `fmt`;
  the sample stops before a file whose delimiter or escape differs from
  the first file's. A record cut by the end of its file gets a newline."""
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
      left = _copy_records(path, own, read_header(path, own).data_start,
                           left, out)
      if left <= 0:
        break
  return dest


def _copy_records(path: str, fmt: CsvFormat, data_start: int, left: int,
                  out) -> int:
  """Writes up to `left` records of `path`, from `data_start`, to `out`;
  returns how many more the sample wants."""
  with FileSystems.open(path, compression_type="uncompressed") as f:
    f.seek(data_start)
    # `carry`: the bytes after the last record written, and `state`: the
    # quoting the next chunk starts in, after them.
    carry, state = b"", csv_scan.OUTSIDE
    while left > 0:
      chunk = f.read(csv_scan.CHUNK_BYTES)
      if not chunk:
        if carry.strip():
          out.write(carry + b"\n")
          left -= 1
        break
      scan = QuoteScan(chunk, fmt.escape, state)
      ends = scan.ends[:left]
      if ends.size:
        out.write(carry + chunk[:int(ends[-1]) + 1])
        left -= ends.size
        carry = chunk[int(ends[-1]) + 1:]
        state = QuoteScan(carry, fmt.escape).after
      else:
        carry += chunk
        state = scan.after
  return left
