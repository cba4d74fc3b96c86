"""pipelines/job.py: plan_job, the config checked against the input headers
(no data row read, nothing run): the files, headers and formats found, each
source's mapping, kept columns and keys, the join chosen by size, and the
ConfigErrors naming the key and the file."""

import os

import pytest

from conftest import write_csv
from crmsync.pipelines import job as job_module
from crmsync.pipelines.config import JobConfig
from crmsync.pipelines.job import plan_job
from crmsync.transforms.errors import ConfigError, InputError

EMAIL = {"name": "email", "normalize": "email", "columns": ["Email"]}
NAME_ZIP = {"name": "name_zip", "normalize": ["name", "name", "zip"],
            "columns": ["First", "Last", "Zip"]}


@pytest.fixture
def files(tmp_path):
  """The original, an email vendor (its address under another name) and
  a firmographic vendor, as paths."""
  return {
      "original": write_csv(tmp_path / "crm.csv", [
          ["ID", "First", "Last", "Email", "Zip", "Phone", "Title"],
          ["1", "Ann", "Lee", "ann@x.com", "02134", "555-201-3344", "CEO"],
          ["2", "Bo", "Ng", "bo@y.org", "90210", "", ""]]),
      "email": write_csv(tmp_path / "email_vendor.csv", [
          ["E-mail", "Title", "Mobile Phone", "LinkedIn_URL"],
          ["ann@x.com", "Chief", "555-201-9999", "https://l.in/ann"]]),
      "firmo": write_csv(tmp_path / "firmo.csv", [
          ["First", "Last", "Zip", "Industry", "Employees"],
          ["Bo", "Ng", "90210", "Retail", "12"]]),
  }


def _config(files, **changes):
  doc = {
      "original": {"path": files["original"]},
      "enriched": [{"path": files["email"], "columns": {"E-mail": "Email"}},
                   {"path": files["firmo"], "name": "firmographic"}],
      "match": {"keys": [EMAIL, NAME_ZIP]},
      "output": {"path": os.path.join(os.path.dirname(files["original"]),
                                      "out", "merged")},
  }
  doc.update(changes)
  return JobConfig.model_validate(doc)


def _size(path):
  return os.path.getsize(path)


def test_the_plan_of_a_job(files):
  plan = plan_job(_config(files))
  assert plan.original_files == [files["original"]]
  assert plan.original_sizes == [_size(files["original"])]
  assert plan.original_header == ("ID", "First", "Last", "Email", "Zip",
                                  "Phone", "Title")
  assert plan.original_fmt.delimiter == ","
  assert list(plan.original_formats) == [files["original"]]
  assert plan.source_order == ("email_vendor", "firmographic")
  email, firmo = plan.sources
  assert email.files == [files["email"]]
  assert email.header == ("E-mail", "Title", "Mobile Phone", "LinkedIn_URL")
  assert email.mapped_header == ("Email", "Title", "Mobile Phone",
                                 "LinkedIn_URL")
  # New columns, and Email because it was mapped; not Title, which the
  # original has too.
  assert email.kept == ("Email", "Mobile Phone", "LinkedIn_URL")
  assert email.keys == ("email",)  # it has no name or zip
  assert firmo.kept == ("Industry", "Employees")
  assert firmo.keys == ("name_zip",)
  assert plan.enriched_bytes == _size(files["email"]) + _size(files["firmo"])


def test_the_spec_knows_the_kinds_of_enriched_columns_too(files):
  spec = plan_job(_config(files)).spec
  assert spec.original_header[0] == "ID"
  assert [k.name for k in spec.keys] == ["email", "name_zip"]
  # Mobile Phone and LinkedIn_URL are the vendor's; Phone and Zip the
  # original's.
  assert spec.column_kinds == {"Email": "email", "Zip": "zip",
                               "Phone": "phone", "Mobile Phone": "phone"}
  assert spec.key_normalizer("Mobile Phone") == "phone"
  assert spec.key_normalizer("Zip") == "zip"  # from the name_zip key


@pytest.mark.parametrize("limit_mb, join", [(0, "partitioned"),
                                            (1, "broadcast")])
def test_join_auto_chooses_by_the_enriched_files_size(files, limit_mb, join):
  plan = plan_job(_config(files, broadcast_limit_mb=limit_mb))
  assert plan.join == join


def test_join_auto_limit_defaults_to_a_fortieth_of_memory(files,
                                                          monkeypatch):
  monkeypatch.setattr(job_module, "_memory_bytes", lambda: 40 << 20)  # 1 MB
  assert plan_job(_config(files)).join == "broadcast"
  monkeypatch.setattr(job_module, "_memory_bytes", lambda: (40 << 20) - 1)
  assert plan_job(_config(files)).join == "partitioned"  # 0 MB


def test_join_as_configured_whatever_the_size(files):
  assert plan_job(_config(files, join="broadcast",
                          broadcast_limit_mb=0)).join == "broadcast"
  assert plan_job(_config(files, join="partitioned")).join == "partitioned"


def test_a_glob_lists_its_files_in_name_order(tmp_path, files):
  (tmp_path / "drop").mkdir()
  parts = [write_csv(tmp_path / "drop" / name, [
      ["E-mail", "Verified"], [f"{name}@x.com", "yes"]])
      for name in ("b.csv", "a.csv", "c.csv")]
  config = _config(files, enriched=[
      {"path": str(tmp_path / "drop" / "*.csv"), "name": "verifier",
       "columns": {"E-mail": "Email"}}])
  plan = plan_job(config)
  [source] = plan.sources
  assert source.files == sorted(parts)
  assert plan.enriched_bytes == sum(_size(p) for p in parts)
  assert source.kept == ("Email", "Verified")


def test_each_files_dialect_is_decided_when_planned(tmp_path, files):
  semi = write_csv(tmp_path / "semi.csv", [["Email", "Score"],
                                           ["ann@x.com", "0,9"]],
                   delimiter=";")
  plan = plan_job(_config(files, enriched=[
      {"path": semi, "csv": {"delimiter": "auto"}}]))
  assert plan.sources[0].fmt.delimiter == ";"
  assert plan.sources[0].header == ("Email", "Score")
  assert plan.dialect_lines()[1].startswith(f"csv {semi}: delimiter ';'")
  assert len(plan.dialect_lines()) == 2


def _config_error(files, **changes):
  with pytest.raises(ConfigError) as e:
    plan_job(_config(files, **changes))
  assert "\n" not in str(e.value)
  return str(e.value)


def test_a_key_column_missing_from_the_original(files):
  keys = [{"name": "email", "normalize": "email", "columns": ["E_mail"]}]
  assert _config_error(files, match={"keys": keys}) == (
      f"match.keys.0 (email): column 'E_mail' is not in the header of "
      f"{files['original']} (columns: ID, First, Last, Email, Zip, Phone, "
      f"Title)")


def test_a_confirm_or_block_column_missing_from_the_original(files):
  keys = [{**EMAIL, "confirm": ["First", "Surname"]}]
  assert _config_error(files, match={"keys": keys}).startswith(
      "match.keys.0 (email): column 'Surname' is not in the header of ")


def test_a_long_header_is_cut_in_the_message(tmp_path, files):
  wide = write_csv(tmp_path / "wide.csv", [[f"C{i}" for i in range(20)]])
  message = _config_error(files, original={"path": wide})
  assert message.endswith("(columns: C0, C1, C2, C3, C4, C5, C6, C7, C8, "
                          "C9, C10, C11, ...)")


def test_mapping_a_column_the_source_does_not_have(files):
  message = _config_error(files, enriched=[
      {"path": files["email"], "columns": {"Email": "Email"}}])
  assert message == (
      f"enriched.0.columns: 'Email' is not a column of {files['email']} "
      f"(columns: E-mail, Title, Mobile Phone, LinkedIn_URL)")


def test_two_columns_mapped_to_one_name(files):
  message = _config_error(files, enriched=[
      {"path": files["email"], "columns": {"E-mail": "Email",
                                           "Mobile Phone": "Title"}}])
  assert message == (f"enriched.0.columns: two columns of {files['email']} "
                     f"map to 'Title'")


def test_keeping_a_column_the_source_does_not_have_after_mapping(files):
  message = _config_error(files, enriched=[
      {"path": files["email"], "columns": {"E-mail": "Email"},
       "keep": ["Mobile Phone", "E-mail"]}])
  assert message == (
      f"enriched.0.keep: 'E-mail' is not a column of {files['email']} after "
      f"mapping (columns: Email, Title, Mobile Phone, LinkedIn_URL)")


def test_a_source_with_the_columns_of_no_key(files):
  message = _config_error(files, enriched=[
      {"path": files["firmo"]}, {"path": files["email"]}])
  assert message == (
      f"enriched.1 (email_vendor): {files['email']} has the columns of no "
      f"match key; map its columns to the key columns with `columns:`")


def test_a_source_with_a_key_but_not_its_confirm_columns(files):
  keys = [{**EMAIL, "confirm": ["First", "Last"]}]
  message = _config_error(files, match={"keys": keys})
  assert message == (
      f"match.keys.0 (email): {files['email']} (email_vendor) lacks column "
      f"'First', which the key also needs (block or confirm); map it with "
      f"enriched.0.columns")


def test_conflict_strategies_name_original_columns(files):
  assert _config_error(files, conflicts={"columns": {"Industry": "replace"}}
                       ) == ("conflicts.columns: 'Industry' is not a column "
                             "of the original (strategies apply to its "
                             "columns)")
  plan = plan_job(_config(files, conflicts={"columns": {"Title": "replace"}}))
  assert plan.spec.strategy("Title") == "replace"


def test_multi_value_columns_name_kept_columns(files):
  assert _config_error(files, multi_value={"columns": {"Title": "all"}}) == (
      "multi_value.columns: 'Title' is not a kept enriched column")
  plan = plan_job(_config(files, multi_value={"columns": {"Industry":
                                                          "all"}}))
  assert plan.spec.multi_value_columns == {"Industry": "all"}


ORDER = ["ID", "First", "Last", "Email", "Zip", "Phone", "Title", "Industry"]


def test_an_explicit_order_lists_every_original_column(files):
  assert _config_error(files, columns={"placement": "explicit"}) == (
      "columns.order: required with placement: explicit")
  assert _config_error(files, columns={"placement": "explicit",
                                       "order": ORDER[1:]}) == (
      "columns.order: original column 'ID' is missing (every original "
      "column is written)")
  plan = plan_job(_config(files, duplicates="spread", columns={
      "placement": "explicit", "order": ORDER + ["Industry_2"]}))
  assert plan.spec.order == tuple(ORDER) + ("Industry_2",)


def test_an_explicit_order_with_an_unknown_column(files):
  assert _config_error(files, columns={
      "placement": "explicit", "order": ORDER + ["Indsutry"]}) == (
      "columns.order: unknown column 'Indsutry' (did you mean 'Industry'?)")
  assert _config_error(files, columns={
      "placement": "explicit", "order": ORDER + ["Zzz"]}) == (
      "columns.order: unknown column 'Zzz' (columns: ID, First, Last, Email, "
      "Zip, Phone, Title, Mobile Phone, LinkedIn_URL, Industry, Employees)")


def test_missing_inputs_are_input_errors(tmp_path, files):
  with pytest.raises(InputError, match="crm2.csv: no such file"):
    plan_job(_config(files, original={"path": str(tmp_path / "crm2.csv")}))
  with pytest.raises(InputError, match=r"nothing\*.csv: no such file"):
    plan_job(_config(files, enriched=[
        {"path": str(tmp_path / "nothing*.csv")}]))


def test_planning_reads_no_data_rows(tmp_path, files):
  # A data row the reader would reject does not stop the plan.
  bad = tmp_path / "bad.csv"
  bad.write_bytes(b"E-mail,Title\nann@x.com,\"unclosed\n")
  plan = plan_job(_config(files, enriched=[
      {"path": str(bad), "columns": {"E-mail": "Email"}}]))
  assert plan.sources[0].header == ("E-mail", "Title")
