"""OpenAPI links: what a client does next with what an operation gave back, e.g. the
name of a created image to its PATCH and DELETE. ``web.openapi`` puts them on each
operation's success response; schemathesis' stateful mode follows them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from web.auth import PREFIX


@dataclass(frozen=True, slots=True)
class Link:
    """An OpenAPI link: ``target`` (an ``OPERATIONS`` key) takes its path parameter
    ``param`` from the source's success body at ``pointer`` (a JSON pointer)."""

    target: str
    param: str
    pointer: str


def _links(source_pointer: str, param: str, *targets: str) -> tuple[Link, ...]:
    return tuple(Link(target, param, source_pointer) for target in targets)


_IMAGE = f"{PREFIX}/storage/images/{{name}}"
_PORT = f"{PREFIX}/ports/{{id}}"
_USER = f"{PREFIX}/users/{{name}}"
# A created image, token or user, a listed port or user → the operations on it.
LINKS: dict[str, tuple[Link, ...]] = {
    f"POST {PREFIX}/storage/images": _links("/name", "name", f"PATCH {_IMAGE}", f"DELETE {_IMAGE}"),
    f"PUT {_IMAGE}": _links("/name", "name", f"PATCH {_IMAGE}", f"DELETE {_IMAGE}"),
    f"GET {PREFIX}/storage/images": _links(
        "/images/0/name", "name", f"PATCH {_IMAGE}", f"DELETE {_IMAGE}"
    ),
    f"POST {PREFIX}/auth/tokens": _links("/id", "id", f"DELETE {PREFIX}/auth/tokens/{{id}}"),
    f"GET {PREFIX}/auth/tokens": _links(
        "/tokens/0/id", "id", f"DELETE {PREFIX}/auth/tokens/{{id}}"
    ),
    f"GET {PREFIX}/ports": _links(
        "/ports/0/id",
        "id",
        f"GET {_PORT}",
        f"PATCH {_PORT}",
        f"GET {_PORT}/target",
        f"GET {_PORT}/screen",
        f"GET {_PORT}/edid",
        f"PUT {_PORT}/edid",
    ),
    f"POST {PREFIX}/users": _links(
        "/name", "name", f"GET {_USER}", f"PATCH {_USER}", f"DELETE {_USER}"
    ),
    f"GET {PREFIX}/users": _links("/users/0/name", "name", f"GET {_USER}", f"PATCH {_USER}"),
}


def split_key(key: str) -> tuple[str, str]:
    method, _, path = key.partition(" ")
    return method, path


def operation_id(key: str) -> str:
    method, path = split_key(key)
    return f"{method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', path)}".rstrip("_")


def link_docs(key: str, present: set[str]) -> dict[str, Any]:
    """The ``links`` of ``key``'s success response, to the operations in ``present``."""
    return {
        operation_id(link.target): {
            "operationId": operation_id(link.target),
            "parameters": {f"path.{link.param}": f"$response.body#{link.pointer}"},
        }
        for link in LINKS.get(key, ())
        if link.target in present
    }
