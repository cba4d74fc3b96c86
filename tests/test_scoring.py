"""The Fellegi-Sunter model: EM, u, term frequencies, weights."""

import json
import re

import numpy as np
import pytest

from crmsync.transforms.comparisons import Comparison
from crmsync.transforms.scoring import (FLOOR, GIVEN_NAME_COINCIDENCE,
                                        MAX_M_ELSE_SURNAME, fit,
                                        probability, u_probabilities)

EMAIL = Comparison("Email", "email")
FIRST = Comparison("First", "name", given_name=True)


def test_probability_of_a_weight():
  assert probability(np.array([0.0, 1.0, -1.0])).tolist() == [
      0.5, 2 / 3, 1 / 3]


def test_u_comes_from_random_pairs_with_a_weak_prior():
  u = u_probabilities(EMAIL, np.array([99_990, 5, 5, 0]), None)
  assert abs(u.sum() - 1) < 1e-12
  assert u[0] > 0.999
  assert 0 < u[-1] < 1e-6  # never seen: rare, not impossible
  small = u_probabilities(EMAIL, np.array([3, 0, 0, 0]), None)
  assert small[0] < 0.96 and small[-1] > 1e-4  # mostly the prior


def test_a_small_jobs_given_names_agree_as_often_as_a_countrys():
  # The median over gender-guesser's countries of the chance that two
  # people share a given name (the sum of squared name frequencies).
  from crmsync.transforms import similarity
  lines = similarity._name_lines()
  people = np.zeros(256)
  for digit in "0123456789abcdefABCDEF":
    people[ord(digit)] = 2.0 ** int(digit, 16)
  cells = np.frombuffer("".join(line[30:86].ljust(56) for line in lines)
                        .encode("ascii", "replace"), np.uint8)
  counts = people[cells].reshape(len(lines), 56)
  counts = counts[:, counts.sum(axis=0) > 0]
  share = counts / counts.sum(axis=0)
  median = float(np.median((share ** 2).sum(axis=0)))
  assert abs(median - GIVEN_NAME_COINCIDENCE) < 0.001
  tiny = u_probabilities(FIRST, np.zeros(7), None)
  assert abs(tiny[-1] - GIVEN_NAME_COINCIDENCE) < 1e-3
  large = u_probabilities(FIRST, np.array([0, 9_000, 0, 0, 0, 0, 1_000]),
                          None)
  assert abs(large[-1] - 0.1) < 0.001  # the job's own pairs, once many


def test_a_tiny_jobs_prior_leans_to_a_random_pair_not_matching():
  # 3 x 3 rows, three candidate pairs that all look like matches: the prior
  # is not 1 in 3, the data of 9 pairs being too few to say so.
  last = Comparison("Last", "name")
  levels = np.array([[6, 6, 6], [5, 5, 5]], np.int8)
  model = fit("v", (FIRST, last), levels, np.zeros(3, np.int64), {},
              [np.zeros(7), np.zeros(6)], [None, None], (3, 3))
  assert 0.01 < model.prior < 0.1
  big = fit("v", (FIRST, last), np.repeat(levels, 1000, axis=1),
            np.zeros(3000, np.int64), {}, [np.zeros(7), np.zeros(6)],
            [None, None], (3000, 3000))
  assert abs(big.prior - 1 / 3000) < 1e-4


def test_an_unrelated_surname_is_strong_evidence_whatever_em_says():
  # Half the candidate pairs agree on the given name and not at all on the
  # surname (colleagues, relatives): EM would call that a common way for a
  # match to look; the surname's "else" m stays at most MAX_M_ELSE_SURNAME.
  last = Comparison("Last", "name")
  levels = np.array([[6] * 200, [5] * 100 + [0] * 100], np.int8)
  model = fit("v", (FIRST, last), levels, np.zeros(200, np.int64), {},
              [np.array([100, 800, 20, 20, 20, 20, 20]),
               np.array([950, 10, 10, 10, 10, 10])], [None, None],
              (1000, 1000))
  assert model.m[1][0] <= MAX_M_ELSE_SURNAME + 1e-9
  assert model.level_weights()[1][0] < -5


@pytest.mark.parametrize("tf_mean", [1 / 3, 1 / 5000])
def test_more_of_a_place_agreeing_never_weighs_less(tf_mean):
  # tf_mean is a small file's (3 rows) or a large one's: either way "all
  # agree" weighs at least as much as "2 of 3".
  from crmsync.transforms.scoring import initial_m
  place = Comparison("Zip+Street+City", "place", members=(
      Comparison("Zip", "zip"), Comparison("Street", "text"),
      Comparison("City", "text")))
  seen = (np.array([19_990, 6, 2, 1, 1, 0]) if tf_mean < 0.01
          else np.zeros(6))
  u = u_probabilities(place, seen, tf_mean)
  weights = np.log2(initial_m(6)) - np.log2(u)
  # 1, 2, 3 of 3 agree; and all agreeing against 2 with the third blank.
  assert weights[1] <= weights[3] <= weights[5] and weights[4] <= weights[5]
  assert abs(u.sum() - 1) < 1e-12


def test_every_place_column_agreeing_is_as_likely_as_the_rarest_value():
  place = Comparison("Company+Zip", "place", members=(
      Comparison("Company", "company"), Comparison("Zip", "zip")))
  u = u_probabilities(place, np.array([9_000, 1_000, 0, 0]), 1e-3)
  assert abs(u[-1] - 1e-3) < 1e-12 and abs(u.sum() - 1) < 1e-12


def _pairs(rng):
  """1000 email-key pairs: 900 true matches (first name exact 90%, else
  3%), 100 shared-inbox pairs (first name exact 2%, else 90%). A given
  name's levels: 0 different sexes, 1 else, ... 5 nicknames, 6 exact."""
  first = np.concatenate([
      rng.choice([6, 1, 5], 900, p=[0.9, 0.03, 0.07]),
      rng.choice([6, 1, 2], 100, p=[0.02, 0.9, 0.08])]).astype(np.int8)
  email = np.full(1000, 3, np.int8)
  return np.vstack([email, first])


def test_em_learns_m_of_the_columns_the_key_does_not_fix():
  levels = _pairs(np.random.default_rng(1))
  keys = np.zeros(levels.shape[1], np.int8)
  random_counts = [np.array([9990, 5, 5, 0]),
                   np.array([4850, 4850, 50, 50, 50, 50, 100])]
  model = fit("vendor", (EMAIL, FIRST), levels, keys, {0: [0]},
              random_counts, [1e-4, 0.01], (1000, 1000))
  m_first = model.m[1]
  assert model.trained == (False, True)
  assert 0.8 < m_first[-1] < 0.98  # exact among true matches
  assert m_first[1] < 0.15  # else among true matches
  # The same model from the pairs in another order.
  order = np.random.default_rng(2).permutation(levels.shape[1])
  again = fit("vendor", (EMAIL, FIRST), levels[:, order], keys[order],
              {0: [0]}, random_counts, [1e-4, 0.01], (1000, 1000))
  assert all(np.array_equal(a, b) for a, b in zip(model.m, again.m))
  assert model.prior == again.prior


def test_a_common_value_says_less_than_a_rare_one():
  levels = _pairs(np.random.default_rng(1))
  model = fit("vendor", (EMAIL, FIRST), levels,
              np.zeros(levels.shape[1], np.int8), {0: [0]},
              [np.array([9990, 5, 5, 0]),
               np.array([4850, 4850, 50, 50, 50, 50, 100])],
              [1e-4, 0.01], (1000, 1000))
  pair = np.array([[3], [6]], np.int8)
  rare = model.match_weight(pair, np.array([[np.log2(1e-4)], [np.nan]]))
  shared = model.match_weight(pair, np.array([[np.log2(0.01)], [np.nan]]))
  assert rare[0] - shared[0] == pytest.approx(np.log2(0.01) - np.log2(1e-4))
  # A blank side adds nothing.
  blank = model.match_weight(np.array([[3], [-1]], np.int8))
  assert blank[0] == pytest.approx(model.match_weight(np.array([[3], [6]], np.int8))[0] - (
      np.log2(model.m[1][-1]) - np.log2(model.u[1][-1])))
  assert FLOOR < model.prior < 0.5


# End to end, through `crmsync run`, with the README's recommended keys:
# the kinds of pair a public labelled CRM set showed the confirm veto and
# the exact cascade getting wrong.
CRM = [["ID", "First", "Last", "Email", "Phone", "Company", "City"],
       ["1", "Bridgette", "Nolan", "bnolan@acme.com", "555-201-3344 x12",
        "Acme", "Boston"],
       ["2", "Morgan", "Reyes", "info@globex.com", "555-777-1000", "Globex",
        "Denver"],
       ["3", "Ana", "Lopez", "info@globex.com", "555-777-1000", "Globex",
        "Denver"],
       ["4", "Leonard", "Bagwell", "lbagwell@initech.com", "555-300-4000",
        "Initech", "Austin"],
       ["5", "Ben", "Stone", "bstone@acme.com", "555-201-3344 x47", "Acme",
        "Boston"],
       ["6", "Carla", "Diaz", "cdiaz@hooli.com", "555-888-1234", "Hooli",
        "Miami"]]
VENDOR = [["First Name", "Last Name", "Email", "Phone", "Company", "City",
           "Title"],
          # Cut short by the vendor's system; email and phone agree.
          ["Bri", "Nolan", "bnolan@acme.com", "555-201-3344 x12", "Acme",
           "Boston", "CTO"],
          # A shared inbox and switchboard: Morgan's, not Ana's.
          ["MO", "Reyes", "info@globex.com", "555-777-1000", "Globex",
           "Denver", "CFO"],
          ["LE", "BAG", "lbagwell@initech.com", "555-300-4000", "Initech",
           "Austin", "VP"],
          # Ben, behind Bridgette's switchboard, by his extension.
          ["Ben", "Stone", "", "555-201-3344 ext. 47", "Acme", "Boston",
           "COO"],
          # Nobody in the CRM.
          ["Zed", "Quinn", "zq@example.org", "555-999-0000", "Umbrella",
           "Reno", "CEO"]]
RECOMMENDED = [
    {"name": "email", "normalize": "email", "columns": ["Email"],
     "confirm": ["First", "Last"]},
    {"name": "phone", "normalize": "phone", "columns": ["Phone"],
     "confirm": ["First", "Last"]},
    {"name": "fuzzy", "normalize": "fuzzy",
     "columns": ["First", "Last", "Company", "City"]}]


def _scored_job(job, tmp_path, **extra):
  from conftest import write_csv
  write_csv(tmp_path / "crm.csv", CRM)
  write_csv(tmp_path / "vendor.csv", VENDOR)
  return job.config(str(tmp_path / "crm.csv"), [{
      "path": str(tmp_path / "vendor.csv"), "name": "vendor",
      "columns": {"First Name": "First", "Last Name": "Last"},
      "keep": ["Title"]}], RECOMMENDED, **extra)


@pytest.mark.parametrize("join", ["broadcast", "auto"])
def test_truncated_names_shared_inboxes_and_extensions_match_right(
    job, cli, tmp_path, join):
  path = _scored_job(job, tmp_path, join=join,
                     output={"path": job.prefix, "shards": 2,
                             "reports": job.reports, "match_columns": True})
  code, _, err = cli("run", path)
  assert code == 0, err
  rows = {r["ID"]: r for r in job.dicts()}
  assert {i: r["Title"] for i, r in rows.items()} == {
      "1": "CTO", "2": "CFO", "3": "", "4": "VP", "5": "COO", "6": ""}
  assert rows["1"]["_match_key"] == "vendor:email"
  assert rows["5"]["_match_key"] == "vendor:phone"
  scores = {i: r["_match_score"] for i, r in rows.items()}
  assert scores["3"] == scores["6"] == ""
  assert all(0.5 <= float(scores[i]) <= 1 for i in "1245")
  weights = job.report("match_weights.json")
  assert [w["source"] for w in weights] == ["vendor"]
  columns = [c["column"] for c in weights[0]["comparisons"]]
  assert columns == ["Email", "First", "Last", "Phone", "Company+City"]
  assert weights[0]["pairs_scored"] >= 5
  stats = job.report("stats.json")
  assert stats["accounting"]["balanced"]
  assert stats["enriched"]["vendor"]["rows_unmatched"] == 1


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_match_detail_gives_each_sources_evidence_in_priority_order(
    job, cli, tmp_path, join):
  from conftest import write_csv
  write_csv(tmp_path / "list.csv", [
      ["First", "Last", "Email", "Segment"],
      ["Bridgette", "Nolan", "bnolan@acme.com", "Enterprise"]])
  write_csv(tmp_path / "crm.csv", CRM)
  write_csv(tmp_path / "vendor.csv", VENDOR)
  path = job.config(str(tmp_path / "crm.csv"), [
      {"path": str(tmp_path / "vendor.csv"), "name": "vendor",
       "columns": {"First Name": "First", "Last Name": "Last"},
       "keep": ["Title"]},
      {"path": str(tmp_path / "list.csv"), "name": "list",
       "keep": ["Segment"]}], RECOMMENDED, join=join,
      output={"path": job.prefix, "shards": 2, "reports": job.reports,
              "match_columns": True})
  code, _, err = cli("run", path)
  assert code == 0, err
  rows = {r["ID"]: r for r in job.dicts()}
  assert rows["1"]["Segment"] == "Enterprise"
  detail = {i: r["_match_detail"] for i, r in rows.items()}
  assert detail["3"] == detail["6"] == ""  # no match
  vendor, listed = detail["1"].split(" | ")
  assert vendor.startswith("vendor: Email: exact +")
  assert listed.startswith("list: Email: exact +")
  assert "First: " in vendor and "First: exact +" in listed
  assert detail["5"].startswith("vendor: ") and " | " not in detail["5"]
  for text in filter(None, detail.values()):
    for part in text.split(" | "):
      evidence = part.split(": ", 1)[1]
      for column in evidence.split("; "):
        assert re.fullmatch(r"[A-Za-z+]+: [a-z0-9 ,/<>=-]+ [+-]\d+\.\d",
                            column), column


def test_scoring_off_keeps_the_first_key_that_hits(job, cli, tmp_path):
  path = _scored_job(job, tmp_path)
  with open(path) as f:
    text = f.read()
  with open(path, "w") as f:
    f.write(text.replace("keys:", "scoring: false\n  keys:", 1))
  code, _, err = cli("run", path)
  assert code == 0, err
  rows = {r["ID"]: r for r in job.dicts()}
  # The old cascade: confirm vetoes Bri for Bridgette.
  assert rows["1"]["Title"] == ""


def test_decisions_override_the_model_and_bad_ones_name_their_line(
    job, cli, tmp_path):
  path = _scored_job(job, tmp_path)
  crm, vendor = str(tmp_path / "crm.csv"), str(tmp_path / "vendor.csv")
  header = ["original_file", "original_line", "source", "key",
            "match_probability", "enriched_file", "enriched_line",
            "decision"]
  decisions = tmp_path / "decisions.csv"
  from conftest import write_csv
  write_csv(decisions, [
      header,
      # The reviewer says MO Reyes is Ana, and Bri is not Bridgette.
      [crm, "4", "vendor", "email", "0.400", vendor, "3", "match"],
      [crm, "2", "vendor", "email", "0.900", vendor, "2", "No-Match"],
      [crm, "6", "vendor", "fuzzy", "0.300", vendor, "5", ""]])
  with open(path) as f:
    text = f.read()
  with open(path, "w") as f:
    f.write(text.replace("keys:", f"decisions: {decisions}\n  keys:", 1))
  code, _, err = cli("run", path)
  assert code == 0, err
  titles = {r["ID"]: r["Title"] for r in job.dicts()}
  assert titles == {"1": "", "2": "", "3": "CFO", "4": "VP", "5": "COO",
                    "6": ""}
  write_csv(decisions, [header, [crm, "4", "vendor", "email", "0.4", vendor,
                                 "3", "maybe"]])
  code, _, err = cli("run", path)
  assert code == 2
  assert err.strip() == (f"crmsync: error: {decisions}: line 2: decision "
                         f"'maybe' is not match or no-match")


def test_review_lists_the_pairs_just_below_the_threshold(job, cli, tmp_path):
  path = _scored_job(job, tmp_path)
  with open(path) as f:
    text = f.read()
  with open(path, "w") as f:  # everything is in doubt
    f.write(text.replace("keys:", "threshold: 0.999999999\n"
                         "  review_threshold: 0.0\n  keys:", 1))
  code, _, err = cli("run", path)
  assert code == 0, err
  review = job.report("review.csv")
  assert review, "nothing to review"
  assert {r["decision"] for r in review} == {""}
  # Ana behind Morgan's shared inbox and switchboard: the email and phone
  # agree, the names do not.
  ana = [r for r in review if r["original_line"] == "4"]
  assert [(r["source"], r["key"], r["enriched_line"]) for r in ana] == [
      ("vendor", "email", "3")]
  assert "Email: exact +" in ana[0]["evidence"]
  assert "First: else -" in ana[0]["evidence"]
  assert json.loads(ana[0]["original_values"])["First"] == "Ana"
  assert json.loads(ana[0]["enriched_values"])["First"] == "MO"
  assert all(0 <= float(r["match_probability"]) <= 1 for r in review)


def test_scored_bytes_do_not_depend_on_batches_workers_or_join(tmp_path,
                                                               cli):
  """The model is fitted from counts and pairs sorted by identity: any
  batch size, worker count and join gives the same bytes, the partitioned
  join rebuilding the broadcast join's pairs, term frequencies and random
  sample from its partitions."""
  import os
  import sys
  from conftest import files_in
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  sys.path.insert(0, os.path.join(root, "benchmarks"))
  import match_quality
  data = str(tmp_path / "data")
  match_quality.build(600, 2, data)
  out = {}
  for name, join, args in (
      ("plain", "broadcast", []),
      ("small", "broadcast", ["--batch_rows=97", "--direct_num_workers=2"]),
      ("partitioned", "partitioned", ["--batch_rows=131",
                                      "--set=join_partitions=3"])):
    config = tmp_path / f"{name}.yaml"
    config.write_text(match_quality.config(data, str(tmp_path / name),
                                           True, True, join))
    code, _, err = cli("run", config, *args)
    assert code == 0, err
    out[name] = files_in(str(tmp_path / name),
                         str(tmp_path / name / "reports"))
  assert out["plain"] == out["small"] == out["partitioned"]
  weights = json.loads(out["plain"]["match_weights.json"])
  assert weights[0]["pairs_scored"] > 300
  stats = json.loads(out["plain"]["stats.json"])["enriched"]["vendor"]
  assert stats["fuzzy_matches"] > 50


def test_decisions_without_scoring_are_an_error(job, cli, tmp_path):
  path = _scored_job(job, tmp_path)
  decisions = tmp_path / "decisions.csv"
  decisions.write_text("original_file,original_line,source,enriched_file,"
                       "enriched_line,decision\n")
  with open(path) as f:
    text = f.read()
  with open(path, "w") as f:
    f.write(text.replace("keys:", f"scoring: false\n  decisions: "
                         f"{decisions}\n  keys:", 1))
  code, _, err = cli("run", path)
  assert code == 2
  assert err.strip() == ("crmsync: error: match.decisions: decisions "
                         "override the scoring model, and match.scoring is "
                         "false")


def test_a_shared_inbox_in_the_vendor_file_gives_each_colleague_their_row(
    job, cli, tmp_path):
  """Two vendor rows share info@: the duplicates policy makes one row of
  them for the email key, but each colleague is compared as themself; true
  duplicates (Ben twice) still get the duplicates policy."""
  from conftest import write_csv
  write_csv(tmp_path / "crm.csv", [
      ["ID", "First", "Last", "Email", "Company", "City"],
      ["1", "John", "Smith", "info@acme.com", "Acme", "Boston"],
      ["2", "Jane", "Doe", "info@acme.com", "Acme", "Boston"],
      ["3", "Ben", "Stone", "ben@hooli.com", "Hooli", "Austin"]])
  write_csv(tmp_path / "vendor.csv", [
      ["First Name", "Last Name", "Email", "Company", "City", "Title"],
      ["John", "Smith", "info@acme.com", "Acme", "Boston", "CEO"],
      ["Jane", "Doe", "info@acme.com", "Acme", "Boston", "CFO"],
      ["Ben", "Stone", "ben@hooli.com", "Hooli", "Austin", "VP"],
      ["Ben", "Stone", "ben@hooli.com", "Hooli", "Austin", "SVP"]])
  path = job.config(str(tmp_path / "crm.csv"), [{
      "path": str(tmp_path / "vendor.csv"), "name": "vendor",
      "columns": {"First Name": "First", "Last Name": "Last"},
      "keep": ["Title"]}], [
          {"name": "email", "normalize": "email", "columns": ["Email"],
           "confirm": ["First", "Last"]}], duplicates="join")
  code, _, err = cli("run", path)
  assert code == 0, err
  assert {r["ID"]: r["Title"] for r in job.dicts()} == {
      "1": "CEO", "2": "CFO", "3": "VP; SVP"}


def _other_contacts(row):
  """Eighty other contacts, `row(i, first, last)` each, so that the odds
  that two rows are one person are a real export's, not a few rows'."""
  firsts = ["Ann", "Paul", "Rita", "Omar", "Jill", "Hugo", "Nina", "Ivan"]
  lasts = ["Park", "Ng", "Moss", "Cole", "Reed", "Vance", "Hale", "Dunn",
           "Pratt", "Lowe"]
  return [row(i, f, l) for i, (f, l) in enumerate(
      (f, l) for l in lasts for f in firsts)]


def test_a_colleague_with_the_same_surname_is_not_the_crm_contact(
    job, cli, tmp_path):
  """Colleagues who share a facility's phone, address and company, told
  apart only by the person's name (goldenmatch PR #1631: "two different
  doctors at one clinic can still merge"): Roberta Langwell is not Robert
  though the fuzzy key proposes them, Laura Kent at Mark Whitfield's
  number is not Mark, while Bob is Robert Stone's nickname."""
  from conftest import write_csv
  others = _other_contacts(lambda i, f, l: [
      f"{10 + i}", f, l, f"{f}.{l}{i}@mail{i % 7}.com".lower(),
      f"555-{200 + i:03d}-{1000 + i}", f"Company {i % 13}",
      ["Reno", "Provo", "Boise"][i % 3]])
  write_csv(tmp_path / "crm.csv", [
      ["ID", "First", "Last", "Email", "Phone", "Company", "City"],
      *others,
      ["1", "Robert", "Langwell", "rl@globex.com", "555-100-2000", "Globex",
       "Dallas"],
      ["2", "Mark", "Whitfield", "mw@clinic.org", "555-300-4000",
       "Northside Clinic", "Tulsa"],
      ["3", "Robert", "Stone", "rs@hooli.com", "555-500-6000", "Hooli",
       "Austin"],
      ["4", "Carla", "Diaz", "cd@initech.com", "555-700-8000", "Initech",
       "Miami"]])
  write_csv(tmp_path / "vendor.csv", [
      ["First Name", "Last Name", "Email", "Phone", "Company", "City",
       "Title"],
      ["Roberta", "Langwell", "", "", "Globex", "Dallas", "Buyer"],
      ["Laura", "Kent", "", "555-300-4000", "Northside Clinic", "Tulsa",
       "Surgeon"],
      ["Bob", "Stone", "", "", "Hooli", "Austin", "CTO"],
      ["Carla", "Diaz", "cd@initech.com", "", "Initech", "Miami", "CFO"]])
  path = job.config(str(tmp_path / "crm.csv"), [{
      "path": str(tmp_path / "vendor.csv"), "name": "vendor",
      "columns": {"First Name": "First", "Last Name": "Last"},
      "keep": ["Title"]}], RECOMMENDED)
  code, _, err = cli("run", path)
  assert code == 0, err
  titles = {r["ID"]: r["Title"] for r in job.dicts()}
  assert {i: titles[i] for i in "1234"} == {
      "1": "", "2": "", "3": "CTO", "4": "CFO"}
  assert set(titles.values()) == {"", "CTO", "CFO"}


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_a_family_member_the_crm_lacks_goes_to_none_of_the_family(
    job, cli, tmp_path, join):
  """pseudopeople's sample town: a W-2 for Jacob Widmann at 18 skyway,
  where the census has Ant, Pablo, Justice and Benjamin Widmann and no
  Jacob. He scores the same with each: no one gets his row, and the pairs
  go to review.csv. Ben Stone, in the CRM twice, still gets his row
  twice."""
  path = _town_job(job, tmp_path, [
      ["1", "Ant", "Widmann", "18 skyway", "Anytown", "00000"],
      ["2", "Pablo", "Widmann", "18 skyway", "Anytown", "00000"],
      ["3", "Justice", "Widmann", "18 skyway", "Anytown", "00000"],
      ["4", "Benjamin", "Widmann", "18 skyway", "Anytown", "00000"],
      ["5", "Ben", "Stone", "7 elm st", "Anytown", "00000"],
      ["6", "Ben", "Stone", "7 elm st", "Anytown", "00000"]], [
      ["Jacob", "Widmann", "18 skyway", "Anytown", "00000", "W2"],
      ["Ben", "Stone", "7 elm st", "Anytown", "00000", "1099"]], join)
  code, _, err = cli("run", path)
  assert code == 0, err
  forms = {r["ID"]: r["Form"] for r in job.dicts()}
  assert {i: forms[i] for i in "123456"} == {
      "1": "", "2": "", "3": "", "4": "", "5": "1099", "6": "1099"}
  review = job.report("review.csv")
  assert sorted(r["original_line"] for r in review) == [
      "82", "83", "84", "85"]


def _town_job(job, tmp_path, crm_rows, vendor_rows, join="broadcast"):
  """A census-like CRM export and a vendor file of tax forms (pseudopeople's
  sample town: everyone in ZIP 00000), keyed by name + ZIP then the fuzzy
  key; the merged rows' Form by ID."""
  from conftest import write_csv
  others = _other_contacts(lambda i, f, l: [
      f"{10 + i}", f, l, f"{100 + i} main st", "Anytown", "00000"])
  write_csv(tmp_path / "crm.csv", [
      ["ID", "First", "Last", "Street", "City", "Zip"], *others, *crm_rows])
  write_csv(tmp_path / "vendor.csv", [
      ["First Name", "Last Name", "Street", "City", "Zip", "Form"],
      *vendor_rows])
  return job.config(str(tmp_path / "crm.csv"), [{
      "path": str(tmp_path / "vendor.csv"), "name": "irs",
      "columns": {"First Name": "First", "Last Name": "Last"},
      "keep": ["Form"]}], [
          {"name": "name_zip", "normalize": ["name", "name", "zip"],
           "columns": ["First", "Last", "Zip"]},
          {"name": "fuzzy", "normalize": "fuzzy",
           "columns": ["First", "Last", "Street", "City"]}],
      join=join, join_partitions=3)


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_a_form_with_only_a_surname_goes_to_none_of_a_family(
    job, cli, tmp_path, join):
  """pseudopeople's sample town: a W-2 with the surname Price and no given
  name, at 885 bonnefoy place, where the census has Myia, Maggie and
  Evelyn Price (the form is Sam's, whom the census lacks). It scores the
  same with all three, who are not one person: none of them gets it, the
  pairs go to review.csv."""
  path = _town_job(job, tmp_path, [
      ["1", "Myia", "Price", "885 bonnefoy place", "Anytown", "00000"],
      ["2", "Maggie", "Price", "885 bonnefoy place", "Anytown", "00000"],
      ["3", "Evelyn", "Price", "885 bonnefoy place", "Anytown", "00000"]], [
      ["", "Price", "885 bonnefoy place", "Anytown", "00000", "W2"]], join)
  code, _, err = cli("run", path)
  assert code == 0, err
  forms = {r["ID"]: r["Form"] for r in job.dicts()}
  assert {i: forms[i] for i in "123"} == {"1": "", "2": "", "3": ""}
  assert sorted(r["original_line"] for r in job.report("review.csv")) == [
      "82", "83", "84"]


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_namesakes_in_one_town_each_get_their_own_form(job, cli, tmp_path,
                                                       join):
  """pseudopeople's sample town has two Timothy Bates, at 1743 banana river
  blvd and 7480 stafford ave; the W-2 file has two, one at 1743 banana
  river blvd and one (the stafford ave one, moved) at 121 highland road.
  Both forms share the name + ZIP key, so the vendor file's duplicates
  make one row of them; that row is neither man's: each gets his own form
  (the truth file says so), not the first man's twice."""
  path = _town_job(job, tmp_path, [
      ["1", "Timothy", "Bates", "1743 banana river blvd", "Anytown",
       "00000"],
      ["2", "Timothy", "Bates", "7480 stafford ave", "Anytown", "00000"]], [
      ["Timothy", "Bates", "1743 banana river blvd", "Anytown", "00000",
       "W2-964"],
      ["Timothy", "Bates", "121 highland road", "Anytown", "00000",
       "W2-3048"]], join)
  code, _, err = cli("run", path)
  assert code == 0, err
  forms = {r["ID"]: r["Form"] for r in job.dicts()}
  assert (forms["1"], forms["2"]) == ("W2-964", "W2-3048")
