"""The installed package: one namespace (crmsync), and no side effects on
import. Installed for real (`pip install`, not editable) into a folder of
its own; its dependencies come from this environment."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Run by the installed package's interpreter without `site` (so neither this
# checkout's editable install nor the current folder is on the path).
CHECK = r'''
import csv, importlib, logging, os, pkgutil, sys
import apache_beam, botocore.client, boto3.session
from apache_beam.io.aws.clients.s3 import boto3_client

def snapshot():
  loggers = {n: l.level for n, l in logging.root.manager.loggerDict.items()
             if isinstance(l, logging.Logger)}
  return {"beam s3 client": dict(vars(boto3_client.Client)),
          "botocore client": dict(vars(botocore.client.BaseClient)),
          "boto3 session": dict(vars(boto3.session.Session)),
          "csv field size limit": csv.field_size_limit(),
          "environment": dict(os.environ),
          "root log level": logging.root.level,
          "root log handlers": list(logging.root.handlers),
          "log levels": loggers}

before = snapshot()
try:
  import transforms
  sys.exit("import transforms worked: " + transforms.__file__)
except ImportError:
  pass
try:
  import pipelines
  sys.exit("import pipelines worked: " + pipelines.__file__)
except ImportError:
  pass
from crmsync.transforms import Merge, ReadCsv
import crmsync
for module in pkgutil.walk_packages(crmsync.__path__, "crmsync."):
  importlib.import_module(module.name)
after = snapshot()
# Loggers made by the imported modules are new, and must be left unset.
new = {n: l for n, l in after["log levels"].items()
       if n not in before["log levels"]}
after["log levels"] = {n: l for n, l in after["log levels"].items()
                       if n in before["log levels"]}
changed = [k for k in before if before[k] != after[k]]
changed += [f"level of logger {n}" for n, level in new.items() if level]
print(Merge.__module__, ReadCsv.__module__, sep="\n")
print("\n".join(f"changed: {c}" for c in changed))
'''


def _sources(tmp_path) -> Path:
  """What setup.py packages, copied (a build leaves files beside it)."""
  source = tmp_path / "src"
  ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
  for folder in ("pipelines", "transforms"):
    shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
  shutil.copy(ROOT / "setup.py", source)
  return source


def test_installed_package_is_one_namespace_and_import_changes_nothing(
    tmp_path):
  source = _sources(tmp_path)
  target = tmp_path / "site"
  subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                  "--target", str(target), str(source)], check=True,
                 capture_output=True)
  assert (target / "crmsync" / "transforms" / "broadcast.py").exists()
  assert not (target / "transforms").exists()
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [str(target), sysconfig.get_paths()["purelib"]]))
  env.pop("CRMSYNC_LOG_LEVEL", None)
  done = subprocess.run([sys.executable, "-S", "-c", CHECK], cwd=tmp_path,
                        env=env, capture_output=True, text=True)
  assert done.returncode == 0, done.stdout + done.stderr
  lines = done.stdout.split()
  assert lines[:2] == ["crmsync.transforms.broadcast", "crmsync.transforms.csv_io"]
  assert [l for l in done.stdout.splitlines() if l.startswith("changed")] == []


def test_the_sdist_beam_stages_for_setup_file_installs_the_namespace(
    tmp_path):
  """--setup_file=setup.py: Beam's stager builds an sdist with `setup.py
  sdist` (when the `build` module is absent) and each worker installs it."""
  source = _sources(tmp_path)
  dist = tmp_path / "dist"
  subprocess.run([sys.executable, "setup.py", "sdist", "--dist-dir",
                  str(dist)], cwd=source, check=True, capture_output=True)
  (sdist,) = dist.glob("crmsync-*.tar.gz")
  target = tmp_path / "site"
  subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                  "--target", str(target), str(sdist)], check=True,
                 capture_output=True)
  installed = target / "crmsync"
  assert (installed / "transforms" / "broadcast.py").exists()
  assert (installed / "pipelines" / "dev" / "poms" / "flink.pom.xml").exists()
  assert not (target / "transforms").exists()
