"""Calico's selector expressions (projectcalico.org/v3 ``selector``, ``namespaceSelector``).

The subset understood: ``all()``, ``has(k)``, ``k == "v"``, ``k != "v"``, ``k in {"a", "b"}``,
``k not in {...}``, ``!``, ``&&``, ``||`` and parentheses; values in single or double quotes.
As in Calico, ``!=`` and ``not in`` also match when the label is absent. Anything else
(``starts with``, ``global()``, ...) raises ``SelectorError`` naming what was not understood.
Each expression matches one label set (``matches``) or, through a ``LabelIndex``, many at once
(``mask``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lab.policy.selectors import LabelIndex, SelectorError

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"[^"]*"|'[^']*')
      | (?P<op>==|!=|&&|\|\||!|\(|\)|\{|\}|,)
      | (?P<word>[A-Za-z0-9_./-]+)
    )""",
    re.VERBOSE,
)


class Expr:
    """A parsed selector expression."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        raise NotImplementedError

    def mask(self, index: LabelIndex) -> int:
        raise NotImplementedError


@dataclass(frozen=True)
class All(Expr):
    def matches(self, labels: Mapping[str, str]) -> bool:
        return True

    def mask(self, index: LabelIndex) -> int:
        return index.all


@dataclass(frozen=True)
class Has(Expr):
    key: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.key in labels

    def mask(self, index: LabelIndex) -> int:
        return index.key_mask(self.key)


@dataclass(frozen=True)
class InSet(Expr):
    """``k == "v"`` (one value) and ``k in {...}``; ``negated``: ``!=`` / ``not in`` (absent matches)."""

    key: str
    values: frozenset[str]
    negated: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        hit = self.key in labels and labels[self.key] in self.values
        return hit != self.negated

    def mask(self, index: LabelIndex) -> int:
        hit = 0
        for value in self.values:
            hit |= index.value_mask(self.key, value)
        return index.all & ~hit if self.negated else hit


@dataclass(frozen=True)
class Not(Expr):
    inner: Expr

    def matches(self, labels: Mapping[str, str]) -> bool:
        return not self.inner.matches(labels)

    def mask(self, index: LabelIndex) -> int:
        return index.all & ~self.inner.mask(index)


@dataclass(frozen=True)
class And(Expr):
    left: Expr
    right: Expr

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.left.matches(labels) and self.right.matches(labels)

    def mask(self, index: LabelIndex) -> int:
        return self.left.mask(index) & self.right.mask(index)


@dataclass(frozen=True)
class Or(Expr):
    left: Expr
    right: Expr

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.left.matches(labels) or self.right.matches(labels)

    def mask(self, index: LabelIndex) -> int:
        return self.left.mask(index) | self.right.mask(index)


@dataclass(frozen=True)
class CalicoSelector:
    """A parsed selector with its source text (for explanations)."""

    text: str
    expr: Expr

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.expr.matches(labels)

    def mask(self, index: LabelIndex) -> int:
        return self.expr.mask(index)

    def describe(self) -> str:
        return self.text


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if not match or match.end() == position:
            raise SelectorError(f"selector {text!r}: cannot read {stripped[position:].strip()[:20]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        out.append((kind, value[1:-1] if kind == "string" else value))
        position = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise SelectorError(
                f"selector {self.text!r}: expected {value!r}, found {token[1] or 'the end'!r}"
            )
        self.position += 1
        return token

    def parse(self) -> Expr:
        if not self.tokens:
            return All()
        expr = self.or_expr()
        if self.peek()[0] != "end":
            raise SelectorError(f"selector {self.text!r}: {self.peek()[1]!r} is not understood here")
        return expr

    def or_expr(self) -> Expr:
        expr = self.and_expr()
        while self.peek()[1] == "||":
            self.take()
            expr = Or(expr, self.and_expr())
        return expr

    def and_expr(self) -> Expr:
        expr = self.unary()
        while self.peek()[1] == "&&":
            self.take()
            expr = And(expr, self.unary())
        return expr

    def unary(self) -> Expr:
        kind, value = self.peek()
        if value == "!":
            self.take()
            return Not(self.unary())
        if value == "(":
            self.take()
            expr = self.or_expr()
            self.take(")")
            return expr
        if kind != "word":
            raise SelectorError(f"selector {self.text!r}: {value or 'the end'!r} is not understood here")
        if value in ("all", "has") and self.peek(1)[1] == "(":
            self.take()
            self.take("(")
            if value == "all":
                self.take(")")
                return All()
            name = self.take()[1]
            self.take(")")
            return Has(name)
        if self.peek(1)[1] == "(":
            raise SelectorError(
                f"selector {self.text!r}: function {value}() is not understood (use all() or has())"
            )
        key = self.take()[1]
        op = self.peek()[1]
        if op in ("==", "!="):
            self.take()
            string = self.take()
            if string[0] != "string":
                raise SelectorError(f"selector {self.text!r}: the value after {op} must be quoted")
            return InSet(key, frozenset({string[1]}), op == "!=")
        if op == "in" or (op == "not" and self.peek(1)[1] == "in"):
            negated = op == "not"
            self.take()
            if negated:
                self.take("in")
            return InSet(key, self._set(), negated)
        raise SelectorError(
            f"selector {self.text!r}: operator {op or 'nothing'!r} after {key!r} is not understood "
            "(use ==, !=, in, not in)"
        )

    def _set(self) -> frozenset[str]:
        self.take("{")
        values = []
        while self.peek()[1] != "}":
            kind, value = self.take()
            if kind != "string":
                raise SelectorError(f"selector {self.text!r}: set members must be quoted, not {value!r}")
            values.append(value)
            if self.peek()[1] == ",":
                self.take()
        self.take("}")
        return frozenset(values)


def parse_calico_selector(text: str) -> CalicoSelector:
    """Parse a Calico selector; an empty one means ``all()``."""
    return CalicoSelector(" ".join(text.split()), _Parser(str(text)).parse())
