"""A small, safe expression language for workflow conditions and templated parameters.

Where it is used (docs/expressions.md): a task's ``when:``, a switch task's ``cases[].when``, and
``{{ EXPRESSION }}`` inside a task's command arguments, script and environment values.

User text is never given to Python's eval, exec or ast: this module has its own tokenizer and
parser, a fixed table of functions and no attribute access, loops or recursion in the language.
Names are resolved only through the caller's ``resolve(path)``. Every input is bounded (text,
nesting, list sizes, regular expressions, strings produced), so parsing and evaluation take
bounded time and raise only ExpressionError.

Grammar (EBNF; whitespace -- space, tab, CR, LF -- may separate tokens)::

    expression = or ;
    or         = and , { ( "or" | "||" ) , and } ;
    and        = not , { ( "and" | "&&" ) , not } ;
    not        = ( "not" | "!" ) , not | comparison ;
    comparison = primary , [ compare_op , primary ] ;          (* a < b < c is an error *)
    compare_op = "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" , "in" ;
    primary    = literal | call | name | "(" , expression , ")" | list ;
    list       = "[" , [ expression , { "," , expression } ] , "]" ;
    call       = FUNCTION , "(" , [ expression , { "," , expression } ] , ")" ;
    literal    = NUMBER | STRING | "true" | "false" | "null" ;
    name       = IDENT , { "." , SEGMENT } ;                    (* no spaces around the dots *)

    NUMBER     = [ "-" ] , DIGIT , { DIGIT } , [ "." , DIGIT , { DIGIT } ] ;
    STRING     = "'" , { CHAR | ESCAPE } , "'" | '"' , { CHAR | ESCAPE } , '"' ;
    ESCAPE     = "\\\\" | "\\'" | '\\"' | "\\n" | "\\t" ;
    IDENT      = ( LETTER | "_" ) , { LETTER | DIGIT | "_" | "-" } ;
    SEGMENT    = ( LETTER | DIGIT | "_" ) , { LETTER | DIGIT | "_" | "-" } ;
    FUNCTION   = "int" | "float" | "str" | "len" | "lower" | "upper" | "startswith"
               | "endswith" | "contains" | "matches" | "default" | "quote" ;

``true false null and or not in`` are keywords, not names. A hyphen belongs to the name it is in
(task names contain hyphens), so ``load-db`` is one name: there are no arithmetic operators. A
SEGMENT after a dot may start with a digit because task names may (``tasks.01-extract.state``).

Precedence, lowest first: ``or``; ``and``; ``not``; comparisons; primaries. So ``not a == b`` is
``not (a == b)`` and ``a or b and c`` is ``a or (b and c)``.

Values are strings, integers, decimals (floats), booleans, null (None) and lists. Comparison rules:

* ``==`` / ``!=`` never raise. Numbers compare numerically (``1 == 1.0``); a string that reads as
  a number (``"150"``, ``" 2.5 "``, ``"1e3"``) compared with a number compares numerically, because
  task outputs arrive as strings; otherwise values are equal only with the same type and value
  (``true == 1`` and ``"1" == "1.0"`` are false; lists compare item by item with these rules).
  Booleans are not numbers.
* ``< <= > >=``: numbers (or a numeric string and a number) numerically, two strings by code
  point; anything else, null included, raises ExpressionError naming both operands.
* ``in`` / ``not in``: membership in a list (with ``==``), or substring of a string.
* ``and`` / ``or`` / ``not`` short-circuit and give booleans, by truthy(): null, false, 0, 0.0,
  "" and [] are false, every other value is true.

Regular expressions (``matches``) run with Python's ``re.fullmatch``, which backtracks; a pattern
is refused when it can take exponential time or too much polynomial time: see _Pattern.

Templates are text with ``{{ expression }}`` parts; everything else is literal (``}}`` and single
braces included), and a literal ``{{`` is written ``{{ '{{' }}``. Values render as: strings as
they are, integers as digits, decimals by repr (shortest round-trip form), booleans as
true/false, lists comma-joined; null is an error ("{{ params.x }} is not set").
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LIST_ITEMS",
    "MAX_PATTERN",
    "MAX_REGEX_WORK",
    "MAX_STRING",
    "MAX_STRING_LITERAL",
    "MAX_TEMPLATE",
    "MAX_TEMPLATE_EXPRESSIONS",
    "MAX_TEXT",
    "Expression",
    "ExpressionError",
    "Template",
    "check",
    "evaluate",
    "parse",
    "parse_template",
    "render",
    "truthy",
]

MAX_TEXT = 4096                  # characters of one expression
MAX_DEPTH = 32                   # nesting of (), [], calls and not/!
MAX_LIST_ITEMS = 256             # items of one list literal
MAX_STRING_LITERAL = 4096        # characters of one string literal (implied by MAX_TEXT, unless that grows)
MAX_STRING = 64 << 10            # characters of a string a function or a template produces
MAX_TEMPLATE = 1 << 20           # characters of a template: a job script may be 1 MiB (model/rules.py)
MAX_TEMPLATE_EXPRESSIONS = 256   # {{ }} per template
MAX_PATTERN = 256                # characters of a regular expression
# Bound on a pattern's estimated backtracking work on a given string (see _Pattern): at this bound
# the slowest patterns measured took ~60 ms on CPython 3.11.
MAX_REGEX_WORK = 50_000_000

Value: TypeAlias = "str | int | float | bool | list[Value] | None"
Resolve: TypeAlias = Callable[[tuple[str, ...]], object]
_Run: TypeAlias = Callable[[Resolve], object]


class ExpressionError(ValueError):
    """A parse or evaluation error; ``position`` is a 0-based offset into the expression (into the
    template for templates), -1 when no place applies."""

    def __init__(self, message: str, position: int = -1) -> None:
        super().__init__(message, position)  # both in args, so that the error pickles whole
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return f"at {self.position}: {self.message}" if self.position >= 0 else self.message


# ---- tree

@dataclass(frozen=True, slots=True)
class Literal:
    pos: int
    value: Value


@dataclass(frozen=True, slots=True)
class Name:
    pos: int
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ListOf:
    pos: int
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    pos: int
    operand: Node


@dataclass(frozen=True, slots=True)
class BoolOp:
    pos: int
    op: str                      # "and" | "or"
    operands: tuple[Node, ...]   # a chain is one node: no deep trees from long chains


@dataclass(frozen=True, slots=True)
class Compare:
    pos: int                     # of the operator: errors point at it
    op: str                      # == != < <= > >= in "not in"
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Call:
    pos: int
    function: str
    args: tuple[Node, ...]


Node: TypeAlias = "Literal | Name | ListOf | Not | BoolOp | Compare | Call"

# name -> number of arguments
FUNCTIONS: dict[str, int] = {
    "contains": 2, "default": 2, "endswith": 2, "float": 1, "int": 1, "len": 1, "lower": 1,
    "matches": 2, "quote": 1, "startswith": 2, "str": 1, "upper": 1,
}
_KEYWORDS = frozenset({"true", "false", "null", "and", "or", "not", "in"})
_LITERAL_WORDS: dict[str, Value] = {"true": True, "false": False, "null": None}


# ---- tokens

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<num>-?[0-9]+(?:\.[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)*)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\],])
""", re.VERBOSE | re.DOTALL)
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_HINTS = {"=": "unexpected '=' (compare with ==)", "&": "unexpected '&' (write && or and)",
          "|": "unexpected '|' (write || or or)", "'": "unterminated string", '"': "unterminated string",
          ".": "unexpected '.' (a name continues after a dot, with no spaces around it)"}
_CMP_OPS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_SYMBOLS = {"||": "or", "&&": "and", "!": "not"}

# (kind, value, position); kind: num str name kw op end; kw and the operator spellings ||, &&, !
# are normalised to the words so the parser checks one spelling.
_Token: TypeAlias = tuple[str, object, int]


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    pos, end = 0, len(text)
    match = _TOKEN.match
    while pos < end:
        m = match(text, pos)
        if m is None:
            char = text[pos]
            raise ExpressionError(_HINTS.get(char, f"unexpected character {char!r}"), pos)
        kind = m.lastgroup
        value = m.group()
        if kind == "name":
            first = value.split(".", 1)[0]
            if first in _KEYWORDS:
                if first != value:
                    raise ExpressionError(f"unexpected '.' after {first}", pos + len(first))
                out.append(("kw", value, pos))
            else:
                out.append(("name", value, pos))
        elif kind == "op":
            out.append(("kw", _SYMBOLS[value], pos) if value in _SYMBOLS else ("op", value, pos))
        elif kind == "num":
            out.append(("num", _number_literal(value, pos), pos))
        elif kind == "str":
            out.append(("str", _string_literal(value, pos), pos))
        pos = m.end()
    out.append(("end", None, end))
    return out


def _number_literal(text: str, pos: int) -> int | float:
    if "." not in text:
        return int(text)  # at most MAX_TEXT digits: under Python's int-conversion limit
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ExpressionError(f"number out of range: {text[:20]}...", pos)
    return value


def _string_literal(text: str, pos: int) -> str:
    body = text[1:-1]
    if "\\" in body:
        def unescape(m: re.Match[str]) -> str:
            char = m.group(1)
            if char not in _ESCAPES:
                raise ExpressionError(f"unknown escape {m.group()!r} in a string (known: \\\\ \\' \\\" \\n \\t)",
                                      pos + 1 + m.start())
            return _ESCAPES[char]
        body = _ESCAPE.sub(unescape, body)
    if len(body) > MAX_STRING_LITERAL:
        raise ExpressionError(f"a string literal is at most {MAX_STRING_LITERAL} characters", pos)
    return body


def _show(token: _Token) -> str:
    kind, value, _ = token
    if kind == "end":
        return "the end of the expression"
    return "a string" if kind == "str" else f"'{value}'"


# ---- parser

class _Parser:
    __slots__ = ("depth", "i", "tokens")

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def is_kw(self, word: str) -> bool:
        kind, value, _ = self.tokens[self.i]
        return kind == "kw" and value == word

    def is_op(self, symbol: str) -> bool:
        kind, value, _ = self.tokens[self.i]
        return kind == "op" and value == symbol

    def enter(self, pos: int) -> None:
        # Counting nesting here bounds the Python recursion of parsing and evaluating alike.
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"nested more than {MAX_DEPTH} levels deep", pos)

    def whole(self) -> Node:
        node = self.or_()
        token = self.peek()
        if token[0] != "end":
            # "a -1" reads as a name and a negative number: the likely intent is arithmetic.
            hint = " (there are no arithmetic operators)" if token[0] == "num" and str(token[1])[0] == "-" else ""
            raise ExpressionError(f"unexpected {_show(token)} after the expression{hint}", token[2])
        return node

    def or_(self) -> Node:
        return self.chain("or", self.and_)

    def and_(self) -> Node:
        return self.chain("and", self.not_)

    def chain(self, word: str, operand: Callable[[], Node]) -> Node:
        first = operand()
        if not self.is_kw(word):
            return first
        items = [first]
        while self.is_kw(word):
            self.i += 1
            items.append(operand())
        return BoolOp(first.pos, word, tuple(items))

    def not_(self) -> Node:
        if self.is_kw("not"):
            pos = self.peek()[2]
            self.enter(pos)
            self.i += 1
            node = Not(pos, self.not_())
            self.depth -= 1
            return node
        return self.comparison()

    def compare_op(self) -> tuple[str, int] | None:
        kind, value, pos = self.peek()
        if kind == "op" and value in _CMP_OPS:
            self.i += 1
            return str(value), pos
        if kind == "kw" and value == "in":
            self.i += 1
            return "in", pos
        if kind == "kw" and value == "not" and self.tokens[self.i + 1][:2] == ("kw", "in"):
            self.i += 2
            return "not in", pos
        return None

    def comparison(self) -> Node:
        left = self.primary()
        found = self.compare_op()
        if found is None:
            return left
        op, pos = found
        right = self.primary()
        second = self.peek()[2]
        if self.compare_op() is not None:
            raise ExpressionError("comparisons do not chain: write a < b and b < c", second)
        return Compare(pos, op, left, right)

    def primary(self) -> Node:
        kind, value, pos = self.peek()
        if kind in ("num", "str"):
            self.i += 1
            return Literal(pos, value)  # type: ignore[arg-type]
        if kind == "kw" and value in _LITERAL_WORDS:
            self.i += 1
            return Literal(pos, _LITERAL_WORDS[str(value)])
        if kind == "name":
            self.i += 1
            if self.is_op("("):
                return self.call(str(value), pos)
            return Name(pos, tuple(str(value).split(".")))
        if kind == "op" and value == "(":
            self.enter(pos)
            self.i += 1
            node = self.or_()
            if not self.is_op(")"):
                raise ExpressionError(f"expected ')' to close the '(' at {pos}, got {_show(self.peek())}",
                                      self.peek()[2])
            self.i += 1
            self.depth -= 1
            return node
        if kind == "op" and value == "[":
            return self.list_(pos)
        if kind == "kw" and value == "not":
            raise ExpressionError("expected a value, got 'not' (put 'not ...' in parentheses)", pos)
        raise ExpressionError(f"expected a value (a literal, a name, a function call, '(' or '['), got "
                              f"{_show(self.peek())}", pos)

    def list_(self, pos: int) -> Node:
        self.enter(pos)
        self.i += 1
        items: list[Node] = []
        if not self.is_op("]"):
            while True:
                if len(items) == MAX_LIST_ITEMS:
                    raise ExpressionError(f"a list literal has at most {MAX_LIST_ITEMS} items", self.peek()[2])
                items.append(self.or_())
                if not self.is_op(","):
                    break
                self.i += 1
        if not self.is_op("]"):
            raise ExpressionError(f"expected ',' or ']' to close the '[' at {pos}, got {_show(self.peek())}",
                                  self.peek()[2])
        self.i += 1
        self.depth -= 1
        return ListOf(pos, tuple(items))

    def call(self, name: str, pos: int) -> Node:
        if "." in name:
            raise ExpressionError(f"only functions can be called, and {name!r} is not one", pos)
        if name not in FUNCTIONS:
            raise ExpressionError(f"unknown function {name!r} (known: {', '.join(sorted(FUNCTIONS))})", pos)
        self.enter(pos)
        self.i += 1  # the "("
        args: list[Node] = []
        if not self.is_op(")"):
            while True:
                args.append(self.or_())
                if not self.is_op(","):
                    break
                self.i += 1
        if not self.is_op(")"):
            raise ExpressionError(f"expected ')' after the arguments of {name}", self.peek()[2])
        self.i += 1
        self.depth -= 1
        want = FUNCTIONS[name]
        if len(args) != want:
            raise ExpressionError(f"{name}() takes {want} argument{'s' if want > 1 else ''} (got {len(args)})", pos)
        if name == "matches" and isinstance(args[1], Literal) and isinstance(args[1].value, str):
            _Pattern.get(args[1].value, args[1].pos)  # a bad literal pattern is a parse error
        return Call(pos, name, tuple(args))


# ---- values

_NUMERIC = re.compile(r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*", re.ASCII)
_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)
_VALUE_TYPES = frozenset({str, int, float, bool, type(None), list})


def _number(value: object) -> int | float | None:
    """The number a value stands for in comparisons: numbers, and strings that read as one."""
    kind = type(value)
    if kind is int or kind is float:
        return value  # type: ignore[return-value]
    if kind is str and _NUMERIC.fullmatch(value):  # type: ignore[arg-type]
        try:
            return int(value) if _INTEGER.fullmatch(value) else float(value)  # type: ignore[arg-type]
        except ValueError:  # more digits than Python converts
            return None
    return None


def _type_name(value: object) -> str:
    return {str: "string", int: "integer", float: "decimal", bool: "boolean", type(None): "null",
            list: "list"}.get(type(value), type(value).__name__)


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {shown!r}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, int) and value.bit_length() > 128:
        return "a very large integer"  # repr() of a huge int is slow, or refused past 4300 digits
    return f"{_type_name(value)} {value!r}"


def _unset(node: Node, value: object) -> str:
    """Why a null got where it did: the usual cause is a name with no value (yet)."""
    return f" ({'.'.join(node.path)} is not set)" if value is None and isinstance(node, Name) else ""


def truthy(value: object) -> bool:
    """The language's truthiness: null, false, 0, 0.0, "" and [] are false, all else true."""
    return bool(value)  # Python's rule for exactly these types


def _equal(a: object, b: object) -> bool:
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is list:
            return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))  # type: ignore
        return a == b
    na, nb = _number(a), _number(b)
    return na is not None and nb is not None and na == nb


_ORDER: dict[str, Callable[[object, object], bool]] = {
    "<": lambda a, b: a < b,  # type: ignore[operator]
    "<=": lambda a, b: a <= b,  # type: ignore[operator]
    ">": lambda a, b: a > b,  # type: ignore[operator]
    ">=": lambda a, b: a >= b,  # type: ignore[operator]
}


def _text(value: object, pos: int) -> str:
    """A value as templates and str() write it."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        try:
            return str(value)
        except ValueError:  # past Python's 4300-digit limit (only a resolved value can be that big)
            raise ExpressionError("an integer too large to write", pos) from None
    if kind is float:
        return repr(value)  # the shortest text that reads back as the same float
    if value is None:
        return "null"
    if kind is list:
        parts: list[str] = []
        size = 0
        for item in value:  # type: ignore[attr-defined]
            part = _text(item, pos)
            size += len(part) + 1
            if size > MAX_STRING + 1:  # stop early: a resolved list may be long
                raise ExpressionError(f"a list renders longer than {MAX_STRING} characters", pos)
            parts.append(part)
        return ",".join(parts)
    raise ExpressionError(f"a value of unsupported type {kind.__name__}", pos)


def _capped(text: str, what: str, pos: int) -> str:
    if len(text) > MAX_STRING:
        raise ExpressionError(f"{what} is longer than {MAX_STRING} characters", pos)
    return text


def _contains(where: object, item: object, what: str, why: str, pos: int) -> bool:
    if type(where) is list:
        return any(_equal(item, x) for x in where)  # type: ignore[attr-defined]
    if type(where) is str:
        if type(item) is not str:
            raise ExpressionError(f"{what}: looking in a string needs a string to look for, got "
                                  f"{_describe(item)}{why}", pos)
        return item in where  # type: ignore[operator]
    raise ExpressionError(f"{what} needs a list or a string to look in, got {_describe(where)}{why}", pos)


# ---- regular expressions

class _Pattern:
    """A regular expression for matches(), with what bounds its matching time.

    Python's re backtracks. Its exponential cases are a repeated group that can match in more than
    one way -- ``(a+)+``, ``(a|a)*``, ``(a*){3}`` -- and backreferences, so those are refused when
    the pattern is read: a group repeated more than once (``*``, ``+``, ``{m,n}`` with n > 1) may
    contain no quantifier and no ``|``, and ``\\1``, ``(?P=name)`` and ``(?(1)...)`` are refused;
    so is verbose mode ``(?x)``, whose comments would hide the pattern's structure from this check.
    What remains can still be polynomial (``.*.*.*x``): the matcher follows at most the product,
    over the pattern, of each quantifier's choices (``?``: 2, ``{m,n}``: n-m+1, ``*``, ``+`` and
    ``{m,}``: the string's length + 1) and each group's alternatives, each path walking at most
    the string's length + 1 characters. A match whose product exceeds MAX_REGEX_WORK is refused
    before it runs; the estimate is pessimistic, so this refuses some harmless matches of many
    quantifiers on long strings.
    """

    __slots__ = ("alternatives", "regex", "spans")
    _cache: dict[str, _Pattern] = {}
    _QUANTIFIER = re.compile(r"\{([0-9]*)(,?)([0-9]*)\}")
    _FLAGS = re.compile(r"\(\?([aiLmsux-]+)([:)])")

    def __init__(self, regex: re.Pattern[str], alternatives: int, spans: tuple[int | None, ...]) -> None:
        self.regex = regex
        self.alternatives = alternatives
        self.spans = spans  # choices of each quantifier; None: as many as the string is long

    @classmethod
    def get(cls, text: str, pos: int) -> _Pattern:
        found = cls._cache.get(text)
        if found is None:
            found = cls._build(text, pos)
            if len(cls._cache) >= 256:
                cls._cache.clear()  # bounded; rebuilding costs microseconds
            cls._cache[text] = found
        return found

    @classmethod
    def _build(cls, text: str, pos: int) -> _Pattern:
        if len(text) > MAX_PATTERN:
            raise ExpressionError(f"matches(): a pattern is at most {MAX_PATTERN} characters", pos)
        cls._refuse_future_syntax(text, pos)
        try:
            regex = re.compile(text)
        except (re.error, OverflowError, RecursionError) as e:
            raise ExpressionError(f"matches(): not a regular expression: {e}", pos) from None
        alternatives, spans = cls._profile(text, pos)
        if alternatives > MAX_REGEX_WORK:
            raise ExpressionError("matches(): the pattern has too many alternatives", pos)
        return cls(regex, alternatives, spans)

    _FUTURE = re.compile(r"\[|--|&&|~~|\|\|")

    @classmethod
    def _refuse_future_syntax(cls, p: str, pos: int) -> None:
        """Refuse in a [...] set what re.compile would warn about (an unescaped "[", or "--", "&&",
        "~~", "||": reserved for set operations): the warning would go to the scheduler's stderr."""
        i, n = 0, len(p)
        while i < n:
            if p[i] == "\\":
                i += 2
            elif p[i] == "[":
                j = i + 1
                j += p.startswith("^", j)
                j += p.startswith("]", j)  # a leading ] is a member
                while j < n and p[j] != "]":
                    if p[j] == "\\":
                        j += 2
                    elif m := cls._FUTURE.match(p, j):
                        raise ExpressionError(f"matches(): escape {m.group()!r} inside [...] (write \\{p[j]})", pos)
                    else:
                        j += 1
                i = j + 1
            else:
                i += 1

    @classmethod
    def _profile(cls, p: str, pos: int) -> tuple[int, tuple[int | None, ...]]:
        # re.compile accepted p, so only well-formed syntax needs following here.
        def refuse(why: str) -> ExpressionError:
            return ExpressionError(f"matches(): {why}", pos)

        n = len(p)
        i = 0
        # per open group: [alternatives, has a quantifier or |]
        stack: list[list[int]] = [[1, 0]]
        alternatives = 1
        spans: list[int | None] = []
        last: list[int] | str | None = None   # what a quantifier would apply to
        while i < n:
            c = p[i]
            if c == "\\":
                nxt = p[i + 1]
                if nxt in "123456789":
                    raise refuse("backreferences (\\1 ...) are not supported")
                if nxt == "N" and i + 2 < n and p[i + 2] == "{":
                    i = p.index("}", i) + 1
                else:
                    i += 2
                last = "atom"
                continue
            if c == "[":
                j = i + 1
                if j < n and p[j] == "^":
                    j += 1
                if j < n and p[j] == "]":
                    j += 1
                while p[j] != "]":
                    j += 2 if p[j] == "\\" else 1
                i = j + 1
                last = "atom"
                continue
            if c == "(":
                flags = cls._FLAGS.match(p, i)
                if flags is not None and "x" in flags.group(1):
                    raise refuse("verbose mode (?x) is not supported")
                if p.startswith(("(?P=", "(?("), i):
                    raise refuse("backreferences and conditional groups are not supported")
                # Step over the group's opening so that its "?" is not read as a quantifier.
                if flags is not None and flags.group(2) == ")":
                    i = flags.end()  # global flags, not a group
                    continue
                if p.startswith("(?#", i):
                    i = p.index(")", i) + 1
                    continue
                if flags is not None:
                    i = flags.end()
                elif p.startswith(("(?<=", "(?<!"), i):
                    i += 4
                elif p.startswith(("(?P<", "(?<"), i):
                    i = p.index(">", i) + 1
                elif p.startswith("(?", i):
                    i += 3  # (?: (?= (?! (?>
                else:
                    i += 1
                stack.append([1, 0])
                last = None
                continue
            if c == ")":
                group = stack.pop()
                alternatives *= group[0]
                stack[-1][1] |= group[1] | (group[0] > 1)
                last = group
                i += 1
                continue
            if c == "|":
                stack[-1][0] += 1
                last = None
                i += 1
                continue
            low: int
            high: int | None
            if c in "*+?":
                low, high = (0, None) if c == "*" else (1, None) if c == "+" else (0, 1)
                end = i + 1
            elif c == "{" and (q := cls._QUANTIFIER.match(p, i)) and (q.group(1) or q.group(2)):
                # as re reads it: {} is a literal, {,} is *, {,n} is {0,n}
                low = int(q.group(1) or 0)
                high = int(q.group(3)) if q.group(3) else (None if q.group(2) else low)
                end = q.end()
            else:
                last = "atom"
                i += 1
                continue
            repeats = high is None or high > 1
            if isinstance(last, list) and repeats and (last[1] or last[0] > 1):
                raise refuse("a repeated group may not contain a quantifier or '|' (nested repetition "
                             "can take exponential time); repeat a character class instead")
            if high is None or high != low:
                spans.append(None if high is None else high - low + 1)
                stack[-1][1] = 1
            if end < n and p[end] in "?+":  # lazy or possessive: the same choices
                end += 1
            i = end
            last = None
        alternatives *= stack[0][0]
        return alternatives, tuple(spans)

    def match(self, subject: str, pos: int) -> bool:
        choices = len(subject) + 1
        work = self.alternatives * choices  # each path may walk the whole string
        for span in self.spans:
            if work > MAX_REGEX_WORK:
                break  # the product only grows
            work *= choices if span is None or span > choices else span
        if work > MAX_REGEX_WORK:
            raise ExpressionError(f"matches(): the pattern could take too long on a string of {len(subject)} "
                                  "characters (fewer quantifiers or a shorter string)", pos)
        return self.regex.fullmatch(subject) is not None


# ---- compiling the tree into closures (evaluation is then a few calls, no dispatch per node)

def _compile(node: Node) -> _Run:
    if isinstance(node, Literal):
        value = node.value
        return lambda resolve: value
    if isinstance(node, Name):
        return _compile_name(node)
    if isinstance(node, ListOf):
        items = [_compile(item) for item in node.items]
        return lambda resolve: [item(resolve) for item in items]
    if isinstance(node, Not):
        operand = _compile(node.operand)
        return lambda resolve: not operand(resolve)
    if isinstance(node, BoolOp):
        return _compile_bool(node)
    if isinstance(node, Compare):
        return _compile_compare(node)
    return _compile_call(node)


def _compile_name(node: Name) -> _Run:
    path = node.path
    pos = node.pos

    def run(resolve: Resolve) -> object:
        value = resolve(path)
        if type(value) not in _VALUE_TYPES:
            raise ExpressionError(f"{'.'.join(path)} has a value of unsupported type {type(value).__name__}", pos)
        return value

    return run


def _compile_bool(node: BoolOp) -> _Run:
    runs = [_compile(op) for op in node.operands]
    if len(runs) == 2:
        a, b = runs
        if node.op == "and":
            return lambda resolve: bool(a(resolve)) and bool(b(resolve))
        return lambda resolve: bool(a(resolve)) or bool(b(resolve))
    if node.op == "and":
        return lambda resolve: all(run(resolve) for run in runs)
    return lambda resolve: any(run(resolve) for run in runs)


def _compile_compare(node: Compare) -> _Run:
    left, right = _compile(node.left), _compile(node.right)
    op, pos = node.op, node.pos
    if op == "==":
        return lambda resolve: _equal(left(resolve), right(resolve))
    if op == "!=":
        return lambda resolve: not _equal(left(resolve), right(resolve))
    if op in ("in", "not in"):
        negate = op == "not in"

        def member(resolve: Resolve) -> bool:
            item, where = left(resolve), right(resolve)
            why = _unset(node.right, where) or _unset(node.left, item)
            return _contains(where, item, f"'{op}'", why, pos) != negate

        return member
    order = _ORDER[op]

    def compare(resolve: Resolve) -> bool:
        a, b = left(resolve), right(resolve)
        ta, tb = type(a), type(b)
        if ta is tb and (ta is int or ta is float or ta is str):
            return order(a, b)
        na, nb = _number(a), _number(b)
        if na is not None and nb is not None and not (ta is str and tb is str):
            return order(na, nb)
        why = _unset(node.left, a) or _unset(node.right, b)
        if not why and ((ta is str and na is None and nb is not None) or (tb is str and nb is None and na is not None)):
            why = " (the string is not a number)"
        raise ExpressionError(f"cannot compare {_describe(a)} with {_describe(b)} using '{op}'{why}", pos)

    return compare


def _compile_call(node: Call) -> _Run:
    name, pos = node.function, node.pos
    args = [_compile(arg) for arg in node.args]
    if name == "default":
        value, fallback = args

        def default(resolve: Resolve) -> object:
            found = value(resolve)
            return fallback(resolve) if found is None else found  # the fallback only when needed

        return default
    if name == "matches":
        subject_run, pattern_run = args
        pattern_node = node.args[1]
        fixed = _Pattern.get(pattern_node.value, pattern_node.pos) \
            if isinstance(pattern_node, Literal) and isinstance(pattern_node.value, str) else None

        def matches(resolve: Resolve) -> bool:
            subject, pattern = subject_run(resolve), pattern_run(resolve)
            if type(subject) is not str or type(pattern) is not str:
                bad, bad_node = (subject, node.args[0]) if type(subject) is not str else (pattern, pattern_node)
                raise ExpressionError(f"matches() needs two strings, got {_describe(bad)}{_unset(bad_node, bad)}",
                                      pos)
            compiled = fixed or _Pattern.get(pattern, pos)  # type: ignore[arg-type]
            return compiled.match(subject, pos)  # type: ignore[arg-type]

        return matches
    function = _FUNCTION_BODIES[name]
    nodes = node.args
    if len(args) == 1:
        (only,) = args
        arg_node = nodes[0]

        def call1(resolve: Resolve) -> object:
            value = only(resolve)
            return function([value], pos, _unset(arg_node, value))

        return call1

    def call(resolve: Resolve) -> object:
        values = [arg(resolve) for arg in args]
        why = "".join(_unset(n, v) for n, v in zip(nodes, values, strict=True))
        return function(values, pos, why)

    return call


def _bad(name: str, wants: str, value: object, pos: int, why: str) -> ExpressionError:
    return ExpressionError(f"{name}() needs {wants}, got {_describe(value)}{why}", pos)


def _fn_int(values: list[object], pos: int, why: str) -> object:
    (value,) = values
    kind = type(value)
    if kind is int:
        return value
    if kind is bool:
        return int(value)  # type: ignore[arg-type]
    if kind is float:
        try:
            return int(value)  # type: ignore[arg-type]  # toward zero
        except (OverflowError, ValueError):
            raise ExpressionError(f"int() cannot convert {_describe(value)}", pos) from None
    if kind is str:
        if _INTEGER.fullmatch(value):  # type: ignore[arg-type]
            try:
                return int(value)  # type: ignore[arg-type]
            except ValueError:  # more digits than Python converts
                pass
        raise ExpressionError(f"int() cannot convert {_describe(value)} (not an integer)", pos)
    raise _bad("int", "a number or a string", value, pos, why)


def _fn_float(values: list[object], pos: int, why: str) -> object:
    (value,) = values
    kind = type(value)
    if kind is float:
        return value
    if kind is int or kind is bool or (kind is str and _NUMERIC.fullmatch(value)):  # type: ignore[arg-type]
        try:
            result = float(value)  # type: ignore[arg-type]
        except (OverflowError, ValueError):
            result = float("inf")
        if result in (float("inf"), float("-inf")):
            raise ExpressionError(f"float(): {_describe(value)} is out of range", pos)
        return result
    if kind is str:
        raise ExpressionError(f"float() cannot convert {_describe(value)} (not a number)", pos)
    raise _bad("float", "a number or a string", value, pos, why)


def _fn_str(values: list[object], pos: int, why: str) -> object:
    return _capped(_text(values[0], pos), "the result of str()", pos)


def _fn_len(values: list[object], pos: int, why: str) -> object:
    (value,) = values
    if type(value) is str or type(value) is list:
        return len(value)  # type: ignore[arg-type]
    raise _bad("len", "a string or a list", value, pos, why)


def _case(name: str, change: Callable[[str], str]) -> Callable[[list[object], int, str], object]:
    def run(values: list[object], pos: int, why: str) -> object:
        (value,) = values
        if type(value) is not str:
            raise _bad(name, "a string", value, pos, why)
        # Case mapping can lengthen text ('ß'.upper() == 'SS').
        return _capped(change(value), f"the result of {name}()", pos)  # type: ignore[arg-type]
    return run


def _affix(name: str, test: Callable[[str, str], bool]) -> Callable[[list[object], int, str], object]:
    def run(values: list[object], pos: int, why: str) -> object:
        text, affix = values
        for value in (text, affix):
            if type(value) is not str:
                raise _bad(name, "two strings", value, pos, why)
        return test(text, affix)  # type: ignore[arg-type]
    return run


def _fn_quote(values: list[object], pos: int, why: str) -> object:
    """The value as one shell word: a template in a task's script must not let a published value
    (a file name, a row count) become shell syntax."""
    return _capped(shlex.quote(_text(values[0], pos)), "the result of quote()", pos)


def _fn_contains(values: list[object], pos: int, why: str) -> object:
    where, item = values
    return _contains(where, item, "contains()", why, pos)


_FUNCTION_BODIES: dict[str, Callable[[list[object], int, str], object]] = {
    "int": _fn_int,
    "float": _fn_float,
    "str": _fn_str,
    "len": _fn_len,
    "lower": _case("lower", str.lower),
    "upper": _case("upper", str.upper),
    "startswith": _affix("startswith", str.startswith),
    "endswith": _affix("endswith", str.endswith),
    "contains": _fn_contains,
    "quote": _fn_quote,
}


def _references(node: Node, into: set[tuple[str, ...]]) -> None:
    if isinstance(node, Name):
        into.add(node.path)
    elif isinstance(node, Not):
        _references(node.operand, into)
    elif isinstance(node, Compare):
        _references(node.left, into)
        _references(node.right, into)
    else:
        children = node.items if isinstance(node, ListOf) else node.operands if isinstance(node, BoolOp) else \
            node.args if isinstance(node, Call) else ()
        for child in children:
            _references(child, into)


# ---- public API

@dataclass(frozen=True)
class Expression:
    """A parsed expression: ``tree`` (Literal, Name, ListOf, Not, BoolOp, Compare, Call nodes,
    positions relative to ``text``) and the text it came from."""

    text: str
    tree: Node = field(repr=False)
    _run: _Run = field(init=False, repr=False, compare=False)
    _refs: frozenset[tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        refs: set[tuple[str, ...]] = set()
        _references(self.tree, refs)
        object.__setattr__(self, "_refs", frozenset(refs))
        object.__setattr__(self, "_run", _compile(self.tree))

    def __reduce__(self) -> tuple[type[Expression], tuple[str, Node]]:
        return (Expression, (self.text, self.tree))  # the compiled closures are rebuilt, not pickled

    def references(self) -> frozenset[tuple[str, ...]]:
        """Every dotted name the expression uses, as a path: ("tasks", "extract", "outputs", "rows")."""
        return self._refs


def parse(text: str) -> Expression:
    """Parse an expression; raises ExpressionError (with the position) when it is not one."""
    if len(text) > MAX_TEXT:
        raise ExpressionError(f"an expression is at most {MAX_TEXT} characters (got {len(text)})", MAX_TEXT)
    tokens = _tokens(text)
    if tokens[0][0] == "end":
        raise ExpressionError("expected an expression, got nothing", 0)
    return Expression(text, _Parser(tokens).whole())


def evaluate(expr: Expression, resolve: Resolve) -> object:
    """The expression's value; ``resolve(path)`` gives each name's value (None when unknown).
    Raises ExpressionError, with the position of the offending part, for a type mismatch, a
    failed conversion, or a bound exceeded."""
    return expr._run(resolve)


def check(expr: Expression, roots: Mapping[str, int | None]) -> list[str]:
    """Problems with the names ``expr`` uses: each must start with a key of ``roots``, followed by
    exactly that many further segments (None: any number). An empty list when all is well."""
    problems = []
    for ref in sorted(expr.references()):
        root, dotted = ref[0], ".".join(ref)
        if root not in roots:
            problem = f"unknown name {root!r} (known: {', '.join(sorted(roots))})"
            if problem not in problems:  # parms.a and parms.b: one mistake
                problems.append(problem)
            continue
        want = roots[root]
        if want is None or len(ref) - 1 == want:
            continue
        if want == 0:
            problems.append(f"{dotted!r}: {root} has no fields (write {root})")
        else:
            shape = ".".join([root, *["NAME"] * want])
            problems.append(f"{dotted!r}: {root} takes exactly {want} field{'s' if want > 1 else ''} (write {shape})")
    return problems


@dataclass(frozen=True)
class Template:
    """Text with ``{{ expression }}`` parts: ``parts`` holds the literal strings and Expressions in
    order, ``positions`` where each part starts in ``text`` (an Expression: its first character)."""

    text: str
    parts: tuple[str | Expression, ...]
    positions: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def references(self) -> frozenset[tuple[str, ...]]:
        refs: frozenset[tuple[str, ...]] = frozenset()
        for part in self.parts:
            if isinstance(part, Expression):
                refs |= part.references()
        return refs


# From after "{{": everything up to "}}" outside string literals (the alternatives are told apart
# by their first character, so this is linear).
_EMBEDDED = re.compile(r"""(?:[^'"}]|\}(?!\})|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")*""", re.DOTALL)


def parse_template(text: str) -> Template:
    """Parse text with ``{{ expression }}`` parts (a literal ``{{`` is written ``{{ '{{' }}``)."""
    if len(text) > MAX_TEMPLATE:
        raise ExpressionError(f"a template is at most {MAX_TEMPLATE} characters (got {len(text)})", MAX_TEMPLATE)
    # "{" in text is a memchr, several times faster than looking for "{{" in long text without braces.
    start = text.find("{{") if "{" in text else -1
    if start < 0:  # the common case: no parsing, the text as it is
        return Template(text, (text,) if text else (), (0,) if text else ())
    parts: list[str | Expression] = []
    positions: list[int] = []
    literal: list[str] = []   # literal text since the last expression part
    literal_at = 0
    done = 0
    count = 0

    def add_literal(piece: str, at: int) -> None:
        nonlocal literal_at
        if piece:
            if not literal:
                literal_at = at
            literal.append(piece)

    while start >= 0:
        add_literal(text[done:start], done)
        count += 1
        if count > MAX_TEMPLATE_EXPRESSIONS:
            raise ExpressionError(f"a template has at most {MAX_TEMPLATE_EXPRESSIONS} {{{{ }}}} expressions", start)
        body = start + 2
        end = _EMBEDDED.match(text, body).end()  # type: ignore[union-attr]
        if not text.startswith("}}", end):
            if end < len(text) and text[end] in "'\"":
                raise ExpressionError(f"unterminated string in the {{{{ }}}} opened at {start}", end)
            raise ExpressionError("'{{' has no closing '}}' (write a literal {{ as {{ '{{' }})", start)
        inner = text[body:end]
        lead = len(inner) - len(inner.lstrip(" \t\r\n"))
        source = inner.strip(" \t\r\n")
        try:
            expr = parse(source)
        except ExpressionError as e:
            at = body + lead + e.position if e.position >= 0 else start
            raise ExpressionError(e.message if source else "expected an expression inside {{ }}",
                                  at if source else start) from None
        if isinstance(expr.tree, Literal) and isinstance(expr.tree.value, str):
            add_literal(expr.tree.value, start)  # {{ '{{' }} and the like are just text
        else:
            if literal:
                parts.append("".join(literal))
                positions.append(literal_at)
                literal.clear()
            parts.append(expr)
            positions.append(body + lead)
        done = end + 2
        start = text.find("{{", done)
    add_literal(text[done:], done)
    if literal:
        parts.append("".join(literal))
        positions.append(literal_at)
    return Template(text, tuple(parts), tuple(positions))


def render(template: Template, resolve: Resolve) -> str:
    """The template's text with each expression's value written in: strings as they are, integers
    as digits, decimals in their shortest form, booleans as true/false, lists comma-joined. A value
    of null raises ExpressionError: a parameter that renders nothing is a mistake, not ""."""
    parts = template.parts
    if len(parts) == 1 and type(parts[0]) is str:
        return parts[0]
    out: list[str] = []
    added = 0
    positions = template.positions or (0,) * len(parts)  # a Template built by hand may have none
    for part, at in zip(parts, positions, strict=True):
        if type(part) is str:
            out.append(part)
            continue
        expr: Expression = part  # type: ignore[assignment]
        try:
            value = expr._run(resolve)
            rendered = "" if value is None else _text(value, 0)
        except ExpressionError as e:
            raise ExpressionError(f"in {{{{ {expr.text} }}}}: {e.message}", at + max(e.position, 0)) from None
        if value is None:
            raise ExpressionError(f"{{{{ {expr.text} }}}} is not set", at)
        added += len(rendered)
        if added > MAX_STRING:
            raise ExpressionError(f"the template's expressions render more than {MAX_STRING} characters", at)
        out.append(rendered)
    return "".join(out)
