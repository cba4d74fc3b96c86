"""Property: scored (email and phone with `confirm`, then the fuzzy key),
the partitioned join writes the broadcast join's bytes, every shard and
every report (match_weights.json and review.csv included), for random small
inputs: shared inboxes and switchboards (duplicate groups), blank and
repeated values, people the CRM holds twice, any batch size and partition
count. The partitioned join rebuilds the model's inputs from its partitions
(transforms/partition_scores.py); any difference shows here."""

import csv
import io
import os
import tempfile

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import files_in
from test_scoring import RECOMMENDED
from crmsync.pipelines.cli import main

FIRST = st.sampled_from(["Ann", "Anne", "Bob", "Robert", "Bri", "", "Zed"])
LAST = st.sampled_from(["Nolan", "Nolan-Smith", "Reyes", "Ng", ""])
EMAIL = st.sampled_from(["ann@acme.com", "info@acme.com", "bob@globex.com",
                         "BOB@globex.com ", "", "zed@x.org"])
PHONE = st.sampled_from(["555-201-3344", "555-201-3344 x12", "(555) 777-1000",
                         "", "555 999 0000"])
COMPANY = st.sampled_from(["Acme", "Acme Inc.", "Globex", ""])
CITY = st.sampled_from(["Boston", "Denver", ""])
PERSON = st.tuples(FIRST, LAST, EMAIL, PHONE, COMPANY, CITY)

KEYS = RECOMMENDED  # email and phone with confirm, then the fuzzy key


def write(path, header, rows):
  buf = io.StringIO()
  csv.writer(buf, lineterminator="\n").writerows([header] + list(rows))
  with open(path, "w", encoding="utf-8", newline="") as f:
    f.write(buf.getvalue())


# Found by this test: with `spread`, a partition without a wide duplicate
# group answers without some spread columns.
@example(crm=[("Ann", "Nolan", "ann@acme.com", "555-201-3344", "Acme", ""),
              ("Anne", "Nolan-Smith", "info@acme.com", "", "", "Denver")],
         vendor=[("Bri", "Nolan-Smith", "ann@acme.com", "555-201-3344",
                  "Acme", "Denver"),
                 ("Bri", "Nolan-Smith", "ann@acme.com", "555 999 0000", "",
                  ""),
                 ("Ann", "Reyes", "info@acme.com", "", "Acme", ""),
                 ("Anne", "Nolan", "info@acme.com", "555 999 0000", "Acme",
                  ""),
                 ("Bob", "", "ann@acme.com", "", "Globex", "Boston")],
         batch_rows=4, partitions=4, duplicates="spread")
# And this one: a vendor file with no rows.
@example(crm=[("Ann", "Nolan", "ann@acme.com", "555-201-3344", "Acme",
               "Boston")], vendor=[], batch_rows=1, partitions=1,
         duplicates="first")
@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(crm=st.lists(PERSON, min_size=1, max_size=14),
       vendor=st.lists(PERSON, max_size=12),
       batch_rows=st.integers(1, 6), partitions=st.integers(1, 4),
       duplicates=st.sampled_from(["first", "spread"]))
def test_both_joins_score_alike(crm, vendor, batch_rows, partitions,
                                duplicates):
  header = ["First", "Last", "Email", "Phone", "Company", "City"]
  with tempfile.TemporaryDirectory() as root:
    write(os.path.join(root, "crm.csv"), ["ID"] + header,
          [[str(i)] + list(p) for i, p in enumerate(crm)])
    write(os.path.join(root, "vendor.csv"), header + ["Title"],
          [list(p) + [f"T{i}"] for i, p in enumerate(vendor)])
    out = run_both_joins(root, {
        "original": {"path": os.path.join(root, "crm.csv")},
        "enriched": [{"path": os.path.join(root, "vendor.csv"),
                      "name": "vendor", "keep": ["Title"]}],
        "match": {"keys": KEYS},
        "duplicates": duplicates, "join_partitions": partitions,
        "output": {"shards": 2, "match_columns": True}}, batch_rows)
    assert "match_weights.json" in out


def test_a_kept_multi_valued_name_and_an_id_column_score_alike(tmp_path):
  """A second source, keeping First and Company, whose Company cells hold
  two values (the multi-value policy writes the first: the index holds it
  as written, and both joins compare that), and a record-id key on a
  column called `id`: both joins give the same bytes."""
  root = str(tmp_path)
  write(os.path.join(root, "crm.csv"),
        ["id", "First", "Last", "Email", "Company", "City"], [
            ["A1", "Ann", "Nolan", "ann@acme.com", "Acme", "Boston"],
            ["A2", "Robert", "Reyes", "", "Globex", "Denver"],
            ["A3", "Bri", "Ng", "", "", "Boston"]])
  write(os.path.join(root, "vendor.csv"),
        ["id", "First", "Last", "Email", "Company", "City", "Title"], [
            ["", "Ann", "Nolan", "ann@acme.com", "Acme, Beta", "Boston",
             "CTO"],
            ["", "Bob", "Reyes", "", "Globex, Initech", "Denver", "CFO"],
            ["A3", "Bridgette", "Ng", "", "", "", "VP"]])
  write(os.path.join(root, "firms.csv"),
        ["First", "Last", "Company", "City", "Industry"], [
            ["Robert", "Reyes", "Globex, Acme", "Denver", "Energy"],
            ["Ann", "Nolan", "Acme", "Boston", "Retail"]])
  out = run_both_joins(root, {
      "original": {"path": os.path.join(root, "crm.csv")},
      "enriched": [
          {"path": os.path.join(root, "vendor.csv"), "name": "vendor",
           "keep": ["Title", "First", "Company"]},
          {"path": os.path.join(root, "firms.csv"), "name": "firms",
           "keep": ["Industry", "Company"]}],
      "match": {"keys": [
          {"name": "id", "normalize": "text", "columns": ["id"]},
          KEYS[0], KEYS[-1]]},  # email with confirm, the fuzzy key
      "multi_value": {"columns": {"Company": "first"}},
      "join_partitions": 3,
      "output": {"shards": 1, "match_columns": True}}, 2)
  weights = out["match_weights.json"]
  assert b'"column": "id"' in weights and b'"source": "firms"' in weights


def run_both_joins(root: str, config: dict, batch_rows: int) -> dict:
  """Runs `config` with each join (output under root/<join>); asserts that
  both wrote the same files, byte for byte; returns them by name."""
  out = {}
  for join in ("broadcast", "partitioned"):
    config = dict(config, join=join, output=dict(
        config["output"], path=os.path.join(root, join, "merged"),
        reports=os.path.join(root, join, "r")))
    path = os.path.join(root, f"{join}.yaml")
    with open(path, "w") as f:
      yaml.safe_dump(config, f)
    assert main(["run", path, "--quiet", f"--batch_rows={batch_rows}"]) == 0
    out[join] = files_in(os.path.join(root, join),
                         os.path.join(root, join, "r"))
  assert sorted(out["partitioned"]) == sorted(out["broadcast"])
  for name in out["broadcast"]:
    assert out["partitioned"][name] == out["broadcast"][name], name
  return out["broadcast"]
