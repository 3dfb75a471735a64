// Category normalisation against Go's x/text (cases.Fold + NFC) for every
// code point, and the edges where JavaScript's own functions differ.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { normalizeCategory, caseFold } from "../dist/index.js";

const goFold = JSON.parse(readFileSync(new URL("./fixtures/go-fold.json", import.meta.url), "utf8"));

test("caseFold agrees with x/text cases.Fold on every code point", () => {
  const diffs = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const s = String.fromCodePoint(cp);
    const want = goFold[cp.toString(16).toUpperCase()] ?? s;
    if (caseFold(s).normalize("NFC") !== want) diffs.push(cp.toString(16));
  }
  assert.deepEqual(diffs, []);
});

test("normalizeCategory edges", () => {
  const cases = [
    [" TRAVEL ", "travel"],
    ["Straße", "strasse"],
    ["STRASSE", "strasse"],
    ["ẞ", "ss"], // capital sharp s: toLowerCase alone gives ß
    ["ΟΔΟΣ", "οδοσ"], // final sigma folds to σ (toLowerCase would give ς)
    ["ı", "ı"], // dotless i has no full folding
    ["İ", "i̇"],
    ["ﬁ", "fi"],
    ["Ꭰ", "ꭰ"], // x/text swaps Cherokee cases: capitals to small…
    ["ꭰ", "Ꭰ"], // … small to capitals (CaseFolding.txt)
    ["e\u0301", "é"], // NFC
    ["\u0085travel\u00a0", "travel"], // Go's TrimSpace trims U+0085 and U+00A0
    ["\ufefftravel", "\ufefftravel"], // … but not U+FEFF (JavaScript's trim would)
    ["meal\u017f", "meals"], // long s
    ["K", "k"], // Kelvin sign
  ];
  for (const [input, want] of cases) assert.equal(normalizeCategory(input), want, JSON.stringify(input));
});
