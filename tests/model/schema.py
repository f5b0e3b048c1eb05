"""Validation as the API server does it under ``fieldValidation=Strict`` (kubectl's default).

Built-in kinds are checked with kubernetes-validate's strict schemas for the cluster's
Kubernetes version; custom resources against the openAPIV3Schema of their CRD: unknown
fields (unless ``x-kubernetes-preserve-unknown-fields``), types, enums and required fields.
CEL rules (``x-kubernetes-validations``) are not evaluated: see the README's list of what the
model leaves out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KUBERNETES_VERSION = "1.36"
_SERVER_FIELDS = ("managedFields", "uid", "resourceVersion", "generation", "creationTimestamp")


def _clean(obj: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_FIELDS}
    out["metadata"] = meta
    out.pop("status", None)
    return out


def validate_builtin(obj: Mapping[str, Any]) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(_clean(obj), KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        cause = getattr(error, "caused_by", None) or error
        path = ".".join(str(p) for p in getattr(cause, "path", ()) or ())
        message = str(getattr(cause, "message", "") or str(error).splitlines()[0])
        if "Additional properties are not allowed" in message:
            extra = message.split("(", 1)[-1].split(" was", 1)[0].strip("'")
            return [f".{path + '.' if path else ''}{extra}: field not declared in schema"]
        return [f".{path}: {message}" if path else message]
    except Exception:  # a kind kubernetes-validate has no schema for: nothing to check against
        return []
    return []


def validate_custom(obj: Mapping[str, Any], schema: Mapping[str, Any] | None) -> list[str]:
    if not schema:
        return []
    errors: list[str] = []
    body = _clean(obj)
    body.pop("metadata", None)
    _check(body, schema, "", errors, top=True)
    return errors


def _type_ok(value: Any, wanted: str, schema: Mapping[str, Any]) -> bool:
    if value is None and schema.get("nullable"):
        return True
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }.get(wanted, True)


def _check(value: Any, schema: Mapping[str, Any], path: str, errors: list[str], *, top: bool = False) -> None:
    wanted = schema.get("type")
    if wanted and not _type_ok(value, str(wanted), schema):
        errors.append(f"{path or '.'}: Invalid value: {type(value).__name__}: expected {wanted}")
        return
    for part in schema.get("allOf") or []:
        if "enum" in part and value not in part["enum"]:
            errors.append(f"{path}: Unsupported value: {value!r}: supported values: {part['enum']}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: Unsupported value: {value!r}: supported values: {schema['enum']}")
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name in schema.get("required") or []:
            if name not in value and not (top and name == "metadata"):
                errors.append(f"{path}.{name}: Required value")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                _check(item, properties[key], f"{path}.{key}", errors)
            elif isinstance(extra, Mapping):
                _check(item, extra, f"{path}.{key}", errors)
            elif top and key in ("apiVersion", "kind"):
                continue
            elif not schema.get("x-kubernetes-preserve-unknown-fields") and (properties or extra is False):
                errors.append(f"{path}.{key}: field not declared in schema")
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            _check(item, schema["items"], f"{path}[{index}]", errors)
