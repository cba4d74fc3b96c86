"""Comparison levels: how a pair of rows agrees on one column, as a small
integer per pair.

The levels follow Splink's comparison library (EmailComparison,
NameComparison, ...: https://moj-analytical-services.github.io/splink/),
adapted to what CRM exports and vendor files do to values: names cut short
by the source system ("Bri" for "Bridgette", "LE" for "Leonard"), phones
behind one switchboard told apart by their extension, emails behind a
display name. Level 0 is "else" (the values disagree), except for a given
name, whose level 0 is "names of different sexes" and 1 "else"; higher
levels agree more, the
last is "exact" (its weight is adjusted for how common the value
is, see transforms/scoring.py); NULL (-1) means a side is blank, and says
nothing either way.

Which level a pair falls into is decided once per distinct pair of values
(names, companies and cities repeat), with rapidfuzz's vectorised scorers.
"""

import functools
import re
from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler

from crmsync.transforms import normalizers
from crmsync.transforms.hashing import in_sorted, mix64, stable_hash
from crmsync.transforms.name_cache import cached_arrays
from crmsync.transforms.normalizers.name import split_generation
from crmsync.transforms.rows import contiguous
from crmsync.transforms.similarity import (PAIR_SEPARATOR,
                                           given_name_sexes,
                                           given_name_tables, prepare)
from crmsync.transforms.spec import MergeSpec

NULL = -1
LEVELS: Dict[str, Tuple[str, ...]] = {
    "email": ("else", "similar address (Jaro-Winkler >= 0.88)",
              "same username, other domain", "exact"),
    "phone": ("else", "same number, other extension",
              "same number, one extension missing", "exact"),
    "name": ("else", "similar (Jaro-Winkler >= 0.80)",
             "close (Jaro-Winkler >= 0.92)", "one is a prefix, initial or "
             "part of the other", "nicknames of each other", "exact"),
    # A given name's: two names that belong to different sexes (John and
    # Joan) are two people far more often than a typo.
    "given_name": ("names of different sexes", "else",
                   "similar (Jaro-Winkler >= 0.80)",
                   "close (Jaro-Winkler >= 0.92)",
                   "one is a prefix or initial of the other",
                   "nicknames of each other", "exact"),
    "company": ("else", "similar (token sort >= 0.70)",
                "close (token sort >= 0.90)", "exact"),
    "zip": ("else", "same first three digits", "exact"),
    "text": ("else", "similar (token sort >= 0.85)", "exact"),
    # A column an exact key normalises otherwise (url, domain, text: a CRM
    # record id, a LinkedIn address): equal or not.
    "identifier": ("else", "exact"),
}
# Normalizer (of a key or confirm column) -> how the column is compared.
KIND_OF_NORMALIZER = {"email": "email", "email_provider": "email",
                      "phone": "phone", "name": "name", "company": "company",
                      "zip": "zip"}
_GIVEN = re.compile(r"(?i)^(first|given|fore)[ _]?(name)?$|^fname$")
_FAMILY = re.compile(r"(?i)^(last|family|sur)[ _]?(name)?$|^lname$")


# Columns that say where a person works or lives, not who they are:
# colleagues share them all, so they are weighed together (one comparison,
# "place") rather than as independent evidence, which would let the same
# company, ZIP and city outvote two different first names.
PLACE_KINDS = ("company", "zip", "text")
# The level at which a place column counts as agreeing.
PLACE_AGREES = {"company": 2, "zip": 2, "text": 1}


@dataclass(frozen=True)
class Comparison:
  """One compared column: its name, how it is compared (a key of LEVELS),
  and whether it holds given names (two different known given names, John
  and Joan, are two people; two surnames that are also given names, Reid
  and Reed, are only compared by their letters). A "place" comparison
  combines `members` (place columns): its level is how many of them
  agree."""
  column: str
  kind: str
  given_name: bool = False
  members: Tuple["Comparison", ...] = ()
  normalizer: str = ""  # an identifier's: its exact key's normalizer

  @property
  def levels(self) -> Tuple[str, ...]:
    if self.kind == "place":  # see place_levels
      n = len(self.members)
      partial = [level for k in range(1, n) for level in (
          f"{k} of {n} agree", f"{k} of {n} agree (the rest blank)")]
      return (f"0 of {n} agree", *partial, f"{n} of {n} agree")
    return LEVELS["given_name" if self.given_name else self.kind]

  @property
  def family_name(self) -> bool:
    """A name column that holds family names (Last, Surname, Family Name),
    by its name: not a middle name, not a full name."""
    return (self.kind == "name" and not self.given_name and
            bool(_FAMILY.match(self.column)))

  @property
  def exact(self) -> int:
    return len(self.levels) - 1

  @property
  def else_level(self) -> int:
    """The level of values that disagree (a place's: none agree); levels
    below it disagree more."""
    return 1 if self.given_name else 0


def compared_columns(spec: MergeSpec) -> Tuple[Comparison, ...]:
  """Every column a key or `confirm` names (the user's own statement of
  what identifies a person), in order of first mention, each compared as its
  first key or confirm list says; the column of a one-column exact key with
  another normalizer (url, domain, text: a record id) is an identifier."""
  kinds: Dict[str, Tuple[str, str]] = {}
  for key in spec.keys:
    for c, n in zip(key.columns, key.normalizers):
      if (not key.fuzzy and len(key.columns) == 1 and
          n not in KIND_OF_NORMALIZER):  # an id, a URL: a key on its own
        kinds.setdefault(c, ("identifier", n))
      kinds.setdefault(c, (KIND_OF_NORMALIZER.get(n, "text"), ""))
    for c, n in zip(key.confirm, key.confirm_normalizers):
      kinds.setdefault(c, (KIND_OF_NORMALIZER.get(n, "text"), ""))
  return tuple(Comparison(c, k, k == "name" and bool(_GIVEN.match(c)),
                          normalizer=n)
               for c, (k, n) in kinds.items())


def comparisons_of(spec: MergeSpec) -> Tuple[Comparison, ...]:
  """The model's comparisons: the person columns (names, email, phone) one
  by one, then the place columns together as one "place" comparison."""
  columns = compared_columns(spec)
  person = tuple(c for c in columns if c.kind not in PLACE_KINDS)
  place = tuple(c for c in columns if c.kind in PLACE_KINDS)
  if not place:
    return person
  return person + (Comparison("+".join(c.column for c in place), "place",
                              members=place),)


def place_levels(place: Comparison, member_levels: np.ndarray) -> np.ndarray:
  """The place level of each pair (place.levels): how many member columns
  agree, and whether every other one is blank on a side (a CRM row without
  its city, the same street and ZIP: no disagreement, but not all agreeing
  either; EM and the random pairs weigh it on its own). NULL where every
  member has a blank side. member_levels: members x pairs."""
  n = len(place.members)
  agree = np.zeros(member_levels.shape[1], np.int8)
  present = np.zeros(member_levels.shape[1], np.int8)
  for m, row in zip(place.members, member_levels):
    agree += row >= PLACE_AGREES[m.kind]
    present += row != NULL
  rest_blank = (agree == present) & (agree < n)
  level = np.where(agree == 0, 0, np.where(
      agree == n, 2 * n - 1, 2 * agree - 1 + rest_blank))
  return np.where(present == 0, NULL, level).astype(np.int8)


def preparation(comparison: Comparison) -> Tuple[str, str]:
  """How a column is prepared for comparing: ("normalize", a normalizer of
  transforms/normalizers, as its exact key's values) or ("prepare", a kind
  of similarity.prepare, as the fuzzy key's)."""
  kind = comparison.kind
  if kind == "identifier":
    return "normalize", comparison.normalizer
  if kind in ("email", "phone", "zip"):
    return "normalize", kind
  return "prepare", kind


def prepare_as(values: pa.Array, how: Tuple[str, str],
               region: str) -> pa.Array:
  """Values prepared `how` (see preparation): null where blank."""
  values = contiguous(values)
  step, name = how
  if step == "normalize":
    return normalizers.get(name)(values, phone_region=region)
  return prepare(values, name, region)


def prepared(values: pa.Array, comparison: Comparison,
             region: str) -> pa.Array:
  """A column's values as they are compared: normalised, null where blank."""
  return prepare_as(values, preparation(comparison), region)


class Coded:
  """A column's prepared values as a code per row: `distinct` (pa.Array of
  its distinct values) and `codes` (int64 per row: a position in
  `distinct`, -1 where null). Pairs then gather integers, not strings."""

  def __init__(self, distinct: pa.Array, codes: np.ndarray):
    self.distinct, self.codes = distinct, codes
    self._hashes = None

  def hashes(self) -> np.ndarray:
    """The stable_hash of each distinct value, made on first use (threads
    that race make the same): a name's lookups in the given-name sets."""
    if self._hashes is None:
      self._hashes = stable_hash(self.distinct)
    return self._hashes

  @classmethod
  def of(cls, values: pa.Array) -> "Coded":
    encoded = pc.dictionary_encode(contiguous(values))
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    return cls(encoded.dictionary, codes.astype(np.int64))


def levels(comparison: Comparison, left: pa.Array,
           right: pa.Array) -> np.ndarray:
  """The level (int8) of each pair left[i], right[i] of prepared values;
  NULL where either is null."""
  n = len(left)
  return coded_levels(comparison, Coded.of(left), np.arange(n),
                      Coded.of(right), np.arange(n))


def coded_levels(comparison: Comparison, left: Coded, at_left: np.ndarray,
                 right: Coded, at_right: np.ndarray) -> np.ndarray:
  """The level (int8) of each pair (left's row at_left[i], right's row
  at_right[i]); NULL where either is null. Each distinct pair of values is
  decided once, and the similarity scorers run only on those that differ
  (values that are equal are at the exact level, whatever the kind)."""
  a, b = left.codes[at_left], right.codes[at_right]
  out = np.full(a.size, NULL, np.int8)
  both = np.flatnonzero((a >= 0) & (b >= 0))
  if not both.size:
    return out
  width = max(len(right.distinct), 1)
  distinct, back = np.unique(a[both] * width + b[both], return_inverse=True)
  ua = left.distinct.take(pa.array(distinct // width))
  ub = right.distinct.take(pa.array(distinct % width))
  level = np.full(distinct.size, comparison.exact, np.int8)
  differ = ~_np(pc.equal(ua, ub))
  if differ.any():
    mask = pa.array(differ)
    a, b = ua.filter(mask), ub.filter(mask)
    if comparison.kind == "name":
      level[differ] = _name(a, b, comparison, (
          left.hashes()[(distinct // width)[differ]],
          right.hashes()[(distinct % width)[differ]]))
    else:
      level[differ] = _LEVEL_OF[comparison.kind](a, b, comparison)
  out[both] = level[back.ravel()]
  return out


def _np(mask) -> np.ndarray:
  return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _before(values: pa.Array, separator: str) -> pa.Array:
  """Each value up to the first `separator` (all of it without one), by a
  plain split: several times faster than a regex, and a line break after
  the separator (a phone the normalizer could not parse keeps its raw
  cell as the extension) does not stop it, as it stops a regex's `.`."""
  return pc.list_element(pc.split_pattern(values, separator, max_splits=1),
                         0)


def _email(a: pa.Array, b: pa.Array, _) -> np.ndarray:
  out = np.zeros(len(a), np.int8)
  out[_jaro_winkler(a, b) >= 0.88] = 1
  out[_np(pc.equal(_before(a, "@"), _before(b, "@")))] = 2
  out[_np(pc.equal(a, b))] = 3
  return out


def _phone(a: pa.Array, b: pa.Array, _) -> np.ndarray:
  """E.164 with the extension as `;ext=N` (normalizers/phone.py)."""
  same_number = _np(pc.equal(_before(a, ";ext="), _before(b, ";ext=")))
  both_ext = _np(pc.match_substring(a, ";ext=")) & _np(
      pc.match_substring(b, ";ext="))
  out = np.where(same_number, np.where(both_ext, 1, 2), 0).astype(np.int8)
  out[_np(pc.equal(a, b))] = 3
  return out


@functools.lru_cache(maxsize=1)
def _name_sets():
  """The known given names, related pairs (pair_hash), male and female
  given names, as sorted 64-bit hashes: a lookup is a numpy search
  (pyarrow's is_in would rebuild its hash table of 60,000 names on every
  call). Kept on disk between runs (transforms/name_cache.py)."""
  def build():
    known, related = given_name_tables()
    pairs = [pair.split(PAIR_SEPARATOR) for pair in sorted(related)]
    sides = list(zip(*pairs)) or [(), ()]
    return tuple(np.sort(h) for h in (
        _hashes(known),
        pair_hash(*(stable_hash(pa.array(side, pa.string()))
                    for side in sides)),
        *(_hashes(names) for names in given_name_sexes())))
  return cached_arrays("given-names", build)


def _hashes(names) -> np.ndarray:
  return stable_hash(pa.array(sorted(names), pa.string()))


def pair_hash(left: np.ndarray, right: np.ndarray) -> np.ndarray:
  """A stable hash of each ordered pair of values, from their stable_hash
  (uint64 arrays): related names are looked up with no string joined."""
  return mix64(mix64(left) ^ right)


def _name(a: pa.Array, b: pa.Array, comparison, hashes) -> np.ndarray:
  """The level of each pair of differing prepared names (a[i], b[i]); a
  father and son with one name (John Smith Sr and John Smith Jr: two
  generations given, and different) disagree. Some CRMs will not merge two
  records whose suffixes differ (Intranet Quorum's automated merge: "Joseph
  Peterson, Jr., and Joseph Peterson, Ph.D." are not merged). `hashes`: the
  stable_hash of each of a's and b's values (non-null)."""
  (a, ga), (b, gb) = split_generation(a), split_generation(b)
  if not (ga.any() or gb.any()):
    return _name_levels(a, b, comparison, hashes)
  # Smith Jr and Smith: one is part of the other (not exact: the exact
  # level's term-frequency adjustment looks up the value as written).
  out = np.full(len(a), comparison.exact - 2, np.int8)
  differ = ~_np(pc.equal(a, b))
  if differ.any():
    mask = pa.array(differ)
    da, db = a.filter(mask), b.filter(mask)
    out[differ] = _name_levels(da, db, comparison,
                               (stable_hash(da), stable_hash(db)))
  out[~differ & (ga == gb)] = comparison.exact  # II is a Jr
  two = (ga > 0) & (gb > 0) & (ga != gb)
  out[two] = np.minimum(out[two], comparison.else_level)
  return out


def _name_levels(a: pa.Array, b: pa.Array, comparison, hashes
                 ) -> np.ndarray:
  """_name's levels, suffixes aside."""
  known, related, male, female = _name_sets()
  ha, hb = hashes
  prefix = _prefix(a, b, parts=not comparison.given_name)
  if not comparison.given_name:
    # A surname cut short is a prefix of three letters or more, or an
    # initial: "li" is not "lindstrom" (a part shares a word of three).
    lengths = np.minimum(pc.utf8_length(a).to_numpy(zero_copy_only=False),
                         pc.utf8_length(b).to_numpy(zero_copy_only=False))
    prefix &= (lengths >= 3) | (lengths == 1)
  two_known = np.zeros(len(a), bool)
  if comparison.given_name:
    # John and Joan, Robert and Roberta: two known names, however close; a
    # known name cut short (Bri, Mo) is still a prefix.
    two_known = in_sorted(ha, known) & in_sorted(hb, known)
    short = np.minimum(pc.utf8_length(a).to_numpy(zero_copy_only=False),
                       pc.utf8_length(b).to_numpy(zero_copy_only=False)) < 4
    prefix &= ~two_known | short
  related_pair = in_sorted(pair_hash(ha, hb), related)
  same = _np(pc.equal(a, b))
  # The similarity bands, only where no rule below decides the level.
  out = np.zeros(len(a), np.int8)
  banded = np.flatnonzero(~(two_known | prefix | related_pair | same))
  if banded.size:
    at = pa.array(banded)
    jw = _jaro_winkler(a.take(at), b.take(at))
    out[banded] = np.where(jw >= 0.92, 2, np.where(jw >= 0.80, 1, 0))
  out[prefix] = 3
  out[related_pair] = 4
  out[same] = 5
  if comparison.given_name:  # "names of different sexes" comes first
    out += 1
    sexes = ((in_sorted(ha, male) & in_sorted(hb, female)) |
             (in_sorted(ha, female) & in_sorted(hb, male)))
    # Disagreeing names, or "nicknames" of each other through a name both
    # sexes shorten alike (the nicknames table gives Andrea the nickname
    # Andrew); a name cut short (Rob for Roberta) is still a prefix.
    out[sexes & ((out == 1) | (out == 5))] = 0
  return out


def _prefix(a: pa.Array, b: pa.Array, parts: bool = False) -> np.ndarray:
  """One name is the other cut short or as initials, word by word ("bri"
  and "bridgette", "le bag" and "leonard bagwell", "j" and "john"); with
  `parts` (family names), or some of the other's words (_is_part)."""
  la, lb = (pc.fill_null(pc.utf8_length(v), 0).to_numpy() for v in (a, b))
  first = pa.array(la <= lb)
  short, long_ = pc.if_else(first, a, b), pc.if_else(first, b, a)
  size = np.minimum(la, lb)
  out = np.zeros(len(a), bool)
  # Length by length: Arrow cuts a whole array to one length.
  for n in np.unique(size[size > 0]).tolist():
    at = np.flatnonzero(size == n)
    take = pa.array(at)
    out[at] = _np(pc.equal(pc.utf8_slice_codeunits(long_.take(take), 0, n),
                           short.take(take)))
  spaced = pa.array(np.flatnonzero(_np(pc.match_substring(a, " ")) |
                                   _np(pc.match_substring(b, " "))))
  for i, u, v in zip(spaced.to_pylist(), a.take(spaced).to_pylist(),
                     b.take(spaced).to_pylist()):
    out[i] = _is_prefix(u, v) or (parts and _is_part(u, v))
  return out


def _is_part(x: str, y: str) -> bool:
  """A double or hyphenated family name written in part ("ortiz" and
  "martinez ortiz", "jones" and "smith jones"), a particle dropped ("berg"
  and "van der berg"); a particle alone ("la" and "de la cruz") is not."""
  sx, sy = set(x.split()), set(y.split())
  return ((sx <= sy or sy <= sx) and
          any(len(w) >= 3 for w in sx & sy))


def _is_prefix(x: str, y: str) -> bool:
  short, long_ = (x, y) if len(x) <= len(y) else (y, x)
  sw, lw = short.split(), long_.split()
  if not sw or len(sw) > len(lw):
    return False
  return all(l.startswith(s) for s, l in zip(sw, lw))


def _company(a: pa.Array, b: pa.Array, _) -> np.ndarray:
  ratio = _token_sort(a, b)
  out = np.where(ratio >= 0.90, 2, np.where(ratio >= 0.70, 1, 0))
  out[_np(pc.equal(a, b))] = 3
  return out.astype(np.int8)


def _zip(a: pa.Array, b: pa.Array, _) -> np.ndarray:
  out = _np(pc.equal(pc.utf8_slice_codeunits(a, 0, 3),
                     pc.utf8_slice_codeunits(b, 0, 3))).astype(np.int8)
  out[_np(pc.equal(a, b))] = 2
  return out


def _text(a: pa.Array, b: pa.Array, _) -> np.ndarray:
  out = (_token_sort(a, b) >= 0.85).astype(np.int8)
  out[_np(pc.equal(a, b))] = 2
  return out


# rapidfuzz's scorers on its own threads (workers=-1): with workers=1 it
# holds the GIL while it scores, and the other scoring thread's Python work
# (transforms/ahead.py) stalls it at every switch of the GIL.
def _jaro_winkler(a: pa.Array, b: pa.Array) -> np.ndarray:
  return process.cpdist(a.to_pylist(), b.to_pylist(),
                        scorer=JaroWinkler.normalized_similarity,
                        dtype=np.float64, workers=-1)


def _token_sort(a: pa.Array, b: pa.Array) -> np.ndarray:
  return process.cpdist(a.to_pylist(), b.to_pylist(),
                        scorer=fuzz.token_sort_ratio, dtype=np.float64,
                        workers=-1) / 100.0


def _identifier(a: pa.Array, b: pa.Array, _) -> np.ndarray:
  return _np(pc.equal(a, b)).astype(np.int8)


# A name's level (_name) also takes its values' hashes: coded_levels.
_LEVEL_OF = {"email": _email, "phone": _phone,
             "company": _company, "zip": _zip, "text": _text,
             "identifier": _identifier}
