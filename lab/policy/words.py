"""Values from input in the words of a message: printable, short, and what kind of value they are.

The evaluator's lowest module: the model, the selectors and the loaders all speak through it, so
a name or value from a file reaches a terminal only escaped and cut short.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Mapping
from typing import Any

# What must never reach a terminal from input: C0 controls (newline and tab included: a message is
# one line), DEL and C1 controls, the Unicode line and paragraph separators, the bidirectional
# overrides and isolates that reorder what is shown, and lone surrogates (which no UTF-8 stream
# can even write).
_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def printable(text: str) -> str:
    """``text`` with every control character written as an escape (ESC as ``\\x1b``): safe to print."""
    return _UNPRINTABLE.sub(_escape, text)


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


class _Shown(reprlib.Repr):
    """``repr`` cut short: deep, long or huge values from input become a short, safe text."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 2
        self.maxstring = 80
        self.maxother = 40
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdict = 4

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 64:  # beyond int64, and str() of a huge one fails: say how big instead
            return f"<a {len(str(x)) if x.bit_length() < 10_000 else 'huge'}-digit number>"
        return repr(x)


_SHOWN = _Shown()


def shown(value: Any) -> str:
    """A value from input as it appears in a message: its ``repr``, short, one line, printable."""
    try:
        return printable(_SHOWN.repr(value))
    except Exception:  # a value whose repr fails (it cannot come from JSON or YAML, but never crash)
        return f"<{type(value).__name__}>"


def kind_of(value: Any) -> str:
    """What a value from input is, in the words of a message: ``a list``, ``a number``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{'true' if value else 'false'} (a boolean)"
    if isinstance(value, (int, float)):
        return f"a number ({shown(value)})"
    if isinstance(value, str):
        return f"a string ({shown(value)})"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"
