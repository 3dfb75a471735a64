// Decimal, resource and window edges (the Go fuzzers' territory), each
// checked against the value Go's authority package gives.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDecimal, canonicalResource, windowContains, canonicalResourceOf, bearerToken } from "../dist/index.js";

test("decimals are exact and strictly parsed", () => {
  const ok = [["500.000", "500"], ["0.10", "0.1"], ["-0.50", "-0.5"], ["0", "0"], ["0.0000000000000000000000000000000000000001", "0.0000000000000000000000000000000000000001"],
    ["123456789012345678901234567890.1234567891", "123456789012345678901234567890.1234567891"]];
  for (const [s, want] of ok) assert.equal(parseDecimal(s).toString(), want, s);
  for (const s of ["", "01", "1.", ".5", "+1", "1e2", "NaN", "Infinity", " 1", "1 ", "0x10", "1,5", "12345678901234567890123456789012345678901", "--1"]) {
    assert.throws(() => parseDecimal(s), RangeError, JSON.stringify(s));
  }
  assert.equal(parseDecimal("500.0000001").cmp(parseDecimal("500")), 1);
  assert.equal(parseDecimal("0.1").add(parseDecimal("0.2")).toString(), "0.3");
  assert.equal(parseDecimal("499.99").add(parseDecimal("100.02")).cmp(parseDecimal("600.01")), 0);
});

test("canonicalResource follows authority.CanonicalResource", () => {
  const ok = [
    ["HTTPS://Files.Example:443/receipts/", "https://files.example/receipts"],
    ["https://files.example:0443/a", "https://files.example/a"],
    ["http://a.example:80/", "http://a.example"],
    ["http://a.example:8080/x/./y/../z", "http://a.example:8080/x/z"],
    ["https://a.example/b?x=1&y", "https://a.example/b?x=1&y"],
    ["https://a.example?", "https://a.example?"],
    ["https://[2001:DB8:0:0:0:0:0:1]:8443/p", "https://[2001:db8::1]:8443/p"],
    ["https://[::ffff:10.0.0.1]/", "https://[10.0.0.1]"],
    ["https://a.example/b c", "https://a.example/b%20c"],
    ["https://a.example/%2e%2e/x", "https://a.example/%2e%2e/x"],
    ["urn:legant:files", "urn:legant:files"],
    ["  spaced  ", "spaced"],
  ];
  for (const [s, want] of ok) assert.equal(canonicalResource(s), want, s);
  for (const s of ["", "https://a.example/#f", "https://u@a.example/", "https://:443/", "https://a.example:99999/", "https://a.exa mple/",
    "https://a.example/%zz", "ht tp://a", "https://a.example:x/"]) {
    assert.throws(() => canonicalResource(s), Error, JSON.stringify(s));
  }
  assert.equal(canonicalResourceOf("path", "/data/./a/../b"), "/data/b");
  assert.throws(() => canonicalResourceOf("path", "/../etc/passwd"));
  assert.throws(() => canonicalResourceOf("path", "/a\\b"));
  assert.throws(() => canonicalResourceOf("url", "files"));
});

test("windows are wall-clock in their zone across DST", () => {
  // mon-fri 09:00-17:00 Europe/Paris; DST starts Sunday 2026-03-29.
  const w = { zone: "Europe/Paris", segments: [1, 2, 3, 4, 5].map((day) => ({ day, start: 540, end: 1020 })) };
  const at = (s) => windowContains(w, new Date(s));
  assert.equal(at("2026-03-27T08:00:00Z"), true); // Fri 09:00 CET
  assert.equal(at("2026-03-27T07:59:59Z"), false);
  assert.equal(at("2026-03-30T07:00:00Z"), true); // Mon 09:00 CEST
  assert.equal(at("2026-03-30T06:59:59Z"), false); // Mon 08:59 CEST
  assert.equal(at("2026-03-30T14:59:59Z"), true); // Mon 16:59 CEST
  assert.equal(at("2026-03-30T15:00:00Z"), false); // Mon 17:00 CEST: end is exclusive
  const night = { zone: "America/New_York", segments: [{ day: 0, start: 0, end: 1440 }] };
  assert.equal(windowContains(night, new Date("2026-11-01T05:30:00Z")), true); // Sun 01:30 EDT
  assert.equal(windowContains(night, new Date("2026-11-01T06:30:00Z")), true); // Sun 01:30 EST (repeated hour)
  assert.throws(() => windowContains({ zone: "Mars/Olympus", segments: [] }, new Date()));
  assert.throws(() => windowContains({ zone: "Local", segments: [] }, new Date()));
});

test("bearerToken reads exactly one Authorization header", () => {
  assert.equal(bearerToken("Bearer abc"), "abc");
  assert.equal(bearerToken("bearer   abc  "), "abc");
  assert.equal(bearerToken(["Bearer a", "Bearer b"]), undefined);
  assert.equal(bearerToken("Basic abc"), undefined);
  assert.equal(bearerToken("Bearer "), undefined);
  assert.equal(bearerToken(undefined), undefined);
});
