"""Each middleware in a real server of its framework on loopback (uvicorn
for FastAPI and Starlette, werkzeug for Flask), in front of a real legant
issuer: allowed 200, denied 403 insufficient_scope, no token 401, call
budget enforced, and revoked (through the signed feed) 401 invalid_token."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Iterator

import pytest
import uvicorn
from fastapi import FastAPI, Request
from flask import Flask, request as flask_request
from werkzeug.serving import make_server

import legant
from legant.asgi import LegantMiddleware, claims_of
from legant.flask import claims as flask_claims, protect

AUD = "https://api.example/expenses"
METADATA = "https://api.example/.well-known/oauth-protected-resource/expenses"


def expense(amount: str) -> legant.Action:
    return legant.Action(tool="submit_expense", amount=amount, currency="USD", category="travel")


def fastapi_app(v: legant.Verifier) -> Any:
    app = FastAPI()
    app.add_middleware(LegantMiddleware, verifier=v, scope="expenses:write",
                       action=lambda r: expense(r.query_params.get("amount", "")))

    @app.post("/expenses")
    def submit(request: Request) -> dict:
        return {"by": claims_of(request).provenance()}

    @app.post("/fail")
    def fail() -> Any:
        from fastapi.responses import JSONResponse
        return JSONResponse({"error": "upstream"}, status_code=502)
    return app


def flask_app(v: legant.Verifier) -> Flask:
    app = Flask("legant-test")
    guard = protect(v, scope="expenses:write", action=lambda r: expense(r.args.get("amount", "")))

    @app.post("/expenses")
    @guard
    def submit() -> Any:
        return {"by": flask_claims().provenance()}

    @app.post("/fail")
    @guard
    def fail() -> Any:
        return {"error": "upstream"}, 502
    return app


@contextlib.contextmanager
def run_uvicorn(app: Any) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        t.join(10)
        sock.close()


@contextlib.contextmanager
def run_werkzeug(app: Flask) -> Iterator[str]:
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        t.join(10)


SERVERS: dict[str, tuple[Callable[[legant.Verifier], Any], Callable[[Any], Any]]] = {
    "fastapi": (fastapi_app, run_uvicorn),
    "flask": (flask_app, run_werkzeug),
}


def post(url: str, token: str | None) -> tuple[int, Any, dict]:
    req = urllib.request.Request(url, method="POST", data=b"")
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers, json.loads(e.read())


@pytest.fixture
def verifier(issuer) -> Iterator[legant.Verifier]:
    v = legant.Verifier(issuer.base, AUD, legant.VerifierOptions(allow_http=True, feed_interval=3600))
    yield v
    v.close()


@pytest.mark.parametrize("framework", sorted(SERVERS))
def test_middleware(framework: str, issuer, verifier: legant.Verifier) -> None:
    make_app, run = SERVERS[framework]
    user = "user-" + framework
    token = issuer.mint(user, AUD, "--scope", "expenses:write", "--tool", "submit_expense",
                        "--max-amount", "500", "--currency", "USD", "--category", "Travel", "--max-calls", "2")
    reader = issuer.mint(user + "-reader", AUD, "--scope", "expenses:read")
    with run(make_app(verifier)) as base:
        status, headers, body = post(base + "/expenses?amount=499.99", token)
        assert status == 200, body
        assert body == {"by": f"user:{user} → agent:planner"}

        status, headers, body = post(base + "/expenses?amount=500.0000001", token)
        assert status == 403
        assert headers["WWW-Authenticate"] == (
            f'Bearer resource_metadata="{METADATA}", error="insufficient_scope", '
            'error_description="denied: amount 500.0000001 exceeds max_amount 500"')
        assert body == {"error": "insufficient_scope",
                        "error_description": "denied: amount 500.0000001 exceeds max_amount 500",
                        "decision": {"reason": "max_amount", "limit": "500", "value": "500.0000001"}}
        assert headers["Cache-Control"] == "no-store"

        status, headers, body = post(base + "/expenses?amount=10", reader)
        assert status == 403
        assert headers["WWW-Authenticate"] == (
            f'Bearer resource_metadata="{METADATA}", error="insufficient_scope", '
            'error_description="the token lacks scope expenses:write", scope="expenses:write"')

        status, headers, body = post(base + "/expenses?amount=10", None)
        assert status == 401
        assert headers["WWW-Authenticate"] == f'Bearer resource_metadata="{METADATA}", scope="expenses:write"'
        assert body == {"error": "invalid_request", "error_description": "a bearer token is required"}

        status, headers, body = post(base + "/expenses?amount=10", token + "x")
        assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]

        # A failed handler releases its hold: the second of max_calls 2 is still available.
        assert post(base + "/fail?amount=1", token)[0] == 502
        assert post(base + "/expenses?amount=1", token)[0] == 200
        status, _, body = post(base + "/expenses?amount=1", token)
        assert status == 403 and body["decision"] == {"reason": "max_calls", "limit": "2", "value": "3"}

        fresh = issuer.mint(user, AUD, "--scope", "expenses:write")
        assert post(base + "/expenses?amount=1", fresh)[0] == 200
        issuer.revoke("--user", user)
        deadline = time.monotonic() + 20
        before = verifier.feed_status()
        while time.monotonic() < deadline:
            verifier.refresh_feed()  # the issuer's signed, versioned feed, as the background poll does
            if verifier.feed_status().version > before.version:
                break
            time.sleep(0.1)
        assert verifier.feed_status().version > before.version, verifier.feed_status()
        status, headers, body = post(base + "/expenses?amount=1", fresh)
        assert status == 401
        assert headers["WWW-Authenticate"] == (
            f'Bearer resource_metadata="{METADATA}", error="invalid_token", '
            'error_description="the token has been revoked", scope="expenses:write"')
        assert body == {"error": "invalid_token", "error_description": "the token has been revoked"}
