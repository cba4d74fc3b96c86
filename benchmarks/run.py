"""crmsync side by side with its peers, on the same files, in one run.

    pip install -c constraints.txt -e ".[bench]"    # once, from the repository
    python benchmarks/run.py SIZE [--skip naive] [--join auto|broadcast|partitioned]
                                  [--runner flink|spark ...]

SIZE: 220k, 1m, 5m or a row count (benchmarks/generate.py makes the data if
it is missing). Runs, one after the other (never two at once on 2 cores):

  crmsync          the job on Beam's in-process Python runner
  crmsync-2proc    the same with 2 worker processes
  duckdb           the same merge as a DuckDB SQL script (duckdb_merge.py)
  naive-beam       ReadFromCsv, one element per row, CoGroupByKey per key
  crmsync-flink    with --runner flink: the job on the dev Flink cluster
                   (`crmsync dev flink`, started here first, with its
                   job server), PROCESS workers; run twice, the cluster's
                   first job (crmsync-flink-1st) paying its JVMs' warm-up
  crmsync-spark    with --runner spark: the same on the dev Spark cluster

and prints wall time (start-up included), rows/s, peak RSS of the whole
process tree (a cluster's JVMs and workers included), and the ratios to
DuckDB. It checks that DuckDB's output equals crmsync's row for row, and
that 1 and 2 workers, and each cluster, give identical bytes.
"""

import argparse
import csv
import glob
import hashlib
import itertools
import os
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from compiled import compile_crmsync  # noqa: E402
from generate import SIZES, generate  # noqa: E402


def _children(pid):
  kids = []
  for entry in os.listdir("/proc"):
    if entry.isdigit():
      try:
        with open(f"/proc/{entry}/stat") as f:
          if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(entry))
      except (OSError, IndexError, ValueError):
        pass
  return kids


def _rss_kb(pid):
  try:
    with open(f"/proc/{pid}/status") as f:
      for line in f:
        if line.startswith("VmRSS:"):
          return int(line.split()[1])
  except OSError:
    pass
  return 0


def measure(cmd, also=()):
  """(wall seconds, peak RSS in MB of the process tree, exit code); `also`:
  pids of other processes (a cluster's daemons) counted with their trees."""
  start = time.monotonic()
  proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, cwd=ROOT)
  peak = [0]
  stop = threading.Event()

  def sample():
    while not stop.is_set():
      tree, frontier = [proc.pid, *also], [proc.pid, *also]
      while frontier:
        frontier = [k for p in frontier for k in _children(p)]
        tree += frontier
      peak[0] = max(peak[0], sum(_rss_kb(p) for p in tree))
      stop.wait(0.1)

  sampler = threading.Thread(target=sample, daemon=True)
  sampler.start()
  _, err = proc.communicate()
  wall = time.monotonic() - start
  stop.set()
  sampler.join()
  if proc.returncode:
    sys.stderr.write(err.decode(errors="replace")[-2000:])
  return wall, peak[0] / 1024, proc.returncode


def _rows(paths):
  for path in paths:
    with open(path, newline="", encoding="utf-8") as f:
      reader = csv.reader(f)
      next(reader)
      yield from reader


def _digest(paths):
  h = hashlib.sha256()
  for path in paths:
    with open(path, "rb") as f:
      for block in iter(lambda: f.read(1 << 22), b""):
        h.update(block)
  return h.hexdigest()


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("size")
  parser.add_argument("--skip", action="append", default=[],
                      help="a contender to leave out (naive-beam, ...)")
  parser.add_argument("--join", default="auto",
                      choices=["auto", "broadcast", "partitioned"])
  parser.add_argument("--runner", action="append", default=[],
                      choices=["flink", "spark"],
                      help="also run on this dev cluster")
  args = parser.parse_args(argv)
  size = args.size.lower()
  rows = SIZES.get(size) or int(size)
  data = os.path.join(HERE, "data", size)
  if not os.path.exists(os.path.join(data, "job.yaml")):
    print(f"generating {rows} rows in {data} ...", file=sys.stderr)
    generate(rows, data)
  out = os.path.join(data, "runs")
  shutil.rmtree(out, ignore_errors=True)
  os.makedirs(out)
  compile_crmsync()
  bin_dir = os.path.dirname(sys.executable)
  crmsync = [os.path.join(bin_dir, "crmsync"), "run",
             os.path.join(data, "job.yaml"), f"--set=join={args.join}"]

  def crmsync_cmd(name, *extra):
    return crmsync + [f"--set=output.path={out}/{name}/merged",
                      f"--set=output.reports={out}/{name}/reports", *extra]

  contenders = [
      ("crmsync", crmsync_cmd("crmsync")),
      ("crmsync-2proc", crmsync_cmd("crmsync-2proc",
                                    "--direct_num_workers=2",
                                    "--direct_running_mode=multi_processing")),
      ("duckdb", [sys.executable, os.path.join(HERE, "duckdb_merge.py"), data,
                  f"{out}/duckdb.csv"]),
      ("naive-beam", [sys.executable, os.path.join(HERE, "naive_beam.py"),
                      data, f"{out}/naive/merged"]),
  ]
  results, failed = {}, []
  for name, cmd in contenders:
    if name in args.skip:
      continue
    print(f"running {name} ...", file=sys.stderr)
    wall, rss, code = measure(cmd)
    if code:
      print(f"{name} failed with exit code {code}", file=sys.stderr)
      failed.append(name)
      continue
    results[name] = (wall, rss)
  for kind in args.runner:
    print(f"starting the dev {kind} cluster, then running crmsync-{kind} "
          f"twice ...", file=sys.stderr)
    from crmsync.pipelines.dev.clusters import FlinkCluster, SparkCluster
    cluster_of = FlinkCluster if kind == "flink" else SparkCluster
    with cluster_of(os.path.join(out, f"{kind}-cluster")) as cluster:
      # The cluster's first job also pays for its JVMs' warm-up (class
      # loading, JIT); a cluster in service has run jobs before.
      for name in (f"crmsync-{kind}-1st", f"crmsync-{kind}"):
        wall, rss, code = measure(crmsync_cmd(name, *cluster.beam_args()),
                                  also=[p.pid for p in cluster.processes])
        if code:
          print(f"{name} failed with exit code {code}", file=sys.stderr)
          failed.append(name)
        else:
          results[name] = (wall, rss)

  base = results.get("duckdb")
  print(f"\n{rows:,} original rows + 3 enriched files ({size}); "
        f"{os.cpu_count()} cores\n")
  print(f"{'contender':<19}{'wall s':>9}{'rows/s':>11}{'peak RSS MB':>13}"
        f"{'time/duckdb':>13}{'RSS/duckdb':>12}")
  for name, (wall, rss) in results.items():
    ratio = f"{wall / base[0]:.2f}x" if base else "-"
    rss_ratio = f"{rss / base[1]:.2f}x" if base else "-"
    print(f"{name:<19}{wall:>9.1f}{rows / wall:>11,.0f}{rss:>13,.0f}"
          f"{ratio:>13}{rss_ratio:>12}")
  for name in failed:
    print(f"{name:<19}{'FAILED':>9}")
  for name in results:
    if name.startswith("crmsync-") and name != "crmsync-2proc" and (
        "crmsync" in results):
      print(f"{name} takes {results[name][0] / results['crmsync'][0]:.2f}x "
            f"the DirectRunner's wall time")
  if "naive-beam" in results and "crmsync" in results:
    print(f"\ncrmsync is {results['naive-beam'][0] / results['crmsync'][0]:.1f}x"
          f" faster than the naive Beam pipeline")

  ours = sorted(glob.glob(f"{out}/crmsync/merged-*-of-*.csv"))
  print(f"crmsync join: {args.join}")
  if "crmsync-2proc" in results and ours:
    two = sorted(glob.glob(f"{out}/crmsync-2proc/merged-*-of-*.csv"))
    same = _digest(ours) == _digest(two)
    print(f"1 and 2 workers give identical bytes: {same}")
  for kind in args.runner:
    for name in (f"crmsync-{kind}-1st", f"crmsync-{kind}"):
      theirs = sorted(glob.glob(f"{out}/{name}/merged-*-of-*.csv"))
      if theirs and ours:
        print(f"{name} gives the DirectRunner's bytes: "
              f"{_digest(ours) == _digest(theirs)}")
  if base and ours:
    equal = all(a == b for a, b in itertools.zip_longest(
        _rows(ours), _rows([f"{out}/duckdb.csv"])))
    count = sum(1 for _ in _rows(ours))
    print(f"DuckDB's output equals crmsync's row for row: {equal} "
          f"({count:,} rows)")
    if not equal:
      return 1
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
