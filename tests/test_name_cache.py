"""The given-name tables kept on disk (transforms/name_cache.py): the
arrays read back are the ones built, a damaged or unwritable cache is
ignored, and a new version of what they derive from gets new ones."""

import os

import numpy as np

from crmsync.transforms import name_cache


def _build(calls):
  def build():
    calls.append(1)
    return (np.array([3, 1, 2], np.uint64), np.array([], np.uint64))
  return build


def test_built_once_then_read_back(tmp_path, monkeypatch):
  monkeypatch.setenv("CRMSYNC_CACHE", str(tmp_path))
  calls = []
  first = name_cache.cached_arrays("t", _build(calls))
  again = name_cache.cached_arrays("t", _build(calls))
  assert calls == [1]
  assert [a.tolist() for a in again] == [a.tolist() for a in first] == [
      [3, 1, 2], []]
  assert again[0].dtype == np.uint64


def test_a_damaged_cache_is_built_again(tmp_path, monkeypatch):
  monkeypatch.setenv("CRMSYNC_CACHE", str(tmp_path))
  calls = []
  name_cache.cached_arrays("t", _build(calls))
  [saved] = os.listdir(tmp_path)
  (tmp_path / saved).write_bytes(b"not an npz")
  assert name_cache.cached_arrays("t", _build(calls))[0].tolist() == [3, 1, 2]
  assert calls == [1, 1]


def test_an_unwritable_cache_still_gives_the_arrays(tmp_path, monkeypatch):
  (tmp_path / "file").write_text("")
  monkeypatch.setenv("CRMSYNC_CACHE", str(tmp_path / "file" / "crmsync"))
  calls = []
  assert name_cache.cached_arrays("t", _build(calls))[0].tolist() == [3, 1, 2]
  assert name_cache.cached_arrays("t", _build(calls))[0].tolist() == [3, 1, 2]
  assert calls == [1, 1]


def test_a_new_version_of_the_sources_names_a_new_file(tmp_path,
                                                       monkeypatch):
  monkeypatch.setenv("CRMSYNC_CACHE", str(tmp_path))
  name_cache.cached_arrays("t", _build([]))
  monkeypatch.setattr(name_cache.importlib.metadata, "version",
                      lambda package: "99.0")
  calls = []
  name_cache.cached_arrays("t", _build(calls))
  assert calls == [1] and len(os.listdir(tmp_path)) == 2
