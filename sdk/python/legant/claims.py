"""Delegation token claims and offline verification (Go's authority.Claims
and authority.Verify)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from ._gostr import fields, truncate
from ._json import JSONObject, Num, decode_object, object_value, string_value, strings_value
from .constraints import Constraints, constraints_from_json
from .errors import (AudienceError, ConstraintsError, ExpiredError, IssuerError, MalformedError, MissingActorError,
                     NotYetValidError)
from .keys import TOKEN_TYPE, KeySet, unix, verify_compact
from .resource import ResourceError, canonical_resource

DEFAULT_LEEWAY = _dt.timedelta(seconds=30)
MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z


@dataclass(frozen=True)
class Confirmation:
    """An RFC 7800 cnf claim in the one form Legant honours: the RFC 7638
    thumbprint of a DPoP key (RFC 9449 §6). Any other member, or a cnf
    without jkt, makes the token malformed: a token bound in a way the SDK
    cannot check is never honoured as a bearer token."""

    jkt: str


@dataclass(frozen=True)
class Actor:
    """One link of the RFC 8693 act claim; ``actor`` is who delegated to it;
    ``confirmation`` the key this hop held (None for a bearer hop)."""

    subject: str
    client_id: str = ""
    actor: "Actor | None" = None
    confirmation: Confirmation | None = None


@dataclass(frozen=True)
class Claims:
    """The claims of a verified delegation token. Times are aware UTC
    datetimes, None when absent. Immutable; safe to share between threads."""

    issuer: str = ""
    subject: str = ""
    audience: tuple[str, ...] = ()
    expires_at: _dt.datetime | None = None
    issued_at: _dt.datetime | None = None
    not_before: _dt.datetime | None = None
    id: str = ""
    client_id: str = ""
    scopes: tuple[str, ...] = ()
    actor: Actor | None = None
    delegation_id: str = ""
    parent_id: str = ""
    constraints: Constraints = field(default_factory=Constraints)
    confirmation: Confirmation | None = None  # cnf: with it the token is DPoP-bound; None = a bearer token

    def bound_key(self) -> str:
        """The thumbprint of the key the token is bound to (cnf.jkt), or "" for a bearer token."""
        return "" if self.confirmation is None else self.confirmation.jkt

    def chain(self) -> list[str]:
        """The agents of the act claim, oldest first."""
        out = []
        a = self.actor
        while a is not None:
            out.append(a.subject)
            a = a.actor
        out.reverse()
        return out

    def provenance(self) -> str:
        """ "user:alice → agent:planner → agent:executor"."""
        p = "user:" + self.subject
        ch = self.chain()
        if ch:
            p += " → " + " → ".join("agent:" + s for s in ch)
        return p

    def principal(self) -> str:
        """ "alice|planner|executor", with "%" and "|" percent-escaped."""
        esc = lambda s: s.replace("%", "%25").replace("|", "%7C")  # noqa: E731
        return "|".join(esc(s) for s in [self.subject, *self.chain()])

    def has_scope(self, s: str) -> bool:
        return s in self.scopes


def claims_from_json(payload: bytes) -> Claims:
    """Claims.UnmarshalJSON: registered claims strictly (duplicate claims and
    wrong types are errors), unknown claims ignored, authorization_details
    holding exactly one legant_delegation entry (else ConstraintsError); a
    missing authorization_details is the deny-all Constraints."""
    try:
        obj = decode_object(payload)
    except ValueError as e:
        raise MalformedError(f"malformed token: claims: {e}") from e
    vals: dict[str, Any] = {}
    for key, raw in obj.items():
        try:
            vals[key] = _claim(key, raw)
        except ConstraintsError:
            raise
        except (ValueError, TypeError) as e:
            raise MalformedError(f"malformed token: claims: claim {key}: {e}") from e
    return Claims(
        issuer=vals.get("iss", ""), subject=vals.get("sub", ""), audience=vals.get("aud", ()),
        expires_at=vals.get("exp"), issued_at=vals.get("iat"), not_before=vals.get("nbf"),
        id=vals.get("jti", ""), client_id=vals.get("client_id", ""), scopes=vals.get("scope", ()),
        actor=vals.get("act"), delegation_id=vals.get("delegation_id", ""), parent_id=vals.get("parent_delegation_id", ""),
        constraints=vals.get("authorization_details", Constraints()), confirmation=vals.get("cnf"))


def _claim(key: str, raw: Any) -> Any:
    if key in ("iss", "sub", "jti", "client_id", "delegation_id", "parent_delegation_id"):
        return string_value(raw)
    if key == "aud":
        if raw is None or isinstance(raw, str):
            return (string_value(raw),)
        return tuple(strings_value(raw))
    if key in ("exp", "iat", "nbf"):
        return _numeric_date(raw)
    if key == "scope":
        return tuple(fields(string_value(raw)))
    if key == "act":
        return None if raw is None else _actor(raw)
    if key == "authorization_details":
        return _details(raw)
    if key == "cnf":
        return _confirmation(raw)
    return None


def _confirmation(raw: Any) -> Confirmation:
    """authority.decodeConfirmation: an object whose only member is jkt, a non-empty string."""
    obj = object_value(raw)
    jkt = ""
    for k, v in obj.items():
        if k != "jkt":
            raise ValueError(f"confirmation method {k!r} is not supported (only jkt)")
        if v is not None and not isinstance(v, str) or not v:
            raise ValueError("jkt is not a non-empty string")
        jkt = v
    if not jkt:
        raise ValueError("cnf has no jkt")
    return Confirmation(jkt)


def _numeric_date(raw: Any) -> _dt.datetime | None:
    if raw is None:
        return None  # Go leaves the zero time: the claim counts as absent
    if not isinstance(raw, Num):
        raise ValueError("not a NumericDate")
    try:
        sec = raw.int64()
        if 0 <= sec <= MAX_NUMERIC_DATE:
            return unix(sec)
    except ValueError:
        pass
    f = float(raw.lit)
    if f != f or f < 0 or f > MAX_NUMERIC_DATE:
        raise ValueError("NumericDate out of range")
    return unix(int(f))


def _actor(raw: Any) -> Actor:
    try:
        obj = object_value(raw)
    except ValueError as e:
        raise ValueError(f"act: {e}") from e
    inner = obj.get("act")
    cnf = None
    if "cnf" in obj:
        try:
            cnf = _confirmation(obj["cnf"])
        except ValueError as e:
            raise ValueError(f"act.cnf: {e}") from e
    return Actor(subject=string_value(obj.get("sub")), client_id=string_value(obj.get("client_id")),
                 actor=None if inner is None else _actor(inner), confirmation=cnf)


def _details(raw: Any) -> Constraints:
    if not isinstance(raw, list):
        raise ConstraintsError("invalid constraints: authorization_details is not an array")
    if len(raw) != 1:
        raise ConstraintsError("invalid constraints: want exactly one authorization_details entry of type "
                               f"legant_delegation, got {len(raw)} entries")
    return constraints_from_json(raw[0])


@dataclass(frozen=True)
class VerifyOptions:
    """What a token must satisfy besides its signature (authority.VerifyOptions).

    ``leeway``: None means DEFAULT_LEEWAY (30 s), a zero or negative timedelta none.
    ``algorithms``: None means EdDSA and RS256; nothing else may be listed."""

    issuer: str
    audience: str
    leeway: _dt.timedelta | None = None
    algorithms: tuple[str, ...] | None = None
    require_actor: bool = True


def verify(token: str, ks: KeySet | None, opts: VerifyOptions, now: _dt.datetime) -> Claims:
    """authority.Verify: compact form, header (alg allowed, typ at+jwt, no
    crit, kid known and of the same alg), signature, then exp (required),
    nbf and iat with leeway, iss, aud (canonical), act, constraints. Raises
    a TokenError subclass naming the first fault."""
    if not opts.issuer:
        raise IssuerError("wrong issuer: VerifyOptions.issuer is required")
    if not opts.audience:
        raise AudienceError("wrong audience: VerifyOptions.audience is required")
    payload = verify_compact(token, ks, TOKEN_TYPE, opts.algorithms)
    c = claims_from_json(payload)
    _check_claims(c, opts, now)
    return c


def _check_claims(c: Claims, opts: VerifyOptions, now: _dt.datetime) -> None:
    leeway = DEFAULT_LEEWAY if opts.leeway is None else max(opts.leeway, _dt.timedelta(0))
    if c.subject == "":
        raise MalformedError("malformed token: sub missing")
    if c.expires_at is None:
        raise MalformedError("malformed token: exp missing")
    if not now < c.expires_at + leeway:
        raise ExpiredError(f"token expired: expired at {c.expires_at.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    if c.not_before is not None and now + leeway < c.not_before:
        raise NotYetValidError(f"token not yet valid: not before {c.not_before.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    if c.issued_at is not None and now + leeway < c.issued_at:
        raise NotYetValidError(f"token not yet valid: issued in the future, at {c.issued_at.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    if c.issuer != opts.issuer:
        raise IssuerError(f"wrong issuer: {truncate(c.issuer, 200)!r}")
    if not _audience_matches(c.audience, opts.audience):
        raise AudienceError(f"wrong audience: {opts.audience!r} not in {list(c.audience)!r}")
    if c.actor is None and opts.require_actor:
        raise MissingActorError("delegation token without actor")
    a = c.actor
    while a is not None:
        if a.subject == "":
            raise MalformedError("malformed token: act without sub")
        a = a.actor


def _audience_matches(auds: tuple[str, ...], want: str) -> bool:
    try:
        w = canonical_resource(want)
    except ResourceError:
        return False
    for a in auds:
        try:
            if canonical_resource(a) == w:
                return True
        except ResourceError:
            continue
    return False


__all__ = ["Actor", "Claims", "Confirmation", "VerifyOptions", "verify", "claims_from_json", "DEFAULT_LEEWAY", "JSONObject"]
