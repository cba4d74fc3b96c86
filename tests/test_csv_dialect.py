"""CSV dialects (transforms/csv_dialect.py): what a file's first bytes say
about how it is written (delimiter, backslash escapes, encoding, a sep=
line, trailing delimiters), and reading it so: in the source, at any split,
and through the CLI on both joins."""

import codecs
import csv
import io
import json
import os
import shutil

import pytest
from apache_beam.io import source_test_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import RowTuples, read_csv, write_csv
from crmsync.transforms.csv_dialect import (describe, detect_delimiter,
                                    reads_in_place, resolve, transcode)
from crmsync.transforms.csv_parse import RecordParser

HERE = os.path.dirname(os.path.abspath(__file__))
FIELD = os.path.join(HERE, "data", "field")
EMAIL = [{"name": "email", "normalize": "email", "columns": ["Email"]}]
JOINS = ["broadcast", "partitioned"]
BOM16 = codecs.BOM_UTF16_LE


Rows = RowTuples


def _file(tmp_path, data: bytes, name="in.csv") -> str:
  path = tmp_path / name
  path.write_bytes(data)
  return str(path)


def _read(path, fmt, batch_rows=100, **kw):
  return source_test_utils.read_from_source(
      Rows(path, fmt, batch_rows=batch_rows, min_split_bytes=0, **kw))


def _values(rows):
  """Rows without their offset and line; rejections as (line, reason)."""
  return [r[1:] if r[0] == "rejected" else r[:-2] for r in rows]


# -- what a file's first bytes say ------------------------------------------

RESOLVE = [
    # (case, bytes, settings, expected format fields)
    ("comma", b"ID,Name\n1,a\n", {}, {"delimiter": ","}),
    ("semicolon detected", b"ID;Name;Note\n1;a;b,c\n2;d;e\n",
     {"delimiter": "auto"}, {"delimiter": ";"}),
    ("tab detected", b"ID\tName\n1\ta, b\n", {"delimiter": "auto"},
     {"delimiter": "\t"}),
    ("pipe detected", b"ID|Name\n1|a;b\n", {"delimiter": "auto"},
     {"delimiter": "|"}),
    # `,` and `;` both split the header in two and every record alike: a
    # tie goes to the first of , ; tab | ...
    ("tie: the first in order", b"A;B,C\n1;2,3\n", {"delimiter": "auto"},
     {"delimiter": ","}),
    # ... after the one that splits the header into more fields.
    ("tie: more fields first", b"A;B;C,D\n1;2;3,4\n", {"delimiter": "auto"},
     {"delimiter": ";"}),
    ("records decide", b"Name;Note\n\"x\";a,b,c\n", {"delimiter": "auto"},
     {"delimiter": ";"}),
    ("one column", b"Email\na@b.co\n", {"delimiter": "auto"},
     {"delimiter": ","}),
    ("trailing delimiters fit", b"A;B\n1;2;\n3;4;\n", {"delimiter": "auto"},
     {"delimiter": ";", "trailing": True}),
    ("sep= line", b"sep=;\nID;Name\n1;a\n", {}, {"delimiter": ";",
                                                 "sep_line": True}),
    ("sep= line beats the setting", b"sep=|\r\nID|Name\r\n",
     {"delimiter": ";"}, {"delimiter": "|", "sep_line": True}),
    ("sep= tab, after a BOM", codecs.BOM_UTF8 + b"sep=\t\nID\tN\n", {},
     {"delimiter": "\t", "sep_line": True}),
    ("backslash escapes", b'ID,Co\n1,"Acme \\"West\\" Division"\n', {},
     {"escape": "\\"}),
    ("a value ending in a backslash", b'ID,Path\n1,"C:\\dir\\"\n', {},
     {"escape": None}),
    ("RFC doubled quotes after a backslash", b'ID,V\n1,"a\\""b"\n', {},
     {"escape": None}),
    # Doubled quotes too: RFC 4180 wins, the backslash row is rejected.
    ("both kinds of escape", b'ID,V\n1,"a \\"b\\" c"\n2,"say ""hi"""\n', {},
     {"escape": None}),
    ("escape none", b'ID,Co\n1,"Acme \\"West\\" Division"\n',
     {"escape": "none"}, {"escape": None}),
    ("escape set", b"ID,Co\n1,x\n", {"escape": "\\"}, {"escape": "\\"}),
    ("utf-16 BOM, tab detected", BOM16 + "ID\tNäme\r\n1\tx\r\n".encode(
        "utf-16-le"), {}, {"encoding": "utf-16-le", "delimiter": "\t"}),
    ("utf-16 BOM, delimiter set", BOM16 + "ID;N\r\n".encode("utf-16-le"),
     {"delimiter": ";"}, {"encoding": "utf-16-le", "delimiter": ";"}),
    ("utf-16-be BOM whatever the setting", codecs.BOM_UTF16_BE +
     "ID,N\n".encode("utf-16-be"), {"encoding": "latin-1"},
     {"encoding": "utf-16-be"}),
    ("utf-32 BOM", codecs.BOM_UTF32_LE + "ID,N\n".encode("utf-32-le"), {},
     {"encoding": "utf-32-le"}),
    ("utf-8 BOM", codecs.BOM_UTF8 + "ID,Né\n".encode(), {"encoding": "cp1252"},
     {"encoding": "utf-8"}),
    ("no BOM: the setting", "ID,Né\n".encode("cp1252"),
     {"encoding": "cp1252"}, {"encoding": "cp1252"}),
    ("no trailing delimiter", b"A,B\n1,\n2,3\n", {}, {"trailing": False}),
    ("a header that ends with one too", b"A,B,\n1,2,\n", {},
     {"trailing": False}),
]


@pytest.mark.parametrize("case,data,options,expected", RESOLVE,
                         ids=[c[0] for c in RESOLVE])
def test_resolve(tmp_path, case, data, options, expected):
  fmt = resolve(_file(tmp_path, data), options.get("delimiter"),
                options.get("encoding", "utf-8"),
                options.get("escape", "auto"))
  assert {k: getattr(fmt, k) for k in expected} == expected


@pytest.mark.parametrize("encoding,in_place", [
    ("utf-8", True), ("latin-1", True), ("cp1252", True), ("koi8-r", True),
    ("utf-16", False), ("utf-32-be", False), ("shift_jis", False),
    ("big5", False), ("iso2022_jp", False), ("cp500", False)])
def test_which_encodings_are_read_in_place(encoding, in_place):
  """Shift JIS and Big5 hide backslashes and pipes in second bytes, ISO
  2022 and EBCDIC are not ASCII: those are transcoded like UTF-16."""
  assert reads_in_place(encoding) is in_place


def test_describe_says_what_was_found_and_why(tmp_path):
  path = _file(tmp_path, BOM16 + 'ID\tCo\r\n1\t"a \\"b\\" c"\r\n'.encode(
      "utf-16-le"))
  assert describe(resolve(path, None), None) == (
      "delimiter tab (detected), encoding utf-16-le (BOM), read from a "
      "UTF-8 copy, quotes escaped by a backslash (detected)")
  sep = _file(tmp_path, b"sep=;\nA;B\n1;2;\n", "sep.csv")
  assert describe(resolve(sep, ","), ",", escape="none") == (
      "delimiter ';' (sep= line), encoding utf-8, rows end with a delimiter "
      "the header lacks, quotes doubled")


def test_detect_delimiter_on_text():
  assert detect_delimiter("a|b|c\n1|2|3\n") == "|"
  # No candidate fits every record: the one that fits most of them.
  assert detect_delimiter("a;b\n1;2\n3;4\n5;6,7;8\n") == ";"


# -- reading -----------------------------------------------------------------

HINT = ('; the record holds \\" (quotes escaped by a backslash?): set '
        'csv.escape: "\\\\"')
READ = [
    # (case, bytes, settings, values read: rows, or (line, reason))
    # Doubled quotes are read as well.
    ("backslash-escaped quotes", b'ID,Co\n1,"Acme \\"West\\" Division"\n'
     b'2,"back\\\\slash"\n3,"RFC ""too"""\n', {"escape": "\\"},
     [("1", 'Acme "West" Division'), ("2", "back\\slash"),
      ("3", 'RFC "too"')]),
    ("an escaped line end and delimiter", b'ID,V\n1,a\\\nb\\,c\n2,z\n',
     {"escape": "\\"}, [("1", "a\nb,c"), ("2", "z")]),
    ("escape none: a stray quote is rejected, with a hint",
     b'ID,Co\n1,"Acme \\"West\\" Division"\n2,ok\n', {"escape": "none"},
     [(2, "malformed quoting (',' expected after '\"')" + HINT),
      ("2", "ok")]),
    ("a quote in a quoted field is never joined on",
     b'ID,Co\n1,"Acme "West" Division"\n2,ok\n', {},
     [(2, "malformed quoting (',' expected after '\"')"), ("2", "ok")]),
    ("trailing delimiters", b"ID,Name\n1,a,\n2,\"b,c\",\n3,,\n", {},
     [("1", "a"), ("2", "b,c"), ("3", "")]),
    ("trailing delimiters on most rows", b"ID,Name\n1,a,\n2,b\n3,c,\n", {},
     [("1", "a"), ("2", "b"), ("3", "c")]),
    ("a filled extra field is still rejected",
     b"ID,Name\n1,a,\n2,b,x\n3,c,\n", {},
     [("1", "a"), (3, "expected 2 fields, found 3"), ("3", "c")]),
    ("an extra field in a file without trailing delimiters",
     b"ID,Name\n1,a\n2,b,\n3,c\n", {},
     [("1", "a"), (3, "expected 2 fields, found 3 (a trailing delimiter, "
                      "which most of the file's rows lack)"), ("3", "c")]),
    ("sep= line: physical line numbers", b"sep=;\nID;Name\n1;a\n2\n3;c\n",
     {}, [("1", "a"), (4, "expected 2 fields, found 1"), ("3", "c")]),
    ("semicolons detected", b"ID;Name\n1;a,b\n", {"delimiter": "auto"},
     [("1", "a,b")]),
]


@pytest.mark.parametrize("batch_rows", [1, 100])
@pytest.mark.parametrize("case,data,options,expected", READ,
                         ids=[c[0] for c in READ])
def test_read(tmp_path, case, data, options, expected, batch_rows):
  path = _file(tmp_path, data)
  fmt = resolve(path, options.get("delimiter", ","), "utf-8",
                options.get("escape", "auto"))
  assert _values(_read(path, fmt, batch_rows)) == expected


def test_lines_and_offsets_with_a_sep_line(tmp_path):
  path = _file(tmp_path, b"sep=;\r\nID;Name\r\n1;a\r\n2;b\r\n")
  assert _read(path, resolve(path)) == [("1", "a", 16, 3), ("2", "b", 21, 4)]


def test_common_files_stay_on_the_fast_path(tmp_path, monkeypatch):
  """Backslash escapes and trailing delimiters are read by pyarrow, a whole
  batch per call: the record-by-record path is never taken."""
  def slow(*args, **kwargs):
    raise AssertionError("slow path taken")
  monkeypatch.setattr(RecordParser, "_parse_slow", slow)
  rows = [f'{i},"Acme \\"{i}\\", Inc",x{i}' for i in range(500)]
  path = _file(tmp_path, ("ID,Co,N\n" + "\n".join(rows) + "\n").encode())
  got = _read(path, resolve(path), batch_rows=64)
  assert got[7][:3] == ("7", 'Acme "7", Inc', "x7") and len(got) == 500
  trailing = "ID;Co\n" + "".join(f"{i};c{i};\n" for i in range(500))
  path = _file(tmp_path, trailing.encode(), "t.csv")
  got = _read(path, resolve(path, "auto"), batch_rows=64)
  assert got[499][:2] == ("499", "c499") and len(got) == 500


# -- splits stay exact -------------------------------------------------------

ESCAPED = (b'ID,Co,Note\n'
           b'1,"Acme \\"West\\" Division",a\n'
           b'2,"ends in a backslash \\\\",b\n'
           b'3,"line\\\nbreak \\"q\\"",c\n'
           b'4,plain\\,escaped,d\n'
           b'5,"\\"\\"\\"",e\n'
           b'6,short\n'
           b'7,"last",no newline')


@pytest.mark.parametrize("batch_rows", [1, 100])
def test_any_split_point_yields_the_same_records_with_escapes(tmp_path,
                                                             batch_rows):
  path = _file(tmp_path, ESCAPED)
  fmt = resolve(path)
  assert fmt.escape == "\\"
  source = Rows(path, fmt, batch_rows=batch_rows, min_split_bytes=0)
  assert _values(source_test_utils.read_from_source(source)) == [
      ("1", 'Acme "West" Division', "a"), ("2", "ends in a backslash \\", "b"),
      ("3", 'line\nbreak "q"', "c"), ("4", "plain,escaped", "d"),
      ("5", '"""', "e"), (8, "expected 3 fields, found 2"),
      ("7", "last", "no newline")]
  source_test_utils.assert_split_at_fraction_exhaustive(source)


@pytest.mark.parametrize("bundle", [1, 7, 23, 1000])
def test_initial_splits_of_a_transcoded_copy_cover_every_record_once(
    tmp_path, bundle):
  """A UTF-16 file is split over its UTF-8 copy's bytes and read under its
  own name."""
  text = "ID\tName\r\n" + "".join(f"{i}\tZoë {i}\r\n" for i in range(40))
  path = _file(tmp_path, BOM16 + text.encode("utf-16-le"), "u16.csv")
  fmt = resolve(path, None)
  copy = str(tmp_path / "copy.csv")
  source = Rows(path, fmt, batch_rows=3, min_split_bytes=0, formats={
      path: transcode(path, fmt, copy)}, copies={path: copy})
  # Its positions are the copy's bytes.
  assert source.estimate_size() == os.path.getsize(copy)
  rows = source_test_utils.read_from_source(source)
  assert [r[:2] for r in rows] == [(str(i), f"Zoë {i}") for i in range(40)]
  assert rows[0][3] == 2 and rows[-1][3] == 41
  splits = [(s.source, s.start_position, s.stop_position)
            for s in source.split(desired_bundle_size=bundle)]
  assert len(splits) > 1 or bundle == 1000
  source_test_utils.assert_sources_equal_reference_source(
      (source, None, None), splits)


# -- properties --------------------------------------------------------------

CELL = st.text(alphabet=st.sampled_from(list('ab ,";é')), max_size=6)
SETTLE = settings(max_examples=150, deadline=None,
                  suppress_health_check=list(HealthCheck))


def _with_stray_quote(rows, where):
  """csv.writer's text of `rows` (an ID first) with a quote inserted at a
  place in the data `where` picks."""
  buf = io.StringIO()
  csv.writer(buf, lineterminator="\n").writerows([["ID", "A", "B"]] + rows)
  text = buf.getvalue()
  body = text.index("\n") + 1
  at = body + where % (len(text) - body + 1)
  return text[:at] + '"' + text[at:]


@SETTLE
@given(values=st.lists(st.lists(CELL, min_size=2, max_size=2), min_size=1,
                       max_size=8),
       where=st.integers(min_value=0), batch_rows=st.integers(1, 4),
       escape=st.sampled_from(["auto", "none"]))
def test_a_stray_quote_never_changes_a_value_silently(
    tmp_path_factory, values, where, batch_rows, escape):
  """Each row read is a row csv.writer wrote, value for value; a row not
  read is in a rejected record."""
  rows = [[str(i + 1)] + v for i, v in enumerate(values)]
  path = _file(tmp_path_factory.mktemp("stray"),
               _with_stray_quote(rows, where).encode())
  got = _read(path, resolve(path, escape=escape), batch_rows)
  read = [list(r[:3]) for r in got if r[0] != "rejected"]
  assert all(r == rows[int(r[0]) - 1] for r in read), got
  assert len(read) == len(rows) or any(r[0] == "rejected" for r in got)


@SETTLE
@given(values=st.lists(st.lists(st.text(alphabet=st.sampled_from(
    list('a,"\n')), max_size=5), min_size=2, max_size=2), min_size=1,
                       max_size=6),
       where=st.integers(min_value=0))
def test_a_stray_quote_in_values_with_line_breaks_is_always_reported(
    tmp_path_factory, values, where):
  """A stray quote just before a quoted line break ends the record there:
  no reader can tell that record from one written so. What follows it,
  up to the next quote, is then a record that is rejected: the damage is
  never silent."""
  rows = [[str(i + 1)] + v for i, v in enumerate(values)]
  path = _file(tmp_path_factory.mktemp("stray"),
               _with_stray_quote(rows, where).encode())
  got = _read(path, resolve(path), 2)
  changed = [r for r in got if r[0] != "rejected" and (
      not r[0].isdigit() or not 0 < int(r[0]) <= len(rows)
      or list(r[:3]) != rows[int(r[0]) - 1])]
  later = [r[1] for r in got if r[0] == "rejected"]
  assert all(any(line > r[-1] for line in later) for r in changed), got
  read = [r for r in got if r[0] != "rejected"]
  assert len(read) == len(rows) or later


@SETTLE
@given(values=st.lists(st.lists(st.text(alphabet=st.sampled_from(
    list('ab\\",;\n')), max_size=6), min_size=2, max_size=2), min_size=1,
                       max_size=6),
       backslash=st.booleans())
def test_auto_escape_reads_rfc_and_backslash_writers_exactly(
    tmp_path_factory, values, backslash):
  """RFC 4180 files never look backslash-escaped (a quote inside quotes is
  doubled, so `\\"` is followed by a quote or ends the field), and files a
  backslash-escaping writer wrote read back exactly when a `\\"` shows."""
  rows = [[str(i + 1)] + v for i, v in enumerate(values)]
  buf = io.StringIO()
  options = dict(escapechar="\\", doublequote=False) if backslash else {}
  csv.writer(buf, lineterminator="\n", **options).writerows(
      [["ID", "A", "B"]] + rows)
  path = _file(tmp_path_factory.mktemp("esc"), buf.getvalue().encode())
  fmt = resolve(path)
  if not backslash:
    assert fmt.escape is None
  if fmt.escape or not backslash:
    assert [list(r[:3]) for r in _read(path, fmt, 2)] == rows


# -- through the CLI, on both joins -------------------------------------------


def _run(cli, folder, join, *args):
  cwd = os.getcwd()
  os.chdir(folder)
  try:
    return cli("run", "job.yaml", "-q", f"--set=join={join}",
               "--set=join_partitions=3", *args)
  finally:
    os.chdir(cwd)


def _output(folder, delimiter=","):
  out = os.path.join(folder, "out")
  rows = []
  for name in sorted(os.listdir(out)):
    if name.startswith("merged-"):
      data = read_csv(os.path.join(out, name), delimiter)
      rows.extend(dict(zip(data[0], r)) for r in data[1:])
  return rows


def _report(folder, name):
  path = os.path.join(folder, "out", "reports", name)
  if name.endswith(".json"):
    with open(path) as f:
      return json.load(f)
  data = read_csv(path)
  return [dict(zip(data[0], r)) for r in data[1:]]


def _field_case(tmp_path, case):
  folder = str(tmp_path / case)
  shutil.copytree(os.path.join(FIELD, case), folder,
                  ignore=shutil.ignore_patterns("expected.yaml"))
  for name in os.listdir(folder):
    os.chmod(os.path.join(folder, name), 0o644)
  return folder


@pytest.mark.parametrize("join", JOINS)
def test_field_case_backslash_escaped_quotes(cli, tmp_path, join):
  folder = _field_case(tmp_path, "backslash_escaped_quotes")
  code, _, err = _run(cli, folder, join)
  assert code == 0, err
  assert [(r["ID"], r["Company"], r["Title"], r["_match_key"])
          for r in _output(folder)] == [
              ("1", 'Acme "West" Division', "CTO", "vendor:email"),
              ("2", "Globex", "CFO", "vendor:email"),
              ("3", "Initech", "COO", "vendor:email")]
  assert _report(folder, "rejected.csv") == []
  with open(os.path.join(folder, "out", "merged-00000-of-00001.csv"),
            "rb") as f:  # written back as RFC 4180
    assert b'"Acme ""West"" Division"' in f.read()


@pytest.mark.parametrize("join", JOINS)
def test_field_case_trailing_delimiter_rows(cli, tmp_path, join):
  folder = _field_case(tmp_path, "trailing_delimiter_rows")
  code, _, err = _run(cli, folder, join)
  assert code == 0, err
  out = _output(folder)
  assert list(out[0]) == ["ID", "First", "Last", "Email", "Title",
                          "_match_key", "_match_score"]
  assert [(r["ID"], r["Email"], r["Title"]) for r in out] == [
      ("1", "ana.lopez@example.com", "CTO"), ("2", "ben.ng@example.org", ""),
      ("3", "cy.wu@example.com", "")]
  stats = _report(folder, "stats.json")["original"]
  assert (stats["rows_written"], stats["rows_rejected"]) == (3, 0)


def _utf16(text: str) -> bytes:
  return BOM16 + text.replace("\n", "\r\n").encode("utf-16-le")


@pytest.mark.parametrize("join", JOINS)
def test_utf16_files_are_read_and_reported_under_their_own_names(
    cli, job, tmp_path, join):
  """Excel's Unicode Text: UTF-16LE with a BOM, tabs, CRLF; Ċ (U+010A)
  holds a newline byte. Bytes that are not UTF-16 reject their row, named
  by the user's file and line; unmatched vendor rows too."""
  crm = _utf16("ID\tFirst\tEmail\n1\tĊensu\tc@x.com\n2\tKovačič\tk@x.com\n"
               "3\tBad\tb@x.com\n4\t日本\tj@x.com\n")
  bad = crm.find("Bad".encode("utf-16-le"))
  crm = crm[:bad] + b"\x00\xd8" + crm[bad + 2:]  # a lone surrogate
  original = _file(tmp_path, crm, "crm.txt")
  vendor = _file(tmp_path, _utf16("Email\tTitle\nc@x.com\tCTO\nj@x.com\t"
                                   "CEO\nnobody@x.com\tCFO\n"), "vendor.txt")
  job.config(original, [{"path": vendor, "name": "vendor"}], EMAIL,
             shards=2, limits={"max_rejected_fraction": 1})
  code, _, err = _run(cli, job.root, join)
  assert code == 0, err
  assert [(r["ID"], r["First"], r["Title"]) for r in
          _output(job.root, "\t")] == [("1", "Ċensu", "CTO"),
                                       ("2", "Kovačič", ""),
                                       ("4", "日本", "CEO")]
  [rejected] = _report(job.root, "rejected.csv")
  assert (rejected["file"], rejected["line"], rejected["reason"]) == (
      original, "4", "not valid utf-16-le: undecodable bytes")
  [unmatched] = _report(job.root, "unmatched_enriched.csv")
  assert (unmatched["file"], unmatched["line"]) == (vendor, "4")
  stats = _report(job.root, "stats.json")
  assert stats["original"]["files"] == [original]
  assert stats["enriched"]["vendor"]["files"] == [vendor]
  assert not [p for p in os.listdir(os.path.join(job.root, "out"))
              if ".crmsync-tmp-" in p]  # the copies went with the run


@pytest.mark.parametrize("join", JOINS)
def test_sep_lines_auto_delimiters_and_rejections(cli, job, tmp_path, join):
  """A sep= line sets its file's delimiter (the header is the next line,
  line numbers stay physical), `auto` finds another file's, and a stray
  quote is rejected with its line, never read into a value."""
  rows = [f"{i};u{i}@x.com;Name {i}" for i in range(1, 200)]
  rows[41] = '42;u42@x.com;"Acme \\"West\\" Division"'
  rows[99] = "100;u100@x.com;\"Acme \"West\" Division\""
  original = _file(tmp_path, ("sep=;\nID;Email;Name\n" + "\n".join(rows)
                              + "\n").encode(), "crm.csv")
  vendor = write_csv(tmp_path / "vendor.csv", [
      ["Email", "Title"], ["u1@x.com", "T1"], ["u42@x.com", "T42"]],
                     delimiter="|")
  job.config(original, [{"path": vendor, "name": "vendor",
                         "csv": {"delimiter": "auto"}}], EMAIL,
             limits={"max_rejected_fraction": 1})
  code, _, err = _run(cli, job.root, join, "--set=original.csv.escape=none")
  assert code == 0, err
  out = _output(job.root, ";")
  assert [r["ID"] for r in out] == [str(i) for i in range(1, 200)
                                    if i not in (42, 100)]
  assert out[0]["Title"] == "T1"
  rejected = _report(job.root, "rejected.csv")
  assert [(r["line"], r["reason"]) for r in rejected] == [
      ("44", "malformed quoting (';' expected after '\"')" + HINT),
      ("102", "malformed quoting (';' expected after '\"')")]
  assert rejected[0]["raw"] == rows[41]


@pytest.mark.parametrize("join", JOINS)
def test_a_transcoded_original_with_sample(cli, job, tmp_path, join):
  original = _file(tmp_path, _utf16(
      "ID\tEmail\n" + "".join(f"{i}\tu{i}@x.com\n" for i in range(1, 50))),
                   "crm.txt")
  vendor = write_csv(tmp_path / "vendor.csv",
                     [["Email", "Title"], ["u2@x.com", "T2"]])
  job.config(original, [{"path": vendor}], EMAIL)
  code, _, err = _run(cli, job.root, join, "--sample=3")
  assert code == 0, err
  assert [(r["ID"], r["Title"]) for r in _output(job.root, "\t")] == [
      ("1", ""), ("2", "T2"), ("3", "")]


@pytest.mark.parametrize("setting,message", [
    ("original.csv.escape=x",
     "original.csv.escape: 'x' is not supported (use auto, none or \"\\\\\")"),
    ("enriched.0.csv.delimiter=x",
     "enriched.0.csv.delimiter: 'x' is not supported (use , ; | tab or "
     "auto)"),
    ("original.csv.encoding=klingon",
     "original.csv.encoding: 'klingon' is not a known encoding"),
])
def test_bad_settings_are_one_line_naming_key_and_value(cli, job, tmp_path,
                                                        setting, message):
  original = write_csv(tmp_path / "crm.csv", [["ID", "Email"], ["1", "a"]])
  config = job.config(original, [{"path": original}], EMAIL)
  code, _, err = cli("run", config, "--set", setting)
  assert code == 2
  assert err.strip() == f"crmsync: error: {config}: {message}"


def test_an_unsupported_sep_line_names_the_file(cli, job, tmp_path):
  original = _file(tmp_path, b"sep=:\nID:Email\n", "crm.csv")
  config = job.config(original, [{"path": original}], EMAIL)
  code, _, err = cli("run", config)
  assert code == 2
  assert err.strip() == (f"crmsync: error: {original}: line 1: sep=':' is "
                         f"not a supported delimiter (, ; | or tab)")


def test_validate_prints_each_files_dialect(cli, job, tmp_path):
  original = _file(tmp_path, _utf16("ID\tEmail\n1\ta@x.com\n"), "crm.txt")
  vendor = _file(tmp_path, b"sep=;\nEmail;Title\na@x.com;CTO;\n", "v.csv")
  config = job.config(original, [{"path": vendor}], EMAIL)
  code, out, err = cli("validate", config)
  assert code == 0, err
  assert (f"csv {original}: delimiter tab (detected), encoding utf-16-le "
          f"(BOM), read from a UTF-8 copy, quotes doubled (no "
          f"backslash-escaped quote found)") in out.splitlines()
  assert (f"csv {vendor}: delimiter ';' (sep= line), encoding utf-8, rows "
          f"end with a delimiter the header lacks, quotes doubled (no "
          f"backslash-escaped quote found)") in out.splitlines()


@settings(max_examples=6, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(values=st.lists(st.lists(CELL, min_size=2, max_size=2), min_size=1,
                       max_size=5),
       where=st.integers(min_value=0), join=st.sampled_from(JOINS))
def test_a_stray_quote_never_changes_a_value_silently_end_to_end(
    tmp_path_factory, capsys, values, where, join):
  """The property above through `crmsync run`: each merged row is a row
  csv.writer wrote, or its record is in rejected.csv."""
  from conftest import Job, run_cli
  root = tmp_path_factory.mktemp("e2e")
  rows = [[str(i + 1)] + v for i, v in enumerate(values)]
  original = _file(root, _with_stray_quote(rows, where).encode(), "crm.csv")
  vendor = write_csv(root / "vendor.csv", [["A", "Title"], ["a", "T"]])
  job = Job(str(root))
  job.config(original, [{"path": vendor}],
             [{"name": "a", "normalize": "text", "columns": ["A"]}],
             limits={"max_rejected_fraction": 1})
  code, _, err = run_cli(capsys, "run", job.root + "/job.yaml", "-q",
                         f"--set=join={join}")
  assert code == 0, err
  merged = [[r["ID"], r["A"], r["B"]] for r in job.dicts()]
  assert all(r == rows[int(r[0]) - 1] for r in merged)
  rejected = job.report("rejected.csv")
  assert len(merged) == len(rows) or rejected
  stats = job.report("stats.json")["original"]
  assert stats["rows_read"] == len(merged) + len(rejected)


def test_a_utf16_file_without_a_bom_has_its_delimiter_detected(tmp_path):
  text = "ID\tName\tEmail\r\n1\tZoë\tz@x.com\r\n2\tAna\ta@x.com\r\n"
  path = _file(tmp_path, text.encode("utf-16-le"), "u16.csv")
  fmt = resolve(path, None, "utf-16-le")
  assert (fmt.delimiter, fmt.in_place) == ("\t", False)
