"""Person names: case, script, punctuation, spaces, titles and suffixes.

"Dr. José Müller-Smith, PhD" and "jose muller smith" agree; so do "Łukasz"
and "Lukasz", "Søren" and "Soren", "Straße" and "Strasse" (letters Unicode
does not decompose are transliterated by `anyascii`, as are other scripts),
"Đorđe" and "Djordje", and "O'Brien", "O Brien" and "OBrien" (a name key
ignores spaces, hyphens and apostrophes: vendors write compound names every
way).
"""

import pyarrow as pa
import pyarrow.compute as pc
from anyascii import anyascii

from crmsync.transforms.normalizers.text import (PLAIN_WORDS, blank_to_null,
                                                 on_rows, per_distinct,
                                                 raw_bytes, squeeze)

TITLES = ["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "rev"]
SUFFIXES = ["jr", "sr", "ii", "iii", "iv", "phd", "md", "esq", "dds", "mba",
            "cpa", "rn"]


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


def words(values: pa.Array) -> pa.Array:
  """The name's words, folded, without titles, suffixes and a trailing
  middle initial ("dr jose muller smith" -> "jose muller smith", "Dana
  M." -> "dana": one form or state writes the middle initial, the other
  does not, https://github.com/18F/piipan/issues/550): what similarity
  compares word by word (nicknames, phonetic blocks)."""
  v = fold(values)
  spaced = pc.match_substring(v, " ")
  v = on_rows(v, spaced, lambda w: pc.replace_substring_regex(
      w, r"^(?:(?:%s) )+" % "|".join(TITLES), ""))
  v = on_rows(v, spaced, lambda w: pc.replace_substring_regex(
      w, r"(?: (?:%s))+$" % "|".join(SUFFIXES), ""))
  # Written as an initial: a capital or a letter with a period after a
  # word ("Dana M.", "Thomas J"); "kam p", a space typed into "kamp", is
  # not one (a name key runs its words together).
  initial = pc.match_substring_regex(values.cast(pa.string()),
                                     r"\pL\pL\s+(?:\p{Lu}|\pL\.)\s*$")
  v = on_rows(v, initial, lambda w: pc.replace_substring_regex(
      w, r" [a-z0-9]$", ""))
  return blank_to_null(v)


def normalize(values: pa.Array) -> pa.Array:
  """The name key: its words run together."""
  v = pc.fill_null(words(values), "")
  v = on_rows(v, pc.match_substring(v, " "),
               lambda w: pc.replace_substring(w, " ", ""))
  # South Slavic đ is spelt "dj" (Djordje) or "d" (anyascii, Vietnamese
  # Dang): a name key takes both as "d".
  if b"dj" in raw_bytes(v):
    v = pc.replace_substring(v, "dj", "d")
  return blank_to_null(v)
