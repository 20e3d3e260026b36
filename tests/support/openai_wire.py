"""The OpenAI wire format for the fake servers: reading a chat request, and filling a JSON schema.

:func:`fill_schema` builds a deterministic object that validates against a schema (the tool or
``response_format`` schema of a structured-output request); :func:`invalid_for_schema` one that does
not; :func:`default_responder` answers any chat request with them. Standard library only.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

__all__ = [
    "default_responder",
    "digest",
    "fill_schema",
    "invalid_for_schema",
    "last_user_text",
    "response_schema",
    "selected_tool",
    "text_of",
    "tool_schema",
]

_MAX_DEPTH = 6


# --------------------------------------------------------------------------- #
# Request helpers
# --------------------------------------------------------------------------- #
def text_of(content: Any) -> str:
    """Text of a message ``content`` (a string or a list of content parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return str(content)


def last_user_text(request: dict[str, Any]) -> str:
    """Text of the last ``user`` message of a chat-completions request ("" if none)."""
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def selected_tool(request: dict[str, Any]) -> dict[str, Any] | None:
    """The function spec the model "decides" to call, or None for a text answer.

    ``tool_choice`` naming a function wins; ``"none"`` means text; otherwise the
    first tool is called -- unless the last message is a tool result (so that a
    simple agent loop terminates).
    """
    tools = [t for t in request.get("tools") or [] if isinstance(t, dict) and t.get("type", "function") == "function"]
    if not tools:
        return None
    choice = request.get("tool_choice")
    if choice == "none":
        return None
    functions = [t.get("function") or {} for t in tools]
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        for fn in functions:
            if fn.get("name") == name:
                return fn
    messages = request.get("messages") or []
    if choice in (None, "auto") and messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool":
        return None
    return functions[0]


def tool_schema(request: dict[str, Any], name: str) -> dict[str, Any] | None:
    for tool in request.get("tools") or []:
        fn = (tool or {}).get("function") or {}
        if fn.get("name") == name:
            return fn.get("parameters") or {"type": "object", "properties": {}}
    return None


def response_schema(request: dict[str, Any]) -> dict[str, Any] | None:
    fmt = request.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema") or {"type": "object", "properties": {}}
    return None


# --------------------------------------------------------------------------- #
# JSON-schema filling
# --------------------------------------------------------------------------- #
def digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class _Filler:
    def __init__(self, root: dict[str, Any], seed: str) -> None:
        self.root = root
        self.seed = seed

    def resolve(self, schema: Any) -> Any:
        """Follow local ``$ref`` pointers (``#/$defs/X``, ``#/definitions/X``) and merge siblings."""
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            seen += 1
            ref = schema["$ref"]
            target: Any = self.root
            if isinstance(ref, str) and ref.startswith("#"):
                for token in ref.lstrip("#").strip("/").split("/"):
                    if not token:
                        continue
                    token = token.replace("~1", "/").replace("~0", "~")
                    target = target.get(token, {}) if isinstance(target, dict) else {}
            else:
                target = {}
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**(target if isinstance(target, dict) else {}), **siblings}
        return schema

    def merge_all_of(self, schema: dict[str, Any]) -> dict[str, Any]:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for sub in schema.get("allOf") or []:
            sub = self.resolve(sub)
            if not isinstance(sub, dict):
                continue
            sub = self.merge_all_of(sub)
            for key, value in sub.items():
                if key == "properties":
                    merged["properties"] = {**value, **merged.get("properties", {})}
                elif key == "required":
                    merged["required"] = sorted(set(merged.get("required", [])) | set(value))
                else:
                    merged.setdefault(key, value)
        return merged

    def normalize(self, schema: Any) -> tuple[dict[str, Any], str | None]:
        """Resolved schema (anyOf/oneOf -> first non-null branch) and its type."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return {}, "string"
        if "allOf" in schema:
            schema = self.merge_all_of(schema)
        for key in ("anyOf", "oneOf"):
            if key in schema and "const" not in schema and "enum" not in schema:
                options = [self.resolve(o) for o in schema[key]]
                # Skip null and unconstrained ``{}`` branches (LangChain replaces recursive refs by ``{}``).
                concrete = [o for o in options if isinstance(o, dict) and o and o.get("type") != "null"]
                has_null = any(isinstance(o, dict) and o.get("type") == "null" for o in options)
                if concrete:
                    chosen = concrete[0]
                elif has_null:
                    chosen = {"type": "null"}
                else:
                    chosen = options[0] if options else {}
                rest = {k: v for k, v in schema.items() if k != key}
                return self.normalize({**rest, **chosen} if isinstance(chosen, dict) else rest)
        kind = schema.get("type")
        if isinstance(kind, list):
            non_null = [t for t in kind if t != "null"]
            kind = non_null[0] if non_null else "null"
        if kind is None:
            if "properties" in schema or "additionalProperties" in schema:
                kind = "object"
            elif "items" in schema or "prefixItems" in schema:
                kind = "array"
            elif "const" not in schema and "enum" not in schema:
                kind = "string"
        return schema, kind

    def nullable(self, schema: Any) -> bool:
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return False
        kind = schema.get("type")
        if kind == "null" or (isinstance(kind, list) and "null" in kind):
            return True
        return any(
            isinstance(self.resolve(o), dict) and self.resolve(o).get("type") == "null"
            for o in (schema.get("anyOf") or []) + (schema.get("oneOf") or [])
        )

    def value(self, schema: Any, path: str = "$", depth: int = 0) -> Any:
        if depth > _MAX_DEPTH and self.nullable(schema):
            return None
        schema, kind = self.normalize(schema)
        if "const" in schema:
            return copy.deepcopy(schema["const"])
        if schema.get("enum"):
            return copy.deepcopy(schema["enum"][0])
        h = digest(self.seed, path)
        if kind == "object":
            return self._object(schema, path, depth)
        if kind == "array":
            return self._array(schema, path, depth, h)
        if kind == "integer":
            return int(self._number(schema, 1, integer=True))
        if kind == "number":
            return float(self._number(schema, 1.0, integer=False))
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self._string(schema, path, h)

    def _object(self, schema: dict[str, Any], path: str, depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        out: dict[str, Any] = {}
        for name, sub in properties.items():
            if depth >= _MAX_DEPTH and name not in required:
                continue
            out[name] = self.value(sub, f"{path}.{name}", depth + 1)
        extra = schema.get("additionalProperties")
        if not properties and isinstance(extra, dict) and depth < _MAX_DEPTH:
            out["key"] = self.value(extra, f"{path}.key", depth + 1)
        return out

    def _array(self, schema: dict[str, Any], path: str, depth: int, h: str) -> list[Any]:
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            return [self.value(s, f"{path}[{i}]", depth + 1) for i, s in enumerate(prefix)]
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        n = 0 if depth >= _MAX_DEPTH else 1 + int(h[0], 16) % 2
        n = max(n, low)
        if high is not None:
            n = min(n, int(high))
        items = schema.get("items", {})
        return [self.value(items, f"{path}[{i}]", depth + 1) for i in range(n)]

    @staticmethod
    def _number(schema: dict[str, Any], default: float, *, integer: bool) -> float:
        value = default
        step = 1 if integer else 0.5
        if "minimum" in schema and value < schema["minimum"]:
            value = schema["minimum"]
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            value = schema["exclusiveMinimum"] + step
        if "maximum" in schema and value > schema["maximum"]:
            value = schema["maximum"]
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            value = schema["exclusiveMaximum"] - step
        if integer:
            value = int(value) if float(value).is_integer() else int(value) + 1
        return value

    @staticmethod
    def _string(schema: dict[str, Any], path: str, h: str) -> str:
        fmt = schema.get("format")
        if fmt == "date-time":
            return "2024-01-02T03:04:05Z"
        if fmt == "date":
            return "2024-01-02"
        if fmt == "time":
            return "03:04:05"
        if fmt == "email":
            return f"x{h[:6]}@example.com"
        if fmt in ("uri", "url"):
            return f"https://example.com/x{h[:6]}"
        if fmt == "uuid":
            return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"
        name = path.rsplit(".", 1)[-1].split("[", 1)[0]
        text = f"x-{name}-{h[:8]}" if name and name != "$" else f"x-{h[:8]}"
        min_len = int(schema.get("minLength", 0))
        if len(text) < min_len:
            text += "x" * (min_len - len(text))
        if "maxLength" in schema:
            text = text[: int(schema["maxLength"])]
        return text


def fill_schema(schema: dict[str, Any], seed: str = "") -> Any:
    """A deterministic value that satisfies the (JSON-Schema) ``schema``.

    Strings are ``"x-<field>-<hash>"`` placeholders derived from ``seed`` and
    the field path, arrays get 1-2 items, numbers are 1, enums take their first
    value, ``$ref``/``$defs``/``allOf``/``anyOf`` are resolved.
    """
    return _Filler(schema, seed).value(schema)


def _wrong_value(filler: _Filler, schema: Any) -> Any:
    """A value of the wrong JSON type for ``schema``."""
    schema, kind = filler.normalize(schema)
    if schema.get("enum") or "const" in schema:
        return ["__not_allowed__"]
    return {
        "string": [12345],
        "integer": "not-a-number",
        "number": "not-a-number",
        "boolean": "not-a-boolean",
        "array": "not-an-array",
        "object": "not-an-object",
        "null": "not-null",
    }.get(kind or "string", ["__invalid__"])


def invalid_for_schema(schema: dict[str, Any], seed: str = "") -> Any:
    """A JSON value that fails ``schema``: required fields dropped, other fields mistyped.

    For an object schema with no properties at all, a JSON array (not an object)
    is returned.
    """
    filler = _Filler(schema, seed)
    resolved, kind = filler.normalize(schema)
    if kind != "object":
        return _wrong_value(filler, resolved)
    properties = resolved.get("properties") or {}
    required = set(resolved.get("required") or [])
    out = {name: _wrong_value(filler, sub) for name, sub in properties.items() if name not in required}
    if not required and not out:
        return ["__invalid__"]
    return out


# --------------------------------------------------------------------------- #
# Default responder
# --------------------------------------------------------------------------- #
def default_responder(request: dict[str, Any]) -> dict[str, Any]:
    """Schema-aware deterministic answers.

    * a selected tool (``tool_choice`` naming it, or the first tool -- see
      :func:`selected_tool`) -> one tool call whose arguments fill its schema;
    * ``response_format`` ``json_schema`` -> JSON content filling the schema;
    * ``response_format`` ``json_object`` -> ``"{}"``;
    * otherwise ``"Fake answer to: <last user text>"`` (first 200 chars).
    """
    seed = last_user_text(request)
    tool = selected_tool(request)
    if tool is not None:
        params = tool.get("parameters") or {"type": "object", "properties": {}}
        return {"tool_calls": [{"name": tool.get("name", "tool"), "arguments": fill_schema(params, seed)}]}
    schema = response_schema(request)
    if schema is not None:
        return {"content": json.dumps(fill_schema(schema, seed))}
    fmt = request.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return {"content": "{}"}
    return {"content": f"Fake answer to: {seed[:200]}"}
