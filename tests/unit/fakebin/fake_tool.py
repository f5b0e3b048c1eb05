"""A stand-in for kind, kubectl and docker: answers from a JSON script, logs every call.

Installed by ``tests.unit.fakebin.install(bin_dir, script)`` as executables on PATH, so
the lab's real ShRunner starts real processes. FAKE_TOOL_SCRIPT names the JSON file:
``{"<command line prefix>": {"stdout": "...", "stderr": "...", "exit": 0}}``; the longest
prefix of ``"<tool> <args...>"`` wins; unscripted commands exit 0 silently. An answer with
``"then": {...}`` gives that answer from the second call of the same prefix on (a pod that
answers until a policy lands). Each call is appended to FAKE_TOOL_LOG as one JSON line.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    tool, args = sys.argv[1], sys.argv[2:]
    line = " ".join([tool, *args])
    with open(os.environ["FAKE_TOOL_LOG"], "a") as log:
        log.write(json.dumps([tool, *args]) + "\n")
    with open(os.environ["FAKE_TOOL_SCRIPT"]) as stream:
        script = json.load(stream)
    matches = [p for p in script if line == p or line.startswith(p + " ")]
    if not matches:
        return 0
    prefix = max(matches, key=len)
    answer = script[prefix]
    if "then" in answer:
        with open(os.environ["FAKE_TOOL_LOG"]) as log:
            earlier = [" ".join(json.loads(entry)) for entry in log.read().splitlines()[:-1]]
        if any(e == prefix or e.startswith(prefix + " ") for e in earlier):
            answer = answer["then"]
    sys.stdout.write(answer.get("stdout", ""))
    sys.stderr.write(answer.get("stderr", ""))
    return int(answer.get("exit", 0))


if __name__ == "__main__":
    sys.exit(main())
