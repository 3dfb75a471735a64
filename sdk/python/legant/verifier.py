"""Verifier: offline verification of delegation tokens for one resource
against one issuer (Go's sdk.Verifier): the issuer's JWKS (RFC 8414
discovery) and signed revocation feed are fetched and refreshed in
background threads; nothing is asked of the issuer per request."""

from __future__ import annotations

import datetime as _dt
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from typing import Any, Callable

from ._gostr import trim_space
from .authorize import Action
from .claims import Claims, VerifyOptions, verify
from .decimal import DecimalError
from . import dpop as _dpop
from .errors import FeedError, FeedStaleError, NoTokenError, RevokedError, UnknownKeyError
from .keys import KeySet, parse_jwks
from .policy import (REASON_INVALID_ARGUMENT, REASON_TOOL_NOT_BOUND, Binding, Call, Decision, Hold, Ledger,
                     MemoryLedger, authorize, deny)
from .revfeed import RevocationSet, verify_feed

DEFAULT_FEED_INTERVAL = 30.0
DEFAULT_JWKS_INTERVAL = 300.0
DEFAULT_MIN_REFRESH_INTERVAL = 30.0
DEFAULT_HTTP_TIMEOUT = 10.0
DEFAULT_FEED_AGE_FACTOR = 4
MAX_DOCUMENT_SIZE = 1 << 20
MAX_CACHED_TOKENS = 10_000


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


@dataclass
class DPoPOptions:
    """DPoP (RFC 9449) for verify_request and the middleware (Go's sdk.DPoPOptions).

    mode: "allow" ("" too) accepts bearer and bound tokens, "require" only
    bound ones, "bearer" only bearer ones.
    public_url: this resource's external base URL (scheme://host[:port])
    against which proofs' htu is checked — required behind a reverse proxy;
    "" derives it from each request (its scheme and Host header).
    cache: remembers accepted proofs; None = a dpop.MemoryReplayCache of this
    process. Replicas must share one."""

    mode: str = ""
    public_url: str = ""
    cache: _dpop.ReplayCache | None = None


@dataclass
class VerifierOptions:
    """Tuning of a Verifier; every zero or None field means the default named.
    Intervals are seconds.

    jwks_url: "" = discovered from RFC 8414 metadata (jwks_uri), or
    issuer + "/.well-known/jwks.json" when the issuer publishes none (404).
    feed_url: "" = issuer + "/.well-known/revoked". jwks_file / feed_file read
    the documents from files instead (offline setups).
    require_fresh_feed: verify raises FeedStaleError while the newest
    accepted feed is older than max_feed_age (fail closed); False (default)
    fails open with the revocations last known.
    leeway: clock skew in seconds on exp/nbf/iat; None = 30, 0 = none.
    ledger: holds budgets and call counts; None = a MemoryLedger of this Verifier.
    now: the clock (returns an aware datetime).
    dpop: how DPoP-bound tokens are treated; None = mode "allow", a replay
    cache of this process, each request's URL from its Host header."""

    jwks_url: str = ""
    jwks_file: str = ""
    feed_url: str = ""
    feed_file: str = ""
    feed_interval: float = 0
    jwks_interval: float = 0
    min_refresh_interval: float = 0
    require_fresh_feed: bool = False
    max_feed_age: float = 0
    allow_http: bool = False
    http_timeout: float = 0
    leeway: float | None = None
    algorithms: tuple[str, ...] | None = None
    ledger: Ledger | None = None
    now: Callable[[], _dt.datetime] | None = None
    on_feed: Callable[["FeedStatus"], None] | None = None
    dpop: DPoPOptions | None = None


@dataclass(frozen=True)
class FeedStatus:
    """The revocation feed as the Verifier last saw it."""

    version: int = 0
    issued_at: _dt.datetime | None = None
    entries: int = 0
    checked_at: _dt.datetime | None = None
    error: BaseException | None = None


class NotFound(Exception):
    """An HTTP 404 (discovery treats it as "not published")."""


class _NoRedirectToHTTP(urllib.request.HTTPRedirectHandler):
    max_redirections = 5

    def __init__(self, allow_http: bool) -> None:
        self.allow_http = allow_http

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        _check_url(newurl, self.allow_http)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _check_url(u: str, allow_http: bool) -> None:
    p = urllib.parse.urlsplit(u)
    if p.scheme == "https" and p.netloc:
        return
    if p.scheme == "http" and p.netloc:
        if allow_http:
            return
        raise ValueError(f"{u}: https is required (allow_http allows http)")
    raise ValueError(f"{u!r} is not an absolute https URL")


class _Fetcher:
    def __init__(self, timeout: float, allow_http: bool) -> None:
        self.timeout, self.allow_http = timeout, allow_http
        self.opener = urllib.request.build_opener(_NoRedirectToHTTP(allow_http))

    def get(self, url: str, accept: str) -> bytes:
        _check_url(url, self.allow_http)
        req = urllib.request.Request(url, headers={"Accept": accept})
        try:
            with self.opener.open(req, timeout=self.timeout) as resp:
                if resp.status != 200:
                    raise OSError(f"GET {url}: {resp.status}")
                return _read_limited(resp)
        except urllib.error.HTTPError as e:
            e.close()
            if e.code == 404:
                raise NotFound(f"GET {url}: not found") from None
            raise OSError(f"GET {url}: {e.code} {e.reason}") from None


def _read_limited(f: Any) -> bytes:
    body: bytes = f.read(MAX_DOCUMENT_SIZE + 1)
    if len(body) > MAX_DOCUMENT_SIZE:
        raise OSError(f"document larger than {MAX_DOCUMENT_SIZE} bytes")
    return body


def _read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return _read_limited(f)


def well_known(issuer: str, name: str) -> str:
    """RFC 8414 §3.1: the well-known segment goes between the host and the path."""
    u = urllib.parse.urlsplit(issuer)
    if u.query or u.fragment:
        raise ValueError("issuer URL must have no query or fragment")
    return f"{u.scheme}://{u.netloc}/.well-known/{name}{u.path.rstrip('/')}"


class Verifier:
    """Verifies delegation tokens issued by ``issuer`` (their exact iss) for
    ``audience`` (this resource, compared canonically with aud).

    The constructor fetches the key set (raising if that fails: nothing could
    verify) and polls the revocation feed once (a failure is in
    feed_status()), then refreshes both in daemon threads until close().
    Thread-safe. Use as a context manager, or call close()."""

    def __init__(self, issuer: str, audience: str, options: VerifierOptions | None = None) -> None:
        o = replace(options) if options else VerifierOptions()
        u = urllib.parse.urlsplit(issuer)
        if not u.scheme or not u.netloc:
            raise ValueError(f"sdk: issuer {issuer!r} is not an absolute URL")
        if trim_space(audience) == "":
            raise ValueError("sdk: audience is required")
        self._issuer, self._audience = issuer, audience
        self._feed_interval = o.feed_interval or DEFAULT_FEED_INTERVAL
        self._jwks_interval = o.jwks_interval or DEFAULT_JWKS_INTERVAL
        self._min_refresh = o.min_refresh_interval or DEFAULT_MIN_REFRESH_INTERVAL
        self._max_feed_age = _dt.timedelta(seconds=o.max_feed_age or DEFAULT_FEED_AGE_FACTOR * self._feed_interval)
        self._require_fresh = o.require_fresh_feed
        self._now = o.now or _utcnow
        self._ledger: Ledger = o.ledger if o.ledger is not None else MemoryLedger()
        self._on_feed = o.on_feed
        d = o.dpop or DPoPOptions()
        self._dpop_mode = _dpop.parse_mode(d.mode)
        self._public_url = d.public_url.rstrip("/")
        self._replay: _dpop.ReplayCache = d.cache if d.cache is not None else _dpop.MemoryReplayCache(now=self._now)
        leeway = None if o.leeway is None else _dt.timedelta(seconds=o.leeway) if o.leeway > 0 else _dt.timedelta(0)
        self._opts = VerifyOptions(issuer=issuer, audience=audience, leeway=leeway,
                                   algorithms=tuple(o.algorithms) if o.algorithms is not None else None,
                                   require_actor=True)
        self._fetch = _Fetcher(o.http_timeout or DEFAULT_HTTP_TIMEOUT, o.allow_http)
        self._jwks_url, self._jwks_file = o.jwks_url, o.jwks_file
        self._feed_file = o.feed_file
        self._feed_url = o.feed_url or issuer.rstrip("/") + "/.well-known/revoked"
        self._discovered = ""

        self._keys: KeySet | None = None
        self._key_lock = threading.Lock()  # serializes key fetches; guards _last_fetch
        self._last_fetch: _dt.datetime | None = None
        self.key_fetches = 0
        self._tokens: dict[str, tuple[Claims, KeySet]] = {}
        self._revoked = RevocationSet()
        self._poll_lock = threading.Lock()
        self._status = FeedStatus()

        self.refresh_keys()
        self._poll_quietly()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._every, args=(self._feed_interval, self._poll_quietly), daemon=True),
                         threading.Thread(target=self._every, args=(self._jwks_interval, self._refresh_quietly), daemon=True)]
        for t in self._threads:
            t.start()

    # -- lifecycle ---------------------------------------------------------

    def _every(self, interval: float, fn: Callable[[], None]) -> None:
        while not self._stop.wait(interval):
            fn()

    def close(self) -> None:
        """Stop the background refreshes; verify keeps working with what is known."""
        self._stop.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join()

    def __enter__(self) -> "Verifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def audience(self) -> str:
        return self._audience

    # -- keys --------------------------------------------------------------

    def _load_keys(self) -> KeySet:
        if self._jwks_file:
            return parse_jwks(_read_file(self._jwks_file))
        uri = self._jwks_url or self._discover()
        return parse_jwks(self._fetch.get(uri, "application/jwk-set+json, application/json"))

    def _discover(self) -> str:
        if self._discovered:
            return self._discovered
        md_url = well_known(self._issuer, "oauth-authorization-server")
        try:
            md = json.loads(self._fetch.get(md_url, "application/json"))
        except NotFound:
            return self._issuer.rstrip("/") + "/.well-known/jwks.json"
        if not isinstance(md, dict) or md.get("issuer") != self._issuer:
            raise ValueError(f"sdk: issuer metadata at {md_url} names another issuer, want {self._issuer!r}")
        uri = md.get("jwks_uri")
        if not isinstance(uri, str) or uri == "":
            raise ValueError(f"sdk: issuer metadata at {md_url} has no jwks_uri")
        self._discovered = uri
        return uri

    def refresh_keys(self) -> None:
        """Fetch the key set now (not rate-limited); on failure the previous one stays and the error is raised."""
        with self._key_lock:
            self._fetch_keys_locked()

    def _fetch_keys_locked(self) -> None:
        self._last_fetch = self._now()
        self.key_fetches += 1
        self._keys = self._load_keys()

    def _refresh_quietly(self) -> None:
        try:
            self.refresh_keys()
        except Exception:  # noqa: BLE001 - the previous key set stays
            pass

    def _refresh_unknown(self, seen: KeySet | None) -> bool:
        """A kid was missing from seen: is a newer key set available (fetched
        meanwhile, or now when at most one fetch per min_refresh_interval allows)?"""
        with self._key_lock:
            if self._keys is not seen:
                return True
            if self._last_fetch is not None and (self._now() - self._last_fetch).total_seconds() < self._min_refresh:
                return False
            try:
                self._fetch_keys_locked()
            except Exception:  # noqa: BLE001
                return False
            return True

    # -- feed --------------------------------------------------------------

    def refresh_feed(self) -> None:
        """Poll the revocation feed now; raises the poll's error."""
        with self._poll_lock:
            err: BaseException | None = None
            try:
                self._fetch_and_apply()
            except Exception as e:  # noqa: BLE001 - recorded in the status
                err = e
            self._status = replace(self._status, checked_at=self._now(), error=err, entries=len(self._revoked))
            st = self._status
        if self._on_feed is not None:
            self._on_feed(st)
        if err is not None:
            raise err

    def _poll_quietly(self) -> None:
        try:
            self.refresh_feed()
        except Exception:  # noqa: BLE001 - in feed_status()
            pass

    def _fetch_and_apply(self) -> None:
        raw = _read_file(self._feed_file) if self._feed_file else self._fetch.get(self._feed_url, "application/jwt")
        tok = raw.decode("utf-8", "replace").strip()
        last = self._status.version
        seen = self._keys
        try:
            feed = verify_feed(tok, seen, self._now(), last)
        except FeedError as e:
            if not isinstance(e.__cause__, UnknownKeyError) or not self._refresh_unknown(seen):
                raise
            feed = verify_feed(tok, self._keys, self._now(), last)
        if feed.issuer != self._issuer:
            raise FeedError(f"invalid revocation feed: issuer {feed.issuer!r}, want {self._issuer!r}")
        self._revoked.replace(feed)
        iat = _dt.datetime.fromtimestamp(feed.issued_at, _dt.timezone.utc)
        if self._status.issued_at is not None and iat < self._status.issued_at:
            iat = self._status.issued_at
        self._status = replace(self._status, version=feed.version, issued_at=iat)

    def feed_status(self) -> FeedStatus:
        return replace(self._status, entries=len(self._revoked))

    def feed_age(self) -> _dt.timedelta | None:
        """How long ago the newest accepted feed was issued; None (infinite) before any."""
        iat = self._status.issued_at
        if iat is None:
            return None
        return max(self._now() - iat, _dt.timedelta(0))

    # -- verify ------------------------------------------------------------

    @property
    def dpop_mode(self) -> str:
        return self._dpop_mode

    def verify(self, token: str) -> Claims:
        """Verify a delegation token exactly as the gateway does, then refuse
        it if the revocation feed covers it (RevokedError). An unknown kid
        triggers one rate-limited key refresh. With require_fresh_feed, raises
        FeedStaleError while the feed is stale. Raises TokenError subclasses;
        their text is for logs (error_description gives what a client may see).

        verify has no request to check a DPoP proof against, so it refuses a
        token bound to a key (dpop.DPoPError "bound_as_bearer"): use
        verify_request, or the middleware, where bound tokens are expected."""
        c = self._verify_unbound(token)
        if c.bound_key():
            raise _dpop.DPoPError("bound_as_bearer")
        return c

    def verify_request(self, authorization: list[str], dpop: list[str], method: str, path: str, host: str = "",
                       secure: bool = False) -> Claims:
        """Verify the access token of a request — presented with the Bearer or
        the DPoP scheme — as verify does, then apply DPoP (RFC 9449,
        dpop.check with the Verifier's DPoPOptions): a bound token is accepted
        only with the DPoP scheme and a fresh proof by its key for this
        method, URL and token. authorization and dpop are the values of those
        headers; path is the request target as received (its query is
        ignored); host and secure make the URL when no public_url is set.
        Raises NoTokenError, TokenError subclasses or dpop.DPoPError."""
        at = _dpop.access_token(authorization)
        if at is None:
            raise NoTokenError("no access token")
        scheme, token = at
        c = self._verify_unbound(token)
        base = self._public_url or ("https://" if secure else "http://") + host
        _dpop.check(scheme=scheme, token=token, claims=c, proofs=list(dpop), method=method,
                    url=base + path.split("?", 1)[0], now=self._now(), mode=self._dpop_mode, cache=self._replay)
        return c

    def _verify_unbound(self, token: str) -> Claims:
        if self._require_fresh:
            age = self.feed_age()
            if age is None or age > self._max_feed_age:
                raise FeedStaleError("revocation feed is stale")
        c = self._verify_token(token)
        why = self._revoked.revoked(c)
        if why is not None:
            raise RevokedError(f"token revoked: {why}")
        return c

    def _verify_token(self, token: str) -> Claims:
        now = self._now()
        ks = self._keys
        hit = self._tokens.get(token)
        if hit is not None and hit[1] is ks and hit[0].expires_at is not None and now < hit[0].expires_at:
            return hit[0]
        try:
            c = verify(token, ks, self._opts, now)
        except UnknownKeyError:
            if not self._refresh_unknown(ks):
                raise
            ks = self._keys
            c = verify(token, ks, self._opts, now)
        if len(self._tokens) >= MAX_CACHED_TOKENS:
            self._evict(now)
        if ks is not None:
            self._tokens[token] = (c, ks)
        return c

    def _evict(self, now: _dt.datetime) -> None:
        for k, (c, _) in list(self._tokens.items()):
            if c.expires_at is None or not now < c.expires_at:
                self._tokens.pop(k, None)
        if len(self._tokens) >= MAX_CACHED_TOKENS:
            self._tokens.clear()

    # -- authorize ---------------------------------------------------------

    def reserve(self, c: Claims, a: Action) -> tuple[Decision, Hold | None]:
        """authorize_action plus the token's budget and max_calls, held on the
        Verifier's ledger. An allow comes with a Hold: settle it when the
        operation succeeded, release it otherwise. A denial comes with None."""
        if a.tool == "":
            return deny(REASON_TOOL_NOT_BOUND, "the action names no tool"), None
        if a.at is None:
            a = replace(a, at=self._now())
        try:
            b, call = a.binding_and_call()
        except DecimalError as e:
            return replace(deny(REASON_INVALID_ARGUMENT, f"amount: {e}"), constraint="arguments"), None
        return authorize(c, b, call, self._ledger)

    def authorize_call(self, c: Claims | None, b: Binding | None, call: Call) -> tuple[Decision, Hold | None]:
        """Decide one MCP tools/call exactly as the gateway does (policy
        authorize with the Verifier's ledger); b None = tool not registered."""
        if call.at is None:
            call = replace(call, at=self._now())
        return authorize(c, b, call, self._ledger)

    # -- RFC 9728 ----------------------------------------------------------

    def resource_metadata_url(self) -> str:
        """Where this resource's RFC 9728 metadata is expected ("" when the audience is not an absolute URL)."""
        u = urllib.parse.urlsplit(self._audience)
        if not u.scheme or not u.netloc:
            return ""
        try:
            return well_known(self._audience, "oauth-protected-resource")
        except ValueError:
            return ""

    def protected_resource_metadata(self, *scopes: str) -> dict[str, Any]:
        """The RFC 9728 document to serve at resource_metadata_url()."""
        md: dict[str, Any] = {"resource": self._audience, "authorization_servers": [self._issuer],
                              "bearer_methods_supported": ["header"]}
        if scopes:
            md["scopes_supported"] = list(scopes)
        return md
