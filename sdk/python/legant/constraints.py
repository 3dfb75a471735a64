"""The constraints a delegation token carries (Go's authority.Constraints),
decoded strictly from its RFC 9396 authorization_details entry."""

from __future__ import annotations

import decimal as _dec
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable

from ._gostr import to_upper, trim_space
from ._json import Num, kind, object_value, string_value, strings_value
from .decimal import DecimalError, format_decimal, parse_decimal
from .errors import ConstraintsError
from .resource import ResourceError, canonical_resource
from .window import Window, WindowError, window_from_json

DETAIL_TYPE = "legant_delegation"


@dataclass(frozen=True)
class StringSet:
    """An allow-list whose extremes are explicit: unrestricted (``any_of()``)
    or exactly ``items`` (empty = deny-all, the fail-closed default)."""

    unrestricted: bool = False
    items: tuple[str, ...] = ()

    @staticmethod
    def any_of() -> "StringSet":
        return StringSet(True, ())

    @staticmethod
    def only(*items: str) -> "StringSet":
        return StringSet(False, tuple(sorted(set(items), key=_go_order)))

    @property
    def empty(self) -> bool:
        return not self.unrestricted and not self.items

    def __contains__(self, x: object) -> bool:
        return self.unrestricted or x in self.items


def _go_order(s: str) -> bytes:
    """Go sorts strings by their UTF-8 bytes."""
    return s.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Money:
    """An exact amount with an optional ISO 4217 currency ("" = any)."""

    value: _dec.Decimal
    currency: str = ""

    def __str__(self) -> str:
        v = format_decimal(self.value)
        return v if not self.currency else f"{v} {self.currency}"

    def to_json(self) -> dict[str, str]:
        out = {"value": format_decimal(self.value)}
        if self.currency:
            out["currency"] = self.currency
        return out


@dataclass(frozen=True)
class Constraints:
    """Limits signed into a token. An unrestricted set or None means the
    dimension does not restrict. The default value denies every tool,
    resource and category (a token without authorization_details)."""

    tools: StringSet = StringSet()
    resources: StringSet = StringSet()
    categories: StringSet = StringSet()
    max_amount: Money | None = None
    budget: Money | None = None
    max_calls: int | None = None
    window: Window | None = None

    def to_json(self) -> dict[str, Any]:
        """The authorization_details entry, as Go marshals it."""
        out: dict[str, Any] = {"type": DETAIL_TYPE}
        for key, s in (("actions", self.tools), ("locations", self.resources), ("categories", self.categories)):
            if not s.unrestricted:
                out[key] = list(s.items)
        if self.max_amount is not None:
            out["max_amount"] = self.max_amount.to_json()
        if self.budget is not None:
            out["budget"] = self.budget.to_json()
        if self.max_calls is not None:
            out["max_calls"] = self.max_calls
        if self.window is not None:
            out["window"] = self.window.to_json()
        return out


def normalize_category(s: str) -> str:
    """Go's authority.NormalizeCategory: trimmed (Go's whitespace), Unicode
    NFC, full case folding, NFC again. Python's str.casefold is the full
    folding of CaseFolding.txt, as golang.org/x/text's cases.Fold, with one
    exception mirrored here: x/text folds the Cherokee capitals U+13A0..U+13F5
    to the small letters (while small letters fold to capitals, as in
    CaseFolding.txt), so "Ꭰ" and "ꭰ" are two categories in Go, and here.
    tests/test_unicode.py holds the code points checked against Go."""
    s = unicodedata.normalize("NFC", trim_space(s))
    if any("\u13a0" <= ch <= "\u13f5" for ch in s):
        s = "".join(_cherokee_fold(ch) for ch in s)
    else:
        s = s.casefold()
    return unicodedata.normalize("NFC", s)


def _cherokee_fold(ch: str) -> str:
    if "\u13a0" <= ch <= "\u13ef":
        return chr(ord(ch) - 0x13A0 + 0xAB70)
    if "\u13f0" <= ch <= "\u13f5":
        return chr(ord(ch) + 8)
    return ch.casefold()


def constraints_from_json(v: Any) -> Constraints:
    """Decode one authorization_details entry strictly: type must be
    legant_delegation; unknown or duplicate keys and null values are errors;
    the result is normalized. Raises ConstraintsError."""
    try:
        obj = object_value(v)
    except ValueError as e:
        raise ConstraintsError(f"invalid constraints: {e}") from e
    vals: dict[str, Any] = {}
    for key, raw in obj.items():
        try:
            vals[key] = _field(key, raw)
        except (ValueError, TypeError) as e:
            raise ConstraintsError(f"invalid constraints: {key}: {e}") from e
    if "type" not in obj:
        raise ConstraintsError("invalid constraints: type missing")
    return _normalize(Constraints(
        tools=vals.get("actions", StringSet.any_of()),
        resources=vals.get("locations", StringSet.any_of()),
        categories=vals.get("categories", StringSet.any_of()),
        max_amount=vals.get("max_amount"), budget=vals.get("budget"),
        max_calls=vals.get("max_calls"), window=vals.get("window")))


def _field(key: str, raw: Any) -> Any:
    if raw is None:
        raise ValueError("null is not allowed")
    if key == "type":
        if raw != DETAIL_TYPE:
            raise ValueError(f"want {DETAIL_TYPE!r}")
        return raw
    if key in ("actions", "locations", "categories"):
        return StringSet.only(*strings_value(raw))
    if key in ("max_amount", "budget"):
        return _money(raw)
    if key == "max_calls":
        if not isinstance(raw, Num):
            raise ValueError(f"cannot unmarshal {kind(raw)} into an int64")
        return raw.int64()
    if key == "window":
        return window_from_json(raw)
    raise ValueError("unknown key")


def _money(raw: Any) -> Money:
    obj = object_value(raw)
    value: _dec.Decimal | None = None
    currency = ""
    for k, v in obj.items():
        if k == "value":
            if v is None:
                continue
            if isinstance(v, Num):
                value = parse_decimal(v.lit)
            elif isinstance(v, str):
                value = parse_decimal(v)
            else:
                raise ValueError(f"money: value: cannot unmarshal {kind(v)} into a decimal")
        elif k == "currency":
            currency = string_value(v)
        else:
            raise ValueError(f"money: unknown key {k!r}")
    if value is None:
        raise ValueError("money: value missing")
    return Money(value, currency)


def _normalize(c: Constraints) -> Constraints:
    """Constraints.Normalize: canonical resources and categories, upper-case currencies, sign checks."""
    resources = c.resources
    if not resources.unrestricted:
        try:
            resources = StringSet.only(*(canonical_resource(x) for x in resources.items))
        except ResourceError as e:
            raise ConstraintsError(f"invalid constraints: resources: {e}") from e
    categories = c.categories
    if not categories.unrestricted:
        categories = StringSet.only(*(normalize_category(x) for x in categories.items))
    if c.max_calls is not None and c.max_calls < 0:
        raise ConstraintsError(f"invalid constraints: max_calls {c.max_calls} is negative")
    return Constraints(tools=c.tools, resources=resources, categories=categories,
                       max_amount=_normalize_money(c.max_amount, "max_amount"),
                       budget=_normalize_money(c.budget, "budget"), max_calls=c.max_calls, window=c.window)


def _normalize_money(m: Money | None, name: str) -> Money | None:
    if m is None:
        return None
    cur = to_upper(m.currency)
    if m.value < 0:
        raise ConstraintsError(f"invalid constraints: {name} {format_decimal(m.value)} is negative")
    if cur and not is_currency_code(cur):
        raise ConstraintsError(f"invalid constraints: {name} currency {m.currency!r} is not an ISO 4217 code")
    return Money(m.value, cur)


def is_currency_code(s: str) -> bool:
    return len(s) == 3 and all("A" <= c <= "Z" for c in s)


def set_items(xs: Iterable[str]) -> StringSet:
    return StringSet.only(*xs)


__all__ = ["DETAIL_TYPE", "Constraints", "Money", "StringSet", "constraints_from_json", "normalize_category",
           "is_currency_code", "DecimalError", "WindowError"]
