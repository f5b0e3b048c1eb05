"""Small records the lab keeps in its cluster: ConfigMaps in ``default`` labelled as the lab's own.

``up`` records the enforcement verdict (``netpol-lab-enforcement``), ``stage apply`` the stage it
applied (``netpol-lab-stage``): what a later run needs to know without repeating work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lab.boundary.apply import plan_apply_documents
from lab.boundary.runner import Result, Runner
from lab.pins import PART_OF_LABEL

NAMESPACE = "default"
KubectlArgv = Callable[..., Sequence[str]]


def record_document(name: str, data: Mapping[str, str]) -> dict[str, Any]:
    key, value = PART_OF_LABEL
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {key: value}},
        "data": dict(data),
    }


def write_record(
    runner: Runner, kubectl: KubectlArgv, name: str, data: Mapping[str, str], *, timeout: float
) -> Result:
    """Server-side apply of the record; the result of the apply (a failed one included)."""
    (step,) = plan_apply_documents(kubectl, [record_document(name, data)])
    return runner.run(step.argv, input=step.input, timeout=timeout)


def read_record(
    runner: Runner, kubectl: KubectlArgv, name: str, key: str, *, timeout: float = 30
) -> str | None:
    """One value of a record; None when there is no record, no such key, or no answer."""
    argv = kubectl(
        "get", "configmap", name, "-n", NAMESPACE, "--ignore-not-found", "-o", f"jsonpath={{.data.{key}}}"
    )
    result = runner.run(list(argv), timeout=timeout)
    if result.dry_run or not result.ok:
        return None
    return result.stdout.strip() or None
