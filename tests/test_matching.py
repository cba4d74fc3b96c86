"""transforms/matching.py: normalised keys, key lookups and the index of one
enriched source (file order, duplicates, the rows a hit stands for)."""

import numpy as np
import pyarrow as pa
import pytest

from conftest import row_batch
from crmsync.transforms.columns import FILE_COL, LINE_COL, OFFSET_COL
from crmsync.transforms.matching import (KEY_SEPARATOR, EnrichedIndex,
                                         KeyLookup, SourceColumns,
                                         applicable_keys, build_index,
                                         identities, key_pairs, key_values,
                                         lookup_rows, source_table)
from crmsync.transforms.rows import RowBatch
from crmsync.transforms.spec import EnrichedSpec, FuzzyRule, MatchKey, MergeSpec

EMAIL = MatchKey("email", ("Email",), ("email",))
PHONE = MatchKey("phone", ("Phone",), ("phone",))
NAME_ZIP = MatchKey("name_zip", ("First", "Last", "Zip"),
                    ("name", "name", "zip"))


def table_of(columns):
  return pa.table({c: pa.array(v, pa.string()) for c, v in columns.items()})


def index_of(batches, spec, header, source=EnrichedSpec("v"), files=None):
  files = files or [f"f{i}.csv" for i in range(3)]
  return build_index(batches, source, spec, header, files)


# key_values ---------------------------------------------------------------


def test_key_values_are_normalised_and_null_without_a_value():
  table = table_of({"Email": [" Ana@X.com ", "Ana Lopez <ana@x.com>", "",
                              None, "n/a"]})
  assert key_values(table, EMAIL, "US").to_pylist() == [
      "ana@x.com", "ana@x.com", None, None, None]


def test_phone_keys_use_the_region():
  table = table_of({"Phone": ["(555) 201-3344", "+1 555.201.3344", "12"]})
  assert key_values(table, PHONE, "US").to_pylist() == [
      "+15552013344", "+15552013344", None]


def test_a_multi_column_key_joins_its_parts_and_is_null_if_any_is_missing():
  table = table_of({"First": ["Ana", " ANA ", "Ana", ""],
                    "Last": ["Lopez", "lopez", "Lopez", "Lopez"],
                    "Zip": ["02134", "2134", "", "02134"]})
  keys = key_values(table, NAME_ZIP, "US").to_pylist()
  expected = KEY_SEPARATOR.join(["ana", "lopez", "02134"])
  assert keys == [expected, expected, None, None]


def test_applicable_keys_skip_keys_whose_columns_the_table_lacks():
  confirmed = MatchKey("email_confirmed", ("Email",), ("email",),
                       confirm=("First",), confirm_normalizers=("name",))
  spec = MergeSpec(("Email",), (EMAIL, PHONE, NAME_ZIP, confirmed))
  assert applicable_keys(spec, ["Email", "First", "Last"]) == [EMAIL,
                                                                confirmed]
  # A confirming column is needed too.
  assert applicable_keys(spec, ["Email", "Phone"]) == [EMAIL, PHONE]


# identities and KeyLookup -------------------------------------------------


def test_identities_are_file_rank_and_byte_offset():
  table = pa.table({FILE_COL: pa.array([0, 1, 2], pa.int64()),
                    OFFSET_COL: pa.array([7, 7, 0], pa.int64())})
  ids = identities(table)
  assert ids.tolist() == [7, (1 << 40) | 7, 2 << 40]
  assert identities(table, np.array([2, 0])).tolist() == [2 << 40, 7]


def test_key_lookup_finds_rows_and_misses_nulls_and_unknown_values():
  lookup = KeyLookup(pa.array(["b", "a", "c"]), np.array([10, 11, 12]))
  assert len(lookup) == 3
  found = lookup.find(pa.chunked_array([["a", None], ["zz", "c", "b"]]))
  assert found.tolist() == [11, -1, -1, 12, 10]
  empty = KeyLookup(pa.array([], pa.string()), np.array([], np.int64))
  assert empty.find(pa.array(["a"])).tolist() == [-1]


def test_lookup_rows_looks_up_only_pending_rows():
  lookup = KeyLookup(pa.array(["a", "b"]), np.array([4, 5]))
  values = pa.array(["a", "b", "a", None])
  pending = np.array([False, True, True, True])
  assert lookup_rows(values, lookup, pending).tolist() == [-1, 5, 4, -1]
  assert lookup_rows(values, lookup, np.ones(4, bool)).tolist() == [
      4, 5, 4, -1]
  assert lookup_rows(values, lookup).tolist() == [4, 5, 4, -1]
  assert lookup_rows(values, lookup, np.zeros(4, bool)).tolist() == [-1] * 4


# key_pairs ----------------------------------------------------------------


def test_key_pairs_give_a_multi_valued_cell_one_pair_per_value():
  """A vendor writes every address it knows of a contact in one cell: each
  is a match candidate for that row."""
  spec = MergeSpec(("Email",), (EMAIL,))
  table = table_of({"Email": ["a@x.com, B@Y.com", "", '["c@x.com", '
                              '"d@x.com"]', "Ana <e@x.com>", "junk"]})
  values, rows = key_pairs(table, EMAIL, spec)
  assert list(zip(values.to_pylist(), rows.tolist())) == [
      ("a@x.com", 0), ("b@y.com", 0), ("c@x.com", 2), ("d@x.com", 2),
      ("e@x.com", 3)]


def test_key_pairs_of_a_multi_column_key_are_one_per_row_with_a_key():
  spec = MergeSpec(("First",), (NAME_ZIP,))
  table = table_of({"First": ["Ana", "Ben, Cy", ""],
                    "Last": ["Lopez", "Ng", "Roe"],
                    "Zip": ["02134", "10001", "10001"]})
  values, rows = key_pairs(table, NAME_ZIP, spec)
  assert rows.tolist() == [0, 1]
  assert values.to_pylist()[0] == KEY_SEPARATOR.join(["ana", "lopez",
                                                      "02134"])


def test_phone_key_pairs_split_a_cell_of_several_numbers():
  spec = MergeSpec(("Phone",), (PHONE,))
  table = table_of({"Phone": ["555 000 9999, (555) 000-2222", "555-000-1111"]})
  values, rows = key_pairs(table, PHONE, spec)
  assert list(zip(values.to_pylist(), rows.tolist())) == [
      ("+15550009999", 0), ("+15550002222", 0), ("+15550001111", 1)]


# source_table and SourceColumns ------------------------------------------


def test_source_columns_keep_new_and_mapped_columns_and_list_key_columns():
  spec = MergeSpec(("ID", "Email", "Phone", "Title"), (EMAIL, PHONE))
  source = EnrichedSpec("v", rename={"Job": "Title"})
  cols = SourceColumns.of(source, spec, ("Email", "Title", "Phone", "Score"))
  assert cols.keep == ("Title", "Score")
  assert cols.keys == (EMAIL, PHONE)
  assert cols.key_columns == ("Email", "Phone")
  assert cols.wanted == ["Title", "Score", "Email", "Phone", OFFSET_COL,
                         LINE_COL]


def test_source_table_maps_selects_and_adds_the_file_rank():
  spec = MergeSpec(("ID", "Email", "Title"), (EMAIL,))
  source = EnrichedSpec("v", rename={"Mail": "Email", "Job": "Title"})
  header = ("Email", "Ignored", "Title")  # mapped
  cols = SourceColumns.of(source, spec, header)
  batch = row_batch(3, {"Mail": ["a@x.com"], "Ignored": ["x"],
                        "Job": ["CEO"]}, offsets=[40], lines=[5])
  t = source_table(batch, source, cols)
  # Email and Title are kept: mapping them onto the CRM's states intent.
  assert t.column_names == ["Email", "Ignored", "Title", OFFSET_COL,
                            LINE_COL, FILE_COL]
  assert t.to_pylist() == [{"Email": "a@x.com", "Ignored": "x",
                            "Title": "CEO", OFFSET_COL: 40,
                            LINE_COL: 5, FILE_COL: 3}]


# build_index / EnrichedIndex ---------------------------------------------


SPEC = MergeSpec(("ID", "Email"), (EMAIL,))
HEADER = ("Email", "Title", "City")


def _vendor_batches():
  """Two files of a vendor; a@x.com is listed three times (twice in file
  0, once in file 1). Returned in the order a runner might deliver them:
  file 1 first, file 0 split in two with its second half first."""
  f0 = {"Email": ["a@x.com", "b@x.com", "A@X.com ", "c@x.com"],
        "Title": ["CEO", "Dev", "", "Ops"],
        "City": ["", "Oslo", "Rome", ""]}
  f1 = {"Email": ["a@x.com", "d@x.com"], "Title": ["Chair", "QA"],
        "City": ["Paris", "Lima"]}
  b0 = row_batch(0, f0)
  return [row_batch(1, f1), RowBatch(0, b0.table.slice(2)),
          RowBatch(0, b0.table.slice(0, 2))]


def _index(duplicates):
  spec = MergeSpec(("ID", "Email"), (EMAIL,), duplicates=duplicates)
  return index_of(_vendor_batches(), spec, HEADER)


def test_the_index_holds_the_rows_in_file_order_whatever_the_batch_order():
  index = _index("first")
  assert isinstance(index, EnrichedIndex)
  assert index.rows_read == 6
  own = index.table.slice(0, 6)
  assert own.column(FILE_COL).to_pylist() == [0, 0, 0, 0, 1, 1]
  assert own.column(OFFSET_COL).to_pylist() == [0, 100, 200, 300, 0, 100]
  assert own.column("Title").to_pylist() == ["CEO", "Dev", "", "Ops",
                                             "Chair", "QA"]
  # The same index whatever the order the batches came in.
  again = index_of(list(reversed(_vendor_batches())), SPEC, HEADER)
  assert again.table.equals(index.table)


def test_unique_key_values_point_at_their_own_row():
  index = _index("first")
  found = index.lookups["email"].find(pa.array(["b@x.com", "c@x.com",
                                                "d@x.com", "z@x.com"]))
  assert found.tolist() == [1, 3, 5, -1]


@pytest.mark.parametrize("duplicates,title,city", [
    ("first", "CEO", ""),
    ("last", "Chair", "Paris"),
    # Rows 0 and 2 have one value each, row 4 (file 1) two.
    ("most_complete", "Chair", "Paris"),
    ("join", "CEO; Chair", "Rome; Paris"),
    ("spread", "CEO", "Rome"),
])
def test_a_shared_key_value_resolves_to_one_synthesised_row(duplicates,
                                                            title, city):
  index = _index(duplicates)
  assert index.table.num_rows == 7  # 6 read, one group
  assert index.members == {6: [0, 2, 4]}
  assert index.lookups["email"].find(pa.array(["a@x.com"])).tolist() == [6]
  row = index.table.slice(6).to_pylist()[0]
  assert (row["Title"], row["City"]) == (title, city)


def test_spread_adds_columns_as_wide_as_the_widest_group():
  index = _index("spread")
  assert index.columns == ["Title", "City", "Title_2", "City_2"]
  assert index.spread == {"Title": 2, "City": 2}
  assert index.table.column("Title_2").to_pylist() == [""] * 6 + ["Chair"]
  assert index.table.column("City_2").to_pylist() == [""] * 6 + ["Paris"]
  assert _index("first").columns == ["Title", "City"]
  assert _index("first").spread == {}


def test_a_synthesised_row_keeps_the_position_of_the_row_it_copies():
  last = _index("last").table.slice(6).to_pylist()[0]
  assert (last[FILE_COL], last[OFFSET_COL], last[LINE_COL]) == (1, 0, 2)
  first = _index("join").table.slice(6).to_pylist()[0]
  assert (first[FILE_COL], first[OFFSET_COL], first[LINE_COL]) == (0, 0, 2)


def test_used_rows_map_a_synthesised_row_to_its_group():
  index = _index("first")
  assert index.used_rows(np.array([6])).tolist() == [0, 2, 4]
  assert index.used_rows(np.array([3, 6, 1, 3])).tolist() == [0, 1, 2, 3, 4]
  assert index.used_rows(np.array([5, 5])).tolist() == [5]
  assert index.used_rows(np.array([], np.int64)).tolist() == []


def test_identities_of_the_rows_read_are_unique():
  """Two files hold rows at the same byte offsets: the file rank keeps the
  identities apart (the accounts and ties rely on them)."""
  index = _index("first")
  ids = identities(index.table, np.arange(index.rows_read))
  assert len(set(ids.tolist())) == index.rows_read
  assert ids.tolist() == [0, 100, 200, 300, 1 << 40, (1 << 40) | 100]


def test_rows_list_file_line_kept_and_key_columns_as_written():
  index = _index("first")
  rows = index.rows(np.array([4, 2]))
  assert rows.column_names == [FILE_COL, LINE_COL, "Title", "City", "Email"]
  assert rows.to_pylist() == [
      {FILE_COL: 1, LINE_COL: 2, "Title": "Chair", "City": "Paris",
       "Email": "a@x.com"},
      {FILE_COL: 0, LINE_COL: 4, "Title": "", "City": "Rome",
       "Email": "A@X.com "}]


def test_a_row_with_several_values_joins_the_group_of_each():
  """One cell listing two addresses: the row shares b@x.com with another
  row, and is the only one with a@x.com."""
  spec = MergeSpec(("ID", "Email"), (EMAIL,), duplicates="join")
  batch = row_batch(0, {"Email": ["a@x.com; b@x.com", "b@x.com"],
                        "Title": ["CEO", "CTO"]})
  index = index_of([batch], spec, ("Email", "Title"))
  assert index.members == {2: [0, 1]}
  found = index.lookups["email"].find(pa.array(["a@x.com", "b@x.com"]))
  assert found.tolist() == [0, 2]
  assert index.table.column("Title").to_pylist() == ["CEO", "CTO",
                                                     "CEO; CTO"]


def test_a_cell_repeating_its_own_address_is_no_duplicate():
  spec = MergeSpec(("ID", "Email"), (EMAIL,))
  alone = row_batch(0, {"Email": ["a@x.com, A@X.com", "b@x.com"],
                        "Title": ["1", "2"]})
  assert index_of([alone], spec, ("Email", "Title")).members == {}
  shared = row_batch(0, {"Email": ["a@x.com, A@X.com", "b@x.com", "a@x.com"],
                         "Title": ["1", "2", "3"]})
  assert index_of([shared], spec, ("Email", "Title")).members == {3: [0, 2]}


def test_two_keys_resolve_their_groups_separately():
  spec = MergeSpec(("ID", "Email", "Phone"), (EMAIL, PHONE))
  batch = row_batch(0, {"Email": ["a@x.com", "a@x.com", "b@x.com"],
                        "Phone": ["555-000-1111", "555-000-2222",
                                  "(555) 000-2222"],
                        "Title": ["A", "B", "C"]})
  index = index_of([batch], spec, ("Email", "Phone", "Title"))
  assert index.members == {3: [0, 1], 4: [1, 2]}
  assert index.lookups["email"].find(pa.array(["a@x.com"])).tolist() == [3]
  assert index.lookups["phone"].find(pa.array(["+15550002222"])).tolist() == [
      4]
  assert index.used_rows(np.array([3, 4])).tolist() == [0, 1, 2]


def test_kept_email_and_zip_columns_are_written_as_a_crm_takes_them():
  """A display name is dropped from a kept email column, a ZIP a
  spreadsheet turned into a number is written as it was, and invisible
  characters around a value go (a CRM's importer rejects them)."""
  spec = MergeSpec(("ID", "Phone"), (PHONE,), column_kinds={
      "Email": "email", "Zip": "zip"})
  batch = row_batch(0, {"Phone": ["555-000-1111", "555-000-2222"],
                        "Email": ["Ana Lopez <ana@x.com>",
                                  "b@x.com; c@x.com"],
                        "Zip": ["2134.0", " 10001\u00a0"]})
  index = index_of([batch], spec, ("Phone", "Email", "Zip"))
  # multi_value's default policy, "first", writes one address of several.
  assert index.table.column("Email").to_pylist() == ["ana@x.com", "b@x.com"]
  assert index.table.column("Zip").to_pylist() == ["02134", "10001"]


def test_a_source_without_rows_gives_an_empty_index():
  index = index_of([], SPEC, HEADER)
  assert index.rows_read == 0 and index.table.num_rows == 0
  assert index.columns == ["Title", "City"]
  assert index.lookups["email"].find(pa.array(["a@x.com"])).tolist() == [-1]
  assert index.used_rows(np.array([], np.int64)).tolist() == []


def test_a_fuzzy_key_gets_a_fuzzy_index_not_a_lookup():
  fuzzy = MatchKey("fuzzy", ("First", "Last"), ("name", "name"),
                   fuzzy=FuzzyRule())
  spec = MergeSpec(("ID", "Email", "First", "Last"), (EMAIL, fuzzy))
  batch = row_batch(0, {"Email": ["a@x.com"], "First": ["Ana"],
                        "Last": ["Lopez"], "Title": ["CEO"]})
  index = index_of([batch], spec, ("Email", "First", "Last", "Title"))
  assert set(index.lookups) == {"email"}
  assert set(index.fuzzy) == {"fuzzy"}


def test_a_source_that_keeps_no_column_still_uses_its_whole_group():
  """A vendor list used only to see who matches (its only column is the
  key): a match on b@x.com uses both of its rows for b@x.com, and none
  other, as when the source keeps a column."""
  batch = row_batch(0, {"Email": ["a@x.com", "c@x.com", "a@x.com",
                                  "b@x.com", "B@X.com"]})
  index = index_of([batch], SPEC, ("Email",))
  hit = index.lookups["email"].find(pa.array(["b@x.com"]))
  assert index.table.column("Email").take(pa.array(hit)).to_pylist() == [
      "b@x.com"]
  assert index.used_rows(hit).tolist() == [3, 4]


def test_a_partition_indexes_each_key_only_over_the_rows_it_routed_there():
  """The partitioned join's fragments say which keys routed each row to
  the partition (ROUTED_COL, bit k for the k-th key): a key's values of
  the other rows are looked up in their own partitions, and are not
  indexed here; a routed value's rows are all there, duplicates too."""
  from crmsync.transforms.columns import ROUTED_COL
  from crmsync.transforms.matching import index_from_tables
  spec = MergeSpec(("ID", "Email", "Phone"), (EMAIL, PHONE))
  header = ("Email", "Phone", "Title")
  batch = row_batch(0, {
      "Email": ["a@x.com", "b@x.com", "a@x.com", "c@x.com"],
      "Phone": ["555-201-0001", "555-201-0002", "555-201-0003",
                "555-201-0002"],
      "Title": ["CEO", "Dev", "CFO", "Ops"]})
  source = EnrichedSpec("v")
  cols = SourceColumns.of(source, spec, header)
  table = source_table(batch, source, cols)
  # Email (bit 0) routed rows 0 and 2 here, phone (bit 1) rows 1 and 3.
  routed = table.append_column(ROUTED_COL, pa.array([1, 2, 1, 2],
                                                    pa.int64()))
  every = index_from_tables([table], source, spec, cols, ["f.csv"])
  part = index_from_tables([routed], source, spec, cols, ["f.csv"])
  emails, phones = pa.array(["a@x.com"]), pa.array(["+15552010002"])
  assert part.lookups["email"].find(emails).tolist() == [4]  # synthesised
  assert part.members == {4: [0, 2], 5: [1, 3]} == every.members
  assert part.lookups["phone"].find(phones).tolist() == [5]
  assert every.lookups["email"].find(emails).tolist() == [4]
  # Not routed here by its key: not indexed.
  assert part.lookups["email"].find(pa.array(["b@x.com"])).tolist() == [-1]
  assert every.lookups["email"].find(pa.array(["b@x.com"])).tolist() == [1]
  assert part.lookups["phone"].find(pa.array(["+15552010001"])
                                    ).tolist() == [-1]
  assert ROUTED_COL not in part.table.column_names
