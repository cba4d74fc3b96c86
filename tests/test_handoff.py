"""transforms/handoff.py: values handed from stage to stage as files
(save/load, memory-mapped on local disk), shuffle slices, file names."""

import hashlib
import io
import os
import pickle
import re

import numpy as np
import pyarrow as pa
import pytest

from crmsync.transforms import handoff
from crmsync.transforms.handoff import (Handoff, Slice, SliceWriter,
                                        attempt_name, file_name, load,
                                        read_slice, save)


def _index():
  """A value shaped like an enriched index: Arrow tables, numpy arrays and
  plain Python values side by side."""
  table = pa.table({"Email": pa.array(["a@x.com", None, "c@z.org", ""]),
                    "Seats": pa.array([1, 2, None, 4], pa.int64())})
  return {"name": "vendor", "table": table,
          "hashes": np.array([7, 3, 2**63 + 5], np.uint64),
          "rows": np.arange(1000, dtype=np.int64),
          "shared": {"a@x.com": [0, 3]}}


def test_round_trip_of_tables_arrays_and_python_values(tmp_path):
  value = _index()
  where = save(value, str(tmp_path / "v.index"), "vendor", ("Phone",))
  assert where[:3] == (str(tmp_path / "v.index"), "vendor", ("Phone",))
  assert len(where.digest) == 64
  back = load(where)
  assert back["name"] == "vendor" and back["shared"] == {"a@x.com": [0, 3]}
  assert back["table"].equals(value["table"])
  assert back["table"].column("Email").to_pylist() == [
      "a@x.com", None, "c@z.org", ""]
  assert back["hashes"].dtype == np.uint64
  assert back["hashes"].tolist() == [7, 3, 2**63 + 5]
  assert np.array_equal(back["rows"], np.arange(1000))


@pytest.mark.parametrize("value", [None, 0, "text", b"raw bytes", [],
                                   {"k": (1, 2.5)}])
def test_values_without_buffers_round_trip(tmp_path, value):
  assert load(save(value, str(tmp_path / "v"))) == value


def test_a_handoff_is_small_whatever_the_value(tmp_path):
  big = np.arange(1 << 18, dtype=np.int64)  # 2 MB
  where = save(big, str(tmp_path / "big"), "big", {"Phone": 3})
  assert len(pickle.dumps(where)) < 300
  assert pickle.loads(pickle.dumps(where)) == where
  assert os.path.getsize(where.path) > big.nbytes


def test_buffers_are_64_byte_aligned_and_mapped_from_the_file(tmp_path):
  marker = 0x0123456789ABCDEF
  rows = np.arange(512, dtype=np.int64)
  rows[300] = marker
  column = np.arange(512, dtype=np.int64)
  column[100] = marker + 1
  path = str(tmp_path / "v")
  back = load(save({"rows": rows, "table": pa.table({"c": column})}, path))
  arrow = back["table"].column("c").chunk(0)
  assert back["rows"].ctypes.data % 64 == 0
  assert arrow.buffers()[1].address % 64 == 0
  assert not back["rows"].flags.writeable  # a read-only mapping, no copy
  # Both buffers are views of the file: bytes changed on disk show through.
  with open(path, "r+b") as f:
    data = f.read()
    for old, new in ((marker, -1), (marker + 1, -2)):
      f.seek(data.index(np.int64(old).tobytes()))
      f.write(np.int64(new).tobytes())
  assert back["rows"][300] == -1 and back["rows"][299] == 299
  assert arrow[100].as_py() == -2 and arrow[101].as_py() == 101


def test_the_file_layout_starts_with_the_magic_and_pads_buffers(tmp_path):
  path = str(tmp_path / "v")
  save(np.array([1, 2, 3], np.int64), path)
  data = open(path, "rb").read()
  assert data.startswith(b"CRMSYNC\x01")
  assert len(data) % 64 == 24  # the only buffer starts at a multiple of 64
  assert data[-24:] == np.array([1, 2, 3], np.int64).tobytes()


@pytest.mark.parametrize("content", [b"ID,Email\n1,a@x.com\n",
                                     b"CRMSYNC", b"\x80\x05N."])
def test_a_file_that_is_not_a_handoff_file_is_refused(tmp_path, content):
  path = tmp_path / "not.index"
  path.write_bytes(content)
  with pytest.raises(ValueError,
                     match=f"^{re.escape(str(path))}: not a crmsync "
                           f"handoff file$"):
    load(Handoff(str(path), "x"))


def test_an_empty_file_is_refused_as_not_a_handoff_file(tmp_path):
  path = tmp_path / "empty.index"
  path.write_bytes(b"")
  with pytest.raises(ValueError, match="not a crmsync handoff file"):
    load(Handoff(str(path), "x"))


def test_a_missing_file_is_an_os_error(tmp_path):
  with pytest.raises(FileNotFoundError):
    load(Handoff(str(tmp_path / "gone.index"), "x"))


def test_slices_of_one_file_read_back_each_blob(tmp_path):
  path = str(tmp_path / "shuffle.arrows")
  blobs = [b"first", b"", b"\x00\x01\x02" * 100, b"last"]
  with SliceWriter(path) as out:
    where = [out.add(b) for b in blobs]
  assert where == [Slice(path, 0, 5, _sha256(blobs[0])),
                   Slice(path, 5, 0, _sha256(b"")),
                   Slice(path, 5, 300, _sha256(blobs[2])),
                   Slice(path, 305, 4, _sha256(blobs[3]))]
  assert os.path.getsize(path) == 309
  assert [read_slice(w) for w in reversed(where)] == blobs[::-1]


class _Trickle(io.RawIOBase):
  """A remote object's raw stream: at most 3 bytes per read."""

  def __init__(self, f):
    self._f = f

  def readable(self):
    return True

  def seekable(self):
    return True

  def seek(self, pos, whence=0):
    return self._f.seek(pos, whence)

  def readinto(self, b):
    data = self._f.read(min(len(b), 3))
    b[:len(data)] = data
    return len(data)

  def close(self):
    self._f.close()
    super().close()


class _ObjectStore:
  """FileSystems for `mem://` paths, backed by a local folder."""

  def __init__(self, root):
    self.root = root

  def _local(self, path):
    assert path.startswith("mem://"), path
    return os.path.join(self.root, path[len("mem://"):].replace("/", "_"))

  def create(self, path):
    return open(self._local(path), "wb")

  def open(self, path, compression_type):
    assert compression_type == "uncompressed"
    return io.BufferedReader(_Trickle(open(self._local(path), "rb")))


@pytest.fixture
def store(tmp_path, monkeypatch):
  fake = _ObjectStore(str(tmp_path))
  monkeypatch.setattr(handoff, "FileSystems", fake)
  return fake


def test_an_object_store_path_is_read_once_not_mapped(store):
  value = _index()
  back = load(save(value, "mem://bucket/run/v.index", "vendor"))
  assert back["table"].equals(value["table"])
  assert np.array_equal(back["rows"], value["rows"])
  assert back["hashes"].tolist() == [7, 3, 2**63 + 5]


def test_an_object_store_slice_is_read_whatever_the_read_sizes(store):
  with SliceWriter("mem://bucket/shuffle") as out:
    out.add(b"0123456789")
    middle = out.add(b"abcdefghijklmnopqrstuvwxyz")
    out.add(b"tail")
  assert middle == Slice("mem://bucket/shuffle", 10, 26,
                         _sha256(b"abcdefghijklmnopqrstuvwxyz"))
  assert read_slice(middle) == b"abcdefghijklmnopqrstuvwxyz"


def test_a_slice_past_the_end_of_a_remote_file_is_an_io_error(store):
  with SliceWriter("mem://bucket/short") as out:
    out.add(b"0123456789")
  with pytest.raises(IOError, match="^mem://bucket/short: ends before "
                                    "byte 15$"):
    read_slice(Slice("mem://bucket/short", 5, 10))


def _sha256(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


class _Planted:
  """Pickled, runs a command: what an attacker who can write to the
  temporary folder (often a shared bucket beside the output) would plant."""

  def __reduce__(self):
    return (os.system, ("touch planted-payload-ran",))


def test_a_planted_index_file_is_refused_before_unpickling(tmp_path,
                                                            monkeypatch):
  monkeypatch.chdir(tmp_path)
  where = save(_index(), str(tmp_path / "v.index"), "vendor")
  # The same layout, a pickle that runs a command.
  evil = save(_Planted(), str(tmp_path / "evil.index"))
  os.replace(evil.path, where.path)
  with pytest.raises(handoff.Tampered, match="v.index: not the file this "
                     "run wrote there"):
    load(where)
  assert not (tmp_path / "planted-payload-ran").exists()
  # A head cut short is refused too.
  save(_index(), where.path)
  data = (tmp_path / "v.index").read_bytes()
  (tmp_path / "v.index").write_bytes(data[:40])
  with pytest.raises(handoff.Tampered):
    load(where)


def test_a_planted_shuffle_slice_is_refused(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  path = str(tmp_path / "shuffle")
  with SliceWriter(path) as out:
    where = out.add(b"PKL5" + pickle.dumps([1, 2, 3]))
  with open(path, "wb") as f:
    f.write(b"PKL5" + pickle.dumps(_Planted()))
  with pytest.raises(handoff.Tampered, match="shuffle: not the file"):
    read_slice(where)
  assert not (tmp_path / "planted-payload-ran").exists()


def test_file_name_is_safe_short_and_distinct_for_distinct_names():
  assert file_name("vendor") == "vendor-" + _sha1("vendor")[:8]
  assert file_name("vendor") == file_name("vendor")
  a, b = file_name("a/b c"), file_name("a_b_c")
  assert a.startswith("a_b_c-") and b.startswith("a_b_c-") and a != b
  assert re.fullmatch(r"Caf_-[0-9a-f]{8}", file_name("Café"))
  long = file_name("x" * 100)
  assert long == "x" * 40 + "-" + _sha1("x" * 100)[:8]
  assert file_name("x" * 100) != file_name("x" * 101)
  for name in ("../../etc/passwd", "s3://bucket/key", "a\x00b", "名前"):
    assert re.fullmatch(r"[A-Za-z0-9_.-]{1,40}-[0-9a-f]{8}", file_name(name))
    assert "/" not in file_name(name)


def _sha1(text):
  import hashlib
  return hashlib.sha1(text.encode()).hexdigest()


def test_attempt_name_is_new_for_every_attempt():
  names = {attempt_name("fragments-vendor", ".arrows") for _ in range(50)}
  assert len(names) == 50
  for name in names:
    assert re.fullmatch(r"fragments-vendor-[0-9a-f]{12}\.arrows", name)
  assert re.fullmatch(r"x-[0-9a-f]{12}", attempt_name("x", ""))


def test_opened_once_loads_each_file_once_and_passes_values_through(
    tmp_path):
  opened = handoff.OpenedOnce()
  where = save(_index(), str(tmp_path / "decisions"), "decisions")
  first = opened(where)
  assert first["name"] == "vendor"
  os.remove(where.path)  # a second call reads nothing
  assert opened(where) is first
  plain = {"vendor": 1}
  assert opened(plain) is plain and opened(None) is None
