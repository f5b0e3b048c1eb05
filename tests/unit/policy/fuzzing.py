"""Hypothesis strategies that corrupt input documents, and the bookkeeping of a fuzz run.

A document (a cluster state, a saved probe result) starts valid-ish; then a few mutations put wrong
types at any level, huge or negative numbers, odd unicode, deep nesting, YAML aliases or broken
bytes into it. The fuzz tests (``test_fuzz_state.py``, ``tests/unit/report/test_fuzz_saved_results.py``)
assert that every loader either succeeds or says what is wrong in one line with exit 2.

``HYPOTHESIS_PROFILE=fuzz`` runs the long fuzz (``scripts/fuzz_inputs.py`` runs it and prints the
figures); the default is short enough for ``make test``."""

from __future__ import annotations

import codecs
import copy
import json
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
EXAMPLES = {"default": {"state": 300, "result": 200}, "fuzz": {"state": 10_000, "result": 2_000}}
SECONDS_PER_EXAMPLE = 10.0


def fuzz_settings(kind: str) -> settings:
    """Settings of one fuzz test: its example count for the profile, no deadline (timed by hand)."""
    return settings(
        max_examples=EXAMPLES.get(PROFILE, EXAMPLES["default"])[kind],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


@dataclass
class Stats:
    """What a fuzz run saw, per kind of input (printed by scripts/fuzz_inputs.py)."""

    examples: int = 0
    refused: int = 0
    max_seconds: float = 0.0
    slowest: str = ""
    messages: dict[str, int] = field(default_factory=dict)


STATS: dict[str, Stats] = {"state": Stats(), "result": Stats()}


def timed(kind: str, label: str, action: Callable[[], bool]) -> None:
    """Run one example (``action`` says whether the input was refused) and record its time."""
    started = time.monotonic()
    was_refused = action()
    elapsed = time.monotonic() - started
    stats = STATS[kind]
    stats.examples += 1
    stats.refused += was_refused
    if elapsed > stats.max_seconds:
        stats.max_seconds, stats.slowest = elapsed, label[:200]
    assert elapsed < SECONDS_PER_EXAMPLE, f"{elapsed:.1f} s for one example: {label[:300]!r}"


def note_message(kind: str, message: str) -> None:
    """Count refusals by their shape (numbers and names blurred), to see what the fuzz reached."""
    shape = re.sub(r"'[^']*'|\d+", "#", message.split(": ", 1)[-1])[:90]
    STATS[kind].messages[shape] = STATS[kind].messages.get(shape, 0) + 1


# -- hostile values --------------------------------------------------------------------------------

HOSTILE_TEXT = [
    "",
    " ",
    "[/x]",
    "[link=http://evil]a[/link]",
    "\x1b[31mred",
    "\x1b]8;;http://evil\x1b\\x",
    "a\rb",
    "a\nb",
    "\x00",
    "²",
    "٣",
    "\u202eevil",
    "\ud800",
    ":smile:",
    "漢字",
    "9" * 30,
    "9" * 5000,
    "-1",
    "0",
    "65536",
    "80",
    "http",
    "TCP",
    "tcp",
    "Ingress",
    "Egress",
    "Allow",
    "Deny",
    "Pass",
    "Accept",
    "List",
    "Pod",
    "10.0.0.0/8",
    "::/0",
    "10.0.0.0/33",
    "fe80::1%eth0",
    "all()",
    "(" * 60 + "all()" + ")" * 60,
    "!" * 100 + "all()",
    " && ".join(["has(a)"] * 500),
    "app == 'x'",
    "2026-11-02T10:15:00+00:00",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
    "x" * 10_000,
]
ODD_ALPHABET = st.characters(codec="utf-8") | st.sampled_from(
    list("\x00\x07\x1b\r\n\t\x7f\x9b\u202e\u2028[]/=:&*!{}")
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 65535, 65536, 2**63, 10**30, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(HOSTILE_TEXT),
    st.text(ODD_ALPHABET, max_size=30),
)


def deep(depth: int, leaf: Any, kind: str) -> Any:
    out = leaf
    for _ in range(depth):
        out = [out] if kind == "list" else {"k": out}
    return out


@st.composite
def hostile_values(draw: Any) -> Any:
    choice = draw(st.integers(0, 9))
    if choice <= 5:
        return draw(scalars)
    if choice == 6:
        return draw(st.lists(scalars, max_size=4))
    if choice == 7:
        return draw(
            st.dictionaries(st.sampled_from(["a", "name", "port", "kind", "items", "1"]), scalars, max_size=3)
        )
    if choice == 8:
        return deep(
            draw(st.sampled_from([5, 60, 400, 990, 1500])),
            draw(scalars),
            draw(st.sampled_from(["list", "map"])),
        )
    return draw(
        st.lists(st.dictionaries(st.sampled_from(["a", "kind", "name"]), scalars, max_size=2), max_size=3)
    )


# -- mutating a document ---------------------------------------------------------------------------


def paths_of(document: Any, limit: int = 2000) -> list[tuple[Any, ...]]:
    """Every path to a value in ``document`` (iteratively; the root is ``()``)."""
    out: list[tuple[Any, ...]] = [()]
    stack: list[tuple[tuple[Any, ...], Any]] = [((), document)]
    while stack and len(out) < limit:
        path, value = stack.pop()
        children: list[tuple[Any, Any]] = []
        if isinstance(value, dict):
            children = list(value.items())
        elif isinstance(value, list):
            children = list(enumerate(value))
        for key, child in children:
            out.append((*path, key))
            stack.append(((*path, key), child))
    return out


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        document = document[key]
    return document


@st.composite
def mutated(draw: Any, base: Any, max_mutations: int = 4) -> Any:
    """``base`` (deep-copied) with up to ``max_mutations`` random corruptions."""
    document = copy.deepcopy(base)
    # Where to mutate: uniform over every value (hypothesis' own draws lean to the first few, the
    # root's keys), the root itself rarely (sampled_from leans to its first element).
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    for _ in range(draw(st.integers(0, max_mutations))):
        paths = paths_of(document)
        root = draw(st.sampled_from([False] * 40 + [True]))
        path = () if root else rng.choice(paths[1:] or [()])
        action = draw(
            st.sampled_from(["replace", "replace", "replace", "delete", "add", "wrap", "duplicate"])
        )
        if not path:
            if action in ("replace", "wrap"):
                document = draw(hostile_values())
            continue
        parent = _parent(document, path)
        key = path[-1]
        if action == "replace":
            parent[key] = draw(hostile_values())
        elif action == "delete":
            del parent[key]
        elif action == "add" and isinstance(parent[key], dict):
            parent[key][draw(st.sampled_from(["x", "ports", "from", "kind", "items", "except", "spec"]))] = (
                draw(hostile_values())
            )
        elif action == "add" and isinstance(parent[key], list):
            parent[key].append(draw(hostile_values()))
        elif action == "wrap":
            parent[key] = deep(draw(st.sampled_from([1, 3, 50, 999])), parent[key], "list")
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(parent[key])  # the same object twice: written twice (no deep copy of a deep one)
    return document


# -- text: JSON or YAML, and broken bytes ----------------------------------------------------------


def as_json(document: Any) -> str:
    try:
        return json.dumps(document)
    except (ValueError, RecursionError):  # a number beyond the int-string limit, or too deep
        return "{}"


class _PlainDumper(yaml.SafeDumper):
    """Writes a dict used twice twice, as kubectl would: aliases come only from ``broken_bytes``."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def as_yaml(document: Any) -> str:
    try:
        return yaml.dump(document, Dumper=_PlainDumper, allow_unicode=True)
    except (yaml.YAMLError, ValueError, RecursionError, UnicodeEncodeError):
        return as_json(document)  # JSON is YAML too


@st.composite
def broken_bytes(draw: Any, text: str, yaml_text: bool) -> bytes:
    """``text`` encoded, then maybe re-encoded, cut, spliced with odd bytes, or given aliases."""
    choice = draw(st.integers(0, 11))
    if choice == 0:
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le", "surrogatepass")
    if choice == 1:
        return codecs.BOM_UTF8 + text.encode("utf-8", "surrogatepass")
    if choice == 2:
        return text.encode("latin-1", "replace")
    if choice == 3:
        return text.encode("utf-16-le", "surrogatepass")  # no BOM
    data = text.encode("utf-8", "surrogatepass")
    if choice == 4 and data:
        return data[: draw(st.integers(0, len(data)))]
    if choice == 5:
        spot = draw(st.integers(0, len(data)))
        return data[:spot] + draw(st.binary(max_size=8)) + data[spot:]
    if choice == 6 and yaml_text:
        laughs = 'a: &a ["lol","lol"]\n' + "".join(
            f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
        )
        return (laughs + "kind: List\nitems: *i\n").encode()
    if choice == 7 and yaml_text:
        return data.replace(b"metadata:", b"metadata: &m", 1) + b"\n---\nkind: Pod\nmetadata: *m\n"
    if choice == 8:
        return draw(
            st.sampled_from([b"[" * 5000, b"{" * 999 + b"}" * 999, b"- " * 3000, b"\xff\xfe", b"", b"null"])
        )
    return data
