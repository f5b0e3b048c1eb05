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


# Parentheses and ! nest at most this deep: real selectors nest a few levels, and the parser, the
# matching and the hashing of an expression all recurse once per level.
MAX_DEPTH = 50


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
    """``a && b && ...``: every term (kept flat, so a long chain is no deep tree)."""

    terms: tuple[Expr, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(term.matches(labels) for term in self.terms)

    def mask(self, index: LabelIndex) -> int:
        result = index.all
        for term in self.terms:
            result &= term.mask(index)
        return result


@dataclass(frozen=True)
class Or(Expr):
    """``a || b || ...``: any term."""

    terms: tuple[Expr, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return any(term.matches(labels) for term in self.terms)

    def mask(self, index: LabelIndex) -> int:
        result = 0
        for term in self.terms:
            result |= term.mask(index)
        return result


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


def _quoted(text: str) -> str:
    """A selector in a message: quoted, and cut short when long."""
    return repr(text) if len(text) <= 60 else repr(text[:57]) + "..."


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if not match or match.end() == position:
            raise SelectorError(f"selector {_quoted(text)}: cannot read {stripped[position:].strip()[:20]!r}")
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
        self.depth = 0  # parentheses and ! open at this point

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise SelectorError(
                f"selector {_quoted(self.text)}: expected {_quoted(value)}, "
                f"found {_quoted(token[1] or 'the end')}"
            )
        self.position += 1
        return token

    def parse(self) -> Expr:
        if not self.tokens:
            return All()
        expr = self.or_expr()
        if self.peek()[0] != "end":
            raise SelectorError(
                f"selector {_quoted(self.text)}: {_quoted(self.peek()[1])} is not understood here"
            )
        return expr

    def or_expr(self) -> Expr:
        terms = [self.and_expr()]
        while self.peek()[1] == "||":
            self.take()
            terms.append(self.and_expr())
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def and_expr(self) -> Expr:
        terms = [self.unary()]
        while self.peek()[1] == "&&":
            self.take()
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def unary(self) -> Expr:
        kind, value = self.peek()
        if value in ("!", "("):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise SelectorError(
                    f"selector {_quoted(self.text)}: nested more than {MAX_DEPTH} levels deep "
                    "(parentheses and !)"
                )
            try:
                self.take()
                if value == "!":
                    return Not(self.unary())
                expr = self.or_expr()
                self.take(")")
                return expr
            finally:
                self.depth -= 1
        if kind != "word":
            raise SelectorError(
                f"selector {_quoted(self.text)}: {_quoted(value or 'the end')} is not understood here"
            )
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
                f"selector {_quoted(self.text)}: function {value}() is not understood (use all() or has())"
            )
        key = self.take()[1]
        op = self.peek()[1]
        if op in ("==", "!="):
            self.take()
            string = self.take()
            if string[0] != "string":
                raise SelectorError(f"selector {_quoted(self.text)}: the value after {op} must be quoted")
            return InSet(key, frozenset({string[1]}), op == "!=")
        if op == "in" or (op == "not" and self.peek(1)[1] == "in"):
            negated = op == "not"
            self.take()
            if negated:
                self.take("in")
            return InSet(key, self._set(), negated)
        raise SelectorError(
            f"selector {_quoted(self.text)}: operator {_quoted(op or 'nothing')} after {_quoted(key)} "
            "is not understood "
            "(use ==, !=, in, not in)"
        )

    def _set(self) -> frozenset[str]:
        self.take("{")
        values = []
        while self.peek()[1] != "}":
            kind, value = self.take()
            if kind != "string":
                raise SelectorError(
                    f"selector {_quoted(self.text)}: set members must be quoted, not {_quoted(value)}"
                )
            values.append(value)
            if self.peek()[1] == ",":
                self.take()
        self.take("}")
        return frozenset(values)


def parse_calico_selector(text: str) -> CalicoSelector:
    """Parse a Calico selector; an empty one means ``all()``."""
    return CalicoSelector(" ".join(text.split()), _Parser(str(text)).parse())
