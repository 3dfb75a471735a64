"""The starters for `legant snippet flask|fastapi|py-mcp`: the Flask and
FastAPI ones run in their servers on loopback against an issuer's JWKS
(401 without a token, 200 with one, 403 over max_amount); py-mcp needs the
mcp package, which Debian 12 does not ship: it is compiled only, and the
guard it uses is tested in test_mcpguard.py."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

from .helpers import self_signed, serve
from .signing import TestKey, jwks, token
from .test_middleware import post, run_uvicorn, run_werkzeug

# sdk/snippets/py: the files `legant snippet` embeds and prints.
SNIPPETS = pathlib.Path(__file__).resolve().parents[2] / "snippets" / "py"
AUD = "https://api.example/expenses"


def load(name: str):
    spec = importlib.util.spec_from_file_location("snippet_" + name.replace("-", "_"), SNIPPETS / (name + ".py"))
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name,run", [("flask", run_werkzeug), ("fastapi", run_uvicorn)])
def test_snippet_serves(name: str, run, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    k = TestKey("k1")
    tls = self_signed(str(tmp_path))
    # The starters use the defaults: https only. The issuer's certificate is
    # trusted through OpenSSL's SSL_CERT_FILE, read by Python's default context.
    monkeypatch.setenv("SSL_CERT_FILE", tls[0])
    with serve({"/.well-known/jwks.json": jwks(k)}, tls) as issuer:
        monkeypatch.setenv("LEGANT_ISSUER", issuer)
        monkeypatch.setenv("RESOURCE", AUD)
        mod = load(name)
        tok = token(k, issuer, AUD, scope="expenses:write", authorization_details=[
            {"type": "legant_delegation", "categories": ["travel"], "max_amount": {"value": "500", "currency": "USD"}}])
        try:
            with run(mod.app) as base:
                assert post(base + "/expenses?amount=120&category=Travel", None)[0] == 401
                status, _, body = post(base + "/expenses?amount=120&category=Travel", tok)
                assert (status, body) == (200, {"accepted": "120 USD", "for": "alice"})
                status, _, body = post(base + "/expenses?amount=501&category=Travel", tok)
                assert status == 403 and body["decision"]["reason"] == "max_amount"
        finally:
            mod.verifier.close()


def test_py_mcp_snippet_compiles() -> None:
    compile((SNIPPETS / "py-mcp.py").read_text(), "py-mcp.py", "exec")
