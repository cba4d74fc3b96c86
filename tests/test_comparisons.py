"""Comparison levels, on values from real CRM exports and vendor files."""

import numpy as np
import pyarrow as pa

from crmsync.transforms.comparisons import (_LEVEL_OF, NULL, Comparison,
                                            _name, comparisons_of, levels,
                                            place_levels, prepared)
from crmsync.transforms.hashing import stable_hash
from crmsync.transforms.spec import FuzzyRule, MatchKey, MergeSpec

FIRST = Comparison("First", "name", given_name=True)
LAST = Comparison("Last", "name")


def level_names(comparison, left, right):
  found = levels(comparison, prepared(pa.array(left), comparison, "US"),
                 prepared(pa.array(right), comparison, "US"))
  return [comparison.levels[i] if i != NULL else None for i in found]


def test_names_cut_short_by_the_source_system_are_a_prefix_not_a_veto():
  # Truncations seen in a public CRM set: Bridgette/Bri, Morgan/MO,
  # Gilbert/Gi, Leonard Bagwell/LE BAG.
  got = level_names(FIRST, ["Bridgette", "Morgan", "Gilbert", "Leonard"],
                    ["Bri", "MO", "Gi", "LE"])
  assert got == ["one is a prefix or initial of the other"] * 4
  assert level_names(LAST, ["Bagwell"], ["BAG"]) == [
      "one is a prefix, initial or part of the other"]


def test_a_double_family_name_written_in_part_is_part_of_it():
  # Spanish double surnames, hyphenated married names, particles (the
  # field case names_hyphenated_double_surname has them whole).
  got = level_names(LAST, ["Martinez Ortiz", "Smith-Jones", "van der Berg",
                           "Ortiz", "Martinez Ortiz"],
                    ["Ortiz", "Jones", "Berg", "Ortiz Lopez", "Ortiz Martinez"])
  assert got == ["one is a prefix, initial or part of the other"] * 5
  assert level_names(LAST, ["Martinez Ortiz", "Li"], ["Garcia Lopez",
                                                      "Lindstrom"]) == [
      "else", "else"]


def test_two_known_given_names_disagree_however_close():
  got = level_names(FIRST, ["Susan", "Laura", "Jon", "Ana"],
                    ["Susanna", "Lauren", "Jonathan", "ana"])
  assert got == ["else", "else", "nicknames of each other", "exact"]


def test_given_names_of_different_sexes_disagree_most():
  # Colleagues at one desk, told apart by nothing but their given names.
  got = level_names(FIRST, ["John", "Robert", "Michael", "Andrew", "Kim",
                            "Leslie"],
                    ["Joan", "Roberta", "Michelle", "Andrea", "Jim",
                     "Lesley"])
  assert got == ["names of different sexes"] * 4 + ["else", "else"]


def test_surnames_that_are_also_given_names_compare_by_their_letters():
  # Stewart/Stuart and Reid/Reed are spellings of one surname.
  got = level_names(LAST, ["Stewart", "Reid"], ["Stuart", "Reed"])
  assert all(g != "else" for g in got), got


def test_phone_extensions_tell_colleagues_apart():
  phone = Comparison("Phone", "phone")
  got = level_names(phone, ["555-201-3344 x12", "555-201-3344 x12",
                            "555-201-3344", "(555) 201-3344 ext. 12", ""],
                    ["555-201-3344 x47", "555-201-3344", "555-201-3344",
                     "555-201-3344 x12", "555-201-3344"])
  assert got == ["same number, other extension",
                 "same number, one extension missing", "exact", "exact",
                 None]


def test_email_levels():
  email = Comparison("Email", "email")
  got = level_names(email, ["Lopez, Ana <ana.lopez@example.com>",
                            "ana.lopez@example.com", "ana.lopez@example.com",
                            "ben@x.com"],
                    ["ANA.LOPEZ@example.com", "ana.lopez@gmail.com",
                     "ana.lopes@example.com", "zed@y.org"])
  assert got == ["exact", "same username, other domain",
                 "similar address (Jaro-Winkler >= 0.88)", "else"]


def test_place_columns_are_one_comparison_of_how_many_agree():
  spec = MergeSpec(("First", "Last", "Company", "City", "Zip"), (
      MatchKey("name_zip", ("First", "Last", "Zip"), ("name", "name", "zip")),
      MatchKey("company", ("Company", "City"), ("company", "text"))))
  got = comparisons_of(spec)
  assert [c.column for c in got] == ["First", "Last", "Zip+Company+City"]
  place = got[-1]
  assert [m.column for m in place.members] == ["Zip", "Company", "City"]
  member_levels = np.array([[2, 1, NULL], [3, 2, NULL], [2, 0, NULL]])
  assert place_levels(place, member_levels).tolist() == [5, 1, NULL]
  assert place.levels[5] == "3 of 3 agree"


def test_an_exact_key_on_an_id_or_url_is_an_identifier_not_a_place():
  spec = MergeSpec(("First", "Last", "CRM_ID", "LinkedIn", "City"), (
      MatchKey("id", ("CRM_ID",), ("text",)),
      MatchKey("linkedin", ("LinkedIn",), ("url",)),
      MatchKey("fuzzy", ("First", "Last", "City"), ("name", "name", "text"),
               fuzzy=FuzzyRule())))
  got = {c.column: c.kind for c in comparisons_of(spec)}
  assert got == {"CRM_ID": "identifier", "LinkedIn": "identifier",
                 "First": "name", "Last": "name", "City": "place"}
  linkedin = [c for c in comparisons_of(spec) if c.column == "LinkedIn"][0]
  assert level_names(linkedin, ["https://www.linkedin.com/in/ana/",
                                "linkedin.com/in/ana"],
                     ["linkedin.com/in/ana", "linkedin.com/in/ben"]) == [
      "exact", "else"]


def test_a_multi_line_phone_cell_is_the_same_number_with_an_extension():
  # The normalizer keeps a cell it cannot parse whole as the extension,
  # line break included: the number still agrees.
  phone = Comparison("Phone", "phone")
  assert level_names(phone, ["415 555 0100\next 5"], ["4155550100"]) == [
      "same number, one extension missing"]


def test_levels_of_many_pairs_are_the_scorers_on_every_pair():
  # Pairs are decided once per distinct pair of values, and equal values
  # skip the similarity scorers: the levels must be the scorers' own,
  # applied to every pair (equal ones too), NULL where a side is blank.
  cases = {
      FIRST: (["Jon", "Jon", "Ana", None, "Bri", "Andrea", "Jon"],
              ["Jonathan", "Jon", "ana", "Ana", "Bridgette", "Andrew",
               "Jonathan"]),
      LAST: (["Bagwell", "Smith", "Li", "Smith", "O'Neil"],
             ["BAG", "Smith", "Lindstrom", None, "ONeil"]),
      Comparison("Email", "email"): (
          ["ann@x.com", "Ann <ann@x.com>", "ann@x.com", "bob@y.org"],
          ["ann@y.com", "ann@x.com", "ann@x.com", "rob@y.org"]),
      # The last: a cell the phone normalizer cannot parse keeps its raw
      # text, line break and all, as the extension.
      Comparison("Phone", "phone"): (
          ["+1 415 555 0100 x12", "415-555-0100", "415 555 0100 ext 3",
           "415 555 0100\next 5"],
          ["+1 415 555 0100 x13", "(415) 555-0100", "4155550100",
           "4155550100"]),
      Comparison("Company", "company"): (
          ["Acme Inc", "Acme", "Globex Corporation"],
          ["ACME, Inc.", "Acme", "Globex"]),
  }
  for comparison, (left, right) in cases.items():
    a = prepared(pa.array(left, pa.string()), comparison, "US")
    b = prepared(pa.array(right, pa.string()), comparison, "US")
    both = np.array([x.is_valid and y.is_valid for x, y in zip(a, b)])
    at = pa.array(np.flatnonzero(both))
    x, y = a.take(at), b.take(at)
    if comparison.kind == "name":
      scored = _name(x, y, comparison, (stable_hash(x), stable_hash(y)))
    else:
      scored = _LEVEL_OF[comparison.kind](x, y, comparison)
    expected = np.full(len(a), NULL, np.int8)
    expected[both] = scored
    assert levels(comparison, a, b).tolist() == expected.tolist(), (
        comparison.column)


def test_a_blank_place_column_is_no_disagreement_and_a_level_of_its_own():
  # A CRM row without its city, the same street and ZIP: not "2 of 3", as
  # if the city differed (Duke: "properties that lack a value in one of the
  # records are ignored"), nor "3 of 3": ZIP and city are not an address.
  zip_, street, city = (Comparison("Zip", "zip"),
                        Comparison("Street", "text"),
                        Comparison("City", "text"))
  place = Comparison("Zip+Street+City", "place",
                     members=(zip_, street, city))
  exact = [c.exact for c in (zip_, street, city)]
  members = np.array([
      [exact[0], exact[1], NULL],      # city blank, the rest agree
      [exact[0], 0, exact[2]],         # street differs
      [exact[0], NULL, NULL],          # only the ZIP to compare
      [exact[0], exact[1], exact[2]],
      [NULL, NULL, NULL]], np.int8).T
  got = [place.levels[i] if i != NULL else None
         for i in place_levels(place, members)]
  assert got == ["2 of 3 agree (the rest blank)", "2 of 3 agree",
                 "1 of 3 agree (the rest blank)", "3 of 3 agree", None]


def test_a_father_and_son_with_one_name_disagree():
  # Two generational suffixes given and different: two people (John Smith
  # Sr and Jr at one address). One side without a suffix is part of the
  # other; II is a Jr.
  got = level_names(LAST, ["Smith Jr", "Smith Sr.", "Smith, Jr.",
                           "Smith III", "Smith II", "Smyth Jr"],
                    ["Smith Sr", "Smith Jr", "Smith", "Smith",
                     "Smith Jr", "Smith Jr"])
  part = "one is a prefix, initial or part of the other"
  assert got == ["else", "else", part, part, "exact",
                 "similar (Jaro-Winkler >= 0.80)"]
