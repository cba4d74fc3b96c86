"""The job as a Beam pipeline file (crmsync/pipelines/beam_main.py), started
the way Airflow's BeamRunPythonPipelineOperator starts one: the interpreter,
the file's path and `--key=value` options, in a subprocess."""

import json
import os
import subprocess
import sys

import pytest

from conftest import files_in
from crmsync.pipelines import beam_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "configs", "demo.yaml")


def beam_options_to_args(options):
  """A copy of `beam_options_to_args` in apache-airflow-providers-apache-
  beam 6.2 (airflow/providers/apache/beam/hooks/beam.py), without its
  Dataflow-only flags that turn False into `--no_...`."""
  if not options:
    return []
  args = []
  for attr, value in options.items():
    if isinstance(value, bool):
      if value:
        args.append(f"--{attr}")
    elif isinstance(value, list):
      args.extend([f"--{attr}={v}" for v in value])
    elif isinstance(value, dict):
      args.append(f"--{attr}={json.dumps(value)}")
    elif value is None:
      continue
    else:
      args.append(f"--{attr}={value}")
  return args


def operator_command(py_file, pipeline_options, runner="DirectRunner",
                     py_interpreter=sys.executable, py_options=()):
  """The command the operator's hook runs (a list of strings): the operator
  adds its `labels`, the hook turns them into `key=value` strings and puts
  `--runner` first (BeamRunPythonPipelineOperator.execute,
  BeamHook.start_python_pipeline and _start_pipeline). The keys here are
  snake case already, as the operator makes them."""
  options = dict(pipeline_options)
  options.setdefault("labels", {}).update({"airflow-version": "v2-10-5"})
  options["labels"] = [f"{k}={v}" for k, v in options["labels"].items()]
  return [py_interpreter, *py_options, py_file, f"--runner={runner}",
          *beam_options_to_args(options)]


def run_like_airflow(pipeline_options):
  """(exit code, stdout, stderr) of the job started as the hook starts it,
  from the repository (the demo config's paths are relative to it)."""
  proc = subprocess.run(operator_command(beam_main.__file__,
                                         pipeline_options),
                        cwd=ROOT, capture_output=True, text=True,
                        timeout=600, check=False)
  return proc.returncode, proc.stdout, proc.stderr


def test_started_as_airflow_does_it_writes_the_bytes_of_crmsync_run(
    job, cli, tmp_path, monkeypatch):
  airflow = tmp_path / "airflow"
  code, _, err = run_like_airflow({
      "config": DEMO,
      "set": [f"output.path={airflow}/{{run_date}}/merged",
              f"output.reports={airflow}/reports"],
      "run_id": "scheduled__2024-06-01T02_30_00+00_00",
      "run_date": "2024-06-01",
      "quiet": True,
      "verbose": False,  # skipped by the conversion
      "log_format": "json",
  })
  assert code == 0, err
  assert err == ""  # --quiet: errors only
  monkeypatch.chdir(ROOT)
  code, _, err = cli("run", DEMO, "--set", f"output.path={job.prefix}",
                     "--set", f"output.reports={job.reports}")
  assert code == 0, err
  shards = files_in(airflow / "2024-06-01")
  assert sorted(shards) == [f"merged-0000{i}-of-00004.csv"
                            for i in range(4)] + ["merged_manifest.json"]
  assert shards == files_in(os.path.dirname(job.prefix))
  assert files_in(airflow / "reports") == files_in(job.reports)


def test_a_missing_config_is_exit_2_and_one_line(tmp_path):
  missing = tmp_path / "missing.yaml"
  code, out, err = run_like_airflow({"config": str(missing)})
  assert code == 2
  assert err.splitlines() == [f"crmsync: error: {missing}: config file "
                              f"not found"]
  assert out == ""


def test_options_become_the_arguments_of_crmsync_run():
  argv = operator_command("beam_main.py", {
      "config": "job.yaml", "set": ["output.shards=8", "a.b=x=y"],
      "run_id": "r1", "sample": 100, "quiet": True, "verbose": False,
      "flink_master": "host:8081"})[2:]
  assert beam_main.crmsync_args(argv) == ([
      "run", "job.yaml", "--set=output.shards=8", "--set=a.b=x=y",
      "--run-id=r1", "--sample=100", "--quiet", "--log-format=text",
      "--runner=DirectRunner", "--flink_master=host:8081",
      "--labels=airflow-version=v2-10-5"], None)
  # Beam's --setup_file is never taken for an abbreviated --set.
  assert beam_main.crmsync_args(["--config=j.yaml", "--setup_file=s.py"])[
      0][-1] == "--setup_file=s.py"


@pytest.mark.parametrize("argv, message", [
    (["--runner=DirectRunner"], "--config=PATH (the job config, YAML) is "
                                "required"),
    (["--confg=j.yaml"], "(is --confg a misspelling of --config?)"),
    (["--config=j.yaml", "--sample=ten"], "argument --sample: invalid int "
                                          "value: 'ten'"),
    (["--config=j.yaml", "--run_date=2024-13-01"], "is not a date"),
])
def test_own_option_errors_are_exit_2_and_one_line(capsys, argv, message):
  assert beam_main.main(argv) == 2
  out, err = capsys.readouterr()
  assert out == "" and len(err.splitlines()) == 1
  assert err.startswith("crmsync: error: ") and message in err
