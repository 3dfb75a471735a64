"""The signed revocation feed (Go's issuer/revfeed): verification with
rollback protection, and the set that says whether claims are revoked."""

from __future__ import annotations

import datetime as _dt
import threading
from dataclasses import dataclass

from ._json import Num, loads, string_value, strings_value
from .claims import Claims
from .errors import FeedError, FeedExpiredError, FeedRollbackError, TokenError
from .keys import KeySet, unix, verify_compact

FEED_TYPE = "legant-revocations+jwt"
FEED_LEEWAY = _dt.timedelta(seconds=30)


@dataclass(frozen=True)
class Feed:
    issuer: str
    issued_at: int
    expires_at: int
    version: int
    tokens: tuple[str, ...] = ()
    delegations: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    users: tuple[str, ...] = ()


def verify_feed(token: str, ks: KeySet | None, now: _dt.datetime, last_version: int) -> Feed:
    """revfeed.Verify: signature and typ, now within [iat, exp) give or take
    FEED_LEEWAY, version not lower than last_version (an equal one is the
    same state re-signed). Raises FeedError (FeedExpiredError,
    FeedRollbackError); a TokenError cause says why a signature failed."""
    try:
        payload = verify_compact(token, ks, FEED_TYPE, None)
    except TokenError as e:
        raise FeedError(f"invalid revocation feed: {e}") from e
    try:
        obj = loads(payload)
        if not isinstance(obj, dict):
            raise ValueError("not an object")
        f = Feed(issuer=string_value(obj.get("iss")), issued_at=_int(obj.get("iat")), expires_at=_int(obj.get("exp")),
                 version=_int(obj.get("version")),
                 tokens=_list(obj.get("jti")), delegations=_list(obj.get("delegations")),
                 agents=_list(obj.get("agents")), users=_list(obj.get("users")))
    except ValueError as e:
        raise FeedError(f"invalid revocation feed: malformed token: payload: {e}") from e
    if f.issuer == "" or f.version < 0 or f.expires_at <= f.issued_at:
        raise FeedError("invalid revocation feed: missing iss, negative version or exp not after iat")
    if unix(f.issued_at) > now + FEED_LEEWAY:
        raise FeedError(f"invalid revocation feed: issued in the future (iat {f.issued_at})")
    if not now < unix(f.expires_at) + FEED_LEEWAY:
        raise FeedExpiredError(f"revocation feed expired at {unix(f.expires_at).strftime('%Y-%m-%dT%H:%M:%SZ')}")
    if f.version < last_version:
        raise FeedRollbackError(f"revocation feed older than one already accepted: version {f.version} < {last_version}")
    return f


def _int(v: object) -> int:
    if v is None:
        return 0
    if not isinstance(v, Num):
        raise ValueError("not an integer")
    return v.int64()


def _list(v: object) -> tuple[str, ...]:
    return () if v is None else tuple(strings_value(v))


class RevocationSet:
    """Revoked tokens (jti), delegations, agents and users. Thread-safe:
    replace swaps the whole state at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sets: tuple[frozenset[str], ...] = (frozenset(),) * 4

    def replace(self, f: Feed) -> None:
        new = (frozenset(f.tokens), frozenset(f.delegations), frozenset(f.agents), frozenset(f.users))
        with self._lock:
            self._sets = new

    def __len__(self) -> int:
        return sum(len(s) for s in self._sets)

    def revoked(self, c: Claims | None) -> str | None:
        """Why claims c are revoked (None when they are not): its jti, its
        delegation or the one it was attenuated from, its user, or any agent
        of its act chain. None claims are revoked (fail closed)."""
        if c is None:
            return "no claims"
        tokens, dels, agents, users = self._sets
        if c.id and c.id in tokens:
            return f"token {c.id} revoked"
        if c.delegation_id and c.delegation_id in dels:
            return f"delegation {c.delegation_id} revoked"
        if c.parent_id and c.parent_id in dels:
            return f"parent delegation {c.parent_id} revoked"
        if c.subject and c.subject in users:
            return f"user {c.subject} revoked"
        if agents:
            for a in c.chain():
                if a and a in agents:
                    return f"agent {a} revoked"
        return None
