"""Publishing a run's output: a plan, the moves, then the manifest.

Files keep the names users rely on (`<prefix>-00000-of-00004.csv`, the
reports), so a new output replaces the old one file by file. What makes it
safe is the order, in the manner of Hadoop's and Iceberg's committers:

1. the plan (every file's temporary and final name, size and SHA-256, and
   the run's stats) is written to the run's temporary folder, then
   `<prefix>_publishing.json` names it: a publish is in flight;
2. each new file is moved over its final name, then the shards of the
   previous output that the new ones did not replace are removed;
3. `<prefix>_manifest.json` (run id, every file with its size and SHA-256,
   the stats) is written, then `<prefix>_publishing.json` removed;
4. temporary folders go (this run's, and those of dead runs).

The plan, the publishing file and the manifest are each written at once
(a rename on local disk, one PUT on S3); a move on S3 is a copy, then a
delete.
A reader trusts the manifest: while `<prefix>_publishing.json` exists, the
files are changing and it waits; otherwise the files the manifest lists are
one complete output. A run killed during 2 or 3 leaves the publish file and
its plan; the next `crmsync run` (recover, under its lease) rolls it
forward before anything else, and the temporary folder it needs is removed
only after that.

CRMSYNC_FAULT=<point> makes the process stop dead at a named point (tests
only): publish:planned, publish:moved-one, publish:moved,
publish:manifest.
"""

import hashlib
import json
import logging
import os
import re
import time
from typing import Dict, List, Optional, Tuple

from apache_beam.io.filesystems import FileSystems

from crmsync.transforms.errors import CrmsyncError
from crmsync.transforms.faults import fault

_LOG = logging.getLogger(__name__)


class PublishError(CrmsyncError):
  """An interrupted publish cannot be rolled forward."""


def manifest_path(prefix: str) -> str:
  return f"{prefix}_manifest.json"


def publishing_path(prefix: str) -> str:
  return f"{prefix}_publishing.json"


def lease_path(prefix: str) -> str:
  """The lease of the run writing to the prefix (pipelines/lock.py)."""
  return f"{prefix}_lock.json"


def publish(prefix: str, moves: List[Tuple[str, str]], run_id: str,
            tmp: str, stats: dict, shard_pattern: str,
            described: Optional[Dict[str, dict]] = None,
            publish_id: str = "") -> dict:
  """Publishes (temporary path, final path) pairs as the output of
  `prefix` and returns the manifest. `shard_pattern`: the glob of the
  prefix's shards, of any count, whose leftovers go; `described`:
  temporary path -> {"size", "sha256"} where the writer computed them (the
  others are read back); `publish_id`: new for each launch of the job (a
  rerun may keep its run id), how a retried final bundle knows its own
  publish. Raises PublishError, publishing nothing, when another run holds
  the prefix's lease."""
  from crmsync.transforms.writing import remove_temp_dirs
  holder = _read_json(lease_path(prefix))
  if holder and holder.get("run_id", run_id) != run_id:
    # A job that ran on after its launcher was killed, and whose lease
    # another run has since taken: that run's output wins.
    raise PublishError(
        f"{lease_path(prefix)}: run {holder['run_id']} holds the output "
        f"prefix now (run {run_id}'s lease expired): run {run_id}'s output "
        f"is not published")
  recover(prefix)
  described = described or {}
  plan = {"run_id": run_id, "publish_id": publish_id, "committed_at": None,
          "files": [dict(path=final, **(described.get(temp) or
                                         _describe(temp)))
                    for temp, final in moves],
          "moves": [[temp, final] for temp, final in moves],
          "shard_pattern": shard_pattern, "stats": stats}
  plan_path = FileSystems.join(tmp, "publish.json")
  _write_json(plan_path, plan)
  _write_json(publishing_path(prefix), {"run_id": run_id,
                                        "plan": plan_path})
  fault("publish:planned")
  manifest = _apply(prefix, plan)
  remove_temp_dirs(prefix)
  return manifest


def published(prefix: str, publish_id: str) -> Optional[dict]:
  """The manifest, if this launch's output is already published (a retried
  final bundle); else None."""
  manifest = _read_json(manifest_path(prefix))
  if publish_id and manifest and manifest.get(
      "publish_id") == publish_id and _read_json(
          publishing_path(prefix)) is None:
    return manifest
  return None


def recover(prefix: str) -> Optional[str]:
  """Rolls forward a publish that a killed run left half done; returns its
  run id (None: nothing to do)."""
  pending = _read_json(publishing_path(prefix))
  if pending is None:
    return None
  plan = _read_json(pending.get("plan", "")) if pending else None
  if not plan:
    raise PublishError(
        f"{publishing_path(prefix)}: a publish was interrupted and its plan "
        f"({pending.get('plan') if pending else 'unreadable'}) is gone: the "
        f"output may be a mix of two runs; rerun after removing that file")
  _apply(prefix, plan)
  _LOG.warning("rolled forward the publish of run %s, interrupted before "
               "it ended", plan["run_id"])
  return plan["run_id"]


def _apply(prefix: str, plan: dict) -> dict:
  """Steps 2 and 3 of the module's order; safe to repeat."""
  expected = {f["path"]: f for f in plan["files"]}
  for i, (temp, final) in enumerate(plan["moves"]):
    if FileSystems.exists(temp):
      _move(temp, final)
    elif not _matches(final, expected[final]):
      raise PublishError(f"{final}: neither moved into place nor waiting in "
                         f"{temp}: the publish of run {plan['run_id']} "
                         f"cannot be completed")
    if i == 0:
      fault("publish:moved-one")
  # The old shards the new ones did not replace go last: until the first
  # move, the old output is whole.
  finals = {final for _, final in plan["moves"]}
  # A run's shards in either format, not merged-eu-...'s.
  shard = re.compile(r"^(.*)-\d{5}-of-\d{5}\.(csv|parquet)$")
  ours = {prefix, f"{prefix}-changes", f"{prefix}-undo"}
  found = [(m.path, shard.match(m.path)) for m in FileSystems.match(
      [plan["shard_pattern"]])[0].metadata_list if m.path not in finals]
  stale = [path for path, named in found
           if named and named.group(1) in ours]
  if stale:
    FileSystems.delete(stale)
  fault("publish:moved")
  manifest = {"run_id": plan["run_id"],
              "publish_id": plan.get("publish_id", ""),
              "committed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                            time.gmtime()),
              "files": plan["files"], "stats": plan["stats"]}
  _write_json(manifest_path(prefix), manifest)
  fault("publish:manifest")
  FileSystems.delete([publishing_path(prefix)])
  return manifest


def _describe(path: str) -> dict:
  digest, size = hashlib.sha256(), 0
  with FileSystems.open(path, compression_type="uncompressed") as f:
    for block in iter(lambda: f.read(1 << 22), b""):
      digest.update(block)
      size += len(block)
  return {"size": size, "sha256": digest.hexdigest()}


def _matches(path: str, entry: dict) -> bool:
  return FileSystems.exists(path) and _describe(path) == {
      "size": entry["size"], "sha256": entry["sha256"]}


def _move(temp: str, final: str) -> None:
  if "://" in final:  # a copy, then a delete: the copy replaces the old
    FileSystems.rename([temp], [final])
    return
  os.makedirs(os.path.dirname(os.path.abspath(final)), exist_ok=True)
  os.replace(temp, final)  # atomic, replacing the old file


def _write_json(path: str, value: dict) -> None:
  data = (json.dumps(value, indent=2) + "\n").encode("utf-8")
  if "://" in path:  # one PUT: atomic
    with FileSystems.create(path) as f:
      f.write(data)
    return
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  temp = f"{path}.{os.getpid()}.tmp"
  with open(temp, "wb") as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
  os.replace(temp, path)


def _read_json(path: str) -> Optional[dict]:
  if not path:
    return None
  try:
    with FileSystems.open(path, compression_type="uncompressed") as f:
      value = json.loads(f.read().decode("utf-8"))
  except (FileNotFoundError, IOError, OSError):
    return None
  except ValueError:
    return {}
  return value if isinstance(value, dict) else {}
