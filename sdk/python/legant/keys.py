"""JSON Web Key Sets (Go's authority.ParseJWKS) and JWS verification with an
explicit algorithm allow-list (Go's authority.verifyCompact), on PyJWT's
algorithm objects and the cryptography package."""

from __future__ import annotations

import base64
import datetime as _dt
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from ._gostr import truncate
from ._json import JSONObject, decode_object, string_value
from .errors import AlgorithmError, MalformedError, SignatureError, TokenTypeError, UnknownKeyError

ALG_EDDSA = "EdDSA"
ALG_RS256 = "RS256"
DEFAULT_ALGORITHMS = (ALG_EDDSA, ALG_RS256)
MIN_RSA_BITS = 2048
MAX_TOKEN_SIZE = 64 << 10
TOKEN_TYPE = "at+jwt"

_ALGS: dict[str, Any] = {ALG_EDDSA: OKPAlgorithm(), ALG_RS256: RSAAlgorithm(RSAAlgorithm.SHA256)}
_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64decode(s: str) -> bytes:
    """Unpadded base64url, strictly (Go's RawURLEncoding.Strict()): no
    padding, no stray characters, no non-zero trailing bits."""
    if not all(c in _B64 for c in s) or len(s) % 4 == 1:
        raise ValueError("illegal base64 data")
    data = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode() != s:
        raise ValueError("illegal base64 data (trailing bits)")
    return data


@dataclass(frozen=True)
class Key:
    """A verification key: its kid, its algorithm and the public key."""

    kid: str
    alg: str
    public: Any


class KeySet:
    """A verify-only key set parsed from a JWKS. Immutable; safe to share."""

    def __init__(self, keys: list[Key] | None = None) -> None:
        self._keys = {k.kid: k for k in keys or []}

    def lookup(self, kid: str) -> Key | None:
        return self._keys.get(kid)

    def __len__(self) -> int:
        return len(self._keys)


def parse_jwks(data: bytes | str) -> KeySet:
    """authority.ParseJWKS: Ed25519 (OKP) and RSA keys; keys of other types
    or algorithms are skipped; a malformed key, a duplicate or missing kid or
    private key material is an error (MalformedError)."""
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise MalformedError('malformed token: JWKS: want {"keys":[…]}') from e
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise MalformedError('malformed token: JWKS: want {"keys":[…]}')
    keys: list[Key] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc["keys"]):
        try:
            k = _parse_jwk(raw)
        except (ValueError, TypeError) as e:
            raise MalformedError(f"malformed token: JWKS key {i}: {e}") from e
        if k is None:
            continue
        if k.kid in seen:
            raise MalformedError(f"malformed token: JWKS: duplicate kid {k.kid!r}")
        seen.add(k.kid)
        keys.append(k)
    return KeySet(keys)


def _parse_jwk(raw: Any) -> Key | None:
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    j = {k: string_value(raw.get(k)) for k in ("kty", "crv", "x", "n", "e", "kid", "alg", "use", "d")}
    if j["d"]:
        raise ValueError("private key material in a public JWKS")
    if j["use"] not in ("", "sig"):
        return None
    if j["kty"] == "OKP" and j["crv"] == "Ed25519" and j["alg"] in ("", ALG_EDDSA):
        try:
            x = b64decode(j["x"])
        except ValueError:
            x = b""
        if len(x) != 32:
            raise ValueError("bad Ed25519 x")
        return _key(j["kid"], ALG_EDDSA, Ed25519PublicKey.from_public_bytes(x))
    if j["kty"] == "RSA" and j["alg"] in ("", ALG_RS256):
        return _key(j["kid"], ALG_RS256, _rsa_public(j["n"], j["e"]))
    return None


def _key(kid: str, alg: str, pub: Any) -> Key:
    if kid == "":
        raise ValueError("authority: empty key id")
    return Key(kid, alg, pub)


def _rsa_public(n64: str, e64: str) -> Any:
    try:
        n = b64decode(n64)
    except ValueError:
        n = b""
    if not n or n[0] == 0:
        raise ValueError("bad RSA n")
    try:
        e = b64decode(e64)
    except ValueError:
        e = b""
    if not e or len(e) > 4 or e[0] == 0:
        raise ValueError("bad RSA e")
    ev, nv = int.from_bytes(e, "big"), int.from_bytes(n, "big")
    if ev < 3 or ev % 2 == 0:
        raise ValueError("bad RSA e")
    if nv.bit_length() < MIN_RSA_BITS:
        raise ValueError(f"authority: RSA key has {nv.bit_length()} bits, want at least {MIN_RSA_BITS}")
    return RSAPublicNumbers(ev, nv).public_key()


def _same_type(got: str, want: str) -> bool:
    """JOSE typ compared as a media type: case-insensitive, optional "application/"."""
    got, want = got.lower(), want.lower()
    return got == want or got == "application/" + want


def verify_compact(token: str, ks: KeySet | None, typ: str, algorithms: tuple[str, ...] | list[str] | None) -> bytes:
    """Check the header and signature of a compact JWS and return its payload
    bytes; the order of checks and the errors are Go's verifyCompact."""
    if ks is None:
        raise UnknownKeyError("unknown signing key: no key set")
    allowed = _allowed(algorithms)
    if len(token) > MAX_TOKEN_SIZE:
        raise MalformedError(f"malformed token: token larger than {MAX_TOKEN_SIZE} bytes")
    if token.count(".") != 2:
        raise MalformedError("malformed token: want three dot-separated segments")
    h64, p64, s64 = token.split(".")
    try:
        h = decode_object(b64decode(h64))
        alg, kid, htyp = (string_value(h.get(k)) for k in ("alg", "kid", "typ"))
    except ValueError as e:
        raise MalformedError(f"malformed token: header: {e}") from e
    if alg not in allowed:
        raise AlgorithmError(f"signing algorithm not allowed: {truncate(alg, 40)!r}")
    if not _same_type(htyp, typ):
        raise TokenTypeError(f"wrong token type: typ {truncate(htyp, 40)!r}, want {typ!r}")
    if "crit" in h:
        raise MalformedError("malformed token: unsupported critical header parameters")
    if kid == "":
        raise UnknownKeyError("unknown signing key: kid missing")
    key = ks.lookup(kid)
    if key is None:
        raise UnknownKeyError(f"unknown signing key: kid {truncate(kid, 100)!r}")
    if key.alg != alg:
        raise AlgorithmError(f"signing algorithm not allowed: key {key.kid!r} is {key.alg}, token says {alg}")
    try:
        payload = b64decode(p64)
        sig = b64decode(s64)
        payload = _first_value(payload)
    except ValueError as e:
        raise MalformedError(f"malformed token: {e}") from e
    if not _ALGS[alg].verify((h64 + "." + p64).encode("ascii"), key.public, sig):
        raise SignatureError("invalid signature: token signature is invalid")
    return payload


def _first_value(payload: bytes) -> bytes:
    """golang-jwt decodes the claims with a json.Decoder before checking the
    signature: the payload must start with one valid JSON value (what
    follows it is ignored), which is what the claims are read from."""
    text = payload.decode("utf-8", "replace")
    start = len(text) - len(text.lstrip(" \t\r\n"))
    try:
        _, end = json.JSONDecoder().raw_decode(text, start)
    except ValueError as e:
        raise ValueError(f"token is malformed: could not JSON decode claim: {e}") from e
    return text[start:end].encode("utf-8", "surrogatepass")


def _allowed(algs: tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if algs is None:
        return DEFAULT_ALGORITHMS
    for a in algs:
        if a not in DEFAULT_ALGORITHMS:
            raise AlgorithmError(f"signing algorithm not allowed: {a!r} cannot be allowed")
    return tuple(algs)


def unix(sec: int) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(sec, _dt.timezone.utc)


__all__ = ["ALG_EDDSA", "ALG_RS256", "DEFAULT_ALGORITHMS", "Key", "KeySet", "parse_jwks", "verify_compact",
           "JSONObject"]
