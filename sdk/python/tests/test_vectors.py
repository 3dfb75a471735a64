"""Every case of authority/testdata/vectors.json through the public API, as
sdk/vectors_test.go runs them: the case's JWKS served over HTTP on loopback,
a Verifier fetching it, verify at the case's fixed instant, then
authorize_action on the case's action (resources compared as URLs)."""

from __future__ import annotations

import datetime as dt
import json
import pathlib

import pytest

import legant
from legant.policy import RESOURCE_URL

from .helpers import serve

VECTORS = pathlib.Path(__file__).resolve().parents[3] / "authority" / "testdata" / "vectors.json"
FILE = json.loads(VECTORS.read_text())
ERRORS = {
    "malformed": legant.MalformedError, "algorithm": legant.AlgorithmError, "unknown_key": legant.UnknownKeyError,
    "signature": legant.SignatureError, "expired": legant.ExpiredError, "not_yet_valid": legant.NotYetValidError,
    "issuer": legant.IssuerError, "audience": legant.AudienceError, "missing_actor": legant.MissingActorError,
    "type": legant.TokenTypeError, "constraints": legant.ConstraintsError,
}


def instant(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_file_shape() -> None:
    assert FILE["version"] == 1
    assert len(FILE["cases"]) >= 41
    assert sum(1 for c in FILE["cases"] if c.get("action")) >= 20


@pytest.fixture(scope="module")
def jwks_server():
    docs: dict[str, bytes] = {}
    with serve(docs) as base:
        yield base, docs


@pytest.mark.parametrize("case", FILE["cases"], ids=[c["name"] for c in FILE["cases"]])
def test_vector(case: dict, jwks_server) -> None:
    base, docs = jwks_server
    docs["/jwks"] = json.dumps(case["jwks"]).encode()  # no /feed: the Verifier fails open
    now = instant(case["now"])
    o = case["options"]
    v = legant.Verifier(o["issuer"], o["audience"], legant.VerifierOptions(
        jwks_url=base + "/jwks", feed_url=base + "/feed", allow_http=True,
        leeway=o["leeway_seconds"], algorithms=tuple(o["algorithms"]), now=lambda: now))
    try:
        want = case["expect"].get("error", "")
        if not want and not o["require_actor"]:
            want = "missing_actor"  # the SDK always requires act, as the gateway does
        if want:
            with pytest.raises(ERRORS[want]):
                v.verify(case["token"])
            return
        claims = v.verify(case["token"])
    finally:
        v.close()
    exp = case["expect"]["claims"]
    assert claims.issuer == exp["iss"] and claims.subject == exp["sub"] and claims.id == exp.get("jti", "")
    assert list(claims.audience) == exp["aud"]
    assert claims.expires_at == instant(exp["exp"])
    assert claims.issued_at == (instant(exp["iat"]) if exp.get("iat") else None)
    assert claims.client_id == exp.get("client_id", "")
    assert list(claims.scopes) == exp.get("scopes", [])
    assert claims.chain() == exp.get("chain", [])
    assert claims.provenance() == exp["provenance"] and claims.principal() == exp["principal"]
    assert claims.delegation_id == exp.get("delegation_id", "")
    assert claims.parent_id == exp.get("parent_delegation_id", "")
    assert claims.constraints.to_json() == exp["authorization_details"]
    act = case.get("action")
    if act is None:
        return
    a = legant.Action(tool=act["tool"], category=act.get("category", ""), resource=act.get("resource", ""),
                      resource_kind=RESOURCE_URL, at=instant(act["at"]),
                      amount=(act.get("amount") or {}).get("value", ""),
                      currency=(act.get("amount") or {}).get("currency", ""))
    d = legant.authorize_action(claims, a)
    want_auth = case["authorize"]
    assert d.allow == want_auth["allow"], d
    if not want_auth["allow"]:
        assert d.constraint == want_auth["constraint"], d
