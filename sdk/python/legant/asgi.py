"""ASGI middleware for FastAPI and Starlette.

    from legant.asgi import LegantMiddleware, claims_of
    app.add_middleware(LegantMiddleware, verifier=v, scope="expenses:write",
                       action=lambda request: Action(tool="submit_expense", ...))

The verified Claims are in ``request.state.legant_claims`` (claims_of).
The action callable receives a ``starlette.requests.Request`` whose body is
not read (use path and query parameters, or headers). Verification and the
ledger run in a worker thread, so a key refresh never blocks the event loop."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, MutableMapping

import anyio.to_thread
from starlette.requests import Request

from ._http import ActionFunc, Gate, Refusal, RequestInfo
from .claims import Claims
from .policy import Hold
from .verifier import Verifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATE_KEY = "legant_claims"


class LegantMiddleware:
    """Admits only HTTP requests bearing a delegation token the Verifier
    accepts (401 invalid_token otherwise, 403 insufficient_scope for a
    missing scope or a policy denial, 503 while a required feed is stale),
    with the answers of Go's sdk.Middleware. Other ASGI scopes (lifespan,
    websocket) pass through."""

    def __init__(self, app: ASGIApp, verifier: Verifier, scope: str = "", action: ActionFunc | None = None,
                 resource_metadata: str = "") -> None:
        self.app = app
        self.gate = Gate(verifier, scope=scope, action=action, resource_metadata=resource_metadata)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        c = await anyio.to_thread.run_sync(self.gate.authenticate, request_info(scope))
        if isinstance(c, Refusal):
            await _answer(send, c)
            return
        scope.setdefault("state", {})[STATE_KEY] = c
        hold = await anyio.to_thread.run_sync(self.gate.reserve, c, Request(scope))
        if isinstance(hold, Refusal):
            await _answer(send, hold)
            return
        if hold is None:
            await self.app(scope, receive, send)
            return
        await _run_holding(self.app, scope, receive, send, hold)


def request_info(scope: Scope) -> RequestInfo:
    """What the gate reads of an ASGI HTTP scope: the raw path as received (raw_path, else path)."""
    headers = scope.get("headers", [])
    values = lambda name: [v.decode("latin-1") for k, v in headers if k.lower() == name]  # noqa: E731
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope.get("root_path", "") + scope.get("path", "/")
    host = (values(b"host") or [""])[0]
    if not host and scope.get("server"):
        h, port = scope["server"][0], scope["server"][1]
        host = f"{h}:{port}" if port else h
    return RequestInfo(authorization=values(b"authorization"), dpop=values(b"dpop"), method=scope.get("method", "GET"),
                       path=path, host=host, secure=scope.get("scheme") == "https")


async def _run_holding(app: ASGIApp, scope: Scope, receive: Receive, send: Send, hold: Hold) -> None:
    status = 0

    async def capture(msg: Message) -> None:
        nonlocal status
        if msg["type"] == "http.response.start" and not status:
            status = int(msg["status"])
        await send(msg)
    try:
        await app(scope, receive, capture)
        if 0 < status < 400:
            await anyio.to_thread.run_sync(hold.settle)
    finally:
        await anyio.to_thread.run_sync(hold.release)  # no-op once settled


async def _answer(send: Send, r: Refusal) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in r.headers]
    headers.append((b"content-length", str(len(r.body)).encode()))
    await send({"type": "http.response.start", "status": r.status, "headers": headers})
    await send({"type": "http.response.body", "body": r.body})


def claims_of(request: Request) -> Claims:
    """The claims LegantMiddleware verified for this request."""
    c = getattr(request.state, STATE_KEY, None)
    if not isinstance(c, Claims):
        raise LookupError("no verified claims: is LegantMiddleware installed?")
    return c
