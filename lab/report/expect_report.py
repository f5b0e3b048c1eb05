"""`expect` at cluster scale: the expected matrix per group of pods, as JSON Lines or as text.

Both are written line by line while the flows are judged (never one document in memory) and
need no explanation unless one is asked for. ``lab.policy.groups`` says what a group is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from lab.policy.explain import Explainer
from lab.policy.groups import FlowGroup, Group, GroupedCluster, explained, flow_groups
from lab.policy.model import printable

# -- expect --output json: the expected matrix, streamed ------------------------------------

EXPECT_FORMAT = "netpol-lab/expect"
EXPECT_VERSION = 2


def _line(document: dict[str, Any]) -> str:
    # No indent: json's C encoder writes it; ensure_ascii keeps names from input plain ASCII.
    return json.dumps(document, separators=(",", ":")) + "\n"


def _destination(flow: FlowGroup) -> dict[str, Any]:
    if isinstance(flow.to, Group):
        return {"to": flow.to.id}
    return {"to": flow.to.ip, "label": flow.to.label} if flow.to.label else {"to": flow.to.ip}


def expect_lines(grouped: GroupedCluster, *, explainer: Explainer | None = None) -> Iterator[str]:
    """``expect --output json``: JSON Lines, one object a line, each with its ``kind``::

        {"kind": "header", "format": "netpol-lab/expect", "version": 2, "source": "cluster.yaml",
         "pods": 2000, "groups": 517, "explained": false}
        {"kind": "group", "id": "g1", "namespace": "web", "labels": {"app": "api"},
         "ports": [{"port": 8080, "protocol": "TCP", "name": "http"}], "pods": ["web/api-1", ...]}
        {"kind": "sources", "id": "s1", "groups": ["g1", "g7"]}
        {"kind": "flow", "to": "g1", "port": 8080, "protocol": "TCP", "from": "s1"}
        {"kind": "flow", "to": "1.1.1.1", "label": "outside", "port": 443, "protocol": "TCP", "from": "s2"}
        (an outside target: its address, and its label when it has one)
        {"kind": "end", "flows": 1234, "sources": 56}

    A group's ``labels`` are those some selector looks at: its pods agree on them (and on their
    namespace, ports and address ranges), so every verdict holds for all of its pods. A ``flow``
    line covers every pod of the destination group on that port (or the outside address): the
    groups of its ``sources`` set may open it, every other group may not. A group in its own
    sources means its pods reach each other; a pod may always reach itself. Each sources set is
    written once, before the first flow that names it. With ``--explain`` a flow also has
    ``why``: for every group, the reason for its first pod (checked against the verdict). The
    last line is ``end``: a stream without it was cut short."""
    yield _line(
        {
            "kind": "header",
            "format": EXPECT_FORMAT,
            "version": EXPECT_VERSION,
            "source": grouped.state.source,
            "pods": sum(len(g.pods) for g in grouped.groups),
            "groups": len(grouped.groups),
            "explained": explainer is not None,
        }
    )
    for group in grouped.groups:
        yield _line(
            {
                "kind": "group",
                "id": group.id,
                "namespace": group.namespace,
                "labels": group.labels,
                "ports": [{"port": p.port, "protocol": p.protocol, "name": p.name} for p in group.ports],
                "pods": [p.key for p in group.pods],
            }
        )
    sets: dict[int, str] = {}
    flows = 0
    for flow in flow_groups(grouped):
        name = sets.get(flow.sources)
        if name is None:
            name = sets[flow.sources] = f"s{len(sets) + 1}"
            members = [g.id for g in grouped.members(flow.sources)]
            yield _line({"kind": "sources", "id": name, "groups": members})
        line = {
            "kind": "flow",
            **_destination(flow),
            "port": flow.port,
            "protocol": flow.protocol,
            "from": name,
        }
        if explainer is not None:
            line["why"] = {g.id: explained(grouped, explainer, flow, g) for g in grouped.groups}
        yield _line(line)
        flows += 1
    yield _line({"kind": "end", "flows": flows, "sources": len(sets)})


# -- the text report -------------------------------------------------------------------------

SHOWN_PODS = 3  # pod names listed per group; the JSON lists them all


def _count(number: int, word: str) -> str:
    return f"{number:,} {word}{'' if number == 1 else 's'}"


def _ports_text(group: Group) -> str:
    ports = [f"{p.port}/{p.protocol}" + (f" {p.name}" if p.name else "") for p in group.ports]
    return ", ".join(ports) or "no ports"


def _sources_text(grouped: GroupedCluster, mask: int) -> str:
    if not mask:
        return "nobody"
    if mask == grouped.all:
        return "every group"
    missing = grouped.all & ~mask
    if missing.bit_count() < mask.bit_count():
        return "every group but " + " ".join(g.id for g in grouped.members(missing))
    return " ".join(g.id for g in grouped.members(mask))


def report_lines(grouped: GroupedCluster) -> Iterator[str]:
    """``expect`` beyond a table's size: the groups, then who may connect to each destination."""
    groups = grouped.groups
    pods = sum(len(g.pods) for g in groups)
    yield printable(f"expected: {grouped.state.source}")
    yield (
        f"{_count(pods, 'pod')} in {_count(len(groups), 'group')}: the pods of a group share their "
        "namespace, the labels the policies look at, their ports and address ranges, so every verdict "
        "holds for all of them"
    )
    yield ""
    yield "groups (pods, namespace, the labels policies look at, ports, pods):"
    for group in groups:
        labels = ",".join(f"{k}={v}" for k, v in sorted(group.labels.items())) or "-"
        names = ", ".join(p.key for p in group.pods[:SHOWN_PODS])
        more = f", ... ({len(group.pods) - SHOWN_PODS} more)" if len(group.pods) > SHOWN_PODS else ""
        yield printable(
            f"  {group.id}  {_count(len(group.pods), 'pod')}  {group.namespace}  "
            f"{labels}  {_ports_text(group)}  {names}{more}"
        )
    yield ""
    yield "who may connect (destination <- the groups whose pods may; a pod may always reach itself):"
    counts = {"nobody": 0, "every group": 0}
    flows = 0
    for flow in flow_groups(grouped):
        if isinstance(flow.to, Group):
            where = f"{flow.to.id}:{flow.port}/{flow.protocol}"
        else:
            where = f"{flow.to.ip}:{flow.port}/{flow.protocol}"
            where = f"{flow.to.label} {where}" if flow.to.label else where
        said = _sources_text(grouped, flow.sources)
        if said in counts:
            counts[said] += 1
        flows += 1
        yield printable(f"  {where} <- {said}")
    yield ""
    yield (
        f"{_count(flows, 'destination')}: {counts['every group']:,} open to every group, "
        f"{counts['nobody']:,} to nobody. `netpol-lab explain FROM TO PORT` says why for one flow; "
        "`--output json` for scripts"
    )
