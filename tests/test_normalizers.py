"""Normalizers on real-world variants: every group must agree on one key."""

import phonenumbers
import pyarrow as pa
import pytest

from transforms.normalizers import NORMALIZERS, phone


def norm(name, values, **kw):
  return NORMALIZERS[name](pa.array(values, pa.string()), **kw).to_pylist()


@pytest.mark.parametrize("name, variants, expected", [
    ("email", [" John.Doe@Example.COM ", "john.doe@example.com",
               "John Doe <john.doe@example.com>", "mailto:JOHN.DOE@example.com",
               "john.doe@example.com;"], "john.doe@example.com"),
    ("email_provider", ["j.o.h.n+news@gmail.com", "john@googlemail.com",
                        "JOHN@GMAIL.COM"], "john@gmail.com"),
    ("email_provider", ["jane+crm@acme.com", "jane@acme.com"],
     "jane@acme.com"),
    ("phone", ["(555) 123-4567", "+1 555.123.4567", "5551234567.0",
               "1-555-123-4567", "5551234567", "+1 (555) 123 4567",
               "5.551234567E+09"], "+15551234567"),
    ("phone", ["555-123-4567 x12", "555.123.4567 ext. 12",
               "(555) 123-4567 #12", "+1 555 123 4567 extension 12"],
     "+15551234567;ext=12"),
    ("name", ["Dr. José Müller-Smith, PhD", "jose muller smith",
              "JOSE MULLER SMITH JR.", "Mr. Jose  Muller-Smith"],
     "josemullersmith"),
    ("name", ["O'Brien", "OBrien", "o’brien"], "obrien"),
    ("company", ["ACME, Inc.", "Acme Incorporated", "acme", "Acme LLC",
                 "The Acme Company", "ACME GmbH"], "acme"),
    ("company", ["Smith & Sons Ltd", "smith and sons"], "smith and sons"),
    ("zip", ["02134", "2134", "02134-1234", "021341234", " 02134 "], "02134"),
    ("url", ["https://www.LinkedIn.com/in/jdoe/?trk=abc",
             "linkedin.com/in/jdoe", "http://linkedin.com/in/jdoe#x"],
     "linkedin.com/in/jdoe"),
    ("domain", ["https://www.acme.com/about", "joe@Acme.com", "ACME.COM."],
     "acme.com"),
    ("text", ["  Hello   World ", "hello world", "HELLO\tWORLD"],
     "hello world"),
])
def test_variants_agree(name, variants, expected):
  assert norm(name, variants) == [expected] * len(variants)


@pytest.mark.parametrize("name", sorted(NORMALIZERS))
def test_blank_is_no_key(name):
  assert norm(name, ["", "   "]) == [None, None]


def test_invalid_emails_are_no_key():
  assert norm("email", ["not an email", "a@b", "@example.com",
                        "a b@example.com"]) == [None] * 4


def test_postcodes_outside_the_us_are_kept():
  assert norm("zip", ["SW1A 1AA", "75008", "10115"]) == [
      "SW1A1AA", "75008", "10115"]


def test_phone_region_applies_to_national_numbers():
  assert norm("phone", ["020 7946 0958", "+1 555 123 4567"],
              phone_region="GB") == ["+442079460958", "+15551234567"]
  assert norm("phone", ["030 1234567", "+49 (0)30 1234567"],
              phone_region="DE") == ["+49301234567"] * 2


# The fast path must give exactly what phonenumbers gives.
PHONE_CASES = [
    "(555) 123-4567", "555-123-4567 x12", "+1 555.123.4567", "2125551234",
    "12125551234", "+12125551234", "1 (212) 555-1234", "212-555-1234 #77",
    "+44 20 7946 0958", "0044 20 7946 0958", "+33 1 42 68 53 00",
    "123-4567", "555-0100", "(212) 555-1234 ext 5", "212 555 1234 x",
    "+1 800 FLOWERS", "1-800-356-9377", "011 44 20 7946 0958", "911",
    "+1 (212) 555-1234", "212.555.1234", " 212 555 1234 ", "(012) 345-6789",
]


@pytest.mark.parametrize("region", ["US", "CA", "GB", "DE"])
def test_phone_fast_path_agrees_with_phonenumbers(region):
  expected = [phone.normalize_one(v, region) for v in PHONE_CASES]
  assert norm("phone", PHONE_CASES, phone_region=region) == expected
  assert expected[0] == "+15551234567" or region not in ("US", "CA")


def test_phone_reference_is_phonenumbers():
  n = phonenumbers.parse("+44 20 7946 0958", None)
  assert phone.normalize_one("+44 20 7946 0958") == phonenumbers.format_number(
      n, phonenumbers.PhoneNumberFormat.E164)
  assert phone.normalize_one("not a phone") is None
