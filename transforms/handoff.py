"""Large values handed from one stage to the next as files, not elements.

An enriched index is a side input of every merge bundle. Through the runner
it is pickled by the stage that builds it, copied through the data plane,
and decoded again by each stage that reads it, a cost that grows with the
enriched side. Written once to the
run's temporary folder instead (pickle protocol 5, its Arrow and numpy
buffers out of band and 64-byte aligned), it travels as a small `Handoff`
and is read back memory-mapped on local disk: no copy, no decoding.

The partitioned join's shuffles work the same way: each element's tables
are written to one file and the shuffle carries `Slice`s of it. The local
runner holds a whole shuffle in memory; it now holds file names and
offsets, so memory no longer grows with the input.

The folder must be one every worker can reach, as the output's is. It is
often a shared bucket, beside the output: nothing read back from it can
run code. A Handoff carries the SHA-256 of its file's head (the layout and
the pickle stream: everything that is not a raw Arrow or numpy buffer), a
Slice that of its bytes; they travel through the runner, not the folder,
and a file whose head or slice differs (planted or changed by anyone who
can write there) is refused before anything is unpickled. An index's raw
buffers, hundreds of megabytes at scale, are data and are not hashed.
"""

import hashlib
import mmap
import os
import pickle
import re
import struct
import uuid
from typing import Any, NamedTuple

from apache_beam.io.filesystems import FileSystems

from crmsync.transforms import worker

_MAGIC = b"CRMSYNC\x01"
_ALIGN = 64


class Handoff(NamedTuple):
  """Where a value was written, with what consumers read without loading
  it (an index's name, and its join.Supplied for the output layout), and
  the SHA-256 (hex) of the file's head."""
  path: str
  name: str
  summary: Any = None
  digest: str = ""


class Tampered(ValueError):
  """A file in the temporary folder is not the one this run wrote."""


def save(value: Any, path: str, name: str = "", summary=None) -> Handoff:
  worker.prepare()  # also in stages that run no crmsync DoFn
  buffers = []
  meta = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
  raws = [b.raw() for b in buffers]
  table, offset = [], _padded(len(_MAGIC) + 16 + 16 * len(raws) + len(meta))
  for raw in raws:
    table.append((offset, raw.nbytes))
    offset = _padded(offset + raw.nbytes)
  head = _MAGIC + struct.pack("<QQ", len(meta), len(raws)) + b"".join(
      struct.pack("<QQ", o, n) for o, n in table) + meta
  with FileSystems.create(path) as f:
    f.write(head)
    at = len(head)
    for (start, _), raw in zip(table, raws):
      f.write(b"\0" * (start - at))
      f.write(raw)
      at = start + raw.nbytes
  return Handoff(path, name, summary, hashlib.sha256(head).hexdigest())


def save_in(folder: str, stem: str, suffix: str, value: Any,
            name: str = "", summary=None) -> Handoff:
  """save() to a file of its own in `folder`: `stem` (any source name,
  made safe by file_name) and `suffix`, under a fresh attempt name."""
  return save(value, FileSystems.join(
      folder, attempt_name(file_name(stem), suffix)), name, summary)


def load(handoff: Handoff) -> Any:
  """The value, its buffers mapped from the file (local disk) or read once
  (object stores)."""
  worker.prepare()  # also in stages that run no crmsync DoFn
  path = handoff.path
  if "://" in path:
    with FileSystems.open(path, compression_type="uncompressed") as f:
      data = memoryview(f.read())
  else:
    with open(path, "rb") as f:
      if os.fstat(f.fileno()).st_size < len(_MAGIC):  # mmap refuses empty
        raise ValueError(f"{path}: not a crmsync handoff file")
      data = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
  if bytes(data[:len(_MAGIC)]) != _MAGIC:
    raise ValueError(f"{path}: not a crmsync handoff file")
  at = len(_MAGIC)
  meta_len, count = struct.unpack_from("<QQ", data, at)
  head_len = at + 16 + 16 * count + meta_len
  if head_len > len(data):
    raise Tampered(f"{path}: not the file this run wrote there (shorter "
                   f"than its head says): refusing to read it")
  # One copy of the head is checked and unpickled: the file (mapped) may
  # change under us.
  head = bytes(data[:head_len])
  _check(path, head, handoff.digest)
  at += 16
  table = [struct.unpack_from("<QQ", head, at + 16 * i) for i in range(count)]
  at += 16 * count
  meta = head[at:at + meta_len]
  return pickle.loads(meta, buffers=[data[o:o + n] for o, n in table])


def opened(value: Any) -> Any:
  """The value a Handoff stands for (loaded), or `value` itself when it
  travelled in the element."""
  return load(value) if isinstance(value, Handoff) else value


class OpenedOnce:
  """Values that may arrive as Handoffs (side inputs), each file loaded
  once per worker: a DoFn makes one in `setup` and calls it on the
  runner's thread, before its work goes to a pool."""

  def __init__(self):
    self._loaded = {}  # path -> value

  def __call__(self, value: Any) -> Any:
    if not isinstance(value, Handoff):
      return value
    if value.path not in self._loaded:
      self._loaded[value.path] = load(value)
    return self._loaded[value.path]


def _check(path: str, data, digest: str) -> None:
  if hashlib.sha256(data).hexdigest() != digest:
    raise Tampered(f"{path}: not the file this run wrote there (its SHA-256 "
                   f"differs): refusing to read it")


def file_name(name: str) -> str:
  """A file name for any source name, distinct for distinct names."""
  digest = hashlib.sha1(name.encode()).hexdigest()[:8]
  return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40] + "-" + digest


def attempt_name(stem: str, suffix: str) -> str:
  """A name of its own for each attempt at writing a file: a retried or
  speculative attempt must not rewrite a file that the attempt whose output
  was kept points into (or that a worker has memory-mapped)."""
  return f"{stem}-{uuid.uuid4().hex[:12]}{suffix}"


def _padded(n: int) -> int:
  return -(-n // _ALIGN) * _ALIGN


class Slice(NamedTuple):
  """Bytes [offset, offset + length) of a file that every worker reaches:
  what a shuffle carries instead of the bytes themselves, with their
  SHA-256 (hex)."""
  path: str
  offset: int
  length: int
  digest: str = ""


class SliceWriter:
  """Writes blobs one after the other into one file; `add` returns where
  each went. The file is complete when the `with` block ends."""

  def __init__(self, path: str):
    worker.prepare()  # also in stages that run no crmsync DoFn
    self._path, self._at, self._file = path, 0, None

  def __enter__(self):
    self._file = FileSystems.create(self._path)
    return self

  def add(self, blob: bytes) -> Slice:
    self._file.write(blob)
    where = Slice(self._path, self._at, len(blob),
                  hashlib.sha256(blob).hexdigest())
    self._at += len(blob)
    return where

  def __exit__(self, *exc):
    self._file.close()


def read_slice(where: Slice) -> bytes:
  """The slice's bytes, checked against its digest."""
  data = _read_slice(where)
  _check(where.path, data, where.digest)
  return data


def _read_slice(where: Slice) -> bytes:
  worker.prepare()  # also in stages that run no crmsync DoFn
  if "://" not in where.path:
    with open(where.path, "rb") as f:
      f.seek(where.offset)
      return f.read(where.length)
  with FileSystems.open(where.path, compression_type="uncompressed") as f:
    # Past the read buffer (16 MB for S3), so only the slice is fetched.
    raw = getattr(f, "raw", f)
    raw.seek(where.offset)
    parts, left = [], where.length
    while left:
      part = raw.read(left)
      if not part:
        raise IOError(f"{where.path}: ends before byte "
                      f"{where.offset + where.length}")
      parts.append(part)
      left -= len(part)
    return b"".join(parts)
