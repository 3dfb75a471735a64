// Resource canonicalisation: authority.CanonicalResource (RFC 8707 resource
// indicators) and policy's path and name kinds, reproducing what Go's
// net/url parser accepts and how it re-encodes a path.

import { goTrimSpace } from "./category.js";

const shortenLen = 200;
function q(s: string): string {
  return JSON.stringify(s.length <= shortenLen ? s : s.slice(0, shortenLen) + "…");
}

/**
 * canonicalResource returns the canonical form of a resource indicator: an
 * absolute URL gets a lowercase scheme and host, loses a default port and
 * has its path cleaned ("/" becomes ""), the query is kept; a fragment or
 * user information is an error. A string without "://" is returned trimmed.
 * It throws an Error for a URL it refuses.
 */
export function canonicalResource(input: string): string {
  const s = goTrimSpace(input);
  if (s === "") throw new Error("empty resource");
  if (!s.includes("://")) return s;
  if (/[\x00-\x1f\x7f]/.test(s)) throw new Error(`resource ${q(s)}: invalid control character in URL`);
  if (s.includes("#")) throw new Error(`resource ${q(s)}: fragment not allowed`);
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(s);
  if (!m) throw new Error(`resource ${q(s)}: not an absolute URL`);
  const scheme = m[1].toLowerCase();
  let rest = m[2];
  let query: string | undefined;
  const qi = rest.indexOf("?");
  if (qi >= 0) {
    query = rest.slice(qi + 1);
    rest = rest.slice(0, qi);
  }
  const slash = rest.indexOf("/");
  const authority = slash >= 0 ? rest.slice(0, slash) : rest;
  const rawPath = slash >= 0 ? rest.slice(slash) : "";
  if (authority.includes("@")) throw new Error(`resource ${q(s)}: user information not allowed`);
  const host = canonicalHost(scheme, authority, s);
  let p = escapedPath(rawPath, s);
  if (p !== "") {
    p = cleanPath(p);
    if (p === "/" || p === ".") p = "";
  }
  let out = scheme + "://" + host + p;
  if (query !== undefined) out += "?" + query;
  return out;
}

// canonicalHost splits host and port as net/url does, then applies
// authority's rules: a DNS name (letters, digits, "-", ".", "_") or an IP
// literal, a port 1..65535, the default port dropped.
function canonicalHost(scheme: string, authority: string, s: string): string {
  let host: string;
  let port = "";
  if (authority.startsWith("[")) {
    const end = authority.indexOf("]");
    if (end < 0) throw new Error(`resource ${q(s)}: missing ']' in host`);
    host = authority.slice(1, end);
    const after = authority.slice(end + 1);
    if (after !== "") {
      if (!/^:[0-9]*$/.test(after)) throw new Error(`resource ${q(s)}: invalid port`);
      port = after.slice(1);
    }
    if (host.includes("%")) throw new Error(`resource ${q(s)}: bad host`);
    const ip = canonicalIPv6(host.toLowerCase());
    if (ip === undefined) throw new Error(`resource ${q(s)}: bad host`);
    host = "[" + ip + "]";
  } else {
    const c = authority.lastIndexOf(":");
    host = authority;
    if (c >= 0) {
      const colonPort = authority.slice(c);
      if (!/^:[0-9]*$/.test(colonPort)) throw new Error(`resource ${q(s)}: invalid port`);
      host = authority.slice(0, c);
      port = colonPort.slice(1);
    }
    host = host.toLowerCase();
    if (host === "" ) throw new Error(`resource ${q(s)}: not an absolute URL`);
    if (!/^[a-z0-9._-]+$/.test(host)) throw new Error(`resource ${q(s)}: bad host`);
  }
  if (port === "") return host;
  // strconv.Atoi: decimal digits, int range; then 1..65535.
  const n = port.length > 18 ? Infinity : Number(port);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`resource ${q(s)}: bad port`);
  if ((scheme === "http" && n === 80) || (scheme === "https" && n === 443)) return host;
  return host + ":" + n;
}

// canonicalIPv6 parses an IPv6 literal and returns net.IP.String()'s form
// (RFC 5952; an IPv4-mapped address prints as dotted IPv4), or undefined.
function canonicalIPv6(h: string): string | undefined {
  let parts = h.split(":");
  let v4: number[] | undefined;
  const last = parts[parts.length - 1];
  if (last.includes(".")) {
    const o = last.split(".");
    if (o.length !== 4 || o.some((x) => !/^[0-9]{1,3}$/.test(x) || Number(x) > 255 || (x.length > 1 && x[0] === "0"))) return undefined;
    v4 = o.map(Number);
    parts = parts.slice(0, -1).concat(["0", "0"]);
  }
  const dbl = h.indexOf("::");
  if (dbl >= 0 && h.indexOf("::", dbl + 1) >= 0) return undefined;
  let words: number[] = [];
  if (dbl >= 0) {
    const head = h.slice(0, dbl);
    let tail = h.slice(dbl + 2);
    const hp = head === "" ? [] : head.split(":");
    if (v4) tail = tail.split(":").slice(0, -1).concat(["0", "0"]).join(":");
    const tp = tail === "" ? [] : tail.split(":");
    if (hp.length + tp.length > 7) return undefined;
    const parsed = [...hp, ...Array(8 - hp.length - tp.length).fill("0"), ...tp];
    words = parsed.map((x) => (/^[0-9a-f]{1,4}$/.test(x) ? parseInt(x, 16) : NaN));
  } else {
    if (parts.length !== 8) return undefined;
    words = parts.map((x) => (/^[0-9a-f]{1,4}$/.test(x) ? parseInt(x, 16) : NaN));
  }
  if (words.some((w) => Number.isNaN(w))) return undefined;
  if (v4) {
    words[6] = (v4[0] << 8) | v4[1];
    words[7] = (v4[2] << 8) | v4[3];
  }
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return [words[6] >> 8, words[6] & 255, words[7] >> 8, words[7] & 255].join(".");
  }
  // The longest run of two or more zero words becomes "::" (the first one on a tie).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(":");
  return hex.slice(0, best).join(":") + "::" + hex.slice(best + bestLen).join(":");
}

const hexDigit = /^[0-9a-fA-F]{2}$/;

// escapedPath is url.URL.EscapedPath of a parsed raw path: the raw path when
// it is a valid encoding, else the decoded path re-escaped (Go's encodePath).
function escapedPath(raw: string, s: string): string {
  // Decode (this also validates the escapes, as url.Parse does).
  const bytes: number[] = [];
  const enc = new TextEncoder();
  for (let i = 0; i < raw.length; ) {
    if (raw[i] === "%") {
      const h = raw.slice(i + 1, i + 3);
      if (!hexDigit.test(h)) throw new Error(`resource ${q(s)}: invalid URL escape ${JSON.stringify(raw.slice(i, i + 3))}`);
      bytes.push(parseInt(h, 16));
      i += 3;
      continue;
    }
    const cp = raw.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    for (const b of enc.encode(ch)) bytes.push(b);
    i += ch.length;
  }
  if (validEncodedPath(raw)) return raw;
  let out = "";
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    if (b < 0x80 && /[A-Za-z0-9\-_.~$&+,/:;=@]/.test(c)) out += c;
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

// validEncodedPath is net/url's validEncoded(s, encodePath).
function validEncodedPath(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if ("!$&'()*+,;=:@[]%".includes(c)) continue;
    if (/[A-Za-z0-9\-_.~/]/.test(c)) continue;
    return false;
  }
  return true;
}

/** cleanPath is Go's path.Clean. */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p[0] === "/";
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(seg);
  }
  const joined = out.join("/");
  if (rooted) return "/" + joined;
  return joined === "" ? "." : joined;
}
