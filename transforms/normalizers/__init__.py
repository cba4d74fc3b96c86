"""Normalizers turn a column into comparable keys (null: no key).

Each takes and returns a pyarrow string array, so a whole batch is
normalised in a few vectorised calls. `get` looks one up by its config name.
A normalizer is also a validator: a non-blank value it maps to null is not a
value of its kind (an email, phone, ZIP or URL; transforms/validity.py says
why).
Every one first removes invisible characters (`text.clean`).

The contract of every entry of NORMALIZERS (what `get` returns):

    normalize(values, *, phone_region="US") -> pa.Array

`values` is a pa.Array or pa.ChunkedArray of strings (other types are
cast); the result is one contiguous string array of the same length, null
where a value has no key. `phone_region`, a two-letter ISO 3166-1 code (the
job's `match.phone_region`), is the country of numbers and postcodes written
without one; the normalizers in REGIONAL (phone, zip) use it, the others
have no use for it. Any other keyword raises TypeError: a misspelt one
(`region=`) must not silently fall back to the US.

The module functions behind them take only what they use:
`phone.normalize` and `zip.normalize` take `phone_region` (keyword only),
the others `values` alone.
"""

import inspect

import pyarrow as pa

from crmsync.transforms.normalizers import company, email, name, phone, text, url, zip
from crmsync.transforms.rows import contiguous


def _arrays(name_: str, fn):
  """`fn` under the contract above: on one contiguous array (tables hand
  out chunked ones), cleaned of invisible characters, given `phone_region`
  when its signature has that parameter."""
  regional = "phone_region" in inspect.signature(fn).parameters

  def normalize(values, *, phone_region: str = "US") -> pa.Array:
    values = contiguous(values)
    values = text.clean(values)
    if regional:
      return fn(values, phone_region=phone_region)
    return fn(values)

  normalize.__name__ = normalize.__qualname__ = f"normalize_{name_}"
  normalize.__doc__ = fn.__doc__
  return normalize


NORMALIZERS = {
    "email": email.normalize,
    "email_provider": email.normalize_provider,
    "phone": phone.normalize,
    "name": name.normalize,
    "company": company.normalize,
    "zip": zip.normalize,
    "url": url.normalize,
    "domain": url.normalize_domain,
    "text": text.normalize,
}
# The normalizers whose keys depend on the region.
REGIONAL = frozenset(n for n, fn in NORMALIZERS.items()
                     if "phone_region" in inspect.signature(fn).parameters)
NORMALIZERS = {name_: _arrays(name_, fn) for name_, fn in NORMALIZERS.items()}


def _email_is_valid(value: str) -> bool:
  return NORMALIZERS["email"](pa.array([value], pa.string()))[0].is_valid


# Which normalizers can tell a valid value from noise, for multi-value "best".
VALIDATORS = {
    "email": _email_is_valid,
    "email_provider": _email_is_valid,
    "phone": phone.is_valid,
}


def get(name_: str):
  """The normalizer a config calls `name_` ("email", "phone", ...), under
  the contract above; KeyError for an unknown name (pipelines/config.py
  checks names first)."""
  return NORMALIZERS[name_]
