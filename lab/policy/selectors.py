"""Kubernetes label selectors: parsing, matching one label set, and matching many at once.

A selector matches a single pod (``matches``, used by ``explain``) or, through a
``LabelIndex``, yields the set of every matching pod as a bitset (``mask``, used by the
engine: one big-integer operation per selector term instead of one test per pod).

Semantics follow apimachinery's ``LabelSelectorAsSelector``: every ``matchLabels`` entry
and every ``matchExpressions`` requirement must hold; an empty selector matches
everything; ``NotIn`` and ``DoesNotExist`` also match when the key is absent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lab.policy.words import kind_of, shown

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class SelectorError(ValueError):
    """A selector that the API server would refuse (the caller adds which object it is in)."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # one of OPERATORS
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        if self.operator == "In":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values  # NotIn: absent keys match too

    def describe(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        word = "in" if self.operator == "In" else "notin"
        return f"{self.key} {word} ({','.join(self.values)})"


@dataclass(frozen=True)
class LabelSelector:
    """``matchLabels`` and ``matchExpressions``, all of which must hold."""

    match_labels: tuple[tuple[str, str], ...] = ()
    expressions: tuple[Requirement, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.expressions

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            r.matches(labels) for r in self.expressions
        )

    def describe(self) -> str:
        """Selector syntax as kubectl prints it (``role=frontend,env in (a,b)``); ``{}`` when empty."""
        if self.is_empty:
            return "{}"
        terms = [f"{k}={v}" for k, v in self.match_labels] + [r.describe() for r in self.expressions]
        return ",".join(terms)

    def mask(self, index: LabelIndex) -> int:
        """The bitset of every indexed item this selector matches."""
        result = index.all
        for key, value in self.match_labels:
            result &= index.value_mask(key, value)
            if not result:
                return 0
        for req in self.expressions:
            if req.operator == "Exists":
                result &= index.key_mask(req.key)
            elif req.operator == "DoesNotExist":
                result &= ~index.key_mask(req.key)
            else:
                hit = 0
                for value in req.values:
                    hit |= index.value_mask(req.key, value)
                result &= hit if req.operator == "In" else ~hit
            if not result:
                return 0
        return result & index.all


def parse_selector(raw: Any, where: str) -> LabelSelector:
    """Parse a ``metav1.LabelSelector`` mapping; ``None`` or ``{}`` is the empty selector."""
    if raw is None:
        return LabelSelector()
    if not isinstance(raw, Mapping):
        raise SelectorError(
            f"{where} must be a mapping with matchLabels/matchExpressions, not {kind_of(raw)}"
        )
    unknown = {key if isinstance(key, str) else shown(key) for key in raw} - {
        "matchLabels",
        "matchExpressions",
    }
    if unknown:
        raise SelectorError(f"{where} has unknown field(s) {', '.join(sorted(unknown))}")
    labels = raw.get("matchLabels") or {}
    if not isinstance(labels, Mapping):
        raise SelectorError(f"{where}.matchLabels must be a mapping of label to value, not {kind_of(labels)}")
    pairs = tuple(
        sorted(
            (label_text(k, f"{where}.matchLabels key"), label_text(v, f"{where}.matchLabels value"))
            for k, v in labels.items()
        )
    )
    exprs = []
    expressions = raw.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise SelectorError(f"{where}.matchExpressions must be a list, not {kind_of(expressions)}")
    for number, item in enumerate(expressions):
        spot = f"{where}.matchExpressions[{number}]"
        if not isinstance(item, Mapping) or "key" not in item or "operator" not in item:
            raise SelectorError(f"{spot} needs a key and an operator")
        operator = item["operator"]
        if not isinstance(operator, str) or operator not in OPERATORS:
            raise SelectorError(f"{spot}: unknown operator {shown(operator)} (use {', '.join(OPERATORS)})")
        raw_values = item.get("values") or []
        if not isinstance(raw_values, list):
            raise SelectorError(f"{spot}.values must be a list, not {kind_of(raw_values)}")
        values = tuple(label_text(v, f"{spot}.values") for v in raw_values)
        if operator in ("In", "NotIn") and not values:
            raise SelectorError(f"{spot}: operator {operator} needs at least one value")
        if operator in ("Exists", "DoesNotExist") and values:
            raise SelectorError(f"{spot}: operator {operator} takes no values")
        exprs.append(Requirement(label_text(item["key"], f"{spot}.key"), operator, values))
    return LabelSelector(pairs, tuple(exprs))


def label_text(value: Any, where: str) -> str:
    """A label key or value as the text written: YAML turns ``enabled: true`` or ``slot: 1`` into a
    boolean or a number, the API server stores only strings (kubectl would have sent the text), so
    compare as the string the user wrote. Anything else (null, a list, a mapping) is refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() <= 64:
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    raise SelectorError(f"{where}: a label must be a string, not {kind_of(value)}")


def describe_labels(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "(no labels)"


class LabelIndex:
    """Inverted index from labels to bitsets of items (bit i = item i)."""

    def __init__(self, label_sets: Sequence[Mapping[str, str]]) -> None:
        self.size = len(label_sets)
        self.all = (1 << self.size) - 1
        self._values: dict[tuple[str, str], int] = {}
        self._keys: dict[str, int] = {}
        for position, labels in enumerate(label_sets):
            bit = 1 << position
            for key, value in labels.items():
                self._values[(key, value)] = self._values.get((key, value), 0) | bit
                self._keys[key] = self._keys.get(key, 0) | bit

    def value_mask(self, key: str, value: str) -> int:
        return self._values.get((key, value), 0)

    def key_mask(self, key: str) -> int:
        return self._keys.get(key, 0)


def bits(mask: int) -> list[int]:
    """Positions of the set bits of ``mask``, lowest first."""
    text = bin(mask)[:1:-1]  # reversed binary digits, without the 0b prefix
    out = []
    position = text.find("1")
    while position != -1:
        out.append(position)
        position = text.find("1", position + 1)
    return out


def mask_of(positions: Iterable[int]) -> int:
    result = 0
    for position in positions:
        result |= 1 << position
    return result
