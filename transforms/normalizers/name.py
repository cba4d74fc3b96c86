"""Person names: case, script, punctuation, spaces, titles and suffixes.

"Dr. José Müller-Smith, PhD" and "jose muller smith" agree; so do "Łukasz"
and "Lukasz", "Søren" and "Soren", "Straße" and "Strasse" (letters Unicode
does not decompose are transliterated by `anyascii`, as are other scripts),
"Đorđe" and "Djordje", and "O'Brien", "O Brien" and "OBrien" (a name key
ignores spaces, hyphens and apostrophes: vendors write compound names every
way). A name key also leaves out a middle initial written last ("Dana M.",
"THOMAS J": a capital or a letter with a period), which one side often
lacks.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from anyascii import anyascii

from crmsync.transforms.normalizers.placeholders import (
    PLACEHOLDER_NAMES, blank_placeholders)
from crmsync.transforms.normalizers.text import (PLAIN_WORDS, blank_to_null,
                                                 on_rows, per_distinct,
                                                 raw_bytes, squeeze)

TITLES = ["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "rev"]
SUFFIXES = ["jr", "sr", "ii", "iii", "iv", "phd", "md", "esq", "dds", "mba",
            "cpa", "rn"]
# The generational suffixes among them tell a father from his son, who may
# share a name, an address and a phone: the comparisons keep the last one
# (words(keep_generation=True)), the key does not.
GENERATIONS = ["jr", "sr", "ii", "iii", "iv"]
# Their ranks (split_generation), the last for none: Sr 1, Jr and II 2.
_RANKS = np.array([2, 1, 2, 3, 4, 0], np.int8)
_SUFFIX_RUN = r"(?: (?:%s))+$" % "|".join(SUFFIXES)
_GENERATION = r" (?P<g>%s)$" % "|".join(GENERATIONS)
_LAST_GENERATION = r"(?P<g> (?:%s))(?: (?:%s))*$" % (
    "|".join(GENERATIONS),
    "|".join(x for x in SUFFIXES if x not in GENERATIONS))


def _transliterate(v: pa.Array) -> pa.Array:
  """ASCII spellings (ł -> l, ø -> o, æ -> ae, ß -> ss, ı -> i, accents
  dropped), once per distinct value."""
  return pc.utf8_lower(per_distinct(v, anyascii))


def _words(v: pa.Array) -> pa.Array:
  v = pc.replace_substring_regex(v, r"['’‘ʼ`´]", "")
  return squeeze(pc.replace_substring_regex(v, r"[^\pL\pN]+", " "))


def fold(values: pa.Array) -> pa.Array:
  """Lowercase ASCII, punctuation to spaces, whitespace squeezed."""
  v = pc.utf8_lower(values.cast(pa.string()))
  v = on_rows(v, pc.invert(pc.string_is_ascii(v)), _transliterate)
  # A one-word name of letters and digits is already folded (the cheapest
  # test), and so are plain words one space apart (most companies).
  return on_rows(v, pc.invert(pc.utf8_is_alnum(v)), lambda w: on_rows(
      w, pc.invert(pc.match_substring_regex(w, PLAIN_WORDS)), _words))


def words(values: pa.Array, keep_generation: bool = False) -> pa.Array:
  """The name's words, folded, without titles and suffixes ("dr jose
  muller smith" -> "jose muller smith"): what similarity compares word by
  word (nicknames, phonetic blocks). A middle initial stays: John A and
  John B are two people. With keep_generation, so does the last
  generational suffix ("smith jr phd" -> "smith jr"). A placeholder
  ("Occupant", "Unknown": normalizers/placeholders.py) is blank, with a
  suffix too ("Occupant Jr")."""
  v = fold(values)
  spaced = pc.match_substring(v, " ")
  v = on_rows(v, spaced, lambda w: pc.replace_substring_regex(
      w, r"^(?:(?:%s) )+" % "|".join(TITLES), ""))
  bare = blank_placeholders(blank_to_null(on_rows(
      v, spaced, lambda w: pc.replace_substring_regex(w, _SUFFIX_RUN, ""))),
      PLACEHOLDER_NAMES)
  if not keep_generation:
    return bare
  # The last generation back on the name without its suffixes (a
  # placeholder, blank already, stays blank).
  spaced = pc.fill_null(spaced, False)
  generation = pa.nulls(len(v), pa.string())
  if pc.any(spaced).as_py():
    generation = pc.replace_with_mask(generation, spaced, pc.struct_field(
        pc.extract_regex(v.filter(spaced), _LAST_GENERATION), [0]))
  return pc.coalesce(pc.binary_join_element_wise(bare, generation, ""), bare)


def split_generation(prepared: pa.Array):
  """(the names without their generational suffix, each one's rank: 0 for
  none, then GENERATIONS' order, a II counting as a Jr) of values prepared
  by words(keep_generation=True). Only names of two words or more are
  searched (most have one)."""
  rank = np.zeros(len(prepared), np.int8)
  spaced = pc.fill_null(pc.match_substring(prepared, " "), False)
  if not pc.any(spaced).as_py():
    return prepared, rank
  found = pc.index_in(pc.struct_field(pc.extract_regex(
      prepared.filter(spaced), _GENERATION), [0]),
      value_set=pa.array(GENERATIONS))
  rank[spaced.to_numpy(zero_copy_only=False)] = _RANKS[
      pc.fill_null(found, -1).to_numpy(zero_copy_only=False)]
  if not rank.any():
    return prepared, rank
  return on_rows(prepared, spaced, lambda w: pc.replace_substring_regex(
      w, _GENERATION, "")), rank


# A middle initial written as one, last in the cell (a suffix may follow):
# a capital, or a letter with a period, after a word ("Dana M.", "Thomas
# J", "JOHN A JR."). "kam p", a space typed into "kamp" (FEBRL's typos), is
# not one. [\pL\pM]: a letter, or a letter and its combining accent.
_SPACE = r"[\s\p{Z}]"
_MIDDLE_INITIAL = (r"[\pL\pM]{2}%s+(?:\p{Lu}|\pL\.)(?:%s+(?i:%s)\.?)?%s*$" %
                   (_SPACE, _SPACE, "|".join(SUFFIXES), _SPACE))


def _ends_in_initial(values: pa.Array, spaced: pa.Array) -> pa.Array:
  """Per value: it ends in a middle initial (_MIDDLE_INITIAL). Only the
  `spaced` rows (two words or more once folded, a few of most columns)
  are searched: the regex over a whole column costs a third of the key."""
  spaced = pc.fill_null(spaced, False)
  none = pa.array(np.zeros(len(values), bool))
  if not pc.any(spaced).as_py():
    return none
  found = pc.match_substring_regex(values.cast(pa.string()).filter(spaced),
                                   _MIDDLE_INITIAL)
  return pc.replace_with_mask(none, spaced, pc.fill_null(found, False))


def normalize(values: pa.Array) -> pa.Array:
  """The name key: its words run together, without a middle initial
  written last ("Dana M." is "dana": one form or state writes it, the
  other does not, https://github.com/18F/piipan/issues/550; the
  comparisons still see it)."""
  v = pc.fill_null(words(values), "")
  spaced = pc.match_substring(v, " ")
  v = on_rows(v, _ends_in_initial(values, spaced),
              lambda w: pc.replace_substring_regex(w, r" [a-z0-9]$", ""))
  v = on_rows(v, spaced, lambda w: pc.replace_substring(w, " ", ""))
  # South Slavic đ is spelt "dj" (Djordje) or "d" (anyascii, Vietnamese
  # Dang): a name key takes both as "d".
  if b"dj" in raw_bytes(v):
    v = pc.replace_substring(v, "dj", "d")
  return blank_to_null(v)
