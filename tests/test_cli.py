"""End to end through the `crmsync` command line."""

import os
import subprocess
import sys

import pytest

from conftest import write_csv

EMAIL_KEY = {"name": "email", "normalize": "email", "columns": ["Email"]}
PHONE_KEY = {"name": "phone", "normalize": "phone", "columns": ["Phone"]}


def design_example(job, tmp):
  """The example from the old tool's design."""
  original = write_csv(tmp / "crm.csv", [
      ["ID", "First", "Last", "Email", "Phone", "Company"],
      ["1", "John", "Doe", "john@old.com", "", "Acme"],
      ["2", "Jane", "Smith", "jane@example.com", "555-123-4567", "Globex"],
  ])
  verified = write_csv(tmp / "verified.csv", [
      ["email", "Email_Verified"], ["JOHN@old.com ", "true"]])
  social = write_csv(tmp / "social.csv", [
      ["Email", "Phone_Type", "LinkedIn_URL"],
      ["jane@example.com", "mobile", "https://linkedin.com/in/jane"]])
  return job.config(original, [
      {"path": verified, "columns": {"email": "Email"}},
      {"path": social}], [EMAIL_KEY, PHONE_KEY])


def test_design_example_one_row_per_person_with_columns_filled(job, tmp_path,
                                                                 cli):
  code, _, err = cli("run", design_example(job, tmp_path))
  assert code == 0, err
  header, rows = job.output()
  assert header == ["ID", "First", "Last", "Email", "Phone", "Company",
                    "Email_Verified", "Phone_Type", "LinkedIn_URL"]
  assert rows == [
      ["1", "John", "Doe", "john@old.com", "", "Acme", "true", "", ""],
      ["2", "Jane", "Smith", "jane@example.com", "555-123-4567", "Globex", "",
       "mobile", "https://linkedin.com/in/jane"],
  ]
  stats = job.report("stats.json")
  assert stats["original"]["rows_read"] == 2
  assert stats["enriched"]["verified"]["matches_per_key"] == {"email": 1}
  assert stats["enriched"]["social"]["original_rows_matched"] == 1
  assert stats["accounting"]["balanced"] is True


def test_validate_reads_headers_and_runs_nothing(job, tmp_path, cli):
  code, out, _ = cli("validate", design_example(job, tmp_path))
  assert code == 0
  assert "enriched verified" in out and "keys email" in out
  assert "config OK" in out
  assert not os.path.exists(job.prefix + "-00000-of-00002.csv")


def test_set_overrides_a_config_value(job, tmp_path, cli):
  cfg = design_example(job, tmp_path)
  code, _, err = cli("run", cfg, "--set", "output.shards=3")
  assert code == 0, err
  assert [os.path.basename(p) for p in job.shards()] == [
      f"merged-0000{i}-of-00003.csv" for i in range(3)]


def test_rerun_gives_identical_bytes_and_replaces_previous_output(
    job, tmp_path, cli):
  cfg = design_example(job, tmp_path)
  assert cli("run", cfg, "--set", "output.shards=5")[0] == 0
  assert cli("run", cfg)[0] == 0
  first = job.output_bytes()
  assert len(job.shards()) == 2  # the 5-shard output was replaced
  assert cli("run", cfg)[0] == 0
  assert job.output_bytes() == first
  assert not [p for p in os.listdir(os.path.dirname(job.prefix))
              if "tmp" in p]


def test_two_worker_processes_give_identical_bytes(job, tmp_path, cli):
  cfg = design_example(job, tmp_path)
  assert cli("run", cfg)[0] == 0
  single = job.output_bytes()
  code, _, err = cli("run", cfg, "--direct_num_workers=2",
                     "--direct_running_mode=multi_processing")
  assert code == 0, err
  assert job.output_bytes() == single


def _one_line_error(cli, *args):
  code, out, err = cli(*args)
  assert code == 2, (out, err)
  lines = [l for l in err.splitlines() if l.startswith("crmsync: error:")]
  assert len(lines) == 1, err
  assert "Traceback" not in err
  return lines[0]


def test_missing_input_file(job, tmp_path, cli):
  cfg = job.config(str(tmp_path / "nope.csv"), [{"path": "x.csv"}],
                   [EMAIL_KEY])
  assert "nope.csv: no such file" in _one_line_error(cli, "run", cfg)
  assert job.shards() == []


def test_missing_config_file(cli, tmp_path):
  assert "config file not found" in _one_line_error(
      cli, "run", tmp_path / "job.yaml")


def test_unknown_strategy_names_the_key(job, tmp_path, cli):
  cfg = design_example(job, tmp_path)
  msg = _one_line_error(cli, "run", cfg, "--set",
                        "conflicts.default=overwrite")
  assert "job.yaml: conflicts.default" in msg and "fill_empty" in msg


def test_unknown_config_key_is_an_error(job, tmp_path, cli):
  cfg = design_example(job, tmp_path)
  msg = _one_line_error(cli, "validate", cfg, "--set", "output.shard=3")
  assert "output.shard: unknown key" in msg


def test_unknown_column_in_mapping(job, tmp_path, cli):
  cfg = design_example(job, tmp_path)
  msg = _one_line_error(cli, "run", cfg, "--set",
                        "enriched.1.columns={Mobile: Phone}")
  assert "enriched.1.columns: 'Mobile' is not a column of" in msg
  assert "social.csv" in msg


def test_header_missing_a_key_column(job, tmp_path, cli):
  original = write_csv(tmp_path / "crm.csv", [["ID", "Mail"], ["1", "a@b.co"]])
  enriched = write_csv(tmp_path / "e.csv", [["Email", "X"], ["a@b.co", "1"]])
  cfg = job.config(original, [{"path": enriched}], [EMAIL_KEY])
  msg = _one_line_error(cli, "run", cfg)
  assert "match.keys.0 (email): column 'Email' is not in the header" in msg
  assert "crm.csv" in msg


def test_duplicate_header_names(job, tmp_path, cli):
  original = write_csv(tmp_path / "crm.csv",
                       [["ID", "Email", "Email"], ["1", "a@b.co", "x"]])
  cfg = job.config(original, [{"path": original}], [EMAIL_KEY])
  msg = _one_line_error(cli, "run", cfg)
  assert "crm.csv: line 1: duplicate column name 'Email'" in msg


def test_empty_file(job, tmp_path, cli):
  (tmp_path / "crm.csv").write_bytes(b"")
  cfg = job.config(str(tmp_path / "crm.csv"), [{"path": "x"}], [EMAIL_KEY])
  assert "crm.csv: file is empty" in _one_line_error(cli, "run", cfg)
  assert not os.path.exists(os.path.join(str(tmp_path), "out"))


def test_invalid_yaml_names_the_line(tmp_path, cli):
  (tmp_path / "job.yaml").write_text("original:\n  path: [a\n")
  msg = _one_line_error(cli, "run", tmp_path / "job.yaml")
  assert "job.yaml: line" in msg and "invalid YAML" in msg


def test_runtime_failure_exits_1_without_output(job, tmp_path, cli,
                                                 monkeypatch):
  cfg = design_example(job, tmp_path)
  import crmsync.transforms.assemble as assemble

  def boom(*a, **k):
    raise RuntimeError("disk on fire")
  monkeypatch.setattr(assemble, "resolve_column", boom)
  code, _, err = cli("run", cfg)
  assert code == 1
  assert "crmsync: run failed:" in err and "disk on fire" in err
  assert job.shards() == []


def test_rows_lost_inside_the_pipeline_fail_the_books(job, tmp_path, cli,
                                                      monkeypatch):
  cfg = design_example(job, tmp_path)
  import crmsync.transforms.matching as matching
  real = matching.source_table
  monkeypatch.setattr(matching, "source_table",
                      lambda *a: real(*a).slice(1))  # drops a row per batch
  code, _, err = cli("run", cfg)
  assert code == 1
  assert "row accounting does not balance" in err
  assert job.shards() == []


STRATEGY_NAMES = ("keep_original, replace, fill_empty, create_alternate, "
                  "manual_review")
NORMALIZER_NAMES = ("email, email_provider, phone, name, company, zip, url, "
                    "domain, text")
# --set overrides of the design example -> the message after "FILE: ".
BAD_CONFIGS = [
    (["conflicts.default=overwrite_all"],
     f"conflicts.default: 'overwrite_all' is not one of {STRATEGY_NAMES}"),
    (["conflicts.columns={Phone: x}"],
     f"conflicts.columns.Phone: 'x' is not one of {STRATEGY_NAMES}"),
    (["conflicts.columns=x"], "conflicts.columns: 'x' is not a mapping"),
    (["duplicates=null"], "duplicates: null is not one of first, last, "
                          "most_complete, join, spread"),
    (["join=hash"], "join: 'hash' is not one of auto, broadcast, partitioned"),
    (["output.shards=0"], "output.shards: 0 is too small (at least 1)"),
    (["output.shards=20000"],
     "output.shards: 20000 is too big (at most 10000)"),
    (["output.shards=four"], "output.shards: 'four' is not a whole number"),
    (["output.shards=2.5"], "output.shards: 2.5 is not a whole number"),
    (["output.escape_formulas=maybe"],
     "output.escape_formulas: 'maybe' is not true or false"),
    (["limits.max_rejected_fraction=1.5"],
     "limits.max_rejected_fraction: 1.5 is too big (at most 1)"),
    (["limits.max_rejected_fraction=-0.1"],
     "limits.max_rejected_fraction: -0.1 is too small (at least 0)"),
    (["conflicts.alternate_suffix="],
     "conflicts.alternate_suffix: '' is too short (at least 1 character)"),
    (["output.shard=3"], "output.shard: unknown key (did you mean "
                         "output.shards?)"),
    (["output.xyzzy=3"], "output.xyzzy: unknown key (known: path, shards, "
                         "reports, delimiter, escape_formulas, "
                         "match_columns, max_rows_per_file, "
                         "max_bytes_per_file, original_duplicates, "
                         "changes, crm, format)"),
    (["output={shards: 2}"], "output.path: missing (required)"),
    (["original=null"], "original: null is not a mapping"),
    (["enriched=[]"], "enriched: [] is too short (at least 1 item)"),
    (["enriched={path: x.csv}"], "enriched: {path: x.csv} is not a list"),
    (["enriched.0.columns={1: Email}"],
     "enriched.0.columns: the key 1 is not a string"),
    (["enriched.0.keep=Phone"], "enriched.0.keep: 'Phone' is not a list"),
    (["enriched.1.name=verified"], "enriched.1.name: 'verified' is also the "
     "name of enriched.0; give each a distinct `name`"),
    (["match.phone_region=XX"], "match.phone_region: 'XX' is not a region "
                                "(use a two-letter code, e.g. US, GB, DE)"),
    (["match.keys.0=email"], "match.keys.0: 'email' is not a mapping"),
    (["match.keys.0.columns=[]"],
     "match.keys.0.columns: [] is too short (at least 1 item)"),
    (["match.keys.0.normalize=emial"], "match.keys.0.normalize: 'emial' is "
     f"not one of {NORMALIZER_NAMES}, fuzzy"),
    (["match.keys.0.normalize=5"],
     "match.keys.0.normalize: 5 is not a string or a list"),
    (["match.keys.1.normalize=[phone, 5]"],
     "match.keys.1.normalize.1: 5 is not a string"),
    (["match.keys.1.normalize=[phone, phnoe]"],
     f"match.keys.1.normalize.1: 'phnoe' is not one of {NORMALIZER_NAMES}"),
    (["match.keys.1.normalize=[phone, phone]"], "match.keys.1.normalize: "
     "[phone, phone] lists 2 normalizers for 1 column, [Phone]"),
    (["match.keys.0.threshold=0.9"], "match.keys.0.threshold: 0.9 is for a "
     "fuzzy key only (normalize: fuzzy; this key's is 'email')"),
    (["match.keys.0.block=[[Email, 1]]"],
     "match.keys.0.block.0.1: 1 is not a string"),
    (["match.keys.1.name=email"], "match.keys.1.name: 'email' is also the "
     "name of match.keys.0 (each key needs its own)"),
    (["match.keys.0.normalize=fuzzy"], "match.keys.0.normalize: 'fuzzy' is "
     "for the last key of the cascade only (it only looks at rows no exact "
     "key matched)"),
    (["match.keys.1={name: f, normalize: fuzzy, columns: [First, Last], "
      "compare: [name, nmae]}"],
     f"match.keys.1.compare.1: 'nmae' is not one of {NORMALIZER_NAMES}"),
    (["match.keys.1={name: f, normalize: fuzzy, columns: [First, Last], "
      "compare: [name]}"], "match.keys.1.compare: [name] lists 1 normalizer "
     "for 2 columns, [First, Last]"),
    (["match.keys.1={name: f, normalize: fuzzy, columns: [First, Last], "
      "threshold: 0}"], "match.keys.1.threshold: 0 is too small (more than "
     "0)"),
    (["output.shards=0", "join=hash"], "output.shards: 0 is too small (at "
     "least 1); join: 'hash' is not one of auto, broadcast, partitioned"),
]


@pytest.mark.parametrize("overrides, message", BAD_CONFIGS,
                         ids=[" ".join(o) for o, _ in BAD_CONFIGS])
def test_config_errors_name_the_key_path_and_the_value(job, tmp_path, cli,
                                                       overrides, message):
  cfg = design_example(job, tmp_path)
  sets = [a for o in overrides for a in ("--set", o)]
  assert _one_line_error(cli, "validate", cfg, *sets) == \
      f"crmsync: error: {cfg}: {message}"


def _nothing_ran(job):
  return not os.path.exists(os.path.dirname(job.prefix))


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("flags, message", [
    (["--smaple", "10"],
     "unknown option --smaple (did you mean --sample?)"),
    (["--smaple=10"], "unknown option --smaple (did you mean --sample?)"),
    (["--batch-rows", "5"],
     "unknown option --batch-rows (did you mean --batch_rows?)"),
    (["--s3_endpont_url=http://x"],
     "unknown option --s3_endpont_url (did you mean --s3_endpoint_url?)"),
    (["--zzz"], "unknown option --zzz"),
])
def test_an_unknown_flag_is_one_line_and_runs_nothing(job, tmp_path, cli,
                                                     command, flags, message):
  cfg = design_example(job, tmp_path)
  assert _one_line_error(cli, command, cfg, *flags) == (
      f"crmsync: error: {message}: neither an option of crmsync {command} "
      f"nor a Beam pipeline option")
  assert _nothing_ran(job)


def test_a_stray_argument_or_a_bad_beam_value_is_one_line(job, tmp_path,
                                                          cli):
  cfg = design_example(job, tmp_path)
  assert _one_line_error(cli, "run", cfg, "other.yaml") == (
      "crmsync: error: unexpected argument 'other.yaml' (crmsync run takes "
      "one config file)")
  assert _one_line_error(cli, "run", cfg, "--direct_num_workers", "two") == (
      "crmsync: error: argument --direct_num_workers: invalid int value: "
      "'two'")
  assert _nothing_ran(job)


# Options of Beam's own classes and of runners and file systems, in both
# forms, and crmsync's --batch_rows.
BEAM_FLAGS = ["--batch_rows", "100", "--flink_master=localhost:8081",
              "--spark_master_url", "spark://localhost:7077",
              "--job_endpoint=localhost:8099", "--environment_type",
              "LOOPBACK", "--s3_endpoint_url=http://127.0.0.1:1",
              "--s3_region_name", "us-east-1", "--parallelism", "2",
              "--flink_version=1.19", "--spark_version", "3",
              "--experiments=a", "--experiments", "b", "--save_main_session",
              "--job_server_timeout", "60", "--artifacts_dir=/tmp/x"]


def test_beam_options_pass_through_validate(job, tmp_path, cli):
  code, out, err = cli("validate", design_example(job, tmp_path),
                       *BEAM_FLAGS)
  assert code == 0, err
  assert "config OK" in out


def test_beam_options_pass_through_a_run(job, tmp_path, cli):
  cfg = design_example(job, tmp_path)
  code, _, err = cli("run", cfg, "--batch_rows", "1", "--direct_num_workers",
                     "1", "--direct_running_mode=in_memory",
                     "--no_pipeline_type_check", "--runner", "DirectRunner")
  assert code == 0, err
  assert len(job.dicts()) == 2


@pytest.mark.parametrize("args, code", [
    (["--help"], 0), (["bogus"], 2), ([], 2),
    (["run", "no-such-job.yaml"], 2)])
def test_the_command_exits_with_mains_code_and_flushed_output(args, code):
  """console_main skips the interpreter's teardown: the exit code is
  still main's or argparse's, and the output is all there."""
  done = subprocess.run([sys.executable, "-m", "crmsync.pipelines.cli",
                         *args], capture_output=True, text=True, timeout=120)
  assert done.returncode == code, done.stderr
  if code == 0:
    assert done.stdout.startswith("usage: crmsync")
  else:
    assert "crmsync" in done.stderr and "Traceback" not in done.stderr
