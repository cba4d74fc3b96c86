"""What a portable runner's worker start-up costs: the scored demo on a dev
cluster (`crmsync dev flink|spark`, started here), once with Beam's default
`--environment_cache_millis=0` (a worker per stage and task) and once with
crmsync's default (workers kept between stages).

    python benchmarks/clusters_overhead.py flink|spark

Prints the wall time of each run, and checks that both wrote the same bytes.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(out: str, args) -> float:
  start = time.monotonic()
  done = subprocess.run(
      [sys.executable, "-m", "crmsync.pipelines.cli", "run", "--quiet",
       os.path.join(ROOT, "configs", "demo.yaml"),
       f"--set=output.path={out}/merged", f"--set=output.reports={out}/rep",
       "--set=match.scoring=true", *args],
      capture_output=True, text=True, cwd=ROOT)
  if done.returncode:
    sys.exit(done.stderr[-2000:])
  return time.monotonic() - start


def shards(out: str) -> dict:
  return {n: open(os.path.join(out, n), "rb").read()
          for n in sorted(os.listdir(out)) if n.endswith(".csv")}


def main(argv=None):
  parser = argparse.ArgumentParser()
  parser.add_argument("kind", choices=["flink", "spark"])
  kind = parser.parse_args(argv).kind
  from crmsync.pipelines.dev.clusters import FlinkCluster, SparkCluster
  cluster_of = FlinkCluster if kind == "flink" else SparkCluster
  with tempfile.TemporaryDirectory() as tmp:
    with cluster_of(os.path.join(tmp, kind)) as cluster:
      beam = cluster.beam_args()
      cold = run(os.path.join(tmp, "cold"), beam + [
          "--environment_cache_millis=0"])
      kept = run(os.path.join(tmp, "kept"), beam)
    same = shards(os.path.join(tmp, "cold")) == shards(os.path.join(tmp,
                                                                    "kept"))
  print(f"{kind}: a worker per stage {cold:.1f} s, workers kept "
        f"{kept:.1f} s ({kept / cold:.2f}x), same bytes: {same}")
  return 0 if same else 1


if __name__ == "__main__":
  sys.exit(main())
