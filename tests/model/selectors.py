"""Label and field selectors as the API server parses them from ``?labelSelector=`` and ``?fieldSelector=``.

The grammar follows apimachinery's labels.Parse: comma-separated requirements, each one of
``key``, ``!key``, ``key=v``, ``key==v``, ``key!=v``, ``key in (a,b)``, ``key notin (a,b)``,
``key>N``, ``key<N``. ``notin`` and ``!=`` also match objects without the key, as upstream.
A selector that does not parse is a ``SelectorSyntaxError`` (HTTP 400 at the server).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class SelectorSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # exists, !, =, !=, in, notin, gt, lt
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        if not present or value is None:
            return False
        try:
            number, bound = int(value), int(self.values[0])
        except ValueError:
            return False
        return number > bound if self.operator == "gt" else number < bound


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char.isspace():
            position += 1
            continue
        for symbol in ("==", "!=", "=", "!", "(", ")", ",", ">", "<"):
            if text.startswith(symbol, position):
                out.append(symbol)
                position += len(symbol)
                break
        else:
            match = re.match(r"[^\s=!(),<>]+", text[position:])
            assert match is not None
            out.append(match.group(0))
            position += len(match.group(0))
    return out


def _check_key(key: str) -> str:
    if not _KEY.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise SelectorSyntaxError(f"unable to parse requirement: invalid label key {key!r}")
    return key


def _check_value(value: str) -> str:
    if not _VALUE.match(value) or len(value) > 63:
        raise SelectorSyntaxError(f"unable to parse requirement: invalid label value: {value!r}")
    return value


def parse_label_selector(text: str) -> list[Requirement]:
    """Requirements of a label selector string (empty: everything)."""
    tokens = _tokens(text)
    requirements: list[Requirement] = []
    position = 0

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise SelectorSyntaxError(f"unable to parse requirement: unexpected end of {text!r}")
        token = tokens[position]
        position += 1
        return token

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    while position < len(tokens):
        token = take()
        if token == "!":
            requirements.append(Requirement(_check_key(take()), "!"))
        else:
            key = _check_key(token)
            following = peek()
            if following in (None, ","):
                requirements.append(Requirement(key, "exists"))
            elif following in ("=", "==", "!="):
                take()
                value = take() if peek() not in (None, ",") else ""
                requirements.append(
                    Requirement(key, "!=" if following == "!=" else "=", (_check_value(value),))
                )
            elif following in ("in", "notin"):
                take()
                if take() != "(":
                    raise SelectorSyntaxError(f"unable to parse requirement: expected '(' after {following}")
                values: list[str] = []
                while True:
                    item = take()
                    if item == ")":
                        break
                    if item == ",":
                        continue
                    values.append(_check_value(item))
                if not values:
                    raise SelectorSyntaxError("for 'in', 'notin' operators, values set can't be empty")
                requirements.append(Requirement(key, following, tuple(values)))
            elif following in (">", "<"):
                take()
                bound = take()
                if not bound.isdigit():
                    raise SelectorSyntaxError(f"unable to parse requirement: {bound!r} is not an integer")
                requirements.append(Requirement(key, "gt" if following == ">" else "lt", (bound,)))
            else:
                raise SelectorSyntaxError(f"unable to parse requirement: found {following!r}")
        following = peek()
        if following is not None:
            if following != ",":
                raise SelectorSyntaxError(f"unable to parse requirement: found {following!r}, expected ','")
            take()
    return requirements


def label_matcher(text: str | None) -> Callable[[Mapping[str, str]], bool]:
    requirements = parse_label_selector(text or "")
    return lambda labels: all(r.matches(labels) for r in requirements)


def match_label_selector_object(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels, matchExpressions) against labels (as controllers use it)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


FIELD_PATHS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "metadata.name": lambda o: str((o.get("metadata") or {}).get("name", "")),
    "metadata.namespace": lambda o: str((o.get("metadata") or {}).get("namespace", "")),
    "spec.nodeName": lambda o: str((o.get("spec") or {}).get("nodeName", "")),
    "status.phase": lambda o: str((o.get("status") or {}).get("phase", "")),
    "involvedObject.name": lambda o: str((o.get("involvedObject") or {}).get("name", "")),
    "involvedObject.kind": lambda o: str((o.get("involvedObject") or {}).get("kind", "")),
    "involvedObject.namespace": lambda o: str((o.get("involvedObject") or {}).get("namespace", "")),
    "type": lambda o: str(o.get("type", "")),
}


def field_matcher(text: str | None) -> Callable[[Mapping[str, Any]], bool]:
    """A field selector; only the paths in ``FIELD_PATHS`` are known (others: 400, as upstream)."""
    checks: list[Callable[[Mapping[str, Any]], bool]] = []
    for part in [p.strip() for p in (text or "").split(",") if p.strip()]:
        match = re.match(r"^([A-Za-z.]+)\s*(==|!=|=)\s*(.*)$", part)
        if not match:
            raise SelectorSyntaxError(f"invalid selector: {part!r}; can't understand it")
        path, operator, value = match.groups()
        if path not in FIELD_PATHS:
            raise SelectorSyntaxError(f'field label not supported: "{path}"')
        checks.append(_field_check(FIELD_PATHS[path], value, equal=operator != "!="))
    return lambda obj: all(check(obj) for check in checks)


def _field_check(
    read: Callable[[Mapping[str, Any]], str], value: str, *, equal: bool
) -> Callable[[Mapping[str, Any]], bool]:
    if equal:
        return lambda o: read(o) == value
    return lambda o: read(o) != value
