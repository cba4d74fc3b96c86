"""transforms/publish.py: the output is published by a plan, the moves and
a manifest; a run killed at any point of the publish leaves a state the
next run rolls forward, and the rerun's bytes are a clean run's."""

import glob
import hashlib
import json
import os
import subprocess
import sys

import pytest

from crmsync.transforms.faults import FAULT_ENV
from crmsync.transforms.publish import manifest_path, publishing_path, recover

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "configs", "demo.yaml")


def crmsync(out, *extra, fault=None, quiet=True):
  env = dict(os.environ)
  env.pop(FAULT_ENV, None)
  if fault:
    env[FAULT_ENV] = fault
  return subprocess.run(
      [sys.executable, "-m", "crmsync.pipelines.cli", "run", DEMO,
       f"--set=output.path={out}/merged",
       f"--set=output.reports={out}/reports", *extra,
       *(["--quiet"] if quiet else [])],
      cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)


def outputs(out):
  """The published files (shards and reports) and their bytes."""
  found = {}
  for path in sorted(glob.glob(f"{out}/merged-*") +
                     glob.glob(f"{out}/reports/*")):
    with open(path, "rb") as f:
      found[os.path.relpath(path, out)] = f.read()
  return found


def complete_by_manifest(out):
  """The files the manifest lists, each of its size and SHA-256, and no
  other shard; None while a publish is in flight."""
  if os.path.exists(publishing_path(f"{out}/merged")):
    return None
  manifest = json.load(open(manifest_path(f"{out}/merged")))
  for entry in manifest["files"]:
    data = open(entry["path"], "rb").read()
    assert len(data) == entry["size"], entry["path"]
    assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
  listed = {os.path.relpath(e["path"], out) for e in manifest["files"]}
  assert {p for p in outputs(out) if p.startswith("merged-")} <= listed
  return listed


def test_the_manifest_lists_every_published_file(tmp_path):
  out = str(tmp_path / "out")
  done = crmsync(out)
  assert done.returncode == 0, done.stderr
  listed = complete_by_manifest(out)
  assert listed == set(outputs(out))
  manifest = json.load(open(manifest_path(f"{out}/merged")))
  assert manifest["stats"]["accounting"]["balanced"]
  assert len(manifest["run_id"]) == 12
  assert not glob.glob(f"{out}/merged.crmsync-tmp-*")


@pytest.fixture(scope="module")
def old_and_new(tmp_path_factory):
  """A clean run's output (4 shards) and a clean run's with 2 shards: the
  old and the new output of the fault tests."""
  root = tmp_path_factory.mktemp("reference")
  old, new = str(root / "old"), str(root / "new")
  assert crmsync(old).returncode == 0
  assert crmsync(new, "--set=output.shards=2").returncode == 0
  return outputs(old), outputs(new)


@pytest.mark.parametrize("point", ["publish:planned", "publish:moved-one",
                                   "publish:moved", "publish:manifest"])
def test_a_run_killed_during_the_publish_is_rolled_forward(
    tmp_path, old_and_new, point):
  old, new = old_and_new
  out = str(tmp_path / "out")
  assert crmsync(out).returncode == 0
  assert outputs(out) == old
  killed = crmsync(out, "--set=output.shards=2", fault=point)
  assert killed.returncode == 137
  # In flight: a reader waits; the old manifest is still the old output
  # until the first move.
  assert complete_by_manifest(out) is None
  if point == "publish:planned":
    assert outputs(out) == old
  # The next run (here: recover, as `crmsync run` does first) finishes it.
  run_id = recover(f"{out}/merged")
  assert run_id and complete_by_manifest(out) is not None
  assert outputs(out) == new


def test_a_run_killed_during_the_publish_is_finished_by_the_next_run(
    tmp_path, old_and_new):
  old, new = old_and_new
  out = str(tmp_path / "out")
  assert crmsync(out).returncode == 0
  assert crmsync(out, "--set=output.shards=2",
                 fault="publish:moved-one").returncode == 137
  # The next run is the old job again: it first completes the killed
  # publish, then publishes its own output.
  again = crmsync(out, quiet=False)
  assert again.returncode == 0, again.stderr
  assert "rolled forward the publish of run" in again.stderr
  assert outputs(out) == old
  assert complete_by_manifest(out) == set(old)
  assert not glob.glob(f"{out}/merged.crmsync-tmp-*")


def test_a_retried_final_bundle_after_the_publish_changes_nothing(tmp_path):
  """Finalize run again once its publish is done (a runner's retry): the
  output and the manifest stay as they are."""
  from crmsync.transforms.reports import Finalize
  out = str(tmp_path / "out")
  assert crmsync(out).returncode == 0
  before = outputs(out)
  manifest = json.load(open(manifest_path(f"{out}/merged")))
  again = Finalize(prefix=f"{out}/merged", shards=4,
                   reports_dir=f"{out}/reports",
                   tmp=f"{out}/merged.crmsync-tmp-{manifest['run_id']}",
                   original_name="original", original_files=[],
                   source_order=[], run_id=manifest["run_id"],
                   publish_id=manifest["publish_id"])
  [stats] = list(again.process(None, {}, [], [], []))
  assert stats == manifest["stats"]
  assert outputs(out) == before
  assert json.load(open(manifest_path(f"{out}/merged"))) == manifest


def test_a_rerun_with_the_same_run_id_publishes_its_own_output(
    tmp_path, old_and_new):
  """A scheduler that reruns with a fixed --run-id (a date) gets the new
  output, not the published one taken for its own."""
  old, new = old_and_new
  out = str(tmp_path / "out")
  assert crmsync(out, "--run-id=nightly").returncode == 0
  assert outputs(out) == old
  again = crmsync(out, "--run-id=nightly", "--set=output.shards=2")
  assert again.returncode == 0, again.stderr
  assert outputs(out) == new


def test_a_run_whose_lease_another_run_took_publishes_nothing(tmp_path):
  """A cluster job that ran on after its launcher was killed, and whose
  lease expired and went to another run: its final step finds the other
  run in the lease and publishes nothing."""
  from crmsync.transforms.publish import PublishError, lease_path, publish
  prefix = str(tmp_path / "merged")
  tmp = tmp_path / "merged.crmsync-tmp-mine"
  tmp.mkdir()
  (tmp / "shard.csv").write_text("ID\n1\n")
  with open(lease_path(prefix), "w") as f:
    json.dump({"run_id": "theirs"}, f)
  final = f"{prefix}-00000-of-00001.csv"
  with pytest.raises(PublishError, match="run theirs holds the output"):
    publish(prefix, [(str(tmp / "shard.csv"), final)], "mine", str(tmp),
            {}, f"{prefix}-*-of-*.csv")
  assert not os.path.exists(final)
  assert not os.path.exists(publishing_path(prefix))
  # Its own lease, or none (a Beam test of the transforms): it publishes.
  with open(lease_path(prefix), "w") as f:
    json.dump({"run_id": "mine"}, f)
  publish(prefix, [(str(tmp / "shard.csv"), final)], "mine", str(tmp), {},
          f"{prefix}-*-of-*.csv")
  assert open(final).read() == "ID\n1\n"
