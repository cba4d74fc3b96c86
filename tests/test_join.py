"""transforms/join.py: what both joins share: the layout from what each
index supplied, the accounts of the enriched rows, the cascade's choice per
source (SourceMatch) and the counting of merged outputs."""

import json

import apache_beam as beam
import numpy as np
import pyarrow as pa

from conftest import row_batch
from crmsync.transforms import join
from crmsync.transforms.columns import FILE_COL, ID_COL, LINE_COL
from crmsync.transforms.confirm import REJECTED_COLUMNS
from crmsync.transforms.join import (EnrichedAccount, SourceBooks,
                                     SourceMatch, Supplied, account,
                                     count_outputs, join_layout)
from crmsync.transforms.spec import MatchKey, MergeSpec

EMAIL = MatchKey("email", ("Email",), ("email",))
PHONE = MatchKey("phone", ("Phone",), ("phone",))
SPEC = MergeSpec(("ID", "Email", "Phone"), (EMAIL, PHONE))


# join_layout --------------------------------------------------------------


def test_spread_columns_are_as_wide_as_the_widest_group_in_any_index():
  """The partitioned join builds an index per partition: each reports its
  own widest groups, and the layout takes the widest per source."""
  spec = MergeSpec(("ID", "Email"), (EMAIL,), duplicates="spread")
  kept = [("a", ("Title", "City")), ("b", ("Title",))]
  supplied = [Supplied("a", {"Title": 2}), Supplied("b", {"Title": 4}),
              Supplied("a", {"Title": 3, "City": 2}),
              ("a", {"Title": 2})]  # a plain tuple will do
  layout = join_layout(spec, kept, supplied)
  assert layout.columns == ("ID", "Email", "Title", "City", "Title_2",
                            "Title_3", "City_2", "Title_4")
  assert layout.sources == {
      "Title": ("a", "b"), "City": ("a",), "Title_2": ("a", "b"),
      "Title_3": ("a", "b"), "City_2": ("a",), "Title_4": ("b",)}


def test_a_source_with_no_rows_still_supplies_its_kept_columns():
  """An empty vendor file (or one no partition received) reports nothing,
  but the header must not depend on it."""
  kept = [("empty", ("Nothing",)), ("v", ("Title",))]
  layout = join_layout(SPEC, kept, [Supplied("v", {})])
  assert layout.columns == ("ID", "Email", "Phone", "Nothing", "Title")
  assert layout.sources == {"Nothing": ("empty",), "Title": ("v",)}
  assert join_layout(SPEC, kept, []).columns == layout.columns


def test_a_kept_original_column_with_create_alternate_gets_its_alternate():
  spec = MergeSpec(("ID", "Email", "Phone"), (EMAIL,),
                   conflict_columns={"Phone": "create_alternate"})
  layout = join_layout(spec, [("v", ("Phone", "Title"))], [])
  assert layout.columns == ("ID", "Email", "Phone", "Phone_Alt", "Title")
  assert layout.alternates == {"Phone_Alt": "Phone"}


# account ------------------------------------------------------------------


def _owned(file_index, ids, lines, titles):
  return pa.table({FILE_COL: pa.array([file_index] * len(ids), pa.int64()),
                   LINE_COL: pa.array(lines, pa.int64()),
                   "Title": pa.array(titles, pa.string()),
                   ID_COL: pa.array(ids, pa.int64())})


def test_account_counts_used_rows_and_lists_the_unused_ones():
  """Rows owned by two partitions (each row in exactly one table); the
  matches' identities come in several arrays, with repeats."""
  owned = [_owned(0, [0, 100, 200], [2, 3, 4], ["a", "b", "c"]),
           _owned(1, [1 << 40, (1 << 40) | 100], [2, 3], ["d", "e"])]
  used = [np.array([200, 0]), np.array([200, (1 << 40) | 100, 999])]
  result = account("v", ["f0.csv", "f1.csv"], iter(owned), iter(used))
  assert isinstance(result, EnrichedAccount)
  assert (result.source, result.files) == ("v", ["f0.csv", "f1.csv"])
  assert (result.rows_read, result.rows_used) == (5, 3)
  # Unmatched rows as the reports list them, without their identity.
  assert result.unmatched.to_pylist() == [
      {FILE_COL: 0, LINE_COL: 3, "Title": "b"},
      {FILE_COL: 1, LINE_COL: 2, "Title": "d"}]
  assert result.books() == SourceBooks("v", ["f0.csv", "f1.csv"], 5, 3, 2)


def test_account_of_a_source_no_match_used():
  owned = [_owned(0, [0, 100], [2, 3], ["a", "b"])]
  result = account("v", ["f0.csv"], owned, [])
  assert (result.rows_read, result.rows_used) == (2, 0)
  assert result.unmatched.column("Title").to_pylist() == ["a", "b"]


def test_account_of_a_source_with_no_rows():
  result = account("empty", ["e.csv"], [], [np.array([5])])
  assert result.books() == SourceBooks("empty", ["e.csv"], 0, 0, 0)
  assert result.unmatched.column_names == [FILE_COL, LINE_COL]


# SourceMatch.accept -------------------------------------------------------


def _hits(emails, firsts, lines, phones=None):
  """The enriched rows that hit, as the index's table has them."""
  columns = {"Email": pa.array(emails, pa.string()),
             "First": pa.array(firsts, pa.string()),
             FILE_COL: pa.array([0] * len(emails), pa.int64()),
             LINE_COL: pa.array(lines, pa.int64())}
  if phones is not None:
    columns["Phone"] = pa.array(phones, pa.string())
  return pa.table(columns)


def test_a_new_match_is_empty():
  match = SourceMatch(3)
  assert match.hit.tolist() == [-1, -1, -1]
  assert match.how.tolist() == [-1, -1, -1]
  assert np.isnan(match.score).all()
  assert match.rejected == 0 and match.rejected_batches == []


def test_the_first_key_that_hits_wins():
  batch = row_batch(0, {"Email": ["a", "b", "c", "d"]})
  match = SourceMatch(4)
  match.accept(batch, 0, EMAIL, np.array([0, 2]), np.array([7, 8]),
               np.ones(2), None, "v", ["v.csv"], SPEC)
  # Key 1 hits rows 1 to 3: only rows 1 and 3 were still free.
  match.accept(batch, 1, PHONE, np.array([1, 2, 3]), np.array([4, 5, 6]),
               np.array([1.0, 1.0, 0.9]), None, "v", ["v.csv"], SPEC)
  assert match.hit.tolist() == [7, 4, 8, 6]
  assert match.how.tolist() == [0, 1, 0, 1]
  assert match.score.tolist() == [1.0, 1.0, 1.0, 0.9]
  assert match.rejected == 0


SHARED = MatchKey("email", ("Email",), ("email",), confirm=("First",),
                  confirm_normalizers=("name",))


def test_confirm_rejects_a_shared_inbox_and_keeps_the_row_free():
  """A real-world case: the CRM has two people behind info@acme.com, a
  shared inbox, and the vendor's row for it is John's. Mary's hit on it is
  rejected (John and Mary are two people), listed for the report, and Mary
  is still matched by the next key, her phone."""
  spec = MergeSpec(("ID", "Email", "First", "Phone"), (SHARED, PHONE))
  batch = row_batch(3, {"Email": ["info@acme.com", "info@acme.com",
                                  "ana@x.com"],
                        "First": ["John", "Mary", ""],
                        "Phone": ["", "555-000-2222", ""]})
  match = SourceMatch(3)
  hits = _hits(["info@acme.com", "info@acme.com", "ana@x.com"],
               ["John", "John", "Ana"], [2, 2, 3])
  match.accept(batch, 0, SHARED, np.array([0, 1, 2]), np.array([0, 0, 1]),
               np.ones(3), hits, "vendor", ["vendor.csv"], spec)
  assert match.hit.tolist() == [0, -1, 1]  # a blank name rejects nothing
  assert match.how.tolist() == [0, -1, 0]
  assert match.rejected == 1
  assert len(match.rejected_batches) == 1
  report = match.rejected_batches[0]
  assert report.schema.names == list(REJECTED_COLUMNS)
  row = report.to_pylist()[0]
  assert {k: row[k] for k in ("file_index", "offset", "line", "source", "key",
                              "score", "enriched_file", "enriched_line")} == {
      "file_index": 3, "offset": 100, "line": 3, "source": "vendor",
      "key": "email", "score": "0.000", "enriched_file": "vendor.csv",
      "enriched_line": 2}
  assert json.loads(row["original"]) == {"Email": "info@acme.com",
                                         "First": "Mary"}
  assert json.loads(row["enriched"]) == {"Email": "info@acme.com",
                                         "First": "John"}
  match.accept(batch, 1, PHONE, np.array([1]), np.array([2]), np.ones(1),
               None, "vendor", ["vendor.csv"], spec)
  assert match.hit.tolist() == [0, 2, 1]
  assert match.how.tolist() == [0, 1, 0]


def test_confirm_only_judges_rows_still_free():
  """Hits aligned with `rows`: those of rows an earlier key matched are
  dropped before the confirming columns are compared."""
  spec = MergeSpec(("ID", "Email", "First", "Phone"), (PHONE, SHARED))
  batch = row_batch(0, {"Email": ["info@acme.com", "info@acme.com"],
                        "First": ["Mary", "Mary"], "Phone": ["", ""]})
  match = SourceMatch(2)
  match.accept(batch, 0, PHONE, np.array([0]), np.array([5]), np.ones(1),
               None, "v", ["v.csv"], spec)
  hits = _hits(["info@acme.com", "info@acme.com"], ["John", "Maria"], [2, 4])
  match.accept(batch, 1, SHARED, np.array([0, 1]), np.array([0, 1]),
               np.ones(2), hits, "v", ["v.csv"], spec)
  # Row 0 (phone) is not judged against John; row 1's Maria confirms Mary.
  assert match.hit.tolist() == [5, 1]
  assert match.how.tolist() == [0, 1]
  assert match.rejected == 0 and match.rejected_batches == []


# count_outputs ------------------------------------------------------------


class _Progress:
  def __init__(self):
    self.added = []

  def add(self, rows):
    self.added.append(rows)


class _Metrics:
  """Beam's Metrics, recording what is counted."""

  def __init__(self):
    self.counts = {}

  def counter(self, namespace, name):
    metrics = self

    class Counter:
      def inc(self, n=1):
        key = (namespace, name)
        metrics.counts[key] = metrics.counts.get(key, 0) + n
    return Counter()


def _stats(merged, matched, conflicts=None, invalid=None, rejected=None,
           refused=None):
  return {"merged_rows": merged, "matched_any": matched,
          "conflicts": conflicts or {}, "invalid_values": invalid or {},
          "rejected_by_confirm": rejected or {},
          "refused_by_assignment": refused or {}}


def test_count_outputs_passes_every_output_on_and_counts_the_stats(
    monkeypatch):
  metrics = _Metrics()
  monkeypatch.setattr(join, "Metrics", metrics)
  progress = _Progress()
  conflicts = beam.pvalue.TaggedOutput("conflicts", pa.record_batch(
      {"column": pa.array(["Email"])}))
  merged = row_batch(0, {"Email": ["a@x.com"]})
  stats = beam.pvalue.TaggedOutput("stats", _stats(
      10, 4, {"Email": 2, "Phone": 1}, {"Phone": 3}, {"v": 1, "w": 0},
      {"v": 2}))
  outputs = [conflicts, stats, merged]
  assert list(count_outputs(iter(outputs), progress)) == outputs
  assert progress.added == [10]
  assert metrics.counts == {
      ("crmsync", "rows_merged"): 10, ("crmsync", "rows_matched"): 4,
      ("crmsync", "conflicts"): 3, ("crmsync", "invalid_values"): 3,
      ("crmsync", "matches_rejected_by_confirm"): 1,
      ("crmsync", "matches_refused_by_assignment"): 2}


def test_count_outputs_counts_nothing_for_zeros(monkeypatch):
  metrics = _Metrics()
  monkeypatch.setattr(join, "Metrics", metrics)
  progress = _Progress()
  stats = beam.pvalue.TaggedOutput("stats", _stats(5, 0))
  list(count_outputs([stats, stats], progress))
  assert progress.added == [5, 5]
  assert metrics.counts == {("crmsync", "rows_merged"): 10}
