"""Normalizers turn a column into comparable keys (null: no key).

Each takes and returns a pyarrow string array, so a whole batch is
normalised in a few vectorised calls. `get` looks one up by its config name.
"""

from transforms.normalizers import company, email, name, phone, text, url, zip

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

# Which normalizers can tell a valid value from noise, for multi-value "best".
VALIDATORS = {
    "email": email.is_valid,
    "email_provider": email.is_valid,
    "phone": phone.is_valid,
}


def get(name_: str):
  return NORMALIZERS[name_]
