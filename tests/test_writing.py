"""Sharded output: names, headers, order, determinism, atomic commit."""

import hashlib
import os

import pyarrow as pa

from conftest import read_csv, write_csv
from crmsync.transforms.writing import encode_csv, remove_temp_dirs, temp_dir

EMAIL = {"name": "email", "normalize": "email", "columns": ["Email"]}


def _rows(n):
  return [["ID", "Email", "Note"]] + [
      [str(i), f"u{i}@x.com", "multi\nline, quoted" if i % 7 == 0 else "n"]
      for i in range(n)]


def test_shards_concatenate_to_the_original_order(job, tmp_path, cli):
  original = write_csv(tmp_path / "crm.csv", _rows(500))
  enriched = write_csv(tmp_path / "e.csv", [["Email", "Score"]] + [
      [f"U{i}@X.COM", str(i)] for i in range(0, 500, 3)])
  cfg = job.config(original, [{"path": enriched}], [EMAIL], shards=7)
  code, _, err = cli("run", cfg, "--batch_rows=37")
  assert code == 0, err
  shards = job.shards()
  assert [os.path.basename(s) for s in shards] == [
      f"merged-{i:05d}-of-00007.csv" for i in range(7)]
  header, rows = job.output()
  assert header == ["ID", "Email", "Note", "Score"]
  assert [r[0] for r in rows] == [str(i) for i in range(500)]
  assert rows[7][2] == "multi\nline, quoted"
  assert all(r[3] == (r[0] if int(r[0]) % 3 == 0 else "") for r in rows)
  assert all(len(read_csv(s)) > 1 for s in shards)


def test_more_shards_than_rows_writes_headers_only(job, tmp_path, cli):
  original = write_csv(tmp_path / "crm.csv", _rows(2))
  enriched = write_csv(tmp_path / "e.csv", [["Email", "Score"], ["u1@x.com",
                                                                 "9"]])
  cfg = job.config(original, [{"path": enriched}], [EMAIL], shards=4)
  assert cli("run", cfg)[0] == 0
  sizes = [len(read_csv(s)) - 1 for s in job.shards()]
  assert len(sizes) == 4 and sum(sizes) == 2
  assert all(read_csv(s)[0] == ["ID", "Email", "Note", "Score"]
             for s in job.shards())


def test_header_only_original_gives_empty_shards_and_balanced_books(
    job, tmp_path, cli):
  original = write_csv(tmp_path / "crm.csv", [["ID", "Email"]])
  enriched = write_csv(tmp_path / "e.csv", [["Email", "S"], ["a@b.co", "1"]])
  cfg = job.config(original, [{"path": enriched}], [EMAIL], shards=2)
  code, _, err = cli("run", cfg)
  assert code == 0, err
  assert job.output() == (["ID", "Email", "S"], [])
  stats = job.report("stats.json")
  assert stats["original"]["rows_read"] == 0
  assert stats["enriched"]["e"]["rows_unmatched"] == 1
  assert stats["accounting"]["balanced"]


def test_semicolon_original_is_written_with_semicolons(job, tmp_path, cli):
  original = write_csv(tmp_path / "crm.csv", [["ID", "Email"],
                                              ["1", "a@b.co"]],
                       delimiter=";")
  enriched = write_csv(tmp_path / "e.csv", [["Email", "S"], ["a@b.co", "x;y"]])
  cfg = job.config(original, [{"path": enriched}], [EMAIL], shards=1)
  code, _, err = cli("run", cfg, "--set", "original.csv.delimiter=;")
  assert code == 0, err
  with open(job.shards()[0], encoding="utf-8") as f:
    assert f.read() == 'ID;Email;S\n1;a@b.co;"x;y"\n'


def test_encode_csv_quotes_only_where_needed():
  t = pa.table({"a": ["x,y", "plain", 'q"t', "", "two\nlines", " pad "],
                "b": ["1"] * 6})
  assert encode_csv(t) == (b'"x,y",1\nplain,1\n"q""t",1\n,1\n'
                           b'"two\nlines",1\n pad ,1\n')


def test_stale_temp_folders_are_removed(tmp_path):
  prefix = str(tmp_path / "out" / "merged")
  stale = temp_dir(prefix, "deadbeef")
  os.makedirs(stale)
  open(os.path.join(stale, "merged-00000-of-00001.csv"), "w").close()
  keep = tmp_path / "out" / "merged-00000-of-00001.csv"
  keep.write_text("x")
  remove_temp_dirs(prefix)
  assert not os.path.exists(stale) and keep.exists()


def _formula_job(job, tmp_path):
  original = write_csv(tmp_path / "crm.csv", [
      ["ID", "Email", "Note"], ["1", "a@x.com", "=HYPERLINK(\"http://x\")"],
      ["2", "b@x.com", "-5"], ["3", "c@x.com", "+1 555 123 4567"],
      ["4", "d@x.com", "@SUM(A1)"],
      # A sign needs a plain number after it (OWASP's CSV injection page:
      # any cell starting with = + - @ tab or CR is a formula).
      ["5", "e@x.com", "+"], ["6", "f@x.com", "--5"],
      ["7", "g@x.com", "+5a"], ["8", "h@x.com", "-1,000.00"],
      ["9", "i@x.com", "+\u0661\u0662"], ["10", "j@x.com", "(555) 1-2"]])
  enriched = write_csv(tmp_path / "e.csv", [["Email", "Score"],
                                            ["a@x.com", "+cmd|' /C calc'!A0"],
                                            ["b@x.com", "-3.5"]])
  return job.config(original, [{"path": enriched}], [EMAIL], shards=1)


def test_formulas_are_escaped_but_numbers_are_not(job, tmp_path, cli):
  assert cli("run", _formula_job(job, tmp_path))[0] == 0
  _, rows = job.output()
  assert [r[2] for r in rows] == [
      "'=HYPERLINK(\"http://x\")", "-5", "+1 555 123 4567", "'@SUM(A1)",
      "'+", "'--5", "'+5a", "-1,000.00", "'+\u0661\u0662", "(555) 1-2"]
  assert [r[3] for r in rows] == ["'+cmd|' /C calc'!A0", "-3.5"] + [""] * 8


def test_formula_escaping_can_be_turned_off(job, tmp_path, cli):
  cfg = _formula_job(job, tmp_path)
  assert cli("run", cfg, "--set", "output.escape_formulas=false")[0] == 0
  _, rows = job.output()
  assert rows[0][2] == "=HYPERLINK(\"http://x\")"


def test_a_shard_concatenated_twice_gives_the_same_file(tmp_path):
  """A retried or speculative attempt of the concat bundle (Flink, Spark)
  finds every part still there, writes a file of its own, and the same
  bytes: the parts go with the temporary folder, after the publish."""
  from crmsync.transforms.writing import _ConcatShard
  tmp = str(tmp_path / "tmp")
  os.makedirs(os.path.join(tmp, "parts"))
  parts = []
  for i, rows in enumerate([b"1,a\n2,b\n", b"3,c\n"]):
    path = os.path.join(tmp, "parts", f"part-00000-00000-{i:015d}.csv")
    with open(path, "wb") as f:
      f.write(rows)
    parts.append((0, i, path, rows.count(b"\n"), len(rows)))
  concat = _ConcatShard(str(tmp_path / "out" / "merged"), 1, tmp, ",")
  concat.setup()
  first = concat.work(concat.prepare((0, list(reversed(parts)) + [None])),
                      ["ID", "Name"])
  again = concat.work(concat.prepare((0, parts)), ["ID", "Name"])
  concat.teardown()
  [(_, one, rows, facts)], [(_, two, rows_again, facts_again)] = (
      first, again)
  assert one != two and rows == rows_again == 3
  with open(one, "rb") as f, open(two, "rb") as g:
    assert f.read() == g.read() == b"ID,Name\n1,a\n2,b\n3,c\n"
  assert facts == facts_again == {
      "size": 20, "sha256": hashlib.sha256(
          b"ID,Name\n1,a\n2,b\n3,c\n").hexdigest()}
  assert all(os.path.exists(p[2]) for p in parts)
