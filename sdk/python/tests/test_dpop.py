"""DPoP (RFC 9449) across languages. Go → Python: the tokens and proofs of
sdk/testdata/dpop_interop.json, made in Go, sent to real FastAPI (uvicorn,
LegantMiddleware) and Flask (werkzeug, protect) servers on loopback, which
must give the Go middleware's answers recorded there (status, JSON body,
every WWW-Authenticate value), case by case and in order (a replay is the
second use of a proof). Python → Go: proofs made by dpop.new_proof are
verified by Go's dpop.Verify (go run ../testdata/dpopverify)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import pathlib
import shutil
import subprocess
import urllib.parse
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fastapi import FastAPI, Request
from flask import Flask

import legant
from legant import dpop
from legant.asgi import LegantMiddleware, claims_of
from legant.claims import claims_from_json
from legant.flask import claims as flask_claims, protect

from .test_middleware import run_uvicorn, run_werkzeug

REPO = pathlib.Path(__file__).resolve().parents[3]
FX = json.loads((REPO / "sdk" / "testdata" / "dpop_interop.json").read_text())
NOW = dt.datetime.fromtimestamp(FX["now"], dt.timezone.utc)


def verifier_for(mode: str, tmp: pathlib.Path) -> legant.Verifier:
    (tmp / "jwks.json").write_text(json.dumps(FX["jwks"]))
    return legant.Verifier(FX["issuer"], FX["audience"], legant.VerifierOptions(
        jwks_file=str(tmp / "jwks.json"), feed_file=str(tmp / "no-feed"), now=lambda: NOW,
        dpop=legant.DPoPOptions(mode=mode, public_url=FX["public_url"])))


def fastapi_app(v: legant.Verifier) -> Any:
    app = FastAPI()
    app.add_middleware(LegantMiddleware, verifier=v)

    @app.post("/expenses")
    def submit(request: Request) -> dict:
        return {"sub": claims_of(request).subject}
    return app


def flask_app(v: legant.Verifier) -> Flask:
    app = Flask("legant-dpop")

    @app.post("/expenses")
    @protect(v)
    def submit() -> Any:
        return {"sub": flask_claims().subject}
    return app


SERVERS = {"fastapi": (fastapi_app, run_uvicorn), "flask": (flask_app, run_werkzeug)}


def send(base: str, c: dict) -> dict:
    """One request with http.client (several DPoP headers are sent apart, every WWW-Authenticate value seen)."""
    headers = [("Authorization", c["authorization"])] if c.get("authorization") else []
    headers += [("DPoP", p) for p in c.get("dpop") or []]
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.putrequest(c["method"], c["path"])
        for k, v in headers:
            conn.putheader(k, v)
        conn.putheader("Content-Length", "0")
        conn.endheaders()
        r = conn.getresponse()
        return {"status": r.status, "body": json.loads(r.read()),
                "challenges": r.headers.get_all("WWW-Authenticate") or []}
    finally:
        conn.close()


@pytest.mark.parametrize("framework", sorted(SERVERS))
def test_dpop_interop(framework: str, tmp_path: pathlib.Path) -> None:
    """Every Go-made request is answered as the Go middleware answers it."""
    make_app, run = SERVERS[framework]
    assert len(FX["cases"]) >= 37
    for mode in ("allow", "require", "bearer"):
        v = verifier_for(mode, tmp_path)
        try:
            with run(make_app(v)) as base:
                for c in [c for c in FX["cases"] if c["mode"] == mode]:
                    want = {"status": c["status"], "body": c["body"], "challenges": c["www_authenticate"] or []}
                    assert send(base, c) == want, f"{mode}: {c['name']}"
        finally:
            v.close()


def test_normalize_url_and_thumbprints_agree_with_go() -> None:
    for u in FX["urls"]:
        try:
            got = dpop.normalize_url(u["in"])
        except ValueError:
            got = ""
        assert got == u["out"], u["in"]
    for t in FX["thumbprints"]:
        assert dpop.jwk_thumbprint(t["jwk"]) == t["jkt"]


def test_verify_refuses_a_bound_token_and_cnf_is_parsed_strictly(tmp_path: pathlib.Path) -> None:
    v = verifier_for("allow", tmp_path)
    try:
        stolen = next(c for c in FX["cases"] if c["name"] == "stolen token as bearer")["authorization"][len("Bearer "):]
        with pytest.raises(dpop.DPoPError) as e:
            v.verify(stolen)
        assert e.value.reason == "bound_as_bearer" and e.value.code == "invalid_token"
        assert legant.error_description(e.value) == \
            "the token is bound to a key (DPoP): present it with the DPoP scheme and a proof"
        bearer = next(c for c in FX["cases"] if c["name"] == "bearer token")["authorization"][len("Bearer "):]
        assert v.verify(bearer).subject == "alice"
    finally:
        v.close()
    base = {"sub": "a", "authorization_details": [{"type": "legant_delegation"}]}
    parse = lambda extra: claims_from_json(json.dumps({**base, **extra}).encode())  # noqa: E731
    assert parse({"cnf": {"jkt": "abc"}}).bound_key() == "abc"
    hops = parse({"act": {"sub": "x", "cnf": {"jkt": "k2"}, "act": {"sub": "y", "cnf": {"jkt": "k1"}}}})
    assert hops.actor.confirmation.jkt == "k2" and hops.actor.actor.confirmation.jkt == "k1"
    assert parse({"sub": "b"}).bound_key() == ""
    for cnf in [{"x5t#S256": "a"}, {"jkt": "a", "other": "b"}, {}, {"jkt": ""}, {"jkt": 5}, None, "jkt", {"jkt": None}]:
        with pytest.raises(legant.MalformedError):
            parse({"cnf": cnf})
        with pytest.raises(legant.MalformedError):
            parse({"act": {"sub": "x", "cnf": cnf}})
    with pytest.raises(legant.MalformedError):
        claims_from_json(b'{"sub":"a","cnf":{"jkt":"a","jkt":"b"}}')


def test_proofs_made_here_verify_in_go() -> None:
    go = shutil.which("go")
    assert go, "the Go toolchain is needed (dpop.Verify checks the proofs)"
    url = "https://api.example/expenses"
    now = FX["now"]
    keys = [ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256R1()),
            ec.generate_private_key(ec.SECP384R1()), rsa.generate_private_key(65537, 2048)]
    reqs: list[dict] = []
    want: list[dict] = []
    for k in keys:
        jkt = dpop.thumbprint(k)
        p = dpop.new_proof(k, "POST", url, access_token="tok", now=NOW)
        assert dpop.verify_proof(p, method="POST", url=url, now=NOW, access_token="tok", jkt=jkt).jkt == jkt
        for r, w in [({"method": "POST", "url": url, "access_token": "tok", "jkt": jkt, "now": now}, {"ok": True, "jkt": jkt}),
                     ({"method": "GET", "url": url, "access_token": "tok", "jkt": jkt, "now": now}, {"ok": False, "code": "invalid_dpop_proof"}),
                     ({"method": "POST", "url": url, "access_token": "other", "jkt": jkt, "now": now}, {"ok": False, "code": "invalid_dpop_proof"}),
                     ({"method": "POST", "url": "HTTPS://API.EXAMPLE:443/expenses?x=1", "access_token": "tok", "jkt": "someone-else", "now": now},
                      {"ok": False, "code": "invalid_dpop_proof"}),
                     ({"method": "POST", "url": url, "access_token": "tok", "jkt": jkt, "now": now + 61}, {"ok": False, "code": "invalid_dpop_proof"})]:
            reqs.append({"proof": p, **r})
            want.append(w)
    nonced = dpop.new_proof(keys[1], "POST", url, nonce="n-1", now=NOW)
    reqs.append({"proof": nonced, "method": "POST", "url": url, "now": now})
    want.append({"ok": True, "jkt": dpop.thumbprint(keys[1])})
    out = subprocess.run([go, "run", "./sdk/testdata/dpopverify"], cwd=REPO, input=json.dumps(reqs), text=True,
                         capture_output=True, check=True).stdout
    assert json.loads(out) == want
    for r, w in zip(reqs, want):  # and here, for the same requests
        try:
            got = {"ok": True, "jkt": dpop.verify_proof(r["proof"], method=r["method"], url=r["url"],
                                                         now=dt.datetime.fromtimestamp(r["now"], dt.timezone.utc),
                                                         access_token=r.get("access_token", ""), jkt=r.get("jkt", "")).jkt}
        except dpop.DPoPError as e:
            got = {"ok": False, "code": e.code}
        assert got == w


def test_memory_replay_cache_is_bounded_and_fails_closed() -> None:
    t = [1000.0]
    at = lambda s: dt.datetime.fromtimestamp(s, dt.timezone.utc)  # noqa: E731
    c = dpop.MemoryReplayCache(2, now=lambda: at(t[0]))
    assert c.remember("a", at(1065)) is True
    assert c.remember("a", at(1065)) is False  # replay
    assert c.remember("b", at(1030)) is True
    assert c.remember("c", at(1065)) is False  # full, nothing expired: refused
    t[0] = 1031
    assert c.remember("c", at(1096)) is True  # b expired and was dropped
    assert len(c) == 2
    t[0] = 1066
    assert c.remember("a", at(1131)) is True
