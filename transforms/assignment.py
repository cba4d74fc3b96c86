"""From scored candidate pairs to decisions: which vendor row each original
row takes from each source.

`decide` fits each source's model (transforms/scoring.py) on all its
candidate pairs, scores every pair, and assigns:

- `best` (default): a vendor row goes to the original row(s) it scores best
  with (rows scoring the same all get it: true duplicates in the CRM, unless
  its names disagree with one of them or theirs differ from each other:
  then it is a family or colleagues at one address that its names do not
  tell apart, and it goes to none of them but to clerical review), and an
  original row then takes its best remaining vendor row;
- `one_to_one`: greedily by match weight, each row on either side used
  once;
- `all`: every original row takes its best vendor row, whoever else did.

Only pairs whose match probability reaches `match.threshold` are assigned.
Ties go to the earlier key of the cascade, then to a row synthesised for
vendor duplicates over its members, then to the first vendor row in file
order, so the decisions are the same on any runner and worker count.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Dict, List, Optional

import apache_beam as beam
import numpy as np
import pyarrow as pa

from crmsync.transforms import handoff
from crmsync.transforms.ahead import default_threads
from crmsync.transforms.candidates import CandidatePairs, fixed_comparisons
from crmsync.transforms.comparisons import NULL, comparisons_of
from crmsync.transforms.gather import GatherAll
from crmsync.transforms.matching import SYNTHESISED
from crmsync.transforms.scoring import Model, fit, probability
from crmsync.transforms.spec import MergeSpec

ASSIGNMENTS = ("best", "one_to_one", "all")


@dataclass
class Pairs:
  """Pairs sorted by original row identity (then vendor identity:
  matching.vendor_identities). Where their evidence is asked for (see
  `evidence`): `levels` (comparisons x pairs, int8) and `column_weights`
  (comparisons x pairs, each column's share of the match weight), for the
  merge to write out on its own threads."""
  ids: np.ndarray
  vendor: np.ndarray
  keys: np.ndarray
  probability: np.ndarray
  weight: np.ndarray
  levels: Optional[np.ndarray] = None
  column_weights: Optional[np.ndarray] = None

  def evidence(self, model: Model) -> pa.Array:
    """Per pair, each column's level and weight (Model.evidence)."""
    return model.evidence(self.levels, self.column_weights)

  def of(self, ids: np.ndarray):
    """(positions in `ids` that have a pair, their pairs' indexes); one pair
    per original row (Decisions keep one)."""
    at = np.searchsorted(self.ids, ids)
    inside = at < self.ids.size
    hit = np.zeros(ids.size, bool)
    hit[inside] = self.ids[at[inside]] == ids[inside]
    return np.flatnonzero(hit), at[hit]

  def all_of(self, ids: np.ndarray):
    """(positions in `ids`, pair indexes) for every pair of those rows."""
    left = np.searchsorted(self.ids, ids, "left")
    right = np.searchsorted(self.ids, ids, "right")
    counts = right - left
    rows = np.repeat(np.arange(ids.size), counts)
    starts = np.repeat(left - np.cumsum(counts) + counts, counts)
    return rows, starts + np.arange(int(counts.sum()))

  def take(self, keep, explained: bool = True) -> "Pairs":
    """The pairs `keep` selects; their evidence unless not `explained`."""
    explained = explained and self.levels is not None
    return Pairs(self.ids[keep], self.vendor[keep], self.keys[keep],
                 self.probability[keep], self.weight[keep],
                 self.levels[:, keep] if explained else None,
                 self.column_weights[:, keep] if explained else None)


@dataclass
class SourceDecisions:
  """One source's model, its matches, the confirm-key pairs the model put
  below the threshold (rejected_matches.csv), and the pairs for clerical
  review (between match.review_threshold and match.threshold, undecided:
  review.csv)."""
  model: Model
  matches: Pairs
  below: Pairs
  review: Pairs
  pairs_scored: int
  decided: int  # pairs a match.decisions file decided


def _first_per(group: np.ndarray, order: np.ndarray) -> np.ndarray:
  """Positions (in `order`'s order) of the first pair of each group."""
  g = group[order]
  first = np.ones(order.size, bool)
  first[1:] = g[1:] != g[:-1]
  return order[first]


def assign(ids, vendor, keys, weight, assignment: str,
           own_rows: int = 1 << 62) -> np.ndarray:
  """Which pairs are matches (a mask), among pairs already at or above the
  threshold. Vendor rows from `own_rows` on were synthesised for duplicates
  (matching.EnrichedIndex): on a tie with one of their members they win, so
  the duplicates policy applies to true duplicates."""
  n = ids.size
  keep = np.ones(n, bool)
  if not n:
    return keep
  member = vendor < own_rows
  if assignment == "best":
    keep = weight >= _best_per_vendor(vendor, weight)[vendor]
  elif assignment == "one_to_one":
    order = np.lexsort((vendor, member, ids, keys, -weight))
    keep = np.zeros(n, bool)
    used_o, used_v = set(), set()
    for i in order.tolist():
      o, v = int(ids[i]), int(vendor[i])
      if o not in used_o and v not in used_v:
        used_o.add(o)
        used_v.add(v)
        keep[i] = True
    return keep
  at = np.flatnonzero(keep)
  order = at[np.lexsort((vendor[at], member[at], keys[at], -weight[at],
                         ids[at]))]
  chosen = np.zeros(n, bool)
  chosen[_first_per(ids, order)] = True
  return chosen


def _best_per_vendor(vendor: np.ndarray, weight: np.ndarray) -> np.ndarray:
  """Per vendor row (by index), its best weight with any original row;
  -inf for rows without pairs."""
  top = np.full(int(vendor.max()) + 1, -np.inf)
  np.maximum.at(top, vendor, weight)
  return top


def ambiguous_ties(vendor, weight, names_agree,
                   original_names=None) -> np.ndarray:
  """Pairs of vendor rows that score best with several original rows that
  cannot all be it (a mask, all of such a row's pairs): its names disagree
  with one of them ("Jacob Widmann" at an address where the CRM has Ant,
  Pablo and Benjamin Widmann and no Jacob scores the same with each), or
  their names (`original_names`, a hash per pair) differ from each other
  (a vendor row with only the surname Price, at an address where the CRM
  has Myia, Maggie and Evelyn Price). Rows with the same names are one
  person entered twice in the CRM: they all get it."""
  ambiguous = np.zeros(vendor.size, bool)
  if not vendor.size:
    return ambiguous
  top = _best_per_vendor(vendor, weight)
  best = weight >= top[vendor]
  tied = np.bincount(vendor[best], minlength=top.size) > 1
  doubt = np.zeros(top.size, bool)
  doubt[vendor[best & tied[vendor] & ~names_agree]] = True
  if original_names is not None:
    at = np.flatnonzero(best & tied[vendor])
    first = np.full(top.size, 0, np.uint64)
    first[vendor[at][::-1]] = original_names[at][::-1]  # the first one's
    doubt[vendor[at][original_names[at] != first[vendor[at]]]] = True
  ambiguous[doubt[vendor]] = True  # all its pairs: not its next best either
  return ambiguous


def names_agree(levels: np.ndarray, comparisons) -> np.ndarray:
  """Per pair: no name column both rows fill is at "else" or below."""
  agree = np.ones(levels.shape[1], bool)
  for row, c in zip(levels, comparisons):
    if c.kind == "name":
      agree &= (row == NULL) | (row > c.else_level)
  return agree


def _decided(spec: MergeSpec, source: str, ids, lines, vendor_files,
             vendor_lines) -> np.ndarray:
  """Per pair: +1 where match.decisions says match, -1 no-match, else 0."""
  verdict = np.zeros(ids.size, np.int8)
  wanted = {(f, line, vf, vl): 1 if is_match else -1
            for f, line, s, vf, vl, is_match in spec.decisions if s == source}
  if not wanted:
    return verdict
  files = (ids >> 40).tolist()
  for i, pair in enumerate(zip(files, lines.tolist(), vendor_files.tolist(),
                               vendor_lines.tolist())):
    verdict[i] = wanted.get(pair, 0)
  return verdict


def _mixed_groups(ids, vendor, groups, weight) -> np.ndarray:
  """Pairs with a row synthesised for vendor duplicates whose members do
  not all belong to that original row (a mask): one of them scores worse
  with it (a shared inbox in the vendor file holds someone else too), or
  scores better with another original row (two Timothy Bates in one town,
  each at their own street). The row is then matched through its own
  member, never through the group."""
  member = np.flatnonzero(groups >= 0)
  mixed = np.zeros(ids.size, bool)
  if not member.size:
    return mixed
  # The worst member's weight per (original row, synthesised row).
  pair = np.stack([ids[member], groups[member]])
  keys, inverse = np.unique(pair, axis=1, return_inverse=True)
  worst = np.full(keys.shape[1], np.inf)
  np.minimum.at(worst, inverse.ravel(), weight[member])
  # Per synthesised row, its members' best weight with any original row.
  best_member = np.full(int(max(vendor.max(), groups.max())) + 1, -np.inf)
  np.maximum.at(best_member, groups[member],
                _best_per_vendor(vendor, weight)[vendor[member]])
  synthesised = np.flatnonzero(np.isin(vendor, keys[1]))
  codes = {(int(o), int(g)): i for i, (o, g) in enumerate(keys.T.tolist())}
  for i in synthesised.tolist():
    at = codes.get((int(ids[i]), int(vendor[i])))
    if at is not None and (worst[at] < weight[i] - 1e-9 or
                           best_member[int(vendor[i])] > weight[i] + 1e-9):
      mixed[i] = True
  return mixed


def _pair_order(ids: np.ndarray, vendor_ids: np.ndarray) -> np.ndarray:
  """The order that sorts pairs by (original, vendor) identity: none to
  do when they come sorted."""
  if ((ids[1:] > ids[:-1]) |
      ((ids[1:] == ids[:-1]) & (vendor_ids[1:] > vendor_ids[:-1]))).all():
    return np.arange(ids.size)
  return np.lexsort((vendor_ids, ids))


def _dense(vendor_ids: np.ndarray, groups: np.ndarray):
  """(vendor rows, their groups (-1: none), the first synthesised row)
  numbered 0.. in the order of their identities: own rows in file order,
  then the rows synthesised for duplicates (matching.SYNTHESISED)."""
  grouped = groups >= 0
  distinct, inverse = np.unique(
      np.concatenate([vendor_ids, groups[grouped]]), return_inverse=True)
  inverse = inverse.ravel()
  vendor = inverse[:vendor_ids.size]
  dense_groups = np.full(groups.size, -1, np.int64)
  dense_groups[grouped] = inverse[vendor_ids.size:]
  return vendor, dense_groups, int(np.searchsorted(distinct, SYNTHESISED))


def decide(batches: List[CandidatePairs], spec: MergeSpec
           ) -> Dict[str, SourceDecisions]:
  """Source name -> its SourceDecisions, from every batch's
  CandidatePairs."""
  comparisons = comparisons_of(spec)
  fixed = fixed_comparisons(spec, comparisons)
  confirm_keys = np.array([bool(k.confirm) for k in spec.keys])
  out = {}
  for source in sorted({b.source for b in batches}):
    # Each batch's pairs come sorted by (row, vendor identity), and batches
    # do not overlap: in the order of their first row, they need no sort.
    mine = sorted((b for b in batches if b.source == source),
                  key=lambda b: b.ids[0] if b.ids.size else -1)

    def joined(field):
      return np.concatenate([getattr(b, field) for b in mine])
    ids, vendor_ids = joined("ids"), joined("vendor")
    order = _pair_order(ids, vendor_ids)
    ids, vendor_ids, keys = ids[order], vendor_ids[order], joined("keys")[
        order]
    vendor, groups, own_rows = _dense(vendor_ids, joined("groups")[order])
    original_names = joined("original_names")[order]
    levels = np.concatenate([b.levels for b in mine], axis=1)[:, order]
    tf = np.concatenate([b.log2_tf for b in mine], axis=1)[:, order]
    random_counts = [sum(b.random_counts[c] for b in mine)
                     for c in range(len(comparisons))]
    model = fit(source, comparisons, levels, keys, fixed, random_counts,
                mine[0].tf_mean,
                (sum(b.original_rows for b in mine), mine[0].vendor_rows),
                mine[0].supplied)
    columns = model.column_weights(levels, tf)
    weight = model.prior_weight + columns.sum(axis=0)  # Model.match_weight
    verdict = (_decided(spec, source, ids, joined("lines")[order],
                        joined("vendor_files")[order],
                        joined("vendor_lines")[order])
               if spec.decisions else np.zeros(ids.size, np.int8))
    weight[verdict > 0], weight[verdict < 0] = np.inf, -np.inf
    mixed = _mixed_groups(ids, vendor, groups, weight)
    weight[mixed] = -np.inf
    prob = probability(weight)
    above = prob >= spec.threshold
    ambiguous = np.zeros(ids.size, bool)
    if spec.assignment == "best":
      ambiguous[above] = ambiguous_ties(
          vendor[above], weight[above],
          (names_agree(levels, comparisons) | (verdict > 0))[above],
          original_names[above])
      ambiguous[verdict > 0] = False  # a decision is not in doubt
    taken = above & ~ambiguous
    matched = np.zeros(ids.size, bool)
    matched[np.flatnonzero(taken)[assign(
        ids[taken], vendor[taken], keys[taken], weight[taken],
        spec.assignment, own_rows)]] = True
    review = ((~above | ambiguous) & (prob >= spec.review_threshold) &
              (verdict == 0) & ~mixed)
    pairs = Pairs(ids, vendor_ids, keys, prob, weight, levels, columns)
    # A confirm key's pairs the model put below review: rejected matches.
    below = ~above & ~review & (verdict == 0) & ~mixed & confirm_keys[keys]
    out[source] = SourceDecisions(
        model, pairs.take(matched, explained=spec.match_columns),
        pairs.take(below, explained=False), pairs.take(review),
        int(ids.size), int((verdict != 0).sum()))
  return out


def opened_all(values: list) -> list:
  """Each value, or what its Handoff stands for, the files read on a thread
  per core: from an object store each read waits on the network."""
  with ThreadPoolExecutor(default_threads()) as pool:
    return list(pool.map(handoff.opened, values))


class Decide(beam.PTransform):
  """CandidatePairs (one element per original batch and source) -> one
  element: decide's source name -> SourceDecisions, in either join.

  With `folder` (one every worker can reach, such as the run's temporary
  folder), each element is written there and travels as a small Handoff
  (transforms/handoff.py): a job's pairs run to hundreds of megabytes, which
  the runner would copy through its data plane and group in memory. The
  decisions then travel as a Handoff too (handoff.opened reads either)."""

  def __init__(self, spec: MergeSpec, folder: Optional[str] = None):
    super().__init__()
    self._spec, self._folder = spec, folder

  def expand(self, pairs):
    spec, folder = self._spec, self._folder
    if folder is not None:
      pairs = pairs | "Park" >> beam.Map(lambda p: handoff.save_in(
          folder, p.source, ".pairs", p))
    decided = (pairs
               | "AllPairs" >> GatherAll()
               | "Decide" >> beam.Map(lambda every: decide(
                   opened_all(every), spec)))
    if folder is None:
      return decided
    return decided | "Handoff" >> beam.Map(lambda d: handoff.save_in(
        folder, "decisions", ".decisions", d))
