"""Email addresses: trim, lowercase, unwrap "Name <addr>" and "mailto:".

`email` keeps the address as given; `email_provider` also applies provider
rules (drop a +tag everywhere, drop dots in Gmail local parts), which only the
user can decide are safe for their data.

Syntax and internationalised domains are `email-validator`'s (RFC 5321/5322,
RFC 6531 local parts, IDNA 2008 domains): the key of an address at
`bäckerei-keller.de` is its punycode form, so the Unicode and the `xn--`
spellings of one domain agree. `email-validator` works one address at a
time in Python, so plain ASCII addresses that a strict pattern accepts (a
subset of what it accepts, with the same key: tests/test_normalizers.py
checks both properties) skip it; only the rest, once per distinct value, go
through it.

Addresses at special-use domains (RFC 6761: `.local`, `.test`, ...), which
`email-validator` refuses, are kept: CRMs of companies on an Active
Directory domain hold `ana@corp.local`, and two identical ones must match.
"""

import functools

import pyarrow as pa
import pyarrow.compute as pc
from email_validator import (SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError,
                             validate_email)

from crmsync.transforms.normalizers.text import blank_to_null, has_any, per_distinct

_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9]+(?:-[a-z0-9]+)*"
# Dot-atom local part, labels without "--" (IDNA rules apply to those), a TLD
# of 2 or more letters.
FAST = (rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[a-z]{{2,63}}$")
MAX_FAST_LENGTH = 64  # longer addresses: the validator checks the limits
GMAIL = r"@(gmail|googlemail)\.com$"
# A special-use last label is checked as this one, then put back.
_STAND_IN = "example"


@functools.lru_cache(maxsize=65536)
def normalize_one(address: str):
  """The key of one unwrapped, lowercased address by `email-validator`:
  local part @ ASCII (punycode) domain; None if it is not an address."""
  domain, _, tld = address.rpartition(".")
  special = tld in SPECIAL_USE_DOMAIN_NAMES and "@" in domain
  try:
    found = validate_email(f"{domain}.{_STAND_IN}" if special else address,
                           check_deliverability=False)
  except EmailNotValidError:
    return None
  ascii_domain = found.ascii_domain.lower()
  if special:
    ascii_domain = ascii_domain.removesuffix(_STAND_IN) + tld
  return f"{found.local_part.lower()}@{ascii_domain}"


def normalize(values: pa.Array) -> pa.Array:
  """The address key of each value ("ana@x.com"): a string array of the
  same length, null where the value is blank or not an address."""
  v = pc.utf8_lower(pc.utf8_trim_whitespace(values.cast(pa.string())))
  if has_any(v, b"<"):
    v = pc.replace_substring_regex(v, r"^.*<([^<>]*)>.*$", r"\1")
  if has_any(v, b":"):
    v = pc.replace_substring_regex(v, r"^mailto:", "")
  v = pc.utf8_trim(v, " .;,'\"")
  length = pc.utf8_length(v)
  fast = pc.and_kleene(pc.match_substring_regex(v, FAST),
                       pc.less_equal(length, MAX_FAST_LENGTH))
  slow = pc.fill_null(pc.and_(pc.invert(fast), pc.greater(length, 0)),
                      False)
  keys = pc.if_else(fast, v, pa.scalar(None, pa.string()))
  if not pc.any(slow).as_py():
    return keys
  at = pc.indices_nonzero(slow)
  checked = per_distinct(v.take(at), normalize_one)
  return pc.replace_with_mask(keys, slow, checked)


def normalize_provider(values: pa.Array) -> pa.Array:
  """`normalize`, then the providers' rules (no +tag, no dots in a Gmail
  local part): a string array of the same length, null where there is no
  address."""
  v = normalize(values)
  v = pc.replace_substring_regex(v, r"^([^@+]*)\+[^@]*@", r"\1@")
  v = pc.replace_substring_regex(v, r"@googlemail\.com$", "@gmail.com")
  is_gmail = pc.match_substring_regex(v, GMAIL)
  local = pc.replace_substring_regex(v, r"@.*$", "")
  domain = pc.replace_substring_regex(v, r"^[^@]*", "")
  undotted = pc.binary_join_element_wise(
      pc.replace_substring(local, ".", ""), domain, "")
  return blank_to_null(pc.if_else(is_gmail, undotted, v))
