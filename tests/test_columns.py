"""Internal columns live in a namespace of their own (transforms/columns.py):
a user's column named like one of ours comes out as it went in, with both
joins, and a header holding the reserved character is a clear error."""

import pytest

from conftest import read_csv, write_csv
from crmsync.transforms.columns import (FILE_COL, LINE_COL, OFFSET_COL,
                                        RESERVED, is_internal)


def test_internal_names_are_reserved_and_not_the_users():
  for name in (FILE_COL, LINE_COL, OFFSET_COL):
    assert is_internal(name) and name.startswith(RESERVED)
  assert not any(is_internal(n) for n in ("__file", "__x", "__line", "_id"))


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_vendor_columns_named_like_internal_ones_come_out_right(
    tmp_path, cli, join):
  crm = write_csv(tmp_path / "crm.csv", [
      ["ID", "Email", "__line"],
      ["1", "ann@example.com", "crm-a"],
      ["2", "bob@example.com", "crm-b"],
      ["3", "cy@example.com", "crm-c"]])
  vendor = write_csv(tmp_path / "vendor.csv", [
      ["Email", "__x", "__file", "__offset", "__id"],
      ["BOB@example.com", "x-bob", "f-bob", "o-bob", "i-bob"],
      ["nobody@example.com", "x-none", "f-none", "o-none", "i-none"],
      ["ann@example.com", "x-ann", "f-ann", "o-ann", "i-ann"]])
  config = tmp_path / "job.yaml"
  config.write_text(
      f"original: {{path: {crm}}}\n"
      f"enriched: [{{path: {vendor}, name: v}}]\n"
      "match: {keys: [{name: email, normalize: email, columns: [Email]}]}\n"
      f"join: {join}\njoin_partitions: 3\n"
      f"output: {{path: {tmp_path}/out/merged, shards: 1}}\n")
  code, _, err = cli("run", str(config))
  assert code == 0, err
  rows = read_csv(tmp_path / "out" / "merged-00000-of-00001.csv")
  assert rows == [
      ["ID", "Email", "__line", "__x", "__file", "__offset", "__id"],
      ["1", "ann@example.com", "crm-a", "x-ann", "f-ann", "o-ann", "i-ann"],
      ["2", "bob@example.com", "crm-b", "x-bob", "f-bob", "o-bob", "i-bob"],
      ["3", "cy@example.com", "crm-c", "", "", "", ""]]
  unmatched = read_csv(tmp_path / "out" / "reports" /
                       "unmatched_enriched.csv")
  assert unmatched[1][:3] == ["v", str(vendor), "3"]
  assert '"__file": "f-none"' in unmatched[1][3]


def test_a_header_holding_the_reserved_character_is_refused(tmp_path, cli):
  crm = write_csv(tmp_path / "crm.csv", [["ID", "Em\x1fail"], ["1", "a@b.c"]])
  vendor = write_csv(tmp_path / "vendor.csv", [["ID", "T"], ["1", "t"]])
  config = tmp_path / "job.yaml"
  config.write_text(
      f"original: {{path: {crm}}}\nenriched: [{{path: {vendor}}}]\n"
      "match: {keys: [{name: id, normalize: text, columns: [ID]}]}\n"
      f"output: {{path: {tmp_path}/out/merged}}\n")
  code, _, err = cli("run", str(config))
  assert code == 2
  assert f"{crm}: line 1: column name 'Em\\x1fail'" in err
  assert "reserves" in err and "Traceback" not in err
  assert not (tmp_path / "out").exists()
