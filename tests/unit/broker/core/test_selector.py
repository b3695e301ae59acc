"""JMS selectors: ActiveMQ's grammar, its STOMP string conversions, three-valued logic, and clear errors.

Expected results marked (probe) were observed on ActiveMQ 5.17.2 over STOMP with the same headers.
"""

from __future__ import annotations

import pytest

from harness.broker.core.selector import DestinationValue, JLong, SelectorError, parse


def matches(selector: str, **values: object) -> bool:
    return parse(selector).matches(values.get)


@pytest.mark.parametrize(
    ("selector", "values", "expected"),
    [
        # STOMP headers are strings, converted to the literal's type (probe).
        ("n > 5", {"n": "7"}, True),
        ("n = 7", {"n": "7"}, True),
        ("n = '7'", {"n": "7"}, True),
        ("n > 5", {"n": "7.5"}, False),  # Integer.valueOf("7.5") fails: no match
        ("n > 5.0", {"n": "7.5"}, True),
        ("n = 7.0", {"n": "7"}, True),
        ("n <> 7", {"n": "8"}, True),
        ("x = 1", {"x": " 1"}, False),  # Integer.valueOf does not trim
        ("x = 1.0", {"x": " 1"}, True),  # Double.valueOf does
        ("n > -5", {"n": "+7"}, True),
        ("n > 2147483648", {"n": "3000000000"}, True),  # a Long literal converts with Long.valueOf
        ("n > 5", {"n": "3000000000"}, False),  # an Integer literal with Integer.valueOf: out of range
        ("n = 0x10", {"n": "16"}, True),
        ("n = 010", {"n": "8"}, True),
        ("b = TRUE", {"b": "true"}, True),
        ("b = FALSE", {"b": "yes"}, True),  # Boolean.valueOf: anything but "true" is false
        # Typed JMS values compare directly.
        ("JMSPriority > 5", {"JMSPriority": 7}, True),
        ("JMSTimestamp > 0", {"JMSTimestamp": JLong(1)}, True),
        ("JMSRedelivered = FALSE", {"JMSRedelivered": False}, True),
        ("JMSDestination = 'queue://a'", {"JMSDestination": DestinationValue("queue://a")}, False),  # (probe)
        # NOT binds tighter than comparisons in ActiveMQ's grammar (probe): NOT n = 1 is (NOT n) = 1.
        ("NOT n = 1", {"n": "2"}, False),
        ("NOT (n = 1)", {"n": "2"}, True),
        # Arithmetic: + on a string concatenates, other operators on strings fail (probe).
        ("n + 1 = 71", {"n": "7"}, True),
        ("n * 2 = 14", {"n": "7"}, False),
        ("a * 2 + 1 = 15", {"a": 7}, True),
        ("a / 2 = 3.5", {"a": 7}, True),
        ("a % 4 = 3", {"a": 7}, True),
        ("-a = -7", {"a": 7}, True),
        ("a / 0 > 1000000", {"a": 7}, True),  # Java double division: Infinity
        # LIKE, with and without ESCAPE.
        ("s LIKE 'a\\_%' ESCAPE '\\'", {"s": "a_b"}, True),
        ("s LIKE 'a\\_%' ESCAPE '\\'", {"s": "ab"}, False),
        ("s LIKE 'a_c'", {"s": "abc"}, True),
        ("s LIKE '%.txt'", {"s": "notes.txt"}, True),
        ("s LIKE '%.txt'", {"s": "notes_txt"}, False),
        ("s NOT LIKE 'x%'", {"s": "abc"}, True),
        ("s LIKE 'line%'", {"s": "line1\nline2"}, True),
        # IN, BETWEEN, IS NULL.
        ("s IN ('x', 'y')", {"s": "y"}, True),
        ("s NOT IN ('x', 'y')", {"s": "z"}, True),
        ("s NOT IN ('x')", {}, False),  # unknown, not true
        ("n BETWEEN 1 AND 10", {"n": "5"}, True),
        ("n NOT BETWEEN 1 AND 10", {"n": "11"}, True),
        ("c IS NULL", {}, True),
        ("c IS NOT NULL", {"c": ""}, True),
        # Three-valued logic: an absent header is unknown, and unknown is not a match.
        ("missing = 'x' OR n = 1", {"n": "1"}, True),
        ("missing = 'x' AND n = 1", {"n": "1"}, False),
        ("NOT (missing = 'x' AND n = 2)", {"n": "1"}, True),  # unknown AND false = false
        ("NOT (missing = 'x')", {}, False),
        ("a = b", {}, True),  # ActiveMQ: two NULLs are equal
        # Booleans and property casts.
        ("TRUE", {}, True),
        ("flag", {"flag": True}, True),
        ("flag", {"flag": "true"}, False),  # a string header is not a boolean
        # Keywords are case-insensitive, identifiers are not; comments are skipped.
        ("color = 'red' and Size > 2 -- note\n", {"color": "red", "Size": "3"}, True),
        ("color = 'red' /* block */ OR false", {"color": "red"}, True),
        ("COLOR = 'red'", {"color": "red"}, False),
        ("s = 'it''s'", {"s": "it's"}, True),
    ],
)
def test_evaluation(selector: str, values: dict[str, object], expected: bool) -> None:
    assert matches(selector, **values) is expected, f"{selector!r} with {values}: expected {expected}"


@pytest.mark.parametrize(
    ("selector", "problem"),
    [
        ("", "the selector is empty"),
        ("n = ", "expected a value, a header name or '(' at column 5, found end of selector"),
        ("n IN (1, 2)", "expected a string literal in the IN list at column 7, found '1'"),
        ("'a' > 'b'", "value 'a' cannot be compared with '>' at column 5"),
        ("s > 'a'", "value 'a' cannot be compared with '>'"),
        ("n = NULL", "NULL cannot be compared with '=' at column 3: use IS NULL"),
        ("TRUE = 1", "TRUE cannot be compared with 1"),
        ("n LIKE 'a' ESCAPE 'ab'", "ESCAPE at column 19 must be exactly one character, got 'ab'"),
        ("n = 1 AND", "found end of selector"),
        ("a.b = 1", "unexpected character '.' at column 2"),
        ("s = 'open", "unterminated string literal at column 5"),
        ("5", "expression 5 at column 1 does not give a boolean value"),
        ("n + 1", "does not give a boolean value"),
        ("(n = 1", "expected ')'"),
        ("n = 1 n = 2", "expected an operator or the end of the selector at column 7"),
        ("1 + 2 IN ('a')", "IN at column 7 needs a header name on its left"),
        ("n IS 1", "expected NULL after IS"),
        ("XPATH '//a'", "XPATH selectors (column 1) are not supported by pybroker"),
        ("XQUERY '//a'", "XQUERY selectors (column 1) are not supported by pybroker"),
        ("regex(s, 'a.*')", "function call regex(...) at column 1 is not supported by pybroker"),
        ("n = 99999999999999999999", "integer 99999999999999999999 at column 5 is out of range"),
        ("a = 1 /* open", "unterminated comment"),
    ],
)
def test_errors_name_the_problem_and_column(selector: str, problem: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse(selector)
    assert problem in str(info.value), f"{selector!r}: {info.value}"


def test_integer_arithmetic_wraps_like_java() -> None:
    assert matches("a + 1 < 0", a=2**31 - 1)  # Integer overflow
    assert matches("a + 1 > 0", a=JLong(2**31 - 1))  # Long does not overflow there


def test_string_concatenation_uses_java_number_text() -> None:
    assert matches("s + 1.5 = 'x1.5'", s="x")
    assert matches("s + 1.0E7 = 'x1.0E7'", s="x")
    assert matches("s + TRUE = 'xtrue'", s="x")


def test_boolean_compared_with_string_header_never_matches() -> None:
    # ActiveMQ fails to evaluate TRUE = header (ClassCastException): no match, no error.
    assert not matches("TRUE = b", b="true")


def test_selector_keeps_its_text() -> None:
    assert parse("a = 1").text == "a = 1"
