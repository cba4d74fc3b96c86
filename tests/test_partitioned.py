"""The key-partitioned join gives the broadcast join's bytes, and its hash
spreads keys the same way in every process."""

import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from conftest import files_in, write_csv
from crmsync.transforms.hashing import partition_of, stable_hash

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "data", "demo")


def test_stable_hash_is_deterministic_and_ignores_slicing():
  values = pa.array(["", "a", "b", "ab", "ba", "a@b.co", None, "é"])
  h = stable_hash(values)
  assert len(set(h[[1, 2, 3, 4, 5, 7]].tolist())) == 6
  assert h[0] == h[6] == 0  # empty and null: no key, hash 0
  assert (stable_hash(values[3:5]) == h[3:5]).all()
  code = ("import pyarrow as pa; from crmsync.transforms.hashing import "
          "stable_hash; print(stable_hash(pa.array(['a@b.co'])).tolist())")
  other = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, cwd=ROOT, check=True)
  assert other.stdout.strip() == str([int(h[5])])


def test_partitions_spread_evenly():
  parts = partition_of(pa.array([f"user{i}@x.com" for i in range(16000)]),
                       16)
  counts = [int((parts == p).sum()) for p in range(16)]
  assert min(counts) > 800 and max(counts) < 1200


def _run(cli, job, config, join, *extra):
  prefix = os.path.join(job.root, join, "merged")
  reports = os.path.join(job.root, join, "reports")
  code, _, err = cli("run", config, f"--set=join={join}",
                     f"--set=output.path={prefix}",
                     f"--set=output.reports={reports}", *extra)
  assert code == 0, err
  return files_in(os.path.dirname(prefix), reports)


@pytest.mark.parametrize("duplicates,scoring", [
    ("first", False), ("spread", False), ("spread", True)])
def test_both_joins_give_identical_bytes_on_the_demo(job, cli, duplicates,
                                                     scoring):
  config = os.path.join(ROOT, "configs", "demo.yaml")
  args = [f"--set=original.path={DEMO}/crm_export.csv",
          f"--set=enriched.0.path={DEMO}/enriched_email.csv",
          f"--set=enriched.1.path={DEMO}/enriched_phone.csv",
          f"--set=enriched.2.path={DEMO}/enriched_firmographic.csv",
          f"--set=duplicates={duplicates}", "--set=join_partitions=5",
          f"--set=match.scoring={str(scoring).lower()}",
          "--set=output.match_columns=true", "--batch_rows=700"]
  broadcast = _run(cli, job, config, "broadcast", *args)
  partitioned = _run(cli, job, config, "partitioned", *args)
  assert sorted(broadcast) == sorted(partitioned)
  # 4 shards, 7 reports (with scoring, match_weights.json and review.csv
  # too), the manifest
  assert len(broadcast) == (14 if scoring else 12)
  for name in broadcast:
    assert broadcast[name] == partitioned[name], name


def test_both_joins_agree_on_multi_values_and_empty_sources(job, tmp_path,
                                                            cli):
  original = write_csv(tmp_path / "crm.csv", [
      ["ID", "Email", "Phone"], ["1", "a@x.com", "555-000-1111"],
      ["2", "", "555-000-2222"], ["3", "c@x.com", ""]])
  multi = write_csv(tmp_path / "multi.csv", [
      ["Phone", "Mail", "Kind"],
      ["555 000 9999, (555) 000-2222", "", "multi"],
      ['["c@x.com", "z@x.com"]', "A@X.com", "both"],
      ["", "", "no keys"]])
  empty = write_csv(tmp_path / "empty.csv", [["Email", "Nothing"]])
  config = job.config(original, [
      {"path": multi, "columns": {"Mail": "Email"}, "keep": ["Kind", "Phone"]},
      {"path": empty}],
      [{"name": "email", "normalize": "email", "columns": ["Email"]},
       {"name": "phone", "normalize": "phone", "columns": ["Phone"]}],
      multi_value={"default": "all"})
  broadcast = _run(cli, job, config, "broadcast")
  partitioned = _run(cli, job, config, "partitioned")
  assert broadcast == partitioned
  assert b"no keys" in broadcast["unmatched_enriched.csv"]


def test_stable_hash_of_a_string_before_trailing_empties():
  alone = stable_hash(pa.array(["abc"]))[0]
  assert stable_hash(pa.array(["abc", None, ""]))[0] == alone
  assert stable_hash(pa.array(["", "abc", ""]))[1] == alone


def test_key_lookup_confirms_strings_on_hash_collisions(monkeypatch):
  import numpy as np
  import crmsync.transforms.matching as matching
  monkeypatch.setattr(matching, "stable_hash",
                      lambda values: np.full(len(values), 7, np.uint64))
  lookup = matching.KeyLookup(pa.array(["a", "b", "c"]), np.array([5, 6, 7]))
  found = lookup.find(pa.array(["c", "a", "zz", None, "b"]))
  assert found.tolist() == [7, 5, -1, -1, 6]


def test_partitioned_join_rereads_batches_around_rejects_and_files(
    job, tmp_path, cli):
  """Original batches are re-read by byte range in the partitioned join:
  a malformed row, quoted newlines, CRLF ends and a glob of two files must
  come back exactly as the broadcast join saw them."""
  rows = [b"ID,Email,Note\r\n"]
  for i in range(40):
    note = f'"line one\r\nline {i}"' if i % 7 == 0 else f"n{i}"
    rows.append(f"{i},u{i}@x.com,{note}\r\n".encode())
    if i == 13:
      rows.append(b"13b,too,many,fields\r\n")
      rows.append(b"13c,too few\r\n")
  (tmp_path / "crm").mkdir()
  (tmp_path / "crm" / "a.csv").write_bytes(b"".join(rows[:25]))
  (tmp_path / "crm" / "b.csv").write_bytes(rows[0] + b"".join(rows[25:]))
  enriched = write_csv(tmp_path / "e.csv", [["Email", "Title"]] + [
      [f"U{i}@X.com", f"title {i}"] for i in range(0, 40, 3)])
  config = job.config(str(tmp_path / "crm" / "*.csv"), [{"path": enriched}],
                      [{"name": "email", "normalize": "email",
                        "columns": ["Email"]}],
                      limits={"max_rejected_fraction": 1})
  broadcast = _run(cli, job, config, "broadcast", "--batch_rows=4",
                   "--set=join_partitions=3")
  partitioned = _run(cli, job, config, "partitioned", "--batch_rows=4",
                     "--set=join_partitions=3")
  assert broadcast == partitioned
  merged = b"".join(v for k, v in broadcast.items() if k.startswith("merged"))
  assert merged.count(b"title ") == 14
  assert b"line one\r\nline 7" in merged
  assert b"13b,too,many" in broadcast["rejected.csv"]
  assert b"13c,too few" in broadcast["rejected.csv"]


def test_stable_hash_is_thread_safe_while_its_cache_grows(monkeypatch):
  """Beam's workers hash in several threads at once; the cached powers grow
  with the longest chunk seen (a race here failed a Flink run)."""
  import threading
  import crmsync.transforms.hashing as hashing
  arrays = [pa.array(["x" * (n % 97) + str(n) for n in range(k * 500)])
            for k in range(1, 40)]
  expected = [stable_hash(a) for a in arrays]
  errors = []

  def work(order):
    try:
      for i in order:
        assert (stable_hash(arrays[i]) == expected[i]).all()
    except Exception as e:  # reported below, with the thread's error
      errors.append(e)

  for _ in range(5):
    monkeypatch.setattr(hashing, "_POWERS", (np.ones(1, np.uint64),) * 2)
    threads = [threading.Thread(target=work, args=(
        list(range(t, 39)) + list(range(t)),)) for t in range(8)]
    for t in threads:
      t.start()
    for t in threads:
      t.join()
  assert not errors, errors[0]


def test_match_columns_name_the_matching_source_and_key(job, cli):
  """output.match_columns: _match_key lists `source:key` for each source
  that matched, in priority order; both joins write the same."""
  import csv
  import io
  import json
  config = os.path.join(ROOT, "configs", "demo.yaml")
  args = [f"--set=original.path={DEMO}/crm_export.csv",
          f"--set=enriched.0.path={DEMO}/enriched_email.csv",
          f"--set=enriched.1.path={DEMO}/enriched_phone.csv",
          f"--set=enriched.2.path={DEMO}/enriched_firmographic.csv",
          "--set=output.match_columns=true", "--set=join_partitions=5"]
  broadcast = _run(cli, job, config, "broadcast", *args)
  assert broadcast == _run(cli, job, config, "partitioned", *args)
  rows = []
  for name in sorted(n for n in broadcast if n.startswith("merged")):
    rows += list(csv.DictReader(io.StringIO(broadcast[name].decode())))
  stats = json.loads(broadcast["stats.json"])
  assert list(rows[0])[-2:] == ["_match_key", "_match_score"]
  assert sum(r["_match_score"] == "1" for r in rows) == stats["rows_matched"]
  per_source = {}
  for r in rows:
    assert (r["_match_key"] == "") == (r["_match_score"] == "")
    for part in filter(None, r["_match_key"].split("; ")):
      source, key = part.split(":")
      per_source.setdefault(source, {}).setdefault(key, 0)
      per_source[source][key] += 1
  assert per_source == {s: e["matches_per_key"]
                        for s, e in stats["enriched"].items()}
  assert rows[0]["_match_key"] == "phone_vendor:email; firmographic:name_zip"


def test_a_source_that_supplies_only_its_key_gives_the_same_bytes(job, cli,
                                                                    tmp_path):
  """A vendor list used only to see who matches (no column kept): the
  partitioned join's answers then carry no vendor column at all."""
  write_csv(tmp_path / "crm.csv", [["ID", "Email", "Title"]] + [
      [str(i), f"p{i}@x.com", f"t{i}"] for i in range(300)])
  write_csv(tmp_path / "vendor.csv", [["Email", "Title"]] + [
      [f"P{i}@x.com", f"other {i}"] for i in range(0, 300, 2)])
  config = tmp_path / "job.yaml"
  config.write_text(
      f"original: {{path: {tmp_path}/crm.csv}}\n"
      f"enriched: [{{path: {tmp_path}/vendor.csv, name: v}}]\n"
      "match: {keys: [{name: email, normalize: email, columns: [Email]}]}\n"
      "join_partitions: 3\n"
      "output: {path: unused, match_columns: true}\n")
  broadcast = _run(cli, job, str(config), "broadcast", "--batch_rows=70")
  partitioned = _run(cli, job, str(config), "partitioned", "--batch_rows=70")
  assert broadcast == partitioned
  merged = [l for name, data in broadcast.items() if name.startswith("merged")
            for l in data.decode().splitlines()[1:]]
  assert merged[:2] == ["0,p0@x.com,t0,v:email,1", "1,p1@x.com,t1,,"]


def test_duplicates_of_a_source_that_keeps_no_column_count_right(job, cli,
                                                                  tmp_path):
  """Both rows of a shared key are used, and no other (the synthesised row
  of a group was once numbered from 0 when the source kept nothing)."""
  write_csv(tmp_path / "crm.csv", [["ID", "Email"], ["1", "b@x.com"]])
  write_csv(tmp_path / "vendor.csv", [["Email"], ["a@x.com"], ["c@x.com"],
                                      ["a@x.com"], ["b@x.com"], ["B@x.com"]])
  config = tmp_path / "job.yaml"
  config.write_text(
      f"original: {{path: {tmp_path}/crm.csv}}\n"
      f"enriched: [{{path: {tmp_path}/vendor.csv, name: v}}]\n"
      "match: {keys: [{name: email, normalize: email, columns: [Email]}]}\n"
      "output: {path: unused}\n")
  for join in ("broadcast", "partitioned"):
    files = _run(cli, job, str(config), join)
    unmatched = files["unmatched_enriched.csv"].decode().splitlines()[1:]
    assert [line.split(",")[2] for line in unmatched] == ["2", "3", "4"]
