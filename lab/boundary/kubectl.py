"""The one way to write a kubectl command line: ``kubectl --context C [--kubeconfig K] ARGS``.

Every command the lab runs against a cluster, and every line it prints for a participant to type
(a probe's reproduce line, say), starts the same way, so the flags never appear in two orders and
no command silently falls back to whatever context is current.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lab import pins

# What a function that builds kubectl command lines looks like (a Kubectl, or a test's stand-in).
KubectlArgv = Callable[..., Sequence[str]]


@dataclass(frozen=True)
class Kubectl:
    """kubectl aimed at one context (and kubeconfig, when not the default one)."""

    context: str = pins.KUBE_CONTEXT
    kubeconfig: str | None = None

    @property
    def prefix(self) -> tuple[str, ...]:
        return (
            "kubectl",
            "--context",
            self.context,
            *(("--kubeconfig", self.kubeconfig) if self.kubeconfig else ()),
        )

    def __call__(self, *args: str) -> list[str]:
        return [*self.prefix, *args]
