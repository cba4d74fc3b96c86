"""The merge through the CLI: cascade, duplicates, multi-values, conflicts,
placement, priority. Every assertion is on the written files."""

import pytest

from conftest import write_csv

EMAIL = {"name": "email", "normalize": "email", "columns": ["Email"]}
PHONE = {"name": "phone", "normalize": "phone", "columns": ["Phone"]}
NAME_ZIP = {"name": "name_zip", "normalize": ["name", "name", "zip"],
            "columns": ["First", "Last", "Zip"]}

ORIGINAL = [
    ["ID", "First", "Last", "Email", "Phone", "Zip", "Title"],
    ["1", "John", "Doe", "john@old.com", "(555) 123-4567", "02134", "CEO"],
    ["2", "Jane", "Smith", "jane@example.com", "", "10001", ""],
    ["3", "José", "Pérez", "", "555-999-0000", "94103", "CTO"],
    ["4", "Ann", "Lee", "", "", "60601", "VP"],
    ["5", "Bob", "Ray", "shared@acme.com", "", "73301", ""],
    ["6", "Bo", "Ray", "shared@acme.com", "", "73301", "Intern"],
]


def run(job, tmp, cli, enriched, keys=(EMAIL, PHONE, NAME_ZIP), **extra):
  original = write_csv(tmp / "crm.csv", ORIGINAL)
  sources = []
  for i, (rows, cfg) in enumerate(enriched):
    path = write_csv(tmp / f"e{i}.csv", rows)
    sources.append({"path": path, **cfg})
  code, _, err = cli("run", job.config(original, sources, list(keys),
                                       **extra))
  assert code == 0, err
  return {r["ID"]: r for r in job.dicts()}


def test_cascade_first_key_that_hits_wins(job, tmp_path, cli):
  out = run(job, tmp_path, cli, [([
      ["Email", "Phone", "First", "Last", "Zip", "Score"],
      ["JOHN@old.com", "", "", "", "", "email-hit"],
      ["", "+1 555 999 0000", "", "", "", "phone-hit"],
      ["", "", "ann", "LEE", "60601-1234", "name-zip-hit"],
      ["john@old.com", "555-999-0000", "", "", "", "never-used"],
  ], {})])
  assert out["1"]["Score"] == "email-hit"
  assert out["3"]["Score"] == "phone-hit"
  assert out["4"]["Score"] == "name-zip-hit"
  assert out["2"]["Score"] == ""
  stats = job.report("stats.json")["enriched"]["e0"]
  assert stats["matches_per_key"] == {"email": 1, "phone": 1, "name_zip": 1}
  # The last row shares its email with the first and its phone with the
  # second: duplicates=first keeps the earlier rows, and all count as used.
  assert (stats["rows_read"], stats["rows_used"]) == (4, 4)


def test_several_original_rows_with_one_key_each_get_the_enrichment(
    job, tmp_path, cli):
  out = run(job, tmp_path, cli, [([["Email", "Plan"],
                                   ["shared@acme.com", "gold"]], {})])
  assert out["5"]["Plan"] == out["6"]["Plan"] == "gold"


def test_each_source_matches_independently_and_priority_decides(
    job, tmp_path, cli):
  out = run(job, tmp_path, cli, [
      ([["Email", "Industry"], ["john@old.com", "Software"]],
       {"name": "first"}),
      ([["Phone", "Industry", "Size"], ["5551234567", "Retail", "50"],
        ["555-999-0000", "Energy", "10"]], {"name": "second"}),
  ])
  assert out["1"]["Industry"] == "Software"  # first source wins
  assert out["1"]["Size"] == "50"
  assert out["3"]["Industry"] == "Energy"  # only the second has it


DUPES = [["Email", "Plan", "Seats"],
         ["john@old.com", "basic", ""],
         ["john@old.com", "pro", "10"],
         ["JOHN@OLD.COM", "basic", "5"]]


@pytest.mark.parametrize("how, plan, seats", [
    ("first", "basic", ""),
    ("last", "basic", "5"),
    ("most_complete", "pro", "10"),
    ("join", "basic; pro", "10; 5"),
])
def test_duplicates(job, tmp_path, cli, how, plan, seats):
  out = run(job, tmp_path, cli, [(DUPES, {})], duplicates=how)
  assert (out["1"]["Plan"], out["1"]["Seats"]) == (plan, seats)
  assert job.report("stats.json")["enriched"]["e0"]["rows_used"] == 3


def test_duplicates_spread_into_numbered_columns(job, tmp_path, cli):
  out = run(job, tmp_path, cli, [(DUPES, {})], duplicates="spread")
  header, _ = job.output()
  assert header[-4:] == ["Plan", "Seats", "Plan_2", "Seats_2"]
  assert [out["1"][c] for c in ("Plan", "Plan_2", "Seats", "Seats_2")] == [
      "basic", "pro", "10", "5"]
  assert out["2"]["Plan_2"] == ""


MULTI = [["Email", "Phone", "Carrier"],
         # Matches row 3 by its second number.
         ["", "+1 951 230 9663, +1 (555) 999-0000", "Verizon"],
         # Matches row 2 by email; fills its blank phone per the policy.
         ["jane@example.com",
          '["555-123-0000", "+1 650-253-0000", "(650) 253-0000"]', "AT&T"]]


@pytest.mark.parametrize("policy, written", [
    ("first", "555-123-0000"),
    ("all", "555-123-0000, +1 650-253-0000, (650) 253-0000"),
    ("deduplicated", "555-123-0000, +1 650-253-0000"),
    ("best", "+1 650-253-0000"),  # the first valid number
])
def test_multi_value_cells_match_on_every_value(job, tmp_path, cli, policy,
                                                written):
  out = run(job, tmp_path, cli, [(MULTI, {"keep": ["Phone", "Carrier"]})],
            keys=(EMAIL, PHONE),
            multi_value={"default": "first", "columns": {"Phone": policy}})
  assert out["3"]["Carrier"] == "Verizon"
  assert out["3"]["Phone"] == "555-999-0000"  # the original is kept
  assert out["2"]["Carrier"] == "AT&T"
  assert out["2"]["Phone"] == written
  matches = job.report("stats.json")["enriched"]["e0"]["matches_per_key"]
  assert matches == {"email": 1, "phone": 1}


CONFLICT = [["Email", "Title", "Zip"],
            ["john@old.com", "Founder", "02134-0000"],
            ["jane@example.com", "Director", "10001"]]


@pytest.mark.parametrize("strategy, title1, alt", [
    ("keep_original", "CEO", None),
    ("fill_empty", "CEO", None),
    ("manual_review", "CEO", None),
    ("replace", "Founder", None),
    ("create_alternate", "CEO", "Founder"),
])
def test_conflict_strategies(job, tmp_path, cli, strategy, title1, alt):
  # Zip is compared with the zip normalizer of the key it belongs to.
  out = run(job, tmp_path, cli, [(CONFLICT, {"keep": ["Title", "Zip"]})],
            keys=(EMAIL, NAME_ZIP), conflicts={"default": strategy})
  assert out["1"]["Title"] == title1
  assert out["2"]["Title"] == "Director"  # a blank is filled by every one
  assert out["1"]["Zip"] == "02134"  # ZIP+4 of the same ZIP: no conflict
  header, _ = job.output()
  if alt:
    assert out["1"]["Title_Alt"] == alt and out["2"]["Title_Alt"] == ""
  else:
    assert "Title_Alt" not in header
  conflicts = job.report("conflicts.csv")
  assert [(c["original_line"], c["column"], c["original_value"],
           c["enriched_value"], c["strategy"]) for c in conflicts] == [
      ("2", "Title", "CEO", "Founder", strategy)]
  stats = job.report("stats.json")
  assert stats["conflicts"] == {"Title": 1}
  assert stats["fill_rate"]["Title"] == {"before": round(4 / 6, 6),
                                         "after": round(5 / 6, 6)}


def test_per_column_strategy_overrides_the_default(job, tmp_path, cli):
  out = run(job, tmp_path, cli, [(CONFLICT, {"keep": ["Title", "Zip"]})],
            keys=(EMAIL, NAME_ZIP), conflicts={"default": "replace",
                                      "columns": {"Title": "keep_original"},
                                      "alternate_suffix": "_New"})
  assert out["1"]["Title"] == "CEO"
  assert out["1"]["Zip"] == "02134"  # same ZIP5: not replaced


@pytest.mark.parametrize("placement, expected", [
    ("append", ["ID", "First", "Last", "Email", "Phone", "Zip", "Title",
                "Title_Alt", "Score", "Email_Verified", "Phone Type"]),
    ("next_to_related", ["ID", "First", "Last", "Email", "Email_Verified",
                         "Phone", "Phone Type", "Zip", "Title", "Title_Alt",
                         "Score"]),
])
def test_column_placement(job, tmp_path, cli, placement, expected):
  run(job, tmp_path, cli, [([["Email", "Score", "Email_Verified", "Phone Type",
                              "Title"], ["john@old.com", "1", "y", "m", "X"]],
                            {"keep": ["Score", "Email_Verified", "Phone Type",
                                      "Title"]})],
      keys=(EMAIL,), columns={"placement": placement},
      conflicts={"columns": {"Title": "create_alternate"}})
  header, _ = job.output()
  assert header == expected


def test_explicit_column_order(job, tmp_path, cli):
  order = ["Email", "ID", "Score", "First", "Last", "Phone", "Zip", "Title"]
  out = run(job, tmp_path, cli, [([["Email", "Score", "Other"],
                                   ["john@old.com", "1", "dropped"]], {})],
            keys=(EMAIL,), columns={"placement": "explicit", "order": order})
  header, _ = job.output()
  assert header == order
  assert out["1"]["Score"] == "1"


def test_an_explicit_order_naming_no_such_column_is_an_error(job, tmp_path,
                                                             cli):
  """A typo in columns.order would write an empty column and drop the one
  meant: refused before anything runs, with the closest column."""
  vendor = write_csv(tmp_path / "e0.csv", [["Email", "Score"],
                                           ["john@old.com", "1"]])
  order = ["Email", "ID", "Scroe", "First", "Last", "Phone", "Zip", "Title"]
  config = job.config(write_csv(tmp_path / "crm.csv", ORIGINAL),
                      [{"path": vendor}], [EMAIL],
                      columns={"placement": "explicit", "order": order})
  code, _, err = cli("validate", config)
  assert code == 2
  assert err.strip() == ("crmsync: error: columns.order: unknown column "
                         "'Scroe' (did you mean 'Score'?)")


def test_default_keep_is_new_columns_plus_mapped_ones(job, tmp_path, cli):
  out = run(job, tmp_path, cli, [([["E-mail Address", "Zip", "Mobile",
                                    "Verified"],
                                   ["jane@example.com", "99999",
                                    "555 000 1111", "yes"]],
                                  {"columns": {"E-mail Address": "Email",
                                               "Mobile": "Phone"}})],
            keys=(EMAIL,))
  header, _ = job.output()
  assert header == [c for c in ORIGINAL[0]] + ["Verified"]
  assert out["2"]["Phone"] == "555 000 1111"  # mapped: blank filled
  assert out["2"]["Zip"] == "10001"  # same name, not mapped: not merged


def test_unmatched_and_rejected_reports_account_for_every_row(job, tmp_path,
                                                               cli):
  run(job, tmp_path, cli, [([["Email", "Plan"], ["john@old.com", "a"],
                             ["nobody@nowhere.com", "b"],
                             ["too", "many", "fields"]], {})], keys=(EMAIL,),
      limits={"max_rejected_fraction": 1})
  unmatched = job.report("unmatched_enriched.csv")
  assert [(u["source"], u["line"]) for u in unmatched] == [("e0", "3")]
  assert '"nobody@nowhere.com"' in unmatched[0]["row"]
  rejected = job.report("rejected.csv")
  assert [(r["source"], r["line"], r["reason"], r["raw"])
          for r in rejected] == [("e0", "4", "expected 2 fields, found 3",
                                  "too,many,fields")]
  stats = job.report("stats.json")
  e = stats["enriched"]["e0"]
  assert (e["rows_read"], e["rows_used"], e["rows_unmatched"],
          e["rows_rejected"]) == (3, 1, 1, 1)
  assert stats["original"] == {"files": [str(tmp_path / "crm.csv")],
                               "rows_read": 6, "rows_rejected": 0,
                               "rows_written": 6}
  assert stats["accounting"]["balanced"] is True


HOSTILE = ['say "hi", \\ back\\slash', "two\nlines\r\nand\ttab", "é ü 😀 \u2028",
           "=1+2", "\b\f", ""]


def test_reports_write_any_value_as_python_csv_and_json_would(job, tmp_path,
                                                              cli):
  """unmatched_enriched.csv and conflicts.csv are built column-wise by
  Arrow; their bytes are those of csv.writer and json.dumps (a value with
  a bare CR aside: that one is quoted, as in the merged output)."""
  import csv
  import io
  import json
  # A column holding other control characters takes a slower path.
  vendor = [["Email", "Note", "Title", "Raw"]] + [
      [f"nobody{i}@nowhere.com", value, HOSTILE[-1 - i], f"\x01{i}"[i % 2:]]
      for i, value in enumerate(HOSTILE)] + [
      ["john@old.com", "x", 'Chief, "Exec"\nOfficer', ""]]
  run(job, tmp_path, cli, [(vendor, {"keep": ["Note", "Title", "Raw"]})],
      keys=(EMAIL,))
  with open(f"{job.reports}/unmatched_enriched.csv", encoding="utf-8",
            newline="") as f:
    written = f.read()
  expected = io.StringIO()
  w = csv.writer(expected, lineterminator="\n")
  w.writerow(["source", "file", "line", "row"])
  line = 2
  for i, value in enumerate(HOSTILE):
    row = {"Note": value, "Title": HOSTILE[-1 - i],
           "Raw": f"\x01{i}"[i % 2:], "Email": f"nobody{i}@nowhere.com"}
    w.writerow(["e0", str(tmp_path / "e0.csv"), line,
                json.dumps(row, ensure_ascii=False)])
    line += 1 + value.count("\n") + HOSTILE[-1 - i].count("\n")
  assert written == expected.getvalue()
  conflicts = job.report("conflicts.csv")
  assert [(c["original_line"], c["column"], c["original_value"],
           c["enriched_value"]) for c in conflicts] == [
      ("2", "Title", "CEO", 'Chief, "Exec"\nOfficer')]
