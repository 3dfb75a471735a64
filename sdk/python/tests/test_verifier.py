"""The Verifier against issuer documents served on loopback: discovery, key
refresh on an unknown kid (rate-limited), the signed feed (revocation,
rollback, wrong issuer, expiry), staleness fail-open and fail-closed, https."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

import legant

from .helpers import serve
from .signing import TestKey, feed, jwks, token

AUD = "https://api.example/expenses"


@pytest.fixture
def site():
    docs: dict[str, bytes] = {}
    with serve(docs) as base:
        yield base, docs


def opts(**kw) -> legant.VerifierOptions:
    return legant.VerifierOptions(allow_http=True, feed_interval=3600, **kw)


def test_discovery_uses_jwks_uri(site) -> None:
    base, docs = site
    k = TestKey("k1")
    docs["/.well-known/oauth-authorization-server/tenant"] = json.dumps(
        {"issuer": base + "/tenant", "jwks_uri": base + "/keys/set"}).encode()
    docs["/keys/set"] = jwks(k)
    with legant.Verifier(base + "/tenant", AUD, opts()) as v:
        assert v.verify(token(k, base + "/tenant", AUD)).subject == "alice"
        with pytest.raises(legant.IssuerError):
            v.verify(token(k, base + "/other", AUD))
        with pytest.raises(legant.AudienceError):
            v.verify(token(k, base + "/tenant", "https://api.example/payroll"))


def test_discovery_refuses_metadata_of_another_issuer(site) -> None:
    base, docs = site
    docs["/.well-known/oauth-authorization-server"] = json.dumps(
        {"issuer": "https://evil.example", "jwks_uri": base + "/jwks"}).encode()
    docs["/jwks"] = jwks(TestKey("k1"))
    with pytest.raises(ValueError, match="names another issuer"):
        legant.Verifier(base, AUD, opts())


def test_discovery_falls_back_to_well_known_jwks(site) -> None:
    base, docs = site
    k = TestKey("k1")
    docs["/.well-known/jwks.json"] = jwks(k)
    with legant.Verifier(base, AUD, opts()) as v:
        assert v.verify(token(k, base, AUD)).chain() == ["planner"]


def test_https_required_unless_allowed(site) -> None:
    base, docs = site
    docs["/.well-known/jwks.json"] = jwks(TestKey("k1"))
    with pytest.raises(ValueError, match="https is required"):
        legant.Verifier(base, AUD, legant.VerifierOptions())


def test_unknown_kid_refreshes_keys_at_most_once_per_interval(site) -> None:
    base, docs = site
    k1, k2, k3 = TestKey("k1"), TestKey("k2"), TestKey("k3")
    docs["/jwks"] = jwks(k1)
    clock = [dt.datetime.now(dt.timezone.utc)]
    with legant.Verifier(base, AUD, opts(jwks_url=base + "/jwks", min_refresh_interval=30,
                                          now=lambda: clock[0])) as v:
        assert v.key_fetches == 1
        docs["/jwks"] = jwks(k1, k2)
        # Within the interval since the first fetch: no refresh, the kid stays unknown.
        with pytest.raises(legant.UnknownKeyError):
            v.verify(token(k2, base, AUD))
        assert v.key_fetches == 1
        clock[0] += dt.timedelta(seconds=31)
        assert v.verify(token(k2, base, AUD, sub="bob")).subject == "bob"
        assert v.key_fetches == 2
        # A flood of made-up kids right after costs no fetch.
        for _ in range(20):
            with pytest.raises(legant.UnknownKeyError):
                v.verify(token(k3, base, AUD))
        assert v.key_fetches == 2


def test_revocation_feed_and_rollback(site) -> None:
    base, docs = site
    k = TestKey("k1")
    docs["/.well-known/jwks.json"] = jwks(k)
    docs["/.well-known/revoked"] = feed(k, base, 1)
    alice, bob = token(k, base, AUD), token(k, base, AUD, sub="bob")
    with legant.Verifier(base, AUD, opts()) as v:
        assert v.feed_status().version == 1 and v.feed_status().error is None
        assert v.verify(alice).subject == "alice"
        docs["/.well-known/revoked"] = feed(k, base, 5, users=["alice"])
        v.refresh_feed()
        with pytest.raises(legant.RevokedError, match="user alice revoked"):
            v.verify(alice)
        # An older feed (replayed) is refused; the newer revocations stay.
        docs["/.well-known/revoked"] = feed(k, base, 4)
        with pytest.raises(legant.FeedRollbackError):
            v.refresh_feed()
        assert isinstance(v.feed_status().error, legant.FeedRollbackError)
        with pytest.raises(legant.RevokedError):
            v.verify(alice)
        # Another issuer's feed, an expired one, and a forged one are refused too.
        docs["/.well-known/revoked"] = feed(k, "https://other.example", 9)
        with pytest.raises(legant.FeedError, match="issuer"):
            v.refresh_feed()
        docs["/.well-known/revoked"] = feed(k, base, 9, iat=int(time.time()) - 3600)
        with pytest.raises(legant.FeedExpiredError):
            v.refresh_feed()
        docs["/.well-known/revoked"] = feed(TestKey("k1"), base, 9)
        with pytest.raises(legant.FeedError):
            v.refresh_feed()
        assert v.feed_status().version == 5
        # Agents, delegations and the parent delegation revoke too.
        docs["/.well-known/revoked"] = feed(k, base, 6, agents=["planner"])
        v.refresh_feed()
        with pytest.raises(legant.RevokedError, match="agent planner"):
            v.verify(bob)
        docs["/.well-known/revoked"] = feed(k, base, 7, delegations=["dlg-root"])
        v.refresh_feed()
        with pytest.raises(legant.RevokedError, match="parent delegation dlg-root"):
            v.verify(token(k, base, AUD, sub="carol", parent_delegation_id="dlg-root"))
        assert v.verify(bob).subject == "bob"


def test_stale_feed_fails_open_by_default_and_closed_on_request(site) -> None:
    base, docs = site
    k = TestKey("k1")
    docs["/.well-known/jwks.json"] = jwks(k)
    tok = token(k, base, AUD)
    with legant.Verifier(base, AUD, opts()) as v:  # no feed published
        assert v.feed_age() is None and v.verify(tok)
    with legant.Verifier(base, AUD, opts(require_fresh_feed=True)) as v:
        with pytest.raises(legant.FeedStaleError):
            v.verify(tok)
    docs["/.well-known/revoked"] = feed(k, base, 1)
    clock = [dt.datetime.now(dt.timezone.utc)]
    with legant.Verifier(base, AUD, opts(require_fresh_feed=True, max_feed_age=60, now=lambda: clock[0])) as v:
        assert v.verify(tok).subject == "alice"
        clock[0] += dt.timedelta(seconds=61)
        with pytest.raises(legant.FeedStaleError):
            v.verify(tok)


def test_reserve_budget_with_exact_decimals(site) -> None:
    base, docs = site
    k = TestKey("k1")
    docs["/.well-known/jwks.json"] = jwks(k)
    tok = token(k, base, AUD, authorization_details=[{"type": "legant_delegation", "budget": {"value": "0.3"}}])
    with legant.Verifier(base, AUD, opts()) as v:
        c = v.verify(tok)
        for _ in range(3):  # 0.1 + 0.1 + 0.1 is exactly 0.3: never a float
            d, hold = v.reserve(c, legant.Action(tool="t", amount="0.1"))
            assert d.allow and hold is not None
            hold.settle()
        d, hold = v.reserve(c, legant.Action(tool="t", amount="0.0000000001"))
        assert not d.allow and hold is None
        assert (d.reason, d.limit, d.value) == ("budget", "0.3", "0.3000000001")
        assert d.message == "denied: spending would reach 0.3000000001, over budget 0.3"


def test_ledger_failure_denies(site) -> None:
    base, docs = site
    k = TestKey("k1")
    docs["/.well-known/jwks.json"] = jwks(k)

    class Broken:
        def reserve(self, r: legant.Reservation) -> legant.Hold:
            raise ConnectionError("database down")
    tok = token(k, base, AUD, authorization_details=[{"type": "legant_delegation", "max_calls": 5}])
    with legant.Verifier(base, AUD, opts(ledger=Broken())) as v:
        d, hold = v.reserve(v.verify(tok), legant.Action(tool="t"))
        assert (d.allow, d.reason, d.message, hold) == (False, "unavailable", "denied: authorization state unavailable", None)
        assert isinstance(d.cause, ConnectionError)
        assert d.rpc_error() == {"code": -32034, "message": "denied: authorization state unavailable",
                                 "data": {"reason": "unavailable"}}


def test_feed_signed_with_a_new_key_refreshes_the_keys(site) -> None:
    base, docs = site
    k1, k2 = TestKey("k1"), TestKey("k2")
    docs["/.well-known/jwks.json"] = jwks(k1)
    clock = [dt.datetime.now(dt.timezone.utc)]
    with legant.Verifier(base, AUD, opts(now=lambda: clock[0])) as v:
        docs["/.well-known/jwks.json"] = jwks(k1, k2)  # the issuer rotated
        docs["/.well-known/revoked"] = feed(k2, base, 3, users=["alice"])
        clock[0] += dt.timedelta(seconds=31)
        v.refresh_feed()
        assert v.feed_status().version == 3 and v.key_fetches == 2
        with pytest.raises(legant.RevokedError):
            v.verify(token(k1, base, AUD))


def test_naive_instant_fails_a_window_closed(site) -> None:
    base, docs = site
    k = TestKey("k1")
    docs["/.well-known/jwks.json"] = jwks(k)
    window = {"tz": "Europe/Paris", "segments": [{"day": d, "start": "00:00", "end": "24:00"}
                                                  for d in ("sun", "mon", "tue", "wed", "thu", "fri", "sat")]}
    tok = token(k, base, AUD, authorization_details=[{"type": "legant_delegation", "window": window}])
    with legant.Verifier(base, AUD, opts()) as v:
        c = v.verify(tok)
        assert legant.authorize_action(c, legant.Action(tool="t", at=dt.datetime.now(dt.timezone.utc))).allow
        d = legant.authorize_action(c, legant.Action(tool="t", at=dt.datetime.now()))
        assert (d.allow, d.reason) == (False, "window") and "no time zone" in d.message
