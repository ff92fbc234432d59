"""A TOML writer for what w2s writes from Python (task files and sweep files made from dicts):
strings, numbers, booleans, lists of them, and tables. The standard library only reads TOML."""

import json
import math


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else json.dumps(k)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        # A JSON string is a TOML basic string (same escapes).
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(str(k))} = {_value(x)}" for k, x in v.items()) + " }"
    if hasattr(v, "item"):  # a numpy scalar
        return _value(v.item())
    raise TypeError(f"cannot write {type(v).__name__} {v!r} as TOML")


def dumps(doc: dict) -> str:
    """`doc` as TOML: plain keys first, then each table of tables as a [section]."""
    lines = []

    def emit(table: dict, path: list) -> None:
        plain = {k: v for k, v in table.items() if not _is_section(v)}
        sections = {k: v for k, v in table.items() if _is_section(v)}
        if path and (plain or not sections):
            lines.append("[" + ".".join(_key(p) for p in path) + "]")
        for k, v in plain.items():
            if v is not None:
                lines.append(f"{_key(str(k))} = {_value(v)}")
        for k, v in sections.items():
            emit(v, [*path, str(k)])

    emit(doc, [])
    return "\n".join(lines) + "\n"


def _is_section(v) -> bool:
    """Every table is written as a [section] (`[train]`, `[train.loss]`): valid TOML at any
    depth, as long as a table's plain keys come before its sections."""
    return isinstance(v, dict)
