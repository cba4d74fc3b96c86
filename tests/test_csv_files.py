"""The input files (transforms/csv_files.py): listing, headers, samples."""

import pytest

from crmsync.transforms import csv_scan
from crmsync.transforms.csv_dialect import CsvFormat
from crmsync.transforms.csv_files import (file_size, match_files, read_header,
                                          shared_header, write_sample)
from crmsync.transforms.errors import InputError


def _file(tmp_path, data, name="in.csv"):
  path = tmp_path / name
  path.write_bytes(data)
  return str(path)


def test_header_errors(tmp_path):
  with pytest.raises(InputError, match="file is empty"):
    read_header(_file(tmp_path, b"\xef\xbb\xbf\r\n"))
  with pytest.raises(InputError, match="duplicate column name 'A'"):
    read_header(_file(tmp_path, b"A,B,A\n1,2,3\n"))
  with pytest.raises(InputError, match="no such file|cannot open"):
    read_header(str(tmp_path / "missing.csv"))




def test_header_after_a_bom_and_a_sep_line(tmp_path):
  path = _file(tmp_path, b'\xef\xbb\xbfsep=;\r\nID;"Na\nme"\r\n1;a\r\n')
  header = read_header(path, CsvFormat(";", sep_line=True))
  assert header.names == ("ID", "Na\nme")
  assert header.data_start == 22  # BOM 3 + "sep=;\r\n" 7 + header 12
  assert header.lines == 3  # the sep= line, the quoted newline, the end
  with pytest.raises(InputError, match="line 2: duplicate column name"):
    read_header(_file(tmp_path, b"sep=,\nA,A\n"), CsvFormat(sep_line=True))


def test_listing_sizes_and_a_shared_header(tmp_path):
  for name in ("b.csv", "a.csv", "c.txt"):
    _file(tmp_path, b"ID,N\n", name)
  _file(tmp_path, b"ID;N\n", "d.csv")
  listed = match_files(str(tmp_path / "*.csv"))
  assert listed == [str(tmp_path / n) for n in ("a.csv", "b.csv", "d.csv")]
  with pytest.raises(InputError, match="no such file"):
    match_files(str(tmp_path / "*.tsv"))
  assert file_size(listed[0]) == 5
  assert file_size(str(tmp_path / "missing.csv")) == -1
  assert shared_header(listed[:2]) == ("ID", "N")
  with pytest.raises(InputError, match="d.csv: header differs from .*a.csv"):
    shared_header(listed)
  # d.csv read with its own delimiter shares the header.
  assert shared_header(listed, CsvFormat(),
                       {listed[2]: CsvFormat(";")}) == ("ID", "N")


def _sample(tmp_path, files, rows, fmt=CsvFormat(), formats=None) -> bytes:
  dest = str(tmp_path / "sample.csv")
  assert write_sample(files, fmt, rows, dest, formats) == dest
  with open(dest, "rb") as f:
    return f.read()


def test_sample_copies_the_first_records_byte_for_byte(tmp_path, monkeypatch):
  monkeypatch.setattr(csv_scan, "CHUNK_BYTES", 5)  # records across chunks
  a = _file(tmp_path, b'ID,Note\r\n1,"x\r\ny"\r\n2,b\r\n', "a.csv")
  b = _file(tmp_path, b'ID,Note\n3,"q ""z"""\n4,d', "b.csv")
  assert _sample(tmp_path, [a, b], 1) == b'ID,Note\r\n1,"x\r\ny"\r\n'
  assert _sample(tmp_path, [a, b], 3) == (
      b'ID,Note\r\n1,"x\r\ny"\r\n2,b\r\n3,"q ""z"""\n')
  # The last record, cut by the end of the file, gets a newline.
  assert _sample(tmp_path, [a, b], 10) == (
      b'ID,Note\r\n1,"x\r\ny"\r\n2,b\r\n3,"q ""z"""\n4,d\n')
  # A file written with another delimiter ends the sample.
  assert _sample(tmp_path, [a, b], 10, formats={b: CsvFormat(";")}) == (
      b'ID,Note\r\n1,"x\r\ny"\r\n2,b\r\n')


def test_sample_with_an_escape_across_a_chunk_end(tmp_path, monkeypatch):
  # The data's fifth byte, a backslash, ends the first chunk: it escapes
  # the quote that starts the next one, so the record runs on to `b"`.
  monkeypatch.setattr(csv_scan, "CHUNK_BYTES", 5)
  path = _file(tmp_path, b'ID,N\n1,"a\\"\n,b"\n2,c\n')
  assert _sample(tmp_path, [path], 1, CsvFormat(escape="\\")) == (
      b'ID,N\n1,"a\\"\n,b"\n')
  assert _sample(tmp_path, [path], 1) == b'ID,N\n1,"a\\"\n'
