"""Phone numbers to E.164 with `phonenumbers`, with a vectorised fast path.

"(555) 123-4567", "+1 555.123.4567" and "555-123-4567 x12" all become
+15551234567 (region US). Most numbers in a North American CRM are ten
digits with punctuation: those are rewritten with pyarrow compute; anything
else (other countries, letters, odd lengths) goes through phonenumbers one
value at a time, which is the reference the fast path must agree with.
"""

import functools

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from transforms.normalizers.text import blank_to_null, has_any, only

EXTENSION = r"(?i)\s*(?:ext\.?|extension|x|#)\s*\d{1,6}\s*$"
PLAIN = r"^\+?[0-9 ().\-/]+$"
NANP_REGIONS = frozenset(
    r for r in phonenumbers.region_codes_for_country_code(1))


@functools.lru_cache(maxsize=65536)
def normalize_one(value: str, region: str = "US"):
  """E.164 of a possible number, else None. The reference implementation."""
  if not value or not value.strip():
    return None
  try:
    number = phonenumbers.parse(value, region)
  except phonenumbers.NumberParseException:
    return None
  if not phonenumbers.is_possible_number(number):
    return None
  return phonenumbers.format_number(number,
                                    phonenumbers.PhoneNumberFormat.E164)


def is_valid(value: str, region: str = "US") -> bool:
  try:
    return phonenumbers.is_valid_number(phonenumbers.parse(value, region))
  except phonenumbers.NumberParseException:
    return False


PLAIN_CHARS = b"0123456789 ().-/+"


def _digits(v: pa.Array) -> pa.Array:
  if only(v, PLAIN_CHARS):  # plain substring removal beats a regex pass
    for ch in " ().-/+":
      v = pc.replace_substring(v, ch, "")
    return v
  return pc.replace_substring_regex(v, r"[^0-9]", "")


def _fast_nanp(values: pa.Array, region: str):
  """E.164 for plain NANP numbers, null where the slow path must decide."""
  v = pc.utf8_trim_whitespace(values)
  if has_any(v, b"xXeE#"):
    v = pc.replace_substring_regex(v, EXTENSION, "")
  plain = (pc.is_valid(v) if only(v, PLAIN_CHARS)
           else pc.match_substring_regex(v, PLAIN))
  digits = _digits(v)
  plus = pc.starts_with(v, "+")
  n = pc.utf8_length(digits)
  d0 = pc.utf8_slice_codeunits(digits, 0, 1)
  d1 = pc.utf8_slice_codeunits(digits, 1, 2)
  ten = pc.and_(pc.equal(n, 10), pc.greater_equal(d0, "2"))
  eleven = pc.and_(pc.and_(pc.equal(n, 11), pc.equal(d0, "1")),
                   pc.greater_equal(d1, "2"))
  if region in NANP_REGIONS:
    ok = pc.and_(plain, pc.or_(pc.and_(ten, pc.invert(plus)), eleven))
  else:
    ok = pc.and_(plain, pc.and_(plus, eleven))
  e164 = pc.if_else(ten, pc.binary_join_element_wise("+1", digits, ""),
                    pc.binary_join_element_wise("+", digits, ""))
  return pc.if_else(ok, e164, pa.scalar(None, pa.string())), ok


def normalize(values: pa.Array, phone_region: str = "US", **_) -> pa.Array:
  values = values.cast(pa.string())
  fast, ok = _fast_nanp(values, phone_region)
  slow = pc.and_(pc.invert(pc.fill_null(ok, False)),
                 pc.is_valid(blank_to_null(values)))
  if not pc.any(slow).as_py():
    return fast
  idx = pc.indices_nonzero(slow)
  slow_values = pa.array(
      [normalize_one(v, phone_region)
       for v in values.take(idx).to_pylist()], pa.string())
  out = fast.to_pylist()
  for i, v in zip(idx.to_pylist(), slow_values.to_pylist()):
    out[i] = v
  return pa.array(out, pa.string())
