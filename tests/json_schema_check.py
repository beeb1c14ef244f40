"""A small JSON Schema (2020-12) checker for the keywords host_tools/cli/cmsim-json.schema.json uses,
written from the specification (json-schema.org, "JSON Schema Validation"), since jsonschema is no
dependency of the project. An unknown keyword is an error, so the schema cannot use one that nothing
checks."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["problems"]

_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "$defs", "x-cmsim-commands"})


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported: {ref}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return dict(node)


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1."""
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def problems(value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, where: str = "$") -> list[str]:
    """Every way ``value`` fails ``schema``, as 'path: why'; empty when it is valid."""
    root = schema if root is None else root
    out: list[str] = []
    for keyword, arg in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        if keyword == "$ref":
            out += problems(value, _resolve(root, arg), root, where)
        elif keyword == "type":
            names = arg if isinstance(arg, list) else [arg]
            if not any(_TYPES[n](value) for n in names):
                out.append(f"{where}: {value!r} is not of type {arg}")
        elif keyword == "enum":
            if not any(_equal(value, e) for e in arg):
                out.append(f"{where}: {value!r} is not one of {arg}")
        elif keyword == "const":
            if not _equal(value, arg):
                out.append(f"{where}: {value!r} is not {arg!r}")
        elif keyword == "pattern":
            if isinstance(value, str) and re.search(arg, value) is None:
                out.append(f"{where}: {value!r} does not match {arg}")
        elif keyword == "minLength":
            if isinstance(value, str) and len(value) < arg:
                out.append(f"{where}: shorter than {arg}")
        elif keyword == "minimum":
            if _TYPES["number"](value) and value < arg:
                out.append(f"{where}: {value} is below {arg}")
        elif keyword == "required":
            if isinstance(value, dict):
                out += [f"{where}: {name!r} is required" for name in arg if name not in value]
        elif keyword == "properties":
            if isinstance(value, dict):
                for name, sub in arg.items():
                    if name in value:
                        out += problems(value[name], sub, root, f"{where}.{name}")
        elif keyword == "additionalProperties":
            if isinstance(value, dict):
                known = schema.get("properties", {})
                for name in value:
                    if name not in known:
                        if arg is False:
                            out.append(f"{where}: {name!r} is not allowed")
                        elif isinstance(arg, dict):
                            out += problems(value[name], arg, root, f"{where}.{name}")
        elif keyword in ("minProperties", "maxProperties"):
            if isinstance(value, dict) and (len(value) < arg if keyword == "minProperties" else len(value) > arg):
                out.append(f"{where}: {len(value)} members, {keyword} {arg}")
        elif keyword == "items":
            if isinstance(value, list):
                for i, item in enumerate(value):
                    out += problems(item, arg, root, f"{where}[{i}]")
        elif keyword == "allOf":
            for sub in arg:
                out += problems(value, sub, root, where)
        elif keyword == "anyOf":
            if all(problems(value, sub, root, where) for sub in arg):
                out.append(f"{where}: matches none of anyOf")
        elif keyword == "not":
            if not problems(value, arg, root, where):
                out.append(f"{where}: matches a 'not' schema")
        else:
            raise ValueError(f"{where}: keyword {keyword!r} is not supported by this checker")
    return out
