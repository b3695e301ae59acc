"""JMS message selectors (the SQL-92 subset), parsed and evaluated the way ActiveMQ Classic does for STOMP.

The grammar is ActiveMQ's ``SelectorParser.jj``: OR < AND < equality (``=``, ``<>``, ``IS [NOT] NULL``)
< comparison (``<``, ``>``, ``LIKE``, ``BETWEEN``, ``IN``) < ``+ -`` < ``* / %`` < unary (``+``, ``-``,
``NOT``). Note that NOT is a unary prefix there, binding tighter than comparisons: ``NOT a = 1`` means
``(NOT a) = 1`` and, like on ActiveMQ, never matches a string header; write ``NOT (a = 1)``.

Values: None (SQL NULL), bool, int (Java Integer), :class:`JLong` (Java Long), float (Java Double),
str, and :class:`DestinationValue`. STOMP header values are strings; ActiveMQ's STOMP transport
parses every selector in its ``convert_string_expressions`` mode, so comparing a string with a
number or boolean converts the string to the other operand's type (``n > 5`` matches ``n:7``, not
``n:7.5``; ``n > 5.0`` matches both). Anything that fails to evaluate (arithmetic on a string, a bad
conversion) makes the message not match, as on ActiveMQ.

``parse(text)`` raises :class:`SelectorError` naming the problem and its column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

Resolve = Callable[[str], object]

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


class SelectorError(ValueError):
    """A selector that cannot be parsed; the message says what is wrong and where."""


class JLong(int):
    """An integer with Java ``Long`` semantics (64-bit arithmetic, Long.valueOf conversions)."""

    __slots__ = ()


@dataclass(frozen=True)
class DestinationValue:
    """What ``JMSDestination`` evaluates to: an object, never equal to a string (as on ActiveMQ)."""

    name: str


class _EvaluationError(Exception):
    """A runtime failure: the message does not match."""


# -- Java-like conversions ------------------------------------------------------------------------

_JAVA_INT = re.compile(r"[+-]?[0-9]+\Z")
_JAVA_DOUBLE = re.compile(r"[+-]?(NaN|Infinity|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[fFdD]?)\Z")


def _java_int(text: str, low: int, high: int) -> int | None:
    if not _JAVA_INT.match(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def _java_double(text: str) -> float | None:
    stripped = text.strip("".join(chr(c) for c in range(33)))  # Double.valueOf trims chars <= ' '
    if not _JAVA_DOUBLE.match(stripped):
        return None
    if stripped[-1] in "fFdD":
        stripped = stripped[:-1]
    return float(stripped)  # Python reads "NaN" and "Infinity" too


def _java_str(value: object) -> str:
    """Java's String.valueOf for the value types a selector produces."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double_str(value)
    if isinstance(value, DestinationValue):
        return value.name
    return str(value)


def _java_double_str(value: float) -> str:
    """Double.toString: plain notation in [1e-3, 1e7), else d.dddE<n>."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(str(d) for d in digits).rstrip("0") or "0"
    power = exponent + len(digits) - 1
    fraction = mantissa[1:] or "0"
    return f"{'-' if sign else ''}{mantissa[0]}.{fraction}E{power}"


def _wrap(value: int, long: bool) -> int:
    bits = 64 if long else 32
    value &= (1 << bits) - 1
    if value >= 1 << (bits - 1):
        value -= 1 << bits
    return JLong(value) if long else value


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _compare(lv: object, rv: object, test: Callable[[int], bool]) -> bool:
    """ComparisonExpression.compare with string conversion on: widen or convert, then compareTo."""
    if type(lv) is not type(rv) and not (_is_number(lv) and _is_number(rv)):
        if isinstance(lv, str):
            converted = _convert_string(lv, rv)
            if converted is None:
                return False
            lv = converted
        elif isinstance(rv, str) and (_is_number(lv) or isinstance(lv, bool)):
            if isinstance(lv, bool):
                # ActiveMQ casts the Boolean side to String here and fails: no match.
                raise _EvaluationError("cannot compare a boolean with a string")
            converted = _convert_string(rv, lv)
            if converted is None:
                return False
            rv = converted
        else:
            return False
    if isinstance(lv, DestinationValue) or isinstance(rv, DestinationValue):
        if not (isinstance(lv, DestinationValue) and isinstance(rv, DestinationValue)):
            return False
        lv, rv = lv.name, rv.name
    assert isinstance(lv, (int, float, str, bool)) and isinstance(rv, (int, float, str, bool))
    if isinstance(lv, float) or isinstance(rv, float):
        left, right = float(lv), float(rv)
        # Double.compareTo: NaN equals itself and is greater than everything else.
        if math.isnan(left) or math.isnan(right):
            order = 0 if math.isnan(left) and math.isnan(right) else (1 if math.isnan(left) else -1)
        else:
            order = (left > right) - (left < right)
        return test(order)
    order = (lv > rv) - (lv < rv)  # type: ignore[operator]
    return test(order)


def _convert_string(text: str, other: object) -> object | None:
    """Convert a string operand to the type of the other operand (None: NumberFormatException)."""
    if isinstance(other, bool):
        return text.lower() == "true"
    if isinstance(other, JLong):
        value = _java_int(text, _LONG_MIN, _LONG_MAX)
        return None if value is None else JLong(value)
    if isinstance(other, int):
        return _java_int(text, _INT_MIN, _INT_MAX)
    if isinstance(other, float):
        return _java_double(text)
    return None


# -- the expression tree -------------------------------------------------------------------------


class Expr:
    """An expression node; ``boolean`` marks ActiveMQ's BooleanExpression kinds."""

    boolean = False

    def eval(self, resolve: Resolve) -> object:
        raise NotImplementedError


@dataclass
class Constant(Expr):
    value: object

    def __post_init__(self) -> None:
        self.boolean = self.value is None or isinstance(self.value, bool)

    def eval(self, resolve: Resolve) -> object:
        return self.value

    def __str__(self) -> str:
        if self.value is None:
            return "NULL"
        if isinstance(self.value, bool):
            return "TRUE" if self.value else "FALSE"
        if isinstance(self.value, str):
            return "'" + self.value.replace("'", "''") + "'"
        return _java_str(self.value)


@dataclass
class Property(Expr):
    name: str

    def eval(self, resolve: Resolve) -> object:
        return resolve(self.name)

    def __str__(self) -> str:
        return self.name


@dataclass
class BooleanCast(Expr):
    """A property used where a boolean is expected: non-boolean values are FALSE."""

    operand: Expr
    boolean = True

    def eval(self, resolve: Resolve) -> object:
        value = self.operand.eval(resolve)
        if value is None:
            return None
        return value if isinstance(value, bool) else False

    def __str__(self) -> str:
        return str(self.operand)


@dataclass
class Not(Expr):
    operand: Expr
    boolean = True

    def eval(self, resolve: Resolve) -> object:
        value = self.operand.eval(resolve)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise _EvaluationError("NOT of a non-boolean value")
        return not value

    def __str__(self) -> str:
        return f"NOT {self.operand}"


@dataclass
class Logic(Expr):
    """AND/OR with SQL three-valued logic."""

    op: str
    operands: list[Expr]
    boolean = True

    def eval(self, resolve: Resolve) -> object:
        decisive = self.op == "OR"  # the value that settles the result at once
        unknown = False
        for operand in self.operands:
            value = operand.eval(resolve)
            if value is None:
                unknown = True
            elif value is decisive:
                return decisive
        return None if unknown else not decisive

    def __str__(self) -> str:
        return "(" + f" {self.op} ".join(str(o) for o in self.operands) + ")"


@dataclass
class Equals(Expr):
    left: Expr
    right: Expr
    boolean = True

    def eval(self, resolve: Resolve) -> object:
        lv = self.left.eval(resolve)
        rv = self.right.eval(resolve)
        if (lv is None) != (rv is None):
            return None if lv is None else False
        if lv is None or (type(lv) is type(rv) and lv == rv):
            return True
        if isinstance(lv, bool) and isinstance(rv, bool):
            return lv == rv
        return _compare(lv, rv, lambda order: order == 0)

    def __str__(self) -> str:
        return f"{self.left} = {self.right}"


_ORDER_TESTS: dict[str, Callable[[int], bool]] = {
    ">": lambda order: order > 0,
    ">=": lambda order: order >= 0,
    "<": lambda order: order < 0,
    "<=": lambda order: order <= 0,
}


@dataclass
class Compare(Expr):
    op: str
    left: Expr
    right: Expr
    boolean = True

    def eval(self, resolve: Resolve) -> object:
        lv = self.left.eval(resolve)
        if lv is None:
            return None
        rv = self.right.eval(resolve)
        if rv is None:
            return None
        return _compare(lv, rv, _ORDER_TESTS[self.op])

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass
class Like(Expr):
    operand: Expr
    pattern: str
    escape: str | None
    boolean = True

    def __post_init__(self) -> None:
        out = ["\\A"]
        i = 0
        text = self.pattern
        while i < len(text):
            ch = text[i]
            if self.escape is not None and ch == self.escape and i + 1 < len(text) and text[i + 1] in ("_", "%", ch):
                i += 1
                out.append(re.escape(text[i]))
            elif ch == "%":
                out.append(".*?")
            elif ch == "_":
                out.append(".")
            else:
                out.append(re.escape(ch))
            i += 1
        out.append("\\Z")
        self._regex = re.compile("".join(out), re.DOTALL)

    def eval(self, resolve: Resolve) -> object:
        value = self.operand.eval(resolve)
        if value is None:
            return None
        if not isinstance(value, str):
            return False
        return self._regex.match(value) is not None

    def __str__(self) -> str:
        return f"{self.operand} LIKE {Constant(self.pattern)}"


@dataclass
class In(Expr):
    operand: Property
    values: frozenset[str]
    negated: bool
    boolean = True

    def eval(self, resolve: Resolve) -> object:
        value = self.operand.eval(resolve)
        if value is None or not isinstance(value, str):
            return None
        return (value in self.values) != self.negated

    def __str__(self) -> str:
        return f"{self.operand} {'NOT IN' if self.negated else 'IN'} (...)"


@dataclass
class Negate(Expr):
    operand: Expr

    def eval(self, resolve: Resolve) -> object:
        value = self.operand.eval(resolve)
        if not _is_number(value):
            return None
        if isinstance(value, float):
            return -value
        assert isinstance(value, int)
        return _wrap(-value, isinstance(value, JLong))

    def __str__(self) -> str:
        return f"-{self.operand}"


@dataclass
class Arithmetic(Expr):
    op: str
    left: Expr
    right: Expr

    def eval(self, resolve: Resolve) -> object:
        lv = self.left.eval(resolve)
        if lv is None:
            return None
        rv = self.right.eval(resolve)
        if rv is None:
            return None
        if self.op == "+" and isinstance(lv, str):
            return lv + _java_str(rv)  # ActiveMQ concatenates when the left side is a string
        if not _is_number(lv) or not _is_number(rv):
            raise _EvaluationError(f"cannot apply {self.op} to {lv!r} and {rv!r}")
        assert isinstance(lv, (int, float)) and isinstance(rv, (int, float))
        if self.op in ("/", "%"):
            return _java_divide(float(lv), float(rv), self.op)
        if isinstance(lv, float) or isinstance(rv, float):
            left, right = float(lv), float(rv)
            return left + right if self.op == "+" else left - right if self.op == "-" else left * right
        result = lv + rv if self.op == "+" else lv - rv if self.op == "-" else lv * rv
        return _wrap(result, isinstance(lv, JLong) or isinstance(rv, JLong))

    def __str__(self) -> str:
        return f"({self.left} {self.op} {self.right})"


def _java_divide(left: float, right: float, op: str) -> float:
    if op == "%":
        return math.nan if right == 0 or math.isinf(left) else math.fmod(left, right)
    if right == 0:
        if left == 0 or math.isnan(left):
            return math.nan
        return math.copysign(math.inf, left) * math.copysign(1.0, right)
    return left / right


# -- tokens --------------------------------------------------------------------------------------

_KEYWORDS = frozenset({"NOT", "AND", "OR", "BETWEEN", "LIKE", "ESCAPE", "IN", "IS", "TRUE", "FALSE", "NULL"})
_UNSUPPORTED_KEYWORDS = frozenset({"XPATH", "XQUERY"})
_TOKEN_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("float", re.compile(r"[0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+")),
    ("hex", re.compile(r"0[xX][0-9a-fA-F]+")),
    ("decimal", re.compile(r"[1-9][0-9]*[lL]?")),
    ("octal", re.compile(r"0[0-7]*")),
    ("string", re.compile(r"'(?:''|[^'])*'")),
    ("id", re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")),
    ("op", re.compile(r"<>|>=|<=|[=<>+\-*/%(),]")),
]
_SKIP = re.compile(r"(?:\s+|--[^\n\r]*(?:\r\n|\n|\r|\Z)|/\*.*?\*/)+", re.DOTALL)


@dataclass
class _Token:
    kind: str  # float, hex, decimal, octal, string, id, keyword, op, end
    text: str
    column: int  # 1-based, as in ActiveMQ's error messages

    def describe(self) -> str:
        return "end of selector" if self.kind == "end" else repr(self.text)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while True:
        skipped = _SKIP.match(text, pos)
        if skipped:
            pos = skipped.end()
        if pos >= len(text):
            tokens.append(_Token("end", "", pos + 1))
            return tokens
        if text.startswith("/*", pos):
            raise SelectorError(f"unterminated comment at column {pos + 1}")
        best: tuple[int, str] | None = None
        for kind, pattern in _TOKEN_PATTERNS:
            match = pattern.match(text, pos)
            if match and (best is None or match.end() > best[0]):
                best = (match.end(), kind)
        if best is None:
            if text[pos] == "'":
                raise SelectorError(f"unterminated string literal at column {pos + 1}")
            raise SelectorError(f"unexpected character {text[pos]!r} at column {pos + 1}")
        end, kind = best
        word = text[pos:end]
        if kind == "id" and word.upper() in _KEYWORDS | _UNSUPPORTED_KEYWORDS:
            kind = "keyword"
            word = word.upper()
        tokens.append(_Token(kind, word, pos + 1))
        pos = end


# -- the parser ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.i]

    def peek(self, offset: int = 1) -> _Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def at(self, *words: str) -> bool:
        tok = self.token
        return tok.kind in ("keyword", "op") and tok.text in words

    def take(self) -> _Token:
        tok = self.token
        self.i += 1
        return tok

    def expect(self, word: str, what: str) -> None:
        if not self.at(word):
            raise self.unexpected(what)
        self.i += 1

    def unexpected(self, expected: str) -> SelectorError:
        tok = self.token
        return SelectorError(f"expected {expected} at column {tok.column}, found {tok.describe()}")

    def boolean(self, expr: Expr, where: _Token) -> Expr:
        if expr.boolean:
            return expr
        if isinstance(expr, Property):
            return BooleanCast(expr)
        raise SelectorError(f"expression {expr} at column {where.column} does not give a boolean value")

    # grammar, loosest first

    def selector(self) -> Expr:
        start = self.token
        expr = self.or_expr()
        if self.token.kind != "end":
            raise self.unexpected("an operator or the end of the selector")
        return self.boolean(expr, start)

    def or_expr(self) -> Expr:
        start = self.token
        left = self.and_expr()
        while self.at("OR"):
            self.take()
            right_start = self.token
            right = self.and_expr()
            left = Logic("OR", [self.boolean(left, start), self.boolean(right, right_start)])
        return left

    def and_expr(self) -> Expr:
        start = self.token
        left = self.equality()
        while self.at("AND"):
            self.take()
            right_start = self.token
            right = self.equality()
            left = Logic("AND", [self.boolean(left, start), self.boolean(right, right_start)])
        return left

    def equality(self) -> Expr:
        left = self.comparison()
        while True:
            if self.at("="):
                where = self.take()
                left = _equals(left, self.comparison(), where)
            elif self.at("<>"):
                where = self.take()
                left = Not(_equals(left, self.comparison(), where))
            elif self.at("IS"):
                self.take()
                negated = self.at("NOT")
                if negated:
                    self.take()
                self.expect("NULL", "NULL after IS" + (" NOT" if negated else ""))
                test: Expr = Equals(left, Constant(None))
                left = Not(test) if negated else test
            else:
                return left

    def comparison(self) -> Expr:
        left = self.additive()
        while True:
            tok = self.token
            if self.at(">", ">=", "<", "<="):
                self.take()
                left = _ordered(tok.text, left, self.additive(), tok)
            elif self.at("LIKE") or (self.at("NOT") and self.peek().text == "LIKE" and self.peek().kind == "keyword"):
                negated = self.at("NOT")
                if negated:
                    self.take()
                self.take()
                pattern = self.string_literal("a string pattern after LIKE")
                escape: str | None = None
                if self.at("ESCAPE"):
                    self.take()
                    where = self.token
                    escape = self.string_literal("a string after ESCAPE")
                    if len(escape) != 1:
                        raise SelectorError(
                            f"ESCAPE at column {where.column} must be exactly one character, got {escape!r}"
                        )
                like: Expr = Like(left, pattern, escape)
                left = Not(like) if negated else like
            elif self.at("BETWEEN") or (
                self.at("NOT") and self.peek().text == "BETWEEN" and self.peek().kind == "keyword"
            ):
                negated = self.at("NOT")
                if negated:
                    self.take()
                self.take()
                low_tok = self.token
                low = self.additive()
                self.expect("AND", "AND in BETWEEN")
                high_tok = self.token
                high = self.additive()
                if negated:
                    left = Logic("OR", [_ordered("<", left, low, low_tok), _ordered(">", left, high, high_tok)])
                else:
                    left = Logic("AND", [_ordered(">=", left, low, low_tok), _ordered("<=", left, high, high_tok)])
            elif self.at("IN") or (self.at("NOT") and self.peek().text == "IN" and self.peek().kind == "keyword"):
                negated = self.at("NOT")
                if negated:
                    self.take()
                self.take()
                if not isinstance(left, Property):
                    raise SelectorError(f"IN at column {tok.column} needs a header name on its left, got {left}")
                self.expect("(", "'(' after IN")
                values = [self.string_literal("a string literal in the IN list")]
                while self.at(","):
                    self.take()
                    values.append(self.string_literal("a string literal in the IN list"))
                self.expect(")", "')' closing the IN list")
                left = In(left, frozenset(values), negated)
            else:
                return left

    def additive(self) -> Expr:
        left = self.multiplicative()
        while self.at("+", "-"):
            op = self.take().text
            left = Arithmetic(op, left, self.multiplicative())
        return left

    def multiplicative(self) -> Expr:
        left = self.unary()
        while self.at("*", "/", "%"):
            op = self.take().text
            left = Arithmetic(op, left, self.unary())
        return left

    def unary(self) -> Expr:
        tok = self.token
        if self.at("+"):
            self.take()
            return self.unary()
        if self.at("-"):
            self.take()
            return Negate(self.unary())
        if self.at("NOT"):
            self.take()
            operand_tok = self.token
            return Not(self.boolean(self.unary(), operand_tok))
        if tok.kind == "keyword" and tok.text in _UNSUPPORTED_KEYWORDS:
            raise SelectorError(f"{tok.text} selectors (column {tok.column}) are not supported by pybroker")
        if tok.kind == "id" and self.peek().text == "(" and self.peek().kind == "op":
            raise SelectorError(f"function call {tok.text}(...) at column {tok.column} is not supported by pybroker")
        return self.primary()

    def primary(self) -> Expr:
        tok = self.token
        if tok.kind == "string":
            return Constant(self.string_literal("a string"))
        if tok.kind in ("decimal", "hex", "octal", "float"):
            self.take()
            return Constant(_number(tok))
        if tok.kind == "keyword" and tok.text in ("TRUE", "FALSE", "NULL"):
            self.take()
            return Constant(None if tok.text == "NULL" else tok.text == "TRUE")
        if tok.kind == "id":
            self.take()
            return Property(tok.text)
        if self.at("("):
            self.take()
            inner = self.or_expr()
            self.expect(")", "')'")
            return inner
        raise self.unexpected("a value, a header name or '('")

    def string_literal(self, what: str) -> str:
        tok = self.token
        if tok.kind != "string":
            raise self.unexpected(what)
        self.take()
        return tok.text[1:-1].replace("''", "'")


def _number(tok: _Token) -> int | float:
    text = tok.text
    if tok.kind == "float":
        return float(text)
    if tok.kind == "hex":
        value = int(text[2:], 16)
    elif tok.kind == "octal":
        value = int(text, 8)
    else:
        value = int(text.rstrip("lL"))
    if value > _LONG_MAX:
        raise SelectorError(f"integer {text} at column {tok.column} is out of range")
    return value if value <= _INT_MAX else JLong(value)


def _equals(left: Expr, right: Expr, where: _Token) -> Expr:
    for side in (left, right):
        if isinstance(side, Constant) and side.value is None:
            raise SelectorError(f"NULL cannot be compared with '=' at column {where.column}: use IS NULL")
    if (
        isinstance(left, Constant)
        and isinstance(right, Constant)
        and isinstance(left.value, bool)
        and not isinstance(right.value, bool)
    ):
        raise SelectorError(f"{left} cannot be compared with {right} at column {where.column}")
    return Equals(left, right)


def _ordered(op: str, left: Expr, right: Expr, where: _Token) -> Expr:
    for side in (left, right):
        if isinstance(side, Constant) and not _is_number(side.value):
            raise SelectorError(f"value {side} cannot be compared with {op!r} at column {where.column}")
        if side.boolean and not isinstance(side, Constant):
            raise SelectorError(f"boolean expression {side} cannot be compared with {op!r} at column {where.column}")
    return Compare(op, left, right)


@dataclass(frozen=True)
class Selector:
    """A parsed selector; ``matches`` takes a function from identifier to value."""

    text: str
    expression: Expr

    def matches(self, resolve: Resolve) -> bool:
        try:
            return self.expression.eval(resolve) is True
        except _EvaluationError:
            return False


def parse(text: str) -> Selector:
    """Parse a selector; raises SelectorError with the problem and its column."""
    if not text.strip():
        raise SelectorError("the selector is empty")
    return Selector(text, _Parser(text).selector())
