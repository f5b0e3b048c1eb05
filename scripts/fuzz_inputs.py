#!/usr/bin/env python3
"""Run the long fuzz of the input loaders and print its figures.

Generates at least 10,000 state files (for `expect --state`, `explain`) and 2,000 saved probe
results (for `report`), hostile or broken in every way the strategies in tests/unit/policy/fuzzing.py
know, and checks that each either loads or is refused in one line with exit 2, within 10 s. Prints
the examples run, how many were refused, the slowest example, the peak memory and the kinds of
refusal seen. Exits 1 on the first failure (hypothesis shrinks it and prints the smallest input).

    .venv/bin/python scripts/fuzz_inputs.py                # the full run (HYPOTHESIS_PROFILE=fuzz)
    .venv/bin/python scripts/fuzz_inputs.py --profile default   # the short one `make test` runs
    .venv/bin/python scripts/fuzz_inputs.py --only state
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", default="fuzz", help="fuzz (default: 10,000 + 2,000) or default")
    parser.add_argument("--only", choices=("state", "result"), help="run only one of the two fuzzers")
    parser.add_argument("--kinds", type=int, default=12, help="how many kinds of refusal to list")
    args = parser.parse_args()
    os.environ["HYPOTHESIS_PROFILE"] = args.profile  # read when the fuzz modules are imported

    from tests.unit.policy import fuzzing, test_fuzz_state
    from tests.unit.report import test_fuzz_saved_results

    tests = {
        "state": test_fuzz_state.test_any_state_file_loads_or_is_one_usage_line,
        "result": test_fuzz_saved_results.test_any_saved_result_loads_or_is_one_usage_line,
    }
    failed = False
    for kind, test in tests.items():
        if args.only and kind != args.only:
            continue
        started = time.monotonic()
        try:
            test()
        except Exception:
            traceback.print_exc()
            failed = True
        stats = fuzzing.STATS[kind]
        print(
            f"{kind}: {stats.examples:,} examples in {time.monotonic() - started:.0f} s, "
            f"{stats.refused:,} refused with one line, {stats.examples - stats.refused:,} loaded; "
            f"slowest {stats.max_seconds:.2f} s ({stats.slowest[:60]!r})"
        )
        for shape, count in sorted(stats.messages.items(), key=lambda item: -item[1])[: args.kinds]:
            print(f"  {count:6,}  {shape}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"peak memory (max RSS): {peak / 1024:.0f} MiB")
    print("FAILED" if failed else "no failures")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
