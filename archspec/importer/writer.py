"""The recovered spec as YAML text, laid out like the hand-written specs (one layer a line)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*( (\*|//|\+|-|!=|==|or|and) [A-Za-z0-9_.]+)*")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return "-.inf" if value < 0 else ".inf"
        if value == int(value) and abs(value) < 1e15:
            return f"{value:.1f}"
        text = repr(value)
        if "e" in text:
            mantissa, exponent = text.split("e")
            if "." not in mantissa:
                mantissa += ".0"
            text = f"{mantissa}e{int(exponent)}"
        return text
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key(k)}: {scalar(v)}" for k, v in value.items() if not str(k).startswith("_")) + "}"
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text)


def key(k: Any) -> str:
    text = str(k)
    return text if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text) else json.dumps(text)


def _layers(layers: list[dict], indent: int, annotate: bool) -> list[str]:
    pad = " " * indent
    out = []
    for layer in layers:
        shown = {k: v for k, v in layer.items() if not k.startswith("_")}
        line = f"{pad}- {scalar(shown)}"
        if layer.get("op") == "unmapped":
            line += "  # UNMAPPED: no archspec op computes this layer"
        elif annotate and layer.get("_origin"):
            line += f"  # {layer['_origin']}"
        out.append(line)
    return out


def render(spec: dict[str, Any], header: list[str], annotate: bool = False) -> str:
    """The spec's text; ``annotate`` ends each layer's line with the original's module path
    (or layer name) and the Python line that made it, for diagnostics on imported models."""
    lines = [f"# {h}" if h else "#" for h in header]
    lines.append("archspec: 1")
    lines.append(f"name: {spec['name']}")
    if spec.get("doc"):
        lines.append(f"doc: {json.dumps(spec['doc'])}")
    lines.append(f"input: {scalar(spec['input'])}")
    if spec.get("vars"):
        lines.append(f"vars: {scalar(spec['vars'])}")
    if spec.get("defaults"):
        lines.append("defaults:")
        for op, attrs in spec["defaults"].items():
            lines.append(f"  {op}: {scalar(attrs)}")
    if spec.get("blocks"):
        lines.append("blocks:")
        for name, block in spec["blocks"].items():
            lines.append(f"  {key(name)}:")
            for k, v in block.items():
                if k in ("body", "post"):
                    lines.append(f"    {k}:")
                    lines.extend(_layers(v, 6, annotate))
                elif k == "shortcut":
                    lines.append("    shortcut:")
                    for case in v:
                        first = True
                        for ck, cv in case.items():
                            lead = "      - " if first else "        "
                            first = False
                            if ck == "layers":
                                if cv:
                                    lines.append(f"{lead}layers:")
                                    lines.extend(_layers(cv, 10, annotate))
                                else:
                                    lines.append(f"{lead}layers: []")
                            else:
                                lines.append(f"{lead}{ck}: {scalar(cv)}")
                else:
                    lines.append(f"    {k}: {scalar(v)}")
    for part in ("stem",):
        if spec.get(part):
            lines.append(f"{part}:")
            lines.extend(_layers(spec[part], 2, annotate))
    stages = spec.get("stages")
    if isinstance(stages, dict):
        lines.append("stages:")
        for k, v in stages.items():
            if k == "table":
                lines.append("  table:")
                origins = stages.get("_origins", [])
                for r, row in enumerate(v):
                    note = f"  # {origins[r]}" if annotate and r < len(origins) else ""
                    lines.append(f"    - {scalar(row)}{note}")
            elif k.startswith("_"):
                continue
            elif k == "overrides":
                lines.append("  overrides:")
                lines.extend(f"    {json.dumps(ok)}: {scalar(ov)}" for ok, ov in v.items())
            elif k in ("name", "keras") and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_{} +-]*", v):
                lines.append(f"  {k}: {v}")
            else:
                lines.append(f"  {k}: {scalar(v)}")
    elif stages:
        lines.append("stages:")
        for stage in stages:
            first = True
            for k, v in stage.items():
                if k.startswith("_"):
                    continue
                lead = "  - " if first else "    "
                first = False
                if k == "name" and annotate:
                    lines.append(f"{lead}{k}: {scalar(v)}  # {stage.get('_origin', v)}")
                elif k == "blocks":
                    lines.append(f"{lead}blocks:")
                    origins = stage.get("_origins", [])
                    for e, entry in enumerate(v):
                        note = f"  # {origins[e]}" if annotate and e < len(origins) else ""
                        lines.append(f"      - {scalar(entry)}{note}")
                else:
                    lines.append(f"{lead}{k}: {scalar(v)}")
    if spec.get("head"):
        lines.append("head:")
        lines.extend(_layers(spec["head"], 2, annotate))
    return "\n".join(lines) + "\n"
