"""transforms/resolve.py: duplicate groups, the output layout and the
conflict strategies, on Arrow arrays."""

import pyarrow as pa
import pytest

from crmsync.transforms.columns import FILE_COL, LINE_COL, OFFSET_COL
from crmsync.transforms.resolve import (MATCH_COLUMNS, Duplicates, Layout,
                                        output_layout, resolution,
                                        resolve_column, resolve_duplicates,
                                        spread_columns)
from crmsync.transforms.spec import STRATEGIES, MatchKey, MergeSpec

EMAIL = MatchKey("email", ("Email",), ("email",))
PHONE = MatchKey("phone", ("Phone",), ("phone",))


def strings(*values):
  return pa.array(list(values), pa.string())


# resolve_duplicates -------------------------------------------------------


def _written():
  """Five enriched rows as written (multi-value policy applied); rows 0, 2
  and 3 share an email, rows 1 and 4 a phone."""
  return pa.table({
      "Title": strings("CEO", "Dev", "", "Chair", "Dev"),
      "City": strings("", "Oslo", "Rome", "Paris", "Lima"),
      "Score": strings("1", "", "", "3", "")})


def _internal():
  return pa.table({FILE_COL: pa.array([0, 0, 0, 1, 1], pa.int64()),
                   OFFSET_COL: pa.array([0, 10, 20, 0, 10], pa.int64()),
                   LINE_COL: pa.array([2, 3, 4, 2, 3], pa.int64())})


GROUPS = {"email": {"a@x.com": [0, 2, 3]}, "phone": {"+15550001111": [1, 4]}}


def _resolve(how, groups=GROUPS, **extra):
  spec = MergeSpec(("ID", "Email", "Phone"), (EMAIL, PHONE), duplicates=how,
                   **extra)
  return resolve_duplicates(_written(), _internal(), groups, spec)


def test_each_group_gets_a_synthesised_row_after_the_source_rows():
  dups = _resolve("first")
  assert isinstance(dups, Duplicates)
  assert dups.choice == {"email": {"a@x.com": 5}, "phone": {"+15550001111": 6}}
  assert dups.members == {5: [0, 2, 3], 6: [1, 4]}
  assert dups.table.num_rows == 2
  assert dups.spread_columns == [] and dups.widths == {}


@pytest.mark.parametrize("how,rows", [
    ("first", [0, 1]),
    ("last", [3, 4]),
    # Row 3 fills all three columns; rows 1 and 4 two each: the first wins.
    ("most_complete", [3, 1]),
])
def test_first_last_and_most_complete_copy_one_row_of_the_group(how, rows):
  dups = _resolve(how)
  assert dups.table.select(["Title", "City", "Score"]).equals(
      _written().take(rows))
  # The synthesised row carries the position of the row it copies.
  assert dups.table.select([FILE_COL, OFFSET_COL, LINE_COL]).equals(
      _internal().take(rows))
  assert dups.table.column_names == [FILE_COL, OFFSET_COL, LINE_COL,
                                     "Title", "City", "Score"]


def test_join_combines_the_distinct_non_empty_values_of_a_group():
  dups = _resolve("join", duplicate_separator=" | ")
  assert dups.table.select(["Title", "City", "Score"]).to_pylist() == [
      {"Title": "CEO | Chair", "City": "Rome | Paris", "Score": "1 | 3"},
      {"Title": "Dev", "City": "Oslo | Lima", "Score": ""}]
  # Its position is the group's first row's.
  assert dups.table.column(OFFSET_COL).to_pylist() == [0, 10]


def test_spread_writes_each_distinct_value_in_a_column_of_its_own():
  dups = _resolve("spread")
  assert dups.widths == {"Title": 2, "City": 2, "Score": 2}
  assert dups.spread_columns == ["Title_2", "City_2", "Score_2"]
  assert dups.table.select(["Title", "Title_2", "City", "City_2", "Score",
                            "Score_2"]).to_pylist() == [
      {"Title": "CEO", "Title_2": "Chair", "City": "Rome", "City_2": "Paris",
       "Score": "1", "Score_2": "3"},
      {"Title": "Dev", "Title_2": "", "City": "Oslo", "City_2": "Lima",
       "Score": "", "Score_2": ""}]


def test_spread_is_as_wide_as_the_widest_group_of_each_column():
  written = pa.table({"Title": strings("a", "b", "c", "d", "e"),
                      "City": strings("x", "x", "x", "y", "")})
  spec = MergeSpec(("ID", "Email"), (EMAIL,), duplicates="spread")
  dups = resolve_duplicates(written, _internal(),
                            {"email": {"k1": [0, 1, 2], "k2": [3, 4]}}, spec)
  assert dups.widths == {"Title": 3}  # City never holds two values
  assert dups.spread_columns == ["Title_2", "Title_3"]
  assert dups.table.column("Title_3").to_pylist() == ["c", ""]


def test_no_shared_values_no_synthesised_rows():
  dups = _resolve("spread", groups={"email": {}})
  assert dups.table.num_rows == 0
  assert dups.members == {} and dups.choice == {"email": {}}
  assert dups.spread_columns == []


def test_spread_column_names():
  assert spread_columns(["Title", "City", "Score"],
                        {"Title": 3, "Score": 2, "Other": 4}) == [
      "Title_2", "Title_3", "Score_2"]
  assert spread_columns(["Title"], {}) == []


# output_layout ------------------------------------------------------------


SUPPLIED = [("vendor", ["Title", "Email_Verified", "Phone Type", "Emailer",
                        "Score"]),
            ("backup", ["Score", "Title", "Phone"])]


def _layout(**extra):
  extra.setdefault("conflict_columns", {"Title": "create_alternate",
                                        "Phone": "create_alternate"})
  spec = MergeSpec(("ID", "Email", "Phone", "Title", "Notes"),
                   (EMAIL, PHONE), **extra)
  return output_layout(spec, SUPPLIED)


def test_append_keeps_the_original_columns_then_alternates_then_new_ones():
  layout = _layout()
  assert isinstance(layout, Layout)
  assert layout.columns == (
      "ID", "Email", "Phone", "Title", "Notes", "Phone_Alt", "Title_Alt",
      "Email_Verified", "Phone Type", "Emailer", "Score")
  assert layout.alternates == {"Phone_Alt": "Phone", "Title_Alt": "Title"}


def test_sources_of_a_column_are_listed_in_priority_order():
  assert _layout().sources == {
      "Title": ("vendor", "backup"), "Email_Verified": ("vendor",),
      "Phone Type": ("vendor",), "Emailer": ("vendor",),
      "Score": ("vendor", "backup"), "Phone": ("backup",)}


def test_next_to_related_places_alternates_and_related_columns_after_theirs():
  """Email_Verified and "Phone Type" follow Email and Phone; "Emailer" is
  another word, not a column about Email, and goes at the end."""
  assert _layout(placement="next_to_related").columns == (
      "ID", "Email", "Email_Verified", "Phone", "Phone_Alt", "Phone Type",
      "Title", "Title_Alt", "Notes", "Emailer", "Score")


def test_explicit_placement_writes_the_order_given():
  layout = _layout(placement="explicit",
                   order=("Title_Alt", "ID", "Score", "Email"))
  assert layout.columns == ("Title_Alt", "ID", "Score", "Email")
  assert layout.alternates == {"Phone_Alt": "Phone", "Title_Alt": "Title"}


def test_alternates_only_for_supplied_create_alternate_columns():
  """Notes is create_alternate but no source supplies it; Email is
  supplied by no source either."""
  layout = _layout(conflict_default="create_alternate", alternate_suffix=" 2")
  assert layout.alternates == {"Phone 2": "Phone", "Title 2": "Title"}
  assert _layout(conflict_columns={}).alternates == {}


def test_match_columns_come_last_unless_placed():
  assert _layout(match_columns=True).columns[-3:] == ("Score",) + \
      MATCH_COLUMNS[:2]
  # With scoring, _match_detail too.
  assert _layout(match_columns=True, scoring=True).columns[-4:] == (
      ("Score",) + MATCH_COLUMNS)
  explicit = _layout(match_columns=True, placement="explicit",
                     order=("_match_score", "ID"))
  assert explicit.columns == ("_match_score", "ID", "_match_key")


# resolve_column -----------------------------------------------------------


ORIGINAL = strings("a@x.com", "", "A@X.COM", "b@x.com", "c@x.com", "",
                   "d@x.com")
CANDIDATE = strings("a@y.com", "n@x.com", "a@x.com", None, "", None,
                    "D@x.com ")
SOURCE = strings("v", "v", "w", None, None, None, "w")


def _column(strategy, alternate=False, **keys):
  spec = MergeSpec(("Email",), (EMAIL,), conflict_default=strategy)
  return resolve_column("Email", ORIGINAL, CANDIDATE, SOURCE, spec, alternate,
                        **keys)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_fills_blanks_and_finds_the_same_conflicts(strategy):
  """Only row 0 conflicts: rows 2 and 6 differ only in case and spaces;
  rows 3 to 5 have no candidate."""
  result = _column(strategy)
  assert result.conflict_rows.tolist() == [0]
  assert result.values.to_pylist()[1:] == [
      "n@x.com", "A@X.COM", "b@x.com", "c@x.com", "", "d@x.com"]
  assert result.candidate.equals(CANDIDATE)
  assert result.candidate_source.equals(SOURCE)
  assert result.alternate is None


@pytest.mark.parametrize("strategy,written", [
    ("keep_original", "a@x.com"),
    ("fill_empty", "a@x.com"),
    ("manual_review", "a@x.com"),
    ("create_alternate", "a@x.com"),
    ("replace", "a@y.com"),
])
def test_only_replace_writes_the_candidate_over_a_conflict(strategy,
                                                           written):
  assert _column(strategy).values[0].as_py() == written


def test_the_alternate_column_holds_the_conflicting_candidate_only():
  result = _column("create_alternate", alternate=True)
  assert result.values.to_pylist() == [
      "a@x.com", "n@x.com", "A@X.COM", "b@x.com", "c@x.com", "", "d@x.com"]
  assert result.alternate.to_pylist() == ["a@y.com"] + [""] * 6


def test_values_equal_after_normalising_are_no_conflict():
  """The column's normalizer decides: phones written in two formats, and
  (with no key) two texts differing only in case and spaces."""
  spec = MergeSpec(("Phone", "Note"), (PHONE,), conflict_default="replace")
  phone = resolve_column("Phone", strings("(555) 201-3344", "555-201-3344"),
                         strings("+1 555.201.3344", "555-201-9999"),
                         strings("v", "v"), spec, False)
  assert phone.conflict_rows.tolist() == [1]
  assert phone.values.to_pylist() == ["(555) 201-3344", "555-201-9999"]
  note = resolve_column("Note", strings("Call  back", "n/a"),
                        strings(" call back", "N/A"), strings("v", "v"),
                        spec, False)
  assert note.conflict_rows.size == 0
  assert note.values.to_pylist() == ["Call  back", "n/a"]


def test_values_without_a_key_are_compared_as_text():
  """Not a phone number on either side: compared as plain text."""
  spec = MergeSpec(("Phone",), (PHONE,))
  result = resolve_column("Phone", strings("ext 5", "ext 5"),
                          strings("EXT 5", "ext 6"), strings("v", "v"), spec,
                          False)
  assert result.conflict_rows.tolist() == [1]


def test_keys_the_caller_has_are_used_instead_of_normalising_again():
  """The broadcast join hands over the keys it looked the rows up by."""
  keys = strings("same", "same", "same", None, None, None, "other")
  result = _column("fill_empty", original_keys=keys, candidate_keys=keys)
  assert result.conflict_rows.tolist() == []
  differ = strings("k1", None, "k2", None, None, None, "k3")
  result = _column("fill_empty", original_keys=keys, candidate_keys=differ)
  assert result.conflict_rows.tolist() == [0, 2, 6]


def test_resolutions_name_what_was_written():
  assert {s: resolution(s) for s in STRATEGIES} == {
      "keep_original": "kept original",
      "replace": "replaced with enriched",
      "fill_empty": "kept original",
      "create_alternate": "enriched written to alternate column",
      "manual_review": "kept original; needs review"}
