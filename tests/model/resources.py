"""The resource types the model serves: built-in ones, and those registered by CRDs or an aggregated API.

Discovery, the OpenAPI documents kubectl reads and URL routing are all derived from this one
registry, so a type that is not registered is unknown everywhere at once, as on a real server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)  # CRD structural schema
    source: str = "builtin"  # builtin, crd, aggregated
    # Where the objects live when another group serves them too (Calico's API server keeps
    # projectcalico.org/v3 objects in the crd.projectcalico.org custom resources).
    storage_group: str | None = None

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def key(self) -> tuple[str, str]:
        """(group, plural): what objects are stored under."""
        return (self.storage_group if self.storage_group is not None else self.group, self.plural)

    def prefix(self) -> str:
        """The URL prefix of the group version (``/api/v1`` or ``/apis/G/V``)."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        parts = [self.prefix()]
        if self.namespaced and namespace:
            parts += ["namespaces", namespace]
        parts.append(self.plural)
        if name:
            parts.append(name)
        return "/".join(parts)

    def api_resource(self) -> list[dict[str, Any]]:
        """The entries of this type in an APIResourceList (the type and its subresources)."""
        main = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(VERBS),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        entries = [main]
        for sub in self.subresources:
            verbs = ["get", "patch", "update"] if sub == "status" else ["create", "get"]
            entries.append(
                {
                    "name": f"{self.plural}/{sub}",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind if sub == "status" else "PodExecOptions",
                    "verbs": verbs,
                }
            )
        return entries


def _core(kind: str, plural: str, namespaced: bool = True, **kw: Any) -> ResourceType:
    return ResourceType("", "v1", kind, plural, namespaced, **kw)


BUILTIN: tuple[ResourceType, ...] = (
    _core("Namespace", "namespaces", False, short_names=("ns",), subresources=("status",)),
    _core("Node", "nodes", False, short_names=("no",), subresources=("status",)),
    _core("Pod", "pods", short_names=("po",), categories=("all",), subresources=("status", "exec")),
    _core("Service", "services", short_names=("svc",), categories=("all",), subresources=("status",)),
    _core("ConfigMap", "configmaps", short_names=("cm",)),
    _core("Secret", "secrets"),
    _core("ServiceAccount", "serviceaccounts", short_names=("sa",)),
    _core("Event", "events", short_names=("ev",)),
    _core("Endpoints", "endpoints", short_names=("ep",)),
    ResourceType("apps", "v1", "Deployment", "deployments", True, ("deploy",), ("all",), ("status",)),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("all",), ("status",)),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("all",), ("status",)),
    ResourceType("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ("netpol",)),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        ("crd", "crds"),
        (),
        ("status",),
    ),
    ResourceType("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",)),
    ResourceType(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        False,
    ),
    ResourceType(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        False,
    ),
)


class Registry:
    """What the server serves now; CRDs and aggregated APIs add and remove types at run time."""

    def __init__(self) -> None:
        self._types: list[ResourceType] = list(BUILTIN)

    def all(self) -> list[ResourceType]:
        return list(self._types)

    def add(self, resource: ResourceType) -> None:
        self.remove(resource.group, resource.plural)
        self._types.append(resource)

    def remove(self, group: str, plural: str, *, source: str | None = None) -> None:
        self._types = [
            t
            for t in self._types
            if not (t.group == group and t.plural == plural and (source is None or t.source == source))
        ]

    def remove_group(self, group: str, source: str) -> None:
        self._types = [t for t in self._types if not (t.group == group and t.source == source)]

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        for resource in self._types:
            if resource.group == group and resource.version == version and resource.plural == plural:
                return resource
        return None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        for resource in self._types:
            if resource.api_version == api_version and resource.kind == kind:
                return resource
        return None

    def by_key(self, group: str, plural: str) -> ResourceType | None:
        for resource in self._types:
            if resource.group == group and resource.plural == plural:
                return resource
        return None

    def groups(self) -> dict[str, list[str]]:
        """Group name -> its versions (the core group is left out, as /apis does)."""
        out: dict[str, list[str]] = {}
        for resource in self._types:
            if resource.group and resource.version not in out.setdefault(resource.group, []):
                out[resource.group].append(resource.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self._types if t.group == group and t.version == version]
