// Strict JSON reading, the shape the Go packages read: numbers keep their
// literal text (amounts, counts and dates are never rounded through a
// float), and an object remembers its members in order, duplicates
// included, so that the readers can refuse what two parsers would read
// differently.

/** A JSON number as written ("500.0000001"), never converted to a float. */
export class JSONNumber {
  constructor(readonly raw: string) {}
  toString(): string {
    return this.raw;
  }
}

/** A JSON object: its members in document order, duplicate keys kept. */
export class JSONObject {
  constructor(readonly entries: Array<[string, JSONValue]>) {}
  /** The members as a Map; a duplicate key is an error. */
  strict(): Map<string, JSONValue> {
    const m = new Map<string, JSONValue>();
    for (const [k, v] of this.entries) {
      if (m.has(k)) throw new SyntaxError("duplicate key");
      m.set(k, v);
    }
    return m;
  }
}

export type JSONValue = null | boolean | string | JSONNumber | JSONValue[] | JSONObject;

const numberRE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** parseJSON parses one JSON text (RFC 8259) strictly; trailing data is an error. */
export function parseJSON(text: string): JSONValue {
  const p = new Parser(text);
  p.ws();
  const v = p.value(0);
  p.ws();
  if (p.i !== text.length) p.fail("trailing data");
  return v;
}

const maxDepth = 10000;

class Parser {
  i = 0;
  constructor(readonly s: string) {}
  fail(msg: string): never {
    throw new SyntaxError(`JSON: ${msg} at offset ${this.i}`);
  }
  ws(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      this.i++;
    }
  }
  value(depth: number): JSONValue {
    if (depth > maxDepth) this.fail("nesting too deep");
    const c = this.s[this.i];
    switch (c) {
      case "{":
        return this.object(depth);
      case "[":
        return this.array(depth);
      case '"':
        return this.string();
      case "t":
        return this.literal("true", true);
      case "f":
        return this.literal("false", false);
      case "n":
        return this.literal("null", null);
    }
    numberRE.lastIndex = this.i;
    const m = numberRE.exec(this.s);
    if (!m) this.fail("unexpected character");
    this.i += m[0].length;
    return new JSONNumber(m[0]);
  }
  literal<T>(word: string, v: T): T {
    if (!this.s.startsWith(word, this.i)) this.fail("unexpected character");
    this.i += word.length;
    return v;
  }
  object(depth: number): JSONObject {
    this.i++;
    const entries: Array<[string, JSONValue]> = [];
    this.ws();
    if (this.s[this.i] === "}") {
      this.i++;
      return new JSONObject(entries);
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail("expected a string key");
      const k = this.string();
      this.ws();
      if (this.s[this.i] !== ":") this.fail("expected ':'");
      this.i++;
      this.ws();
      entries.push([k, this.value(depth + 1)]);
      this.ws();
      const c = this.s[this.i++];
      if (c === "}") return new JSONObject(entries);
      if (c !== ",") this.fail("expected ',' or '}'");
    }
  }
  array(depth: number): JSONValue[] {
    this.i++;
    const out: JSONValue[] = [];
    this.ws();
    if (this.s[this.i] === "]") {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i++];
      if (c === "]") return out;
      if (c !== ",") this.fail("expected ',' or ']'");
    }
  }
  string(): string {
    const s = this.s;
    const start = ++this.i;
    // Fast path: no escape.
    let j = start;
    while (j < s.length) {
      const c = s.charCodeAt(j);
      if (c === 0x22) {
        this.i = j + 1;
        return checkUnicode(s.slice(start, j), this);
      }
      if (c === 0x5c || c < 0x20) break;
      j++;
    }
    let out = s.slice(start, j);
    this.i = j;
    for (;;) {
      if (this.i >= s.length) this.fail("unterminated string");
      const c = s.charCodeAt(this.i);
      if (c === 0x22) {
        this.i++;
        return checkUnicode(out, this);
      }
      if (c < 0x20) this.fail("control character in string");
      if (c !== 0x5c) {
        out += s[this.i++];
        continue;
      }
      const e = s[this.i + 1];
      this.i += 2;
      switch (e) {
        case '"':
        case "\\":
        case "/":
          out += e;
          break;
        case "b":
          out += "\b";
          break;
        case "f":
          out += "\f";
          break;
        case "n":
          out += "\n";
          break;
        case "r":
          out += "\r";
          break;
        case "t":
          out += "\t";
          break;
        case "u": {
          const h = s.slice(this.i, this.i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail("bad \\u escape");
          out += String.fromCharCode(parseInt(h, 16));
          this.i += 4;
          break;
        }
        default:
          this.fail("bad escape");
      }
    }
  }
}

// checkUnicode replaces lone surrogates by U+FFFD, as Go's decoder does
// for \u escapes that do not pair.
function checkUnicode(s: string, _p: Parser): string {
  return s.isWellFormed() ? s : s.toWellFormed();
}

/** The Go type name of a JSON value, for messages ("string", "number"…). */
export function jsonKind(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "boolean";
  if (typeof v === "number" || typeof v === "bigint" || v instanceof JSONNumber) return "number";
  if (Array.isArray(v)) return "array";
  return "object";
}
