"""Normalizers turn a column into comparable keys (null: no key).

Each takes and returns a pyarrow string array, so a whole batch is
normalised in a few vectorised calls. `get` looks one up by its config name.
A normalizer is also a validator: a non-blank value it maps to null is not a
value of its kind (an email, phone, ZIP or URL; transforms/validity.py says
why).
Every one first removes invisible characters (`text.clean`).
"""

import functools

import pyarrow as pa

from crmsync.transforms.normalizers import company, email, name, phone, text, url, zip


def _arrays(fn):
  """Normalizers work on one contiguous array (tables hand out chunked
  ones), cleaned of invisible characters."""
  @functools.wraps(fn)
  def normalize(values, **kw):
    if isinstance(values, pa.ChunkedArray):
      values = values.combine_chunks()
    return fn(text.clean(values), **kw)
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
NORMALIZERS = {name_: _arrays(fn) for name_, fn in NORMALIZERS.items()}


def _email_is_valid(value: str) -> bool:
  return NORMALIZERS["email"](pa.array([value], pa.string()))[0].is_valid


# Which normalizers can tell a valid value from noise, for multi-value "best".
VALIDATORS = {
    "email": _email_is_valid,
    "email_provider": _email_is_valid,
    "phone": phone.is_valid,
}


def get(name_: str):
  return NORMALIZERS[name_]
