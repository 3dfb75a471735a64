"""JSON decoding with Go encoding/json's limits: no NaN/Infinity, invalid
UTF-8 replaced by U+FFFD (as Go does), and every object remembers whether it
repeated a key, for the places where Go's decoders refuse duplicates."""

from __future__ import annotations

import json
from typing import Any


class JSONObject(dict):  # type: ignore[type-arg]
    """A decoded object; ``duplicate`` is True when a key appeared twice (the last value is kept, as in Go)."""

    duplicate = False


class Num:
    """A JSON number kept as its literal, so that amounts are never floats
    and integer claims are read with Go's rules."""

    __slots__ = ("lit",)

    def __init__(self, lit: str) -> None:
        self.lit = lit

    def __repr__(self) -> str:
        return f"Num({self.lit})"

    def int64(self) -> int:
        """strconv.ParseInt(lit, 10, 64), as Go decodes a number into an int64."""
        body = self.lit[1:] if self.lit.startswith("-") else self.lit
        if not body.isdigit() or not body.isascii():
            raise ValueError(f"cannot unmarshal number {self.lit} into an int64")
        n = int(self.lit)
        if not -(1 << 63) <= n < (1 << 63):
            raise ValueError(f"number {self.lit} overflows an int64")
        return n


def _pairs(pairs: list[tuple[str, Any]]) -> JSONObject:
    obj = JSONObject()
    for k, v in pairs:
        if k in obj:
            obj.duplicate = True
        obj[k] = v
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON literal {name}")


def loads(data: bytes | str) -> Any:
    """Decode one JSON value as Go's encoding/json would accept it."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return json.loads(data, object_pairs_hook=_pairs, parse_constant=_no_constant, parse_int=Num, parse_float=Num)


def loads_strict(data: bytes) -> Any:
    """Decode one JSON value, refusing invalid UTF-8 (policy.validJSON)."""
    return json.loads(data.decode("utf-8"), object_pairs_hook=_pairs, parse_constant=_no_constant,
                      parse_int=Num, parse_float=Num)


def decode_object(data: bytes | str) -> JSONObject:
    """authority.decodeObject: a JSON object without duplicate keys."""
    try:
        v = loads(data)
    except ValueError as e:
        raise ValueError("expected a JSON object") from e
    return object_value(v)


def object_value(v: Any) -> JSONObject:
    if not isinstance(v, JSONObject):
        raise ValueError("expected a JSON object")
    if v.duplicate:
        raise ValueError("duplicate key")
    return v


def string_value(v: Any) -> str:
    """A JSON string decoded into a Go string: null leaves "" (Go keeps the zero value)."""
    if v is None:
        return ""
    if not isinstance(v, str):
        raise ValueError(f"cannot unmarshal {kind(v)} into a string")
    return v


def strings_value(v: Any) -> list[str]:
    """authority.decodeStrings: an array of strings; null is an error, null items are ""."""
    if v is None:
        raise ValueError("expected an array of strings, got null")
    if not isinstance(v, list):
        raise ValueError(f"cannot unmarshal {kind(v)} into an array of strings")
    return [string_value(x) for x in v]


def kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, Num):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"
