"""examples/protect-your-api/python/app.py (the Flask example run.sh serves)
with the JWKS and signed feed as files, as run.sh publishes them: allowed,
denied on the amount, refused once the feed file revokes the agent."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import time

import legant

from .signing import TestKey, feed, jwks, token
from .test_middleware import post, run_werkzeug

APP = pathlib.Path(__file__).resolve().parents[3] / "examples" / "protect-your-api" / "python" / "app.py"
ISSUER = "https://issuer.example"


def load_example():
    spec = importlib.util.spec_from_file_location("protect_example", APP)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_example_app(tmp_path: pathlib.Path) -> None:
    k = TestKey("issuer-key")
    (tmp_path / "jwks.json").write_bytes(jwks(k))
    (tmp_path / "revoked.jwt").write_bytes(feed(k, ISSUER, 1))
    example = load_example()
    tok = token(k, ISSUER, example.RESOURCE, scope="expenses:write", act={"sub": "executor", "act": {"sub": "planner"}},
                authorization_details=[{"type": "legant_delegation", "actions": ["submit_expense"],
                                        "max_amount": {"value": "500", "currency": "USD"}}])
    v = legant.Verifier(ISSUER, example.RESOURCE, legant.VerifierOptions(
        jwks_file=str(tmp_path / "jwks.json"), feed_file=str(tmp_path / "revoked.jwt"), feed_interval=0.05))
    try:
        with run_werkzeug(example.create_app(v)) as base:
            status, _, body = post(base + "/expenses?amount=300", tok)
            assert (status, body) == (200, {"accepted": "300 USD", "by": "user:alice → agent:planner → agent:executor"})
            status, headers, body = post(base + "/expenses?amount=700", tok)
            assert status == 403 and body["decision"] == {"reason": "max_amount", "limit": "500", "value": "700"}
            (tmp_path / "revoked.jwt").write_bytes(feed(k, ISSUER, 2, agents=["executor"]))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and v.feed_status().version < 2:
                time.sleep(0.02)  # the background poll re-reads the file every 50 ms
            status, headers, body = post(base + "/expenses?amount=1", tok)
            assert status == 401 and body == {"error": "invalid_token", "error_description": "the token has been revoked"}
            with __import__("urllib.request").request.urlopen(
                    base + "/.well-known/oauth-protected-resource/expenses") as r:
                assert json.loads(r.read())["authorization_servers"] == [ISSUER]
    finally:
        v.close()
