"""A small CEL interpreter for the model's ValidatingAdmissionPolicies: the part of the language
(github.com/google/cel-spec, langdef.md) that admission expressions like the room's use.

Parsed: literals (strings in single or double quotes, integers, true, false, null), identifiers,
field selection ``a.b``, indexing ``a[k]``, list literals, ``!``, ``-``, ``+``, ``==``, ``!=``, ``<``,
``<=``, ``>``, ``>=``, ``in``, ``&&``, ``||``, ``? :``, the macros ``has(a.b)``, ``l.all(x, p)``,
``l.exists(x, p)``, and the functions ``size``, ``startsWith``, ``endsWith``, ``contains``. A syntax
error is a ``CelSyntaxError`` (the API server refuses such a policy at creation).

Evaluated as CEL does: selecting a field a map lacks is an error, and ``&&``, ``||``, ``all`` and
``exists`` absorb errors when the other operands decide (``false && error`` is false); any other error
reaches the caller as ``CelError``. Not modelled: the type checker (the API server checks types against
the object's schema at creation and only warns), macros and functions beyond the list above, cost limits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Value = Any
Scope = Mapping[str, Value]


class CelError(Exception):
    """An evaluation error (no such key, no matching overload)."""


class CelSyntaxError(Exception):
    pass


_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+)|(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>&&|\|\||==|!=|<=|>=|[!<>+\-*().\[\],?:]))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise CelSyntaxError(
                f"Syntax error: token recognition error at: {text[position : position + 10]!r}"
            )
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        position = match.end()
    out.append(("end", ""))
    return out


Node = Callable[[Scope], Value]


@dataclass
class _Parser:
    tokens: list[tuple[str, str]]
    at: int = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at]

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.tokens[self.at]
        if value is not None and token[1] != value:
            raise CelSyntaxError(f"Syntax error: expected {value!r}, found {token[1] or 'the end'!r}")
        self.at += 1
        return token

    def expression(self) -> Node:
        condition = self.binary(0)
        if self.peek()[1] == "?":
            self.take("?")
            then = self.expression()
            self.take(":")
            otherwise = self.expression()
            return lambda scope: then(scope) if _bool(condition(scope)) else otherwise(scope)
        return condition

    LEVELS = (("||",), ("&&",), ("==", "!=", "<", "<=", ">", ">=", "in"), ("+", "-"))

    def binary(self, level: int) -> Node:
        if level == len(self.LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek()[1] in self.LEVELS[level] and self.peek()[0] in ("op", "name"):
            operator = self.take()[1]
            right = self.binary(level + 1)
            left = _operator(operator, left, right)
        return left

    def unary(self) -> Node:
        if self.peek()[1] == "!":
            self.take()
            operand = self.unary()
            return lambda scope: not _bool(operand(scope))
        if self.peek()[1] == "-":
            self.take()
            negated = self.unary()
            return lambda scope: -_int(negated(scope))
        return self.member()

    def member(self) -> Node:
        node = self.primary()
        while self.peek()[1] in (".", "["):
            if self.take()[1] == "[":
                index = self.expression()
                self.take("]")
                node = _index(node, index)
                continue
            kind, name = self.take()
            if kind != "name":
                raise CelSyntaxError(f"Syntax error: a field name after '.', found {name!r}")
            node = self.method(node, name) if self.peek()[1] == "(" else _select(node, name)
        return node

    def arguments(self) -> list[Node]:
        self.take("(")
        found: list[Node] = []
        while self.peek()[1] != ")":
            found.append(self.expression())
            if self.peek()[1] == ",":
                self.take(",")
        self.take(")")
        return found

    def method(self, target: Node, name: str) -> Node:
        if name in ("all", "exists"):
            self.take("(")
            kind, variable = self.take()
            if kind != "name":
                raise CelSyntaxError(f"Syntax error: {name}() needs a variable name first")
            self.take(",")
            predicate = self.expression()
            self.take(")")
            return _quantifier(name, target, variable, predicate)
        args = self.arguments()
        functions: dict[str, Callable[..., Value]] = {
            "startsWith": lambda s, p: _str(s).startswith(_str(p)),
            "endsWith": lambda s, p: _str(s).endswith(_str(p)),
            "contains": lambda s, p: _str(p) in _str(s),
            "size": lambda s: len(s) if isinstance(s, (str, list, dict)) else _fail("size", s),
        }
        if name not in functions:
            raise CelSyntaxError(f"undeclared reference to '{name}'")
        function = functions[name]
        return lambda scope: function(target(scope), *(a(scope) for a in args))

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "number":
            value = int(text)
            return lambda scope: value
        if kind == "string":
            literal = bytes(text[1:-1], "utf-8").decode("unicode_escape")
            return lambda scope: literal
        if text == "(":
            inner = self.expression()
            self.take(")")
            return inner
        if text == "[":
            items: list[Node] = []
            while self.peek()[1] != "]":
                items.append(self.expression())
                if self.peek()[1] == ",":
                    self.take(",")
            self.take("]")
            return lambda scope: [item(scope) for item in items]
        if kind == "name":
            if text in ("true", "false", "null"):
                constant = {"true": True, "false": False, "null": None}[text]
                return lambda scope: constant
            if text == "has":
                self.take("(")
                target = self.member()
                self.take(")")
                owner, field = getattr(target, "owner", None), getattr(target, "field", None)
                if owner is None or field is None:
                    raise CelSyntaxError("Syntax error: has() needs a field selection, a.b")
                return lambda scope: _has(owner(scope), field)
            if text == "size" and self.peek()[1] == "(":
                (arg,) = self.arguments()
                return lambda scope: len(arg(scope))
            return lambda scope: _lookup(scope, text)
        raise CelSyntaxError(f"Syntax error: unexpected {text or 'end of expression'!r}")


def _fail(function: str, value: Value) -> Value:
    raise CelError(f"no matching overload for '{function}' applied to '{type(value).__name__}'")


def _bool(value: Value) -> bool:
    if isinstance(value, bool):
        return value
    raise CelError(f"no matching overload: a bool was needed, got {type(value).__name__}")


def _int(value: Value) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise CelError("no matching overload: an int was needed")


def _str(value: Value) -> str:
    if isinstance(value, str):
        return value
    raise CelError("no matching overload: a string was needed")


def _lookup(scope: Scope, name: str) -> Value:
    if name not in scope:
        raise CelError(f"undeclared reference to '{name}'")
    value = scope[name]
    return value() if callable(value) else value


def _select(target: Node, name: str) -> Node:
    def select(scope: Scope) -> Value:
        owner = target(scope)
        if isinstance(owner, Mapping):
            if name not in owner:
                raise CelError(f"no such key: {name}")
            value = owner[name]
            return value() if callable(value) else value
        raise CelError(f"no such key: {name} (on {type(owner).__name__})")

    select.owner = target  # type: ignore[attr-defined]  # what has(a.b) tests, and for which field
    select.field = name  # type: ignore[attr-defined]
    return select


def _has(owner: Value, field: str) -> bool:
    if isinstance(owner, Mapping):
        return field in owner
    raise CelError(f"invalid type for field selection in has(): {type(owner).__name__}")


def _index(target: Node, index: Node) -> Node:
    def select(scope: Scope) -> Value:
        owner, key = target(scope), index(scope)
        if isinstance(owner, Mapping):
            if key not in owner:
                raise CelError(f"no such key: {key}")
            return owner[key]
        if isinstance(owner, list) and isinstance(key, int) and not isinstance(key, bool):
            if not 0 <= key < len(owner):
                raise CelError(f"index out of range: {key}")
            return owner[key]
        raise CelError("no matching overload for index")

    return select


def _quantifier(name: str, target: Node, variable: str, predicate: Node) -> Node:
    def run(scope: Scope) -> Value:
        items = target(scope)
        if isinstance(items, Mapping):
            items = list(items)
        if not isinstance(items, list):
            raise CelError(f"no matching overload for {name}")
        decided, error = name == "exists", None
        for item in items:
            try:
                result = _bool(predicate({**scope, variable: item}))
            except CelError as failure:
                error = failure
                continue
            if result == decided:
                return decided
        if error is not None:
            raise error
        return not decided

    return run


def _logical(operator: str, left: Node, right: Node) -> Node:
    decides = operator == "||"  # the value that decides on its own: true for ||, false for &&

    def run(scope: Scope) -> Value:
        errors = []
        for side in (left, right):
            try:
                if _bool(side(scope)) == decides:
                    return decides
            except CelError as failure:
                errors.append(failure)
        if errors:
            raise errors[0]
        return not decides

    return run


def _operator(operator: str, left: Node, right: Node) -> Node:
    if operator in ("&&", "||"):
        return _logical(operator, left, right)

    def run(scope: Scope) -> Value:
        a, b = left(scope), right(scope)
        if operator == "==":
            return a == b
        if operator == "!=":
            return a != b
        if operator == "in":
            if isinstance(b, (list, Mapping)):
                return a in b
            raise CelError("no matching overload for 'in'")
        if operator == "+":
            if type(a) is type(b) and isinstance(a, (int, str, list)) and not isinstance(a, bool):
                return a + b
            raise CelError("no matching overload for '+'")
        if operator == "-":
            return _int(a) - _int(b)
        if type(a) is not type(b) or not isinstance(a, (int, str)):
            raise CelError(f"no matching overload for '{operator}'")
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[operator]

    return run


def compile_expression(text: str) -> Node:
    """The expression as a function of the variables in scope; CelSyntaxError when it does not parse."""
    parser = _Parser(_tokens(text))
    node = parser.expression()
    if parser.peek()[0] != "end":
        raise CelSyntaxError(f"Syntax error: unexpected {parser.peek()[1]!r}")
    return node


def evaluate(text: str, scope: Scope) -> Value:
    return compile_expression(text)(scope)
