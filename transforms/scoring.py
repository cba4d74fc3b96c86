"""The Fellegi-Sunter model: m and u probabilities per comparison level,
estimated from each job's own pairs, and the match weight of a pair.

As Splink documents it (https://moj-analytical-services.github.io/splink/
topic_guides/theory/fellegi_sunter.html): for each compared column and
level, m = P(level | the rows are the same person) and u = P(level | they
are not); a pair's match weight is log2(prior odds) + the sum over columns
of log2(m / u), a blank side adding nothing; its match probability is
2^w / (1 + 2^w).

- u comes from random pairs (sampled original rows, each paired with four
  rows of a sample of vendor rows, all picked by stable hashes:
  transforms/candidates.py), with a weak prior for small jobs.
- m comes from expectation-maximisation on the candidate pairs, one session
  per key (a key's own columns agree by construction, so they are left out
  of its session; Splink trains per blocking rule the same way), each
  column's m the mean of the sessions that estimated it.
- The exact level's weight is adjusted for how common the value is (Splink's
  term-frequency adjustment): + log2(mean tf / tf), tf being the value's
  frequency among the vendor's rows and mean tf the sum of squared
  frequencies, so a shared inbox or a common surname says less than a rare
  one.

Everything is computed from counts of distinct level patterns, so the model
depends only on the set of pairs, not on batch or worker order.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms.comparisons import NULL, Comparison
from crmsync.transforms.rows import append_part

EM_ITERATIONS = 40
EM_TOLERANCE = 1e-6
# m and u are kept inside (FLOOR, 1 - FLOOR): a level never seen in a
# sample is rare, not impossible.
FLOOR = 1e-6
# People change jobs, inboxes and numbers, and vendors type names their own
# way: among true matches, a column's "else" level is never taken to be
# rarer than this, so no single column disagreeing can veto a pair that
# everything else says is the same person.
MIN_M_ELSE = 0.05
# Pseudo-pairs of the priors (initial_m, default_u) added to what a job's
# pairs say: they matter only where a job has few pairs.
M_PRIOR_PAIRS = 20
U_PRIOR_PAIRS = 50
# The chance that two random people share a given name, for a job too small
# to count it: the median over the 54 countries of gender-guesser's
# nam_dict.txt of the sum of squared name frequencies (tests/test_scoring.py
# recomputes it). Other columns' exact u defaults to DEFAULT_U_EXACT.
GIVEN_NAME_COINCIDENCE = 0.006
DEFAULT_U_EXACT = 0.001
# The match prior, for a job too small to estimate it: Splink's default
# probability that two random records match, worth PRIOR_PAIRS pairs.
DEFAULT_PRIOR = 1e-4
PRIOR_PAIRS = 50
# Except for given names: two different known given names (John and Joan,
# Michael and Michelle) are two people far more often than a typo. Their
# "else" m is kept between these bounds: the candidate pairs of an email key
# hold colleagues behind a shared inbox, who agree on everything but their
# names, and EM would take some of them for matches.
MIN_M_ELSE_GIVEN_NAME = 0.005
MAX_M_ELSE_GIVEN_NAME = 0.01
# Given names of different sexes (Robert and Roberta, Michael and Michelle)
# are two people but for a slip of the keyboard: their m is kept at most
# this, so that a colleague with the same surname at the same address is
# not taken for the person the CRM holds.
MAX_M_DIFFERENT_SEXES = 0.0001
# And for family names: among true matches, an unrelated family name (not
# similar, not a prefix, not swapped with the given name, not a
# placeholder) is a name changed since the CRM took it down, mostly at a
# marriage: about 0.5% of people a year (CDC/NCHS: 6.1 marriages per 1,000
# people in 2019; Pew Research 2023: 79% of married women took their
# husband's name), a few years' worth. EM cannot tell it from the
# colleagues and relatives among the candidate pairs (same first name, same
# company or address), so it is kept at most this.
MAX_M_ELSE_SURNAME = 0.02
# A place's rarest column with a mean term frequency below this has more
# than a hundred distinct values: see _place_u.
LARGE_FILE_TF = 0.01


def initial_m(levels: int) -> np.ndarray:
  """A starting m for EM: most matches agree exactly, few fall in 'else'."""
  m = 2.0 ** np.arange(levels)
  m[-1] = m[:-1].sum() * 4
  return m / m.sum()


@dataclass
class Model:
  """One source's model. `m` and `u`: one array per comparison, indexed by
  level; `prior`: the probability that a random (original, vendor) pair is
  the same person."""
  source: str
  comparisons: Tuple[Comparison, ...]
  m: List[np.ndarray]
  u: List[np.ndarray]
  prior: float
  trained: Tuple[bool, ...]  # per comparison: m estimated (else initial_m)
  # Per comparison: the vendor's mean term frequency (None: no TF).
  tf_mean: Tuple[Optional[float], ...] = ()
  # Per comparison: the source supplies it, its "else" weighs nothing.
  supplied: Tuple[bool, ...] = ()

  def level_weights(self) -> List[np.ndarray]:
    """log2(m / u) per comparison and level."""
    return [np.log2(m) - np.log2(u) for m, u in zip(self.m, self.u)]

  def column_weights(self, levels: np.ndarray,
                     log2_tf: Optional[np.ndarray] = None) -> np.ndarray:
    """Each column's share of each pair's match weight (comparisons x
    pairs): levels (int8, NULL for a blank side) and log2_tf (float32: log2
    of the pair's value's frequency among the vendor's rows where the level
    is exact, else NaN)."""
    levels = neutral_else(levels, self.comparisons, self.supplied)
    out = np.zeros(levels.shape, np.float64)
    for c, lw in enumerate(self.level_weights()):
      row = levels[c]
      # NULL (-1) reads the appended 0: a blank side weighs nothing.
      out[c] = np.append(lw, 0.0)[row]
      mean = self.tf_mean[c] if self.tf_mean else None
      if log2_tf is not None and mean:
        tf = log2_tf[c]
        adjust = np.flatnonzero((row == len(lw) - 1) & ~np.isnan(tf))
        # Splink's term-frequency adjustment: log2(mean tf / the value's).
        out[c, adjust] += np.log2(mean) - tf[adjust]
    return out

  @property
  def prior_weight(self) -> float:
    return float(np.log2(self.prior / (1 - self.prior)))

  def match_weight(self, levels: np.ndarray,
                   log2_tf: Optional[np.ndarray] = None) -> np.ndarray:
    """The match weight of each pair (see column_weights)."""
    return self.prior_weight + self.column_weights(levels, log2_tf).sum(
        axis=0)

  def evidence(self, levels: np.ndarray, weights: np.ndarray) -> pa.Array:
    """Per pair (a string array), the level and weight of each compared
    column, as review.csv and _match_detail show them ("Email: exact
    +12.7; ..."). Built with Arrow's string kernels, column by column: no
    format per pair and column."""
    out = pa.repeat(pa.scalar("", pa.string()), levels.shape[1])
    for c, comparison in enumerate(self.comparisons):
      filled = levels[c] != NULL
      if not filled.any():
        continue
      labels = pa.array([f"{comparison.column}: {label} "
                         for label in comparison.levels], pa.string())
      distinct, at = np.unique(weights[c], return_inverse=True)
      shown = pa.array([f"{w:+.1f}" for w in distinct.tolist()], pa.string())
      part = pc.binary_join_element_wise(
          labels.take(pa.array(np.where(filled, levels[c], 0))),
          shown.take(pa.array(at.ravel())), "")
      out = append_part(out, part, "; ", filled)
    return out

  def to_json(self) -> dict:
    """For match_weights.json: m, u and the weight of every level."""
    return {
        "source": self.source,
        "probability_two_random_records_match": self.prior,
        "prior_match_weight": self.prior_weight,
        "comparisons": [{
            "column": c.column, "kind": c.kind,
            "m_estimated": trained,
            "supplied_by_the_source": supplied,
            "levels": [{"level": name, "m": float(m[i]), "u": float(u[i]),
                        "match_weight": float(np.log2(m[i] / u[i])),
                        "term_frequency_adjusted": (
                            i == c.exact and c.kind != "place" and
                            bool(self.tf_mean) and
                            self.tf_mean[k] is not None)}
                       for i, name in enumerate(c.levels)],
        } for k, (c, m, u, trained, supplied) in enumerate(zip(
            self.comparisons, self.m, self.u, self.trained,
            self.supplied or (False,) * len(self.comparisons)))],
    }


def probability(weight: np.ndarray) -> np.ndarray:
  """Match probability of a match weight: 2^w / (1 + 2^w)."""
  return 1.0 / (1.0 + np.exp2(-np.asarray(weight, np.float64)))


def default_u(levels: int, else_level: int = 0,
              exact: float = DEFAULT_U_EXACT) -> np.ndarray:
  """A prior for u: most random pairs disagree (at "else" or below), few
  agree exactly (`exact`)."""
  u = np.full(levels, 0.049 / max(levels - 2 - else_level, 1))
  u[:else_level + 1], u[-1] = 0.95 / (else_level + 1), exact
  return u / u.sum()


def u_probabilities(comparison: Comparison, random_counts: np.ndarray,
                    tf_mean: Optional[float]) -> np.ndarray:
  """u per level: the proportions seen among random pairs, with default_u
  worth U_PRIOR_PAIRS pairs added (a small job has few random pairs; an
  unseen level is rare, not impossible). A place's "all agree" is too rare
  among random pairs to be counted; it is taken as the chance that two
  random rows share the value of its rarest column (`tf_mean`), the upper
  bound of that chance: conservative on purpose, since the people who
  share a whole place (colleagues) are not a random sample."""
  levels = len(comparison.levels)
  counts = (np.asarray(random_counts, np.float64) +
            U_PRIOR_PAIRS * default_u(
                levels, comparison.else_level,
                GIVEN_NAME_COINCIDENCE if comparison.given_name
                else DEFAULT_U_EXACT))
  u = counts / counts.sum()
  if comparison.kind == "place" and tf_mean is not None:
    u = _place_u(u, tf_mean)
  u = np.clip(u, FLOOR, 1 - FLOOR)
  return u / u.sum()


def _place_u(u: np.ndarray, tf_mean: float) -> np.ndarray:
  """A place's u with "all agree" at its bound (u_probabilities) and no
  partial level less likely among random pairs than all agreeing, so that
  more agreement never weighs less. Where the rarest column has many
  distinct values (tf_mean below LARGE_FILE_TF), tf_mean is little more
  than the chance of drawing one row twice, and "all but one agree",
  measured by the random pairs, bounds "all agree" instead (never below what the
  random pairs measured for it). Where it has few (a small file), the
  bound stands and the partial levels rise to it, "none agree" making
  room."""
  top = min(tf_mean, 0.5, 1.0 / len(u))
  if u[-1] >= top:
    return u
  u = u.copy()
  if tf_mean < LARGE_FILE_TF:
    # The level below: all but one agree, the one differing.
    below = u[-3] if len(u) > 2 else u[0]
    top = max(u[-1], min(top, below))
    u[:-1] *= (1 - top) / u[:-1].sum()
  else:
    u[1:-1] = np.maximum(u[1:-1], top)
    u[0] = max(1 - top - u[1:-1].sum(), FLOOR)
  u[-1] = top
  return u / u.sum()


def _em(patterns: np.ndarray, counts: np.ndarray, u: Sequence[np.ndarray],
        active: Sequence[int], m0: Sequence[np.ndarray],
        m_bounds: Sequence[Dict[int, Tuple[float, float]]]):
  """EM on distinct level patterns (comparisons x P) with their counts,
  over the comparisons in `active`: (m per active comparison, the share of
  matches among the pairs)."""
  m = {c: m0[c].copy() for c in active}
  share = 0.5
  for _ in range(EM_ITERATIONS):
    post = _posterior(share, _log_bayes_factors(patterns, m, u, active))
    new_share = float((post * counts).sum() / counts.sum())
    moved = abs(new_share - share)
    share = min(max(new_share, FLOOR), 1 - FLOOR)
    for c in active:
      row = patterns[c]
      filled = row != NULL
      weights = np.bincount(row[filled], (post * counts)[filled],
                            minlength=len(m[c]))
      # A level no pair of the session falls in says nothing about m: it
      # keeps its share, the levels seen share the rest.
      seen = np.bincount(row[filled], minlength=len(m[c])) > 0
      if weights[seen].sum() > 0:
        # initial_m worth M_PRIOR_PAIRS pairs keeps a small job's m sane.
        prior = M_PRIOR_PAIRS * m0[c][seen]
        new = m[c].copy()
        new[seen] = ((weights[seen] + prior) /
                     (weights[seen].sum() + prior.sum()) *
                     (1 - m[c][~seen].sum()))
        new = bounded(np.clip(new, FLOOR, 1 - FLOOR), m_bounds[c])
        moved = max(moved, float(np.abs(new - m[c]).max()))
        m[c] = new
    if moved < EM_TOLERANCE:
      break
  return m, share


def fit(source: str, comparisons: Sequence[Comparison], levels: np.ndarray,
        keys: np.ndarray, fixed: Dict[int, Sequence[int]],
        random_counts: Sequence[np.ndarray],
        tf_mean: Sequence[Optional[float]], rows: Tuple[int, int],
        supplied: Sequence[bool] = ()) -> Model:
  """A source's model from its candidate pairs.

  levels: comparisons x pairs (int8); keys: the key (cascade position) that
  proposed each pair; fixed: exact key -> the comparisons its own columns make
  agree (left out of its EM session); random_counts: per comparison, the
  count of each level among random pairs; tf_mean: per comparison, the
  vendor's mean term frequency (transforms/candidates.py VendorSide); rows:
  (original rows, vendor rows); supplied: per comparison, the source
  supplies the column, so its "else" (and the levels below it) weighs
  nothing."""
  comparisons = tuple(comparisons)
  supplied = tuple(supplied) or (False,) * len(comparisons)
  levels = neutral_else(levels, comparisons, supplied)
  u = [u_probabilities(c, r, t)
       for c, r, t in zip(comparisons, random_counts, tf_mean)]
  m_bounds = [m_bounds_of(c) for c in comparisons]
  m0 = [bounded(initial_m(len(c.levels)), b)
        for c, b in zip(comparisons, m_bounds)]
  estimates: Dict[int, List[np.ndarray]] = {}
  # Exact keys' sessions first; a fuzzy key's candidates share names and
  # places by construction, colleagues among them, so its session only
  # estimates what no exact key's did.
  sessions = sorted(np.unique(keys).tolist(), key=lambda k: k not in fixed)
  for k in sessions:
    patterns, counts = distinct_patterns(levels[:, keys == k])
    active = [c for c in range(len(comparisons))
              if c not in fixed.get(k, ()) and (patterns[c] != NULL).any()
              and (k in fixed or c not in estimates)]
    if not active:
      continue
    m, _ = _em(patterns, counts.astype(np.float64), u, active, m0,
               m_bounds)
    for c in active:
      estimates.setdefault(c, []).append(m[c])
  m = [np.mean(estimates[c], axis=0) if c in estimates else m0[c]
       for c in range(len(comparisons))]
  prior = _prior(levels, m, u, rows)
  return Model(source, comparisons, m, u, prior,
               tuple(c in estimates for c in range(len(comparisons))),
               tuple(tf_mean), supplied)


def bounded(m: np.ndarray, bounds: Dict[int, Tuple[float, float]]
            ) -> np.ndarray:
  """m (summing to 1) with each bounded level inside its bounds and the
  other levels scaled to make up the rest."""
  m = m / m.sum()
  fixed = np.zeros(m.size, bool)
  for level, (low, high) in bounds.items():
    m[level] = min(max(m[level], low), high)
    fixed[level] = True
  m[~fixed] *= (1 - m[fixed].sum()) / m[~fixed].sum()
  return m


def m_bounds_of(comparison: Comparison) -> Dict[int, Tuple[float, float]]:
  """Level -> the (lowest, highest) m that EM may give it."""
  if comparison.given_name:
    return {0: (FLOOR, MAX_M_DIFFERENT_SEXES),
            1: (MIN_M_ELSE_GIVEN_NAME, MAX_M_ELSE_GIVEN_NAME)}
  if comparison.family_name:
    return {0: (MIN_M_ELSE_GIVEN_NAME, MAX_M_ELSE_SURNAME)}
  return {0: (MIN_M_ELSE, 1.0)}


def neutral_else(levels: np.ndarray, comparisons: Sequence[Comparison],
                 supplied: Sequence[bool]) -> np.ndarray:
  """The levels with a supplied column's "else" (and below) made NULL
  (neutral)."""
  if not any(supplied):
    return levels
  levels = levels.copy()
  for c, s in enumerate(supplied):
    if s:
      levels[c][levels[c] <= comparisons[c].else_level] = NULL
  return levels


def distinct_patterns(levels: np.ndarray):
  """(distinct columns of `levels`, comparisons x P, sorted; their counts):
  each column packed into one integer (4 bits a level) and counted, which
  is much faster than numpy's unique over axis 1."""
  c, n = levels.shape
  if not n:
    return levels[:, :0], np.zeros(0, np.int64)
  if c > 15:
    return np.unique(levels, axis=1, return_counts=True)
  packed = np.zeros(n, np.int64)
  for row in levels:
    packed = (packed << 4) | (row.astype(np.int64) + 1)
  codes, counts = np.unique(packed, return_counts=True)
  patterns = np.empty((c, codes.size), np.int8)
  for i in range(c - 1, -1, -1):
    patterns[i] = (codes & 15) - 1
    codes = codes >> 4
  return patterns, counts


def _prior(levels: np.ndarray, m, u, rows: Tuple[int, int]) -> float:
  """The probability that two random records match: the matches expected
  among all candidate pairs (their share, by EM with m and u held), over
  every possible pair."""
  originals, vendor = rows
  if not levels.shape[1] or not originals or not vendor:
    return FLOOR
  patterns, counts = distinct_patterns(levels)
  share = _share_of_matches(patterns, counts, m, u)
  matches = min(share * levels.shape[1], float(min(originals, vendor)))
  pairs = float(originals) * vendor
  prior = (matches + PRIOR_PAIRS * DEFAULT_PRIOR) / (pairs + PRIOR_PAIRS)
  return min(max(prior, FLOOR * FLOOR), 0.5)


def _log_bayes_factors(patterns: np.ndarray, m, u,
                       comparisons: Sequence[int]) -> np.ndarray:
  """ln(m / u) of each pattern over `comparisons`, a blank side adding
  nothing."""
  out = np.zeros(patterns.shape[1])
  for c in comparisons:
    row = patterns[c]
    filled = row != NULL
    out[filled] += np.log(m[c][row[filled]]) - np.log(u[c][row[filled]])
  return out


def _posterior(share: float, log_bayes_factors: np.ndarray) -> np.ndarray:
  """The probability that each pattern is a match, `share` of the pairs
  being matches (the E step)."""
  odds = np.exp(np.clip(np.log(share) - np.log1p(-share) + log_bayes_factors,
                        -700, 700))
  return odds / (1 + odds)


def _share_of_matches(patterns, counts, m, u) -> float:
  """EM for the share of matches alone, m and u held."""
  log_bayes_factors = _log_bayes_factors(patterns, m, u,
                                         range(patterns.shape[0]))
  share = 0.5
  counts = counts.astype(np.float64)
  for _ in range(200):
    new = float((_posterior(share, log_bayes_factors) * counts).sum() /
                counts.sum())
    if abs(new - share) < EM_TOLERANCE:
      share = new
      break
    share = min(max(new, FLOOR), 1 - FLOOR)
  return share
