"""Hostile or broken state files: each is one error line naming the file and the object, exit 2.

Never "internal error", never a hang, never a memory blow-up (issue 10, items 11 and 12). Every case
goes through the real command line (`netpol-lab expect --state FILE`)."""

from __future__ import annotations

import copy
import json
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.cli import run
from lab.errors import ExitStatus
from lab.policy import state as state_module
from lab.policy.calico_selectors import parse_calico_selector
from lab.policy.model import InputError
from lab.policy.selectors import LabelIndex
from lab.policy.state import load_state_file
from tests.fakes import captured_env, errors, output

Item = dict[str, Any]


def pod(name: str = "web/a", ip: str = "10.0.0.1", **spec: Any) -> Item:
    namespace, _, short = name.partition("/")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": short, "namespace": namespace, "labels": {"app": short}},
        "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "name": "http"}]}], **spec},
        "status": {"podIP": ip},
    }


def netpol(spec: Item, name: str = "p") -> Item:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "web"},
        "spec": spec,
    }


def calico(spec: Item, name: str = "g", kind: str = "GlobalNetworkPolicy") -> Item:
    return {"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": {"name": name}, "spec": spec}


def cnp(spec: Item) -> Item:
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "c"},
        "spec": spec,
    }


def listing(*items: Any) -> Item:
    return {"apiVersion": "v1", "kind": "List", "items": list(items)}


def with_spec(item: Item, **changes: Any) -> Item:
    out = copy.deepcopy(item)
    out["spec"].update(changes)
    return out


def expect_refused(path: Path, *needles: str) -> str:
    """`expect --state path` fails with exit 2 and one line naming the file and every needle."""
    env = captured_env()
    status = run(["expect", "--state", str(path)], env)
    lines = errors(env).strip().splitlines()
    assert status == ExitStatus.USAGE, (status, errors(env))
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {path}: "), lines[0]
    assert "internal error" not in lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# (name, items of a List, words the one line must hold: the object and what is wrong)
SHAPES: list[tuple[str, list[Any], tuple[str, ...]]] = [
    ("kind-null", [{"kind": None, "metadata": {"name": "x"}}, pod()], ("object x", "kind must be a string")),
    ("kind-missing", [{"metadata": {"name": "x"}}], ("object x", "kind must be a string")),
    ("spec-list", [{**pod(), "spec": [1]}], ("Pod web/a", "spec must be a mapping, not a list")),
    ("status-list", [{**pod(), "status": ["x"]}], ("Pod web/a", "status must be a mapping")),
    ("containers-int", [with_spec(pod(), containers=1)], ("Pod web/a", "spec.containers must be a list")),
    (
        "container-int",
        [with_spec(pod(), containers=[7])],
        ("Pod web/a", "spec.containers[0] must be a mapping"),
    ),
    (
        "ports-int",
        [with_spec(pod(), containers=[{"ports": 1}])],
        ("Pod web/a", "spec.containers[0].ports must be a list"),
    ),
    (
        "containerPort-inf",
        [with_spec(pod(), containers=[{"ports": [{"containerPort": float("inf")}]}])],
        ("Pod web/a", "containerPort inf is not a port number"),
    ),
    (
        "containerPort-superscript",
        [with_spec(pod(), containers=[{"ports": [{"containerPort": "²"}]}])],
        ("Pod web/a", "containerPort '²' is not a port number"),
    ),
    (
        "containerPort-bool",
        [with_spec(pod(), containers=[{"ports": [{"containerPort": True}]}])],
        ("Pod web/a", "containerPort True is not a port number"),
    ),
    (
        "containerPort-range",
        [with_spec(pod(), containers=[{"ports": [{"containerPort": 70000}]}])],
        ("Pod web/a", "out of range 1-65535"),
    ),
    ("podIP-int", [{**pod(), "status": {"podIP": 5}}], ("Pod web/a", "status.podIP must be a string")),
    (
        "name-list",
        [{**pod(), "metadata": {"name": [1], "namespace": "web"}}],
        ("metadata.name must be a string",),
    ),
    (
        "namespace-int",
        [{**pod(), "metadata": {"name": "a", "namespace": 3}}],
        ("Pod 3/a"[:4], "metadata.namespace must be a string"),
    ),
    (
        "labels-list",
        [{**pod(), "metadata": {"name": "a", "labels": ["x"]}}],
        ("metadata.labels must be a mapping",),
    ),
    (
        "label-null",
        [{**pod(), "metadata": {"name": "a", "labels": {"app": None}}}],
        ("Pod a", "a label must be a string, not null"),
    ),
    (
        "label-nested",
        [{**pod(), "metadata": {"name": "a", "labels": {"app": {"x": 1}}}}],
        ("a label must be a string, not a mapping",),
    ),
    ("items-float", [listing(pod()) | {"items": 1.5}], ("List", "items must be a list")),
    ("item-int", [listing(7)], ("an object must be a mapping, not a number (7)",)),
    ("apiVersion-int", [{**pod(), "apiVersion": 1}], ("Pod web/a", "apiVersion must be a string")),
    ("pod-twice", [pod(), pod()], ("Pod web/a appears twice",)),
    (
        "from-int",
        [pod(), netpol({"podSelector": {}, "ingress": [{"from": 1}]})],
        ("NetworkPolicy web/p", "spec.ingress[0]: from must be a list"),
    ),
    (
        "to-string",
        [pod(), netpol({"podSelector": {}, "egress": [{"to": "everyone"}]})],
        ("NetworkPolicy web/p", "spec.egress[0]: to must be a list"),
    ),
    (
        "rule-ports-dict",
        [pod(), netpol({"podSelector": {}, "ingress": [{"ports": {"port": 80}}]})],
        ("NetworkPolicy web/p", "ports must be a list"),
    ),
    (
        "except-int",
        [
            pod(),
            netpol(
                {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": 1}}]}]}
            ),
        ],
        ("NetworkPolicy web/p", "ipBlock.except must be a list"),
    ),
    (
        "cidr-int",
        [pod(), netpol({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": 167772160}}]}]})],
        ("NetworkPolicy web/p", "invalid CIDR 167772160"),
    ),
    (
        "policyTypes-int",
        [pod(), netpol({"podSelector": {}, "policyTypes": 1})],
        ("NetworkPolicy web/p", "spec.policyTypes must be a list"),
    ),
    (
        "policyTypes-string",
        [pod(), netpol({"podSelector": {}, "policyTypes": "Ingress"})],
        ("NetworkPolicy web/p", "spec.policyTypes must be a list"),
    ),
    ("spec-string", [pod(), netpol("open")], ("NetworkPolicy web/p", "spec must be a mapping")),  # type: ignore[arg-type]
    (
        "port-superscript",
        [pod(), netpol({"podSelector": {}, "ingress": [{"ports": [{"port": "²"}]}]})],
        ("NetworkPolicy web/p", "port '²' is neither a number nor a port name"),
    ),
    (
        "port-digits",
        [pod(), netpol({"podSelector": {}, "ingress": [{"ports": [{"port": "9" * 5000}]}]})],
        ("NetworkPolicy web/p", "out of range 1-65535"),
    ),
    (
        "port-bool",
        [pod(), netpol({"podSelector": {}, "ingress": [{"ports": [{"port": True}]}]})],
        ("NetworkPolicy web/p", "port True must be a number or a port name"),
    ),
    (
        "endPort-float",
        [pod(), netpol({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "endPort": 90.5}]}]})],
        ("NetworkPolicy web/p", "endPort 90.5 must be a number"),
    ),
    (
        "protocol-list",
        [pod(), netpol({"podSelector": {}, "ingress": [{"ports": [{"protocol": ["TCP"]}]}]})],
        ("NetworkPolicy web/p", "unknown protocol ['TCP']"),
    ),
    (
        "matchExpressions-dict",
        [pod(), netpol({"podSelector": {"matchExpressions": {"key": "a"}}})],
        ("NetworkPolicy web/p", "matchExpressions must be a list"),
    ),
    (
        "values-string",
        [
            pod(),
            netpol({"podSelector": {"matchExpressions": [{"key": "a", "operator": "In", "values": "ab"}]}}),
        ],
        ("NetworkPolicy web/p", "values must be a list"),
    ),
    (
        "operator-list",
        [pod(), netpol({"podSelector": {"matchExpressions": [{"key": "a", "operator": ["In"]}]}})],
        ("NetworkPolicy web/p", "unknown operator"),
    ),
    (
        "service-port-string",
        [
            pod(),
            {
                "kind": "Service",
                "metadata": {"name": "s", "namespace": "web"},
                "spec": {"ports": [{"port": "x"}]},
            },
        ],
        ("Service web/s", "spec.ports[0].port 'x' is not a port number"),
    ),
    (
        "service-targetPort-float",
        [
            pod(),
            {
                "kind": "Service",
                "metadata": {"name": "s", "namespace": "web"},
                "spec": {"ports": [{"port": 80, "targetPort": 1.5}]},
            },
        ],
        ("Service web/s", "targetPort 1.5 is not a port number"),
    ),
    (
        "service-selector-list",
        [
            pod(),
            {"kind": "Service", "metadata": {"name": "s", "namespace": "web"}, "spec": {"selector": ["a"]}},
        ],
        ("Service web/s", "spec.selector must be a mapping"),
    ),
    (
        "calico-metadata-list",
        [
            pod(),
            {
                "apiVersion": "projectcalico.org/v3",
                "kind": "GlobalNetworkPolicy",
                "metadata": ["x"],
                "spec": {},
            },
        ],
        ("GlobalNetworkPolicy without metadata.name",),
    ),
    (
        "calico-ingress-dict",
        [pod(), calico({"ingress": {"action": "Allow"}})],
        ("GlobalNetworkPolicy g", "spec.ingress must be a list"),
    ),
    (
        "calico-order-inf",
        [pod(), calico({"order": float("inf")})],
        ("GlobalNetworkPolicy g", "spec.order inf is not a finite number"),
    ),
    (
        "calico-order-huge",
        [pod(), calico({"order": 10**30})],
        ("GlobalNetworkPolicy g", "spec.order", "not a finite number"),
    ),
    (
        "calico-order-bool",
        [pod(), calico({"order": True})],
        ("GlobalNetworkPolicy g", "spec.order must be a number"),
    ),
    (
        "calico-types-string",
        [pod(), calico({"types": "Ingress"})],
        ("GlobalNetworkPolicy g", "spec.types must be a list"),
    ),
    (
        "calico-action-list",
        [pod(), calico({"ingress": [{"action": ["Allow"]}]})],
        ("GlobalNetworkPolicy g", "action ['Allow'] must be one of"),
    ),
    (
        "calico-port-superscript",
        [
            pod(),
            calico({"ingress": [{"action": "Allow", "protocol": "TCP", "destination": {"ports": ["²:3"]}}]}),
        ],
        ("GlobalNetworkPolicy g", "port range '²:3' must read FIRST:LAST"),
    ),
    (
        "calico-port-digits",
        [
            pod(),
            calico(
                {"ingress": [{"action": "Allow", "protocol": "TCP", "destination": {"ports": ["9" * 5000]}}]}
            ),
        ],
        ("GlobalNetworkPolicy g", "out of range 0-65535"),
    ),
    (
        "calico-protocol-list",
        [pod(), calico({"ingress": [{"action": "Allow", "protocol": ["TCP"]}]})],
        ("GlobalNetworkPolicy g", "unknown protocol ['TCP']"),
    ),
    (
        "calico-nets-int",
        [pod(), calico({"egress": [{"action": "Allow", "destination": {"nets": [10]}}]})],
        ("GlobalNetworkPolicy g", "invalid CIDR 10"),
    ),
    (
        "calico-selector-deep",
        [pod(), calico({"selector": "(" * 1200 + "all()" + ")" * 1200})],
        ("GlobalNetworkPolicy g", "spec.selector", "nested more than 50 levels deep"),
    ),
    (
        "calico-selector-nots",
        [pod(), calico({"selector": "!" * 1200 + "all()"})],
        ("GlobalNetworkPolicy g", "nested more than 50 levels deep"),
    ),
    (
        "tier-order-nan",
        [pod(), {**calico({"order": float("nan")}, kind="Tier")}],
        ("Tier g", "spec.order nan"),
    ),
    (
        "cnp-tier-list",
        [pod(), cnp({"tier": ["Admin"], "priority": 1, "subject": {"namespaces": {}}})],
        ("ClusterNetworkPolicy c", "spec.tier ['Admin'] must be Admin or Baseline"),
    ),
    (
        "cnp-action-dict",
        [
            pod(),
            cnp(
                {
                    "tier": "Admin",
                    "priority": 1,
                    "subject": {"namespaces": {}},
                    "ingress": [{"action": {"x": 1}, "from": [{"namespaces": {}}]}],
                }
            ),
        ],
        ("ClusterNetworkPolicy c", "spec.ingress[0].action: {'x': 1} must be Accept, Deny or Pass"),
    ),
    (
        "cnp-networks-list",
        [
            pod(),
            cnp(
                {
                    "tier": "Admin",
                    "priority": 1,
                    "subject": {"namespaces": {}},
                    "egress": [{"action": "Deny", "to": [{"networks": [[1]]}]}],
                }
            ),
        ],
        ("ClusterNetworkPolicy c", "[1] is not a CIDR"),
    ),
]


NOT_JSON = {"containerPort-inf", "calico-order-inf", "tier-order-nan"}  # JSON has no inf or NaN: YAML does


@pytest.mark.parametrize(("name", "items", "needles"), SHAPES, ids=[s[0] for s in SHAPES])
@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_wrong_shapes_are_one_line_naming_file_and_object(
    tmp_path: Path, suffix: str, name: str, items: list[Any], needles: tuple[str, ...]
) -> None:
    path = tmp_path / f"state{suffix}"
    document = listing(*items)
    if suffix == ".json":
        path.write_text(json.dumps(document))
        if name in NOT_JSON:
            needles = ("is not JSON",)
    else:
        path.write_text(yaml.safe_dump(document))
    expect_refused(path, *needles)


# -- YAML that is valid YAML but no state file: keys and scalars JSON cannot hold ----------------


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (  # mapping keys that are numbers, null and booleans: sorted() of them mixed used to fail
            "kind: List\nitems:\n- {kind: Pod, metadata: {name: a}, status: {podIP: 10.0.0.1}}\n"
            "- kind: NetworkPolicy\n  apiVersion: networking.k8s.io/v1\n  metadata: {name: p}\n"
            "  spec: {podSelector: {}, ingress: [{from: [{1: x, null: y, podSelector: {}}]}]}\n",
            "NetworkPolicy default/p: spec.ingress[0].from[0]: unknown peer field(s) 1, None",
        ),
        (  # a timestamp that is no date: the constructor used to raise ValueError (year 0)
            "kind: List\nitems:\n"
            "- {kind: Pod, metadata: {name: a, labels: {d: 0000-01-01}}, status: {podIP: 1}}\n",
            "Pod default/a: status.podIP must be a string, not a number (1)",
        ),
        ("kind: List\nitems: !!int abc\n", "not valid YAML: invalid literal for int()"),
        ("kind: List\nitems: !!binary 'not base64!'\n", "refused (line 2)"),
        (
            "kind: List\nitems: [" + "9" * 4301 + "]\n",
            "refused (line 2): found a number 4301 characters long",
        ),
        ("kind: List\nitems: [0x" + "f" * 5000 + "]\n", "found a number 5002 characters long"),
        ("kind: List\nitems: [a, [b]: c]\n", "refused"),
        ("kind: List\nitems: !!set {a, b}\n", "List: items must be a list, not a set"),
    ],
    ids=["odd-keys", "timestamp", "tagged-int", "binary", "long-int", "long-hex", "unhashable-key", "set"],
)
def test_yaml_only_values_are_refused_by_name(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "state.yaml"
    path.write_text(text)
    expect_refused(path, needle)


def test_a_timestamp_label_is_the_text_written(tmp_path: Path) -> None:
    path = tmp_path / "state.yaml"
    path.write_text(
        "kind: List\nitems:\n- {kind: Pod, metadata: {name: a, labels: {day: 2024-01-01}}, "
        "status: {podIP: 10.0.0.1}}\n"
    )
    assert load_state_file(path).pods[0].labels == {"day": "2024-01-01"}


# -- the file itself: encodings, size, depth, numbers, aliases -------------------------------------

POD_YAML = (
    "kind: List\nitems:\n- kind: Pod\n  metadata: {name: a, namespace: w}\n  status: {podIP: 10.0.0.1}\n"
)


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-16-le", b"\xff\xfe"),
        ("utf-16-be", b"\xfe\xff"),
        ("utf-8", b"\xef\xbb\xbf"),
        ("utf-32-le", b"\xff\xfe\x00\x00"),
    ],
)
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_byte_order_marks_are_read(tmp_path: Path, encoding: str, bom: bytes, suffix: str) -> None:
    """Windows PowerShell's `kubectl get ... > state.yaml` writes UTF-16 with a BOM; editors add UTF-8's."""
    text = POD_YAML if suffix == ".yaml" else json.dumps(yaml.safe_load(POD_YAML))
    path = tmp_path / f"state{suffix}"
    path.write_bytes(bom + text.encode(encoding))
    assert [p.key for p in load_state_file(path).pods] == ["w/a"]


def test_text_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.yaml"
    path.write_bytes("kind: List\nitems: []\n# café\n".encode("latin-1"))
    expect_refused(path, "not UTF-8 text (byte 0xe9 at offset 26)", "save it as UTF-8")


def test_a_bom_with_broken_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.yaml"
    path.write_bytes(b"\xff\xfek\x00i\x00\x00\xd8")  # UTF-16 with a lone surrogate
    expect_refused(path, "UTF-16-LE byte order mark but is not valid UTF-16-LE")


def test_deep_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("[" * 1000 + "]" * 1000)
    expect_refused(path, "nested too deeply")


@pytest.fixture(params=["C", "pure"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each YAML state loader in turn: the C one (PyYAML on libyaml) and the pure-Python fallback."""
    if request.param == "C" and state_module._CParser is None:
        pytest.skip(
            "this PyYAML was built without libyaml: `pip install --force-reinstall pyyaml` from a wheel"
        )
    if request.param == "pure":
        monkeypatch.setattr(state_module, "StateLoader", state_module.PureStateLoader)
    return str(request.param)


@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_yaml_is_refused(tmp_path: Path, loader: str, style: str) -> None:
    depth = 1500
    text = "[" * depth + "]" * depth if style == "flow" else "".join("  " * i + "-\n" for i in range(depth))
    path = tmp_path / "state.yaml"
    path.write_text(text)
    line = expect_refused(path)
    assert "nested too deeply" in line or "exceeded maximum nesting depth" in line


def test_deep_lists_of_lists_are_refused(tmp_path: Path) -> None:
    document: Item = listing(pod())
    for _ in range(200):
        document = listing(document)
    path = tmp_path / "state.json"
    path.write_text(json.dumps(document))
    expect_refused(path, "Lists nested more than 8 deep")


def test_a_4301_digit_integer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"kind": "List", "items": [' + "9" * 4301 + "]}")
    expect_refused(path, "a number 4301 digits long")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_constants_are_refused(tmp_path: Path, constant: str) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"kind": "List", "items": [' + constant + "]}")
    expect_refused(path, f"{constant} is not JSON")


LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)),
        "kind: List",
        "items: *i",
        "",
    ]
)


def test_billion_laughs_is_refused_fast(tmp_path: Path, loader: str) -> None:
    """A few hundred bytes of aliases nest into a billion strings: refused at the first alias."""
    path = tmp_path / "state.yaml"
    path.write_text(LAUGHS)
    assert len(LAUGHS) < 700
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    expect_refused(path, "found an alias (*name): state files may not use YAML anchors and aliases")
    assert time.monotonic() - started < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB


def test_one_alias_is_refused_too(tmp_path: Path, loader: str) -> None:
    path = tmp_path / "state.yaml"
    path.write_text(
        "kind: List\nitems:\n- kind: Pod\n  metadata: &m {name: a}\n  status: {podIP: 10.0.0.1}\n"
        "- kind: Pod\n  metadata: *m\n"
    )
    expect_refused(path, "line 4", "found an alias")


def test_an_anchor_without_alias_is_harmless(tmp_path: Path) -> None:
    path = tmp_path / "state.yaml"
    path.write_text(
        "kind: List\nitems:\n- kind: Pod\n  metadata: &m {name: a}\n  status: {podIP: 10.0.0.1}\n"
    )
    assert [p.key for p in load_state_file(path).pods] == ["default/a"]


def test_a_file_larger_than_the_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_module, "MAX_STATE_BYTES", 2 * 1024 * 1024)
    path = tmp_path / "state.yaml"
    path.write_bytes(b"#" * (3 * 1024 * 1024))
    expect_refused(path, "larger than the 2 MiB a state file may have")


def test_an_endless_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("this system has no /dev/zero: the endless-file refusal is tested on Linux and macOS")
    monkeypatch.setattr(state_module, "MAX_STATE_BYTES", 1024 * 1024)
    expect_refused(Path("/dev/zero"), "larger than the 1 MiB")


def test_a_folder_is_refused(tmp_path: Path) -> None:
    expect_refused(tmp_path, "cannot read it")


# -- what the checks must not cost: long selectors still work, big files stay fast ---------------


def test_a_long_calico_selector_chain_is_no_deep_tree() -> None:
    """10,000 terms joined by && or || parse and match without recursing once per term."""
    for joiner in (" && ", " || "):
        text = joiner.join(f"has(k{i})" for i in range(10_000))
        selector = parse_calico_selector(text)
        labels = {f"k{i}": "" for i in range(10_000)}
        assert selector.matches(labels)
        assert selector.mask(LabelIndex([labels, {}])) == 0b01  # the first label set only
        hash(selector)


def test_selectors_nest_up_to_the_limit() -> None:
    assert parse_calico_selector("(" * 50 + "all()" + ")" * 50).matches({})
    assert parse_calico_selector("!" * 49 + "all()").matches({}) is False


# -- expect's own limits -----------------------------------------------------------------------


def ports(count: int) -> list[Item]:
    return [{"containerPort": 1000 + i} for i in range(count)]


def test_json_output_is_refused_beyond_its_flow_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lab.commands import expect

    monkeypatch.setattr(expect, "MAX_FLOWS", 1000)
    path = tmp_path / "state.json"
    pods = [
        with_spec(pod(f"web/p{i}", f"10.0.0.{i + 1}"), containers=[{"ports": ports(30)}]) for i in range(40)
    ]
    path.write_text(json.dumps(listing(*pods)))
    env = captured_env()
    assert run(["expect", "--state", str(path), "--output", "json-v1"], env) == ExitStatus.USAGE
    assert output(env) == ""  # nothing half-written
    assert "40 pods and 1,200 destinations make 48,000 flows, more than the 1,000" in errors(env)
    assert "use `--output json`" in errors(env)
    env = captured_env()  # the streamed format has no such limit: one group, one line per port
    assert run(["expect", "--state", str(path), "--output", "json"], env) == ExitStatus.SUCCESS
    lines = [json.loads(line) for line in output(env).splitlines()]
    assert [line["kind"] for line in lines].count("flow") == 30 and lines[-1]["kind"] == "end"


def test_a_state_too_wide_for_a_table_is_listed_per_destination(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(listing(with_spec(pod(), containers=[{"ports": ports(2000)}]))))
    env = captured_env()
    started = time.monotonic()
    assert run(["expect", "--state", str(path)], env) == ExitStatus.SUCCESS
    assert time.monotonic() - started < 5
    text = output(env)
    # one pod: no other pod to connect (a pod may always reach itself)
    assert "1 pod in 1 group" in text and "2,000 destinations: 0 open to every group, 2,000 to nobody" in text
    assert "  g1:2999/TCP <- nobody" in text.splitlines()


# -- explain's port argument -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("port", "needle"),
    [
        ("²", "a port name needs a destination pod"),
        ("9" * 5000, "a port number is 1-65535"),
        ("0", "1-65535"),
    ],
)
def test_explain_port_argument_is_checked(port: str, needle: str) -> None:
    env = captured_env()
    assert run(["explain", "frontend/frontend", "10.0.0.9", port], env) == ExitStatus.USAGE
    failures = [line for line in errors(env).splitlines() if line.startswith("error: ")]
    assert len(failures) == 1 and needle in failures[0] and len(failures[0]) < 200


def test_explain_superscript_port_on_a_pod_is_an_unknown_name() -> None:
    env = captured_env()
    assert run(["explain", "frontend/frontend", "backend/backend", "²"], env) == ExitStatus.USAGE
    assert "declares no port named '²'" in errors(env)


def _loaders() -> list[Callable[[Path], Any]]:
    return [load_state_file]


def test_input_errors_are_usage_errors(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{")
    for loader in _loaders():
        with pytest.raises(InputError) as caught:
            loader(path)
        assert caught.value.status == ExitStatus.USAGE


def test_calico_ip_version_between_pods_agrees(tmp_path: Path) -> None:
    rule_v6 = calico({"ingress": [{"action": "Allow", "ipVersion": 6}]}, name="n", kind="NetworkPolicy")
    rule_v6["metadata"]["namespace"] = "web"
    path = tmp_path / "state.json"
    path.write_text(json.dumps(listing(pod("web/a", "10.0.0.1"), pod("web/b", "10.0.0.2"), rule_v6)))
    env = captured_env()
    assert run(["expect", "--state", str(path), "--output", "json-v1"], env) == ExitStatus.SUCCESS
    verdicts = {(f["from"], f["to"]): f["allowed"] for f in json.loads(output(env))["flows"]}
    assert verdicts[("web/a", "web/b")] is False  # the IPv6-only Allow matches no IPv4 flow: the tier denies
