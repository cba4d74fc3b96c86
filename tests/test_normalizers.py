"""Normalizers on real-world variants: every group must agree on one key."""

import phonenumbers
import pyarrow as pa
import pytest

from crmsync.transforms.normalizers import NORMALIZERS, REGIONAL, phone


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
    # A trailing middle initial (https://github.com/18F/piipan/issues/550).
    ("name", ["Dana M.", "Dana", "DANA  M", "dana m.", "dana"], "dana"),
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


def test_only_a_trailing_initial_after_a_name_is_dropped():
  # (an initial: a capital or a letter with a period; "kam p" is a space
  # typed into "kamp", a typo FEBRL's generator makes)
  assert norm("name", ["J Robert", "A J", "K", "Mary Ann", "Ng", "kam p",
                       "Thomas J", "John A Jr.", "Dana\u00a0M",
                       "Jose\u0301 M"]) == [
      "jrobert", "aj", "k", "maryann", "ng", "kamp", "thomas", "john",
      "dana", "jose"]


def test_a_middle_initial_stays_in_the_words_names_are_compared_by():
  """Only the key leaves it out: John A and John B are two people."""
  from crmsync.transforms.normalizers.name import words
  assert words(pa.array(["John A", "John B", "Dana M."])).to_pylist() == [
      "john a", "john b", "dana m"]


@pytest.mark.parametrize("name", sorted(NORMALIZERS))
def test_blank_is_no_key(name):
  assert norm(name, ["", "   "]) == [None, None]


@pytest.mark.parametrize("name", sorted(NORMALIZERS))
def test_an_unknown_keyword_is_a_type_error(name):
  """A misspelt option (`region=` for `phone_region=`) is refused, not
  ignored: ignored, it left every phone in the default region."""
  with pytest.raises(TypeError, match="region"):
    norm(name, ["020 7946 0018"], region="GB")


def test_the_region_reaches_the_regional_normalizers_only():
  assert REGIONAL == {"phone", "zip"}
  assert norm("phone", ["020 7946 0018"], phone_region="GB") == [
      "+442079460018"]
  assert norm("phone", ["020 7946 0018"]) == [None]  # US by default
  assert norm("zip", ["2134"], phone_region="US") == ["02134"]
  assert norm("zip", ["2134"], phone_region="AT") == ["2134"]
  assert norm("email", ["Ana@X.com"], phone_region="GB") == ["ana@x.com"]


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


# Issue 14: values as they really come.
from hypothesis import given, settings, strategies as st  # noqa: E402

from crmsync.transforms.normalizers import email as email_module  # noqa: E402


@pytest.mark.parametrize("name, values, expected", [
    # Spreadsheet and dataframe mangling: restored, or no key at all.
    ("zip", ["2134.0", "2134", "02134", "02134-0000", "2134.00"], "02134"),
    ("zip", ["501.0", "501", "00501"], "00501"),
    ("zip", ["21341234", "02134-1234"], "02134"),
    ("zip", ["2134.5", "2.134E+03", "N/A", "-", "#N/A"], None),
    ("phone", ["5552013344.0", "15552013344.0", "(555) 201-3344",
               "5.552013344E+09"], "+15552013344"),
    ("phone", ["5.55201E+09", "4.47900E+11", "5.552E+9", "#N/A", "n/a"],
     None),
    # Extensions are part of the number.
    ("phone", ["(555) 201-3344 x47", "555.201.3344 ext. 47",
               "555-201-3344 #47", "+15552013344x47", "555.201.3344;ext=47",
               "555-201-3344 EXT 47"], "+15552013344;ext=47"),
    # Internationalised addresses: the Unicode and punycode forms agree.
    ("email", ["jonas@bäckerei-keller.de", "Jonas@Bäckerei-Keller.DE",
               "jonas@xn--bckerei-keller-5hb.de"],
     "jonas@xn--bckerei-keller-5hb.de"),
    ("email", ["lea@shop.xn--p1ai", "lea@shop.рф", "LEA@SHOP.XN--P1AI"],
     "lea@shop.xn--p1ai"),
    ("email", ["Lopez, Ana <ana.lopez@example.com>",
               '"Ng, Ana" <ana.lopez@example.com>', "ana.lopez@example.com\u200b",
               "\ufeffana.lopez@example.com", "ana.lopez@example.com\u00a0",
               "ana.lopez@\u00adexample.com"], "ana.lopez@example.com"),
    ("email", ["用户@例子.广告"], "用户@xn--fsqu00a.xn--4rr70v"),
    ("email", ["a@b", "a..b@x.com", "not an email", "ana@", ".", '"', ""],
     None),
    # Special-use domains (Active Directory's .local) are kept.
    ("email", ["ana@corp.local", "Ana@Corp.LOCAL", "ana@corp.local."],
     "ana@corp.local"),
    # Letters Unicode does not decompose, other scripts, punctuation.
    ("name", ["Łukasz", "Lukasz", "LUKASZ"], "lukasz"),
    ("name", ["Søren", "Soren"], "soren"),
    ("name", ["Æsa", "Aesa"], "aesa"),
    ("name", ["Weiß", "Weiss"], "weiss"),
    ("name", ["Đorđe", "Djordje", "Dorde"], "dorde"),
    ("name", ["Işık", "Isik", "IŞIK"], "isik"),
    ("name", ["O'Brien", "O Brien", "OBrien", "O’Brien", "O&#39;Brien",
              "o-brien"], "obrien"),
    ("name", ["García-Márquez", "Garcia Marquez", "GARCIAMARQUEZ"],
     "garciamarquez"),
    ("company", ["Škoda Auto a.s.", "Skoda Auto A.S."], "skoda auto a s"),
    ("company", ["AT&amp;T Inc.", "AT&T"], "at and t"),
    ("url", ["n/a", "see notes", "-"], None),
])
def test_values_as_they_come(name, values, expected):
  assert norm(name, values) == [expected] * len(values)


INVISIBLE = st.sampled_from(["\u200b", "\u200c", "\u200d", "\u2060",
                             "\ufeff", "\u00ad", "\u200e", "\u200f"])


@settings(max_examples=100, deadline=None)
@given(value=st.sampled_from(["ana.lopez@example.com", "(555) 201-3344",
                              "02134", "Łukasz O'Brien", "Acme Inc.",
                              "linkedin.com/in/ana"]),
       mark=INVISIBLE, at=st.integers(0, 30))
def test_invisible_characters_never_change_a_key(value, mark, at):
  at = min(at, len(value))
  hidden = value[:at] + mark + value[at:]
  for name in NORMALIZERS:
    assert norm(name, [hidden]) == norm(name, [value]), name


@settings(max_examples=300, deadline=None)
@given(zip5=st.integers(501, 99950))
def test_a_zip_read_as_a_number_is_itself_or_nothing(zip5):
  """A mangled ZIP never becomes another valid one."""
  real = f"{zip5:05d}"
  as_float = f"{float(zip5)}"  # pandas: 2134.0
  assert norm("zip", [as_float, str(zip5)]) == [real, real]
  decimals = f"{zip5}.5"
  assert norm("zip", [decimals]) == [None]


@settings(max_examples=300, deadline=None)
@given(area=st.integers(201, 989), exchange=st.integers(200, 999),
       line=st.integers(0, 9999))
def test_a_phone_through_excel_is_itself_or_nothing(area, exchange, line):
  """Scientific notation keeps its digits or gives no key; never another
  number."""
  number = int(f"{area}{exchange}{line:04d}")
  real = f"+1{number}"
  for shown in (f"{float(number):.5E}", f"{float(number):.9E}",
                f"{float(number)}"):
    assert norm("phone", [shown])[0] in (real, None), shown
  assert norm("phone", [f"{float(number):.9E}"]) == [real]


ATEXT = "abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~-"
LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@settings(max_examples=500, deadline=None)
@given(local=st.lists(st.text(ATEXT, min_size=1, max_size=8), min_size=1,
                      max_size=3),
       labels=st.lists(LABEL, min_size=1, max_size=3),
       tld=st.from_regex(r"[a-z]{1,6}|xn--[a-z0-9]{2,6}", fullmatch=True),
       upper=st.booleans())
def test_the_fast_email_path_agrees_with_email_validator(local, labels, tld,
                                                         upper):
  """The vectorised pattern accepts a subset of what email-validator
  accepts, with the same key (after the trim both paths share: quotes,
  dots and separators around a cell, Excel's leading apostrophe)."""
  address = ".".join(local) + "@" + ".".join(labels + [tld])
  if upper:
    address = address.upper()
  trimmed = address.lower().strip(" .;,'\"")
  assert norm("email", [address]) == [
      email_module.normalize_one(trimmed) if trimmed else None]


BATCH_VALUES = ["", " ", ".", '"', "n/a", "ana@x.com", "jonas@bäckerei-keller.de",
                "Lopez, Ana <ana@x.com>", "ana@corp.local", "(555) 201-3344",
                "5.55201E+09", "555-201-3344 x12", "+44 20 7946 0018", "2134.0",
                "02134-1234", "SW1A 1AA", "Łukasz O'Brien", "Acme Inc.",
                "linkedin.com/in/ana", "a\u200bb", None]


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.sampled_from(BATCH_VALUES), min_size=1,
                       max_size=12))
def test_a_key_does_not_depend_on_the_rest_of_the_batch(values):
  """A value normalised alone or among others (blanks, junk, values that
  take a slow path) gets the same key."""
  for name in NORMALIZERS:
    together = norm(name, values)
    assert together == [norm(name, [v])[0] for v in values], name


@pytest.mark.parametrize("name, values", [
    ("name", ["Occupant", "LADY OF THE HOUSE", "Lady Of House", "Unknown",
              "[not provided]", "Declined", "Mrs", "Doe", "8", "?",
              "No Name", "Unbekannt"]),
    ("company", ["[not provided]", "Unknown", "N/A", "none"]),
])
def test_a_placeholder_is_blank(name, values):
  # pseudopeople's census fake names; Salesforce Web-to-Lead's
  # "[not provided]" (knowledge article 000171026); SORMAS's "Unbekannt"
  # (SORMAS-Project issue 4769).
  assert norm(name, values) == [None] * len(values)


@pytest.mark.parametrize("name, value, expected", [
    # Family names that are also on the census list of fake names, and
    # initials: real names, kept.
    ("name", "Goh", "goh"), ("name", "Son", "son"), ("name", "Parent",
                                                     "parent"),
    ("name", "K", "k"), ("name", "Nino", "nino"), ("name", "Na", "na"),
    ("company", "Unknown Worlds Entertainment", "unknown worlds entertainment"),
    ("company", "Occupant Ltd", "occupant"),
    ("name", "Mary 2", "mary2"), ("company", "3M", "3m"),
])
def test_a_real_name_that_looks_like_a_placeholder_is_kept(name, value,
                                                           expected):
  assert norm(name, [value]) == [expected]


def test_a_placeholder_with_a_generational_suffix_is_blank_when_compared():
  # The comparisons keep "Jr" (Sr and Jr are two people); a census fake
  # name is still no name with it. A real name keeps its suffix.
  from crmsync.transforms.normalizers.name import words
  compared = words(pa.array(["Occupant Jr", "Unknown III", "Smith Jr",
                                  "Jr", None]), keep_generation=True)
  assert compared.to_pylist() == [None, None, "smith jr", "jr", None]
