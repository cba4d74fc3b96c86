"""Plain text: trim, collapse inner whitespace, Unicode NFKC, case-fold."""

import html

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms.rows import contiguous


HTML_ENTITY = r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});"
# First bytes of the UTF-8 of every format character (Cf) and space
# separator (Zs): a column without them has nothing to clean. Accented
# letters (C3, C4, C5 ...) are not among them.
_INVISIBLE_LEADS = bytes([0xC2, 0xD8, 0xDB, 0xDC, 0xE0, 0xE1, 0xE2, 0xE3,
                          0xEF, 0xF0, 0xF3])


def raw_bytes(values: pa.Array) -> bytes:
  """The column's character data, to test cheaply whether a regex pass is
  needed at all (most columns of a batch hold no such character)."""
  if isinstance(values, pa.ChunkedArray):
    return b"".join(raw_bytes(c) for c in values.chunks)
  return _byte_view(values).tobytes()


def _offsets(values: pa.Array) -> np.ndarray:
  """The array's own len + 1 offsets into its data buffer (a slice shares
  its parent's buffers), as int64."""
  width = np.int64 if pa.types.is_large_string(values.type) else np.int32
  return np.frombuffer(values.buffers()[1], width)[
      values.offset:values.offset + len(values) + 1].astype(np.int64)


def _byte_view(values: pa.Array) -> np.ndarray:
  """The column's character data as a numpy view (no copy)."""
  if not len(values) or values.buffers()[2] is None:
    return np.zeros(0, np.uint8)
  offsets = _offsets(values)
  return np.frombuffer(values.buffers()[2], np.uint8)[offsets[0]:offsets[-1]]


def byte_spans(values: pa.Array):
  """(the column's character data as a numpy view, each value's start and
  end in it): per-value byte work without a copy. A null's span is
  whatever its slot holds (mostly empty): mask it where it matters."""
  view = _byte_view(values)
  if not view.size:
    empty = np.zeros(len(values), np.int64)
    return view, empty, empty
  offsets = _offsets(values)
  offsets -= offsets[0]
  return view, offsets[:-1], offsets[1:]


def byte_set(chars: bytes) -> np.ndarray:
  """256 booleans, true at the byte values of `chars`: a table to look
  bytes up in (keep_bytes, and the writer's formula test)."""
  table = np.zeros(256, bool)
  table[list(chars)] = True
  return table


def keep_bytes(values: pa.Array, keep: np.ndarray) -> pa.Array:
  """The values with only the bytes that `keep` (a byte_set) marks: one
  numpy pass, where a regex pass, or a replace per character, each copies
  the column. Mark ASCII bytes only: the bytes of a multi-byte character
  all go."""
  if not len(values):
    return values
  data, starts, ends = byte_spans(values)
  kept = keep[data]
  counts = np.r_[0, np.cumsum(kept, dtype=np.int64)]
  large = pa.types.is_large_string(values.type)
  offsets = counts[np.r_[starts, ends[-1:]]].astype(
      np.int64 if large else np.int32)
  out = pa.Array.from_buffers(values.type, len(values), [
      None, pa.py_buffer(offsets), pa.py_buffer(data[kept])])
  if values.null_count:
    out = pc.if_else(pc.is_valid(values), out, pa.scalar(None, values.type))
  return out


def has_any(values: pa.Array, chars: bytes) -> bool:
  raw = raw_bytes(values)
  return len(raw.translate(None, chars)) != len(raw)


def only(values: pa.Array, chars: bytes) -> bool:
  """True when every character of the column is one of `chars`."""
  return not raw_bytes(values).translate(None, chars)


def blank_to_null(values: pa.Array) -> pa.Array:
  """Empty strings carry no key: they never match anything."""
  return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


# Lowercase ASCII words one space apart: what name.fold leaves, and what
# its word pass and squeezing leave as they are.
PLAIN_WORDS = r"^[a-z0-9]+(?: [a-z0-9]+)*$"


def on_rows(values: pa.Array, rows: pa.Array, fn) -> pa.Array:
  """Applies `fn` (array -> array of the same length) only to the rows
  where `rows` is true (the few that need a slow pass), leaving the others
  as they are."""
  rows = pc.fill_null(rows, False)
  if not pc.any(rows).as_py():
    return values
  return pc.replace_with_mask(values, rows, fn(values.filter(rows)))


def per_distinct(values: pa.Array, fn) -> pa.Array:
  """fn (str -> str) applied once per distinct value: for the Python-only
  steps (phonetic codes, abbreviations) on columns whose values repeat."""
  values = contiguous(values)
  uniq = pc.unique(values.drop_null())
  mapped = pa.array([fn(v) for v in uniq.to_pylist()], pa.string())
  return mapped.take(pc.index_in(values, value_set=uniq))


def clean(values: pa.Array) -> pa.Array:
  """Invisible characters removed, odd spaces made plain, HTML entities
  decoded ("O&#39;Bryan", "AT&amp;T"): what a cell holds after a web form,
  a copy from a web page, Word or Excel. Unicode format characters
  (category Cf: zero-width space and joiners, a BOM inside a cell, soft
  hyphen, direction marks) go; NBSP and the other space separators (Zs)
  become a space. Every normalizer starts here."""
  values = contiguous(values)
  values = values.cast(pa.string())
  view = _byte_view(values)
  if not view.size:
    return values
  if (view == ord("&")).any():
    entity = pc.fill_null(pc.match_substring_regex(values, HTML_ENTITY),
                          False)
    if pc.any(entity).as_py():
      values = pc.replace_with_mask(values, entity, per_distinct(
          values.filter(entity), html.unescape))
      view = _byte_view(values)
  # The common case: plain ASCII, or letters with accents only.
  if view.max() < 0x80 or not has_any(values, _INVISIBLE_LEADS):
    return values
  rows = pc.fill_null(pc.invert(pc.string_is_ascii(values)), False)
  v = pc.replace_substring_regex(values.filter(rows), r"\p{Cf}+", "")
  v = pc.replace_substring_regex(v, r"\p{Zs}", " ")
  return pc.replace_with_mask(values, rows, v)


def squeeze(values: pa.Array) -> pa.Array:
  """Trims and collapses runs of whitespace to one space."""
  values = pc.replace_substring_regex(values, r"\s+", " ")
  return pc.utf8_trim_whitespace(values)


def normalize(values: pa.Array) -> pa.Array:
  """NFKC, lowercase, whitespace squeezed: a string array of the same
  length, null where the value is blank."""
  values = pc.utf8_normalize(values.cast(pa.string()), "NFKC")
  return blank_to_null(squeeze(pc.utf8_lower(values)))
