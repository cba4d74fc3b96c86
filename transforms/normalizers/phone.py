"""Phone numbers to E.164 with `phonenumbers`, with a vectorised fast path.

"(555) 123-4567", "+1 555.123.4567" and "1-555-123-4567" all become
+15551234567 (region US). Most numbers in a North American CRM are ten
digits with punctuation: those are rewritten with pyarrow compute; anything
else (other countries, letters, odd lengths) goes through phonenumbers one
value at a time, which is the reference the fast path must agree with.

An extension is part of the number's identity: colleagues behind one
switchboard differ only by it. "555-123-4567 x12" and "(555) 123-4567 ext.
12" become +15551234567;ext=12 (RFC 3966's notation), which agrees with
neither another extension nor the bare switchboard number.

Spreadsheets mangle numbers: "5552013344.0" (a float) is restored; "5.55201E+09"
(scientific notation, digits rounded away) is no number at all, unless its
mantissa still holds every digit.
"""

import decimal
import functools
import re

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from crmsync.transforms.normalizers.text import (blank_to_null, byte_set,
                                                has_any, keep_bytes, only)

# How an extension is written: "x12", "ext. 12", "extension 12", "#12",
# ";ext=12".
EXTENSION_MARK = r"(?:ext\.?|extension|x|#)\s*=?\s*"
EXTENSION = rf"(?i)\s*;?\s*{EXTENSION_MARK}\d{{1,6}}\s*$"
EXTENSION_DIGITS = rf"(?i)^.*?{EXTENSION_MARK}(\d{{1,6}})\s*$"
FLOAT = r"^(\+?\d{7,15})\.0+$"  # a number read as a float: 5552013344.0
SCIENTIFIC = re.compile(r"^[+-]?(\d)(?:\.(\d+))?[eE]\+?(\d+)$")
PLAIN = r"^\+?[0-9 ().\-/]+$"
NANP_REGIONS = frozenset(
    r for r in phonenumbers.region_codes_for_country_code(1))


def from_scientific(value: str):
  """The digits of a number a spreadsheet wrote in scientific notation, if
  the mantissa kept them all ("5.552013344E+09"); None if digits were
  rounded away ("5.55201E+09"), "" if `value` is not in that notation."""
  m = SCIENTIFIC.match(value.strip())
  if not m:
    return ""
  lead, rest, exponent = m.group(1), m.group(2) or "", int(m.group(3))
  if len(rest) != exponent:
    return None
  return str(decimal.Decimal(f"{lead}.{rest}e{exponent}").to_integral())


@functools.lru_cache(maxsize=65536)
def normalize_one(value: str, region: str = "US"):
  """E.164 of a possible number, with ";ext=N" when it has an extension,
  else None. The reference implementation."""
  if not value or not value.strip():
    return None
  restored = from_scientific(value)
  if restored is None:
    return None
  value = re.sub(FLOAT, r"\1", restored or value.strip())
  try:
    number = phonenumbers.parse(value, region)
  except phonenumbers.NumberParseException:
    return None
  if not phonenumbers.is_possible_number(number):
    return None
  e164 = phonenumbers.format_number(number,
                                    phonenumbers.PhoneNumberFormat.E164)
  return f"{e164};ext={number.extension}" if number.extension else e164


def is_valid(value: str, region: str = "US") -> bool:
  try:
    return phonenumbers.is_valid_number(phonenumbers.parse(value, region))
  except phonenumbers.NumberParseException:
    return False


PLAIN_CHARS = b"0123456789 ().-/+"
_DIGITS = byte_set(b"0123456789")


def _digits(v: pa.Array) -> pa.Array:
  return keep_bytes(v, _DIGITS)


def _fast_nanp(values: pa.Array, region: str):
  """E.164 for plain NANP numbers, null where the slow path must decide."""
  v = pc.utf8_trim_whitespace(values)
  ext = None
  if has_any(v, b"xX#"):
    has_ext = pc.match_substring_regex(v, EXTENSION)
    if pc.any(has_ext).as_py():
      ext = pc.if_else(has_ext, pc.replace_substring_regex(
          v, EXTENSION_DIGITS, r"\1"), pa.scalar(None, pa.string()))
      v = pc.replace_substring_regex(v, EXTENSION, "")
  if has_any(v, b".") and pc.any(pc.or_(
      pc.ends_with(v, ".0"), pc.ends_with(v, ".00"))).as_py():
    v = pc.replace_substring_regex(v, FLOAT, r"\1")
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
  if ext is not None:
    e164 = pc.coalesce(pc.binary_join_element_wise(e164, ext, ";ext="), e164)
  return pc.if_else(ok, e164, pa.scalar(None, pa.string())), ok


def normalize(values: pa.Array, *, phone_region: str = "US") -> pa.Array:
  """The E.164 key of each value ("+442079460018", "+15551234567;ext=12"):
  a string array of the same length, null where the value is blank or not
  a possible number. `phone_region`, a two-letter ISO 3166-1 code ("US",
  "GB": the job's `match.phone_region`), is the country of numbers written
  without a country code: "020 7946 0018" is +442079460018 in GB and no
  number in the US."""
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
  return pc.replace_with_mask(fast, slow, slow_values)
