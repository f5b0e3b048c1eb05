"""The model's REST semantics, independent of HTTP: get, list, create, update, patch, apply, delete.

Every write goes through the same path as on a real server: the type must be registered, the
namespace must exist and not be terminating (NamespaceLifecycle), the object is validated
(strict field validation), defaulted, admitted (Pod Security), checked for uniqueness, and
stored with its field managers. Errors are ``ApiError``s carrying the status code, reason and
message a real server would send.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from tests.model import admission, apply, calico_validation, schema, selectors, vap
from tests.model.defaults import ServiceIPs, apply_defaults
from tests.model.resources import Registry, ResourceType
from tests.model.store import Obj, Store, now_iso

NAMESPACE = ("", "namespaces")
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str, details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.details = dict(details or {})

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.status,
        }
        if self.details:
            out["details"] = self.details
        return out


def not_found(resource: ResourceType, name: str) -> ApiError:
    what = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
    return ApiError(404, "NotFound", f'{what} "{name}" not found', {"name": name, "kind": resource.plural})


def already_exists(resource: ResourceType, name: str) -> ApiError:
    what = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
    return ApiError(409, "AlreadyExists", f'{what} "{name}" already exists', {"name": name})


def invalid(resource: ResourceType, name: str, causes: list[str]) -> ApiError:
    """Unknown fields are a BadRequest under strict validation; wrong values are Invalid (422), with
    one cause per field, which kubectl prints as ``* spec.x: ...`` lines."""
    unknown = [c for c in causes if c.endswith("field not declared in schema")]
    if unknown:
        return ApiError(
            400,
            "BadRequest",
            f"failed to create typed patch object ({resource.group_version}, Kind={resource.kind}) {name}: "
            + unknown[0],
        )
    split = [c.split(": ", 1) if ": " in c else [".", c] for c in causes]
    return ApiError(
        422,
        "Invalid",
        f'{resource.kind} "{name}" is invalid: ' + "; ".join(causes),
        {
            "name": name,
            "kind": resource.kind,
            "causes": [
                {"reason": "FieldValueInvalid", "field": f.lstrip("."), "message": m} for f, m in split
            ],
        },
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


# Hooks the cluster installs: type-specific work on create (cluster IPs, pod admission, CRDs).
Hook = Callable[[ResourceType, Obj], None]


class Api:
    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self.service_ips = ServiceIPs()
        self.on_create: list[Hook] = []
        self.on_delete: list[Hook] = []
        self.validate_builtin = True

    # -- reading ---------------------------------------------------------------------------------

    def get(self, resource: ResourceType, namespace: str, name: str) -> Obj:
        found = self.store.get(resource.key, namespace if resource.namespaced else "", name)
        if found is None:
            raise not_found(resource, name)
        return self._typed(resource, found)

    def list(
        self,
        resource: ResourceType,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[Obj], int]:
        try:
            labels = selectors.label_matcher(label_selector)
            fields = selectors.field_matcher(field_selector)
        except selectors.SelectorSyntaxError as error:
            raise bad_request(str(error)) from None
        with self.store.lock:
            version = self.store.resource_version
            items = self.store.list(resource.key, namespace if resource.namespaced else None)
        chosen = [
            self._typed(resource, o)
            for o in items
            if labels((o.get("metadata") or {}).get("labels") or {}) and fields(o)
        ]
        return chosen, version

    def _typed(self, resource: ResourceType, obj: Obj) -> Obj:
        obj["apiVersion"] = resource.api_version
        obj["kind"] = resource.kind
        return obj

    # -- writing ---------------------------------------------------------------------------------

    def _admit_namespace(self, resource: ResourceType, namespace: str) -> None:
        if not resource.namespaced:
            return
        live = self.store.get(NAMESPACE, "", namespace)
        if live is None:
            raise ApiError(**_refusal(admission.namespace_missing(namespace)))
        if (live.get("metadata") or {}).get("deletionTimestamp"):
            raise ApiError(**_refusal(admission.namespace_terminating(namespace)))

    def _validate(self, resource: ResourceType, obj: Obj, name: str) -> None:
        if resource.source == "builtin":
            errors = schema.validate_builtin(obj) if self.validate_builtin else []
        else:
            errors = schema.validate_custom(obj, resource.schema)
        if resource.group == "projectcalico.org":  # Calico's API server validates its kinds further
            errors = [*errors, *calico_validation.rule_errors(obj)]
        if errors:
            raise invalid(resource, name, errors)

    def _identity(
        self, resource: ResourceType, body: Obj, namespace: str, name: str | None
    ) -> tuple[str, str]:
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        given = meta.get("name")
        if name is not None and given not in (None, name):
            raise bad_request(f"the name of the object ({given}) does not match the name on the URL ({name})")
        final = name or given
        if not final:
            if meta.get("generateName"):
                import secrets

                final = str(meta["generateName"]) + secrets.token_hex(3)[:5]
            else:
                raise ApiError(422, "Invalid", f"{resource.kind} is invalid: metadata.name: Required value")
        meta["name"] = final
        if resource.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and namespace and body_ns != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace or body_ns or "default"
        else:
            meta.pop("namespace", None)
        body["apiVersion"] = resource.api_version
        body["kind"] = resource.kind
        return str(meta.get("namespace") or ""), str(final)

    def _store_new(self, resource: ResourceType, obj: Obj, manager: str | None, *, dry_run: bool) -> Obj:
        namespace, name = obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
        self._admit_namespace(resource, namespace)
        apply_defaults(resource.group, resource.kind, obj)
        self._validate(resource, obj, name)
        vap.admit(self.store, resource, obj, None)  # ValidatingAdmissionPolicies (tests/model/vap.py)
        try:
            for hook in self.on_create:
                hook(resource, obj)
        except admission.Refused as refused:
            raise ApiError(**_refusal(refused)) from None
        if dry_run:
            return obj
        if manager and not obj["metadata"].get("managedFields"):
            apply.record_update(None, obj, manager, resource.api_version, "status" in resource.subresources)
        return self._typed(resource, self.store.put(resource.key, obj))

    def create(
        self,
        resource: ResourceType,
        namespace: str,
        body: Obj,
        *,
        manager: str,
        dry_run: bool = False,
        keep_status: bool = False,
    ) -> Obj:
        """POST; ``keep_status`` is for the model's own controllers, which write status directly."""
        with self.store.lock:
            obj = copy.deepcopy(body)
            ns, name = self._identity(resource, obj, namespace, None)
            if self.store.get(resource.key, ns, name) is not None:
                raise already_exists(resource, name)
            if "status" in resource.subresources and resource.kind != "Namespace" and not keep_status:
                obj.pop("status", None)
            return self._store_new(resource, obj, manager, dry_run=dry_run)

    def replace(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        body: Obj,
        *,
        manager: str,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        with self.store.lock:
            obj = copy.deepcopy(body)
            ns, _ = self._identity(resource, obj, namespace, name)
            live = self.store.get(resource.key, ns, name)
            if live is None:
                if subresource:
                    raise not_found(resource, name)
                return self._store_new(resource, obj, manager, dry_run=dry_run)
            return self._store_update(resource, live, obj, manager, subresource, dry_run=dry_run)

    def _store_update(
        self,
        resource: ResourceType,
        live: Obj,
        new: Obj,
        manager: str | None,
        subresource: str | None,
        *,
        dry_run: bool,
    ) -> Obj:
        has_status = "status" in resource.subresources
        if subresource == "status":
            merged = copy.deepcopy(live)
            merged["status"] = new.get("status", {})
        else:
            merged = new
            if has_status:
                merged["status"] = copy.deepcopy(live.get("status"))
                if merged["status"] is None:
                    merged.pop("status")
            # identity and server-set fields stay as they are
            for key in ("uid", "creationTimestamp", "deletionTimestamp"):
                if key in live["metadata"] and key not in merged["metadata"]:
                    merged["metadata"][key] = live["metadata"][key]
        apply_defaults(resource.group, resource.kind, merged)
        self._validate(resource, merged, live["metadata"]["name"])
        if subresource != "status":
            vap.admit(self.store, resource, merged, live)
        if dry_run:
            return self._typed(resource, merged)
        if _same(live, merged):  # a no-op write changes nothing, resourceVersion included (as etcd sees it)
            return self._typed(resource, live)
        if manager:
            apply.record_update(
                live, merged, manager, resource.api_version, has_status and subresource != "status"
            )
        elif "managedFields" not in merged["metadata"]:
            merged["metadata"]["managedFields"] = live["metadata"].get("managedFields", [])
        return self._typed(resource, self.store.put(resource.key, merged))

    def patch(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        patch_type: str,
        *,
        manager: str,
        force: bool = False,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """The patched object and whether it was created (only server-side apply creates)."""
        with self.store.lock:
            ns = namespace if resource.namespaced else ""
            if resource.namespaced and not ns:
                ns = "default"
            live = self.store.get(resource.key, ns, name)
            if patch_type == "application/apply-patch+yaml":
                if not isinstance(body, dict):
                    raise bad_request("the apply configuration must be an object")
                config = copy.deepcopy(body)
                self._identity(resource, config, ns, name)
                _check_kind(resource, body)
                has_status = "status" in resource.subresources and subresource != "status"
                try:
                    result = apply.server_side_apply(
                        live,
                        config,
                        manager,
                        force=force,
                        api_version=resource.api_version,
                        skip_status=has_status,
                    )
                except apply.ApplyConflict as conflict:
                    raise ApiError(
                        409,
                        "Conflict",
                        conflict.message,
                        {
                            "causes": [
                                {
                                    "reason": "FieldManagerConflict",
                                    "message": f'conflict with "{c.manager}"',
                                    "field": c.describe(),
                                }
                                for c in conflict.conflicts
                            ]
                        },
                    ) from None
                if live is None:
                    if subresource:
                        raise not_found(resource, name)
                    return self._store_new(resource, result, None, dry_run=dry_run), True
                return self._store_update(resource, live, result, None, subresource, dry_run=dry_run), False
            if live is None:
                raise not_found(resource, name)
            if patch_type == "application/merge-patch+json":
                result = apply.merge_patch(live, body)
            elif patch_type == "application/strategic-merge-patch+json":
                result = apply.strategic_merge_patch(live, body)
            elif patch_type == "application/json-patch+json":
                result = apply.json_patch(live, body)
            else:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: "
                    "application/json-patch+json, application/merge-patch+json, "
                    "application/apply-patch+yaml; "
                    f"got {patch_type}",
                )
            return self._store_update(resource, live, result, manager, subresource, dry_run=dry_run), False

    def delete(self, resource: ResourceType, namespace: str, name: str, *, dry_run: bool = False) -> Obj:
        with self.store.lock:
            ns = namespace if resource.namespaced else ""
            live = self.store.get(resource.key, ns, name)
            if live is None:
                raise not_found(resource, name)
            if dry_run:
                return self._typed(resource, live)
            meta = live["metadata"]
            if resource.kind == "Namespace":
                if not meta.get("deletionTimestamp"):
                    meta["deletionTimestamp"] = now_iso()
                    live.setdefault("status", {})["phase"] = "Terminating"
                    live = self.store.put(resource.key, live, spec_changed=False)
                return self._typed(resource, live)
            if meta.get("finalizers"):
                if not meta.get("deletionTimestamp"):
                    meta["deletionTimestamp"] = now_iso()
                    live = self.store.put(resource.key, live, spec_changed=False)
                return self._typed(resource, live)
            removed = self.store.remove(resource.key, ns, name)
            assert removed is not None
            for hook in self.on_delete:
                hook(resource, removed)
            return self._typed(resource, removed)


def _same(live: Obj, new: Obj) -> bool:
    def strip(obj: Obj) -> Obj:
        out = copy.deepcopy(obj)
        meta = out.get("metadata") or {}
        for key in ("resourceVersion", "generation"):
            meta.pop(key, None)
        for entry in meta.get("managedFields") or []:
            entry.pop("time", None)
        return out

    return strip(live) == strip(new)


def _check_kind(resource: ResourceType, body: Mapping[str, Any]) -> None:
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if kind != resource.kind or api_version != resource.api_version:
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({resource.api_version})"
            if api_version != resource.api_version
            else f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})"
        )


def _refusal(refused: admission.Refused) -> dict[str, Any]:
    return {
        "status": refused.status,
        "reason": refused.reason,
        "message": refused.message,
        "details": refused.details,
    }
