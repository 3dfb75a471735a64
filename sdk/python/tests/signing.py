"""Test-only signing: Ed25519 keys and compact JWS in the issuer's formats
(authority.SignJWS: header alg, kid, typ), for tokens and revocation feeds."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class TestKey:
    __test__ = False

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.priv = Ed25519PrivateKey.generate()

    def jwk(self) -> dict[str, str]:
        raw = self.priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw), "kid": self.kid, "alg": "EdDSA", "use": "sig"}

    def sign(self, typ: str, payload: Any) -> str:
        h = b64(json.dumps({"alg": "EdDSA", "kid": self.kid, "typ": typ}).encode())
        p = b64(json.dumps(payload).encode())
        return f"{h}.{p}.{b64(self.priv.sign(f'{h}.{p}'.encode()))}"


def jwks(*keys: TestKey) -> bytes:
    return json.dumps({"keys": [k.jwk() for k in keys]}).encode()


def token(key: TestKey, iss: str, aud: str, sub: str = "alice", **extra: Any) -> str:
    now = int(time.time())
    claims = {"iss": iss, "sub": sub, "aud": aud, "iat": now, "exp": now + 3600, "jti": "tok-" + sub,
              "act": {"sub": "planner"}, "delegation_id": "dlg-" + sub,
              "authorization_details": [{"type": "legant_delegation"}]}
    claims.update(extra)
    return key.sign("at+jwt", claims)


def feed(key: TestKey, iss: str, version: int, iat: int | None = None, ttl: int = 300, **lists: list[str]) -> bytes:
    iat = int(time.time()) if iat is None else iat
    body = {"iss": iss, "iat": iat, "exp": iat + ttl, "version": version,
            "jti": [], "delegations": [], "agents": [], "users": []}
    body.update(lists)
    return key.sign("legant-revocations+jwt", body).encode()
