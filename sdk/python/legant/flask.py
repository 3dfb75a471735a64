"""Flask (WSGI) protection of views.

    from legant.flask import protect, claims
    @app.post("/expenses")
    @protect(v, scope="expenses:write",
             action=lambda req: Action(tool="submit_expense", amount=req.form["amount"], currency="USD"))
    def submit(): return {"by": claims().provenance()}

The answers are those of Go's sdk.Middleware; the verified Claims are in
``flask.g.legant_claims`` (claims())."""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import flask

from ._http import ActionFunc, Gate, Refusal, RequestInfo
from .claims import Claims
from .verifier import Verifier

F = TypeVar("F", bound=Callable[..., Any])


def _response(r: Refusal) -> flask.Response:
    resp = flask.Response(r.body, status=r.status)
    for k, v in r.headers:
        if k.lower() == "www-authenticate":
            resp.headers.add(k, v)  # the Bearer and the DPoP challenge
        else:
            resp.headers[k] = v
    return resp


def protect(verifier: Verifier, *, scope: str = "", action: ActionFunc | None = None,
            resource_metadata: str = "") -> Callable[[F], F]:
    """A view decorator admitting only requests with an accepted delegation
    token. action receives flask.request; its hold is settled when the view
    answers below 400 and released otherwise (also when the view raises)."""
    gate = Gate(verifier, scope=scope, action=action, resource_metadata=resource_metadata)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            c = gate.authenticate(request_info())
            if isinstance(c, Refusal):
                return _response(c)
            flask.g.legant_claims = c
            hold = gate.reserve(c, flask.request)
            if isinstance(hold, Refusal):
                return _response(hold)
            if hold is None:
                return view(*args, **kwargs)
            try:
                resp = flask.make_response(view(*args, **kwargs))
                if resp.status_code < 400:
                    hold.settle()
                return resp
            finally:
                hold.release()  # no-op once settled
        return wrapped  # type: ignore[return-value]
    return decorate


def request_info() -> RequestInfo:
    """What the gate reads of flask.request (the raw request target, not the routed path)."""
    req = flask.request
    target = req.environ.get("RAW_URI") or req.environ.get("REQUEST_URI") or req.full_path
    return RequestInfo(authorization=req.headers.getlist("Authorization"), dpop=req.headers.getlist("DPoP"),
                       method=req.method, path=target, host=req.host, secure=req.is_secure)


def claims() -> Claims:
    """The claims protect verified for the current request."""
    c = flask.g.get("legant_claims")
    if not isinstance(c, Claims):
        raise LookupError("no verified claims: is the view decorated with protect?")
    return c
