"""ValidatingAdmissionPolicy in the model (admissionregistration.k8s.io/v1), evaluated with tests/model/cel.

On every create and update the model runs the policies whose binding asks to Deny and whose
matchConstraints match the write (resourceRules by group, version, operation and resource;
namespaceSelector against the labels of the object's namespace), with ``object``, ``oldObject``,
``namespaceObject`` and ``variables`` in scope as the API server provides them. A validation that is
false denies the write; one that fails to evaluate denies it too under failurePolicy Fail (the
default). The refusal is what the API server sends (plugin/policy/validating/dispatcher.go):
``<resource> "<name>" is forbidden: ValidatingAdmissionPolicy '<policy>' with binding '<binding>'
denied request: <message>``, with the validation's reason (Forbidden: 403, Invalid or none: 422).
Creating a policy whose expressions do not parse is refused as Invalid, as the API server compiles
them. Not modelled: paramKind and params, messageExpression, matchConditions, auditAnnotations,
binding matchResources beyond a namespaceSelector, the type checker's warnings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tests.model import cel, selectors

if TYPE_CHECKING:
    from tests.model.resources import ResourceType
    from tests.model.store import Obj, Store

GROUP = "admissionregistration.k8s.io"
POLICIES = (GROUP, "validatingadmissionpolicies")
BINDINGS = (GROUP, "validatingadmissionpolicybindings")
CODES = {"Forbidden": 403, "Invalid": 422, "Unauthorized": 401, "RequestEntityTooLarge": 413}


def _expressions(policy: Mapping[str, Any]) -> list[tuple[str, str]]:
    spec = policy.get("spec") or {}
    found = [
        (f"spec.variables[{n}].expression", v.get("expression", ""))
        for n, v in enumerate(spec.get("variables") or [])
    ]
    found += [
        (f"spec.validations[{n}].expression", v.get("expression", ""))
        for n, v in enumerate(spec.get("validations") or [])
    ]
    return found


def check_definition(policy: Mapping[str, Any]) -> None:
    """Refuse a policy whose CEL does not compile (422 Invalid with the field that fails)."""
    from tests.model.api import ApiError  # (api calls this module on every write)

    name = (policy.get("metadata") or {}).get("name", "")
    for field, expression in _expressions(policy):
        try:
            cel.compile_expression(str(expression))
        except cel.CelSyntaxError as error:
            raise ApiError(
                422,
                "Invalid",
                f'ValidatingAdmissionPolicy.admissionregistration.k8s.io "{name}" is invalid: {field}: '
                f"Invalid value: {expression!r}: compilation failed: ERROR: <input>: {error}",
                {"name": name, "group": GROUP, "kind": "ValidatingAdmissionPolicy"},
            ) from None


def _selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    if not selector:
        return True
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            parts.append(f"{key} {operator.lower()} ({','.join(values)})")
    return selectors.label_matcher(",".join(parts))(dict(labels))


def _rule_matches(rule: Mapping[str, Any], resource: ResourceType, operation: str) -> bool:
    def has(field: str, value: str) -> bool:
        wanted = rule.get(field) or []
        return "*" in wanted or value in wanted

    return (
        has("apiGroups", resource.group)
        and has("apiVersions", resource.version)
        and has("operations", operation)
        and has("resources", resource.plural)
    )


def admit(store: Store, resource: ResourceType, obj: Obj, old: Obj | None) -> None:
    """Run the bound policies on one write; an ApiError when one denies it."""
    if resource.key == POLICIES:
        check_definition(obj)
    operation = "CREATE" if old is None else "UPDATE"
    namespace_name = (obj.get("metadata") or {}).get("namespace") or ""
    namespace = store.get(("", "namespaces"), "", namespace_name) if namespace_name else None
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    for policy in store.list(POLICIES):
        spec = policy.get("spec") or {}
        constraints = spec.get("matchConstraints") or {}
        if not any(_rule_matches(r, resource, operation) for r in constraints.get("resourceRules") or []):
            continue
        if resource.namespaced and not _selector_matches(constraints.get("namespaceSelector"), labels):
            continue
        for binding in store.list(BINDINGS):
            bound = binding.get("spec") or {}
            if bound.get("policyName") != policy["metadata"]["name"] or "Deny" not in (
                bound.get("validationActions") or []
            ):
                continue
            if resource.namespaced and not _selector_matches(
                (bound.get("matchResources") or {}).get("namespaceSelector"), labels
            ):
                continue
            _validate(policy, binding, resource, obj, old, namespace)


def _validate(
    policy: Obj, binding: Obj, resource: ResourceType, obj: Obj, old: Obj | None, namespace: Obj | None
) -> None:
    from tests.model.api import ApiError

    spec = policy.get("spec") or {}
    variables: dict[str, Any] = {}
    scope: dict[str, Any] = {
        "object": obj,
        "oldObject": old,
        "namespaceObject": namespace,
        "variables": variables,
    }
    for entry in spec.get("variables") or []:
        expression = cel.compile_expression(str(entry.get("expression", "")))

        def lazy(node: cel.Node = expression) -> Any:
            return node(scope)

        variables[str(entry.get("name"))] = lazy
    for validation in spec.get("validations") or []:
        text = str(validation.get("expression", ""))
        try:
            allowed = cel.evaluate(text, scope) is True
            message = str(validation.get("message") or f"failed expression: {text}")
        except cel.CelError as error:
            if spec.get("failurePolicy", "Fail") != "Fail":
                continue
            allowed, message = False, f"expression '{text}' resulted in error: {error}"
        if allowed:
            continue
        reason = str(validation.get("reason") or "Invalid")
        denial = (
            f"ValidatingAdmissionPolicy '{policy['metadata']['name']}' with binding "
            f"'{binding['metadata']['name']}' denied request: {message}"
        )
        name = obj["metadata"].get("name", "")
        what = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
        details = {
            "name": name,
            "group": resource.group,
            "kind": resource.plural,
            "causes": [{"message": denial}],
        }
        raise ApiError(CODES.get(reason, 422), reason, f'{what} "{name}" is forbidden: {denial}', details)
