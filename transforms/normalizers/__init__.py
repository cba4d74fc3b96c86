"""Normalizers turn a column into comparable keys (null: no key).

Each takes and returns a pyarrow string array, so a whole batch is
normalised in a few vectorised calls. `get` looks one up by its config name.
"""

import functools

import pyarrow as pa

from transforms.normalizers import company, email, name, phone, text, url, zip

def _arrays(fn):
  """Normalizers work on one contiguous array; tables hand out chunked
  ones."""
  @functools.wraps(fn)
  def normalize(values, **kw):
    if isinstance(values, pa.ChunkedArray):
      values = values.combine_chunks()
    return fn(values, **kw)
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

# Which normalizers can tell a valid value from noise, for multi-value "best".
VALIDATORS = {
    "email": email.is_valid,
    "email_provider": email.is_valid,
    "phone": phone.is_valid,
}


def get(name_: str):
  return NORMALIZERS[name_]
