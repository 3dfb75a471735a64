"""The gateway's decision, ported from Go's policy package: ``decide`` (the
stateless checks, in Go's order, deny by default), ``authorize`` (decide,
then hold budget and call count on a ledger) and ``MemoryLedger``."""

from __future__ import annotations

import datetime as _dt
import decimal as _dec
import json
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ._gostr import quote, shorten
from ._jsonscan import Pointer, ScanError, lookup_valid, valid_json
from .claims import Claims
from .constraints import Constraints, Money, StringSet, is_currency_code, normalize_category
from .decimal import DecimalError, add, format_decimal, parse_decimal
from .resource import ResourceError, canonical_resource, clean_path
from .window import WindowError

# Reasons: a stable wire contract (docs/POLICY.md).
REASON_ALLOWED = "allowed"
REASON_TOOL_NOT_BOUND = "tool_not_bound"
REASON_INSUFFICIENT_SCOPE = "insufficient_scope"
REASON_TOOL_NOT_ALLOWED = "tool_not_allowed"
REASON_INVALID_ARGUMENT = "invalid_argument"
REASON_MAX_AMOUNT = "max_amount"
REASON_CURRENCY = "currency"
REASON_CATEGORY = "category"
REASON_RESOURCE = "resource"
REASON_WINDOW = "window"
REASON_BUDGET = "budget"
REASON_MAX_CALLS = "max_calls"
REASON_UNAVAILABLE = "unavailable"
REASON_UNAUTHENTICATED = "unauthenticated"
REASON_REVOKED = "revoked"
REASON_KILLED = "killed"

CODE_DENIED = -32030
CODE_UNAUTHENTICATED = -32031
CODE_REVOKED = -32032
CODE_KILLED = -32033
CODE_UNAVAILABLE = -32034

RESOURCE_URL = "url"
RESOURCE_PATH = "path"
RESOURCE_NAME = "name"


def reason_code(r: str) -> int:
    return {REASON_UNAUTHENTICATED: CODE_UNAUTHENTICATED, REASON_REVOKED: CODE_REVOKED,
            REASON_KILLED: CODE_KILLED, REASON_UNAVAILABLE: CODE_UNAVAILABLE}.get(r, CODE_DENIED)


@dataclass(frozen=True)
class AmountBinding:
    value: Pointer
    currency_pointer: Pointer = field(default_factory=Pointer)
    currency: str = ""


@dataclass(frozen=True)
class ResourceBinding:
    value: Pointer
    kind: str = RESOURCE_NAME


@dataclass(frozen=True)
class Binding:
    """What the registry knows about one tool: the scope a caller needs and
    which arguments are checked against the token's constraints."""

    tool: str = ""
    scope: str = ""
    amount: AmountBinding | None = None
    category: Pointer = field(default_factory=Pointer)
    resource: ResourceBinding | None = None
    mutating: bool = False


@dataclass(frozen=True)
class Call:
    """One tools/call: the raw arguments exactly as the server parses them
    (None, empty or null mean {}), and the instant of the call (an aware
    datetime; None fails any window)."""

    tool: str
    arguments: bytes | None = None
    at: _dt.datetime | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome of decide or authorize; the default denies."""

    allow: bool = False
    reason: str = ""
    constraint: str = ""
    argument: str = ""
    limit: str = ""
    value: str = ""
    message: str = ""
    amount: Money | None = None
    category: str = ""
    resource: str = ""
    cause: BaseException | None = None

    def rpc_error(self) -> dict[str, Any] | None:
        """The JSON-RPC error object of a denial, None when allowed:
        {"code":-32030,"message":"denied: …","data":{"reason":…,"limit":…,"value":…}}."""
        if self.allow:
            return None
        reason = self.reason if self.reason not in ("", REASON_ALLOWED) else REASON_TOOL_NOT_BOUND
        data: dict[str, str] = {"reason": reason}
        for k in ("argument", "limit", "value"):
            if getattr(self, k):
                data[k] = getattr(self, k)
        return {"code": reason_code(reason), "message": self.message or "denied: " + reason, "data": data}


def deny(reason: str, message: str) -> Decision:
    """policy.Deny: a denial with message "denied: " + message."""
    return Decision(reason=reason, message="denied: " + message)


class _ArgError(Exception):
    def __init__(self, ptr: str = "", problem: str = "", value: str = "") -> None:
        super().__init__()
        self.ptr, self.problem, self.value = ptr, problem, value

    def __str__(self) -> str:
        if self.ptr == "":
            return "arguments: " + self.problem
        if self.problem == "":
            return f"argument {self.ptr} is missing"
        return f"argument {self.ptr}: {self.problem}"


def _invalid(e: _ArgError) -> Decision:
    return Decision(reason=REASON_INVALID_ARGUMENT, constraint="arguments", argument=e.ptr, value=e.value,
                    message="denied: " + str(e))


def decide(c: Claims | None, b: Binding | None, call: Call) -> Decision:
    """policy.Decide: binding, scope, tools, arguments, amount and currency,
    category, resource, window — in this order, stopping at the first
    failure. Pure; safe for concurrent use."""
    if c is None:
        return deny(REASON_UNAUTHENTICATED, "no verified token")
    if b is None or (b.tool != "" and b.tool != call.tool):
        return replace(deny(REASON_TOOL_NOT_BOUND, f"tool {shorten(call.tool)} is not registered for this upstream"),
                       value=shorten(call.tool))
    if b.scope != "" and not c.has_scope(b.scope):
        return replace(deny(REASON_INSUFFICIENT_SCOPE, f"tool {call.tool} requires scope {b.scope}"),
                       constraint="scope", limit=b.scope)
    cons = c.constraints
    if call.tool not in cons.tools:
        return replace(deny(REASON_TOOL_NOT_ALLOWED, f"tool {call.tool} is not allowed by this token"),
                       constraint="tools", value=call.tool)
    st: dict[str, Any] = {}
    try:
        args = _arguments_object(call.arguments)
        d = (_check_amount(st, cons, b.amount, args) or _check_category(st, cons, b.category, args)
             or _check_resource(st, cons, b.resource, args) or _check_window(st, cons, call.at))
    except _ArgError as e:
        return _invalid(e)
    if d is not None:
        return d
    return Decision(allow=True, reason=REASON_ALLOWED, **st)


def _denial(st: dict[str, Any], reason: str, constraint: str, limit: str, value: str, msg: str) -> Decision:
    return Decision(reason=reason, constraint=constraint, limit=limit, value=value, message="denied: " + msg, **st)


def _arguments_object(raw: bytes | None) -> bytes:
    doc = (raw or b"").strip(b" \t\r\n")
    if doc in (b"", b"null"):
        return b"{}"
    try:
        valid_json(doc)
    except ScanError as e:
        raise _ArgError(problem=str(e)) from e
    if doc[:1] != b"{":
        raise _ArgError(problem=_json_kind(doc) + " where an object is expected")
    return doc


def _json_kind(v: bytes) -> str:
    return {ord('"'): "string", ord("{"): "object", ord("["): "array", ord("t"): "boolean",
            ord("f"): "boolean", ord("n"): "null"}.get(v[0], "number")


def _raw_argument(args: bytes, p: Pointer) -> bytes:
    try:
        v = lookup_valid(args, p.tokens)
    except ScanError as e:
        raise _ArgError(ptr=str(p), problem=str(e)) from e
    if v is None:
        raise _ArgError(ptr=str(p))
    return v


def _string_value(p: Pointer, raw: bytes) -> str:
    k = _json_kind(raw)
    if k != "string":
        raise _ArgError(ptr=str(p), problem=k + " where a string is expected", value=shorten(raw.decode("utf-8")))
    return json.loads(raw.decode("utf-8"))  # valid JSON already


def _read_amount(args: bytes, p: Pointer) -> _dec.Decimal:
    raw = _raw_argument(args, p)
    lit = raw.decode("utf-8")

    def fail(problem: str) -> _ArgError:
        return _ArgError(ptr=str(p), problem=problem, value=shorten(lit))
    k = _json_kind(raw)
    if k != "number":
        raise fail(k + " where a number is expected")
    if "e" in lit or "E" in lit:
        raise fail(f"number {shorten(lit)} uses exponent notation; a plain decimal is expected")
    if lit[0] == "-":
        raise fail(f"negative amount {shorten(lit)}")
    try:
        return parse_decimal(lit)
    except DecimalError as e:
        raise fail(f"amount {shorten(lit)} is not an accepted decimal: {e}") from e


def _call_currency(args: bytes, ab: AmountBinding) -> str:
    if ab.currency_pointer.is_zero():
        return ab.currency
    ptr = str(ab.currency_pointer)
    try:
        raw = lookup_valid(args, ab.currency_pointer.tokens)
    except ScanError as e:
        raise _ArgError(ptr=ptr, problem=str(e)) from e
    if raw is None:
        return ab.currency
    cur = _string_value(ab.currency_pointer, raw)
    if not is_currency_code(cur):
        raise _ArgError(ptr=ptr, problem=f"{quote(shorten(cur))} is not an ISO 4217 code (three uppercase letters)",
                        value=shorten(cur))
    if ab.currency != "" and cur != ab.currency:
        raise _ArgError(ptr=ptr, problem=f"currency {cur} differs from the tool's fixed currency {ab.currency}", value=cur)
    return cur


def _check_amount(st: dict[str, Any], cons: Constraints, ab: AmountBinding | None, args: bytes) -> Decision | None:
    if ab is None:
        return None
    amount = _read_amount(args, ab.value)
    cur = _call_currency(args, ab)
    st["amount"] = Money(amount, cur)
    for name, lim in (("max_amount", cons.max_amount), ("budget", cons.budget)):
        if lim is None or lim.currency == "" or lim.currency == cur:
            continue
        if cur == "":
            return _denial(st, REASON_CURRENCY, "currency", lim.currency, "",
                           f"the call states no currency; {name} is in {lim.currency}")
        return _denial(st, REASON_CURRENCY, "currency", lim.currency, cur,
                       f"currency {cur} differs from {name} currency {lim.currency}")
    m = cons.max_amount
    if m is not None and amount > m.value:
        a, l = format_decimal(amount), format_decimal(m.value)
        return _denial(st, REASON_MAX_AMOUNT, "max_amount", l, a, f"amount {a} exceeds max_amount {l}")
    return None


def _set_limit(s: StringSet) -> str:
    return "" if s.unrestricted else shorten(",".join(s.items))


def _check_category(st: dict[str, Any], cons: Constraints, p: Pointer, args: bytes) -> Decision | None:
    if p.is_zero():
        return None
    raw = _string_value(p, _raw_argument(args, p))
    cat = normalize_category(raw)
    if cat == "":
        raise _ArgError(ptr=str(p), problem="empty category")
    st["category"] = cat
    s = cons.categories
    if cat in s or any(normalize_category(x) == cat for x in s.items):
        return None
    return _denial(st, REASON_CATEGORY, "categories", _set_limit(s), shorten(cat),
                   f"category {quote(shorten(cat))} is not allowed")


def _check_resource(st: dict[str, Any], cons: Constraints, rb: ResourceBinding | None, args: bytes) -> Decision | None:
    if rb is None:
        return None
    raw = _string_value(rb.value, _raw_argument(args, rb.value))
    try:
        res = canonical_kind(rb.kind, raw)
    except ValueError as e:
        raise _ArgError(ptr=str(rb.value), problem=str(e), value=shorten(raw)) from e
    st["resource"] = res
    if resource_allowed(cons.resources, rb.kind, res):
        return None
    return _denial(st, REASON_RESOURCE, "resources", _set_limit(cons.resources), shorten(res),
                   f"resource {shorten(res)} is not allowed")


def canonical_kind(kind: str, s: str) -> str:
    """policy.canonicalResource: a resource argument canonicalized by kind."""
    if kind == RESOURCE_URL:
        try:
            c = canonical_resource(s)
        except ResourceError:
            raise
        if "://" not in c:
            raise ValueError(f"{quote(shorten(s))} is not an absolute URL with a host")
        return c
    if kind == RESOURCE_PATH:
        return _canonical_path(s)
    if kind in (RESOURCE_NAME, ""):
        if s == "":
            raise ValueError("empty name")
        return s
    raise ValueError(f"unknown resource kind {quote(kind)}")


def _canonical_path(s: str) -> str:
    if s == "":
        raise ValueError("empty path")
    if "\x00" in s or "\\" in s:
        raise ValueError(f"path {quote(shorten(s))} contains NUL or a backslash")
    if s[0] != "/":
        raise ValueError(f"path {quote(shorten(s))} is not absolute")
    depth = 0
    for seg in s[1:].split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            depth -= 1
            if depth < 0:
                raise ValueError(f"path {quote(shorten(s))} escapes the root")
        else:
            depth += 1
    return clean_path(s)


def resource_allowed(s: StringSet, kind: str, r: str) -> bool:
    """URL and name resources match exactly; a path also matches an entry
    ending in "/" that is its directory or an ancestor."""
    if r in s:
        return True
    if kind != RESOURCE_PATH or s.unrestricted:
        return False
    return any(e.endswith("/") and (r.startswith(e) or r == e[:-1]) for e in s.items)


def _check_window(st: dict[str, Any], cons: Constraints, at: _dt.datetime | None) -> Decision | None:
    w = cons.window
    if w is None:
        return None
    if at is None:
        return _denial(st, REASON_WINDOW, "window", str(w), "", "the call has no instant to check against the window")
    try:
        ok = w.contains(at)
    except WindowError as e:
        return _denial(st, REASON_WINDOW, "window", str(w), "", f"window cannot be evaluated: {e}")
    if ok:
        return None
    when = at.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _denial(st, REASON_WINDOW, "window", str(w), when, f"{when} is outside the window {w}")


# --- budgets ---------------------------------------------------------------

@dataclass(frozen=True)
class Reservation:
    """Asks a Ledger to hold one call of a delegation."""

    delegation_id: str
    parent_id: str = ""
    amount: _dec.Decimal = _dec.Decimal(0)
    budget: _dec.Decimal | None = None
    max_calls: int | None = None


class LedgerDenied(Exception):
    """A reservation that would exceed the budget or the call count."""

    def __init__(self, reason: str, limit: str, value: str) -> None:
        super().__init__(reason, limit, value)
        self.reason, self.limit, self.value = reason, limit, value

    def __str__(self) -> str:
        if self.reason == REASON_MAX_CALLS:
            return f"call {self.value} would exceed max_calls {self.limit}"
        return f"spending would reach {self.value}, over budget {self.limit}"


class Hold(Protocol):
    """A reservation in flight: settle when the operation succeeded, release
    otherwise; the first call wins, release after that does nothing."""

    def settle(self) -> None: ...
    def release(self) -> None: ...


class Ledger(Protocol):
    """Cumulative spending and call counts per delegation, supplied by the
    resource server (share one across replicas to enforce budgets there).
    reserve raises LedgerDenied to refuse; any other exception means the
    ledger could not decide (the call is denied: unavailable)."""

    def reserve(self, r: Reservation) -> Hold: ...


class HoldClosedError(Exception):
    """settle on a hold already released or settled."""


class _NoHold:
    def settle(self) -> None:
        pass

    def release(self) -> None:
        pass


NO_HOLD: Hold = _NoHold()
"""The hold of an allowed call that reserved nothing."""


class MemoryLedger:
    """A Ledger in this process's memory (lost on restart, not shared
    between processes). Thread-safe."""

    def __init__(self) -> None:
        self._mu = threading.Lock()
        self._acc: dict[str, list[Any]] = {}  # id -> [spent, held, calls, pending]

    def _account(self, did: str) -> list[Any]:
        return self._acc.setdefault(did, [_dec.Decimal(0), _dec.Decimal(0), 0, 0])

    def reserve(self, r: Reservation) -> Hold:
        if r.delegation_id == "" or r.amount < 0:
            raise ValueError("policy: reservation needs a delegation id and a non-negative amount")
        with self._mu:
            a = self._account(r.delegation_id)
            if r.max_calls is not None and a[2] + a[3] + 1 > r.max_calls:
                raise LedgerDenied(REASON_MAX_CALLS, str(r.max_calls), str(a[2] + a[3] + 1))
            if r.budget is not None:
                total = add(add(a[0], a[1]), r.amount)
                if total > r.budget:
                    raise LedgerDenied(REASON_BUDGET, format_decimal(r.budget), format_decimal(total))
            a[1] = add(a[1], r.amount)
            a[3] += 1
            return _MemoryHold(self, r.delegation_id, r.amount)

    def spent(self, delegation_id: str) -> tuple[_dec.Decimal, int]:
        """Settled spending and call count."""
        with self._mu:
            a = self._account(delegation_id)
            return a[0], a[2]


class _MemoryHold:
    def __init__(self, l: MemoryLedger, did: str, amount: _dec.Decimal) -> None:
        self._l, self._id, self._amount, self._state = l, did, amount, 0

    def settle(self) -> None:
        with self._l._mu:
            if self._state:
                raise HoldClosedError("policy: hold already closed")
            self._state = 1
            a = self._l._account(self._id)
            a[1] = add(a[1], -self._amount)
            a[0] = add(a[0], self._amount)
            a[3] -= 1
            a[2] += 1

    def release(self) -> None:
        with self._l._mu:
            if self._state:
                return
            self._state = 2
            a = self._l._account(self._id)
            a[1] = add(a[1], -self._amount)
            a[3] -= 1


def authorize(c: Claims | None, b: Binding | None, call: Call, ledger: Ledger | None) -> tuple[Decision, Hold | None]:
    """policy.Authorize: decide, then, when the token carries a budget or
    max_calls, reserve on the ledger. Every denial comes with None; an allow
    with a hold to settle or release (NO_HOLD when nothing was reserved)."""
    d = decide(c, b, call)
    if not d.allow or c is None:
        return d, None
    cons = c.constraints
    if cons.budget is None and cons.max_calls is None:
        return d, NO_HOLD
    if c.delegation_id == "":
        return _deny_state(d, REASON_BUDGET, "the token carries a budget or max_calls but no delegation_id"), None
    if ledger is None:
        return _deny_state(d, REASON_UNAVAILABLE, "no ledger to enforce the budget"), None
    r = Reservation(delegation_id=c.delegation_id, parent_id=c.parent_id, max_calls=cons.max_calls,
                    budget=cons.budget.value if cons.budget else None,
                    amount=d.amount.value if d.amount else _dec.Decimal(0))
    try:
        h = ledger.reserve(r)
    except LedgerDenied as e:
        return replace(_deny_state(d, e.reason, str(e)), limit=e.limit, value=e.value), None
    except Exception as e:  # noqa: BLE001 - any ledger failure denies (fail closed)
        return replace(_deny_state(d, REASON_UNAVAILABLE, "authorization state unavailable"), cause=e), None
    return d, h


def _deny_state(d: Decision, r: str, msg: str) -> Decision:
    return replace(d, allow=False, reason=r, constraint="" if r == REASON_UNAVAILABLE else r, message="denied: " + msg)
