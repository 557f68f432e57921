"""Request schemas and their validator.

The schemas are plain JSON Schema (the subset below), written once and used twice: to check
every request body and query, and to describe the route in /v1/openapi.json. Objects never
accept unknown keys, so a typo is a 400 rather than a silent default.

Supported: type (object, array, string, integer, number, boolean), properties, required,
additionalProperties (a schema, for maps), items, enum, minimum, maximum, minLength, maxLength,
minItems, maxItems, nullable, default, description; and one tagged union (`tagged()`: oneOf
with a discriminator property naming the alternative, as OpenAPI spells it).
"""

from __future__ import annotations

import difflib
from typing import Any

from bureau_agent.errors import InvalidRequest

Schema = dict[str, Any]

_TYPE_NAMES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
}


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    schema.update(extra)
    return schema


def _bounded(schema: Schema, **bounds: int | None) -> Schema:
    """schema with each bound that is given (None: no such keyword)."""
    schema.update({name: value for name, value in bounds.items() if value is not None})
    return schema


def integer(minimum: int | None = None, maximum: int | None = None, **extra: Any) -> Schema:
    return _bounded({"type": "integer", **extra}, minimum=minimum, maximum=maximum)


def string(max_length: int | None = None, *, min_length: int | None = None, **extra: Any) -> Schema:
    return _bounded({"type": "string", **extra}, maxLength=max_length, minLength=min_length)


def enum(*values: str, **extra: Any) -> Schema:
    return {"type": "string", "enum": list(values), **extra}


def array(items: Schema, max_items: int | None = None, *, min_items: int | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "array", "items": items, **extra}
    if max_items is not None:
        schema["maxItems"] = max_items
    if min_items is not None:
        schema["minItems"] = min_items
    return schema


def tagged(tag: str, alternatives: dict[str, Schema], **extra: Any) -> Schema:
    """An object that is one of several object schemas, chosen by its `tag` property (a string
    naming the alternative). Each alternative is its own schema plus that property, so the
    alternatives are not copied, only composed."""
    variants = []
    for name, schema in alternatives.items():
        variant = dict(schema)
        variant["properties"] = {tag: enum(name), **schema.get("properties", {})}
        variant["required"] = [tag, *schema.get("required", ())]
        variants.append(variant)
    return {"type": "object", "oneOf": variants, "discriminator": {"propertyName": tag}, **extra}


def _alternative(value: Any, schema: Schema, where: str) -> Schema:
    tag = schema["discriminator"]["propertyName"]
    prefix = "" if where == "body" else where + "."
    names = [variant["properties"][tag]["enum"][0] for variant in schema["oneOf"]]
    if tag not in value:
        raise InvalidRequest(f"{prefix}{tag} is required (one of: {', '.join(names)}).", details={"field": prefix + tag})
    if value[tag] not in names:
        raise InvalidRequest(f"{prefix}{tag} must be one of: {', '.join(names)}.", details={"field": prefix + tag})
    return schema["oneOf"][names.index(value[tag])]  # type: ignore[no-any-return]


def validate(value: Any, schema: Schema, where: str = "body") -> Any:
    """Check value against schema; raise InvalidRequest naming the first offending field."""
    if value is None and schema.get("nullable"):
        return value
    if "oneOf" in schema and "discriminator" in schema:
        if not isinstance(value, dict):
            raise InvalidRequest(f"{where} must be an object.", details={"field": where})
        return validate(value, _alternative(value, schema, where), where)
    kind = schema.get("type")
    if kind is not None and not _is_type(value, kind):
        raise InvalidRequest(f"{where} must be {_TYPE_NAMES[kind]}.", details={"field": where})
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(map(str, schema["enum"]))
        raise InvalidRequest(f"{where} must be one of: {choices}.", details={"field": where})
    if kind in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            raise InvalidRequest(f"{where} must be at least {schema['minimum']}.", details={"field": where})
        if "maximum" in schema and value > schema["maximum"]:
            raise InvalidRequest(f"{where} must be at most {schema['maximum']}.", details={"field": where})
    elif kind == "string":
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise InvalidRequest(
                f"{where} must have at least {schema['minLength']} characters.", details={"field": where}
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise InvalidRequest(
                f"{where} must have at most {schema['maxLength']} characters.", details={"field": where}
            )
        if "\x00" in value and not schema.get("allowNul", False):
            raise InvalidRequest(f"{where} must not contain NUL characters.", details={"field": where})
        _check_unicode(value, where)
    elif kind == "array":
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise InvalidRequest(f"{where} must have at least {schema['minItems']} items.", details={"field": where})
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise InvalidRequest(f"{where} must have at most {schema['maxItems']} items.", details={"field": where})
        for i, item in enumerate(value):
            validate(item, schema["items"], f"{where}[{i}]")
    elif kind == "object":
        _validate_object(value, schema, where)
    return value


def _validate_object(value: dict[str, Any], schema: Schema, where: str) -> None:
    props: dict[str, Schema] = schema.get("properties", {})
    extra = schema.get("additionalProperties", False)
    prefix = "" if where == "body" else where + "."
    if not isinstance(extra, dict):
        # Unknown fields first: a misspelt field usually explains the "missing" one.
        for key in value:
            if key not in props:
                _check_unicode(key, where)
                raise _unknown_field(prefix + key, key, props)
    for key in schema.get("required", ()):
        if key not in value:
            raise InvalidRequest(f"{prefix}{key} is required.", details={"field": prefix + key})
    for key, item in value.items():
        if key not in props:
            _check_unicode(key, where)
        validate(item, props[key] if key in props else extra, prefix + key)


def _unknown_field(field: str, key: str, props: dict[str, Schema], noun: str = "field") -> InvalidRequest:
    near = difflib.get_close_matches(key, list(props), n=1, cutoff=0.6)
    if not near:  # case slips (`Keys`, `delayms`) are the commonest typo of all
        near = [name for name in props if name.lower() == key.lower()][:1]
    hint = f" (did you mean '{near[0]}'?)" if near else f"; known {noun}s: {', '.join(props) or 'none'}"
    details: dict[str, Any] = {"field": field}
    if near:
        details["suggestion"] = near[0]
    return InvalidRequest(f"unknown {noun} '{field}'{hint}.", details=details)


def _check_unicode(text: str, where: str) -> None:
    """Every string goes on as UTF-8 (to commands, X, agents, logs); a lone surrogate, which JSON
    can spell as "\\ud800", cannot, so it is refused here once for every route."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest(f"{where} is not valid Unicode (a lone surrogate).", details={"field": where}) from None


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    raise ValueError(f"unsupported schema type {kind}")


def parse_query(query: dict[str, str], params: dict[str, Schema]) -> dict[str, Any]:
    """Coerce query-string values to their schema types, then validate them.

    Unknown parameters are rejected like unknown body fields, and first, with the same
    did-you-mean (`?fromat=png` is told about `format`).
    """
    for name in query:
        if name not in params:
            _check_unicode(name, "query")
            raise _unknown_field(name, name, params, noun="query parameter")
    result: dict[str, Any] = {}
    for name, text in query.items():
        schema = params[name]
        kind = schema.get("type")
        value: Any = text
        if kind == "integer":
            try:
                value = int(text)
            except ValueError:
                raise InvalidRequest(f"{name} must be an integer.", details={"field": name}) from None
        elif kind == "boolean":
            if text.lower() not in ("true", "false", "1", "0"):
                raise InvalidRequest(f"{name} must be true or false.", details={"field": name})
            value = text.lower() in ("true", "1")
        result[name] = validate(value, schema, name)
    return result
