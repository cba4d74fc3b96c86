"""The quote scan (transforms/csv_scan.py): which quotes toggle quoting,
which newlines end a record, and the state a chunk leaves the next in."""

from hypothesis import given, settings
from hypothesis import strategies as st

from crmsync.transforms.csv_scan import (OUTSIDE, QuoteScan, QuoteState,
                                         strip_eol)


def test_rfc4180_quotes_and_record_ends():
  data = b'a,"b\nc"\n"say ""hi"""\nx\n'
  scan = QuoteScan(data)
  assert scan.quotes.tolist() == [2, 6, 8, 13, 14, 17, 18, 19]
  assert scan.newlines.tolist() == [4, 7, 20, 22]
  assert scan.ends.tolist() == [7, 20, 22]  # not the quoted one at 4
  assert scan.after == OUTSIDE


def test_a_chunk_read_from_inside_quotes():
  scan = QuoteScan(b'c"\nd\n"e\n', state=QuoteState(in_quotes=True))
  assert scan.ends.tolist() == [2, 4]
  assert scan.after == QuoteState(in_quotes=True)
  assert QuoteScan(b"no quotes\n", state=QuoteState(True)).ends.size == 0


def test_backslash_escapes():
  # \" toggles nothing; \\" is an escaped backslash, then a quote; \<LF>
  # ends no record.
  data = b'"a\\"b",\\\\"c"\nd\\\ne\n'
  scan = QuoteScan(data, "\\")
  assert scan.quotes.tolist() == [0, 5, 9, 11]
  assert scan.ends.tolist() == [12, 17]
  assert scan.newlines.tolist() == [12, 15, 17]
  assert scan.after == OUTSIDE
  # Without an escape character every quote counts.
  assert QuoteScan(data).quotes.tolist() == [0, 3, 5, 9, 11]


def test_an_escape_at_a_chunk_end_escapes_the_next_chunk_first_byte():
  first = QuoteScan(b'x\\', "\\")
  assert first.after == QuoteState(escaped=True)
  second = QuoteScan(b'"\n', "\\", first.after)
  assert second.quotes.size == 0 and second.ends.tolist() == [1]
  # An empty chunk passes the escape on; an even run escapes nothing.
  assert QuoteScan(b"", "\\", first.after).after == first.after
  assert QuoteScan(b'x\\\\', "\\").after == OUTSIDE
  # Without an escape character nothing is ever escaped.
  assert QuoteScan(b'x\\').after == OUTSIDE


def test_after_counts_quotes_whether_or_not_their_positions_are_known():
  scan = QuoteScan(b'"a""b\n', state=QuoteState(in_quotes=True))
  assert scan.after == QuoteState(in_quotes=False)  # 3 quotes: odd
  assert scan.quotes.tolist() == [0, 2, 3]
  assert scan.after == QuoteState(in_quotes=False)


def test_strip_eol():
  assert [strip_eol(b) for b in (b"a\r\n", b"a\n", b"a\r", b"a", b"\n")] == [
      b"a", b"a", b"a", b"a", b""]


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=60).map(
           lambda b: bytes(b'\\"\na,'[x % 5] for x in b)),
       cut=st.integers(min_value=0),
       escape=st.sampled_from([None, "\\"]))
def test_state_carries_across_chunks(data, cut, escape):
  """Scanning chunk by chunk (a split's scan) gives what one scan of the
  whole gives: a backslash at a chunk's end escapes the next chunk's first
  byte, and a quote left open makes the next chunk start inside quotes."""
  cut = cut % (len(data) + 1)
  whole = QuoteScan(data, escape)
  head = QuoteScan(data[:cut], escape)
  tail = QuoteScan(data[cut:], escape, head.after)
  assert tail.after == whole.after
  assert (head.quotes.tolist() + (tail.quotes + cut).tolist()
          == whole.quotes.tolist())
  assert (head.ends.tolist() + (tail.ends + cut).tolist()
          == whole.ends.tolist())
