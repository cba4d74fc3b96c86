"""Faults: a killed run, a full disk and an unwritable output leave the
final output prefix as it was, say so clearly, and the next run cleans up
and gives the same bytes as a clean run."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "configs", "demo.yaml")


def crmsync(out, *extra, wait=True):
  command = [sys.executable, "-m", "crmsync.pipelines.cli", "run", DEMO,
             f"--set=output.path={out}/merged",
             f"--set=output.reports={out}/reports", *extra]
  if not wait:
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
  return subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                        timeout=300)


def files(out):
  from conftest import stable_manifest
  found = {}
  for path in sorted(glob.glob(f"{out}/**", recursive=True)):
    if os.path.isfile(path):
      with open(path, "rb") as f:
        found[os.path.relpath(path, out)] = stable_manifest(path, f.read())
  return found


def test_sigkill_mid_run_publishes_nothing_and_a_rerun_is_identical(
    tmp_path):
  out = str(tmp_path / "out")
  done = crmsync(out, "--batch_rows=100")
  assert done.returncode == 0, done.stderr
  clean = files(out)
  assert len(clean) == 12  # 4 shards, 7 reports, the manifest
  for path in clean:
    os.remove(os.path.join(out, path))

  run = crmsync(out, "--batch_rows=100", wait=False)
  deadline = time.monotonic() + 120
  # Killed once it has started writing: its temporary folder exists.
  while not glob.glob(f"{out}/merged.crmsync-tmp-*/*"):
    assert run.poll() is None, "the run ended before it could be killed"
    assert time.monotonic() < deadline
    time.sleep(0.05)
  run.send_signal(signal.SIGKILL)
  run.wait()
  assert glob.glob(f"{out}/merged-*") == []
  assert not os.path.exists(f"{out}/reports/stats.json")
  assert glob.glob(f"{out}/merged.crmsync-tmp-*")  # debris, for now

  done = crmsync(out, "--batch_rows=100")
  assert done.returncode == 0, done.stderr
  assert files(out) == clean  # same bytes, and no temporary folder left


def test_unwritable_output_is_one_line_and_exit_2(tmp_path):
  blocker = tmp_path / "a-file"
  blocker.write_text("in the way")
  done = crmsync(str(blocker))
  assert done.returncode == 2
  assert done.stderr.strip() == (
      f"crmsync: error: output.path: cannot write to {blocker} "
      f"(a file, not a folder)")


@pytest.fixture
def small_disk(tmp_path):
  """A 300 KB tmpfs: a real full disk (ENOSPC). Needs the right to mount,
  which root has; else a file size limit makes writes fail the same way."""
  mount = tmp_path / "disk"
  mount.mkdir()
  mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k",
                            "tmpfs", str(mount)],
                           capture_output=True).returncode == 0
  yield str(mount), mounted
  if mounted:
    subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_fails_with_one_line_and_leaves_nothing(small_disk):
  mount, mounted = small_disk
  out = os.path.join(mount, "out")
  os.makedirs(out)
  with open(os.path.join(out, "merged-00000-of-00004.csv"), "w") as f:
    f.write("previous output\n")
  limit = None
  if not mounted:
    import resource
    limit = lambda: (signal.signal(signal.SIGXFSZ, signal.SIG_IGN),  # noqa
                     resource.setrlimit(resource.RLIMIT_FSIZE,
                                        (200_000, 200_000)))
  done = subprocess.run(
      [sys.executable, "-m", "crmsync.pipelines.cli", "run", DEMO,
       f"--set=output.path={out}/merged", f"--set=output.reports={out}/rep"],
      cwd=ROOT, capture_output=True, text=True, timeout=300,
      preexec_fn=limit)
  assert done.returncode == 1, done.stderr
  lines = [l for l in done.stderr.splitlines() if l.startswith("crmsync:")]
  assert len(lines) == 1 and "Traceback" not in done.stderr
  assert ("No space left on device" in lines[0]
          or "File too large" in lines[0]), lines[0]
  # The previous output is untouched; the failed run's temp folder is gone.
  assert sorted(os.listdir(out)) == ["merged-00000-of-00004.csv"]
  with open(os.path.join(out, "merged-00000-of-00004.csv")) as f:
    assert f.read() == "previous output\n"


# A run that rejects most of an input publishes nothing (exit 2).

def _inputs(tmp_path, crm_rows, vendor_rows=(("u1@x.com", "T1"),)):
  """crm.csv (ID, Email, Name) and vendor.csv (Email, Title); rows are
  written as given, so a row may have the wrong number of fields."""
  (tmp_path / "crm.csv").write_text("ID,Email,Name\n" + "".join(
      ",".join(r) + "\n" for r in crm_rows))
  (tmp_path / "vendor.csv").write_text("Email,Title\n" + "".join(
      ",".join(r) + "\n" for r in vendor_rows))
  return str(tmp_path / "crm.csv"), str(tmp_path / "vendor.csv")


GOOD = [("1", "u1@x.com", "Ann"), ("2", "u2@x.com", "Bob"),
        ("3", "u3@x.com", "Cy"), ("4", "u4@x.com", "Di")]
# Three of four rows malformed, the most common way twice (a field too
# many, not a trailing delimiter, which a reader may well accept).
BAD = [("1", "u1@x.com"), ("2", "u2@x.com", "Bob", "x"),
       ("3", "u3@x.com", "Cy", "y"), ("4", "u4@x.com", "Di")]


def _rejected_job(job, tmp_path, join, crm_rows, vendor_rows=None):
  crm, vendor = _inputs(tmp_path, crm_rows, *(
      [vendor_rows] if vendor_rows else []))
  return job.config(crm, [{"path": vendor, "name": "vendor"}],
                    [{"name": "email", "normalize": "email",
                      "columns": ["Email"]}], join=join)


def _no_temp_folders(job):
  return not [p for p in os.listdir(os.path.dirname(job.prefix))
              if "crmsync-tmp" in p]


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_mostly_rejected_original_exits_2_and_keeps_the_previous_output(
    job, tmp_path, cli, join):
  cfg = _rejected_job(job, tmp_path, join, GOOD)
  assert cli("run", cfg)[0] == 0
  previous = job.output_bytes()
  assert len(previous) == 9  # 2 shards, 7 reports
  _inputs(tmp_path, BAD)
  code, out, err = cli("run", cfg, "--quiet")
  assert code == 2 and out == ""
  assert err == (
      f"crmsync: error: {tmp_path}/crm.csv: 3 of 4 rows rejected (original),"
      f" more than limits.max_rejected_fraction (0.01) allows; most common "
      f"reason: expected 3 fields, found 4 (2 rows, first at line 3); "
      f"nothing was written: fix the file, or raise "
      f"limits.max_rejected_fraction\n")
  assert job.output_bytes() == previous
  assert _no_temp_folders(job)


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_every_row_rejected_is_one_line_in_text_and_json(job, tmp_path, cli,
                                                         join):
  cfg = _rejected_job(job, tmp_path, join, [r[:2] for r in GOOD])
  code, _, err = cli("run", cfg)
  assert code == 2
  [line] = [l for l in err.splitlines() if l.startswith("crmsync:")]
  assert line.startswith(f"crmsync: error: {tmp_path}/crm.csv: 4 of 4 rows "
                         f"rejected (original)")
  assert "Traceback" not in err
  code, _, err = cli("run", cfg, "--log-format=json")
  assert code == 2
  error = json.loads(err.strip().splitlines()[-1])
  assert error == {"event": "error", "message": line, "exit_code": 2}
  assert job.shards() == [] and _no_temp_folders(job)


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_a_fraction_of_1_publishes_anyway(job, tmp_path, cli, join):
  cfg = _rejected_job(job, tmp_path, join, BAD)
  code, _, err = cli("run", cfg, "--set", "limits.max_rejected_fraction=1")
  assert code == 0, err
  assert [r[0] for r in job.output()[1]] == ["4"]
  assert len(job.report("rejected.csv")) == 3


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_a_fraction_exactly_at_the_limit_passes(job, tmp_path, cli, join):
  cfg = _rejected_job(job, tmp_path, join, GOOD[:3] + [("4", "u4@x.com")])
  code, _, err = cli("run", cfg, "--set=limits.max_rejected_fraction=0.25")
  assert code == 0, err
  assert job.report("stats.json")["original"]["rows_rejected"] == 1
  code, _, err = cli("run", cfg, "--set=limits.max_rejected_fraction=0.24")
  assert code == 2 and "1 of 4 rows rejected (original)" in err


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_an_enriched_file_over_the_limit_stops_the_run(job, tmp_path, cli,
                                                      join):
  cfg = _rejected_job(job, tmp_path, join, GOOD)
  assert cli("run", cfg)[0] == 0
  previous = job.output_bytes()
  _inputs(tmp_path, GOOD, [("u1@x.com", "T1"), ("u2@x.com",),
                           ("u3@x.com", "T3", "x", "y")])
  code, _, err = cli("run", cfg, "--quiet")
  assert code == 2
  assert err == (
      f"crmsync: error: {tmp_path}/vendor.csv: 2 of 3 rows rejected "
      f"(enriched vendor), more than limits.max_rejected_fraction (0.01) "
      f"allows; most common reason: expected 2 fields, found 1 (1 row, "
      f"first at line 3); nothing was written: fix the file, or raise "
      f"limits.max_rejected_fraction\n")
  assert job.output_bytes() == previous
  assert _no_temp_folders(job)


def test_finalize_stops_a_library_pipeline_too(job, tmp_path):
  """The limit is Finalize's: a pipeline built without the CLI gets it."""
  from conftest import python_runner_pipeline
  from crmsync.pipelines.config import load_config
  from crmsync.pipelines.job import build_pipeline, plan_job
  from crmsync.transforms.errors import TooManyRejectedError
  plan = plan_job(load_config(_rejected_job(job, tmp_path, "broadcast",
                                            BAD)))
  p = python_runner_pipeline()
  build_pipeline(p, plan)
  with pytest.raises(TooManyRejectedError, match="3 of 4 rows rejected"):
    p.run().wait_until_finish()
  assert job.shards() == [] and _no_temp_folders(job)


def test_the_error_is_known_by_its_text_from_a_cluster():
  """Flink and Spark hand back a worker's traceback as text only."""
  from crmsync.pipelines.cli import _too_many_rejected
  text = ("Pipeline job failed: Error received from SDK harness\n"
          "Traceback (most recent call last):\n  File \"reports.py\"\n"
          "crmsync.transforms.errors.TooManyRejectedError: crm.csv: 3 of 3 rows "
          "rejected (original) [while running 'Finalize']\n")
  assert _too_many_rejected(RuntimeError(text)) == (
      "crm.csv: 3 of 3 rows rejected (original)")
  assert _too_many_rejected(RuntimeError("OSError: disk on fire")) == ""
