"""The CSV source (transforms/csv_source.py): quoting, line ends, BOM,
delimiters, encodings, splits within and across files, the re-read."""

import csv
import io
import os

import pytest
from apache_beam.io import source_test_utils
from apache_beam.metrics import Metrics
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import RowTuples, write_csv
from crmsync.transforms.columns import LINE_COL, OFFSET_COL
from crmsync.transforms.csv_dialect import CsvFormat
from crmsync.transforms import csv_scan
from crmsync.transforms.csv_files import read_header
from crmsync.transforms.csv_source import CsvSource
from crmsync.transforms.errors import InputError
from crmsync.transforms.rows import RowBatch

TRICKY = (
    '\ufeffID,Name,Note\r\n'
    '1,"Doe, John","multi\nline"\r\n'
    '2,Jane,"say ""hi"""\r\n'
    '\r\n'
    '3,Bob\r\n'                       # one field short: rejected
    '4,"Zoë",plain\n'
    '5,"a\r\nb","x,y"\n'
    '6,last,no newline at end'
).encode("utf-8")


def _file(tmp_path, data, name="in.csv"):
  path = tmp_path / name
  path.write_bytes(data)
  return str(path)


def test_reads_quoted_fields_crlf_bom_and_rejects_bad_rows(tmp_path):
  rows = source_test_utils.read_from_source(
      RowTuples(_file(tmp_path, TRICKY), batch_rows=3))
  assert rows == [
      ("1", "Doe, John", "multi\nline", 17, 2),
      ("2", "Jane", 'say "hi"', 45, 4),
      ("rejected", 6, "expected 3 fields, found 2"),
      ("4", "Zoë", "plain", 75, 7),
      ("5", "a\r\nb", "x,y", 90, 8),
      ("6", "last", "no newline at end", 105, 10),
  ]


@pytest.mark.parametrize("batch_rows", [1, 2, 100])
@pytest.mark.parametrize("chunk", [1 << 22, 16, 33])
def test_any_split_point_yields_the_same_records(tmp_path, batch_rows, chunk,
                                                 monkeypatch):
  # Small chunks: batches carried over from one chunk to the next.
  monkeypatch.setattr(csv_scan, "CHUNK_BYTES", chunk)
  source = RowTuples(_file(tmp_path, TRICKY), batch_rows=batch_rows)
  source_test_utils.assert_split_at_fraction_exhaustive(source)


@pytest.mark.parametrize("bundle", [1, 5, 17, 40, 1000])
def test_initial_splits_cover_every_record_once(tmp_path, bundle):
  source = RowTuples(_file(tmp_path, TRICKY), batch_rows=2, min_split_bytes=0)
  splits = [(s.source, s.start_position, s.stop_position)
            for s in source.split(desired_bundle_size=bundle)]
  assert len(splits) > 1 or bundle == 1000
  source_test_utils.assert_sources_equal_reference_source(
      (source, None, None), splits)


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("encoding", ["utf-8", "latin-1", "cp1252"])
def test_delimiters_and_encodings(tmp_path, delimiter, encoding):
  name = "Zoë Œuvre" if encoding == "cp1252" else "Zoë Müller"
  buf = io.StringIO()
  w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
  w.writerows([["ID", "Name", "Note"], ["1", name, f"a{delimiter}b"],
               ["2", "Ann", 'q"uote']])
  path = _file(tmp_path, buf.getvalue().encode(encoding))
  fmt = CsvFormat(delimiter, encoding)
  assert read_header(path, fmt).names == ("ID", "Name", "Note")
  rows = source_test_utils.read_from_source(RowTuples(path, fmt))
  assert [r[:3] for r in rows] == [("1", name, f"a{delimiter}b"),
                                   ("2", "Ann", 'q"uote')]


def test_undecodable_bytes_and_unclosed_quote_are_rejected(tmp_path):
  data = b'ID,Name\n1,ok\n2,caf\xe9\n3,"fine"\n4,"never closed\n5,lost\n'
  rows = source_test_utils.read_from_source(RowTuples(_file(tmp_path, data)))
  assert rows[0] == ("1", "ok", 8, 2)
  assert rows[1][:2] == ("rejected", 3) and "not valid utf-8" in rows[1][2]
  assert rows[2] == ("3", "fine", 20, 4)
  assert rows[3][:2] == ("rejected", 5) and "unclosed quote" in rows[3][2]
  assert len(rows) == 4


cell = st.text(alphabet=st.sampled_from(list('ab ,"\n\r;é')), max_size=6)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(cell, min_size=3, max_size=3), min_size=1,
                     max_size=8),
       bundle=st.integers(min_value=1, max_value=64))
def test_random_csv_equals_python_csv_at_random_splits(tmp_path_factory, rows,
                                                      bundle):
  buf = io.StringIO()
  # CRLF so that the writer quotes both \r and \n inside fields.
  csv.writer(buf, lineterminator="\r\n").writerows([["A", "B", "C"]] + rows)
  data = buf.getvalue().encode("utf-8")
  path = _file(tmp_path_factory.mktemp("h"), data)
  expected = [tuple(r) for r in csv.reader(io.StringIO(buf.getvalue(),
                                                       newline=""))][1:]
  source = RowTuples(path, batch_rows=3, min_split_bytes=0)
  got = [r[:3] for s in source.split(desired_bundle_size=bundle)
         for r in source_test_utils.read_from_source(
             s.source, s.start_position, s.stop_position)]
  assert got == expected


def test_source_fails_when_its_workers_list_other_files(tmp_path):
  """A worker that lists the glob and finds other files (relative paths in
  another directory, storage it cannot see) fails instead of reading no
  rows; files that are empty may be absent or extra: they hold no rows."""
  a = write_csv(tmp_path / "a.csv", [["ID"], ["1"]])
  b = write_csv(tmp_path / "b.csv", [["ID"], ["2"]])
  (tmp_path / "c.csv").write_bytes(b"")
  pattern = str(tmp_path / "*.csv")
  ok = CsvSource(pattern, files=[a, b, str(tmp_path / "c.csv")])
  assert len(list(ok.split(1 << 20))) == 2
  unplanned_empty = CsvSource(pattern, files=[a, b])
  assert len(list(unplanned_empty.split(1 << 20))) == 2
  planned_on_one = CsvSource(pattern, files=[a])
  with pytest.raises(InputError, match="the workers list other files than "
                                       "the job was planned on .*b.csv"):
    list(planned_on_one.split(1 << 20))
  gone = CsvSource(str(tmp_path / "a.csv"), files=[a, str(tmp_path / "x.csv")])
  with pytest.raises(InputError, match="x.csv"):
    list(gone.split(1 << 20))


def test_files_lie_end_to_end_and_splits_stop_at_their_ends(tmp_path):
  """Positions run over the planned files in order (an empty one takes
  none); no split crosses a file's end; rows keep their own file's offsets
  and lines; a split at any point of the whole is exact."""
  a = write_csv(tmp_path / "a.csv", [["ID", "N"]] + [
      [str(i), "x" * 9] for i in range(4)])
  empty = str(tmp_path / "b.csv")
  (tmp_path / "b.csv").write_bytes(b"")
  c = write_csv(tmp_path / "c.csv", [["ID", "N"], ["4", "y"], ["5", "z"]])
  source = RowTuples(str(tmp_path / "*.csv"), files=[a, empty, c],
                     batch_rows=2, min_split_bytes=0)
  size_a, size_c = os.path.getsize(a), os.path.getsize(c)
  assert source.estimate_size() == size_a + size_c
  bundles = list(source.split(desired_bundle_size=20))
  assert [(s.start_position, s.stop_position) for s in bundles] == [
      (0, 20), (20, 40), (40, size_a), (size_a, size_a + size_c)]
  assert [s.weight for s in bundles] == [20, 20, size_a - 40, size_c]
  rows = source_test_utils.read_from_source(source)
  assert [r[0] for r in rows] == ["0", "1", "2", "3", "4", "5"]
  assert rows[4] == ("4", "y", 5, 2)  # c.csv's own offset and line
  source_test_utils.assert_sources_equal_reference_source(
      (source, None, None),
      [(s.source, s.start_position, s.stop_position) for s in bundles])
  source_test_utils.assert_split_at_fraction_exhaustive(source)


def test_reread_gives_the_rows_of_a_batch_read_before(tmp_path):
  source = CsvSource(_file(tmp_path, TRICKY), batch_rows=2)
  batches = [b for b in source_test_utils.read_from_source(source)
             if isinstance(b, RowBatch)]
  # 1 2 | 4 (3 rejected) | 5 6: the last record, with no line end, is
  # parsed once the end of the file is seen, with 5, which the chunk's
  # whole batches left over for the next read.
  assert [b.num_rows for b in batches] == [2, 1, 2]
  for b in batches:
    offsets = b.table.column(OFFSET_COL).to_pylist()
    line = b.table.column(LINE_COL)[0].as_py()
    again = source.reread(b.file_index, offsets[0], offsets[-1], line)
    assert again.file_index == 0 and again.table.equals(b.table)


def test_reading_counts_nothing_in_beam_metrics(tmp_path, monkeypatch):
  """Neither a read nor a re-read (which runs on thread pools) touches a
  Beam counter: ReadCsv counts rows and rejections, once."""
  asked = []
  monkeypatch.setattr(Metrics, "counter", staticmethod(
      lambda *name: asked.append(name)))
  source = CsvSource(_file(tmp_path, TRICKY), batch_rows=2)
  read = source_test_utils.read_from_source(source)
  assert sum(not isinstance(e, RowBatch) for e in read) == 1  # a rejection
  again = source.reread(0, 45, 75, 4)  # 2, the rejected 3, and 4
  assert again.table.column("ID").to_pylist() == ["2", "4"]
  assert asked == []


def test_a_chunk_leaves_its_partial_batch_to_the_next(tmp_path, monkeypatch):
  """Batches stay whole across chunks: 100 rows read 700 bytes at a time
  (about 30 rows) in batches of 8 are 12 batches of 8 and one of 4, with
  every row once, in order, each on its own line."""
  monkeypatch.setattr(csv_scan, "CHUNK_BYTES", 700)
  rows = "".join(f"{i},name{i:03d},note\n" for i in range(100))
  source = CsvSource(_file(tmp_path, ("ID,Name,Note\n" + rows).encode()),
                     batch_rows=8)
  batches = [b for b in source_test_utils.read_from_source(source)
             if isinstance(b, RowBatch)]
  assert [b.num_rows for b in batches] == [8] * 12 + [4]
  ids = [int(v) for b in batches for v in b.table.column("ID").to_pylist()]
  lines = [v for b in batches for v in b.table.column(LINE_COL).to_pylist()]
  assert ids == list(range(100)) and lines == list(range(2, 102))
