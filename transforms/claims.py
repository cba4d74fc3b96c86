"""The exact cascade's assignment: which original rows a vendor row goes to
when no scoring model decides (transforms/assignment.py does it with one).

Each original row claims the vendor row of the first key that hits it.
Two rules then keep a vendor row out of a second person's record:

- **earliest key**: a vendor row goes only to the original rows that claim
  it at its earliest key. When its email finds one original row and its
  name + ZIP a namesake (whose own first hit it is), the namesake does not
  get it;
- **ambiguous**: a vendor row that several original rows claim at its
  earliest key goes to none of them when that key does not identify a
  person (anything but one email or phone column): two Landon Smiths at
  one ZIP that no key tells apart. Several original rows sharing one email
  or phone number are one person entered twice: they all get it.

An original row refused this way goes on down the cascade. The claims are
each original row's first hit (after `confirm` and the names check) with
no rule applied, gathered in a pass over the original before the merge,
so the rules are the same on any runner, worker count and join.

They apply to the sources of a cascade without scoring whose exact keys
include one that does not identify (`needed`); a source matched by email
and phone keys alone is merged in one pass.
"""

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from crmsync.transforms.spec import MatchKey, MergeSpec

# Hit rows -> the vendor rows behind them: (their identities in order,
# how many per hit row; a row synthesised for duplicates stands for its
# group).
Members = Callable[[np.ndarray], Tuple[np.ndarray, np.ndarray]]


def identifying(key: MatchKey) -> bool:
  """One email or phone column: several original rows sharing its value
  are one person entered twice."""
  return (not key.fuzzy and len(key.columns) == 1 and
          key.normalizers[0] in ("email", "phone"))


def needed(spec: MergeSpec, key_names=None) -> bool:
  """The job's cascade (or a source's, matched by the keys `key_names`)
  applies the rules: no scoring, and an exact key that does not
  identify."""
  return not spec.scoring and any(
      not k.fuzzy and not identifying(k) for k in spec.keys
      if key_names is None or k.name in key_names)


def hit_identities(ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
  """One identity per hit row, from its Members: a source row's own, or
  for a row synthesised for duplicates (a group: vendor rows sharing one
  key value) one of its group's (negative: never a row's)."""
  out = np.zeros(counts.size, np.int64)
  single = counts == 1
  starts = _starts(counts)
  out[single] = ids[starts[single]]
  for i in np.flatnonzero(~single).tolist():
    group = np.sort(ids[starts[i]:starts[i] + counts[i]])
    digest = hashlib.blake2b(group.tobytes(), digest_size=8).digest()
    out[i] = -1 - (int.from_bytes(digest, "little") >> 1)
  return out


def _starts(counts: np.ndarray) -> np.ndarray:
  return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


# An original batch: (file rank, byte offset of its first row).
BatchId = Tuple[int, int]


@dataclass
class FirstHits:
  """One original batch's claims on one source: per original row with an
  exact key's hit, the identity of the vendor row (hit_identities) and
  the cascade position of the key; the members of the groups hit; and,
  where the join looked them up, each row's hits by the keys that do not
  identify (key name -> source row per original row, -1: none), which
  the merge then takes instead of normalising those keys again."""
  source: str
  originals: np.ndarray  # int64 original row identities
  keys: np.ndarray  # int8
  vendor: np.ndarray  # int64 vendor row identities
  group_members: np.ndarray  # int64
  batch: Optional[BatchId] = None
  lookups: Optional[Dict[str, np.ndarray]] = None


def first_hits(source: str, originals: np.ndarray, hit: np.ndarray,
               how: np.ndarray, spec: MergeSpec,
               members: Members, batch: Optional[BatchId] = None,
               lookups: Optional[Dict[str, np.ndarray]] = None
               ) -> FirstHits:
  """The claims of one batch's cascade (join.SourceMatch's `hit` and
  `how`, per original row) with exact keys."""
  exact = np.array([not k.fuzzy for k in spec.keys] + [False])
  rows = np.flatnonzero(exact[how])
  ids, counts = members(hit[rows])
  in_group = np.repeat(counts > 1, counts)
  return FirstHits(source, originals[rows], how[rows].astype(np.int8),
                   hit_identities(ids, counts), np.unique(ids[in_group]),
                   batch, lookups)


@dataclass
class Claims:
  """One source's vendor rows whose claims matter: claimed by several
  original rows, or members of a claimed group. Their identities
  (sorted), earliest claiming key, and whether they are ambiguous."""
  vendor: np.ndarray
  earliest: np.ndarray
  ambiguous: np.ndarray
  # FirstHits.lookups by batch, where the join made them.
  lookups: Dict[BatchId, Dict[str, np.ndarray]] = field(
      default_factory=dict)

  def allowed(self, k: int, ids: np.ndarray, counts: np.ndarray
              ) -> np.ndarray:
    """Per hit row at key `k`, given its Members: may it be taken. A
    group's hit is refused too when one of its members went to an
    original row at an earlier key (two John Smiths each matched by
    email, and a third John Smith's name hitting both); a member's own
    hit is not refused for its group's claims (at a shared inbox in the
    vendor file the others are other people)."""
    ok = self._lookup(k, hit_identities(ids, counts), True)
    groups = np.flatnonzero(counts > 1)
    if groups.size:
      member_ok = self._lookup(k, ids, False)
      each = np.logical_and.reduceat(member_ok, _starts(counts))
      ok[groups] &= each[groups]
    return ok

  def _lookup(self, k: int, ids: np.ndarray, ambiguity: bool):
    ok = np.ones(ids.size, bool)
    if self.vendor.size and ids.size:
      at = np.minimum(np.searchsorted(self.vendor, ids),
                      self.vendor.size - 1)
      known = self.vendor[at] == ids
      ok[known] = self.earliest[at[known]] >= k
      if ambiguity:
        ok[known] &= ~self.ambiguous[at[known]]
    return ok


def decide_claims(hits: List[FirstHits], spec: MergeSpec
                  ) -> Dict[str, Claims]:
  """Source name -> its Claims, from every batch's FirstHits."""
  weak = np.array([not identifying(k) for k in spec.keys])
  out = {}
  for source in sorted({h.source for h in hits}):
    mine = [h for h in hits if h.source == source]
    vendor = np.concatenate([h.vendor for h in mine])
    originals = np.concatenate([h.originals for h in mine])
    keys = np.concatenate([h.keys for h in mine]).astype(np.int64)
    grouped = np.unique(np.concatenate([h.group_members for h in mine]))
    # One claim per (vendor row, original row): its key.
    order = np.lexsort((keys, originals, vendor))
    vendor, originals, keys = vendor[order], originals[order], keys[order]
    first = np.ones(vendor.size, bool)
    first[1:] = ((vendor[1:] != vendor[:-1]) |
                 (originals[1:] != originals[:-1]))
    vendor, keys = vendor[first], keys[first]
    lookups = {h.batch: h.lookups for h in mine if h.lookups is not None}
    if not vendor.size:
      out[source] = Claims(vendor, keys.astype(np.int8), vendor > 0,
                           lookups)
      continue
    rows, start, claimants = np.unique(vendor, return_index=True,
                                       return_counts=True)
    earliest = np.minimum.reduceat(keys, start)
    at_earliest = keys == np.repeat(earliest, claimants)
    tied = np.add.reduceat(at_earliest.astype(np.int64), start)
    kept = (claimants > 1) | np.isin(rows, grouped)
    out[source] = Claims(rows[kept], earliest[kept].astype(np.int8),
                         (tied[kept] > 1) & weak[earliest[kept]], lookups)
  return out
