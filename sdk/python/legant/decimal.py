"""Exact decimals with the rules of Go's authority.Decimal: never a float."""

from __future__ import annotations

import decimal as _dec

from ._gostr import truncate

MAX_DECIMAL_DIGITS = 40
"""ParseDecimal accepts at most this many digits (a lone leading "0" not counted)."""

# Arithmetic never rounds: 40-digit operands summed a few million times stay far below this.
_CTX = _dec.Context(prec=400, Emax=_dec.MAX_EMAX, Emin=_dec.MIN_EMIN, traps=[_dec.Inexact, _dec.InvalidOperation])


class DecimalError(ValueError):
    """A string that is not a plain decimal."""


def _all_digits(s: str) -> bool:
    return s != "" and all("0" <= c <= "9" for c in s)


def parse_decimal(s: str) -> _dec.Decimal:
    """Parse the strict form -?(0|[1-9][0-9]*)(\\.[0-9]+)? exactly as Go's
    authority.ParseDecimal: no exponent, NaN, Inf, '+', spaces, leading zero
    or bare point, at most MAX_DECIMAL_DIGITS digits."""
    if not isinstance(s, str):
        raise DecimalError("decimal: not a string")
    if len(s) > 2 * MAX_DECIMAL_DIGITS + 3:
        raise DecimalError(f"decimal {truncate(s, 64)!r}: not a plain decimal")
    body = s[1:] if s.startswith("-") else s
    int_part, point, frac = body.partition(".")
    if not _all_digits(int_part) or (point and not _all_digits(frac)):
        raise DecimalError(f"decimal {truncate(s, 64)!r}: not a plain decimal")
    if len(int_part) > 1 and int_part[0] == "0":
        raise DecimalError(f"decimal {truncate(s, 64)!r}: leading zero")
    digits = len(frac) + (len(int_part) if int_part != "0" else 0)
    if digits > MAX_DECIMAL_DIGITS:
        raise DecimalError(f"decimal {truncate(s, 64)!r}: more than {MAX_DECIMAL_DIGITS} digits")
    return canonical(_dec.Decimal(s))


def canonical(d: _dec.Decimal) -> _dec.Decimal:
    """The value without trailing fractional zeros (and 0 for -0)."""
    if d.is_zero():
        return _dec.Decimal(0)
    if d.as_tuple().exponent < 0:  # type: ignore[operator]
        d = d.normalize(_CTX)
        if d.as_tuple().exponent > 0:  # type: ignore[operator]
            d = d.quantize(_dec.Decimal(1), context=_CTX)
    return d


def add(a: _dec.Decimal, b: _dec.Decimal) -> _dec.Decimal:
    """a + b, exactly."""
    return canonical(_CTX.add(a, b))


def sub(a: _dec.Decimal, b: _dec.Decimal) -> _dec.Decimal:
    """a - b, exactly."""
    return canonical(_CTX.subtract(a, b))


def format_decimal(d: _dec.Decimal) -> str:
    """Go's Decimal.String: no exponent, no trailing fractional zero ("500", "499.99", "-0.5")."""
    d = canonical(d)
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    ds = "".join(map(str, digits))
    if exp >= 0:
        ds = ds + "0" * exp
    else:
        scale = -exp
        if len(ds) <= scale:
            ds = "0" * (scale + 1 - len(ds)) + ds
        ds = ds[:-scale] + "." + ds[-scale:]
    return ("-" if sign and not d.is_zero() else "") + ds
