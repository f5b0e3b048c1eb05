"""The model's authentication, RBAC, CEL and ValidatingAdmissionPolicy, each on its own: what the room
tests rely on, checked against the API server's rules."""

from __future__ import annotations

import time
from typing import Any

import pytest

from lab.lifecycle import room_access
from tests.model import auth, cel
from tests.model.api import ApiError
from tests.model.cluster import ModelCluster

ADMISSION = room_access.admission_documents()[0]["spec"]


def admitted(spec: dict[str, Any], own: str = "p07") -> bool:
    scope = {"object": {"spec": spec}, "namespaceObject": {}, "variables": {"own": own}}
    return all(cel.evaluate(v["expression"], scope) is True for v in ADMISSION["validations"])


def peer(selector: dict[str, Any]) -> dict[str, Any]:
    return {"ingress": [{"from": [{"namespaceSelector": selector, "podSelector": {}}]}]}


@pytest.mark.parametrize(
    ("spec", "allowed"),
    [
        ({"podSelector": {}}, True),
        (peer({"matchLabels": {"netpol-lab/participant": "p07", "netpol-lab/role": "backend"}}), True),
        (peer({"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}), True),
        (peer({"matchLabels": {"kubernetes.io/metadata.name": "p07-database"}}), True),
        (
            peer(
                {"matchExpressions": [{"key": "netpol-lab/participant", "operator": "In", "values": ["p07"]}]}
            ),
            True,
        ),
        ({"egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}, {}]}, True),
        (peer({}), False),
        (peer({"matchLabels": {"netpol-lab/participant": "p08"}}), False),
        (peer({"matchLabels": {"netpol-lab/role": "backend"}}), False),
        (peer({"matchLabels": {"kubernetes.io/metadata.name": "p08-backend"}}), False),
        (peer({"matchLabels": {"kubernetes.io/metadata.name": "p070-backend"}}), False),
        (
            peer(
                {
                    "matchExpressions": [
                        {"key": "netpol-lab/participant", "operator": "NotIn", "values": ["p07"]}
                    ]
                }
            ),
            False,
        ),
        (
            peer(
                {
                    "matchExpressions": [
                        {"key": "netpol-lab/participant", "operator": "In", "values": ["p07", "p08"]}
                    ]
                }
            ),
            False,
        ),
        ({"egress": [{"to": [{"namespaceSelector": {"matchLabels": {"team": "x"}}}]}]}, False),
    ],
)
def test_the_room_admission_policy_keeps_selectors_at_home(spec: dict[str, Any], allowed: bool) -> None:
    assert admitted(spec) == allowed


def test_cel_errors_are_absorbed_only_where_cel_absorbs_them() -> None:
    scope = {"m": {"a": 1}}
    assert cel.evaluate("has(m.b) && m.b == 1", scope) is False
    assert cel.evaluate("m.b == 1 || true", scope) is True
    with pytest.raises(cel.CelError):
        cel.evaluate("m.b == 1", scope)
    assert cel.evaluate("[1, 2].exists(x, x == 2) && !([1].all(x, x == 2))", {}) is True
    with pytest.raises(cel.CelSyntaxError):
        cel.compile_expression("a ++ b)")


def test_an_admission_policy_that_does_not_compile_is_refused() -> None:
    from tests.model import vap

    broken = {"metadata": {"name": "x"}, "spec": {"validations": [{"expression": "object.spec.("}]}}
    with pytest.raises(ApiError) as raised:
        vap.check_definition(broken)
    assert raised.value.status == 422 and "compilation failed" in raised.value.message


def test_tokens_die_with_their_account_and_at_their_expiry() -> None:
    cluster = ModelCluster()
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "p07", "namespace": "default"},
    }
    cluster.store.put(
        ("", "namespaces"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    )
    stored = cluster.store.put(("", "serviceaccounts"), account)
    uid = stored["metadata"]["uid"]
    token, _ = auth.issue_token("default", "p07", uid, 3600)
    user = auth.authenticate(cluster, {"Authorization": f"Bearer {token}"})
    assert user.name == "system:serviceaccount:default:p07" and not user.admin
    expired, _ = auth.issue_token("default", "p07", uid, 3600, now=time.time() - 7200)
    other_uid, _ = auth.issue_token("default", "p07", "another-uid", 3600)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for bad in (expired, other_uid, forged, "nonsense"):
        with pytest.raises(ApiError) as raised:
            auth.authenticate(cluster, {"Authorization": f"Bearer {bad}"})
        assert raised.value.status == 401


def test_rbac_attributes_follow_the_api_servers_request_info() -> None:
    get = auth.attributes("GET", ["api", "v1", "namespaces", "p07-backend", "pods", "web"], {})
    assert (get.verb, get.resource, get.namespace, get.name) == ("get", "pods", "p07-backend", "web")
    assert auth.attributes("GET", ["api", "v1", "namespaces", "a", "pods"], {"watch": "true"}).verb == "watch"
    assert auth.attributes(
        "DELETE", ["apis", "networking.k8s.io", "v1", "namespaces", "a", "networkpolicies"], {}
    ).verb == ("deletecollection")
    exec_ = auth.attributes("GET", ["api", "v1", "namespaces", "a", "pods", "web", "exec"], {})
    assert (exec_.resource, exec_.subresource) == ("pods", "exec")
    user = auth.User("system:serviceaccount:room:p07", ("system:authenticated",))
    denied = auth.forbidden(user, exec_, "create")
    assert denied.message == (
        'pods "web" is forbidden: User "system:serviceaccount:room:p07" cannot create resource "pods/exec" '
        'in API group "" in the namespace "a"'
    )
    assert denied.details == {"kind": "pods", "name": "web"}


@pytest.mark.parametrize(
    ("own", "namespace", "allowed"),
    [
        ("kube", "kube-public", False),  # a participant's name is a prefix of a system namespace
        ("calico", "calico-system", False),
        ("netpol", "netpol-lab-room", False),
        ("kube", "kube-frontend", True),  # their own four namespaces, exactly
        ("kube", "kube-untrusted", True),
    ],
)
def test_a_participant_names_only_their_own_four_namespaces(own: str, namespace: str, allowed: bool) -> None:
    by_label = peer({"matchLabels": {"kubernetes.io/metadata.name": namespace}})
    by_expression = peer(
        {
            "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": [namespace]}
            ]
        }
    )
    assert admitted(by_label, own=own) is allowed
    assert admitted(by_expression, own=own) is allowed
