"""Faults: a killed run, a full disk and an unwritable output leave the
final output prefix as it was, say so clearly, and the next run cleans up
and gives the same bytes as a clean run."""

import glob
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "configs", "demo.yaml")


def crmsync(out, *extra, wait=True):
  command = [sys.executable, "-m", "pipelines.cli", "run", DEMO,
             f"--set=output.path={out}/merged",
             f"--set=output.reports={out}/reports", *extra]
  if not wait:
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
  return subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                        timeout=300)


def files(out):
  found = {}
  for path in sorted(glob.glob(f"{out}/**", recursive=True)):
    if os.path.isfile(path):
      with open(path, "rb") as f:
        found[os.path.relpath(path, out)] = f.read()
  return found


def test_sigkill_mid_run_publishes_nothing_and_a_rerun_is_identical(
    tmp_path):
  out = str(tmp_path / "out")
  done = crmsync(out, "--batch_rows=100")
  assert done.returncode == 0, done.stderr
  clean = files(out)
  assert len(clean) == 9  # 4 shards, 5 reports
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
      [sys.executable, "-m", "pipelines.cli", "run", DEMO,
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
