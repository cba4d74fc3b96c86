"""Property: for random small inputs, `crmsync run` writes what a plain
Python merge, written here from the documented rules, gives: the first
enriched row per normalized email, sources in priority order, fill_empty,
new columns appended, original order kept, and every row accounted for."""

import csv
import io
import os
import tempfile

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import read_csv
from crmsync.pipelines.cli import main

LOCALS = ["ann", "bob", "cy", "dee"]
# Plain values: no formula triggers, no leading or trailing spaces.
VALUE = st.sampled_from(["", "x", "y z", "Acme, Inc.", 'say "hi"', "line\nbreak",
                         "42", "-5", "é"])


@st.composite
def email(draw):
  """A valid address in random case with stray spaces, or no address."""
  if draw(st.integers(0, 5)) == 0:
    return draw(st.sampled_from(["", "not an email", "   "]))
  local = draw(st.sampled_from(LOCALS))
  address = f"{local}@example.com"
  address = "".join(c.upper() if draw(st.booleans()) else c for c in address)
  return draw(st.sampled_from(["", " ", "  "])) + address + draw(
      st.sampled_from(["", " "]))


def normalized(address: str):
  a = address.strip().lower()
  return a if "@" in a else None


def rows_of(draw_rows, width):
  return st.lists(st.tuples(email(), *[VALUE] * width), max_size=draw_rows)


def reference_merge(original, sources):
  """original: [(ID, Email, Name)]; sources: [[(Email, Name, Score)]]."""
  merged = []
  for rid, address, name in original:
    key = normalized(address)
    scores, candidate = [], ""
    for rows in sources:
      hit = next((r for r in rows if key and normalized(r[0]) == key), None)
      scores.append(hit[2] if hit else "")
      if hit and not candidate and hit[1]:
        candidate = hit[1]
    merged.append([rid, address, name if name else candidate] + scores)
  return merged


def write(path, header, rows):
  buf = io.StringIO()
  csv.writer(buf, lineterminator="\n").writerows([header] + list(rows))
  with open(path, "w", encoding="utf-8", newline="") as f:
    f.write(buf.getvalue())


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(original=st.lists(st.tuples(email(), VALUE), max_size=12),
       sources=st.lists(st.lists(st.tuples(email(), VALUE, VALUE),
                                 max_size=8), min_size=1, max_size=2),
       shards=st.integers(1, 3), batch_rows=st.integers(1, 5),
       join=st.sampled_from(["broadcast", "partitioned"]))
def test_merge_equals_a_plain_python_merge(original, sources, shards,
                                           batch_rows, join):
  original = [(str(i), a, n) for i, (a, n) in enumerate(original)]
  with tempfile.TemporaryDirectory() as root:
    write(os.path.join(root, "crm.csv"), ["ID", "Email", "Name"], original)
    enriched = []
    for k, rows in enumerate(sources):
      path = os.path.join(root, f"vendor{k}.csv")
      write(path, ["Email", "Name", f"Score{k}"], rows)
      enriched.append({"path": path, "name": f"v{k}",
                       "keep": ["Name", f"Score{k}"]})
    config = {
        "original": {"path": os.path.join(root, "crm.csv")},
        "enriched": enriched,
        "match": {"keys": [{"name": "email", "normalize": "email",
                            "columns": ["Email"]}]},
        "conflicts": {"default": "fill_empty"}, "duplicates": "first",
        "join": join, "join_partitions": 3,
        "output": {"path": os.path.join(root, "out", "merged"),
                   "shards": shards},
    }
    with open(os.path.join(root, "job.yaml"), "w") as f:
      yaml.safe_dump(config, f)
    assert main(["run", os.path.join(root, "job.yaml"),
                 f"--batch_rows={batch_rows}"]) == 0
    out = []
    for s in range(shards):
      data = read_csv(os.path.join(
          root, "out", f"merged-{s:05d}-of-{shards:05d}.csv"))
      assert data[0] == ["ID", "Email", "Name"] + [
          f"Score{k}" for k in range(len(sources))]
      out += data[1:]
    assert out == reference_merge(original, sources)
