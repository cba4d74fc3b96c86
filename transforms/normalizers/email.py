"""Email addresses: trim, lowercase, unwrap "Name <addr>" and "mailto:".

`email` keeps the address as given; `email_provider` also applies provider
rules (drop a +tag everywhere, drop dots in Gmail local parts), which only the
user can decide are safe for their data.
"""

import pyarrow as pa
import pyarrow.compute as pc

from transforms.normalizers.text import blank_to_null, has_any

VALID = r"^[^@\s<>(),;:\"\[\]]+@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}$"
GMAIL = r"@(gmail|googlemail)\.com$"


def normalize(values: pa.Array, **_) -> pa.Array:
  v = pc.utf8_lower(pc.utf8_trim_whitespace(values.cast(pa.string())))
  if has_any(v, b"<"):
    v = pc.replace_substring_regex(v, r"^.*<([^<>]*)>.*$", r"\1")
  if has_any(v, b":"):
    v = pc.replace_substring_regex(v, r"^mailto:", "")
  v = pc.utf8_trim(v, " .;,'\"")
  return pc.if_else(pc.match_substring_regex(v, VALID), v,
                    pa.scalar(None, pa.string()))


def normalize_provider(values: pa.Array, **_) -> pa.Array:
  v = normalize(values)
  v = pc.replace_substring_regex(v, r"^([^@+]*)\+[^@]*@", r"\1@")
  v = pc.replace_substring_regex(v, r"@googlemail\.com$", "@gmail.com")
  is_gmail = pc.match_substring_regex(v, GMAIL)
  local = pc.replace_substring_regex(v, r"@.*$", "")
  domain = pc.replace_substring_regex(v, r"^[^@]*", "")
  undotted = pc.binary_join_element_wise(
      pc.replace_substring(local, ".", ""), domain, "")
  return blank_to_null(pc.if_else(is_gmail, undotted, v))


def is_valid(value: str) -> bool:
  return normalize(pa.array([value])).is_valid().to_pylist()[0]
