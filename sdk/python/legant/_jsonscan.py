"""Strict JSON pointer lookup in raw JSON, a port of Go's policy/jsonscan.go
and policy/pointer.go: along a pointer's path every object must hold the
followed key exactly once and no other key equal to it under case folding,
so that no JSON parser can read a different value than the one checked."""

from __future__ import annotations

import json

from ._gostr import equal_fold
from ._json import loads_strict


class PointerError(ValueError):
    """An invalid RFC 6901 pointer."""


class ScanError(ValueError):
    """Invalid JSON, or a duplicate or ambiguous key on a pointer's path."""


class Pointer:
    """An RFC 6901 JSON pointer into a tool call's arguments object. The
    empty Pointer() is "not bound"."""

    __slots__ = ("raw", "tokens")

    def __init__(self, raw: str = "") -> None:
        self.raw = raw
        self.tokens: list[str] = []
        if raw == "":
            return
        if raw[0] != "/":
            raise PointerError(f"invalid JSON pointer {raw!r}: must start with '/'")
        for p in raw[1:].split("/"):
            if "~" in p.replace("~0", "").replace("~1", ""):
                raise PointerError(f"invalid JSON pointer {raw!r}: bad escape in {p!r}")
            self.tokens.append(p.replace("~1", "/").replace("~0", "~"))

    def is_zero(self) -> bool:
        return self.raw == ""

    def __str__(self) -> str:
        return self.raw

    def __repr__(self) -> str:
        return f"Pointer({self.raw!r})"


def valid_json(doc: bytes) -> None:
    """policy.validJSON: one JSON value in valid UTF-8."""
    try:
        doc.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScanError("invalid JSON: not valid UTF-8") from e
    try:
        loads_strict(doc)
    except ValueError as e:
        raise ScanError(f"invalid JSON: {e}") from e


_WS = b" \t\n\r"


def _skip_space(b: bytes, i: int) -> int:
    n = len(b)
    while i < n and b[i] in _WS:
        i += 1
    return i


def _skip_string(b: bytes, i: int) -> tuple[int, bool]:
    escaped = False
    i += 1
    n = len(b)
    while i < n:
        c = b[i]
        if c == 0x5C:
            escaped = True
            i += 2
            continue
        if c == 0x22:
            return i + 1, escaped
        i += 1
    return n, escaped


def _skip_value(b: bytes, i: int) -> int:
    n = len(b)
    if i >= n:
        return i
    c = b[i]
    if c == 0x22:
        return _skip_string(b, i)[0]
    if c in b"{[":
        depth = 0
        while i < n:
            c = b[i]
            if c == 0x22:
                i = _skip_string(b, i)[0]
                continue
            if c in b"{[":
                depth += 1
            elif c in b"}]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        return i
    while i < n and b[i] not in b",}] \t\r\n":
        i += 1
    return i


def _path_prefix(tokens: list[str]) -> str:
    if not tokens:
        return "/"
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def _member(obj: bytes, tok: str) -> tuple[bytes | None, bool]:
    found: bytes | None = None
    count = 0
    i = 1
    while True:
        i = _skip_space(obj, i)
        if i >= len(obj) or obj[i] == 0x7D:
            break
        if obj[i] == 0x2C:
            i = _skip_space(obj, i + 1)
        key_end, escaped = _skip_string(obj, i)
        if escaped:
            try:
                key = json.loads(obj[i:key_end].decode("utf-8"))
            except ValueError as e:
                raise ScanError(f"invalid JSON: {e}") from e
        else:
            key = obj[i + 1:key_end - 1].decode("utf-8")
        i = _skip_space(obj, key_end)
        i = _skip_space(obj, i + 1)
        val_end = _skip_value(obj, i)
        if key == tok:
            count += 1
            found = obj[i:val_end]
        elif equal_fold(key, tok):
            raise ScanError(f"ambiguous key: {json.dumps(key, ensure_ascii=False)} differs from "
                            f"{json.dumps(tok, ensure_ascii=False)} only by case")
        i = val_end
    if count > 1:
        raise ScanError(f"duplicate key {json.dumps(tok, ensure_ascii=False)}")
    return found, count == 1


def _element(arr: bytes, tok: str) -> bytes | None:
    if tok == "" or (len(tok) > 1 and tok[0] == "0") or not all("0" <= c <= "9" for c in tok):
        return None
    n = int(tok)
    i = 1
    idx = 0
    while True:
        i = _skip_space(arr, i)
        if i >= len(arr) or arr[i] == 0x5D:
            return None
        if arr[i] == 0x2C:
            i = _skip_space(arr, i + 1)
        end = _skip_value(arr, i)
        if idx == n:
            return arr[i:end]
        i = end
        idx += 1


def lookup_valid(doc: bytes, tokens: list[str]) -> bytes | None:
    """The value at tokens inside valid JSON doc, exactly as written; None when absent."""
    cur = doc
    for depth, tok in enumerate(tokens):
        i = _skip_space(cur, 0)
        if i >= len(cur):
            return None
        c = cur[i]
        try:
            if c == 0x7B:
                nxt, ok = _member(cur[i:], tok)
            elif c == 0x5B:
                nxt = _element(cur[i:], tok)
                ok = nxt is not None
            else:
                return None
        except ScanError as e:
            raise ScanError(f"{e} at {_path_prefix(tokens[:depth])}") from e
        if not ok or nxt is None:
            return None
        cur = nxt
    return cur
