"""The expression language of workflow conditions and templates (wloadctl/model/expressions.py)."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wloadctl.model import expressions as ex
from wloadctl.model.expressions import ExpressionError, check, evaluate, parse, parse_template, render, truthy

NAMES: dict[str, object] = {
    "params.region": "eu-west",
    "params.empty": "",
    "params.count": "7",
    "params.list": ["a", "b", "150"],
    "params.pattern": "eu-.*",
    "tasks.extract.state": "succeeded",
    "tasks.extract.exit_code": 0,
    "tasks.extract.outputs.rows": "150",
    "tasks.extract.outputs.ratio": "0.25",
    "tasks.extract.outputs.word": "abc",
    "tasks.load-db.state": "failed",
    "tasks.load-db.exit_code": 3,
    "tasks.01-first.state": "skipped",
    "business_date": "2024-03-01",
    "run.attempt": 2,
    "run.big": 10**5000,
    "run.flag": True,
    "run.float": 2.5,
    "run.none": None,
    "run.digits": "9" * 4400,  # more digits than Python converts
}


def resolver(names: dict[str, object] | None = None) -> Callable[[tuple[str, ...]], object]:
    table = NAMES if names is None else names
    return lambda path: table.get(".".join(path))


def ev(text: str, names: dict[str, object] | None = None) -> object:
    return evaluate(parse(text), resolver(names))


def error_of(text: str, names: dict[str, object] | None = None) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        ev(text, names)
    return info.value


def parse_error(text: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    return info.value


def quoted(text: str) -> str:
    """``text`` as a string literal of the language."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---- literals and names

@pytest.mark.parametrize(("text", "value"), [
    ("0", 0), ("42", 42), ("-3", -3), ("007", 7), ("1.5", 1.5), ("-0.25", -0.25),
    ("'single'", "single"), ('"double"', "double"), ("''", ""),
    (r"'it\'s'", "it's"), (r'"say \"hi\""', 'say "hi"'), (r"'a\\b'", "a\\b"), (r"'a\nb\tc'", "a\nb\tc"),
    (r"'\"'", '"'), ("'multi\nline'", "multi\nline"),
    ("true", True), ("false", False), ("null", None),
    ("[]", []), ("[1, 'a', true, null]", [1, "a", True, None]), ("[[1], [2, [3]]]", [[1], [2, [3]]]),
    ("  42  ", 42), ("\t\r\n42\n", 42),
])
def test_literals(text: str, value: object) -> None:
    result = ev(text)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(("text", "value"), [
    ("params.region", "eu-west"),
    ("tasks.extract.outputs.rows", "150"),
    ("tasks.load-db.state", "failed"),          # a hyphen inside a segment
    ("tasks.01-first.state", "skipped"),        # a segment after a dot may start with a digit
    ("business_date", "2024-03-01"),
    ("run.attempt", 2),
    ("params.unknown", None),                   # resolve's None: unknown
    ("params.list", ["a", "b", "150"]),
])
def test_names_resolve_by_path(text: str, value: object) -> None:
    assert ev(text) == value


def test_resolve_is_called_with_the_path_tuple() -> None:
    seen: list[tuple[str, ...]] = []
    evaluate(parse("tasks.load-db.outputs.rows == 1"), lambda path: seen.append(path))
    assert seen == [("tasks", "load-db", "outputs", "rows")]


def test_a_hyphen_is_part_of_a_name_not_subtraction() -> None:
    assert ev("a-b", {"a-b": 5}) == 5
    assert parse("a-b").references() == {("a-b",)}
    error = parse_error("a -1")
    assert error.position == 2 and "no arithmetic" in error.message


def test_a_resolved_value_of_an_unsupported_type_is_an_error() -> None:
    error = error_of("params.x == 1", {"params.x": {"a": 1}})
    assert error.position == 0 and "params.x has a value of unsupported type dict" in error.message


def test_list_literals_are_fresh_values() -> None:
    expr = parse("[1, 2]")
    first = evaluate(expr, resolver())
    assert isinstance(first, list)
    first.append(3)
    assert evaluate(expr, resolver()) == [1, 2]


# ---- operators and precedence

@pytest.mark.parametrize(("text", "value"), [
    ("true or false", True), ("false or false", False), ("false || true", True),
    ("true and false", False), ("true and true", True), ("true && true", True), ("true && false", False),
    ("not true", False), ("not false", True), ("!true", False), ("!!true", True), ("not not 0", False),
    # and / or give booleans, by truthiness
    ("'a' or 0", True), ("'' or 0", False), ("1 and 'x'", True), ("[] and 1", False), ("not ''", True),
    ("a or b or c", False), ("0 or 0 or 'x'", True), ("1 and 1 and 0", False), ("1 && 1 && 1", True),
    # and binds tighter than or
    ("true or false and false", True), ("(true or false) and false", False),
    ("false and true or true", True), ("false and (true or true)", False),
    # not binds looser than comparisons
    ("not 1 == 2", True), ("!1 == 1", False), ("not 1 in [2]", True), ("not (1 == 1) or true", True),
    ("not true or true", True), ("not (true or true)", False),
    # comparisons bind tighter than and / or
    ("1 == 1 and 2 == 2", True), ("1 == 2 or 2 == 2", True), ("1 < 2 and 'b' > 'a'", True),
    # parentheses
    ("((((1))))", 1), ("(1 == 1) == true", True),
])
def test_operators_and_precedence(text: str, value: object) -> None:
    result = ev(text)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(("text", "value"), [
    ("1 == 1", True), ("1 != 1", False), ("1 < 2", True), ("2 <= 2", True), ("3 > 2", True), ("2 >= 3", False),
    ("'a' in ['a', 'b']", True), ("'c' in ['a', 'b']", False), ("'c' not in ['a', 'b']", True),
    ("'ell' in 'hello'", True), ("'x' in 'hello'", False), ("'x' not in 'hello'", True), ("'' in 'abc'", True),
    ("150 in params.list", True), ("1 in []", False), ("[1] in [[1], [2]]", True), ("null in [null]", True),
])
def test_comparison_operators(text: str, value: bool) -> None:
    assert ev(text) is value


def test_the_tree_reflects_precedence() -> None:
    tree = parse("a or b and not c == 1").tree
    assert isinstance(tree, ex.BoolOp) and tree.op == "or"
    right = tree.operands[1]
    assert isinstance(right, ex.BoolOp) and right.op == "and"
    negated = right.operands[1]
    assert isinstance(negated, ex.Not) and isinstance(negated.operand, ex.Compare)
    assert negated.operand.op == "=="


def test_long_chains_are_flat_not_deep() -> None:
    text = " or ".join(["a"] * 800) + " or true"
    tree = parse(text).tree
    assert isinstance(tree, ex.BoolOp) and len(tree.operands) == 801
    assert ev(text) is True


# ---- short-circuit

class Recorder:
    def __init__(self, names: dict[str, object]) -> None:
        self.names = names
        self.seen: list[str] = []

    def __call__(self, path: tuple[str, ...]) -> object:
        self.seen.append(".".join(path))
        return self.names.get(".".join(path))


@pytest.mark.parametrize(("text", "value", "unseen"), [
    ("false and params.boom", False, "params.boom"),
    ("false && params.boom", False, "params.boom"),
    ("true or params.boom", True, "params.boom"),
    ("true || params.boom", True, "params.boom"),
    ("0 and params.boom and params.boom", False, "params.boom"),
    ("1 or params.boom or params.boom", True, "params.boom"),
    ("default('set', params.boom)", "set", "params.boom"),
])
def test_short_circuit_does_not_evaluate_the_right_operand(text: str, value: object, unseen: str) -> None:
    recorder = Recorder({})
    assert evaluate(parse(text), recorder) == value
    assert unseen not in recorder.seen


@pytest.mark.parametrize("text", [
    "false and int('x') > 1",
    "true or int('x') > 1",
    "params.empty and int(params.region) > 1",
    "tasks.extract.state == 'failed' and tasks.extract.outputs.word > 100",
    "default(params.region, int('nope'))",
])
def test_an_erroring_right_operand_is_not_evaluated(text: str) -> None:
    assert ev(text) in (False, True, "eu-west")


@pytest.mark.parametrize("text", ["true and int('x') > 1", "false or int('x') > 1", "default(null, int('x'))"])
def test_the_right_operand_is_evaluated_when_needed(text: str) -> None:
    assert "int() cannot convert string 'x'" in error_of(text).message


# ---- comparison semantics

@pytest.mark.parametrize(("text", "value"), [
    # numbers compare numerically, int with float too
    ("1 == 1.0", True), ("0.5 == 0.50", True), ("2 != 2.0", False), ("1 < 1.5", True),
    # a numeric string against a number compares numerically (outputs are strings)
    ("tasks.extract.outputs.rows > 100", True), ("tasks.extract.outputs.rows == 150", True),
    ("tasks.extract.outputs.rows == 150.0", True), ("tasks.extract.outputs.rows >= 151", False),
    ("100 < tasks.extract.outputs.rows", True), ("tasks.extract.outputs.ratio < 0.3", True),
    ("'  42 ' == 42", True), ("'+5' == 5", True), ("'-5' < 0", True), ("'1e3' == 1000", True),
    ("'2.' == 2", True), ("'.5' == 0.5", True), ("'007' == 7", True),
    ("'12345678901234567890' == 12345678901234567890", True),   # exact, not through float
    ("'12345678901234567891' == 12345678901234567890", False),
    # a string that is not a number is never equal to a number
    ("'abc' == 0", False), ("'abc' != 0", True), ("'1_000' == 1000", False), ("'inf' == 1", False),
    ("'nan' == 1", False), ("'0x10' == 16", False), ("'' == 0", False),
    # otherwise: same type and value
    ("'1' == '1.0'", False), ("'a' == 'a'", True), ("'a' == 'A'", False),
    ("true == 1", False), ("false == 0", False), ("true == 'true'", False), ("true == true", True),
    ("null == null", True), ("null == 0", False), ("null == ''", False), ("null == false", False),
    ("params.unknown == null", True), ("params.unknown != null", False),
    ("[1, 2] == [1, 2]", True), ("[1, 2] == [2, 1]", False), ("[1, '2'] == [1.0, 2]", True), ("[1] == [1, 1]", False),
    ("[] == ''", False), ("[1] == 1", False),
    # two strings order by code point, even when numeric
    ("'abc' < 'abd'", True), ("'b' > 'abc'", True), ("'10' < '9'", True), ("'' < 'a'", True),
    ("'Z' < 'a'", True),
])
def test_comparison_semantics(text: str, value: bool) -> None:
    assert ev(text) is value


@pytest.mark.parametrize(("text", "position", "message"), [
    ("null < 1", 5, "cannot compare null with integer 1 using '<'"),
    ("params.unknown > 1", 15, "cannot compare null with integer 1 using '>' (params.unknown is not set)"),
    ("1 <= params.unknown", 2, "(params.unknown is not set)"),
    ("'abc' > 1", 6, "cannot compare string 'abc' with integer 1 using '>' (the string is not a number)"),
    ("tasks.extract.outputs.word >= 100", 27, "cannot compare string 'abc' with integer 100 using '>='"),
    ("true < false", 5, "cannot compare boolean true with boolean false using '<'"),
    ("true > 0", 5, "cannot compare boolean true with integer 0"),
    ("[1] < [2]", 4, "cannot compare a list of 1 item with a list of 1 item"),
    ("'a' < [1]", 4, "cannot compare string 'a' with a list of 1 item"),
    ("1.5 > 'x'", 4, "cannot compare decimal 1.5 with string 'x'"),
])
def test_ordering_errors_name_both_operands(text: str, position: int, message: str) -> None:
    error = error_of(text)
    assert error.position == position
    assert message in error.message


def test_equality_never_raises_on_mixed_types() -> None:
    values = ["1", "'1'", "1.0", "true", "null", "[1]", "'x'", "[]", "''"]
    for a in values:
        for b in values:
            assert isinstance(ev(f"{a} == {b}"), bool)
            assert ev(f"{a} != {b}") is not ev(f"{a} == {b}")


@pytest.mark.parametrize(("text", "position", "message"), [
    ("1 in 'abc'", 2, "'in': looking in a string needs a string to look for, got integer 1"),
    ("'a' in 1", 4, "'in' needs a list or a string to look in, got integer 1"),
    ("'a' not in params.unknown", 4, "got null (params.unknown is not set)"),
    ("'a' in true", 4, "got boolean true"),
])
def test_in_errors(text: str, position: int, message: str) -> None:
    error = error_of(text)
    assert error.position == position and message in error.message


# ---- functions

@pytest.mark.parametrize(("text", "value"), [
    ("int('42')", 42), ("int(' -7 ')", -7), ("int('+3')", 3), ("int(42)", 42), ("int(2.9)", 2), ("int(-2.9)", -2),
    ("int(true)", 1), ("int(false)", 0), ("int(tasks.extract.outputs.rows) > 100", True),
    ("int('123456789012345678901234567890')", 123456789012345678901234567890),
    ("float('2.5')", 2.5), ("float('1e3')", 1000.0), ("float(' 3 ')", 3.0), ("float(2)", 2.0), ("float(1.5)", 1.5),
    ("float(true)", 1.0), ("float(tasks.extract.outputs.ratio) < 0.3", True),
    ("str(5)", "5"), ("str(-5)", "-5"), ("str(1.5)", "1.5"), ("str(0.1)", "0.1"), ("str(1 == 2)", "false"),
    ("str(100000000000000000000.0)", "1e+20"), ("str(true)", "true"), ("str(false)", "false"), ("str(null)", "null"),
    ("str('x')", "x"), ("str([1, 'a', true, [2.5, null]])", "1,a,true,2.5,null"), ("str([])", ""),
    ("len('abc')", 3), ("len('')", 0), ("len([1, 2])", 2), ("len([])", 0), ("len(params.list)", 3),
    ("lower('AbC')", "abc"), ("upper('AbC')", "ABC"), ("upper('straße')", "STRASSE"),
    ("startswith(params.region, 'eu-')", True), ("startswith('abc', 'b')", False), ("startswith('abc', '')", True),
    ("endswith(business_date, '-01')", True), ("endswith('abc', 'b')", False),
    ("contains(params.region, 'west')", True), ("contains('abc', 'x')", False),
    ("contains(params.list, 'b')", True), ("contains(params.list, 150)", True), ("contains([1, 2], '2.0')", True),
    ("contains([], 1)", False),
    ("matches(business_date, '[0-9]{4}-[0-9]{2}-[0-9]{2}')", True), ("matches('2024-3-1', '[0-9]{4}-.*')", True),
    ("matches(params.region, 'eu')", False),                  # fullmatch, not search
    ("matches(params.region, '(?i)EU-WEST')", True), ("matches(params.region, params.pattern)", True),
    ("matches('a.csv', '[a-z]+\\\\.csv')", True), ("matches('', '')", True), ("matches('ab', 'a|ab')", True),
    ("matches('abcabc', '(?:abc){2}')", True), ("matches('ab', '(a|b)?b')", True),
    ("matches('aaa', '(?:a+)?')", True), ("matches('x', '(?#comment)x')", True),
    ("default(params.unknown, 'fallback')", "fallback"), ("default(params.region, 'fallback')", "eu-west"),
    ("default(params.empty, 'fallback')", ""), ("default(null, null)", None), ("default(false, true)", False),
])
def test_functions(text: str, value: object) -> None:
    result = ev(text)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(("text", "message"), [
    ("int('1.5')", "int() cannot convert string '1.5' (not an integer)"),
    ("int('abc')", "int() cannot convert string 'abc'"),
    ("int('')", "int() cannot convert string ''"),
    ("int(null)", "int() needs a number or a string, got null"),
    ("int(params.unknown)", "int() needs a number or a string, got null (params.unknown is not set)"),
    ("int([1])", "int() needs a number or a string, got a list of 1 item"),
    ("int(run.digits)", "int() cannot convert string '99999"),
    ("float('abc')", "float() cannot convert string 'abc' (not a number)"),
    ("float('nan')", "float() cannot convert string 'nan'"),
    ("float('inf')", "float() cannot convert string 'inf'"),
    ("float('1e999')", "float(): string '1e999' is out of range"),
    ("float(run.big)", "float(): a very large integer is out of range"),
    ("float(null)", "float() needs a number or a string, got null"),
    ("str(run.big)", "an integer too large to write"),
    ("len(5)", "len() needs a string or a list, got integer 5"),
    ("len(null)", "len() needs a string or a list, got null"),
    ("lower(5)", "lower() needs a string, got integer 5"),
    ("upper(null)", "upper() needs a string, got null"),
    ("startswith(1, 'a')", "startswith() needs two strings, got integer 1"),
    ("endswith('a', null)", "endswith() needs two strings, got null"),
    ("contains(5, 'a')", "contains() needs a list or a string to look in, got integer 5"),
    ("contains(params.unknown, 'a')", "got null (params.unknown is not set)"),
    ("contains('abc', 1)", "contains(): looking in a string needs a string to look for, got integer 1"),
    ("matches(1, 'a')", "matches() needs two strings, got integer 1"),
    ("matches(params.unknown, 'a')", "matches() needs two strings, got null (params.unknown is not set)"),
    ("matches('a', params.unknown)", "got null (params.unknown is not set)"),
])
def test_function_errors(text: str, message: str) -> None:
    error = error_of(text)
    assert message in error.message
    assert error.position == 0  # the call


@pytest.mark.parametrize(("text", "message"), [
    ("int()", "int() takes 1 argument (got 0)"),
    ("int(1, 2)", "int() takes 1 argument (got 2)"),
    ("default(1)", "default() takes 2 arguments (got 1)"),
    ("matches('a', 'b', 'c')", "matches() takes 2 arguments (got 3)"),
])
def test_function_arity_is_checked_when_parsing(text: str, message: str) -> None:
    error = parse_error(text)
    assert error.position == 0 and error.message == message


def test_a_function_name_without_a_call_is_a_name() -> None:
    assert parse("int").references() == {("int",)}


def test_unknown_function_names_the_known_ones() -> None:
    error = parse_error("1 == lenght(x)")
    assert error.position == 5
    assert error.message == ("unknown function 'lenght' (known: contains, default, endswith, float, int, len, "
                             "lower, matches, quote, startswith, str, upper)")
    assert str(error) == "at 5: " + error.message


def test_string_results_are_capped() -> None:
    big = "ß" * 40_000  # 80,000 characters once upper-cased
    assert "longer than 65536" in error_of("upper(params.x)", {"params.x": big}).message
    assert "longer than 65536" in error_of("str(params.x)", {"params.x": ["x" * 1000] * 70}).message
    assert ev("upper(params.x)", {"params.x": "ß" * 30_000}) == "SS" * 30_000


# ---- regular expressions

@pytest.mark.parametrize(("pattern", "message"), [
    ("(a+)+", "a repeated group may not contain a quantifier or '|'"),
    ("(a*)*", "a repeated group may not contain"),
    ("(?:a|aa)*", "a repeated group may not contain"),
    ("(a|b){2,}", "a repeated group may not contain"),
    ("(a?){3}", "a repeated group may not contain"),
    ("((a)+b)+", "a repeated group may not contain"),
    ("(?:x(?:a|b)y)+", "a repeated group may not contain"),
    ("(a+){,}", "a repeated group may not contain"),   # {,} is * to re
    ("(a)\\1", "backreferences"),
    ("(?P<n>a)(?P=n)", "backreferences"),
    ("(a)?(?(1)b|c)", "conditional groups"),
    ("(?x)a b", "verbose mode"),
    ("(?ix:a)", "verbose mode"),
    ("(", "not a regular expression"),
    ("a**", "not a regular expression"),
    ("a" * 257, "a pattern is at most 256 characters"),
    # what re would warn about (on the scheduler's stderr) rather than refuse
    ("[[a]", "escape '[' inside [...]"),
    ("[a--b]", "escape '--' inside [...]"),
    ("[a&&b]", "escape '&&' inside [...]"),
])
def test_dangerous_or_bad_patterns_are_refused_when_parsing(pattern: str, message: str) -> None:
    text = "matches(params.region, " + quoted(pattern) + ")"
    error = parse_error(text)
    assert message in error.message
    assert error.position == len("matches(params.region, ")  # the pattern literal


def test_a_pattern_from_a_name_is_checked_when_evaluating() -> None:
    error = error_of("matches(params.region, params.x)", {"params.region": "aaaa", "params.x": "(a+)+$"})
    assert error.position == 0 and "a repeated group may not contain" in error.message


@pytest.mark.parametrize("pattern", [
    "(?:ab)?", "(ab)*", "(?:abc){3}", "(a|b)?", "x{2,5}", "[(+*]+", r"\(a+\)+", "(?i:a)+", "(?<=a)b", "(?=a)a",
    "(?!b)a", "(?P<year>[0-9]{4})-(?P<month>[0-9]{2})", r"\N{LATIN SMALL LETTER A}+", "a{}", "[]a]+", "[^]a]*",
    "(?>a+)b", "a*+b", "a+?", r"\d\w\s\.", "(a|b|c)d", "(?s:.)*", r"[\[\]]", "[a-z-]", "[a|b]",
])
def test_safe_patterns_are_accepted(pattern: str) -> None:
    parse("matches('x', " + quoted(pattern) + ")")


def test_polynomial_matching_is_bounded_by_the_string_length() -> None:
    three = "matches(params.x, '.*.*.*x')"
    assert ev(three, {"params.x": "a" * 50}) is False
    error = error_of(three, {"params.x": "a" * 2000})
    assert "could take too long on a string of 2000 characters" in error.message
    # One quantifier: long strings are fine.
    assert ev("matches(params.x, '.*x')", {"params.x": "a" * 5000 + "x"}) is True


def test_optional_chains_are_bounded() -> None:
    pattern = "a?" * 40 + "a" * 40  # 2**40 paths: exponential without the bound
    error = error_of("matches(params.x, " + quoted(pattern) + ")", {"params.x": "a" * 40})
    assert "could take too long" in error.message


def test_many_alternatives_are_refused() -> None:
    error = parse_error("matches('x', " + quoted("(?:a|b)" * 30) + ")")
    assert "too many alternatives" in error.message


# ---- parse errors

@pytest.mark.parametrize(("text", "position", "message"), [
    ("", 0, "expected an expression, got nothing"),
    ("   ", 0, "expected an expression, got nothing"),
    ("(a", 2, "expected ')' to close the '(' at 0, got the end of the expression"),
    ("((a)", 4, "expected ')' to close the '(' at 0"),
    ("(a b)", 3, "expected ')' to close the '(' at 0, got 'b'"),
    ("a)", 1, "unexpected ')' after the expression"),
    ("a b", 2, "unexpected 'b' after the expression"),
    ("1 2", 2, "unexpected '2' after the expression"),
    ("a 'x'", 2, "unexpected a string after the expression"),
    ("a not b", 2, "unexpected 'not' after the expression"),
    ("int(1", 5, "expected ')' after the arguments of int"),
    ("tasks.a.state == 'x' and int(1 2)", 31, "expected ')' after the arguments of int"),
    ("foo(1)", 0, "unknown function 'foo'"),
    ("a.b(1)", 0, "only functions can be called, and 'a.b' is not one"),
    ("a < b < c", 6, "comparisons do not chain"),
    ("a == b != c", 7, "comparisons do not chain"),
    ("a in b not in c", 7, "comparisons do not chain"),
    ("'abc", 0, "unterminated string"),
    ('x == "abc', 5, "unterminated string"),
    ("'abc\\'", 0, "unterminated string"),
    ("'a\\qb'", 2, "unknown escape '\\\\q'"),
    ("x = 1", 2, "unexpected '=' (compare with ==)"),
    ("a & b", 2, "write && or and"),
    ("a | b", 2, "write || or or"),
    ("a $ b", 2, "unexpected character '$'"),
    ("tasks.", 5, "unexpected '.'"),
    ("tasks. a", 5, "unexpected '.'"),
    (".5", 0, "unexpected '.'"),
    ("1.", 1, "unexpected '.'"),
    ("1.5.3", 3, "unexpected '.'"),
    ("null.x", 4, "unexpected '.' after null"),
    ("true.x", 4, "unexpected '.' after true"),
    ("a == not b", 5, "expected a value, got 'not'"),
    ("a ==", 4, "expected a value (a literal, a name, a function call, '(' or '['), got the end of the expression"),
    ("and", 0, "expected a value"),
    ("()", 1, "expected a value"),
    ("[1, ]", 4, "expected a value"),
    ("[1 2]", 3, "expected ',' or ']' to close the '[' at 0, got '2'"),
    ("[1", 2, "expected ',' or ']' to close the '[' at 0"),
    ("1 -", 2, "unexpected character '-'"),
    ("é", 0, "unexpected character 'é'"),
])
def test_parse_errors_have_positions(text: str, position: int, message: str) -> None:
    error = parse_error(text)
    assert message in error.message
    assert error.position == position
    assert str(error) == f"at {position}: {error.message}"


def test_too_long() -> None:
    parse("'" + "x" * (ex.MAX_TEXT - 2) + "'")
    error = parse_error("'" + "x" * (ex.MAX_TEXT - 1) + "'")
    assert error.position == ex.MAX_TEXT and "at most 4096 characters (got 4097)" in error.message


@pytest.mark.parametrize(("opening", "closing"), [("(", ")"), ("not ", ""), ("!", ""), ("[", "]"), ("len(", ")")])
def test_nesting_is_limited(opening: str, closing: str) -> None:
    inner = "'x'" if opening == "len(" else "1"
    assert parse(opening * ex.MAX_DEPTH + inner + closing * ex.MAX_DEPTH) is not None
    deep = opening * (ex.MAX_DEPTH + 1) + inner + closing * (ex.MAX_DEPTH + 1)
    error = parse_error(deep)
    assert error.message == "nested more than 32 levels deep"
    assert error.position == len(opening) * ex.MAX_DEPTH


def test_very_deep_nesting_is_an_error_not_a_recursion_error() -> None:
    for text in ["(" * 2000 + "1" + ")" * 2000, "not " * 1000 + "x", "[" * 4000, "int(" * 1000]:
        assert "nested more than 32 levels deep" in parse_error(text).message


def test_list_literals_are_limited() -> None:
    assert len(ev("[" + ", ".join(["1"] * 256) + "]")) == 256  # type: ignore[arg-type]
    error = parse_error("[" + ", ".join(["1"] * 257) + "]")
    assert error.message == "a list literal has at most 256 items" and error.position == 1 + 256 * 3


def test_number_literals_out_of_range() -> None:
    assert "number out of range" in parse_error("1" * 400 + ".5").message
    assert ev("9" * 4000) == int("9" * 4000)


# ---- references and check

def test_references() -> None:
    expr = parse("tasks.extract.outputs.rows > 100 and params.region in [params.a, 'x'] or "
                 "default(context.k, run.id) == business_date and not matches(tasks.load-db.state, 'f.*')")
    assert expr.references() == {
        ("tasks", "extract", "outputs", "rows"), ("params", "region"), ("params", "a"), ("context", "k"),
        ("run", "id"), ("business_date",), ("tasks", "load-db", "state"),
    }
    assert parse("1 == 1").references() == frozenset()


ROOTS: dict[str, int | None] = {"params": 1, "tasks": None, "business_date": 0, "context": 1, "run": 1}


@pytest.mark.parametrize(("text", "problems"), [
    ("params.region == 'eu' and tasks.a.state == 'x' and business_date and context.k and run.id", []),
    ("tasks", []), ("tasks.a.outputs.rows.deeper", []),
    ("parms.region", ["unknown name 'parms' (known: business_date, context, params, run, tasks)"]),
    ("params", ["'params': params takes exactly 1 field (write params.NAME)"]),
    ("params.a.b", ["'params.a.b': params takes exactly 1 field (write params.NAME)"]),
    ("business_date.day", ["'business_date.day': business_date has no fields (write business_date)"]),
    ("zz or aa.b or params", ["unknown name 'aa' (known: business_date, context, params, run, tasks)",
                              "'params': params takes exactly 1 field (write params.NAME)",
                              "unknown name 'zz' (known: business_date, context, params, run, tasks)"]),
])
def test_check(text: str, problems: list[str]) -> None:
    assert check(parse(text), ROOTS) == problems


def test_check_reports_an_unknown_name_once() -> None:
    assert check(parse("parms.a == parms.b"), ROOTS) == [
        "unknown name 'parms' (known: business_date, context, params, run, tasks)"]


def test_a_template_built_by_hand_renders() -> None:
    expr = parse("params.region")
    assert render(ex.Template("x{{ params.region }}", ("x", expr)), resolver()) == "xeu-west"


def test_check_with_several_fields() -> None:
    assert check(parse("a.b"), {"a": 2}) == ["'a.b': a takes exactly 2 fields (write a.NAME.NAME)"]
    assert check(parse("a.b.c"), {"a": 2}) == []


# ---- truthiness

@pytest.mark.parametrize(("value", "expected"), [
    (None, False), (False, False), (0, False), (0.0, False), ("", False), ([], False),
    (True, True), (1, True), (-1, True), (0.1, True), ("0", True), ("false", True), (" ", True), ([0], True),
    ([None], True),
])
def test_truthy(value: object, expected: bool) -> None:
    assert truthy(value) is expected
    assert ev("not not x", {"x": value}) is expected


# ---- errors and values as objects

def test_expression_error_is_a_value_error_and_pickles() -> None:
    error = ExpressionError("boom", 3)
    assert isinstance(error, ValueError)
    again = pickle.loads(pickle.dumps(error))
    assert (again.message, again.position, str(again)) == ("boom", 3, "at 3: boom")
    assert str(ExpressionError("no place")) == "no place" and ExpressionError("no place").position == -1


def test_expressions_compare_by_text_and_tree_and_pickle() -> None:
    expr = parse("int(tasks.a.outputs.rows) > 100")
    assert expr == parse("int(tasks.a.outputs.rows) > 100")
    assert expr != parse("int(tasks.a.outputs.rows) > 101")
    again = pickle.loads(pickle.dumps(expr))
    assert again == expr
    assert evaluate(again, resolver({"tasks.a.outputs.rows": "150"})) is True
    assert hash(expr) == hash(again)


# ---- templates

@pytest.mark.parametrize("text", ["", "plain", "echo ${HOME} {x} }} {", "a { { b", "x" * 100_000, "}}{"])
def test_template_without_expressions_round_trips_unchanged(text: str) -> None:
    template = parse_template(text)
    assert template.parts == ((text,) if text else ())
    assert template.references() == frozenset()
    assert render(template, resolver()) is text or render(template, resolver()) == text == ""


@pytest.mark.parametrize(("text", "rendered"), [
    ("--region={{ params.region }}", "--region=eu-west"),
    ("{{params.region}}", "eu-west"),
    ("{{ params.region }}/{{ business_date }}/{{ run.attempt }}", "eu-west/2024-03-01/2"),
    ("rows={{ int(tasks.extract.outputs.rows) }}", "rows=150"),
    ("{{ run.float }} {{ 0.1 }} {{ 1.0 }} {{ 100000000000000000000.0 }}", "2.5 0.1 1.0 1e+20"),
    ("{{ run.flag }} {{ false }}", "true false"),
    ("{{ params.list }}", "a,b,150"),
    ("{{ [1, [2, 'x'], true] }}", "1,2,x,true"),
    ("{{ [] }}!", "!"),
    ("{{ params.empty }}", ""),
    ("{{ tasks.load-db.exit_code }}", "3"),
    ("{{ '{{' }}", "{{"),
    ("literal {{ '{{' }} not an expression }}", "literal {{ not an expression }}"),
    ("{{ '}}' }}", "}}"),
    ("{{ \"a }} b\" }}", "a }} b"),
    ("{{ 'it\\'s' }}", "it's"),
    ("{{ default(params.none, 'x') }}", "x"),
    ("{{ tasks.extract.state == 'succeeded' }}", "true"),
    ("a}}b{{ 1 }}c", "a}}b1c"),
    ("{{ 1 }}}", "1}"),
    ("{\n{{ params.region }}\n}", "{\neu-west\n}"),
    ("{{\n  params.region\n}}", "eu-west"),
])
def test_render(text: str, rendered: str) -> None:
    assert render(parse_template(text), resolver()) == rendered


def test_template_parts_and_positions() -> None:
    template = parse_template("a {{ params.x }} b {{ '{{' }} c{{int(y)}}")
    assert len(template.parts) == 4
    first, expr, literal, call = template.parts
    assert first == "a " and literal == " b {{ c"
    assert isinstance(expr, ex.Expression) and expr.text == "params.x"
    assert isinstance(call, ex.Expression) and call.text == "int(y)"
    assert template.positions == (0, 5, 16, 33)
    assert template.references() == {("params", "x"), ("y",)}


@pytest.mark.parametrize(("text", "position", "message"), [
    ("x {{ a", 2, "'{{' has no closing '}}'"),
    ("{{ a }} {{", 8, "'{{' has no closing '}}'"),
    ("{{ a } }", 0, "'{{' has no closing '}}'"),
    ("x {{ 'a }}", 5, "unterminated string in the {{ }} opened at 2"),
    ("{{ }}", 0, "expected an expression inside {{ }}"),
    ("{{}}", 0, "expected an expression inside {{ }}"),
    ("ab {{ foo(1) }}", 6, "unknown function 'foo'"),
    ("ab {{ a < b < c }}", 12, "comparisons do not chain"),
    ("{{ a {{ b }}", 5, "unexpected character '{'"),
])
def test_template_parse_errors_have_positions_in_the_template(text: str, position: int, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_template(text)
    assert message in info.value.message
    assert info.value.position == position


def test_a_value_of_null_renders_nothing_and_is_an_error() -> None:
    with pytest.raises(ExpressionError) as info:
        render(parse_template("--region={{ params.regon }}"), resolver())
    assert info.value.message == "{{ params.regon }} is not set"
    assert info.value.position == 12
    assert str(info.value) == "at 12: {{ params.regon }} is not set"


def test_evaluation_errors_in_templates_name_the_expression_and_its_place() -> None:
    with pytest.raises(ExpressionError) as info:
        render(parse_template("n={{ int(params.region) }}"), resolver())
    assert info.value.message == "in {{ int(params.region) }}: int() cannot convert string 'eu-west' (not an integer)"
    assert info.value.position == 5


def test_template_limits() -> None:
    assert len(parse_template("{{ 1 }}" * ex.MAX_TEMPLATE_EXPRESSIONS).parts) == ex.MAX_TEMPLATE_EXPRESSIONS
    with pytest.raises(ExpressionError, match="at most 256"):
        parse_template("{{ 1 }}" * (ex.MAX_TEMPLATE_EXPRESSIONS + 1))
    with pytest.raises(ExpressionError, match="a template is at most"):
        parse_template("x" * (ex.MAX_TEMPLATE + 1))
    with pytest.raises(ExpressionError, match="an expression is at most 4096"):
        parse_template("{{ '" + "x" * 5000 + "' }}")
    big = {"params.x": "x" * 40_000}
    assert len(render(parse_template("{{ params.x }}"), resolver(big))) == 40_000
    with pytest.raises(ExpressionError, match="render more than 65536"):
        render(parse_template("{{ params.x }}{{ params.x }}"), resolver(big))


def test_templates_compare_by_text_and_parts() -> None:
    assert parse_template("a {{ b }}") == parse_template("a {{ b }}")
    assert parse_template("a {{ b }}") != parse_template("a {{ c }}")


# ---- properties: any input gives a result or an ExpressionError, never another exception

# Text made of the language's pieces reaches deeper into the parser than random characters do.
GRAMMARISH = st.lists(st.sampled_from([*"()[]{},.!=<>&|'\"\\ \n-_09aAzZ", "and ", "or ", "not ", " in ", "true",
                                       "null", "int(", "matches(", "default(", "params.", "{{", "}}", "1.5"]),
                      max_size=40).map("".join)
VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                      lambda inner: st.lists(inner, max_size=3), max_leaves=6)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=st.characters(min_codepoint=9, max_codepoint=0x2FF), max_size=120) | GRAMMARISH,
       value=VALUES)
def test_parse_and_evaluate_never_raise_anything_but_expression_error(text: str, value: object) -> None:
    try:
        expr = parse(text)
    except ExpressionError as e:
        assert 0 <= e.position <= len(text)
        return
    assert expr.text == text
    try:
        evaluate(expr, lambda path: value)
    except ExpressionError as e:
        assert 0 <= e.position <= len(text)


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet=st.characters(min_codepoint=9, max_codepoint=0x2FF), max_size=120) | GRAMMARISH,
       value=VALUES)
def test_parse_template_and_render_never_raise_anything_but_expression_error(text: str, value: object) -> None:
    try:
        template = parse_template(text)
    except ExpressionError as e:
        assert 0 <= e.position <= len(text)
        return
    if "{{" not in text:
        assert render(template, lambda path: value) == text
        return
    try:
        render(template, lambda path: value)
    except ExpressionError as e:
        assert 0 <= e.position <= len(text)


@settings(max_examples=600, deadline=None)
@given(pattern=st.lists(st.sampled_from([*"ab.()[]{}|*+?^$\\:=!<>P-#x,0123N", "(?", "(?P<n>", "(?:", "{2,}",
                                        "\\1", "[^]", "(?i)"]), max_size=30).map("".join),
       subject=st.text(alphabet="ab-", max_size=30))
def test_matches_on_any_pattern_gives_a_boolean_or_an_expression_error(pattern: str, subject: str) -> None:
    text = f"matches(s, {quoted(pattern)})"
    try:
        expr = parse(text)
    except ExpressionError as e:
        assert e.position >= 0
        return
    try:
        assert evaluate(expr, lambda path: subject) in (True, False)
    except ExpressionError as e:
        assert "too long" in e.message


def test_alternatives_without_quantifiers_are_bounded_too() -> None:
    pattern = "(?:a|a)" * 24 + "b"  # 2**24 paths and not one quantifier
    error = error_of("matches(params.x, " + quoted(pattern) + ")", {"params.x": "a" * 24})
    assert "could take too long on a string of 24 characters" in error.message
    # and a pattern without quantifiers on a string long enough
    error = error_of("matches(params.x, 'a|b|c|d|e')", {"params.x": "a" * 10_000_000})
    assert "could take too long" in error.message


def test_quote_makes_any_value_one_shell_word() -> None:
    import shlex

    from wloadctl.model.expressions import parse_template, render

    nasty = "x y'; rm -rf / $(id) `id`"
    out = render(parse_template("load {{ quote(params.f) }} {{ quote(params.n) }}"),
                 lambda path: {"f": nasty, "n": 42}[path[1]])
    assert shlex.split(out) == ["load", nasty, "42"]
