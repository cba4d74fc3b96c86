"""The fuzzy key and `confirm`: scoring, blocking, threshold, the output
columns and reports, and the same bytes from both joins."""

import json
import os
import sys

import numpy as np
import pyarrow as pa
import pytest

from conftest import files_in, write_csv
from crmsync.transforms.fuzzy import CodeCounts, FuzzyIndex, FuzzyValues
from crmsync.transforms.similarity import prepare, row_scores
from crmsync.transforms.spec import FuzzyRule, MatchKey

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = ("name", "name", "company")


def _score(left, right, kinds=KINDS):
  cols = lambda rows: [prepare(pa.array(list(c)), k, "US")
                       for c, k in zip(zip(*rows), kinds)]
  return row_scores(cols(left), cols(right), kinds)


def test_scores_forgive_nicknames_typos_swaps_and_legal_suffixes():
  s = _score([("Jonathan", "Smith", "Acme Incorporated"),
              ("William", "Johnson", "Globex Intl"),
              ("Katherine", "Brown", "Initech"),
              ("Maria", "Garcia", "Hooli"),
              ("Peter", "Davis", "Umbrella Corp")],
             [("Jon", "Smith", "ACME, Inc."),
              ("Bill", "Jonhson", "Globex International"),
              ("Brown", "Katherine", "Initech LLC"),
              ("Maria", "Garcia", ""),
              ("Peter", "Davis", "Stark Industries")])
  assert s[0] == 1.0  # nickname, case and legal suffix
  assert 0.9 < s[1] < 1.0  # nickname, a typo in the last name, "Intl"
  assert s[2] == 1.0  # first and last swapped
  assert s[3] == 1.0  # a blank company is not held against the row
  assert s[4] < 0.85  # same name, another company


def test_two_different_known_names_veto_a_pair_however_close():
  s = _score([("John", "Smith", "Acme"), ("Jhon", "Smith", "Acme")],
             [("Joan", "Smith", "Acme"), ("John", "Smith", "Acme")])
  assert s[0] == 0.0  # John and Joan: two people
  assert s[1] > 0.9  # Jhon is no one's name: a typo


def test_too_little_in_common_to_score_is_no_score():
  s = _score([("John", "", "")], [("John", "Smith", "Acme")])
  assert np.isnan(s[0])


KEY = MatchKey("fuzzy", ("First", "Last", "Company"), KINDS,
               fuzzy=FuzzyRule(threshold=0.85, max_block=2))


def _values(rows, key=KEY):
  table = pa.table({c: pa.array(list(v)) for c, v in
                    zip(key.columns, zip(*rows))})
  return FuzzyValues.of(table, key, "US")


def test_blocks_pair_the_columns_and_compare_only_rows_sharing_a_code():
  index = FuzzyIndex(KEY, _values([("Jonathan", "Smith", "Acme Inc"),
                                   ("Mary", "Jones", "Globex"),
                                   ("Jonathan", "Smith", "Initech")]),
                     np.arange(3))
  asked, found, _ = index.candidates(_values([("Jon", "Smith", "Acme")]))
  # (Last, Company) is the only block "Jon" shares, and only with row 0:
  # (First, Last) codes differ (JN / JN0N), and row 2 is at another company.
  assert found.tolist() == [0]
  rows, hit, scores = index.best(_values([("Jon", "Smith", "Acme"),
                                          ("Zed", "Quux", "Nothing")]))
  assert rows.tolist() == [0] and hit.tolist() == [0]
  assert scores[0] == 1.0


def test_a_block_code_shared_by_too_many_rows_is_dropped():
  same = [("Jonathan", "Smith", c) for c in ("Acme", "Globex", "Initech")]
  index = FuzzyIndex(KEY, _values(same), np.arange(3))
  # The (First, Last) code is shared by 3 rows, over max_block 2: dropped.
  # Each (First, Company) and (Last, Company) code stays.
  assert index.dropped_blocks == 1
  asked, found, _ = index.candidates(
      _values([("Jonathan", "Smith", "Hooli")]))
  assert found.size == 0
  asked, found, _ = index.candidates(_values([("Jon", "Smith", "Globex")]))
  assert found.tolist() == [1]


def test_a_row_scores_its_best_few_candidates_only(monkeypatch):
  from crmsync.transforms import fuzzy
  monkeypatch.setattr(fuzzy, "MAX_CANDIDATES", 2)
  key = MatchKey("fuzzy", KEY.columns, KINDS,
                 fuzzy=FuzzyRule(threshold=0.5, max_block=100))
  rows = [("Jonathan", "Smith", f"Company{i}") for i in range(5)]
  rows.append(("Jonathan", "Smith", "Acme"))  # 3 columns agree, not 2
  index = FuzzyIndex(key, _values(rows, key), np.arange(6))
  asked, found, rank = index.candidates(
      _values([("Jonathan", "Smith", "Acme")], key))
  # Every row shares Jonathan's and Smith's codes: they weigh
  # log2(6 / 6) = 0; one row in 6 has Acme's: log2(6). The highest rank,
  # then file order.
  assert sorted(rank.tolist()) == [0, pytest.approx(np.log2(6))]
  assert sorted(found.tolist()) == [0, 5]


def test_a_rare_shared_code_outranks_common_ones(monkeypatch):
  """The true match of a row whose given name the vendor wrote as a
  nickname (codes RBRT and BB differ) shares its rare surname and the
  company; two namesakes earlier in the file share the common given name
  and the company. Each shares two codes: counted, file order chose a
  namesake; weighted by rarity, the surname wins."""
  from crmsync.transforms import fuzzy
  monkeypatch.setattr(fuzzy, "MAX_CANDIDATES", 1)
  key = MatchKey("fuzzy", KEY.columns, KINDS,
                 fuzzy=FuzzyRule(threshold=0.5, max_block=100))
  index = FuzzyIndex(key, _values([("Robert", "Smith", "Acme"),
                                   ("Robert", "Jones", "Acme"),
                                   ("Bob", "Kowalczyk", "Acme")], key),
                     np.arange(3))
  asked, found, rank = index.candidates(
      _values([("Robert", "Kowalczyk", "Acme")], key))
  assert found.tolist() == [2]
  assert rank.tolist() == [pytest.approx(np.log2(3))]


def test_ties_go_to_the_first_row_in_file_order():
  index = FuzzyIndex(KEY, _values([("Jonathan", "Smith", "Acme"),
                                   ("Jonathan", "Smith", "Acme")]),
                     np.array([7, 3]))  # the second row comes first on disk
  rows, hit, _ = index.best(_values([("Jon", "Smith", "Acme")]))
  assert hit.tolist() == [1]


ORIGINAL = [["ID", "First", "Last", "Email", "Company", "City"],
            ["1", "Jonathan", "Smith", "jsmith@acme.com", "Acme Incorporated",
             "Boston"],
            ["2", "William", "Johnson", "", "Globex", "Denver"],
            ["3", "John", "Brown", "info@hooli.com", "Hooli", "Austin"],
            ["4", "Mary", "Jones", "info@hooli.com", "Hooli", "Austin"],
            ["5", "Katherine", "Lee", "klee@initech.com", "Initech",
             "Seattle"]]
VENDOR = [["Email", "First", "Last", "Company", "City", "Score"],
          ["", "Jon", "Smith", "ACME, Inc.", "Boston", "91"],  # fuzzy: 1
          ["", "Bill", "Jonson", "Globex LLC", "Denver", "72"],  # fuzzy: 2
          ["info@hooli.com", "Mary", "Jones", "Hooli", "Austin", "55"],
          ["", "Kathleen", "Lee", "Initech", "Seattle", "40"],  # not 5
          ["", "Zed", "Quux", "Nowhere", "Nome", "10"]]


def _config(job, tmp_path, confirm=(), threshold=None, **extra):
  original = write_csv(tmp_path / "crm.csv", ORIGINAL)
  vendor = write_csv(tmp_path / "vendor.csv", VENDOR)
  fuzzy = {"name": "fuzzy", "normalize": "fuzzy",
           "columns": ["First", "Last", "Company", "City"]}
  if threshold:
    fuzzy["threshold"] = threshold
  email = {"name": "email", "normalize": "email", "columns": ["Email"]}
  if confirm:
    email["confirm"] = list(confirm)
  # The cascade's own rules (threshold, confirm's veto): scoring off.
  return job.config(original, [{"path": vendor, "name": "vendor",
                                 "keep": ["Score"]}], [email, fuzzy],
                    output={"path": job.prefix, "shards": 2,
                            "reports": job.reports, "match_columns": True},
                    match={"keys": [email, fuzzy], "scoring": False},
                    **extra)


def test_fuzzy_matches_only_what_exact_keys_missed_and_says_so(
    job, cli, tmp_path):
  code, _, err = cli("run", _config(job, tmp_path))
  assert code == 0, err
  rows = {r["ID"]: r for r in job.dicts()}
  got = {i: (r["Score"], r["_match_key"], r["_match_score"])
         for i, r in rows.items()}
  assert got["1"] == ("91", "vendor:fuzzy", "1")
  assert got["2"][:2] == ("72", "vendor:fuzzy")
  assert 0.88 <= float(got["2"][2]) < 1  # "Jonson": a typo
  # Without confirm, the email key is checked on the names the fuzzy key
  # reads: at the shared inbox, Mary Jones's row is not John Brown's.
  assert got["3"] == ("", "", "")
  assert got["4"] == ("55", "vendor:email", "1")
  [refused] = job.report("rejected_matches.csv")
  assert (refused["original_line"], refused["key"],
          refused["confirm_score"]) == ("4", "email", "0.000")
  assert json.loads(refused["original_values"])["First"] == "John"
  assert json.loads(refused["enriched_values"])["First"] == "Mary"
  # Kathleen is not Katherine; nothing is a match for Zed.
  assert got["5"] == ("", "", "")
  stats = job.report("stats.json")["enriched"]["vendor"]
  assert stats["matches_per_key"] == {"email": 1, "fuzzy": 2}
  assert stats["fuzzy_matches"] == 2
  assert stats["rows_used"] == 3 and stats["rows_unmatched"] == 2
  unmatched = [json.loads(r["row"])["First"]
               for r in job.report("unmatched_enriched.csv")]
  assert unmatched == ["Kathleen", "Zed"]


def test_the_threshold_decides_how_close_is_close_enough(job, cli, tmp_path):
  code, _, err = cli("run", _config(job, tmp_path, threshold=0.995))
  assert code == 0, err
  rows = {r["ID"]: r for r in job.dicts()}
  assert rows["1"]["_match_key"] == "vendor:fuzzy"  # scores 1
  assert rows["2"]["_match_key"] == ""  # scores below 0.995


def test_confirm_rejects_a_shared_inbox_and_reports_both_rows(
    job, cli, tmp_path):
  code, _, err = cli("run", _config(job, tmp_path,
                                    confirm=("First", "Last")))
  assert code == 0, err
  rows = {r["ID"]: r for r in job.dicts()}
  assert rows["3"]["Score"] == ""  # John Brown is not Mary Jones
  assert rows["4"]["Score"] == "55"
  rejected = job.report("rejected_matches.csv")
  assert len(rejected) == 1
  r = rejected[0]
  assert (r["original_line"], r["source"], r["key"], r["enriched_line"]) == (
      "4", "vendor", "email", "4")
  assert r["enriched_file"].endswith("vendor.csv")
  assert json.loads(r["original_values"]) == {
      "Email": "info@hooli.com", "First": "John", "Last": "Brown"}
  assert json.loads(r["enriched_values"]) == {
      "Email": "info@hooli.com", "First": "Mary", "Last": "Jones"}
  stats = job.report("stats.json")["enriched"]["vendor"]
  assert stats["matches_rejected_by_confirm"] == 1
  assert stats["matches_per_key"] == {"email": 1, "fuzzy": 2}


@pytest.mark.parametrize("keys, message", [
    ([{"name": "fuzzy", "normalize": "fuzzy", "columns": ["First", "Last"]},
      {"name": "email", "normalize": "email", "columns": ["Email"]}],
     "match.keys.0.normalize: 'fuzzy' is for the last key of the cascade "
     "only"),
    ([{"name": "email", "normalize": "email", "columns": ["Email"],
       "threshold": 0.9}],
     "match.keys.0.threshold: 0.9 is for a fuzzy key only "
     "(normalize: fuzzy; this key's is 'email')"),
    ([{"name": "email", "normalize": "email", "columns": ["Email"],
       "confirm": ["Middle"]}],
     "match.keys.0 (email): column 'Middle' is not in the header"),
])
def test_fuzzy_and_confirm_config_errors_name_the_key(job, cli, tmp_path,
                                                      keys, message):
  original = write_csv(tmp_path / "crm.csv", ORIGINAL)
  vendor = write_csv(tmp_path / "vendor.csv", VENDOR)
  config = job.config(original, [{"path": vendor}], keys)
  code, _, err = cli("run", config)
  assert code == 2
  assert message in err, err
  assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("max_candidates", [4, 1])
def test_both_joins_agree_with_fuzzy_and_confirm_on_the_labelled_set(
    tmp_path, cli, monkeypatch, max_candidates):
  # A row's blocks meet in different partitions: the candidate cap must
  # still pick the same candidates (1 makes it bite on most rows).
  from crmsync.transforms import fuzzy
  monkeypatch.setattr(fuzzy, "MAX_CANDIDATES", max_candidates)
  sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
  import match_quality
  data = str(tmp_path / "data")
  match_quality.build(600, 2, data)
  out = {}
  for join in ("broadcast", "partitioned"):
    config = tmp_path / f"{join}.yaml"
    config.write_text(match_quality.config(data, str(tmp_path / join),
                                           True, True, join))
    code, _, err = cli("run", config, "--set=join_partitions=5",
                       "--set=match.scoring=false", "--batch_rows=97")
    assert code == 0, err
    out[join] = files_in(str(tmp_path / join),
                         str(tmp_path / join / "reports"))
  assert out["broadcast"] == out["partitioned"]
  stats = json.loads(out["broadcast"]["stats.json"])["enriched"]["vendor"]
  assert stats["fuzzy_matches"] > 50
  assert stats["matches_rejected_by_confirm"] > 0


def test_a_source_without_a_confirming_column_is_an_error(job, cli,
                                                          tmp_path):
  original = write_csv(tmp_path / "crm.csv", ORIGINAL)
  vendor = write_csv(tmp_path / "vendor.csv", [["Email", "Score"],
                                               ["info@hooli.com", "1"]])
  config = job.config(original, [{"path": vendor, "name": "v"}], [
      {"name": "email", "normalize": "email", "columns": ["Email"],
       "confirm": ["First"]}])
  code, _, err = cli("run", config)
  assert code == 2
  assert "match.keys.0 (email): " in err and "lacks column 'First'" in err


def test_validate_does_not_estimate_the_fuzzy_key_as_an_exact_one(
    job, cli, tmp_path):
  code, out, err = cli("validate", _config(job, tmp_path))
  assert code == 0, err
  assert "vendor: email 20%, fuzzy (scored in the run; try --sample)" in out


def test_code_counts_summed_over_batches_are_the_whole_sources():
  """What lets the partitioned join rank as the broadcast join does."""
  rows = [("Jonathan", "Smith", "Acme"), ("Jon", "Smith", ""),
          ("Mary", "Jones", "Acme"), ("", "Smith", "Globex"),
          ("Mary", "Smith", "Acme")]
  whole = CodeCounts.of(_values(rows))
  summed = CodeCounts.total([CodeCounts.of(_values(rows[:2])),
                             CodeCounts.of(_values(rows[2:3])),
                             CodeCounts.of(_values(rows[3:]))])
  assert summed.rows == whole.rows == 5
  for a, b in zip(summed.codes + summed.counts, whole.codes + whole.counts):
    assert a.tolist() == b.tolist()
  assert sorted(whole.counts[1].tolist()) == [1, 4]  # Jones, Smith x4
  codes = _values(rows).codes
  assert (summed.weights(codes) == whole.weights(codes)).all()
