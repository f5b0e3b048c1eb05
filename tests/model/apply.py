"""Server-side apply with field managers, and the other patch types kubectl sends.

Ownership is tracked per manager as a set of leaf paths (a scalar, a list, or an empty map is a
leaf: lists are treated as atomic, which real apply does only for lists without merge keys).
An apply conflicts when another manager owns a path the applied config sets to a different
value; with ``force`` the path changes hands. Fields a manager applied before and applies no
longer are removed, unless another manager also owns them. ``metadata.managedFields`` is
written in the API's FieldsV1 shape so that clients see what a real server would show.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from tests.model.store import Obj, now_iso

Path = tuple[str, ...]
# Never owned: identity, server-set metadata, and managedFields itself.
UNOWNED: tuple[Path, ...] = (
    ("apiVersion",),
    ("kind",),
    ("metadata", "name"),
    ("metadata", "namespace"),
    ("metadata", "uid"),
    ("metadata", "resourceVersion"),
    ("metadata", "generation"),
    ("metadata", "creationTimestamp"),
    ("metadata", "managedFields"),
    ("metadata", "deletionTimestamp"),
)


@dataclass(frozen=True)
class Conflict:
    manager: str
    path: Path

    def describe(self) -> str:
        return "." + ".".join(self.path)


class ApplyConflict(Exception):
    def __init__(self, conflicts: list[Conflict], api_version: str) -> None:
        self.conflicts = conflicts
        count = len(conflicts)
        lines = [f'conflict with "{c.manager}" using {api_version}: {c.describe()}' for c in conflicts]
        plural = "conflict" if count == 1 else "conflicts"
        if count == 1:
            message = f"Apply failed with 1 conflict: {lines[0]}"
        else:
            message = f"Apply failed with {count} {plural}: " + "\n".join(lines)
        super().__init__(message)
        self.message = message


def leaf_paths(obj: Any, prefix: Path = ()) -> dict[Path, Any]:
    """Path -> value for every leaf of a JSON value."""
    if isinstance(obj, dict) and obj:
        out: dict[Path, Any] = {}
        for key, value in obj.items():
            out.update(leaf_paths(value, (*prefix, str(key))))
        return out
    return {prefix: obj} if prefix else {}


def _owned(paths: dict[Path, Any], skip_status: bool) -> dict[Path, Any]:
    return {
        p: v
        for p, v in paths.items()
        if not any(p[: len(u)] == u for u in UNOWNED) and not (skip_status and p[:1] == ("status",))
    }


def get_path(obj: Any, path: Path) -> tuple[bool, Any]:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return False, None
        obj = obj[part]
    return True, obj


def set_path(obj: Obj, path: Path, value: Any) -> None:
    for part in path[:-1]:
        nxt = obj.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            obj[part] = nxt
        obj = nxt
    obj[path[-1]] = copy.deepcopy(value)


def remove_path(obj: Obj, path: Path) -> None:
    parents = []
    node: Any = obj
    for part in path[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        parents.append((node, part))
        node = node[part]
    if isinstance(node, dict):
        node.pop(path[-1], None)
    for parent, part in reversed(parents):  # prune maps this removal left empty
        if parent[part] == {}:
            del parent[part]
        else:
            break


def read_managers(obj: Obj | None) -> dict[str, tuple[str, set[Path]]]:
    """manager -> (operation, owned paths), from metadata.managedFields."""
    out: dict[str, tuple[str, set[Path]]] = {}
    for entry in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
        out[entry["manager"]] = (
            entry.get("operation", "Update"),
            _from_fields_v1(entry.get("fieldsV1") or {}),
        )
    return out


def write_managers(obj: Obj, managers: dict[str, tuple[str, set[Path]]], api_version: str) -> None:
    entries = []
    for manager, (operation, paths) in sorted(managers.items()):
        if not paths:
            continue
        entries.append(
            {
                "manager": manager,
                "operation": operation,
                "apiVersion": api_version,
                "time": now_iso(),
                "fieldsType": "FieldsV1",
                "fieldsV1": _to_fields_v1(paths),
            }
        )
    obj.setdefault("metadata", {})["managedFields"] = entries


def _to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return tree


def _from_fields_v1(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for key, child in tree.items():
        if not key.startswith("f:"):
            continue
        path = (*prefix, key[2:])
        if child:
            out |= _from_fields_v1(child, path)
        else:
            out.add(path)
    return out


def server_side_apply(
    live: Obj | None,
    applied: Obj,
    manager: str,
    *,
    force: bool,
    api_version: str,
    skip_status: bool,
) -> Obj:
    """The object after ``manager`` applies ``applied`` to ``live`` (None: it is created)."""
    managers = read_managers(live)
    wanted = _owned(leaf_paths(applied), skip_status)
    current = leaf_paths(live or {})
    conflicts: list[Conflict] = []
    for other, (_, paths) in managers.items():
        if other == manager:
            continue
        for path in paths & set(wanted):
            if current.get(path) != wanted[path]:
                conflicts.append(Conflict(other, path))
    if conflicts and not force:
        raise ApplyConflict(sorted(conflicts, key=lambda c: (c.manager, c.path)), api_version)
    for conflict in conflicts:  # forced: the paths change hands
        _operation, paths = managers[conflict.manager]
        paths.discard(conflict.path)
    result = copy.deepcopy(live) if live is not None else {}
    previously = managers.get(manager, ("Apply", set()))[1]
    others = set().union(*(p for m, (_, p) in managers.items() if m != manager)) if managers else set()
    for path in previously - set(wanted) - others:
        remove_path(result, path)
    for path, value in wanted.items():
        # a path set to a map makes any deeper leaves of the old value go away
        set_path(result, path, value)
    for key in ("apiVersion", "kind"):
        result[key] = applied.get(key, result.get(key))
    meta = result.setdefault("metadata", {})
    for key in ("name", "namespace"):
        if key in (applied.get("metadata") or {}):
            meta[key] = applied["metadata"][key]
    managers[manager] = ("Apply", set(wanted))
    write_managers(result, managers, api_version)
    return result


def record_update(before: Obj | None, after: Obj, manager: str, api_version: str, skip_status: bool) -> Obj:
    """Ownership after a non-apply write (create, update, merge patch) by ``manager``."""
    managers = read_managers(before)
    old = _owned(leaf_paths(before or {}), skip_status)
    new = _owned(leaf_paths(after), skip_status)
    changed = {p for p, v in new.items() if old.get(p, _MISSING) != v}
    for other, (_, paths) in managers.items():
        if other != manager:
            paths -= changed
        paths &= set(new)
    operation, mine = managers.get(manager, ("Update", set()))
    managers[manager] = ("Update" if operation != "Apply" else operation, (mine & set(new)) | changed)
    write_managers(after, managers, api_version)
    return after


_MISSING = object()


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """kubectl's strategic merge patch, approximated: a merge patch where ``$patch``/``$retainKeys``
    directives are dropped and lists are replaced (the lab's commands send none that merge lists)."""
    if isinstance(patch, dict):
        patch = {k: v for k, v in patch.items() if not k.startswith("$")}
    return merge_patch(target, patch)


def json_patch(target: Any, operations: list[dict[str, Any]]) -> Any:
    """RFC 6902 add/replace/remove on maps (enough for kubectl's --type=json with map paths)."""
    result = copy.deepcopy(target)
    for operation in operations:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].lstrip("/").split("/")]
        node = result
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        last = parts[-1]
        if operation["op"] in ("add", "replace"):
            if isinstance(node, list):
                index = len(node) if last == "-" else int(last)
                node.insert(index, operation["value"]) if operation["op"] == "add" else node.__setitem__(
                    index, operation["value"]
                )
            else:
                node[last] = operation["value"]
        elif operation["op"] == "remove":
            if isinstance(node, list):
                node.pop(int(last))
            else:
                node.pop(last, None)
    return result


def decode_body(body: bytes, content_type: str) -> Any:
    """kubectl sends apply configurations as JSON even under the apply-patch+yaml type."""
    text = body.decode("utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        import yaml

        return yaml.safe_load(text)
