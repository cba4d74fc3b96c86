"""Placeholders: what people and systems type where a name or company is
not known ("Occupant", "Lady Of House", "Unknown", "[not provided]").

A placeholder is not a name: two people recorded as "Unknown" are not one
person, and "Susan Occupant" is not someone other than "Susan Weiberg" at
the same address. Normalizers make these values blank, so no key is built
from them and a comparison with one weighs nothing.

Sources:
- names: the fake names that people wrote on census forms, as listed by the
  NORC report on the Census Bureau's Person Validation System and shipped
  by pseudopeople (pseudopeople/data/fake_names.py, BSD-3-Clause). Single
  letters are left out (they are initials, compared as such), and so are
  the entries that are also family names of some frequency (Son, Man, Na,
  No, Parent, House, Friend, Younger, Minor, Gentle; Goh, Loh, Soh, Moh,
  Doh and Coh in Singapore and Malaysia) or given names (Nino). Some kept
  entries are rare family names too (Doe, Child, Home, Person, Lady): a
  person so named loses the name key and is matched by email, phone or
  the other names.
- names and companies: Salesforce's "[not provided]", which Web-to-Lead
  writes into a required Last Name or Company left blank (Salesforce
  knowledge article 000171026).
- names: "Unbekannt" (German: unknown), which an import writes into both
  names of a record that has none, so that every unnamed record looks like
  every other (https://github.com/SORMAS-Foundation/SORMAS-Project/issues/
  4769).
"""

import functools

import pyarrow as pa
import pyarrow.compute as pc

# Folded as normalizers/name.py `fold` leaves them: lowercase ASCII,
# punctuation as spaces.
PLACEHOLDER_NAMES = frozenset(" ".join(n.split()) for n in """
adult; adult male; anon; anonymous; apellido; baby; boy; brother; casa; child;
child f; dad; dau; daughter; daughter of; de casa; de la casa; declined; doe;
dont know; father; female; female child; four; gent; gentelman; gentleman;
gentleman of; gentlemen; girl; grandchild; granddaughter; grandson; h age; hh;
hhm; hija; hijo; home; household; householder; husband; inmate; kid; lady;
lady in the; lady of; lady of house; lady of the; lady of the house; last
name; male; male child; man in the; man of; man of the; man of the house;
miss; mom; mother; mr; mrs; ms; nephew; no last name; no name; none; not
provided; occupant; of house; of the home; of the house; oldest; one; owner;
person; ref; refuse; resident; resp; respondant; respondent; senor; senora;
sister; the house; three; two; unbekannt; unk; unknown; wife; woman; xxx;
youngest
""".split(";"))

PLACEHOLDER_COMPANIES = frozenset(
    ["not provided", "unknown", "none", "n a", "na", "null"])


def blank_placeholders(folded: pa.Array, placeholders: frozenset
                       ) -> pa.Array:
  """`folded` (strings, folded as normalizers/name.py `fold` does) with
  every value in `placeholders`, and every value of digits alone ("8": a
  name entered as a number, https://github.com/CodeForPhilly/
  paws-data-pipeline/issues/588), made null; the same length."""
  hit = pc.or_(pc.is_in(folded, value_set=_value_set(placeholders)),
              pc.utf8_is_digit(folded))
  hit = pc.fill_null(hit, False)
  if not pc.any(hit).as_py():
    return folded
  return pc.if_else(hit, pa.scalar(None, folded.type), folded)


@functools.lru_cache(maxsize=None)
def _value_set(placeholders: frozenset) -> pa.Array:
  """A set of placeholders as an array, once per set (every batch's names
  pass through blank_placeholders)."""
  return pa.array(sorted(placeholders), pa.string())
