"""transforms/multi_value.py: cells holding several values; explode (each
value a match candidate) and apply_policy (what is written). split_cells'
display names and extensions are tested in test_validity.py; the policies
end to end in test_merge.py."""

import pyarrow as pa
import pytest

from crmsync.transforms.multi_value import (apply_policy, explode,
                                            split_cells,
                                            unwrap_display_names)


def _explode(cells):
  values, rows = explode(cells if isinstance(cells, pa.ChunkedArray)
                         else pa.array(cells, pa.string()))
  return list(zip(values.to_pylist(), rows.to_pylist()))


def test_explode_single_values_trims_and_drops_blanks():
  assert _explode(["a@x.com", "", None, " b@y.com ", "   "]) == [
      ("a@x.com", 0), ("b@y.com", 3)]


def test_explode_gives_every_value_with_its_cell():
  assert _explode([
      "a@x.com, b@y.com",
      None,
      '["c@z.com", "d@z.com"]',
      "e@z.com;f@z.com | g@z.com",
      " , ",
      "h@z.com , ,i@z.com",
      "j@z.com",
  ]) == [("a@x.com", 0), ("b@y.com", 0), ("c@z.com", 2), ("d@z.com", 2),
         ("e@z.com", 3), ("f@z.com", 3), ("g@z.com", 3), ("h@z.com", 5),
         ("i@z.com", 5), ("j@z.com", 6)]


def test_explode_keeps_display_names_and_extensions_with_their_value():
  assert _explode(["Lopez, Ana <ana@x.com>, bo@x.com",
                   "555-201-3344;ext=12, 555-201-4455"]) == [
      ("Lopez, Ana <ana@x.com>", 0), ("bo@x.com", 0),
      ("555-201-3344 ext=12", 1), ("555-201-4455", 1)]


def test_explode_a_chunked_column_numbers_cells_across_chunks():
  assert _explode(pa.chunked_array([["1, 2"], [], ["3", "4; 5"]])) == [
      ("1", 0), ("2", 0), ("3", 1), ("4", 2), ("5", 2)]


def test_explode_empty_json_array_and_empty_column():
  assert _explode(["[]", '[""]']) == []
  assert _explode([]) == []


def test_split_cells_lists_each_cells_values():
  assert split_cells(pa.array(["a, b", '["x", "y"]', "", " z "])).to_pylist(
  ) == [["a", "b"], ["x", "y"], [""], ["z"]]


def test_unwrap_display_names_leaves_the_bare_address():
  assert unwrap_display_names(pa.array([
      "Ana Lopez <ana@x.com>", '"Ng, Ben" <ben@x.org>', "<b@y.com>",
      "plain@x.com", "x <y>", None])).to_pylist() == [
      "ana@x.com", "ben@x.org", "b@y.com", "plain@x.com", "x <y>", None]
  same = pa.array(["a@x.com", "b@y.com"])
  assert unwrap_display_names(same) is same  # no "<": untouched


PHONES = [
    "+1 951 230 9663, +1 951 575 5715",
    "(951) 230-9663; +1 951 230 9663 | 951.575.5715",
    "n/a, +1 951 230 9663",
    '["5.55201E+09", "(951) 575-5715"]',
    "(951) 230-9663 x12, (951) 230-9663",
    "951-230-9663",
    "",
    None,
]


@pytest.mark.parametrize("policy, written", [
    ("first", ["+1 951 230 9663", "(951) 230-9663", "n/a", "5.55201E+09",
               "(951) 230-9663 x12"]),
    ("all", ["+1 951 230 9663, +1 951 575 5715",
             "(951) 230-9663, +1 951 230 9663, 951.575.5715",
             "n/a, +1 951 230 9663", "5.55201E+09, (951) 575-5715",
             "(951) 230-9663 x12, (951) 230-9663"]),
    # The same number written twice is written once, as first written; an
    # extension is another number.
    ("deduplicated", ["+1 951 230 9663, +1 951 575 5715",
                      "(951) 230-9663, 951.575.5715",
                      "n/a, +1 951 230 9663", "5.55201E+09, (951) 575-5715",
                      "(951) 230-9663 x12, (951) 230-9663"]),
    # The first valid number; a JSON array's values as listed.
    ("best", ["+1 951 230 9663", "(951) 230-9663", "+1 951 230 9663",
              "(951) 575-5715", "(951) 230-9663 x12"]),
])
def test_phone_policies(policy, written):
  out = apply_policy(pa.array(PHONES), policy, "phone").to_pylist()
  assert out == written + ["951-230-9663", "", None]  # single: as they were


def test_best_falls_back_to_the_first_when_none_is_valid():
  out = apply_policy(pa.array(["#N/A, n/a", "555-201-3344, 555-201-4455"]),
                     "best", "phone")
  assert out.to_pylist() == ["#N/A", "555-201-3344"]


def test_phone_policies_use_the_region():
  cell = pa.array(["020 7946 0958, +44 20 7946 0958, (951) 230-9663"])
  us = apply_policy(cell, "deduplicated", "phone").to_pylist()
  gb = apply_policy(cell, "deduplicated", "phone", ", ", "GB").to_pylist()
  assert us == ["020 7946 0958, +44 20 7946 0958, (951) 230-9663"]
  assert gb == ["020 7946 0958, (951) 230-9663"]
  assert apply_policy(pa.array(["n/a, 020 7946 0958"]), "best", "phone",
                      phone_region="GB").to_pylist() == ["020 7946 0958"]


EMAILS = [
    "A@x.com, a@x.com, b@y.com",
    "Lopez, Ana <ana@x.com>",
    '"Ng, Ben" <ben@x.org>, cy@x.com',
    "n/a; bo@x.com",
    "Ana Lopez <ANA@x.com>, ana@x.com",
    "plain@x.com",
]


@pytest.mark.parametrize("policy, written", [
    ("first", ["A@x.com", "ana@x.com", "ben@x.org", "n/a", "ANA@x.com"]),
    ("all", ["A@x.com, a@x.com, b@y.com", "ana@x.com", "ben@x.org, cy@x.com",
             "n/a, bo@x.com", "ANA@x.com, ana@x.com"]),
    ("deduplicated", ["A@x.com, b@y.com", "ana@x.com", "ben@x.org, cy@x.com",
                      "n/a, bo@x.com", "ANA@x.com"]),
    ("best", ["A@x.com", "ana@x.com", "ben@x.org", "bo@x.com", "ANA@x.com"]),
])
def test_email_policies_write_bare_addresses(policy, written):
  # A display name with a comma is one value, and goes: a CRM's email
  # field takes the address.
  out = apply_policy(pa.array(EMAILS), policy, "email").to_pylist()
  assert out == written + ["plain@x.com"]


def test_deduplicated_compares_by_the_columns_normalizer():
  cell = pa.array(["Jane.Doe+news@gmail.com, janedoe@gmail.com"])
  assert apply_policy(cell, "deduplicated", "email").to_pylist() == [
      "Jane.Doe+news@gmail.com, janedoe@gmail.com"]
  assert apply_policy(cell, "deduplicated", "email_provider").to_pylist() == [
      "Jane.Doe+news@gmail.com"]


def test_text_columns_with_the_separator_of_the_config():
  cells = pa.array(["Retail, Software, retail", "Retail"])
  assert apply_policy(cells, "all", "text", " | ").to_pylist() == [
      "Retail | Software | retail", "Retail"]
  assert apply_policy(cells, "deduplicated", "text", " | ").to_pylist() == [
      "Retail | Software", "Retail"]
  assert apply_policy(cells, "first", "text").to_pylist() == [
      "Retail", "Retail"]
  assert apply_policy(cells, "best", "text").to_pylist() == [
      "Retail", "Retail"]  # no validator: the first


def test_a_json_array_keeps_separators_inside_its_values():
  cells = pa.array(['["Retail, Wholesale", "Software"]'])
  assert apply_policy(cells, "all", "text", " | ").to_pylist() == [
      "Retail, Wholesale | Software"]


def test_single_valued_columns_are_returned_as_they_are():
  cells = pa.array(["a", "b c", None])
  assert apply_policy(cells, "all") is cells
  listed = pa.array(["a", "[x]", "b"])  # brackets, but one value each
  assert apply_policy(listed, "deduplicated") is listed
