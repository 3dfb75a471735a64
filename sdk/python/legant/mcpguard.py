"""A guard for MCP servers over the streamable HTTP transport, with the
gateway's rules (Go's sdk/mcpguard): every tools/call is authorized against
the tool's binding (policy and budgets; a tool without a binding is refused
and hidden), tools/list results are filtered to the tools the token may call.

The official ``mcp`` Python SDK is not packaged for Debian 12, the only
package source of this project's CI, so this module does not import it.
``McpGuard.check`` decides one HTTP request (headers and JSON-RPC body) and
``McpGuardMiddleware`` applies it in front of any ASGI MCP app, such as
``FastMCP(...).streamable_http_app()``:

    guard = McpGuard(verifier, {"submit_expense": Binding(scope="expenses:write",
        amount=AmountBinding(Pointer("/amount"), currency="USD"))})
    app = McpGuardMiddleware(mcp.streamable_http_app(), guard)
"""

from __future__ import annotations

import functools

import json
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from ._http import Gate, Refusal, RequestInfo, go_json
from ._json import loads_strict
from ._jsonscan import ScanError, lookup_valid, valid_json
from .claims import Claims
from .policy import (NO_HOLD, REASON_INVALID_ARGUMENT, REASON_TOOL_NOT_BOUND, Binding, Call, Decision, Hold, deny)
from .verifier import Verifier

MAX_MESSAGE_SIZE = 4 << 20


@dataclass(frozen=True)
class GuardResult:
    """What to do with one request.

    refusal: answer it with this HTTP response (no or bad token: 401; scope: 403).
    error: answer it with this JSON-RPC error response (a denied tools/call), HTTP 200.
    Otherwise pass it on: claims are the verified claims, and for a
    tools/call, hold must be settled when the tool succeeded (a result
    without isError) and released otherwise; decision says why it was allowed."""

    refusal: Refusal | None = None
    error: dict[str, Any] | None = None
    claims: Claims | None = None
    method: str = ""
    request_id: Any = None
    hold: Hold | None = None
    decision: Decision | None = None


class McpGuard:
    """Authorizes MCP requests with a Verifier. tools maps each tool the
    server exposes to its binding (copied; a binding's tool is set to its
    name). Thread-safe."""

    def __init__(self, verifier: Verifier, tools: Mapping[str, Binding], *, scope: str = "",
                 resource_metadata: str = "") -> None:
        self.verifier = verifier
        self.tools = {name: replace(b, tool=name) for name, b in tools.items() if b is not None}
        self.gate = Gate(verifier, scope=scope, resource_metadata=resource_metadata)

    def check(self, headers: Iterable[tuple[str, str]], body: bytes, *, path: str = "/", secure: bool = False) -> GuardResult:
        """Decide one POST: the token (as the HTTP middleware: Bearer, or DPoP
        with a proof for POST and path on this Host), then, for a tools/call,
        the call (policy.authorize with the verifier's ledger) on its
        arguments exactly as written in body."""
        hs = list(headers)
        values = lambda name: [v for k, v in hs if k.lower() == name]  # noqa: E731
        c = self.gate.authenticate(RequestInfo(authorization=values("authorization"), dpop=values("dpop"),
                                               method="POST", path=path, host=(values("host") or [""])[0], secure=secure))
        if isinstance(c, Refusal):
            return GuardResult(refusal=c)
        return self.check_message(c, body)

    def check_message(self, c: Claims, body: bytes) -> GuardResult:
        """Decide one JSON-RPC message of a caller whose token verified."""
        doc = body.strip(b" \t\r\n")
        try:
            valid_json(doc)
            msg = loads_strict(doc)
        except (ScanError, ValueError) as e:
            return GuardResult(claims=c, error=_error(None, deny(REASON_INVALID_ARGUMENT, f"message: {e}")))
        if not isinstance(msg, dict):
            return GuardResult(claims=c, error=_error(None, deny(REASON_INVALID_ARGUMENT,
                                                                  "message: a single JSON-RPC object is expected")))
        rid, method = msg.get("id"), msg.get("method")
        rid = _plain(rid)
        if method != "tools/call":
            return GuardResult(claims=c, method=method if isinstance(method, str) else "", request_id=rid, hold=NO_HOLD)
        try:
            name_raw = lookup_valid(doc, ["params", "name"])
            args = lookup_valid(doc, ["params", "arguments"])
            if msg.duplicate or (isinstance(msg.get("params"), dict) and msg["params"].duplicate):
                raise ScanError("duplicate key in the request")
        except ScanError as e:
            return GuardResult(claims=c, method=method, request_id=rid,
                               error=_error(rid, deny(REASON_INVALID_ARGUMENT, f"tools/call: {e}")))
        name = json.loads(name_raw) if name_raw is not None and name_raw[:1] == b'"' else ""
        d, hold = self.verifier.authorize_call(c, self.tools.get(name), Call(tool=name, arguments=args))
        if not d.allow or hold is None:
            return GuardResult(claims=c, method=method, request_id=rid, decision=d, error=_error(rid, d))
        return GuardResult(claims=c, method=method, request_id=rid, decision=d, hold=hold)

    def visible(self, c: Claims | None, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The tools of a tools/list result the token may call: bound, scope
        held, in the token's tools allow-list."""
        out = []
        for t in tools:
            name = t.get("name") if isinstance(t, dict) else None
            b = self.tools.get(name) if isinstance(name, str) else None
            if c is not None and b is not None and (not b.scope or c.has_scope(b.scope)) and name in c.constraints.tools:
                out.append(t)
        return out


def _plain(v: Any) -> Any:
    """A JSON-RPC id as decoded (numbers keep their literal value)."""
    from ._json import Num
    if isinstance(v, Num):
        return json.loads(v.lit)
    return v


def _error(rid: Any, d: Decision) -> dict[str, Any]:
    e = d.rpc_error() or deny(REASON_TOOL_NOT_BOUND, "no decision").rpc_error()
    return {"jsonrpc": "2.0", "id": rid, "error": e}


# --- ASGI ------------------------------------------------------------------

class McpGuardMiddleware:
    """Applies an McpGuard in front of an ASGI MCP app (streamable HTTP):
    POST bodies are read (at most MAX_MESSAGE_SIZE), checked, and replayed
    to the app when allowed; a denied tools/call is answered with its
    JSON-RPC error. The hold of an allowed tools/call is settled when the
    response (JSON, or the SSE event answering the call) carries a result
    without isError, and released otherwise. tools/list results are not
    rewritten here (use McpGuard.visible in the server's list handler)."""

    def __init__(self, app: Any, guard: McpGuard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        import anyio.to_thread

        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            await _send_json(send, 413, {"error": "invalid_request", "error_description": "message too large"})
            return
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])]
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if raw else scope.get("root_path", "") + scope.get("path", "/")
        r = await anyio.to_thread.run_sync(functools.partial(self.guard.check, headers, body, path=path,
                                                             secure=scope.get("scheme") == "https"))
        if r.refusal is not None:
            await _send_raw(send, r.refusal.status, r.refusal.headers, r.refusal.body)
            return
        if r.error is not None:
            await _send_json(send, 200, r.error)
            return
        scope.setdefault("state", {})["legant_claims"] = r.claims
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()
        if r.hold is None or r.hold is NO_HOLD:
            await self.app(scope, replay, send)
            return
        seen = bytearray()

        async def tee(msg: Any) -> None:
            if msg["type"] == "http.response.body" and len(seen) < MAX_MESSAGE_SIZE:
                seen.extend(msg.get("body", b""))
            await send(msg)
        try:
            await self.app(scope, replay, tee)
            if _succeeded(bytes(seen), r.request_id):
                await anyio.to_thread.run_sync(r.hold.settle)
        finally:
            await anyio.to_thread.run_sync(r.hold.release)


def _succeeded(body: bytes, rid: Any) -> bool:
    """Whether the response to request rid is a result without isError (JSON or SSE)."""
    candidates: list[bytes] = []
    text = body.strip()
    if text.startswith(b"{"):
        candidates.append(text)
    else:
        for line in body.splitlines():
            if line.startswith(b"data:"):
                candidates.append(line[5:].strip())
    for c in candidates:
        try:
            m = json.loads(c)
        except ValueError:
            continue
        if isinstance(m, dict) and m.get("id") == rid and "result" in m:
            res = m["result"]
            return isinstance(res, dict) and not res.get("isError", False)
    return False


async def _read_body(receive: Any) -> bytes | None:
    chunks = bytearray()
    while True:
        msg = await receive()
        if msg["type"] != "http.request":
            return bytes(chunks)
        chunks.extend(msg.get("body", b""))
        if len(chunks) > MAX_MESSAGE_SIZE:
            return None
        if not msg.get("more_body", False):
            return bytes(chunks)


async def _send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    await _send_raw(send, status, [("Content-Type", "application/json"), ("Cache-Control", "no-store")],
                    go_json(body).encode())


async def _send_raw(send: Any, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    h = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    h.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": h})
    await send({"type": "http.response.body", "body": body})
