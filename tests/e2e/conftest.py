"""Live tests against the lab's kind cluster: options, the lab fixture, probe runs, failure details.

Options: ``--kubeconfig FILE`` (default $KUBECONFIG or ~/.kube/config), ``--kube-context NAME``
(default kind-netpol-lab) and ``--lab-required`` (an absent lab fails instead of skipping,
for CI). Collecting the tests never touches the cluster: the flows come from the seed
stage's expectation table. The seed policies are applied and probed once per test run;
a failing test carries the probe output, the kubectl commands run and the lab's recent
events. The tests leave the lab at the seed stage, recorded as such (as `netpol-lab stage
apply seed` would), so `stage next` and `stage apply` carry on from there.
"""

from __future__ import annotations

import io
import os
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from lab import scenario
from lab.boundary.apply import apply_argv
from lab.boundary.kube import (
    DEFAULT_CONTEXT,
    KubeClients,
    check_reachable,
    kubeconfig_path,
    list_lab_pods,
    recent_events,
)
from lab.boundary.kubectl import Kubectl
from lab.boundary.runner import Result, Runner, ShRunner
from lab.env import project_root
from lab.errors import LabError
from lab.matrix import Matrix
from lab.probe.controls import CONTROL_NAMESPACE
from lab.probe.prove import ProbeOptions, ProbeRun, prove
from lab.workshop import stage_apply
from lab.workshop.stages import SEED_STAGE, cumulative_documents, load_stages

UP_HINT = "start one with `make lab-up`"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("netpol-lab", "netpol-lab live tests")
    group.addoption(
        "--kubeconfig",
        default=None,
        metavar="FILE",
        help="kubeconfig (default: $KUBECONFIG or ~/.kube/config)",
    )
    group.addoption(
        "--kube-context",
        default=DEFAULT_CONTEXT,
        metavar="NAME",
        help=f"kubeconfig context of the lab (default {DEFAULT_CONTEXT})",
    )
    group.addoption(
        "--lab-required", action="store_true", help="fail, instead of skipping, when no lab is reachable (CI)"
    )


def _settings(config: pytest.Config) -> tuple[str | None, str, bool]:
    return (
        config.getoption("--kubeconfig"),
        config.getoption("--kube-context"),
        bool(config.getoption("--lab-required")),
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    explicit, context, required = _settings(config)
    when_absent = "fails (--lab-required)" if required else f"skips ({UP_HINT})"
    return [
        f"netpol-lab: context {context}, kubeconfig {kubeconfig_path(explicit, os.environ)}; "
        f"an absent lab {when_absent}"
    ]


@dataclass
class LiveLab:
    """The lab under test: API clients, kubectl through the runner, and what to show on failure."""

    clients: KubeClients
    context: str
    kubeconfig: str | None
    log: io.StringIO = field(default_factory=io.StringIO)
    outputs: dict[str, str] = field(default_factory=dict)
    fixed_runner: Runner | None = None  # tests of this suite substitute one
    touched: bool = False  # whether the policies were changed (then the seed is restored at the end)

    @property
    def runner(self) -> Runner:
        return self.fixed_runner or ShRunner(self.log, env=dict(os.environ), cwd=project_root())

    def kubectl_argv(self, *args: str) -> list[str]:
        return Kubectl(self.context, self.kubeconfig)(*args)

    def kubectl(self, *args: str, input: str | None = None) -> Result:
        result = self.runner.run(self.kubectl_argv(*args), input=input, timeout=120)
        if result.stdout or result.stderr:
            self.log.write(result.stdout + result.stderr)
        return result

    def go_to_stage(self, number: int) -> None:
        """Exactly the policies of stages 0..number, the stage recorded: `netpol-lab stage apply`'s
        own plan (server-side apply, delete later stages' policies by label, the stage ConfigMap)."""
        self.touched = True
        plan = stage_apply.plan_apply(load_stages(project_root()), number, self.kubectl_argv)
        try:
            stage_apply.execute(self.runner, plan)
        except LabError as error:
            pytest.fail(f"could not bring the lab to stage {number}: {error.message}", pytrace=False)

    def remove_stage_policies(self) -> None:
        """Back to stage 0: every policy a stage applied is deleted, Calico's included."""
        self.go_to_stage(0)

    def apply_one_by_one(self, documents: Sequence[dict[str, Any]]) -> None:
        """Apply each policy on its own, in the given order (as `stage apply` does, server-side)."""
        self.touched = True
        for document in documents:
            argv = apply_argv(self.kubectl_argv, ["-"])
            result = self.runner.run(argv, input=yaml.safe_dump(document, sort_keys=False), timeout=60)
            if not result.ok:
                name = document.get("metadata", {}).get("name")
                pytest.fail(
                    f"could not apply {document.get('kind')} {name}: {result.error_line()}", pytrace=False
                )

    def restore_seed(self) -> None:
        """Leave the lab as `netpol-lab stage apply seed` would: seed policies, stage recorded."""
        if self.touched:
            self.go_to_stage(SEED_STAGE)

    def probe(self, name: str, expected: Matrix) -> ProbeRun:
        options = ProbeOptions(kubectl=Kubectl(self.context, self.kubeconfig).prefix)
        run = prove(self.clients, expected=expected, options=options, title=name)
        self.outputs[name] = render(run, expected)
        return run

    def attachments(self) -> list[tuple[str, str]]:
        sections = [(f"probe output: {name}", text) for name, text in self.outputs.items()]
        sections.append(("kubectl commands", self.log.getvalue() or "(none)"))
        try:
            events = recent_events(self.clients, [*scenario.LAB_NAMESPACES, CONTROL_NAMESPACE])
        except LabError as error:
            events = [error.message]
        sections.append(("recent events", "\n".join(events) or "(none)"))
        return sections


def render(run: ProbeRun, expected: Matrix) -> str:
    """The probe's table, wrong cells with their reproduce lines, and the summary, as plain text."""
    from rich.console import Console

    from lab.report.table import render_differences, render_matrix, summary_line

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, no_color=True, width=200, highlight=False)
    render_matrix(console, run.observed, expected=expected, title=run.observed.title)
    comparison = expected.compare(run.observed)
    render_differences(console, comparison)
    console.print(
        f"{summary_line(comparison)}; {len(run.probes)} probes in {run.seconds:.1f} s", markup=False
    )
    return buffer.getvalue()


LAB_KEY = pytest.StashKey[LiveLab]()


@pytest.fixture(scope="session")
def lab(pytestconfig: pytest.Config) -> Iterator[LiveLab]:
    """The reachable lab, or a skip (a failure with --lab-required) that says how to get one."""
    explicit, context, required = _settings(pytestconfig)
    clients = KubeClients(kubeconfig_path(explicit, os.environ), context)
    try:
        check_reachable(clients)
        list_lab_pods(clients, scenario.ROWS)
    except LabError as error:
        clients.close()
        message = f"no reachable lab in context {context}: {error.message}"
        if "make lab-up" not in message:
            message += f"; {UP_HINT}"
        if required:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    live = LiveLab(clients, context, explicit)
    pytestconfig.stash[LAB_KEY] = live
    try:
        yield live
    finally:
        try:
            live.restore_seed()  # also after a failure half way through the reverse-order run
        finally:
            clients.close()


def seed_documents() -> list[dict[str, Any]]:
    return cumulative_documents(load_stages(project_root()), SEED_STAGE)


@pytest.fixture(scope="session")
def seed_run(lab: LiveLab) -> ProbeRun:
    """The seed policies applied in their usual order, then every flow probed (once per test run)."""
    from tests.e2e.flows import seed_expectation

    lab.remove_stage_policies()
    lab.apply_one_by_one(seed_documents())
    return lab.probe("seed policies applied in order", seed_expectation())


@pytest.fixture(scope="session")
def reverse_run(lab: LiveLab, seed_run: ProbeRun) -> ProbeRun:
    """The same policies removed and applied again in reverse order, then probed again."""
    from tests.e2e.flows import seed_expectation

    lab.remove_stage_policies()
    lab.apply_one_by_one(list(reversed(seed_documents())))
    return lab.probe("seed policies applied in reverse order", seed_expectation())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the probe output, kubectl commands and recent events to a failed test."""
    report = yield
    if report.when == "call" and report.failed:
        live = item.config.stash.get(LAB_KEY, None)
        if live is not None:
            for title, text in live.attachments():
                report.sections.append((title, text))
    return report
