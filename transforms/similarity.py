"""How alike two rows' values are, column by column (0..1), vectorised.

Each compared column has a kind (the normalizer of its key column):
- name: 1 when equal or nicknames of each other ("Jon" and "Jonathan", from
  the `nicknames` table); 0 when both are known given names that are not
  ("John" and "Joan" are two people, however close the letters); otherwise
  Jaro-Winkler, which forgives typos;
- everything else (company, city, street, zip ...): the key's normalizer,
  common abbreviations expanded, then rapidfuzz's token-sort ratio (word
  order and small typos forgiven).

A row pair's score is the mean of (the average and the lowest) column
similarity over the columns both sides fill, so one column that clearly
disagrees (another company) weighs more than an average would let it; a 0
on a name vetoes the pair. With two name columns, first and last swapped are tried
too (vendors swap them) where one name is the other's other name.
"""

import functools
import os
import re
import unicodedata
from typing import List, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler

from crmsync.transforms import normalizers
from crmsync.transforms.normalizers.name import (split_generation,
                                                 words as name_words)
from crmsync.transforms.normalizers.text import (PLAIN_WORDS, clean, on_rows,
                                                 per_distinct)

PAIR_SEPARATOR = "\x1f"
SWAPPED_AGREE = 0.85
# A given name belongs to one sex when this share of its bearers has it.
SEX_SHARE = 0.9
# Words vendors abbreviate; expanded before comparing ("Acme Intl" and
# "Acme International", "12 Main St" and "12 Main Street").
ABBREVIATIONS = {
    "intl": "international", "int": "international", "mfg": "manufacturing",
    "tech": "technology", "techs": "technologies", "svcs": "services",
    "svc": "service", "grp": "group", "natl": "national", "assn": "association",
    "assoc": "associates", "bros": "brothers", "univ": "university",
    "hosp": "hospital", "dept": "department", "mgmt": "management",
    "sys": "systems", "labs": "laboratories", "lab": "laboratory",
    "st": "street", "ave": "avenue", "av": "avenue", "rd": "road",
    "blvd": "boulevard", "dr": "drive", "ln": "lane", "ct": "court",
    "hwy": "highway", "pkwy": "parkway", "pl": "place", "sq": "square",
    "ste": "suite", "apt": "apartment", "fl": "floor", "n": "north",
    "s": "south", "e": "east", "w": "west", "ft": "fort", "mt": "mount",
    "saint": "st",
}
_ABBREVIATION_RE = re.compile(r"\b(%s)\b" % "|".join(
    sorted(ABBREVIATIONS, key=len, reverse=True)))


@functools.lru_cache(maxsize=1)
def given_name_tables():
  """(known given names, "a<sep>b" for every pair of related names: a name
  and its nicknames, and nicknames of the same name). Known given names:
  the nicknames table's and gender-guesser's 40,000 names from 50
  countries."""
  import nicknames
  groups = {}
  for t in nicknames.name_triplets():
    groups.setdefault(t.name1, {t.name1}).add(t.name2)
  related = {a + PAIR_SEPARATOR + b for group in groups.values()
             for a in group for b in group if a != b}
  known = set().union(*groups.values())
  known.update(_fold_all(pa.array(_gender_guesser_names(),
                                  pa.string())).to_pylist())
  return frozenset(known), frozenset(related)


def _gender_guesser_names() -> list:
  """The given names of gender-guesser's data file (nam_dict.txt: a sex
  code, the name, then per-country counts; `+` joins the parts of a name
  written together, apart or hyphenated), read in one go: its Detector
  parses the file line by line through `codecs`, several times slower."""
  return [n for line in _name_lines()
          for n in _spellings(line.split(None, 2)[1].lower())]


def _name_lines() -> list:
  """The name lines of gender-guesser's nam_dict.txt (a sex code in columns
  0-1, the name from column 3, a frequency per country from column 30)."""
  import gender_guesser
  path = os.path.join(os.path.dirname(gender_guesser.__file__), "data",
                      "nam_dict.txt")
  with open(path, encoding="utf-8") as f:
    return [line for line in f.read().splitlines()
            if line and line[0] not in "#="]


def _spellings(name: str) -> tuple:
  """`+` joins the parts of a name written together, apart or hyphenated."""
  return (tuple(name.replace("+", r) for r in ("", " ", "-"))
          if "+" in name else (name,))


@functools.lru_cache(maxsize=1)
def given_name_sexes():
  """(male, female): the folded given names that gender-guesser's data file
  gives to one sex for at least SEX_SHARE of the people who bear them,
  counted over its countries (a frequency value f stands for about 2^f
  people: the file's note 1). Unisex entries ("?", and "?M", "?F": mostly
  one sex) count for both sexes, so Kim, Leslie and Chris are neither."""
  lines = _name_lines()
  people = _bearers(lines)
  spelling, line_of = [], []
  for i, line in enumerate(lines):
    for name in _spellings(line.split(None, 2)[1].lower()):
      spelling.append(name)
      line_of.append(i)
  at = np.asarray(line_of, np.int64)
  codes = np.array([line[:2].strip() for line in lines])
  unisex = np.char.startswith(codes, "?")
  by_sex = {sex: people * ((np.char.find(codes, sex) >= 0) | unisex)
            for sex in "MF"}
  sums = pa.table({"name": pa.array(spelling, pa.string()),
                   "M": by_sex["M"][at], "F": by_sex["F"][at]}
                  ).group_by("name").aggregate([("M", "sum"), ("F", "sum")])
  m, f = (sums.column(f"{sex}_sum").to_numpy() for sex in "MF")
  folded = np.asarray(_fold_all(sums.column("name").combine_chunks())
                      .to_pylist(), object)
  known = m + f > 0
  male = known & (m >= SEX_SHARE * (m + f))
  female = known & ~male & (f >= SEX_SHARE * (m + f))
  return frozenset(folded[male]), frozenset(folded[female])


def _bearers(lines: List[str]) -> np.ndarray:
  """Per name line, about how many people bear the name: the sum over its
  country columns (30-85) of 2^f, f a hex digit, blank for none."""
  width = 86 - 30
  cells = np.frombuffer("".join(line[30:86].ljust(width) for line in lines)
                        .encode("ascii", "replace"), np.uint8)
  people = np.zeros(256)
  for digit in "0123456789abcdefABCDEF":
    people[ord(digit)] = 2.0 ** int(digit, 16)
  return people[cells].reshape(len(lines), width).sum(axis=1)


def _fold_all(names: pa.Array) -> pa.Array:
  """_fold, vectorised: lowercase, accents dropped."""
  decomposed = pc.utf8_normalize(pc.utf8_lower(names), "NFKD")
  return pc.replace_substring_regex(decomposed, r"\p{Mn}", "")


def _fold(name: str) -> str:
  return "".join(c for c in unicodedata.normalize("NFKD", name.lower())
                 if not unicodedata.combining(c))


def prepare(values: pa.Array, kind: str, region: str) -> pa.Array:
  """A column normalised for comparing: null where blank."""
  if kind == "name":  # word by word: not the key, whose spaces are gone
    return name_words(clean(values), keep_generation=True)
  v = normalizers.get(kind)(values, phone_region=region)
  v = pc.replace_substring_regex(v, r"[^\w\s]", " ")
  # Plain words without an abbreviation are as _expand_abbreviations
  # leaves them: only the others go through Python.
  return on_rows(v, pc.or_(
      pc.invert(pc.match_substring_regex(v, PLAIN_WORDS)),
      pc.match_substring_regex(v, _ABBREVIATION_RE.pattern)),
      lambda w: per_distinct(w, _expand_abbreviations))


def _expand_abbreviations(value: str) -> str:
  return " ".join(_ABBREVIATION_RE.sub(
      lambda m: ABBREVIATIONS[m.group(1)], value).split())


def distinct_pairs(a: pa.Array, b: pa.Array):
  """The distinct values of a and b, the distinct (a[i], b[i]) pairs as
  positions in them, and for each i the position of its pair: names,
  companies and cities repeat, so most pairs are scored once."""
  a, b = pc.fill_null(a, ""), pc.fill_null(b, "")
  ua, ub = pc.unique(a), pc.unique(b)
  ia = pc.index_in(a, value_set=ua).to_numpy().astype(np.int64)
  ib = pc.index_in(b, value_set=ub).to_numpy().astype(np.int64)
  distinct, back = np.unique(ia * len(ub) + ib, return_inverse=True)
  return ua, ub, distinct // len(ub), distinct % len(ub), back


def _name_similarity(ua, ub, pa_, pb) -> np.ndarray:
  """Jaro-Winkler, then the name rules: nicknames 1, two different known
  names 0. Sets are looked up once per distinct value."""
  known, related = given_name_tables()
  # A fuzzy key's or confirm's similarity: Smith Jr is Smith (the
  # comparisons tell Sr from Jr).
  left, right = (split_generation(u)[0].to_pylist() for u in (ua, ub))
  sim = process.cpdist([left[i] for i in pa_], [right[i] for i in pb],
                       scorer=JaroWinkler.normalized_similarity,
                       dtype=np.float64, workers=-1)
  known_a = np.array([v in known for v in left], bool)
  known_b = np.array([v in known for v in right], bool)
  both = known_a[pa_] & known_b[pb] & (sim < 1.0)
  sim[both] = 0.0
  for i in np.flatnonzero(both).tolist():  # related names are known names
    if left[pa_[i]] + PAIR_SEPARATOR + right[pb[i]] in related:
      sim[i] = 1.0
  return sim


def column_similarity(a: pa.Array, b: pa.Array, kind: str) -> np.ndarray:
  """Similarity of a[i] and b[i] (prepared values); NaN where either is
  null."""
  if not len(a):
    return np.zeros(0)
  both = (pc.is_valid(a).to_numpy(zero_copy_only=False) &
          pc.is_valid(b).to_numpy(zero_copy_only=False))
  ua, ub, pa_, pb, back = distinct_pairs(a, b)
  if kind == "name":
    sim = _name_similarity(ua, ub, pa_, pb)
  else:
    left, right = ua.to_pylist(), ub.to_pylist()
    sim = process.cpdist([left[i] for i in pa_], [right[i] for i in pb],
                         scorer=fuzz.token_sort_ratio, dtype=np.float64,
                         workers=-1) / 100.0
  return np.where(both, sim[back], np.nan)


def row_scores(left: Sequence[pa.Array], right: Sequence[pa.Array],
               kinds: Sequence[str], min_columns: int = 2) -> np.ndarray:
  """The score of each row pair left[*][i], right[*][i]; NaN when fewer than
  `min_columns` columns are filled on both sides."""
  n = len(left[0]) if left else 0
  sims: List[np.ndarray] = [column_similarity(a, b, k)
                            for a, b, k in zip(left, right, kinds)]
  names = [i for i, k in enumerate(kinds) if k == "name"]
  if len(names) == 2:
    i, j = names
    direct = _nanmean(np.vstack([sims[i], sims[j]]))
    # Swaps are tried where the names disagree straight and one of them is
    # the other's other name (a swap with at most one typo).
    crosswise = pc.fill_null(pc.or_(pc.equal(left[i], right[j]),
                                    pc.equal(left[j], right[i])), False)
    todo = np.flatnonzero(~(direct >= SWAPPED_AGREE) &
                          crosswise.to_numpy(zero_copy_only=False))
    if todo.size:
      at = pa.array(todo)
      swapped = (column_similarity(left[i].take(at), right[j].take(at),
                                   "name"),
                 column_similarity(left[j].take(at), right[i].take(at),
                                   "name"))
      other = _nanmean(np.vstack(swapped))
      # Only a real swap: both names agree crosswise, better than straight.
      use = ((np.fmin(*swapped) >= SWAPPED_AGREE) &
             (np.nan_to_num(other, nan=-1) >
              np.nan_to_num(direct[todo], nan=-1)))
      sims[i][todo[use]] = swapped[0][use]
      sims[j][todo[use]] = swapped[1][use]
  if not sims:
    return np.full(n, np.nan)
  stack = np.vstack(sims)
  filled = (~np.isnan(stack)).sum(axis=0)
  score = (_nanmean(stack) + _nanmin(stack)) / 2
  if names:
    veto = (np.vstack([sims[i] for i in names]) == 0).any(axis=0)
    score = np.where(veto, 0.0, score)
  return np.where(filled >= min_columns, score, np.nan)


def _nanmean(stack: np.ndarray) -> np.ndarray:
  """np.nanmean over axis 0, NaN where a column is all NaN, without the
  RuntimeWarning numpy prints for those (a row no column compares)."""
  valid = ~np.isnan(stack)
  count = valid.sum(axis=0)
  total = np.where(valid, stack, 0).sum(axis=0)
  return np.divide(total, count, out=np.full(count.shape, np.nan),
                   where=count > 0)


def _nanmin(stack: np.ndarray) -> np.ndarray:
  """np.nanmin over axis 0, NaN where a column is all NaN (no warning)."""
  valid = ~np.isnan(stack)
  low = np.where(valid, stack, np.inf).min(axis=0)
  return np.where(valid.any(axis=0), low, np.nan)
