"""Kills real runs at evenly spaced moments and checks the published output.

    python benchmarks/kill_runs.py [SIZE] [--kills 50]

SIZE: 1m by default (benchmarks/generate.py makes the data if missing). Two
jobs write to one prefix: A (4 shards) and B (3 shards), so their outputs
differ in every file. Each is run once cleanly into a folder of its own,
for reference, and timed. Then, kills times: the job whose output is not
the published one starts, and is killed with SIGKILL at the next of `kills`
evenly spaced moments of a clean run's wall time. After each kill:

- right after it: is the published output one complete output, A's or B's,
  by its manifest (every file it lists there, of its size and SHA-256, and
  the bytes a clean run wrote), or is a publish in flight
  (`<prefix>_publishing.json`: readers wait)?
- after recovery (what the next run does first: transforms/publish.py
  recover): is it one complete output, A's or B's?

It prints how many kills it made, how many left the output intact right
away, how many left a publish in flight, and how many were intact after
recovery (must be all).
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from generate import SIZES, generate  # noqa: E402


def _run(job, out, shards, timeout=None):
  command = [os.path.join(os.path.dirname(sys.executable), "crmsync"), "run",
             job, f"--set=output.path={out}/merged",
             f"--set=output.reports={out}/reports",
             f"--set=output.shards={shards}", "--quiet"]
  return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)


def _digests(out):
  """Published file (relative path) -> SHA-256, from the files."""
  found = {}
  for folder in (out, os.path.join(out, "reports")):
    for name in sorted(os.listdir(folder)):
      path = os.path.join(folder, name)
      if os.path.isfile(path) and (name.startswith("merged-") or
                                   folder.endswith("reports")):
        with open(path, "rb") as f:
          found[os.path.relpath(path, out)] = hashlib.sha256(
              f.read()).hexdigest()
  return found


def _state(out, references):
  """"A" or "B": one complete output by its manifest; "in flight": a
  publish is; "broken": anything else."""
  if os.path.exists(f"{out}/merged_publishing.json"):
    return "in flight"
  try:
    manifest = json.load(open(f"{out}/merged_manifest.json"))
  except (OSError, ValueError):
    return "broken"
  listed = {}
  for entry in manifest["files"]:
    try:
      with open(entry["path"], "rb") as f:
        data = f.read()
    except OSError:
      return "broken"
    if len(data) != entry["size"] or (
        hashlib.sha256(data).hexdigest() != entry["sha256"]):
      return "broken"
    listed[os.path.relpath(entry["path"], out)] = entry["sha256"]
  shards = {p for p in _digests(out) if p.startswith("merged-")}
  for name, reference in references.items():
    if listed == reference and shards == {p for p in reference
                                          if p.startswith("merged-")}:
      return name
  return "broken"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("size", nargs="?", default="1m")
  parser.add_argument("--kills", type=int, default=50)
  args = parser.parse_args(argv)
  rows = SIZES.get(args.size) or int(args.size)
  data = os.path.join(HERE, "data", args.size)
  job = os.path.join(data, "job.yaml")
  if not os.path.exists(job):
    generate(rows, data)
  from crmsync.transforms.publish import recover
  work = os.path.join(data, "kills")
  shutil.rmtree(work, ignore_errors=True)
  shards = {"A": 4, "B": 3}
  references, walls = {}, []
  for name, n in shards.items():
    start = time.monotonic()
    assert _run(job, f"{work}/{name}", n).wait() == 0, name
    walls.append(time.monotonic() - start)
    references[name] = _digests(f"{work}/{name}")
  wall = max(walls)
  out = f"{work}/out"
  assert _run(job, out, shards["A"]).wait() == 0
  published = "A"
  counts = {"intact": 0, "in flight": 0, "recovered": 0}
  for i in range(args.kills):
    other = "B" if published == "A" else "A"
    moment = wall * (i + 0.5) / args.kills
    run = _run(job, out, shards[other])
    time.sleep(moment)
    if run.poll() is None:
      run.send_signal(signal.SIGKILL)
    run.wait()
    now = _state(out, references)
    counts["intact"] += now in references
    counts["in flight"] += now == "in flight"
    recover(f"{out}/merged")
    after = _state(out, references)
    counts["recovered"] += after in references
    print(f"kill {i + 1:2d} at {moment:5.1f} s: {now}, after recovery "
          f"{after}", flush=True)
    if after in references:
      published = after
  print(f"\n{args.kills} kills of a {rows:,}-row run ({wall:.1f} s clean): "
        f"{counts['intact']} left one complete output by its manifest, "
        f"{counts['in flight']} a publish in flight; after recovery "
        f"{counts['recovered']} of {args.kills} intact")
  return 0 if counts["recovered"] == args.kills else 1


if __name__ == "__main__":
  sys.exit(main())
