"""What schedulers rely on: templated paths, exit codes, --quiet, JSON
logs, progress lines and --sample."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "configs", "demo.yaml")


def crmsync(*args):
  """In a subprocess: its logging is set up afresh, as a scheduler's is."""
  done = subprocess.run([sys.executable, "-m", "crmsync.pipelines.cli", *args],
                        cwd=ROOT, capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, CRMSYNC_PROGRESS_SECONDS="0"))
  return done.returncode, done.stdout, done.stderr


def test_templated_paths_take_the_run_date_and_id(cli, tmp_path,
                                                  monkeypatch):
  monkeypatch.setenv("CRMSYNC_RUN_DATE", "2026-01-02")
  monkeypatch.setenv("OUT", str(tmp_path))
  code, _, err = cli("run", DEMO, "--run-id=nightly",
                     "--set=output.path=${OUT}/{run_date}/merged-{run_id}",
                     "--set=output.reports=${OUT}/{run_date}/reports")
  assert code == 0, err
  folder = tmp_path / "2026-01-02"
  assert sorted(os.listdir(folder)) == [
      f"merged-nightly-0000{i}-of-00004.csv" for i in range(4)] + [
          "merged-nightly_manifest.json", "reports"]


def test_unknown_template_is_a_config_error(cli, tmp_path):
  code, _, err = cli("run", DEMO, f"--set=output.path={tmp_path}/{{day}}/m")
  assert code == 2
  assert err.strip() == (
      f"crmsync: error: {DEMO}: output.path: unknown template 'day' in "
      f"'{tmp_path}/{{day}}/m' (known: {{run_date}}, {{run_id}})")


def test_quiet_prints_nothing_on_success_and_the_error_on_failure(tmp_path):
  code, out, err = crmsync("run", DEMO, "--quiet",
                           f"--set=output.path={tmp_path}/m")
  assert code == 0 and out == "" and err == "", err
  code, _, err = crmsync("run", DEMO, "--quiet",
                         "--set=original.path=nope.csv")
  assert code == 2
  assert err.strip().startswith("crmsync: error: ") and "nope.csv" in err


def test_json_logs_are_one_object_per_line(tmp_path):
  code, _, err = crmsync("run", DEMO, "--log-format=json",
                         "--batch_rows=2000", f"--set=output.path={tmp_path}/m")
  assert code == 0, err
  events = [json.loads(line) for line in err.strip().splitlines()]
  progress = [e for e in events if e.get("logger") == "crmsync.progress"]
  assert progress and all(e["level"] == "INFO" for e in progress)
  assert any(e["message"].startswith("read original: ") and
             "rows so far" in e["message"] for e in progress)
  summary = events[-1]
  assert summary["event"] == "summary"
  assert summary["stats"]["original"]["rows_written"] == 10_000
  code, _, err = crmsync("run", DEMO, "--log-format=json",
                         "--set=output.shards=0")
  assert code == 2
  error = json.loads(err.strip().splitlines()[-1])
  assert error["event"] == "error" and error["exit_code"] == 2
  assert "output.shards" in error["message"]


def test_progress_lines_in_text(tmp_path):
  code, _, err = crmsync("run", DEMO, "--batch_rows=2000",
                         f"--set=output.path={tmp_path}/m")
  assert code == 0
  lines = [l for l in err.splitlines() if "crmsync.progress" in l]
  assert any("merged: 10,000 rows so far" in l for l in lines), lines


def test_sample_runs_the_job_on_the_first_n_rows(cli, job, tmp_path):
  code, _, err = cli("run", DEMO, "--sample=300",
                     f"--set=output.path={job.prefix}",
                     f"--set=output.reports={job.reports}")
  assert code == 0, err
  header, rows = job.output()
  stats = job.report("stats.json")
  assert stats["original"]["rows_read"] == 300 == len(rows)
  with open(os.path.join(ROOT, "data", "demo", "crm_export.csv")) as f:
    ids = [line.split(",", 1)[0] for line in f.read().splitlines()[1:301]]
  assert [r[0] for r in rows] == ids
  assert not [p for p in os.listdir(os.path.dirname(job.prefix))
              if "crmsync-tmp" in p]  # the sample file went with the run
