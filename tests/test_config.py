"""pipelines/config.py: load_config (validation, defaults, templates,
environment variables, --set overrides, one-line errors) and the specs a
JobConfig gives the job (merge_spec, enriched_specs). The CLI's messages for
a catalogue of bad values are tested in test_cli.py."""

import datetime
import os

import pytest
import yaml

from crmsync.pipelines.config import (JobConfig, column_kinds, compare_kind,
                                      load_config)
from crmsync.transforms.errors import ConfigError, CrmsyncError
from crmsync.transforms.spec import (EnrichedSpec, FuzzyRule, MatchKey,
                                     MergeSpec)

MINIMAL = {
    "original": {"path": "crm.csv"},
    "enriched": [{"path": "vendor.csv"}],
    "match": {"keys": [{"name": "email", "normalize": "email",
                        "columns": ["Email"]}]},
    "output": {"path": "out/merged"},
}


@pytest.fixture
def here(tmp_path, monkeypatch):
  """Runs in tmp_path, with no CRMSYNC_RUN_DATE of the caller's."""
  monkeypatch.chdir(tmp_path)
  monkeypatch.delenv("CRMSYNC_RUN_DATE", raising=False)
  return tmp_path


def _write(folder, doc, name="job.yaml"):
  path = folder / name
  path.write_text(doc if isinstance(doc, str) else
                  yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
  return str(path)


def _load(folder, doc=MINIMAL, overrides=(), **kw):
  return load_config(_write(folder, doc), list(overrides), **kw)


def _error(folder, doc=MINIMAL, overrides=(), **kw):
  path = _write(folder, doc)
  with pytest.raises(ConfigError) as e:
    load_config(path, list(overrides), **kw)
  message = str(e.value)
  assert "\n" not in message
  return message.replace(path, "FILE")


def test_defaults_of_a_minimal_config(here):
  c = _load(here)
  assert c.original.path == str(here / "crm.csv")  # absolute
  assert (c.original.csv.delimiter, c.original.csv.encoding,
          c.original.csv.escape) == (",", "utf-8", "auto")
  assert c.enriched[0].label == "vendor" and c.enriched[0].columns == {}
  assert c.enriched[0].keep is None
  assert c.match.phone_region == "US"
  assert (c.conflicts.default, c.conflicts.columns,
          c.conflicts.alternate_suffix, c.conflicts.write_invalid) == (
              "fill_empty", {}, "_Alt", False)
  assert (c.duplicates, c.duplicate_separator) == ("first", "; ")
  assert (c.multi_value.default, c.multi_value.columns,
          c.multi_value.separator) == ("first", {}, ", ")
  assert (c.columns.placement, c.columns.order) == ("append", [])
  assert c.output.path == str(here / "out" / "merged")
  assert (c.output.shards, c.output.reports, c.output.delimiter,
          c.output.escape_formulas, c.output.match_columns) == (
              4, None, None, True, False)
  assert c.output.reports_dir == str(here / "out" / "reports")
  assert (c.limits.max_field_bytes, c.limits.max_row_bytes,
          c.limits.max_rejected_fraction) == (4 << 20, 16 << 20, 0.01)
  assert (c.join, c.join_partitions, c.broadcast_limit_mb) == (
      "auto", 16, None)
  assert c.storage.endpoint_url is None


def test_paths_local_made_absolute_urls_and_home_kept(here, monkeypatch):
  monkeypatch.setenv("HOME", str(here / "home"))
  c = _load(here, {**MINIMAL,
                   "original": {"path": "~/crm.csv"},
                   "enriched": [{"path": "s3://bucket/vendor*.csv"},
                                {"path": "../drop/v2.csv"}],
                   "output": {"path": "s3://out/merged",
                              "reports": "rep/"}})
  assert c.original.path == str(here / "home" / "crm.csv")
  assert c.enriched[0].path == "s3://bucket/vendor*.csv"
  assert c.enriched[1].path == str(here.parent / "drop" / "v2.csv")
  assert c.output.path == "s3://out/merged"
  assert c.output.reports_dir == str(here / "rep")
  bucket = _load(here, {**MINIMAL, "output": {"path": "s3://out/x/merged"}})
  assert bucket.output.reports_dir == "s3://out/x/reports"


def test_a_source_is_named_by_name_else_its_file_stem(here):
  c = _load(here, {**MINIMAL, "enriched": [
      {"path": "drop/vendor.v2.csv"}, {"path": "drop/phones"},
      {"path": "vendor.csv", "name": "other"}]})
  assert [e.label for e in c.enriched] == ["vendor.v2", "phones", "other"]


def test_two_sources_with_one_name_are_an_error(here):
  doc = {**MINIMAL, "enriched": [{"path": "a/vendor.csv"},
                                 {"path": "b/vendor.csv"}]}
  assert _error(here, doc) == (
      "FILE: enriched.1.path: the file name 'vendor' is also the name of "
      "enriched.0; give each a distinct `name`")


def test_a_source_cannot_be_called_original(here):
  """A vendor drop saved as original.csv would share the original's name
  in the reports, and their counts would be added together."""
  doc = {**MINIMAL, "enriched": [{"path": "drop/original.csv"}]}
  assert _error(here, doc) == (
      "FILE: enriched.0.path: the file name 'original' names the original "
      "in the reports; give this source a `name`")


def test_run_date_and_run_id_fill_any_string(here, monkeypatch):
  doc = {**MINIMAL, "original": {"path": "in/{run_date}/crm.csv"},
         "output": {"path": "out/{run_date}/{run_id}/merged"},
         "duplicate_separator": " {run_id} "}
  today = datetime.date.today().isoformat()
  c = _load(here, doc, run_id="r42")
  assert c.original.path == str(here / "in" / today / "crm.csv")
  assert c.output.path == str(here / "out" / today / "r42" / "merged")
  assert c.duplicate_separator == " r42 "
  monkeypatch.setenv("CRMSYNC_RUN_DATE", "2024-02-29")
  c = _load(here, doc)
  assert c.output.path == str(here / "out" / "2024-02-29" / "run" / "merged")


def test_environment_variables_both_forms(here, monkeypatch):
  monkeypatch.setenv("DROP", "/srv/drop")
  monkeypatch.setenv("BUCKET", "crm-merged")
  c = _load(here, {**MINIMAL,
                   "enriched": [{"path": "$DROP/vendor.csv"},
                                {"path": "${DROP}/v2/{run_date}.csv",
                                 "name": "v2"}],
                   "output": {"path": "s3://${BUCKET}/merged"}},
            run_id="x")
  assert c.enriched[0].path == "/srv/drop/vendor.csv"
  assert c.enriched[1].path.startswith("/srv/drop/v2/20")
  assert c.output.path == "s3://crm-merged/merged"


def test_an_unset_variable_in_braces_is_an_error_naming_the_key(
    here, monkeypatch):
  monkeypatch.delenv("CRMSYNC_NO_SUCH_VAR", raising=False)
  message = _error(here, {**MINIMAL,
                          "output": {"path": "${CRMSYNC_NO_SUCH_VAR}/m"}})
  assert message.startswith("FILE: output.path: ")
  assert "CRMSYNC_NO_SUCH_VAR" in message


def test_a_literal_brace_is_doubled(here):
  c = _load(here, {**MINIMAL, "output": {"path": "out/{{x}}/merged"}})
  assert c.output.path == str(here / "out" / "{x}" / "merged")


@pytest.mark.parametrize("path", ["out/{date}/m", "out/{0}/m",
                                  "out/{run_date:%Y}/m"])
def test_an_unknown_template_names_the_key(here, path):
  doc = {**MINIMAL, "output": {"path": path}}
  message = _error(here, doc)
  assert message.startswith("FILE: output.path: unknown template ")
  assert message.endswith(f" in {path!r} (known: {{run_date}}, {{run_id}})")


def test_a_template_in_a_list_names_its_index(here):
  doc = {**MINIMAL, "enriched": [{"path": "a.csv"},
                                 {"path": "b/{vendor}.csv"}]}
  assert _error(here, doc) == (
      "FILE: enriched.1.path: unknown template 'vendor' in 'b/{vendor}.csv' "
      "(known: {run_date}, {run_id})")


def test_an_attribute_in_a_template_is_a_config_error(here):
  _error(here, {**MINIMAL, "output": {"path": "out/{run_date.year}/m"}})


def test_a_config_not_in_utf8_is_a_config_error(here):
  path = here / "latin1.yaml"
  path.write_bytes(b"original: {path: T\xe9l\xe9phone.csv}\n")
  with pytest.raises(ConfigError, match="latin1.yaml"):
    load_config(str(path))


def test_unknown_keys_are_errors_naming_the_key_path(here):
  assert _error(here, {**MINIMAL, "outptu": {}}).startswith(
      "FILE: outptu: unknown key (did you mean output?)")
  doc = {**MINIMAL, "enriched": [{"path": "v.csv", "colums": {}}]}
  assert _error(here, doc) == (
      "FILE: enriched.0.colums: unknown key (did you mean enriched.0.columns?)")
  doc = {**MINIMAL, "match": {"keys": [{**MINIMAL["match"]["keys"][0],
                                        "normalise": "email"}]}}
  assert _error(here, doc) == (
      "FILE: match.keys.0.normalise: unknown key (did you mean "
      "match.keys.0.normalize?)")
  assert _error(here, {**MINIMAL, "storage": {"zzz": 1}}) == (
      "FILE: storage.zzz: unknown key (known: endpoint_url, region, "
      "profile, verify)")


def test_missing_keys_and_wrong_types_name_the_key_and_value(here):
  doc = {k: v for k, v in MINIMAL.items() if k != "match"}
  assert _error(here, doc) == "FILE: match: missing (required)"
  assert _error(here, {**MINIMAL, "join_partitions": "many"}) == (
      "FILE: join_partitions: 'many' is not a whole number")
  assert _error(here, {**MINIMAL, "broadcast_limit_mb": -1}) == (
      "FILE: broadcast_limit_mb: -1 is too small (at least 0)")
  assert _error(here, {**MINIMAL, "multi_value": {"default": "most"}}) == (
      "FILE: multi_value.default: 'most' is not one of first, all, "
      "deduplicated, best")
  assert _error(here, {**MINIMAL, "columns": {"placement": "left"}}) == (
      "FILE: columns.placement: 'left' is not one of append, "
      "next_to_related, explicit")


def test_csv_options_by_name_and_their_errors(here):
  c = _load(here, {**MINIMAL,
                   "original": {"path": "crm.csv",
                                "csv": {"delimiter": "tab",
                                        "escape": "backslash",
                                        "encoding": "cp1252"}},
                   "enriched": [{"path": "v.csv",
                                 "csv": {"delimiter": "semicolon"}}],
                   "output": {"path": "m", "delimiter": "pipe"}})
  assert (c.original.csv.delimiter, c.original.csv.escape,
          c.original.csv.encoding) == ("\t", "\\", "cp1252")
  assert c.original.csv.model_fields_set == {"delimiter", "escape",
                                             "encoding"}
  assert c.enriched[0].csv.delimiter == ";"
  assert c.output.delimiter == "|"
  doc = {**MINIMAL, "original": {"path": "crm.csv",
                                 "csv": {"encoding": "klingon"}}}
  assert _error(here, doc) == (
      "FILE: original.csv.encoding: 'klingon' is not a known encoding")
  doc = {**MINIMAL, "original": {"path": "crm.csv",
                                 "csv": {"delimiter": "::"}}}
  assert _error(here, doc) == (
      "FILE: original.csv.delimiter: '::' is not supported (use , ; | tab "
      "or auto)")


def test_the_phone_region_is_a_known_two_letter_code(here):
  doc = {**MINIMAL, "match": {**MINIMAL["match"], "phone_region": "gb"}}
  assert _load(here, doc).match.phone_region == "GB"
  doc = {**MINIMAL, "match": {**MINIMAL["match"], "phone_region": "UK"}}
  assert _error(here, doc) == (
      "FILE: match.phone_region: 'UK' is not a region (use a two-letter "
      "code, e.g. US, GB, DE)")


def test_set_overrides_values_lists_and_new_mappings(here):
  c = _load(here, overrides=[
      "output.shards=8", "enriched.0.name= phones ", "join=partitioned",
      "conflicts.columns={Phone: create_alternate}",
      "storage.region=eu-west-1", "output.reports=",
      "output.match_columns=true",
      "enriched.0.path=s3://drop/{run_date}/v.csv"])
  assert c.output.shards == 8 and c.join == "partitioned"
  assert c.enriched[0].name == "phones"  # YAML: surrounding spaces go
  assert c.conflicts.columns == {"Phone": "create_alternate"}
  assert c.storage.region == "eu-west-1"
  assert c.output.reports == ""  # empty: the default folder
  assert c.output.reports_dir == str(here / "out" / "reports")
  assert c.output.match_columns is True
  assert c.enriched[0].path.startswith("s3://drop/20")  # templates too
  assert _load(here, overrides=["output.path=a=b"]).output.path == str(
      here / "a=b")


def test_set_overrides_are_checked_like_the_file(here):
  assert _error(here, overrides=["output.shards=0"]) == (
      "FILE: output.shards: 0 is too small (at least 1)")
  assert _error(here, overrides=["output.shrads=3"]) == (
      "FILE: output.shrads: unknown key (did you mean output.shards?)")


@pytest.mark.parametrize("item, message", [
    ("output.shards", "--set output.shards: expected key.path=value"),
    ("enriched.3.path=x", "--set enriched.3.path: '3' is not an index of "
                          "the list at enriched"),
    ("enriched.name=x", "--set enriched.name: 'name' is not an index of "
                        "the list at enriched"),
    ("output.path.x=1", "--set output.path.x: output.path is not a mapping"),
    ("output.shards=[1", "--set output.shards: '[1' is not a YAML value "
                         "(expected ',' or ']', but got '<stream end>'); "
                         "quote it: --set 'output.shards=\"[1\"'"),
])
def test_bad_set_overrides(here, item, message):
  assert _error(here, overrides=[item]) == message


def test_file_errors(here):
  with pytest.raises(ConfigError, match="^nope.yaml: config file not found$"):
    load_config("nope.yaml")
  with pytest.raises(ConfigError, match=": config file not found$"):
    load_config(str(here))  # a folder
  assert _error(here, "original: {path: x\nenriched: [") == (
      "FILE: line 2 invalid YAML (expected ',' or '}', but got ':')")
  assert _error(here, "- a\n- b\n") == "FILE: expected a mapping of config keys"
  assert _error(here, "") == "FILE: expected a mapping of config keys"
  assert issubclass(ConfigError, CrmsyncError)


def test_key_configs_become_match_keys(here):
  c = _load(here, {**MINIMAL, "match": {"keys": [
      {"name": "email", "normalize": "email", "columns": ["Email"],
       "confirm": ["First Name", "Surname", "Company", "City"]},
      {"name": "name_zip", "normalize": ["name", "name", "zip"],
       "columns": ["First", "Last", "Zip"]},
      {"name": "phones", "normalize": "phone", "columns": ["Phone", "Mobile"]},
      {"name": "fuzzy", "normalize": "fuzzy",
       "columns": ["First", "Last", "Company", "City"],
       "block": [["Last", "Zip"], "Company"], "threshold": 0.9,
       "max_block": 5},
  ]}})
  keys = [k.to_key() for k in c.match.keys]
  assert keys == [
      MatchKey("email", ("Email",), ("email",),
               confirm=("First Name", "Surname", "Company", "City"),
               confirm_normalizers=("name", "name", "company", "text")),
      MatchKey("name_zip", ("First", "Last", "Zip"), ("name", "name", "zip")),
      MatchKey("phones", ("Phone", "Mobile"), ("phone", "phone")),
      MatchKey("fuzzy", ("First", "Last", "Company", "City"),
               ("name", "name", "company", "text"),
               fuzzy=FuzzyRule(0.9, (("Last", "Zip"), ("Company",)), 5)),
  ]


def test_a_fuzzy_key_compares_as_told_or_by_column_name(here):
  c = _load(here, {**MINIMAL, "match": {"keys": [
      {"name": "f", "normalize": "fuzzy", "columns": ["Given Name", "Org"],
       "compare": ["name", "company"]}]}})
  key = c.match.keys[0].to_key()
  assert key.normalizers == ("name", "company")
  assert key.fuzzy == FuzzyRule()


@pytest.mark.parametrize("column, kind", [
    ("First", "name"), ("fname", "name"), ("Given Name", "name"),
    ("Last", "name"), ("Surname", "name"), ("Company Name", "company"),
    ("Organization", "company"), ("Postal Code", "zip"),
    ("E-mail Address", "email"), ("Mobile Phone", "phone"), ("City", "text"),
    ("Title", "text"),
])
def test_compare_kind_by_column_name(column, kind):
  assert compare_kind(column) == kind


def test_column_kinds_only_for_names_that_say_a_kind():
  assert column_kinds(["Email", "Website", "Postal Code", "Mobile Phone",
                       "Notes", "First"]) == {
      "Email": "email", "Website": "url", "Postal Code": "zip",
      "Mobile Phone": "phone"}


def test_merge_spec_is_the_config_with_the_header(here):
  c = _load(here, {
      **MINIMAL,
      "match": {"phone_region": "DE", "keys": [
          {"name": "email", "normalize": "email", "columns": ["Email"]}]},
      "conflicts": {"default": "replace", "columns": {"Phone":
                                                      "create_alternate"},
                    "alternate_suffix": "_Vendor", "write_invalid": True},
      "duplicates": "join", "duplicate_separator": " / ",
      "multi_value": {"default": "all", "columns": {"Phone": "best"},
                      "separator": " | "},
      "columns": {"placement": "explicit", "order": ["ID", "Email", "Phone"]},
      "output": {"path": "m", "match_columns": True},
  })
  spec = c.merge_spec(["ID", "Email", "Phone"], ["Website", "Notes"])
  assert spec == MergeSpec(
      original_header=("ID", "Email", "Phone"),
      keys=(MatchKey("email", ("Email",), ("email",)),),
      phone_region="DE", conflict_default="replace",
      conflict_columns={"Phone": "create_alternate"},
      alternate_suffix="_Vendor", duplicates="join",
      duplicate_separator=" / ", multi_value_default="all",
      multi_value_columns={"Phone": "best"}, multi_value_separator=" | ",
      placement="explicit", order=("ID", "Email", "Phone"),
      match_columns=True,
      column_kinds={"Email": "email", "Phone": "phone", "Website": "url"},
      write_invalid=True)
  assert c.merge_spec(("ID", "Email")).column_kinds == {"Email": "email"}


def test_enriched_specs_in_priority_order(here):
  c = _load(here, {**MINIMAL, "enriched": [
      {"path": "email.csv", "columns": {"E-mail Address": "Email"},
       "keep": ["Email_Verified"]},
      {"path": "phone.csv", "name": "phones", "keep": []},
      {"path": "firmo.csv"}]})
  assert c.enriched_specs() == [
      EnrichedSpec("email", {"E-mail Address": "Email"}, ("Email_Verified",)),
      EnrichedSpec("phones", {}, ()),
      EnrichedSpec("firmo", {}, None)]


def test_a_job_config_can_be_built_without_a_file(here):
  c = JobConfig.model_validate(MINIMAL)
  assert c.output.path == os.path.abspath("out/merged")
  assert c.merge_spec(("Email",)).keys == (
      MatchKey("email", ("Email",), ("email",)),)
