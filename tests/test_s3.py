"""Reading and writing s3:// through a real SeaweedFS server."""

import json
import os

import pytest

from conftest import stable_manifest, write_csv
from crmsync.pipelines.dev.s3 import SeaweedFS

EMAIL = {"name": "email", "normalize": "email", "columns": ["Email"]}
SECRET = "s3cr3t-Do-Not-Print-42"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
  server = SeaweedFS(str(tmp_path_factory.mktemp("seaweedfs")),
                     secret_key=SECRET).start()
  server.create_bucket("crm")
  yield server
  server.stop()


def _inputs(tmp_path, s3, prefix):
  """The same job's input, on local disk and in the bucket."""
  local = tmp_path / "in"
  local.mkdir(exist_ok=True)
  write_csv(local / "crm.csv", [["ID", "Email", "Title"]] + [
      [str(i), f"u{i}@x.com", "" if i % 3 else "CEO"] for i in range(300)])
  write_csv(local / "vendor-a.csv", [["Email", "Score"]] + [
      [f"U{i}@x.com", f"a{i}"] for i in range(0, 300, 2)])
  write_csv(local / "vendor-b.csv", [["Email", "Score"]] + [
      [f"u{i}@x.com", f"b{i}"] for i in range(1, 300, 4)] + [
      ["nobody@x.com", "zz"]])
  s3.upload_dir(str(local), "crm", prefix)
  return local


def _s3_objects(s3, prefix):
  client = s3.client()
  found = client.list_objects_v2(Bucket="crm", Prefix=prefix).get(
      "Contents", [])
  return {o["Key"][len(prefix):]: stable_manifest(o["Key"], client.get_object(
      Bucket="crm", Key=o["Key"])["Body"].read()) for o in found}


def _local_files(folder):
  out = {}
  for root, _, names in os.walk(folder):
    for n in names:
      with open(os.path.join(root, n), "rb") as f:
        out[os.path.relpath(os.path.join(root, n), folder)] = stable_manifest(
            n, f.read())
  return out


def _config(job, src, out, endpoint=None):
  cfg = job.config(f"{src}/crm.csv", [{"path": f"{src}/vendor-*.csv",
                                       "name": "vendor"}], [EMAIL], shards=3)
  import yaml
  with open(cfg) as f:
    doc = yaml.safe_load(f)
  doc["output"] = {"path": f"{out}/merged", "shards": 3,
                   "reports": f"{out}/reports"}
  if endpoint:
    doc["storage"] = {"endpoint_url": endpoint, "region": "us-east-1"}
  with open(cfg, "w") as f:
    yaml.safe_dump(doc, f)
  return cfg


@pytest.fixture
def own_s3(tmp_path, monkeypatch):
  """A SeaweedFS of the test's own, for tests that stop it, with the
  bucket "crm" and the credentials set: `.server`, and `.restart()` to
  bring it back on the same port and data."""

  class Own:
    def __init__(self):
      self.server = SeaweedFS(str(tmp_path / "weed"),
                              secret_key=SECRET).start()

    def restart(self):
      self.server = SeaweedFS(self.server.data_dir, self.server.s3_port,
                              secret_key=SECRET).start()
      return self.server
  own = Own()
  try:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", own.server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    own.server.create_bucket("crm")
    yield own
  finally:
    own.server.stop()


@pytest.fixture
def creds(s3, monkeypatch):
  monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
  monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_s3_job_equals_the_local_job_byte_for_byte(job, tmp_path, s3, cli,
                                                    creds, join):
  """Both joins hand data between stages as files in the output's temporary
  folder: in the bucket here."""
  t = f"t1-{join}"
  local = _inputs(tmp_path, s3, f"{t}/in")
  code, _, err = cli("run", _config(job, local, tmp_path / "out"))
  assert code == 0, err
  code, _, err = cli("run", _config(job, f"s3://crm/{t}/in",
                                    f"s3://crm/{t}/out", s3.endpoint),
                     "--set", f"join={join}", "--batch_rows=40")
  assert code == 0, err
  remote = _s3_objects(s3, f"{t}/out/")
  # The reports name the input files: the same files, at other paths.
  local_out = {k: v.replace(str(local).encode(), f"s3://crm/{t}/in".encode())
               for k, v in _local_files(tmp_path / "out").items()}
  # The manifest holds stats.json's digest, which names the input paths.
  manifests = [json.loads(d.pop("merged_manifest.json"))
               for d in (remote, local_out)]
  assert remote == local_out
  for manifest in manifests:  # every published file, and only those
    assert sorted(f["path"] for f in manifest["files"]) == sorted(
        os.path.basename(k) for k in remote)
  assert sorted(remote) == ["merged-00000-of-00003.csv",
                            "merged-00001-of-00003.csv",
                            "merged-00002-of-00003.csv",
                            "reports/conflicts.csv",
                            "reports/invalid_values.csv",
                            "reports/rejected.csv",
                            "reports/rejected_matches.csv",
                            "reports/report.html",
                            "reports/stats.json",
                            "reports/unmatched_enriched.csv"]
  assert b'"rows_read": 226' in remote["reports/stats.json"]  # both files


@pytest.mark.parametrize("join", ["broadcast", "partitioned"])
def test_a_scored_s3_job_equals_the_local_job_byte_for_byte(job, tmp_path, s3,
                                                             cli, creds,
                                                             join):
  """With scoring, the candidate pairs and the decisions pass through the
  bucket too (assignment.Decide)."""
  t = f"t1-scored-{join}"
  local = _inputs(tmp_path, s3, f"{t}/in")
  scored = ("--set", "match.scoring=true", "--set", f"join={join}")
  code, _, err = cli("run", _config(job, local, tmp_path / "out"), *scored)
  assert code == 0, err
  code, _, err = cli("run", _config(job, f"s3://crm/{t}/in",
                                    f"s3://crm/{t}/out", s3.endpoint),
                     *scored, "--batch_rows=40")
  assert code == 0, err
  remote = _s3_objects(s3, f"{t}/out/")
  local_out = {k: v.replace(str(local).encode(), f"s3://crm/{t}/in".encode())
               for k, v in _local_files(tmp_path / "out").items()}
  for d in (remote, local_out):
    d.pop("merged_manifest.json")
  assert remote == local_out
  weights = json.loads(remote["reports/match_weights.json"])
  assert weights[0]["source"] == "vendor"
  # One pair per vendor row whose email the CRM has: 226 read, less
  # nobody@x.com.
  assert weights[0]["pairs_scored"] == 225
  # Only the published files are left: no pairs or decisions files.
  assert not [k for k in remote if k.endswith((".pairs", ".decisions"))]


def test_parquet_shards_in_the_bucket_equal_the_local_ones(job, tmp_path, s3,
                                                           cli, creds):
  """pyarrow's ParquetWriter writes through Beam's S3 filesystem."""
  local = _inputs(tmp_path, s3, "t-pq/in")
  code, _, err = cli("run", _config(job, local, tmp_path / "out"),
                     "--set=output.format=parquet")
  assert code == 0, err
  code, _, err = cli("run", _config(job, "s3://crm/t-pq/in",
                                    "s3://crm/t-pq/out", s3.endpoint),
                     "--set=output.format=parquet")
  assert code == 0, err
  remote = _s3_objects(s3, "t-pq/out/")
  shards = [f"merged-0000{i}-of-00003.parquet" for i in range(3)]
  assert [remote[s] for s in shards] == [
      _local_files(tmp_path / "out")[s] for s in shards]
  assert not [k for k in remote if k.endswith(".csv") and "/" not in k]


def test_failed_run_leaves_no_output_and_rerun_replaces_cleanly(
    job, tmp_path, s3, cli, creds, monkeypatch):
  _inputs(tmp_path, s3, "t2/in")
  cfg = _config(job, "s3://crm/t2/in", "s3://crm/t2/out", s3.endpoint)
  cfg_small_batches = ["--batch_rows=50"]
  assert cli("run", cfg, "--set", "output.shards=5", *cfg_small_batches)[0] == 0
  before = _s3_objects(s3, "t2/out/")
  import crmsync.transforms.writing as writing
  real = writing.encode_csv_rows
  calls = []

  def boom(*a, **k):
    calls.append(1)
    if len(calls) > 1:  # after a part file has gone to the bucket
      raise RuntimeError("worker lost")
    return real(*a, **k)
  with monkeypatch.context() as m:
    m.setattr(writing, "encode_csv_rows", boom)
    code, _, err = cli("run", cfg, *cfg_small_batches)
  assert code == 1 and "worker lost" in err
  final = {k: v for k, v in _s3_objects(s3, "t2/out/").items()
           if "crmsync-tmp" not in k}
  assert final == before  # the old output, untouched
  assert cli("run", cfg)[0] == 0
  after = _s3_objects(s3, "t2/out/")
  assert sorted(k for k in after if k.startswith("merged-")) == [
      f"merged-0000{i}-of-00003.csv" for i in range(3)]
  assert not [k for k in _s3_objects(s3, "t2/") if "crmsync-tmp" in k]


def _one_line_error(cli, *args):
  code, out, err = cli(*args)
  assert code == 2, err
  assert "Traceback" not in err
  lines = [l for l in err.splitlines() if l.startswith("crmsync: error:")]
  assert len(lines) == 1, err
  assert SECRET not in out + err
  return lines[0]


def test_wrong_credentials(job, tmp_path, s3, cli, monkeypatch):
  _inputs(tmp_path, s3, "t3/in")
  monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
  monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-" + SECRET)
  msg = _one_line_error(cli, "run", _config(job, "s3://crm/t3/in",
                                            "s3://crm/t3/out", s3.endpoint))
  assert "s3://crm: access denied" in msg


def test_missing_bucket(job, tmp_path, s3, cli, creds):
  msg = _one_line_error(cli, "run", _config(job, "s3://no-such-bucket/in",
                                            "s3://crm/t4/out", s3.endpoint))
  assert "s3://no-such-bucket: bucket does not exist" in msg


def test_unreachable_endpoint(job, tmp_path, cli, creds):
  from crmsync.pipelines.dev.s3 import free_port
  msg = _one_line_error(cli, "validate", _config(
      job, "s3://crm/in", "s3://crm/out", f"http://127.0.0.1:{free_port()}"))
  assert "cannot reach the S3 endpoint" in msg


def test_secret_appears_in_no_log_or_report(job, tmp_path, s3, cli,
                                            monkeypatch):
  _inputs(tmp_path, s3, "t5/in")
  monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
  monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
  code, out, err = cli("run", _config(job, "s3://crm/t5/in", "s3://crm/t5/out",
                                      s3.endpoint), "-v", *s3.beam_args())
  assert code == 0, err
  assert SECRET not in out + err
  for key, data in _s3_objects(s3, "t5/out/").items():
    assert SECRET.encode() not in data, key


def test_shards_over_100_mb_are_multipart_uploads(tmp_path, s3, creds):
  from apache_beam.io.filesystems import FileSystems
  from apache_beam.options.pipeline_options import PipelineOptions
  from crmsync.transforms.writing import _ConcatShard
  FileSystems.set_options(PipelineOptions(s3.beam_args()))
  part = tmp_path / "part.csv"
  line = b"x" * 1023 + b"\n"
  with open(part, "wb") as f:
    for _ in range(101 * 1024):
      f.write(line)
  shard = _ConcatShard("s3://crm/t6/merged", 1, "s3://crm/t6/tmp", ",")
  shard.setup()
  [(_, path, rows, facts)] = shard.work(shard.prepare(
      (0, [(0, 0, str(part), 101 * 1024, 101 * 1024 * 1024)])), ["col"])
  shard.teardown()
  head = s3.client().head_object(Bucket="crm", Key=path[len("s3://crm/"):])
  assert head["ContentLength"] == facts["size"] == 4 + 101 * 1024 * 1024
  parts = int(head["ETag"].strip('"').rsplit("-", 1)[1])
  assert parts > 1


def _job_run_clean(job, tmp_path, cli, server, name):
  """The job's inputs under `name`/in, its config writing to `name`/out,
  and one clean run of it into `name`/clean, for reference."""
  _inputs(tmp_path, server, f"{name}/in")
  cfg = _config(job, f"s3://crm/{name}/in", f"s3://crm/{name}/out",
                server.endpoint)
  assert cli("run", cfg, f"--set=output.path=s3://crm/{name}/clean/merged",
             f"--set=output.reports=s3://crm/{name}/clean/reports")[0] == 0
  return cfg


def test_server_stopped_mid_run_fails_cleanly_and_rerun_is_identical(
    job, tmp_path, cli, monkeypatch, own_s3):
  server = own_s3.server
  cfg = _job_run_clean(job, tmp_path, cli, server, "t7")
  clean = _s3_objects(server, "t7/clean/")
  import crmsync.transforms.writing as writing
  real = writing.encode_csv_rows

  def stop_server_then_encode(*a, **k):
    server.stop()
    return real(*a, **k)
  with monkeypatch.context() as m:
    m.setattr(writing, "encode_csv_rows", stop_server_then_encode)
    code, _, err = cli("run", cfg)
  assert code == 1, err
  assert err.count("\n") <= 2 and "crmsync: run failed:" in err
  assert SECRET not in err
  server = own_s3.restart()
  final = {k for k in _s3_objects(server, "t7/out/") if "tmp" not in k}
  # Nothing was published; the lease could not be removed with the
  # server down, and is dead: its run is over.
  assert final == {"merged_lock.json"}
  assert cli("run", cfg)[0] == 0
  out = {k: v.replace(b"t7/out", b"t7/clean") for k, v in
         _s3_objects(server, "t7/out/").items()}
  assert out == clean


def _published(s3, prefix, as_prefix=None):
  """The output under `prefix` without temporary folders or the lease,
  paths in it written as `as_prefix` (to compare it with a clean run's)."""
  return {k: v.replace(prefix.encode(), (as_prefix or prefix).encode())
          for k, v in _s3_objects(s3, prefix).items()
          if "crmsync-tmp" not in k and not k.endswith("_lock.json")}


def test_the_command_writes_to_s3_that_only_an_override_names(
    job, tmp_path, s3, creds):
  """The `crmsync` command loads Beam's S3 file system only for a job with
  an s3:// path (pipelines/startup.py): here the inputs are local and the
  bucket is named by --set alone; the bucket gets what a local run writes."""
  import subprocess
  import sys
  local = _inputs(tmp_path, s3, "t9/in")
  cfg = _config(job, local, tmp_path / "out", s3.endpoint)
  outputs = {"local": tmp_path / "out", "s3": "s3://crm/t9/out"}
  for where, out in outputs.items():
    done = subprocess.run(
        [sys.executable, "-m", "crmsync.pipelines.cli", "run", cfg,
         "--quiet", f"--set=output.path={out}/merged",
         f"--set=output.reports={out}/reports"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (where, done.stderr)
    assert done.stderr == ""
  remote = _published(s3, "t9/out/")
  mine = {k: v.replace(str(tmp_path / "out").encode(), b"s3://crm/t9/out")
          for k, v in _local_files(tmp_path / "out").items()}
  assert "merged-00000-of-00003.csv" in remote
  assert remote == mine


def test_the_suggest_command_reads_samples_from_s3(tmp_path, s3, creds,
                                                   monkeypatch):
  """Its samples through Beam's S3 file system, the endpoint from the
  environment (the command has no config to name it)."""
  import subprocess
  import sys

  import yaml
  _inputs(tmp_path, s3, "t10/in")
  monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
  done = subprocess.run(
      [sys.executable, "-m", "crmsync.pipelines.cli", "suggest",
       "--original", "s3://crm/t10/in/crm.csv",
       "--enriched", "s3://crm/t10/in/vendor-a.csv"],
      capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr
  config = yaml.safe_load(done.stdout)
  assert config["original"]["path"] == "s3://crm/t10/in/crm.csv"
  assert config["enriched"][0]["path"] == "s3://crm/t10/in/vendor-a.csv"
  assert [k["name"] for k in config["match"]["keys"]] == ["email"]


def test_a_run_killed_mid_publish_on_s3_is_rolled_forward(
    job, tmp_path, s3, creds):
  """SIGKILL-like stop (CRMSYNC_FAULT) after the first shard was moved
  into place on S3, where a move is a copy and a delete: the bucket holds
  a publish in flight, and the next run finishes it and publishes the
  same bytes as a run that was never stopped."""
  import subprocess
  import sys
  from crmsync.transforms.faults import FAULT_ENV
  _inputs(tmp_path, s3, "t8/in")
  cfg = _config(job, "s3://crm/t8/in", "s3://crm/t8/out", s3.endpoint)

  def run(*extra, fault=None):
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    env.update(fault and {FAULT_ENV: fault} or {})
    return subprocess.run(
        [sys.executable, "-m", "crmsync.pipelines.cli", "run", cfg,
         "--quiet", *extra], capture_output=True, text=True, env=env,
        timeout=300)
  assert run("--set=output.path=s3://crm/t8/clean/merged",
             "--set=output.reports=s3://crm/t8/clean/reports").returncode == 0
  clean = _published(s3, "t8/clean/")
  assert run("--set=output.shards=5").returncode == 0
  killed = run(fault="publish:moved-one")
  assert killed.returncode == 137, killed.stderr
  in_flight = _s3_objects(s3, "t8/out/")
  assert "merged_publishing.json" in in_flight
  again = run()
  assert again.returncode == 0, again.stderr
  assert _published(s3, "t8/out/", "t8/clean/") == clean
  assert not [k for k in _s3_objects(s3, "t8/") if "crmsync-tmp" in k]


def test_server_stopped_during_the_publish_then_a_rerun_finishes_it(
    job, tmp_path, cli, monkeypatch, own_s3):
  """The S3 server goes down after the plan is written, before the first
  move: exit 1 with one line, the previous output's files untouched; once
  the server is back, the next run rolls the publish forward and then
  publishes its own output, the bytes of a clean run."""
  server = own_s3.server
  cfg = _job_run_clean(job, tmp_path, cli, server, "t9")
  clean = _published(server, "t9/clean/")
  assert cli("run", cfg, "--set=output.shards=5")[0] == 0
  before = _published(server, "t9/out/")
  from crmsync.transforms import publish
  real = publish._move

  def stop_server_then_move(*a):
    server.stop()
    return real(*a)
  with monkeypatch.context() as m:
    m.setattr(publish, "_move", stop_server_then_move)
    code, _, err = cli("run", cfg)
  assert code == 1, err
  assert err.count("\n") <= 2 and "crmsync: run failed:" in err
  server = own_s3.restart()
  after = _published(server, "t9/out/")
  assert after.pop("merged_publishing.json")  # in flight: readers wait
  assert after == before
  assert cli("run", cfg)[0] == 0
  assert _published(server, "t9/out/", "t9/clean/") == clean


def test_dev_s3_command_serves_the_demo_bucket_and_stops(tmp_path):
  import signal
  import subprocess
  import sys
  import time
  from crmsync.pipelines.dev.s3 import DEMO_BUCKET, free_port
  port = free_port()
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  proc = subprocess.Popen(
      [sys.executable, "-m", "crmsync.pipelines.cli", "dev", "s3", "--port",
       str(port), "--dir", str(tmp_path / "weed"), "--demo-data",
       os.path.join(root, "data", "demo")],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=root)
  try:
    first = proc.stdout.readline()
    assert f"http://127.0.0.1:{port}" in first, first
    server = SeaweedFS(str(tmp_path), port)  # a client for the same server
    keys = [o["Key"] for o in server.client().list_objects_v2(
        Bucket=DEMO_BUCKET)["Contents"]]
    assert "demo/crm_export.csv" in keys and len(keys) == 4
  finally:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
  deadline = time.monotonic() + 20
  while time.monotonic() < deadline:
    alive = subprocess.run(["pgrep", "-f", f"s3.port={port}"],
                           capture_output=True).returncode == 0
    if not alive:
      break
    time.sleep(0.5)
  assert not alive, "SeaweedFS outlived crmsync dev s3"
