"""The HTTP answers of the middleware, shared by the ASGI and WSGI
adapters: the same statuses, WWW-Authenticate challenges and JSON bodies as
Go's sdk.Middleware (RFC 6750)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

from ._gostr import quote, trim_space
from .authorize import Action
from .claims import Claims
from . import dpop as _dpop
from .errors import FeedStaleError, NoTokenError, TokenError, error_description
from .policy import REASON_INSUFFICIENT_SCOPE, REASON_TOOL_NOT_BOUND, REASON_UNAVAILABLE, Decision, Hold, deny
from .verifier import Verifier


@dataclass(frozen=True)
class Refusal:
    """An answer the middleware gives instead of the handler."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def bearer_token(values: list[str]) -> str | None:
    """authority.BearerToken: exactly one Authorization value, scheme
    "Bearer" in any case, a non-empty token."""
    if len(values) != 1:
        return None
    scheme, sep, tok = values[0].partition(" ")
    if not sep or scheme.lower() != "bearer" or not scheme.isascii():
        return None
    tok = trim_space(tok)
    return tok or None


def _quotable(s: str) -> str:
    """Keep a description inside RFC 6750's characters: '"' becomes an
    apostrophe, anything else outside %x20-21 / %x23-5B / %x5D-7E a '?'."""
    return "".join("'" if c == '"' else "?" if c < " " or c > "~" or c == "\\" else c for c in s)


def _json(status: int, body: dict, extra: list[tuple[str, str]] | None = None) -> Refusal:
    headers = list(extra or []) + [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
    return Refusal(status, headers, (go_json(body) + "\n").encode())


_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json(v: object) -> str:
    """JSON as Go's json.Encoder writes it: compact, UTF-8, <, >, & and U+2028/9 escaped."""
    s = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    if any(c in s for c in _HTML_ESCAPES):
        s = "".join(_HTML_ESCAPES.get(c, c) for c in s)
    return s


@dataclass(frozen=True)
class RequestInfo:
    """What the middleware reads of a request: the values of the
    Authorization and DPoP headers, the method, the request target as
    received (path and query), the Host header and whether it came over TLS
    (for the URL a proof's htu names, when the Verifier has no public_url)."""

    authorization: list[str]
    dpop: list[str]
    method: str = "GET"
    path: str = "/"
    host: str = ""
    secure: bool = False


def challenge(status: int, metadata: str, code: str, desc: str, scope: str, data: dict | None = None,
              also: list[str] | None = None) -> Refusal:
    """sdk.writeChallenges: the Bearer challenge, then also (a DPoP challenge)."""
    params = []
    if metadata:
        params.append(f"resource_metadata={quote(metadata)}")
    if code:
        params += [f"error={quote(code)}", f"error_description={quote(_quotable(desc))}"]
    if scope:
        params.append(f"scope={quote(scope)}")
    www = ("Bearer " + ", ".join(params)).strip()
    body: dict = {"error": code or "invalid_request"}
    if desc:
        body["error_description"] = desc
    if data is not None:
        body["decision"] = data
    return _json(status, body, [("WWW-Authenticate", www)] + [("WWW-Authenticate", a) for a in also or []])


def denial(d: Decision, metadata: str) -> Refusal:
    """sdk.WriteDenial: 403 insufficient_scope with the decision in the body,
    or 503 when the ledger was unavailable (d.cause is never sent)."""
    e = d.rpc_error() or deny(REASON_TOOL_NOT_BOUND, "no decision").rpc_error()
    assert e is not None
    if d.reason == REASON_UNAVAILABLE:
        return _json(503, {"error": "temporarily_unavailable", "error_description": e["message"], "decision": e["data"]})
    scope = d.limit if d.reason == REASON_INSUFFICIENT_SCOPE else ""
    return challenge(403, metadata, "insufficient_scope", e["message"], scope, e["data"])


ActionFunc = Callable[..., Action]


class Gate:
    """The decisions of the middleware, independent of the framework.

    scope, when set, is required of every request (403 insufficient_scope).
    action, when set, says what a request does; it is reserved (policy,
    budget, max_calls) before the handler runs and answered 403 on denial;
    the hold is settled when the handler answers below 400 and released
    otherwise. A ValueError from action is answered 400 with its text."""

    def __init__(self, verifier: Verifier, *, scope: str = "", action: ActionFunc | None = None,
                 resource_metadata: str = "") -> None:
        self.verifier, self.scope, self.action = verifier, scope, action
        self.metadata = resource_metadata or verifier.resource_metadata_url()

    def authenticate(self, request: RequestInfo | list[str]) -> Claims | Refusal:
        """Verify the request's token (Verifier.verify_request: the Bearer or
        DPoP scheme, a DPoP proof for a bound token) and the scope, with the
        answers of Go's sdk middleware: a refusal also carries the DPoP
        challenge unless the mode is "bearer", with the error there when it is
        about the proof. Given only the Authorization values there is no
        proof: a bound token is refused."""
        r = request if isinstance(request, RequestInfo) else RequestInfo(authorization=list(request), dpop=[])
        v = self.verifier
        try:
            c = v.verify_request(r.authorization, r.dpop, r.method, r.path, r.host, r.secure)
        except (TokenError, FeedStaleError) as e:
            proof_error = e if isinstance(e, _dpop.DPoPError) and e.code != "invalid_token" else None
            also = [] if v.dpop_mode == _dpop.MODE_BEARER else [_dpop.challenge(proof_error)]
            if isinstance(e, NoTokenError):
                return challenge(401, self.metadata, "", "a bearer token is required", self.scope, also=also)
            if isinstance(e, FeedStaleError):
                return _json(503, {"error": "temporarily_unavailable", "error_description": error_description(e)})
            if proof_error is not None:
                return _json(401, {"error": proof_error.code, "error_description": proof_error.description},
                             [("WWW-Authenticate", f"Bearer resource_metadata={quote(self.metadata)}")] +
                             [("WWW-Authenticate", a) for a in also])
            return challenge(401, self.metadata, "invalid_token", error_description(e), self.scope, also=also)
        if self.scope and not c.has_scope(self.scope):
            return challenge(403, self.metadata, "insufficient_scope", "the token lacks scope " + self.scope, self.scope)
        return c

    def reserve(self, c: Claims, request: object) -> Hold | Refusal | None:
        """None when there is no action; a Hold to close, or a Refusal."""
        if self.action is None:
            return None
        try:
            a = self.action(request)
        except ValueError as e:
            return _json(400, {"error": "invalid_request", "error_description": str(e)})
        d, hold = self.verifier.reserve(c, a)
        if not d.allow or hold is None:
            return denial(d, self.metadata)
        return hold
