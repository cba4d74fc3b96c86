"""Excel workbooks and Parquet files seen as CSV: a file-like object whose
bytes are the CSV text of a sheet or of a Parquet file's rows, so that the
dialect, the header, the sample and the plain copy the job reads
(csv_dialect.transcode) all treat them as they treat a CSV file.

- Excel (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`): read with
  python-calamine (Rust's calamine), one sheet (the first, or `sheet`).
  Cells are written as Excel shows them with the General format: a whole
  number without `.0` (ZIP 2134 stays 2134, phone 5552013344 keeps its
  digits), dates as ISO 8601, TRUE and FALSE.
- Parquet: read by pyarrow in record batches (a row group at a time, never
  the whole file), every column cast to text.
"""

import csv
import datetime
import io
import os
from typing import Iterator, List, Optional

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from crmsync.transforms.errors import InputError, short_error

EXCEL = "excel"
PARQUET = "parquet"
_EXTENSIONS = {".xlsx": EXCEL, ".xlsm": EXCEL, ".xlsb": EXCEL, ".xls": EXCEL,
               ".ods": EXCEL, ".parquet": PARQUET, ".pq": PARQUET}


def view_of(path: str, setting: str = "auto") -> Optional[str]:
  """The kind of file `path` is read as: `setting` (csv, excel or
  parquet), or with `auto` its name's extension; None for CSV."""
  if setting == "auto":
    return _EXTENSIONS.get(os.path.splitext(path)[1].lower())
  return None if setting == "csv" else setting


def open_view(path: str, kind: str, sheet: Optional[str] = None):
  """A binary file-like object (read, close) of the CSV text of `path`.
  InputError naming the file if it cannot be read as `kind`, or lacks
  `sheet`."""
  try:
    chunks = (_excel_rows(path, sheet) if kind == EXCEL else
              _parquet_rows(path))
    first = next(chunks, b"")
  except InputError:
    raise
  except Exception as e:  # calamine's and Arrow's own errors
    raise InputError(f"{path}: not readable as {kind} ({short_error(e)})"
                     ) from None
  return _Chunks(first, chunks)


class _Chunks(io.RawIOBase):
  """read(size) over an iterator of byte chunks."""

  def __init__(self, first: bytes, rest: Iterator[bytes]):
    self._buffer, self._rest = first, rest

  def readable(self):
    return True

  def read(self, size: int = -1) -> bytes:
    while size < 0 or len(self._buffer) < size:
      chunk = next(self._rest, None)
      if chunk is None:
        break
      self._buffer += chunk
    if size < 0:
      size = len(self._buffer)
    out, self._buffer = self._buffer[:size], self._buffer[size:]
    return out


def _excel_rows(path: str, sheet: Optional[str]) -> Iterator[bytes]:
  from python_calamine import CalamineWorkbook
  with FileSystems.open(path, compression_type="uncompressed") as f:
    book = CalamineWorkbook.from_filelike(f)
  if sheet is None:
    sheet = book.sheet_names[0]
  elif sheet not in book.sheet_names:
    raise InputError(f"{path}: no sheet {sheet!r} (sheets: "
                     f"{', '.join(book.sheet_names)})")
  rows = book.get_sheet_by_name(sheet).iter_rows()
  text = io.StringIO()
  writer = csv.writer(text, lineterminator="\n")
  for n, row in enumerate(rows, 1):
    writer.writerow([_cell(v) for v in row])
    if n % 2000 == 0:
      yield _take(text)
  yield _take(text)


def _take(text: io.StringIO) -> bytes:
  out = text.getvalue().encode("utf-8")
  text.seek(0)
  text.truncate()
  return out


def _cell(value) -> str:
  """A cell as Excel's General format shows it."""
  if isinstance(value, bool):
    return "TRUE" if value else "FALSE"
  if isinstance(value, float):
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 \
        else repr(value)
  if isinstance(value, datetime.datetime):
    return value.isoformat(sep=" ")
  if isinstance(value, (datetime.date, datetime.time)):
    return value.isoformat()
  return "" if value is None else str(value)


def _parquet_rows(path: str) -> Iterator[bytes]:
  with FileSystems.open(path, compression_type="uncompressed") as f:
    parquet = pq.ParquetFile(f)
    names: List[str] = parquet.schema_arrow.names
    yield _csv(pa.table({n: pa.array([], pa.string()) for n in names}),
               header=True)
    for batch in parquet.iter_batches(batch_size=65536):
      yield _csv(pa.Table.from_batches([batch]), header=False)


def _csv(table: pa.Table, header: bool) -> bytes:
  columns = [pc.fill_null(pc.cast(c, pa.string()), "")
             for c in table.columns]
  out = io.BytesIO()
  pacsv.write_csv(pa.table(columns, names=table.column_names), out,
                  pacsv.WriteOptions(include_header=header,
                                     quoting_style="needed"))
  return out.getvalue()
