"""String helpers that reproduce the Go standard library's behaviour where
Python's differs (whitespace, quoting, case mapping), so that decisions and
messages match the Go SDK character for character."""

from __future__ import annotations

# unicode.IsSpace: '\t', '\n', '\v', '\f', '\r', ' ', U+0085, U+00A0 and the
# separators of category Z (Python's str.isspace also counts U+001C..U+001F).
_GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_GO_SPACE_STR = "".join(_GO_SPACE)


def trim_space(s: str) -> str:
    """strings.TrimSpace."""
    return s.strip(_GO_SPACE_STR)


def fields(s: str) -> list[str]:
    """strings.Fields: split on runs of unicode.IsSpace."""
    out: list[str] = []
    cur: list[str] = []
    for ch in s:
        if ch in _GO_SPACE:
            if cur:
                out.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


def to_upper(s: str) -> str:
    """strings.ToUpper: the simple (one rune to one rune) upper-case mapping."""
    out = []
    for ch in s:
        u = ch.upper()
        out.append(u if len(u) == 1 else ch)
    return "".join(out)


def to_lower(s: str) -> str:
    """strings.ToLower: the simple lower-case mapping (U+0130 becomes "i")."""
    if s.isascii():
        return s.lower()
    out = []
    for ch in s:
        lo = "i" if ch == "\u0130" else ch.lower()
        out.append(lo if len(lo) == 1 else ch)
    return "".join(out)


def _simple_fold_key(ch: str) -> str:
    f = ch.casefold()
    if len(f) == 1:
        return f
    lo = ch.lower()
    return lo if len(lo) == 1 else ch


def equal_fold(a: str, b: str) -> bool:
    """strings.EqualFold: equal under simple Unicode case folding.

    Computed from Python's case mappings restricted to one-rune results; for
    every code point this agrees with Go's unicode.SimpleFold orbits (checked
    against Go 1.26's tables: docs/SDK.md)."""
    if a == b:
        return True
    if len(a) != len(b):
        return False
    return all(x == y or _simple_fold_key(x) == _simple_fold_key(y) for x, y in zip(a, b))


_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v",
            "\\": "\\\\", '"': '\\"'}


def quote(s: str) -> str:
    """strconv.Quote (the %q verb) for valid text."""
    out = ['"']
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            cp = ord(ch)
            if cp < 0x80:
                out.append("\\x%02x" % cp)
            elif cp < 0x10000:
                out.append("\\u%04x" % cp)
            else:
                out.append("\\U%08x" % cp)
    out.append('"')
    return "".join(out)


MAX_VALUE_LEN = 64


def shorten(s: str) -> str:
    """policy.shorten: at most MAX_VALUE_LEN runes, the cut marked with an ellipsis."""
    if len(s) <= MAX_VALUE_LEN:
        return s
    return s[:MAX_VALUE_LEN] + "…"


def truncate(s: str, n: int) -> str:
    """authority.truncate (by UTF-8 bytes, as Go slices strings)."""
    b = s.encode("utf-8", "surrogatepass")
    if len(b) <= n:
        return s
    return b[:n].decode("utf-8", "ignore") + "…"
