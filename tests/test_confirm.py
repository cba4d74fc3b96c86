"""transforms/confirm.py: a key's hits checked against its confirming
columns (confirm_scores, rejected) and the rejected_matches.csv rows
(rejected_batch). End to end in test_fuzzy.py."""

import json

import numpy as np
import pyarrow as pa
import pytest

from conftest import row_batch
from crmsync.transforms.columns import FILE_COL, LINE_COL, OFFSET_COL
from crmsync.transforms.confirm import (CLEARLY_DIFFERENT, REJECTED_COLUMNS,
                                        confirm_scores, rejected,
                                        rejected_batch)
from crmsync.transforms.spec import MatchKey, MergeSpec

KEY = MatchKey("email", ("Email",), ("email",), confirm=("First", "Last"),
               confirm_normalizers=("name", "name"))
PLAIN = MatchKey("email", ("Email",), ("email",))
NAME_ZIP = MatchKey("name_zip", ("First", "Last", "Zip"),
                    ("name", "name", "zip"))


def spec(*keys):
  return MergeSpec(("ID", "Email", "First", "Last", "Zip"), keys)


# A row with both names blank warns from similarity.row_scores: see
# test_similarity.py's test_a_row_without_names_scores_without_a_warning.
pytestmark = pytest.mark.filterwarnings("ignore:Mean of empty slice")

# A shared inbox: every original row hits the same enriched address.
BATCH = row_batch(1, {
    "ID": ["1", "2", "3", "4", "5", "6"],
    "Email": ["info@acme.com"] * 6,
    "First": ["John", "Jon", "Mary", "", "Bill", "Ann"],
    "Last": ["Smith", "Smith", "Jones", "", "Stone", "Johnson"],
}, offsets=[10, 20, 30, 40, 50, 60], lines=[2, 3, 4, 5, 6, 8])
ORIGINAL = pa.Table.from_batches([BATCH.table])
# The enriched rows that hit, aligned with original rows 0..4 and 5.
HITS = pa.table({
    "Email": ["info@acme.com"] * 5 + ["INFO@acme.com"],
    "First": ["John", "Jonathan", "Peter", "Bob", "William", "Ann"],
    "Last": ["Smith", "Smith", "Parker", "Stone", "Stone", "Jonhson"],
    FILE_COL: pa.array([0, 0, 1, 1, 0, 1], pa.int64()),
    LINE_COL: pa.array([2, 3, 4, 5, 6, 7], pa.int64()),
})
ROWS = np.arange(6)


def test_confirm_scores_compare_the_confirming_columns_of_each_pair():
  scores = confirm_scores(KEY, "US", ORIGINAL, ROWS, HITS)
  assert scores[[0, 1, 2, 4]].tolist() == [1.0, 1.0, 0.0, 1.0]
  assert np.isnan(scores[3])  # blank names: nothing compared
  assert CLEARLY_DIFFERENT < scores[5] < 1.0  # a typo


def test_confirm_scores_take_the_original_rows_asked_for():
  rows = np.array([2, 0])
  scores = confirm_scores(KEY, "US", ORIGINAL, rows,
                          HITS.take(pa.array([2, 0])))
  assert scores.tolist() == [0.0, 1.0]
  scores = confirm_scores(KEY, "US", ORIGINAL, rows[::-1],
                          HITS.take(pa.array([2, 0])))
  assert scores.tolist() == [0.0, 0.0]  # John/Peter, Mary/John


def test_rejected_are_the_hits_clearly_belonging_to_someone_else():
  bad, scores = rejected(KEY, spec(KEY), ORIGINAL, ROWS, HITS)
  assert bad.tolist() == [False, False, True, False, False, False]
  assert scores[2] == 0.0
  # One confirming column is enough to score: a blank one is not held
  # against the row, and blanks alone reject nothing.
  one_blank = ORIGINAL.set_column(3, "Last", pa.array([""] * 6))
  bad, scores = rejected(KEY, spec(KEY), one_blank, ROWS, HITS)
  assert bad.tolist() == [False, False, True, False, False, False]


def test_a_key_without_confirm_is_checked_on_the_names_other_keys_read():
  # An email key before a name + ZIP key: at the shared inbox, the hit
  # whose names both clearly differ (Mary Jones / Peter Parker) is someone
  # else; a nickname, a typo, a blank name or names swapped are not.
  swapped = HITS.set_column(1, "First", pa.array(
      ["John", "Jonathan", "Peter", "Bob", "Stone", "Ann"])).set_column(
          2, "Last", pa.array(["Smith", "Smith", "Parker", "Stone",
                               "William", "Jonhson"]))
  for hits in (HITS, swapped):
    bad, scores = rejected(PLAIN, spec(PLAIN, NAME_ZIP), ORIGINAL, ROWS,
                           hits)
    assert bad.tolist() == [False, False, True, False, False, False]
    assert scores[2] == 0.0 and np.isnan(scores[[0, 1, 3, 4, 5]]).all()
  # A shared surname (a couple's inbox) is not clearly someone else: the
  # names agree on something.
  couple = HITS.set_column(1, "First", pa.array(["Joan"] * 6))
  bad, _ = rejected(PLAIN, spec(PLAIN, NAME_ZIP), ORIGINAL, ROWS, couple)
  assert bad.tolist() == [False, False, True, False, False, False]
  # Nothing to check: a name key itself, a source without names, scoring.
  assert not rejected(NAME_ZIP, spec(PLAIN, NAME_ZIP), ORIGINAL, ROWS,
                      HITS)[0].any()
  assert not rejected(PLAIN, spec(PLAIN, NAME_ZIP), ORIGINAL, ROWS,
                      HITS.select(["Email", FILE_COL, LINE_COL]))[0].any()


def test_the_threshold_is_clearly_different():
  assert CLEARLY_DIFFERENT == 0.5
  key = MatchKey("email", ("Email",), ("email",), confirm=("Company",),
                 confirm_normalizers=("company",))
  original = pa.table({"Company": ["Acme", "Acme", "Acme Intl"]})
  hits = pa.table({"Company": ["Globex", "Acme Inc", "Acme International"]})
  bad, scores = rejected(key, spec(key), original, np.arange(3), hits)
  assert scores[0] < CLEARLY_DIFFERENT and scores[1:].tolist() == [1.0, 1.0]
  assert bad.tolist() == [True, False, False]


def test_a_key_without_confirm_or_hits_rejects_nothing():
  bad, scores = rejected(PLAIN, spec(PLAIN), ORIGINAL, ROWS, HITS)
  assert bad.tolist() == [False] * 6 and np.isnan(scores).all()
  bad, scores = rejected(KEY, spec(KEY), ORIGINAL, np.array([], np.int64),
                         HITS.slice(0, 0))
  assert bad.size == 0 and scores.size == 0


def test_rejected_batch_lists_both_rows_and_the_score():
  bad, scores = rejected(KEY, spec(KEY), ORIGINAL, ROWS, HITS)
  out = rejected_batch(BATCH, ROWS[bad], "vendor", KEY, scores[bad],
                       HITS.filter(pa.array(bad)), ["a.csv", "b.csv"],
                       FILE_COL, OFFSET_COL, LINE_COL)
  assert isinstance(out, pa.RecordBatch)
  assert tuple(out.schema.names) == REJECTED_COLUMNS
  assert out.schema.field("line").type == pa.int64()
  assert out.schema.field("enriched_line").type == pa.int64()
  assert out.to_pylist() == [{
      "file_index": 1, "offset": 30, "line": 4, "source": "vendor",
      "key": "email", "score": "0.000",
      "original": json.dumps({"Email": "info@acme.com", "First": "Mary",
                              "Last": "Jones"}),
      "enriched_file": "b.csv", "enriched_line": 4,
      "enriched": json.dumps({"Email": "info@acme.com", "First": "Peter",
                              "Last": "Parker"})}]


def test_rejected_batch_keeps_values_as_written_and_formats_scores():
  key = MatchKey("phone", ("Phone",), ("phone",), confirm=("First",),
                 confirm_normalizers=("name",))
  batch = row_batch(0, {"Phone": ["555-201-3344", "555-201-3344"],
                        "First": ["Zoë", "Łukasz"]}, lines=[2, 9])
  hits = pa.table({"Phone": ["+1 555 201 3344", "5552013344"],
                   "First": ["Ana \"Nan\"", None],
                   FILE_COL: pa.array([0, 0], pa.int64()),
                   LINE_COL: pa.array([12, 13], pa.int64())})
  out = rejected_batch(batch, np.array([0, 1]), "switchboard", key,
                       np.array([0.12345, np.nan]), hits, ["v.csv"],
                       FILE_COL, OFFSET_COL, LINE_COL).to_pylist()
  assert [r["score"] for r in out] == ["0.123", "0.000"]
  assert [(r["offset"], r["line"]) for r in out] == [(0, 2), (100, 9)]
  assert json.loads(out[0]["original"]) == {"Phone": "555-201-3344",
                                            "First": "Zoë"}
  assert "Zoë" in out[0]["original"]  # not \u-escaped
  assert json.loads(out[0]["enriched"]) == {"Phone": "+1 555 201 3344",
                                            "First": 'Ana "Nan"'}
  assert json.loads(out[1]["enriched"]) == {"Phone": "5552013344",
                                            "First": None}
  assert [r["enriched_file"] for r in out] == ["v.csv", "v.csv"]


def test_rejected_batch_of_no_rows():
  out = rejected_batch(BATCH, np.array([], np.int64), "vendor", KEY,
                       np.array([]), HITS.slice(0, 0), ["a.csv"], FILE_COL,
                       OFFSET_COL, LINE_COL)
  assert out.num_rows == 0 and tuple(out.schema.names) == REJECTED_COLUMNS
