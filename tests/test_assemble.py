"""transforms/assemble.py: one merged batch from what each source's cascade
gave its rows: candidates by source priority, refused values, conflicts,
the match columns, the report batches and the stats."""

import apache_beam as beam
import numpy as np
import pyarrow as pa

from conftest import row_batch
from crmsync.transforms.assemble import (CONFLICT_COLUMNS, INVALID_COLUMNS,
                                         resolve_batch)
from crmsync.transforms.columns import FILE_COL, LINE_COL, OFFSET_COL
from crmsync.transforms.confirm import REJECTED_COLUMNS
from crmsync.transforms.join import SourceMatch, join_layout
from crmsync.transforms.spec import FuzzyRule, MatchKey, MergeSpec

EMAIL = MatchKey("email", ("Email",), ("email",))
PHONE = MatchKey("phone", ("Phone",), ("phone",))
NAME = MatchKey("name", ("First", "Last"), ("name", "name"),
                fuzzy=FuzzyRule())
ORIGINAL = ("ID", "Email", "Phone", "Title", "First", "Last")
KEPT = ("Phone", "Title", "Web", "Score")


def spec_of(**extra):
  extra.setdefault("conflict_columns", {"Title": "create_alternate"})
  return MergeSpec(ORIGINAL, (EMAIL, PHONE, NAME), match_columns=True,
                   column_kinds={"Web": "url"}, **extra)


def crm_batch():
  return row_batch(2, {
      "ID": ["1", "2", "3", "4", "5"],
      "Email": ["a@x.com", "b@x.com", "c@x.com", "d@x.com", "e@x.com"],
      "Phone": ["", "555-000-1111", "555-000-3333", "", ""],
      "Title": ["", "CEO", "Dev", "", "Ops"],
      "First": ["Ana", "Ben", "Cy", "Di", "Ed"],
      "Last": ["Ng", "Roe", "Poe", "Li", "Yu"]})


def gathered_of(rows):
  """A source's values for each row of the batch (None: no match), with
  the enriched row's file rank and line, as both joins hand them over."""
  columns = {c: pa.array([None if r is None else r[c] for r in rows],
                         pa.string()) for c in KEPT}
  columns[FILE_COL] = pa.array([None if r is None else r["file"]
                                for r in rows], pa.int64())
  columns[LINE_COL] = pa.array([None if r is None else r["line"]
                                for r in rows], pa.int64())
  return pa.table(columns)


def match_of(how, hit, score, rejected=()):
  match = SourceMatch(len(how))
  match.how[:] = how
  match.hit[:] = hit
  match.score[:] = score
  match.rejected = sum(b.num_rows for b in rejected)
  match.rejected_batches = list(rejected)
  return match


def rejected_report(offset, line, source, key):
  """A rejected_matches row (confirm.rejected_batch's schema)."""
  return pa.RecordBatch.from_pylist([{
      "file_index": 2, "offset": offset, "line": line, "source": source,
      "key": key, "score": "0.000", "original": "{}",
      "enriched_file": f"{source}.csv", "enriched_line": 9,
      "enriched": "{}"}], schema=pa.schema(
          [(c, pa.int64() if c in ("file_index", "offset", "line",
                                   "enriched_line") else pa.string())
           for c in REJECTED_COLUMNS]))


def _row(phone="", title="", web="", score="", file=0, line=0):
  return {"Phone": phone, "Title": title, "Web": web, "Score": score,
          "file": file, "line": line}


# Vendor a (first priority): email matches row 0, the fuzzy name key row 3.
GATHERED_A = gathered_of([
    _row("5.55201E+09", "Analyst", "acme.com", "", 0, 7),  # a mangled phone
    None, None,
    _row("555-000-4444", "", "", "9", 0, 9),
    None])
MATCH_A = match_of([0, -1, -1, 2, -1], [3, -1, -1, 5, -1],
                   [1, np.nan, np.nan, 0.9123, np.nan],
                   [rejected_report(100, 3, "a", "email")])
# Vendor b: the phone matches row 0, the email rows 1 and 2.
GATHERED_B = gathered_of([
    _row("555-000-2222", "Intern", "b.org", "5", 1, 3),
    _row("(555) 000-1111", "Chair", "not a url", "6", 1, 4),
    _row("555-000-9999", "Dev ", "", "", 1, 5),
    None, None])
MATCH_B = match_of([1, 0, 0, -1, -1], [0, 1, 2, -1, -1],
                   [1, 1, 1, np.nan, np.nan],
                   [rejected_report(300, 5, "b", "email")])


def merge(spec=None, gathered=None, matches=None):
  """(merged RowBatch, {tag: [values]}) of resolve_batch's outputs."""
  spec = spec or spec_of()
  layout = join_layout(spec, [("a", KEPT), ("b", KEPT)], [])
  gathered = gathered or {"a": GATHERED_A, "b": GATHERED_B}
  matches = matches or {"a": MATCH_A, "b": MATCH_B}
  merged, tagged = [], {}
  for output in resolve_batch(crm_batch(), gathered, matches, layout, spec):
    if isinstance(output, beam.pvalue.TaggedOutput):
      tagged.setdefault(output.tag, []).append(output.value)
    else:
      merged.append(output)
  assert len(merged) == 1
  return merged[0], tagged


def test_the_merged_batch_has_the_layout_then_the_row_positions():
  merged, _ = merge()
  assert merged.file_index == 2
  assert merged.table.schema.names == [
      "ID", "Email", "Phone", "Title", "First", "Last", "Title_Alt", "Web",
      "Score", "_match_key", "_match_score", OFFSET_COL, LINE_COL]
  assert merged.table.column(OFFSET_COL).equals(
      crm_batch().table.column(OFFSET_COL))
  assert merged.table.column(LINE_COL).to_pylist() == [2, 3, 4, 5, 6]
  # Columns no source supplies are the original's.
  for c in ("ID", "Email", "First", "Last"):
    assert merged.table.column(c).equals(crm_batch().table.column(c))


def test_the_candidate_is_the_first_source_with_a_valid_value():
  """Row 0: vendor a's phone went through Excel (5.55201E+09), so vendor
  b's fills the blank; a's empty Score leaves it to b too."""
  merged, _ = merge()
  t = merged.table
  assert t.column("Phone").to_pylist() == [
      "555-000-2222", "555-000-1111", "555-000-3333", "555-000-4444", ""]
  assert t.column("Score").to_pylist() == ["5", "6", "", "9", ""]
  # Web (a URL column): row 0 from a; b's "not a url" in row 1 is refused.
  assert t.column("Web").to_pylist() == ["acme.com", "", "", "", ""]


def test_conflicts_follow_the_columns_strategy():
  """Title is create_alternate: the CRM's CEO stays, the vendor's Chair
  goes to Title_Alt. "Dev " and "Dev" are the same title; phones are
  compared by their keys."""
  merged, _ = merge()
  t = merged.table
  assert t.column("Title").to_pylist() == ["Analyst", "CEO", "Dev", "",
                                           "Ops"]
  assert t.column("Title_Alt").to_pylist() == ["", "Chair", "", "", ""]
  replaced, _ = merge(spec_of(conflict_columns={"Title": "replace",
                                                "Phone": "replace"}))
  assert replaced.table.column("Title").to_pylist() == [
      "Analyst", "Chair", "Dev", "", "Ops"]
  assert replaced.table.column("Phone").to_pylist()[1:3] == [
      "555-000-1111", "555-000-9999"]
  assert "Title_Alt" not in replaced.table.schema.names


def test_conflicts_come_out_as_one_batch_per_original_batch():
  """Phone (row 2) and Title (row 1) both conflict: one batch holds both,
  as the reports are written in one part per original batch."""
  _, tagged = merge()
  assert len(tagged["conflicts"]) == 1
  conflicts = tagged["conflicts"][0]
  assert isinstance(conflicts, pa.RecordBatch)
  assert conflicts.schema.names == list(CONFLICT_COLUMNS)
  assert conflicts.to_pylist() == [
      {"file_index": 2, "line": 4, "offset": 200, "column": "Phone",
       "original": "555-000-3333", "enriched": "555-000-9999", "source": "b",
       "strategy": "fill_empty", "resolution": "kept original"},
      {"file_index": 2, "line": 3, "offset": 100, "column": "Title",
       "original": "CEO", "enriched": "Chair", "source": "b",
       "strategy": "create_alternate",
       "resolution": "enriched written to alternate column"}]


def test_refused_values_come_out_as_one_batch_with_their_enriched_row():
  _, tagged = merge()
  assert len(tagged["invalid_values"]) == 1
  invalid = tagged["invalid_values"][0]
  assert invalid.schema.names == list(INVALID_COLUMNS)
  assert invalid.to_pylist() == [
      {"file_index": 2, "line": 2, "offset": 0, "column": "Phone",
       "value": "5.55201E+09", "source": "a", "source_file": 0,
       "source_line": 7, "reason": "scientific notation: a spreadsheet "
       "rounded the number, its digits are lost"},
      {"file_index": 2, "line": 3, "offset": 100, "column": "Web",
       "value": "not a url", "source": "b", "source_file": 1,
       "source_line": 4, "reason": "not a web address"}]


def test_a_lower_priority_value_is_not_judged_where_a_higher_one_is_used():
  """Row 3: vendor a's phone is used, so vendor b's (invalid) one for that
  row is neither written nor reported."""
  gathered_b = gathered_of([None, None, None,
                            _row("5.55201E+09", file=1, line=8), None])
  merged, tagged = merge(gathered={"a": GATHERED_A, "b": gathered_b})
  assert merged.table.column("Phone")[3].as_py() == "555-000-4444"
  reported = [r for b in tagged["invalid_values"] for r in b.to_pylist()]
  assert [(r["source"], r["line"]) for r in reported] == [("a", 2)]


def test_write_invalid_writes_refused_values_and_still_reports_them():
  merged, tagged = merge(spec_of(write_invalid=True))
  assert merged.table.column("Phone")[0].as_py() == "5.55201E+09"
  assert merged.table.column("Web")[1].as_py() == "not a url"
  assert tagged["invalid_values"][0].num_rows == 2


def test_rejected_matches_of_every_source_come_out_as_one_batch():
  _, tagged = merge()
  assert len(tagged["rejected_matches"]) == 1
  rejected = tagged["rejected_matches"][0]
  assert rejected.schema.names == list(REJECTED_COLUMNS)
  assert rejected.column("source").to_pylist() == ["a", "b"]
  assert rejected.column("offset").to_pylist() == [100, 300]


def test_no_report_batch_where_there_is_nothing_to_report():
  none = {"a": gathered_of([None] * 5), "b": gathered_of([None] * 5)}
  empty = {"a": match_of([-1] * 5, [-1] * 5, [np.nan] * 5),
           "b": match_of([-1] * 5, [-1] * 5, [np.nan] * 5)}
  merged, tagged = merge(gathered=none, matches=empty)
  assert set(tagged) == {"stats"}
  assert merged.table.column("Title").equals(crm_batch().table.column(
      "Title"))
  assert merged.table.column("Score").to_pylist() == [""] * 5
  assert merged.table.column("_match_key").to_pylist() == [""] * 5
  assert merged.table.column("_match_score").to_pylist() == [""] * 5


def test_match_columns_name_each_source_and_key_and_the_weakest_score():
  merged, _ = merge()
  t = merged.table
  assert t.column("_match_key").to_pylist() == [
      "a:email; b:phone", "b:email", "b:email", "a:name", ""]
  assert t.column("_match_score").to_pylist() == ["1", "1", "1", "0.912", ""]


def test_match_key_keeps_source_names_as_written():
  """Each matched source's `source:key`, joined by "; ", whatever the names
  hold (a regex that dropped the empty parts' separators once also cut a
  name's own leading or trailing "; ")."""
  spec = spec_of()
  names = ("; EU", "US; ")
  layout = join_layout(spec, [(n, KEPT) for n in names], [])
  outputs = resolve_batch(
      crm_batch(), dict(zip(names, (GATHERED_A, GATHERED_B))),
      dict(zip(names, (MATCH_A, MATCH_B))), layout, spec)
  merged = [o for o in outputs
            if not isinstance(o, beam.pvalue.TaggedOutput)][0]
  assert merged.table.column("_match_key").to_pylist() == [
      "; EU:email; US; :phone", "US; :email", "US; :email", "; EU:name", ""]


def test_stats_count_matches_conflicts_refusals_and_filled_cells():
  _, tagged = merge()
  assert len(tagged["stats"]) == 1
  stats = tagged["stats"][0]
  assert stats == {
      "merged_rows": 5,
      "matches": {"a": {"email": 1, "name": 1}, "b": {"email": 2,
                                                      "phone": 1}},
      "matched_rows": {"a": 2, "b": 3},
      "fuzzy_matches": {"a": 1, "b": 0},
      "rejected_by_confirm": {"a": 1, "b": 1},
      "refused_by_assignment": {"a": 0, "b": 0},
      "matched_any": 4,
      "match_scores": {18: 1, 19: 3},  # a fuzzy match scored in [0.90, 0.95)
      "conflicts": {"Phone": 1, "Title": 1},
      "invalid_values": {"Phone": 1, "Web": 1},
      "filled_before": {"ID": 5, "Email": 5, "Phone": 2, "Title": 3,
                        "First": 5, "Last": 5},
      "filled_after": {"ID": 5, "Email": 5, "Phone": 4, "Title": 4,
                       "First": 5, "Last": 5, "Title_Alt": 1, "Web": 1,
                       "Score": 3, "_match_key": 4, "_match_score": 4},
  }


def test_outputs_come_in_order_reports_then_stats_then_the_merged_batch():
  layout = join_layout(spec_of(), [("a", KEPT), ("b", KEPT)], [])
  outputs = list(resolve_batch(crm_batch(), {"a": GATHERED_A,
                                             "b": GATHERED_B},
                               {"a": MATCH_A, "b": MATCH_B}, layout,
                               spec_of()))
  tags = [o.tag if isinstance(o, beam.pvalue.TaggedOutput) else "merged"
          for o in outputs]
  assert tags == ["conflicts", "invalid_values", "rejected_matches", "stats",
                  "merged"]


def test_original_keys_given_by_the_caller_decide_conflicts():
  """The broadcast join passes the keys it looked rows up by: a column's
  keys that say two values agree make no conflict."""
  spec = spec_of()
  layout = join_layout(spec, [("a", KEPT), ("b", KEPT)], [])
  keys = {"Phone": pa.array([None, "+15550001111", "+15550009999", None,
                             None], pa.string())}
  outputs = list(resolve_batch(crm_batch(), {"a": GATHERED_A,
                                             "b": GATHERED_B},
                               {"a": MATCH_A, "b": MATCH_B}, layout, spec,
                               keys))
  conflicts = [o.value for o in outputs
               if isinstance(o, beam.pvalue.TaggedOutput)
               and o.tag == "conflicts"]
  assert conflicts[0].column("column").to_pylist() == ["Title"]


def test_a_spread_column_a_source_never_needed_is_written_empty():
  """The partitioned join: a partition without a wide group hands over no
  Title_2 column although the layout (the widest group of any partition)
  has one."""
  spec = spec_of(duplicates="spread")
  layout = join_layout(spec, [("a", KEPT), ("b", KEPT)],
                       [("b", {"Title": 2})])
  assert layout.sources["Title_2"] == ("b",)
  outputs = list(resolve_batch(crm_batch(), {"a": GATHERED_A,
                                             "b": GATHERED_B},
                               {"a": MATCH_A, "b": MATCH_B}, layout, spec))
  merged = outputs[-1]
  assert merged.table.column("Title_2").to_pylist() == [""] * 5
  with_spread = GATHERED_B.append_column("Title_2", pa.array(
      ["", "Board", None, None, None], pa.string()))
  merged = list(resolve_batch(crm_batch(), {"a": GATHERED_A,
                                            "b": with_spread},
                              {"a": MATCH_A, "b": MATCH_B}, layout, spec))[-1]
  assert merged.table.column("Title_2").to_pylist() == ["", "Board", "", "",
                                                        ""]
