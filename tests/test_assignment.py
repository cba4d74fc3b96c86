"""Assignment of scored pairs: best, one_to_one, all."""

import numpy as np

from crmsync.transforms.assignment import assign

# Original rows 1 and 2 share vendor row 7 (a shared inbox): row 2 is the
# better pair; row 1 also has vendor row 8.
IDS = np.array([1, 1, 2, 3, 4])
VENDOR = np.array([7, 8, 7, 9, 9])
KEYS = np.zeros(5, np.int8)
WEIGHT = np.array([10.0, 6.0, 14.0, 9.0, 9.0])


def test_best_gives_a_vendor_row_to_its_best_original_rows_ties_included():
  keep = assign(IDS, VENDOR, KEYS, WEIGHT, "best")
  # 7 goes to 2 only; 1 takes its next best, 8; 9 to both 3 and 4 (a tie:
  # duplicates in the CRM).
  assert keep.tolist() == [False, True, True, True, True]


def test_all_gives_each_original_row_its_best_vendor_row():
  assert assign(IDS, VENDOR, KEYS, WEIGHT, "all").tolist() == [
      True, False, True, True, True]


def test_one_to_one_uses_each_row_once():
  assert assign(IDS, VENDOR, KEYS, WEIGHT, "one_to_one").tolist() == [
      False, True, True, True, False]


def test_a_tie_its_names_do_not_tell_apart_is_ambiguous():
  # Vendor row 9 ties between original rows 3 and 4: duplicates of one
  # person when its names agree with both; a family at one address (its
  # given name agrees with neither) when they do not.
  from crmsync.transforms.assignment import ambiguous_ties
  duplicates = np.ones(5, bool)
  assert not ambiguous_ties(VENDOR, WEIGHT, duplicates).any()
  family = np.array([True, True, True, False, False])
  assert ambiguous_ties(VENDOR, WEIGHT, family).tolist() == [
      False, False, False, True, True]
  # Not a tie: row 7's best is row 2 alone, whatever the names say.
  assert not ambiguous_ties(VENDOR, WEIGHT, np.zeros(5, bool))[:3].any()
  # An ambiguous row does not go to its next best either.
  lower = ambiguous_ties(np.r_[VENDOR, 9], np.r_[WEIGHT, 8.0],
                         np.r_[family, True])
  assert lower.tolist() == [False, False, False, True, True, True]


def test_a_tie_between_rows_with_different_names_is_ambiguous():
  # Vendor row 9 (only a surname: its names agree with both) ties between
  # original rows 3 and 4: one person entered twice when their own names
  # are the same, two people (Myia and Maggie Price) when they differ.
  from crmsync.transforms.assignment import ambiguous_ties
  agree = np.ones(5, bool)
  twice = np.array([1, 1, 2, 5, 5], np.uint64)
  assert not ambiguous_ties(VENDOR, WEIGHT, agree, twice).any()
  family = np.array([1, 1, 2, 5, 6], np.uint64)
  assert ambiguous_ties(VENDOR, WEIGHT, agree, family).tolist() == [
      False, False, False, True, True]
  # Rows 1 and 2 differ too, but vendor row 7's best is row 2 alone.
  assert not ambiguous_ties(VENDOR, WEIGHT, agree, family)[:3].any()
