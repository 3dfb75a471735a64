"""DPoP (RFC 9449) for resource servers, the counterpart of Go's
authority/dpop: proof verification (typ, asymmetric alg allow-list, a public
jwk, its signature, htm, htu normalized, iat window, ath, nonce), RFC 7638
thumbprints, a bounded replay cache, the check of a request whose token
verified (modes allow/require/bearer), error codes and texts, and the
WWW-Authenticate DPoP challenge. new_proof makes proofs (clients, tests)."""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ._json import JSONObject, Num, loads
from .claims import Claims
from .errors import TokenError
from .keys import b64decode

ALGORITHMS: tuple[str, ...] = ("EdDSA", "ES256", "ES384", "RS256", "PS256")
DEFAULT_MAX_AGE = 60  # seconds a proof (its iat) may be old
DEFAULT_SKEW = 5  # seconds a proof's iat may be in the future
MAX_ID_LENGTH = 256  # bytes of a jti: a replay cache must not hold a megabyte per entry
DEFAULT_REPLAY_CACHE_SIZE = 100_000

MODE_ALLOW, MODE_REQUIRE, MODE_BEARER = "allow", "require", "bearer"

_TEXTS = {
    "use_nonce": "a DPoP proof with the server's nonce is required",
    "replayed": "the DPoP proof was used before",
    "key_mismatch": "the DPoP proof is not signed by the key the token is bound to",
    "invalid_proof": "the DPoP proof is invalid",
    "bound_as_bearer": "the token is bound to a key (DPoP): present it with the DPoP scheme and a proof",
    "not_bound": "the token is not bound to a key: this resource requires DPoP-bound tokens",
    "not_accepted": "this resource does not accept DPoP-bound tokens",
}


class DPoPError(TokenError):
    """A refusal by DPoP, one reason per sentinel of Go's authority/dpop.
    ``code`` is the OAuth error a client sees (dpop.ErrorCode),
    ``description`` the client-safe text (dpop.ErrorText); str(e) is for logs."""

    kind = "dpop"

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{_TEXTS[reason]}: {detail}" if detail else _TEXTS[reason])

    @property
    def code(self) -> str:
        if self.reason == "use_nonce":
            return "use_dpop_nonce"
        if self.reason in ("invalid_proof", "replayed", "key_mismatch"):
            return "invalid_dpop_proof"
        return "invalid_token"

    @property
    def description(self) -> str:
        return _TEXTS[self.reason]


def _invalid(detail: str) -> DPoPError:
    return DPoPError("invalid_proof", detail)


# -- URLs (Go's net/url as dpop.NormalizeURL uses it) ------------------------

_ALNUM = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_HOST_OK = frozenset(b"!$&'()*+,;=:[]<>\"-_.~") | _ALNUM
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _unescape(s: str, host: bool) -> bytes:
    b = s.encode("utf-8", "surrogatepass")
    out = bytearray()
    i = 0
    while i < len(b):
        c = b[i]
        if c == 0x25:
            if i + 2 >= len(b) or b[i + 1] not in _HEX or b[i + 2] not in _HEX:
                raise ValueError("invalid URL escape")
            # RFC 3986 §3.2.2 as Go reads it: in a host, %-encoding only for non-ASCII bytes (and %25).
            if host and b[i + 1] < ord("8") and b[i + 1:i + 3] != b"25":
                raise ValueError("invalid URL escape in host")
            out.append(int(b[i + 1:i + 3], 16))
            i += 3
            continue
        if host and c < 0x80 and c not in _HOST_OK:
            raise ValueError("invalid character in host name")
        out.append(c)
        i += 1
    return bytes(out)


def _should_escape_path(c: int) -> bool:
    if c in _ALNUM or c in b"-_.~":
        return False
    if c in b"$&+,/:;=?@":
        return c == ord("?")
    return True


def _escaped_path(p: str) -> str:
    raw = _unescape(p, False)
    if all(c in b"!$&'()*+,;=:@[]%" or (c < 0x80 and not _should_escape_path(c)) for c in p.encode("utf-8")):
        return p
    return "".join(f"%{c:02X}" if _should_escape_path(c) else chr(c) for c in raw)


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def normalize_url(raw: str) -> str:
    """dpop.NormalizeURL: raw as htu compares it — scheme and host in lower
    case, the default port dropped, no query, no fragment, "/" for an empty
    path; the path as sent. Raises ValueError for anything but an absolute
    http(s) URL without user information."""
    bad = ValueError(f"{raw!r} is not an absolute http(s) URL")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise bad
    rest = raw.split("#", 1)[0]
    m = _SCHEME.match(rest)
    if not m:
        raise bad
    scheme = m.group(1).lower()
    rest = rest[m.end():].split("?", 1)[0]
    if scheme not in ("http", "https") or not rest.startswith("//"):
        raise bad
    rest = rest[2:]
    authority, slash, path = rest.partition("/")
    path = slash + path
    if "@" in authority:
        raise bad
    try:
        if authority.startswith("["):
            end = authority.find("]")
            if end < 0:
                raise bad
            after = authority[end + 1:]
            if after and not re.fullmatch(r":[0-9]*", after):
                raise bad
            host, port = _unescape(authority[1:end], True).decode("utf-8", "replace"), after[1:]
        else:
            hp, colon, port = authority.rpartition(":")
            if not colon:
                hp, port = authority, ""
            if not re.fullmatch(r"[0-9]*", port) or ":" in hp:
                raise bad
            host = _unescape(hp, True).decode("utf-8", "replace")
        host = host.lower()
        if host == "" and port == "" and not authority.startswith("["):
            raise bad
        if ":" in host:
            host = f"[{host}]"
        if port and not (scheme == "http" and port == "80") and not (scheme == "https" and port == "443"):
            host += ":" + port
        p = _escaped_path(path)
    except ValueError:
        raise bad from None
    return f"{scheme}://{host}{p or '/'}"


# -- keys --------------------------------------------------------------------

_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_CURVES = {"P-256": (ec.SECP256R1(), 32, "ES256"), "P-384": (ec.SECP384R1(), 48, "ES384")}


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _jwk_string(obj: dict, name: str) -> str:
    """A JWK member as encoding/json reads a string field: case-insensitive
    key, the last one wins, null is ""."""
    v: Any = None
    for k, x in obj.items():
        if k.lower() == name:
            v = x
    if v is None:
        return ""
    if not isinstance(v, str):
        raise _invalid(f"jwk: {name} is not a string")
    return v


def _decode(s: str) -> bytes | None:
    try:
        return b64decode(s)
    except ValueError:
        return None


def _parse_jwk(raw: Any) -> tuple[Any, dict[str, str], str]:
    """dpop.parseJWK: the public key of a jwk header, the JWK and its thumbprint."""
    if not isinstance(raw, dict):
        raise _invalid("jwk is not an object")
    for m in _PRIVATE_MEMBERS:
        if m in raw:
            raise _invalid(f"jwk carries private key member {m!r}")
    kty, crv, x, y, n, e = (_jwk_string(raw, k) for k in ("kty", "crv", "x", "y", "n", "e"))
    if kty == "OKP":
        xb = _decode(x)
        if crv != "Ed25519" or xb is None or len(xb) != 32:
            raise _invalid("jwk: OKP key must be Ed25519 with a 32-byte x")
        jwk = {"kty": kty, "crv": crv, "x": x}
        return ed25519.Ed25519PublicKey.from_public_bytes(xb), jwk, jwk_thumbprint(jwk)
    if kty == "EC":
        if crv not in _CURVES:
            raise _invalid(f"jwk: curve {crv!r} not allowed")
        curve, size, _ = _CURVES[crv]
        xb, yb = _decode(x), _decode(y)
        if xb is None or yb is None or len(xb) != size or len(yb) != size:
            raise _invalid("jwk: bad EC coordinates")
        try:
            pub = ec.EllipticCurvePublicNumbers(int.from_bytes(xb, "big"), int.from_bytes(yb, "big"), curve).public_key()
        except ValueError:
            raise _invalid("jwk: EC point not on the curve") from None
        jwk = {"kty": kty, "crv": crv, "x": x, "y": y}
        return pub, jwk, jwk_thumbprint(jwk)
    if kty == "RSA":
        nb, eb = _decode(n), _decode(e)
        if nb is None or eb is None or len(nb) < 256 or not 0 < len(eb) <= 4:
            raise _invalid("jwk: RSA key must have a modulus of at least 2048 bits")
        try:
            pub = rsa.RSAPublicNumbers(int.from_bytes(eb, "big"), int.from_bytes(nb, "big")).public_key()
        except ValueError:
            raise _invalid("jwk: unusable RSA key") from None
        jwk = {"kty": kty, "n": n, "e": e}
        return pub, jwk, jwk_thumbprint(jwk)
    raise _invalid(f"jwk: key type {kty!r} not allowed")


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK (OKP, EC or RSA): the
    value of an access token's cnf.jkt when it is bound to that key."""
    members = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}.get(jwk.get("kty", ""))
    if members is None:
        raise ValueError(f"dpop: key type {jwk.get('kty')!r} not supported")
    canon = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"))
    return _b64(hashlib.sha256(canon.encode()).digest())


def public_jwk(key: Any) -> dict[str, str]:
    """The public JWK of a private or public key (Ed25519, P-256, P-384, RSA)."""
    pub = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64(pub.public_bytes(Encoding.Raw, PublicFormat.Raw))}
    if isinstance(pub, ec.EllipticCurvePublicKey):
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}.get(pub.curve.name)
        if crv is None:
            raise ValueError(f"dpop: unsupported curve {pub.curve.name}")
        size, nums = _CURVES[crv][1], pub.public_numbers()
        return {"kty": "EC", "crv": crv, "x": _b64(nums.x.to_bytes(size, "big")), "y": _b64(nums.y.to_bytes(size, "big"))}
    if isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        return {"kty": "RSA", "n": _b64(nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")),
                "e": _b64(nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big"))}
    raise ValueError(f"dpop: unsupported key type {type(pub).__name__}")


def thumbprint(key: Any) -> str:
    """The RFC 7638 thumbprint of a key (Go's dpop.Thumbprint)."""
    return jwk_thumbprint(public_jwk(key))


def access_token_hash(token: str) -> str:
    """A proof's ath for token: base64url(SHA-256(token))."""
    return _b64(hashlib.sha256(token.encode()).digest())


def _verify_signature(alg: str, jwk: dict[str, str], pub: Any, data: bytes, sig: bytes) -> bool:
    """The signature as golang-jwt's method alg checks it: a key of the
    algorithm's type (and curve), ECDSA as r||s of the curve's size, PSS
    salts of any length (PSSSaltLengthAuto)."""
    try:
        if alg == "EdDSA" and jwk["kty"] == "OKP":
            pub.verify(sig, data)
            return True
        if alg in ("ES256", "ES384") and jwk["kty"] == "EC" and _CURVES[jwk["crv"]][2] == alg:
            size = _CURVES[jwk["crv"]][1]
            if len(sig) != 2 * size:
                return False
            der = encode_dss_signature(int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big"))
            pub.verify(der, data, ec.ECDSA(hashes.SHA256() if alg == "ES256" else hashes.SHA384()))
            return True
        if alg == "RS256" and jwk["kty"] == "RSA":
            pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
            return True
        if alg == "PS256" and jwk["kty"] == "RSA":
            pub.verify(sig, data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
                       hashes.SHA256())
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


# -- proofs ------------------------------------------------------------------

@dataclass(frozen=True)
class Proof:
    """A verified DPoP proof: id (jti, for the replay cache), issued_at (iat,
    seconds), jkt (the thumbprint of its key), method (htm), url (htu, normalized)."""

    id: str
    issued_at: int
    jkt: str
    method: str
    url: str


_B64_CHARS = re.compile(r"^[A-Za-z0-9_-]*$")


def _segment(s: str) -> bytes:
    if not _B64_CHARS.match(s) or len(s) % 4 == 1:
        raise ValueError("bad base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify_proof(proof: str, *, method: str, url: str, now: _dt.datetime, access_token: str = "", jkt: str = "",
                 nonce: str = "", max_age: float = 0, skew: float = 0,
                 algorithms: tuple[str, ...] | None = None) -> Proof:
    """dpop.Verify: check a DPoP proof JWT at now, in Go's order. Raises DPoPError."""
    if not method or not url:
        raise _invalid("the method and URL to check are required")
    try:
        want = normalize_url(url)
    except ValueError as e:
        raise _invalid(str(e)) from None
    algs = ALGORITHMS if algorithms is None else algorithms
    segs = proof.split(".")
    if len(segs) != 3:
        raise _invalid("token contains an invalid number of segments")
    try:
        h, c, sig = (_segment(s) for s in segs)
        header, claims = loads(h), loads(c)
    except ValueError as e:
        raise _invalid(f"malformed: {e}") from None
    if not isinstance(header, JSONObject) or not isinstance(claims, JSONObject):
        raise _invalid("malformed: header and claims must be objects")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS or alg not in algs:
        raise _invalid("signing method is not allowed")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() != "dpop+jwt":
        raise _invalid("typ is not dpop+jwt")
    pub, jwk, key_jkt = _parse_jwk(header.get("jwk"))
    if not _verify_signature(alg, jwk, pub, (segs[0] + "." + segs[1]).encode("ascii"), sig):
        raise _invalid("signature is invalid")

    def text(name: str) -> str:
        v = claims.get(name)
        return v if isinstance(v, str) else ""
    jti, htm, htu = text("jti"), text("htm"), text("htu")
    if jti == "" or len(jti.encode("utf-8", "surrogatepass")) > MAX_ID_LENGTH:
        raise _invalid(f"jti missing or longer than {MAX_ID_LENGTH}")
    if htm != method:
        raise _invalid(f"htm {htm!r} is not the request's method {method}")
    try:
        got = normalize_url(htu)
    except ValueError:
        got = ""
    if got == "" or got != want:
        raise _invalid(f"htu {htu!r} is not the request's URL")
    iat_raw = claims.get("iat")
    if not isinstance(iat_raw, Num):
        raise _invalid("iat missing")
    try:
        iat = iat_raw.int64()
    except ValueError:
        raise _invalid("iat is not an integer") from None
    ts = now.timestamp()
    if iat < ts - (max_age if max_age > 0 else DEFAULT_MAX_AGE) or iat > ts + (skew if skew > 0 else DEFAULT_SKEW):
        raise _invalid("iat outside the accepted window")
    if access_token and text("ath") != access_token_hash(access_token):
        raise _invalid("ath is not the hash of the access token")
    if nonce and text("nonce") != nonce:
        raise DPoPError("use_nonce")
    if jkt and jkt != key_jkt:
        raise DPoPError("key_mismatch")
    return Proof(id=jti, issued_at=iat, jkt=key_jkt, method=htm, url=got)


def new_proof(key: Any, method: str, url: str, *, access_token: str = "", nonce: str = "", id: str = "",
              now: _dt.datetime | None = None) -> str:
    """A DPoP proof for method and url signed by key (an Ed25519, P-256,
    P-384 or RSA private key of cryptography): EdDSA, ES256, ES384 or PS256,
    the public key in the header (Go's dpop.NewProof)."""
    jwk = public_jwk(key)
    alg = {"OKP": "EdDSA", "RSA": "PS256"}.get(jwk["kty"]) or _CURVES[jwk["crv"]][2]
    iat = int((now or _dt.datetime.now(_dt.timezone.utc)).timestamp())
    claims: dict[str, Any] = {"jti": id or os.urandom(16).hex(), "htm": method, "htu": url, "iat": iat}
    if access_token:
        claims["ath"] = access_token_hash(access_token)
    if nonce:
        claims["nonce"] = nonce
    header = {"alg": alg, "typ": "dpop+jwt", "jwk": jwk}
    signing_input = (_b64(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     _b64(json.dumps(claims, separators=(",", ":")).encode())).encode("ascii")
    if alg == "EdDSA":
        sig = key.sign(signing_input)
    elif alg == "PS256":
        sig = key.sign(signing_input, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    else:
        size = _CURVES[jwk["crv"]][1]
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256() if alg == "ES256" else hashes.SHA384())))
        sig = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return signing_input.decode("ascii") + "." + _b64(sig)


# -- replay ------------------------------------------------------------------

class ReplayCache(Protocol):
    """Remembers the jti of every proof accepted until the proof expires;
    remember returns False for a jti seen before (a replay). Replicas must
    share one."""

    def remember(self, jti: str, until: _dt.datetime) -> bool: ...


class MemoryReplayCache:
    """A ReplayCache of one process, bounded: when it holds max entries it
    drops the expired ones, and refuses (reports not fresh) while none has
    expired — fail closed rather than forget. Thread-safe."""

    def __init__(self, max: int = DEFAULT_REPLAY_CACHE_SIZE, now: Any = None) -> None:
        self.max = max if max > 0 else DEFAULT_REPLAY_CACHE_SIZE
        self._now = now or (lambda: _dt.datetime.now(_dt.timezone.utc))
        self._lock = threading.Lock()  # guards _seen
        self._seen: dict[str, _dt.datetime] = {}

    def remember(self, jti: str, until: _dt.datetime) -> bool:
        now = self._now()
        with self._lock:
            exp = self._seen.get(jti)
            if exp is not None and now < exp:
                return False
            if len(self._seen) >= self.max:
                for k, e in list(self._seen.items()):
                    if not now < e:
                        del self._seen[k]
                if len(self._seen) >= self.max:
                    return False
            self._seen[jti] = until
            return True

    def __len__(self) -> int:
        return len(self._seen)


# -- the check of a request ---------------------------------------------------

def parse_mode(s: str) -> str:
    """dpop.ParseMode: "" is allow."""
    if s in ("", MODE_ALLOW):
        return MODE_ALLOW
    if s in (MODE_REQUIRE, MODE_BEARER):
        return s
    raise ValueError(f"dpop mode {s!r}: want allow, require or bearer")


def access_token(values: list[str]) -> tuple[str, str] | None:
    """authority.AccessToken: (scheme, token) from exactly one Authorization
    value, scheme "Bearer" or "DPoP" in any case, a non-empty token."""
    if len(values) != 1:
        return None
    scheme, sep, tok = values[0].partition(" ")
    from ._gostr import trim_space
    tok = trim_space(tok)
    if not sep or not tok or not scheme.isascii():
        return None
    if scheme.lower() == "bearer":
        return "Bearer", tok
    if scheme.lower() == "dpop":
        return "DPoP", tok
    return None


def check(*, scheme: str, token: str, claims: Claims, proofs: list[str], method: str, url: str, now: _dt.datetime,
          mode: str = MODE_ALLOW, cache: ReplayCache | None = None, nonce: str = "",
          algorithms: tuple[str, ...] | None = None) -> Proof | None:
    """dpop.Check (RFC 9449 §7) for a request whose token verified: a bound
    token needs the DPoP scheme and a valid proof by its key for this method,
    URL and token, not seen before; "require" refuses a bearer token,
    "bearer" a bound one. Returns the proof accepted, or None for a bearer
    token; raises DPoPError. Without a cache every proof is refused (fail closed)."""
    jkt = claims.bound_key()
    if mode == MODE_BEARER and (jkt or scheme == "DPoP"):
        raise DPoPError("not_accepted")
    if not jkt and (mode == MODE_REQUIRE or scheme == "DPoP"):
        raise DPoPError("not_bound")
    if not jkt:
        return None
    if scheme != "DPoP":
        raise DPoPError("bound_as_bearer")
    if len(proofs) != 1:
        raise _invalid("exactly one DPoP header is required")
    if cache is None:
        raise _invalid("no replay cache configured")
    p = verify_proof(proofs[0], method=method, url=url, now=now, access_token=token, jkt=jkt, nonce=nonce,
                     algorithms=algorithms)
    until = _dt.datetime.fromtimestamp(p.issued_at + DEFAULT_MAX_AGE + DEFAULT_SKEW, _dt.timezone.utc)
    try:
        fresh = cache.remember(p.id, until)
    except Exception as e:  # noqa: BLE001 - fail closed
        raise _invalid(f"the replay cache is unavailable: {e}") from None
    if not fresh:
        raise DPoPError("replayed")
    return p


def challenge(err: DPoPError | None = None, algorithms: tuple[str, ...] = ALGORITHMS) -> str:
    """dpop.Challenge: a WWW-Authenticate DPoP challenge with the algorithms and, for err, its code and text."""
    s = f'DPoP algs="{" ".join(algorithms)}"'
    if err is not None:
        s += f', error="{err.code}", error_description="{err.description}"'
    return s


__all__ = ["ALGORITHMS", "DEFAULT_MAX_AGE", "DEFAULT_SKEW", "MAX_ID_LENGTH", "MODE_ALLOW", "MODE_REQUIRE",
           "MODE_BEARER", "DPoPError", "Proof", "ReplayCache", "MemoryReplayCache", "normalize_url",
           "jwk_thumbprint", "public_jwk", "thumbprint", "access_token_hash", "verify_proof", "new_proof",
           "parse_mode", "access_token", "check", "challenge"]
