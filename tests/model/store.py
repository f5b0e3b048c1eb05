"""The model's object store: one resourceVersion counter, an event log for watches, generations, uids.

Objects are stored by (group, plural) and (namespace, name), whatever version they were
written through. Every write bumps the global resourceVersion and appends a watch event;
watchers block on a condition variable until an event they care about arrives or they time out.
Objects are kept as JSON text, as etcd keeps them serialized: every read is a fresh copy, and
decoding is much cheaper than deep-copying the large CRD schemas.
"""

from __future__ import annotations

import builtins
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

Obj = dict[str, Any]
TypeKey = tuple[str, str]  # (group, plural)
ObjKey = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    resource_version: int
    type: str  # ADDED, MODIFIED, DELETED
    type_key: TypeKey
    text: str  # the object, as JSON

    @property
    def obj(self) -> Obj:
        decoded: Obj = json.loads(self.text)
        return decoded


class Store:
    """Thread-safe; ``lock`` is re-entrant so a request handler may read and write under one hold."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._objects: dict[TypeKey, dict[ObjKey, str]] = {}
        self._events: list[Event] = []
        self._version = 1

    # -- reading ---------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._version

    def get(self, type_key: TypeKey, namespace: str, name: str) -> Obj | None:
        with self.lock:
            found = self._objects.get(type_key, {}).get((namespace, name))
        if found is None:
            return None
        decoded: Obj = json.loads(found)
        return decoded

    def list(self, type_key: TypeKey, namespace: str | None = None) -> list[Obj]:
        """Objects of a type, in one namespace or all (sorted by namespace and name, as etcd keys are)."""
        with self.lock:
            items = self._objects.get(type_key, {})
            texts = [items[k] for k in sorted(k for k in items if namespace is None or k[0] == namespace)]
        return [json.loads(text) for text in texts]

    def keys(self, type_key: TypeKey) -> builtins.list[ObjKey]:  # ``list`` here is the method above
        """(namespace, name) of every object of a type, without decoding them."""
        with self.lock:
            return sorted(self._objects.get(type_key, {}))

    def namespaces_with_objects(self, namespace: str) -> Iterator[tuple[TypeKey, str]]:
        with self.lock:
            for type_key, items in self._objects.items():
                for ns, name in list(items):
                    if ns == namespace:
                        yield type_key, name

    # -- writing ---------------------------------------------------------------------------------

    def _bump(self) -> int:
        self._version += 1
        return self._version

    def put(self, type_key: TypeKey, obj: Obj, *, spec_changed: bool | None = None) -> Obj:
        """Create or replace ``obj``; fills uid, creationTimestamp, generation and resourceVersion."""
        with self.lock:
            meta = obj.setdefault("metadata", {})
            key = (str(meta.get("namespace") or ""), str(meta["name"]))
            old_text = self._objects.get(type_key, {}).get(key)
            old = json.loads(old_text) if old_text is not None else None
            if old is None:
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault("creationTimestamp", now_iso())
                meta["generation"] = 1
                kind = "ADDED"
            else:
                old_meta = old["metadata"]
                meta["uid"] = old_meta["uid"]
                meta["creationTimestamp"] = old_meta["creationTimestamp"]
                changed = spec_changed if spec_changed is not None else _spec(old) != _spec(obj)
                meta["generation"] = int(old_meta.get("generation", 1)) + (1 if changed else 0)
                kind = "MODIFIED"
            meta["resourceVersion"] = str(self._bump())
            text = json.dumps(obj)
            self._objects.setdefault(type_key, {})[key] = text
            self._events.append(Event(self._version, kind, type_key, text))
            self.changed.notify_all()
            decoded: Obj = json.loads(text)
            return decoded

    def remove(self, type_key: TypeKey, namespace: str, name: str) -> Obj | None:
        with self.lock:
            text = self._objects.get(type_key, {}).pop((namespace, name), None)
            if text is None:
                return None
            old: Obj = json.loads(text)
            old["metadata"]["resourceVersion"] = str(self._bump())
            self._events.append(Event(self._version, "DELETED", type_key, json.dumps(old)))
            self.changed.notify_all()
            return old

    def drop_type(self, type_key: TypeKey) -> None:
        with self.lock:
            for namespace, name in list(self._objects.get(type_key, {})):
                self.remove(type_key, namespace, name)

    # -- watching --------------------------------------------------------------------------------

    def events_after(
        self, version: int, wanted: Callable[[Event], bool], timeout: float, stop: threading.Event
    ) -> Iterator[Event]:
        """Events newer than ``version`` that ``wanted`` accepts, until ``timeout`` or ``stop``."""
        deadline = time.monotonic() + timeout
        seen = version
        while not stop.is_set():
            with self.lock:
                fresh = [e for e in self._events if e.resource_version > seen]
                if not fresh:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return
                    self.changed.wait(min(left, 0.5))
                    continue
            for event in fresh:
                seen = event.resource_version
                if wanted(event):
                    yield event


def _spec(obj: Obj) -> Any:
    """What counts for ``metadata.generation``: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}
