"""transforms/spec.py: the plain values a merge is described by (MatchKey,
FuzzyRule, EnrichedSpec, MergeSpec) and what they derive."""

import dataclasses
import pickle

import pytest

from crmsync.transforms.spec import (DUPLICATES, MULTI_VALUE, PLACEMENTS,
                                     SPLITTABLE_NORMALIZERS, STRATEGIES,
                                     EnrichedSpec, FuzzyRule, MatchKey,
                                     MergeSpec)

EMAIL = MatchKey("email", ("Email",), ("email",))
PHONE = MatchKey("phone", ("Phone",), ("phone",))
NAME_ZIP = MatchKey("name_zip", ("First", "Last", "Zip"),
                    ("name", "name", "zip"))
FUZZY = MatchKey("fuzzy", ("First", "Last", "Company"),
                 ("name", "name", "company"),
                 fuzzy=FuzzyRule(blocks=(("Last", "Zip"), ("Company",),
                                         ("Zip", "City"))))


def test_the_choices_the_config_offers():
  assert STRATEGIES == ("keep_original", "replace", "fill_empty",
                        "create_alternate", "manual_review")
  assert DUPLICATES == ("first", "last", "most_complete", "join", "spread")
  assert MULTI_VALUE == ("first", "all", "deduplicated", "best")
  assert PLACEMENTS == ("append", "next_to_related", "explicit")
  assert SPLITTABLE_NORMALIZERS == ("email", "email_provider", "phone")


def test_fuzzy_rule_defaults():
  rule = FuzzyRule()
  assert (rule.threshold, rule.blocks, rule.max_block) == (0.88, (), 20)


def test_block_columns_are_the_blocks_columns_once_in_order():
  assert FUZZY.block_columns == ("Last", "Zip", "Company", "City")
  assert EMAIL.block_columns == ()
  no_blocks = MatchKey("f", ("First", "Last"), ("name", "name"),
                       fuzzy=FuzzyRule())
  assert no_blocks.block_columns == ()


def test_needed_columns_are_the_key_block_and_confirm_columns_once():
  assert EMAIL.needed_columns == ("Email",)
  assert FUZZY.needed_columns == ("First", "Last", "Company", "Zip", "City")
  confirmed = MatchKey("email", ("Email",), ("email",),
                       confirm=("First", "Last", "Email"),
                       confirm_normalizers=("name", "name", "email"))
  assert confirmed.needed_columns == ("Email", "First", "Last")
  both = dataclasses.replace(FUZZY, confirm=("Title", "First"),
                             confirm_normalizers=("text", "name"))
  assert both.needed_columns == ("First", "Last", "Company", "Zip", "City",
                                 "Title")


@pytest.mark.parametrize("key, multi", [
    (EMAIL, True), (PHONE, True),
    (MatchKey("e", ("Email",), ("email_provider",)), True),
    (MatchKey("z", ("Zip",), ("zip",)), False),
    (MatchKey("u", ("Website",), ("url",)), False),
    (MatchKey("ep", ("Email", "Phone"), ("email", "phone")), False),
    (MatchKey("f", ("Email",), ("email",), fuzzy=FuzzyRule()), False),
])
def test_only_single_email_or_phone_exact_keys_are_multi_valued(key, multi):
  assert key.multi_valued is multi


def test_keep_columns_is_keep_when_given():
  spec = EnrichedSpec("v", {"Mobile": "Phone"}, keep=("Phone", "Carrier"))
  assert spec.keep_columns(("Email", "Phone", "Carrier", "Title"),
                           ("Email", "Phone")) == ("Phone", "Carrier")
  assert EnrichedSpec("v", keep=()).keep_columns(("A",), ()) == ()


def test_keep_columns_default_new_columns_plus_mapped_ones():
  spec = EnrichedSpec("v", {"Mobile Phone": "Phone", "E-mail": "Email"})
  mapped = ("Email", "Phone", "First", "Phone_Type", "Title")
  original = ("ID", "Email", "Phone", "First", "Title")
  # Email and Phone are original columns, kept because they were mapped;
  # First and Title are original columns the vendor merely also has.
  assert spec.keep_columns(mapped, original) == ("Email", "Phone",
                                                 "Phone_Type")
  assert EnrichedSpec("v").keep_columns(mapped, original) == ("Phone_Type",)


def test_strategy_per_column_else_the_default():
  spec = MergeSpec(("ID", "Phone", "Title"), (EMAIL,),
                   conflict_default="keep_original",
                   conflict_columns={"Phone": "create_alternate"})
  assert spec.strategy("Phone") == "create_alternate"
  assert spec.strategy("Title") == "keep_original"
  assert MergeSpec(("ID",), (EMAIL,)).strategy("ID") == "fill_empty"


def test_key_normalizer_first_exact_key_then_kind_then_text():
  spec = MergeSpec(("ID", "Email", "First", "Zip", "Company", "Website"),
                   (EMAIL, MatchKey("zip_text", ("Zip",), ("text",)),
                    NAME_ZIP, FUZZY),
                   column_kinds={"Zip": "zip", "Website": "url",
                                 "Mobile": "phone"})
  assert spec.key_normalizer("Email") == "email"
  assert spec.key_normalizer("First") == "name"  # from name_zip
  assert spec.key_normalizer("Zip") == "text"  # the first exact key's
  assert spec.key_normalizer("Company") == "text"  # fuzzy keys don't count
  assert spec.key_normalizer("Website") == "url"
  assert spec.key_normalizer("Mobile") == "phone"
  assert spec.key_normalizer("Title") == "text"


def test_merge_spec_defaults():
  spec = MergeSpec(("ID", "Email"), (EMAIL,))
  assert (spec.phone_region, spec.conflict_default, spec.alternate_suffix,
          spec.duplicates, spec.duplicate_separator,
          spec.multi_value_default, spec.multi_value_separator,
          spec.placement, spec.order, spec.match_columns,
          spec.write_invalid) == ("US", "fill_empty", "_Alt", "first", "; ",
                                  "first", ", ", "append", (), False, False)
  assert spec.conflict_columns == {} and spec.column_kinds == {}
  assert spec.multi_value_columns == {}


def test_specs_are_frozen_and_survive_pickling():
  spec = MergeSpec(("ID", "Email", "First", "Last", "Company"),
                   (EMAIL, FUZZY), conflict_columns={"Email": "replace"},
                   column_kinds={"Email": "email"})
  source = EnrichedSpec("v", {"E-mail": "Email"}, ("Email",))
  assert pickle.loads(pickle.dumps(spec)) == spec
  assert pickle.loads(pickle.dumps(source)) == source
  with pytest.raises(dataclasses.FrozenInstanceError):
    spec.duplicates = "last"
  with pytest.raises(dataclasses.FrozenInstanceError):
    EMAIL.columns = ("Other",)
  assert hash(FUZZY) == hash(dataclasses.replace(FUZZY))  # usable as keys
