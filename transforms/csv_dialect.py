"""CSV dialects: how each input file is written, resolved once per file when
the job is planned, so that every split of a file reads it the same way.

What the settings leave open, the file's first bytes decide: a BOM its
encoding (a UTF-16 or UTF-32 BOM whatever `csv.encoding` says), Excel's
`sep=;` first line its delimiter, and a sample of its first megabyte the
delimiter (`csv.delimiter: auto`), whether quotes are escaped by a
backslash (`csv.escape: auto`: a `\\"` inside a value, and no doubled quote)
and whether rows end with a delimiter the header lacks. That last one is the file's trait, not a row's: a stray quote
can make one row look so (`"a,b"` cut by a quote into `"a",b"`).

Records are found on raw bytes (csv_scan), which needs an encoding whose quote,
delimiters and line ends are single bytes that occur in no other character:
UTF-8 and the 8-bit code pages. A file in any other encoding (UTF-16, UTF-32,
Shift JIS, ...) is transcoded to UTF-8 once, at submission, and the copy is
read and split instead; reports still name the user's file.
"""

import codecs
import csv
import functools
import io
import os
import re
from dataclasses import dataclass, replace
from typing import Iterator, Optional, Tuple

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from crmsync.transforms import csv_views
from crmsync.transforms.errors import ConfigError, InputError, short_error

DELIMITERS = (",", ";", "\t", "|")  # also the order that breaks a tie
ESCAPES = ("auto", "none", "\\")
# Compressed inputs, decompressed by Beam's file systems (zstd through the
# zstandard package Beam uses).
COMPRESSIONS = {"gzip": CompressionTypes.GZIP,
                "bzip2": CompressionTypes.BZIP2,
                "zstd": CompressionTypes.ZSTD}
_EXTENSIONS = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bzip2",
               ".zst": "zstd", ".zstd": "zstd"}
SAMPLE_BYTES = 1 << 20  # what `auto` looks at, per file
SAMPLE_RECORDS = 1000
# Longest BOM first: UTF-32-LE's starts with UTF-16-LE's.
BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"))
# Bytes that are not valid in a file's encoding become this byte in its UTF-8
# copy: UTF-8 never has it, so the record holding it is rejected when read.
UNDECODABLE = "crmsync.undecodable"


@functools.lru_cache(maxsize=1)
def _undecodable() -> str:
  """The error handler's name, registered on first use (not on import)."""
  codecs.register_error(UNDECODABLE, lambda e: ("\udcff", e.end))
  return UNDECODABLE
# `\"` that does not end a field (then it could be a value ending in a
# backslash): quotes escaped by a backslash. RFC 4180 writers never write
# it (a quote in a value is doubled: `\""`).
_ESCAPED_QUOTE = re.compile(r'(?<!\\)(?:\\\\)*\\"(?![,;\t|\r\n"]|$)')
# A doubled quote inside a value (not an empty field, not `\""`): RFC 4180.
_DOUBLED_QUOTE = re.compile(r'(?<=[^\\,;\t|\r\n"])""')
_SEP_LINE = re.compile(r'"?sep=(.)"?[ \t]*(?:\r?\n|$)', re.I)
_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
_ASCII = "".join(map(chr, range(128)))


@functools.lru_cache(maxsize=None)
def reads_in_place(encoding: str) -> bool:
  """Whether records can be found on a file's own bytes: ASCII reads as
  ASCII and no other character holds a byte below 0x80 (Shift JIS, GBK and
  Big5 hide backslashes and pipes in their second bytes)."""
  name = codecs.lookup(encoding).name
  if name in ("utf-8", "utf-8-sig"):
    return True
  try:
    if bytes(range(128)).decode(name) != _ASCII:
      return False
  except UnicodeDecodeError:
    return False
  non_ascii = "".join(chr(c) for c in range(0x80, 0x10000)
                      if not 0xD800 <= c < 0xE000)
  return not non_ascii.encode(name, "ignore").translate(
      None, bytes(range(128, 256)))


@dataclass(frozen=True)
class CsvFormat:
  """How a file is written (a UTF-8 BOM and CRLF line ends are handled
  regardless), and the largest field and record accepted: bigger ones are
  rejected. `escape`: the character that escapes the next one (a quote, in
  `\\"`), or None (RFC 4180: a quote inside quotes is doubled). `sep_line`:
  the first line is Excel's `sep=;`, the header the next one.
  `trailing`: rows end with one more delimiter than the header, read as
  if it were absent. `decoded_from`: of a UTF-8 copy, the encoding of the
  file it was made from, for messages. `compression`: gzip, bzip2 or
  zstd, or None; a compressed file is read from a plain copy too (a
  compressed stream has no byte offsets to split it at). `view`: excel or
  parquet for a file read as CSV text (transforms/csv_views.py), of
  `sheet` for a workbook, from a plain copy too."""
  delimiter: str = ","
  encoding: str = "utf-8"
  max_field_bytes: int = 4 << 20
  max_row_bytes: int = 16 << 20
  escape: Optional[str] = None
  sep_line: bool = False
  decoded_from: str = ""
  trailing: bool = False
  compression: Optional[str] = None
  view: Optional[str] = None
  sheet: Optional[str] = None

  def __post_init__(self):
    if self.delimiter not in DELIMITERS:
      raise InputError(
          f"csv.delimiter {self.delimiter!r} is not supported "
          f"(use one of , ; | or tab)")
    if self.escape not in (None, "\\"):
      raise InputError(f"csv.escape {self.escape!r} is not supported "
                       f"(use a backslash, or none)")
    try:
      codecs.lookup(self.encoding)
    except LookupError:
      raise InputError(f"csv.encoding {self.encoding!r} is not a known "
                       f"encoding") from None
    if self.compression not in (None, *COMPRESSIONS):
      raise InputError(f"csv.compression {self.compression!r} is not "
                       f"supported (use {', '.join(COMPRESSIONS)} or none)")

  @property
  def in_place(self) -> bool:
    """Read as it is (else from a UTF-8 copy: see `transcode`)."""
    return (reads_in_place(self.encoding) and not self.compression
            and not self.view)

  @property
  def label(self) -> str:
    """The encoding of the user's file."""
    return self.decoded_from or self.encoding


def bom_of(head: bytes) -> Tuple[Optional[str], int]:
  """(the encoding a BOM at the start of `head` says, its length)."""
  for bom, name in BOMS:
    if head.startswith(bom):
      return name, len(bom)
  return None, 0


def view_chunks(f, fmt: CsvFormat, size: int = 1 << 16) -> Iterator[bytes]:
  """The bytes csv_scan scans, from a file open as `f`: the file's own, or,
  for an encoding read from a copy, its text as UTF-8 (BOM dropped): the
  bytes of that copy."""
  if fmt.in_place:
    while True:
      chunk = f.read(size)
      if not chunk:
        return
      yield chunk
  decoder = codecs.getincrementaldecoder(fmt.encoding)(errors=_undecodable())
  first = True
  while True:
    raw = f.read(size)
    text = decoder.decode(raw, final=not raw)
    if first and text:
      text, first = text.removeprefix("\ufeff"), False
    if text:
      yield text.encode("utf-8", "surrogateescape")
    if not raw:
      return


def read_view(f, fmt: CsvFormat, size: int) -> bytes:
  """The first `size` bytes of `view_chunks(f, fmt)`."""
  parts, got = [], 0
  for chunk in view_chunks(f, fmt):
    parts.append(chunk)
    got += len(chunk)
    if got >= size:
      break
  return b"".join(parts)[:size]


def compression_of(path: str, setting: str = "auto") -> Optional[str]:
  """A file's compression: `setting` (gzip, bzip2, zstd or none), or with
  `auto` its name's extension (.gz, .bz2, .zst)."""
  if setting == "auto":
    return _EXTENSIONS.get(os.path.splitext(path)[1].lower())
  return None if setting == "none" else setting


def open_input(path: str, fmt: CsvFormat):
  """The file's bytes (decompressed, for a compressed one; a CSV text of
  a workbook's sheet or a Parquet file); InputError if it cannot be
  opened."""
  if fmt.view:
    return csv_views.open_view(path, fmt.view, fmt.sheet)
  return _open(path, fmt.compression)


def _open(path: str, compression: Optional[str] = None):
  try:
    f = FileSystems.open(path, compression_type=COMPRESSIONS.get(
        compression, CompressionTypes.UNCOMPRESSED))
  except Exception as e:  # Beam wraps the OS error in its own type.
    text = str(e).strip()
    raise InputError(f"{path}: cannot open "
                     f"({text.splitlines()[-1][:300] if text else e!r})"
                     ) from None
  return _Checked(f, path, compression) if compression else f


class _Checked:
  """A decompressing file whose decoding errors (a truncated or corrupt
  stream, or a plain file named .gz) are InputErrors naming the file."""

  def __init__(self, f, path: str, compression: str):
    self._f, self._path, self._compression = f, path, compression

  def read(self, size: int = -1) -> bytes:
    try:
      return self._f.read(size)
    except Exception as e:  # zlib.error, OSError, EOFError, ZstdError
      raise InputError(f"{self._path}: not readable as {self._compression} "
                       f"({short_error(e)}); set csv.compression if the "
                       f"name's extension is wrong") from None

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self._f.close()

  def close(self):
    self._f.close()


def _head(path: str, size: int, compression: Optional[str] = None) -> bytes:
  with _open(path, compression) as f:
    parts, left = [], size
    while left > 0:
      chunk = f.read(left)
      if not chunk:
        break
      parts.append(chunk)
      left -= len(chunk)
  return b"".join(parts)


def check_settings(delimiter: str, encoding: str, escape: str,
                   where: str = "csv"):
  """ConfigError naming the key and value of a setting crmsync cannot use."""
  if delimiter != "auto" and delimiter not in DELIMITERS:
    raise ConfigError(f"{where}.delimiter: {delimiter!r} is not supported "
                      f"(use , ; | tab or auto)")
  try:
    codecs.lookup(encoding)
  except LookupError:
    raise ConfigError(f"{where}.encoding: {encoding!r} is not a known "
                      f"encoding") from None
  if escape not in ESCAPES:
    raise ConfigError(f'{where}.escape: {escape!r} is not supported (use '
                      f'auto, none or "\\\\")')


def resolve(path: str, delimiter: Optional[str] = ",",
            encoding: str = "utf-8", escape: str = "auto", *,
            max_field_bytes: int = 4 << 20, max_row_bytes: int = 16 << 20,
            where: str = "csv", compression: str = "auto",
            view: str = "auto", sheet: Optional[str] = None) -> CsvFormat:
  """The format of the file at `path` under these settings (`auto`
  decided on its first megabyte). A `sep=` first line sets the delimiter
  whatever `delimiter` says: the file states it. `delimiter` None: not
  set, so `,` but for a UTF-16 or UTF-32 file (by its BOM or `encoding`),
  whose delimiter is detected (Excel's "Unicode Text" is tab-delimited).
  `compression`: as `compression_of` takes it; `view`: as
  csv_views.view_of takes it (a workbook or a Parquet file is read as
  comma-separated UTF-8 text, of its first sheet or `sheet`)."""
  kind = csv_views.view_of(path, view)
  if kind:
    text = CsvFormat(view=kind, sheet=sheet)
    with open_input(path, text) as f:
      head = f.read(SAMPLE_BYTES)
    return replace(text, max_field_bytes=max_field_bytes,
                   max_row_bytes=max_row_bytes, trailing=_trailing(
                       head.decode("utf-8", "replace"), ",", None,
                       len(head) < SAMPLE_BYTES))
  compressed = compression_of(path, compression)
  head = _head(path, SAMPLE_BYTES, compressed)
  found, bom = bom_of(head)
  check_settings(delimiter or ",", encoding, escape, where)
  name = found or encoding
  name = "utf-8" if codecs.lookup(name).name == "utf-8-sig" else name
  if delimiter is None:
    wide = codecs.lookup(name).name.startswith(("utf-16", "utf-32"))
    delimiter = "auto" if wide else ","
  complete = len(head) < SAMPLE_BYTES
  decoder = codecs.getincrementaldecoder(name)(errors="replace")
  text = decoder.decode(head[bom:], final=complete).removeprefix("\ufeff")
  sep = _SEP_LINE.match(text)
  if sep:
    if sep.group(1) not in DELIMITERS:
      raise InputError(f"{path}: line 1: sep={sep.group(1)!r} is not a "
                       f"supported delimiter (, ; | or tab)")
    text = text[sep.end():]
  esc = {"none": None, "\\": "\\"}.get(escape) if escape != "auto" else (
      "\\" if '\\"' in text and _ESCAPED_QUOTE.search(text)
      and not _DOUBLED_QUOTE.search(text) else None)
  if sep:
    delimiter = sep.group(1)
  elif delimiter == "auto":
    delimiter = detect_delimiter(text, esc, complete)
  return CsvFormat(delimiter, name, max_field_bytes, max_row_bytes, esc,
                   bool(sep), trailing=_trailing(text, delimiter, esc,
                                                 complete),
                   compression=compressed)


def _trailing(text: str, delimiter: str, escape: Optional[str],
              complete: bool) -> bool:
  """Whether most sampled records hold one field more than the header, an
  empty one: a delimiter at the end of each row."""
  rows = _records(text, delimiter, escape, complete)
  body = [r for r in rows[1:] if r]
  width = len(rows[0]) if rows else 0
  return 2 * sum(len(r) == width + 1 and not r[-1] for r in body) > len(body)


def _records(text: str, delimiter: str, escape: Optional[str],
             complete: bool):
  rows = []
  reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                      escapechar=escape)
  try:
    for row in reader:
      rows.append(row)
      if len(rows) > SAMPLE_RECORDS:
        break
  except csv.Error:
    complete = False  # a sample cut inside a quoted field, or binary data
  return rows if complete or len(rows) < 2 else rows[:-1]


def detect_delimiter(text: str, escape: Optional[str] = None,
                     complete: bool = True) -> str:
  """The delimiter of `text` (a header and records): of , ; tab and |,
  those that split the header into two fields or more and every sampled
  record into as many (or one more, empty: a trailing delimiter) win; then
  the one with the most header fields; then the first in that order. When
  none fits every record, the one that fits most of them; when none splits
  the header, `,` (a file of one column)."""
  best, best_key = ",", None
  for rank, d in enumerate(DELIMITERS):
    rows = _records(text, d, escape, complete)
    width = len(rows[0]) if rows else 0
    if width < 2:
      continue
    body = [r for r in rows[1:] if r]
    fits = sum(len(r) == width or (len(r) == width + 1 and not r[-1])
               for r in body)
    key = (fits / len(body) if body else 1.0, width, -rank)
    if best_key is None or key > best_key:
      best, best_key = d, key
  return best


def describe(fmt: CsvFormat, delimiter: Optional[str] = ",",
             encoding: str = "utf-8", escape: str = "auto") -> str:
  """What was found for one file, for `crmsync validate` (the settings as
  given to `resolve`)."""
  how = (" (sep= line)" if fmt.sep_line else " (detected)" if (
      delimiter == "auto" or delimiter is None and fmt.delimiter != ",")
         else "")
  plain = {"utf-8-sig": "utf-8"}
  found, configured = (plain.get(n, n) for n in (
      codecs.lookup(fmt.label).name, codecs.lookup(encoding).name))
  text = [f"delimiter {_NAMES[fmt.delimiter]}{how}",
          f"encoding {fmt.label}" + (" (BOM)" if found != configured else "")
          + (f", {fmt.compression}" if fmt.compression else "")
          + (f", {fmt.view}" + (f" sheet {fmt.sheet!r}" if fmt.sheet else "")
             if fmt.view else "")
          + ("" if fmt.in_place else ", read from a UTF-8 copy"),
          *(["rows end with a delimiter the header lacks"]
            if fmt.trailing else []),
          ("quotes escaped by a backslash" if fmt.escape else
           "quotes doubled")
          + (" (detected)" if escape == "auto" and fmt.escape else
             " (no backslash-escaped quote found)" if escape == "auto"
             else "")]
  return ", ".join(text)


def transcode(path: str, fmt: CsvFormat, dest: str) -> CsvFormat:
  """Writes the text of `path` to `dest` as UTF-8, chunk by chunk (the
  lines stay where they were: reports give the same line numbers), and
  returns the copy's format. Bytes not valid in `fmt.encoding` become a
  byte UTF-8 rejects, so their record is rejected with its line."""
  with open_input(path, fmt) as f, FileSystems.create(
      dest, compression_type="uncompressed") as out:
    for chunk in view_chunks(f, fmt, 1 << 22):
      out.write(chunk)
  return replace(fmt, encoding="utf-8", decoded_from=fmt.label,
                 compression=None, view=None, sheet=None)
