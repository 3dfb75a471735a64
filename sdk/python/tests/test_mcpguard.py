"""The MCP guard on recorded requests of the official mcp Python SDK client
(tests/testdata/mcp_requests.json; the mcp package is not in Debian 12, so
no live mcp server runs here), then in front of an ASGI JSON-RPC app in
uvicorn on loopback: denied calls never reach the app, holds are settled on
a result and released on an isError result."""

from __future__ import annotations

import json
import pathlib
import urllib.request

import pytest

import legant
from legant.mcpguard import McpGuard, McpGuardMiddleware

from .helpers import serve
from .signing import TestKey, jwks, token
from .test_middleware import run_uvicorn

AUD = "https://mcp.example/mcp"
RECORDED = json.loads((pathlib.Path(__file__).parent / "testdata" / "mcp_requests.json").read_text())
TOOLS = {
    "submit_expense": legant.Binding(scope="expenses:write", amount=legant.AmountBinding(
        legant.Pointer("/amount"), currency_pointer=legant.Pointer("/currency")), category=legant.Pointer("/category"),
        mutating=True),
    "list_expenses": legant.Binding(scope="expenses:write"),
}
DETAILS = [{"type": "legant_delegation", "actions": ["submit_expense"], "categories": ["Travel", "meals"],
            "max_amount": {"value": "500", "currency": "USD"}, "max_calls": 3}]


@pytest.fixture
def guard():
    k = TestKey("k1")
    with serve({"/.well-known/jwks.json": jwks(k)}) as base:
        v = legant.Verifier(base, AUD, legant.VerifierOptions(allow_http=True, feed_interval=3600))
        tok = token(k, base, AUD, scope="expenses:write", authorization_details=DETAILS)
        yield McpGuard(v, TOOLS), tok
        v.close()


def headers(tok: str | None) -> list[tuple[str, str]]:
    return [(k, v.replace("{token}", tok or "")) for k, v in RECORDED["headers"] if tok is not None or k != "authorization"]


@pytest.mark.parametrize("req", RECORDED["requests"], ids=[r["name"] for r in RECORDED["requests"]])
def test_recorded_request(req: dict, guard) -> None:
    g, tok = guard
    r = g.check(headers(tok), req["body"].encode())
    want = req["want"]
    assert r.refusal is None
    if "error" in want:
        assert r.hold is None
        assert r.error == {"jsonrpc": "2.0", "id": json.loads(req["body"])["id"], "error": want["error"]}
        return
    assert r.error is None and r.claims is not None and r.claims.subject == "alice"
    assert r.hold is not None
    assert (r.hold is not legant.NO_HOLD) == want.get("hold", False)
    r.hold.release()


def test_max_calls_across_recorded_calls(guard) -> None:
    g, tok = guard
    body = RECORDED["requests"][2]["body"].encode()
    for _ in range(3):
        r = g.check(headers(tok), body)
        assert r.hold is not None and r.error is None
        r.hold.settle()
    r = g.check(headers(tok), body)
    assert r.error is not None and r.error["error"]["data"] == {"reason": "max_calls", "limit": "3", "value": "4"}


def test_no_token_is_refused_with_a_challenge(guard) -> None:
    g, _ = guard
    r = g.check(headers(None), RECORDED["requests"][2]["body"].encode())
    assert r.refusal is not None and r.refusal.status == 401
    assert [v for k, v in r.refusal.headers if k == "WWW-Authenticate"] == [
        'Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp"',
        'DPoP algs="EdDSA ES256 ES384 RS256 PS256"']


def test_tools_list_is_filtered(guard) -> None:
    g, tok = guard
    c = g.verifier.verify(tok)
    listed = [{"name": "submit_expense"}, {"name": "list_expenses"}, {"name": "unbound"}]
    assert g.visible(c, listed) == [{"name": "submit_expense"}]
    assert g.visible(None, listed) == []


def test_middleware_in_front_of_an_asgi_mcp_app(guard) -> None:
    g, tok = guard
    reached: list[dict] = []

    async def app(scope, receive, send):  # a minimal streamable-HTTP JSON-RPC endpoint
        msg = await receive()
        req = json.loads(msg["body"])
        reached.append(req)
        failed = req["params"]["arguments"].get("category") == "meals"
        body = json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": {
            "content": [{"type": "text", "text": "ok"}], "isError": failed}}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": b"event: message\ndata: " + body + b"\n\n"})

    def post(body: bytes) -> dict:
        req = urllib.request.Request(base + "/mcp", data=body, method="POST")
        for k, v in headers(tok):
            if k not in ("host", "user-agent"):
                req.add_header(k, v)
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
        return json.loads(text.split("data: ", 1)[1] if text.startswith("event:") else text)

    ok, denied = RECORDED["requests"][2]["body"], RECORDED["requests"][4]["body"]
    failing = ok.replace('"Travel"', '"meals"')
    with run_uvicorn(McpGuardMiddleware(app, g)) as base:
        assert post(ok.encode())["result"]["isError"] is False
        assert post(denied.encode())["error"]["data"]["reason"] == "max_amount"
        assert post(failing.encode())["result"]["isError"] is True
        assert [r["id"] for r in reached] == [2, 2]  # the denied call never reached the app
        # One call settled (the failed one was released): two of max_calls 3 remain.
        c = g.verifier.verify(tok)
        ledger = g.verifier._ledger
        assert isinstance(ledger, legant.MemoryLedger)
        assert ledger.spent(c.delegation_id) == (legant.parse_decimal("120.5"), 1)
