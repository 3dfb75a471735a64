"""RFC 8707 resource canonicalisation, as Go's authority.CanonicalResource
(with the parts of Go's net/url it relies on: escapes, ports, path cleaning)."""

from __future__ import annotations

import ipaddress

from ._gostr import to_lower, trim_space, truncate

_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")
_HEX = "0123456789abcdefABCDEF"
# Characters Go's net/url leaves unescaped in a path (shouldEscape(c, encodePath) is false).
_PATH_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~$&+,/:;=@")
# validEncoded also accepts these in a raw path.
_PATH_RAW_OK = _PATH_OK | frozenset("!'()*[]%")


class ResourceError(ValueError):
    """A resource indicator that has no canonical form."""


def _unescape(s: str) -> str:
    """net/url unescape(s, encodePath): %XX escapes; a bad escape is an error."""
    if "%" not in s:
        return s
    out = bytearray()
    i = 0
    b = s.encode("utf-8", "surrogatepass")
    while i < len(b):
        c = b[i]
        if c == 0x25:
            h = b[i + 1:i + 3].decode("latin-1")
            if len(h) != 2 or h[0] not in _HEX or h[1] not in _HEX:
                raise ResourceError(f"invalid URL escape {('%' + h)!r}")
            out.append(int(h, 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return out.decode("utf-8", "surrogateescape")


def _escape_path(p: str) -> str:
    out = []
    for byte in p.encode("utf-8", "surrogateescape"):
        ch = chr(byte)
        if byte < 0x80 and ch in _PATH_OK:
            out.append(ch)
        else:
            out.append("%%%02X" % byte)
    return "".join(out)


def _valid_encoded(raw: str) -> bool:
    return all(ch in _PATH_RAW_OK for ch in raw)


def _escaped_path(raw: str) -> str:
    """URL.EscapedPath for a path parsed from raw."""
    path = _unescape(raw)
    if raw != _escape_path(path) and _valid_encoded(raw):
        return raw
    if path == "*":
        return "*"
    return _escape_path(path)


def clean_path(p: str) -> str:
    """Go's path.Clean."""
    if p == "":
        return "."
    rooted = p.startswith("/")
    out: list[str] = []
    for seg in p.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(seg)
    s = "/".join(out)
    if rooted:
        return "/" + s
    return s or "."


def _scheme(s: str) -> tuple[str, str]:
    """net/url getScheme; ("", s) when s has no valid scheme."""
    for i, c in enumerate(s):
        if c.isascii() and c.isalpha():
            continue
        if c.isascii() and (c.isdigit() or c in "+-."):
            if i == 0:
                return "", s
            continue
        if c == ":":
            if i == 0:
                raise ResourceError("missing protocol scheme")
            return s[:i], s[i + 1:]
        return "", s
    return "", s


def _valid_optional_port(p: str) -> bool:
    if p == "":
        return True
    return p[0] == ":" and all("0" <= c <= "9" for c in p[1:])


def canonical_resource(s: str) -> str:
    """The canonical form of a resource indicator, so that audiences and
    allow-lists compare by value: an absolute URL gets a lowercase scheme and
    host, loses a default port (80 for http, 443 for https) and has its path
    cleaned (a bare "/" dropped); the query is kept; a fragment or user
    information is an error. Any other non-empty string is returned trimmed."""
    s = trim_space(s)
    if s == "":
        raise ResourceError("empty resource")
    if "://" not in s:
        return s
    shown = truncate(s, 200)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in s):
        raise ResourceError(f"resource {shown!r}: invalid control character in URL")
    if "#" in s:
        raise ResourceError(f"resource {shown!r}: fragment not allowed")
    scheme, rest = _scheme(s)
    force_query, query = False, ""
    if rest.endswith("?") and rest.count("?") == 1:
        force_query, rest = True, rest[:-1]
    else:
        rest, _, query = rest.partition("?")
    if scheme == "" or not rest.startswith("//"):
        raise ResourceError(f"resource {shown!r}: not an absolute URL")
    authority, slash, path = rest[2:].partition("/")
    path = slash + path
    if "@" in authority:
        raise ResourceError(f"resource {shown!r}: user information not allowed")
    hostname, port = _split_host(authority, shown)
    host = _canonical_host(hostname, port, scheme.lower(), shown)
    p = _escaped_path(path) if path else ""
    if p != "":
        p = clean_path(p)
        if p in ("/", "."):
            p = ""
    out = scheme.lower() + "://" + host + p
    if query != "" or force_query:
        out += "?" + query
    return out


def _split_host(authority: str, shown: str) -> tuple[str, str]:
    """net/url parseHost then Hostname and Port."""
    if authority.startswith("["):
        i = authority.rfind("]")
        if i < 0:
            raise ResourceError(f"resource {shown!r}: missing ']' in host")
        colon_port = authority[i + 1:]
        if not _valid_optional_port(colon_port):
            raise ResourceError(f"resource {shown!r}: invalid port {colon_port!r} after host")
        return authority[1:i], colon_port[1:]
    i = authority.rfind(":")
    if i >= 0:
        colon_port = authority[i:]
        if not _valid_optional_port(colon_port):
            raise ResourceError(f"resource {shown!r}: invalid port {colon_port!r} after host")
        return authority[:i], colon_port[1:]
    return authority, ""


def _canonical_host(hostname: str, port: str, scheme: str, shown: str) -> str:
    if hostname == "":
        raise ResourceError(f"resource {shown!r}: not an absolute URL")
    if "%" in hostname:
        raise ResourceError(f"resource {shown!r}: bad host")
    host = to_lower(hostname)
    ip = _parse_ipv6(host)
    if ip is not None:
        host = "[" + ip + "]"
    elif not all(c in _HOST_CHARS for c in host):
        raise ResourceError(f"resource {shown!r}: bad host")
    if port == "":
        return host
    n = int(port) if len(port) < 10 else 0
    if n < 1 or n > 65535:
        raise ResourceError(f"resource {shown!r}: bad port")
    if (scheme == "http" and n == 80) or (scheme == "https" and n == 443):
        return host
    return f"{host}:{n}"


def _parse_ipv6(host: str) -> str | None:
    """net.ParseIP(host).String() for an IPv6 literal (an IPv4-mapped address prints as IPv4)."""
    if ":" not in host:
        return None
    try:
        ip = ipaddress.IPv6Address(host)
    except ValueError:
        return None
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return ip.compressed
