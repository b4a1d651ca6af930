"""The JSON Schema (draft 2020-12) of the spec language, for editors and CI.

Generated from the pydantic models; layers get one schema per op kind from the op registry
(their attributes accept numbers or expression strings).  Editors with the YAML language
server read it from a comment on a spec's first line::

    # yaml-language-server: $schema=../archspec.schema.json
"""

from __future__ import annotations

import copy
from typing import Any

from archspec.ir.ops import REGISTRY
from archspec.spec import model as M

DIALECT = "https://json-schema.org/draft/2020-12/schema"
EXPRESSION = {"type": "string", "description": "an expression over block parameters, e.g. width * 4"}


def _loosen(schema: dict[str, Any]) -> dict[str, Any]:
    """Numbers in op attributes may be written as expressions."""
    schema = copy.deepcopy(schema)
    if schema.get("type") in ("integer", "number"):
        return {
            "anyOf": [schema, EXPRESSION],
            **({"description": schema["description"]} if "description" in schema else {}),
        }
    for key in ("anyOf", "oneOf", "prefixItems"):
        if key in schema:
            schema[key] = [_loosen(s) for s in schema[key]]
    if "items" in schema and isinstance(schema["items"], dict):
        schema["items"] = _loosen(schema["items"])
    return schema


_INT = {"anyOf": [{"type": "integer"}, EXPRESSION]}
_PAIR = {
    "anyOf": [
        {"type": "integer", "minimum": 1},
        EXPRESSION,
        {"type": "array", "items": _INT, "minItems": 2, "maxItems": 2},
    ],
    "description": "a number, or a pair [height, width]",
}
_PADDING = {
    "anyOf": [
        {"type": "integer", "minimum": 0},
        EXPRESSION,
        {"enum": ["same", "valid"]},
        {"type": "array", "items": _INT, "minItems": 2, "maxItems": 2},
        {
            "type": "array",
            "minItems": 2,
            "maxItems": 2,
            "items": {"type": "array", "items": _INT, "minItems": 2, "maxItems": 2},
        },
        {"type": "array", "items": _INT, "minItems": 4, "maxItems": 4},
    ],
    "description": "n, [h, w], [[top, bottom], [left, right]], 'same' (TensorFlow's rule) or 'valid'",
}
_OVERRIDES = {
    "kernel": _PAIR,
    "stride": {**_PAIR, "description": "a number or a pair (pooling: default the kernel)"},
    "dilation": _PAIR,
    "padding": _PADDING,
    "pad_value": {
        "anyOf": [{"const": "-inf"}, {"const": 0}, {"type": "number"}],
        "description": "-inf (PyTorch) or 0 (Keras ZeroPadding2D)",
    },
}


def _partial(schema: Any) -> Any:
    """The schema with every 'required' dropped and every reference pointing at the partial
    definitions: a variant (with `extends:`) may omit anything its base provides."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "required":
                continue
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                value = value + "Partial"
            out[key] = _partial(value)
        return out
    if isinstance(schema, list):
        return [_partial(v) for v in schema]
    return schema


def _layer_schemas(base: dict[str, Any]) -> list[dict[str, Any]]:
    common = base["properties"]
    out = []
    for kind, op in REGISTRY.items():
        attrs = op.attrs.model_json_schema()
        props = {name: _loosen(s) for name, s in attrs.get("properties", {}).items()}
        for s in props.values():
            s.pop("title", None)
        for name, override in _OVERRIDES.items():
            if name in props:
                props[name] = override
        properties = {
            **{k: v for k, v in common.items() if k != "op"},
            **props,
            "op": {"const": kind, "description": op.doc},
        }
        out.append(
            {
                "type": "object",
                "title": kind,
                "properties": properties,
                "required": ["op", *[r for r in attrs.get("required", [])]],
                "additionalProperties": False,
                "$defs": attrs.get("$defs", {}),
            }
        )
    return out


def spec_schema() -> dict[str, Any]:
    schema = M.Spec.model_json_schema(by_alias=True)
    defs = schema.setdefault("$defs", {})
    layer = defs["Layer"]
    variants = _layer_schemas(layer)
    for variant in variants:  # hoist nested $defs of attribute models
        defs.update(variant.pop("$defs"))
    defs["Layer"] = {
        "description": layer.get("description", "one op"),
        "type": "object",
        "required": ["op"],
        "properties": {"op": {"enum": sorted(REGISTRY)}},
        "oneOf": variants,
    }
    block = defs["BlockDef"]["properties"]
    block["shortcut"] = {
        "anyOf": [block["shortcut"], {"$ref": "#/$defs/ShortcutCase"}],
        "description": block["shortcut"].get("description", ""),
    }
    body = {k: v for k, v in schema.items() if k not in ("title", "$defs")}
    variant = _partial(body)
    defs.update({f"{name}Partial": _partial(d) for name, d in list(defs.items())})
    return {
        "$schema": DIALECT,
        "$id": "https://archspec.dev/schema/spec-1.json",
        "title": "archspec spec, language version 1",
        "$defs": defs,
        "if": {"required": ["extends"]},
        "then": variant,
        "else": body,
    }


def block_file_schema() -> dict[str, Any]:
    schema = M.BlockFile.model_json_schema(by_alias=True)
    schema["$defs"]["Layer"] = spec_schema()["$defs"]["Layer"]
    return {"$schema": DIALECT, **schema}
