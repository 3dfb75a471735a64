// Category normalisation: authority.NormalizeCategory is
// NFC(cases.Fold(NFC(TrimSpace(s)))) with golang.org/x/text. JavaScript has
// NFC (String.prototype.normalize) but no case folding; full case folding is
// rebuilt per code point as lower(upper(lower(c))), which agrees with x/text's
// cases.Fold on every code point except those handled below. The test
// test/category.test.ts holds this against x/text's table for every code
// point (test/fixtures/go-fold.json).
//
// Divergences corrected here:
//   - U+0131 (dotless i): Fold leaves it (its only folding is Turkic "T");
//     upper-casing would make it "I".
//   - Cherokee: CaseFolding.txt maps the small letters (U+AB70…, U+13F8…)
//     to the capitals; x/text also maps the capitals U+13A0… to the small
//     letters (as lower-casing does), so Go's fold swaps the two cases and
//     so does this one.
//   - Letters added after Unicode 15.0 (x/text's tables): Node's ICU folds
//     them, x/text does not; they are left unchanged, as in Go.
// A future x/text or ICU update can move this boundary: the code point test
// then fails and this table is regenerated.

const keep: Array<[number, number]> = [
  [0x131, 0x131],
  [0x1c89, 0x1c89],
  [0xa7cb, 0xa7cc],
  [0xa7ce, 0xa7ce],
  [0xa7d2, 0xa7d2],
  [0xa7d4, 0xa7d4],
  [0xa7da, 0xa7da],
  [0xa7dc, 0xa7dc],
  [0x10d50, 0x10d65],
  [0x16ea0, 0x16eb8],
];

function foldCodePoint(cp: number, c: string): string {
  if (cp < 0x80) return cp >= 0x41 && cp <= 0x5a ? String.fromCharCode(cp + 32) : c;
  for (const [lo, hi] of keep) if (cp >= lo && cp <= hi) return c;
  if (cp >= 0x13f8 && cp <= 0x13fd) return String.fromCodePoint(cp - 8);
  if (cp >= 0xab70 && cp <= 0xabbf) return String.fromCodePoint(cp - 0xab70 + 0x13a0);
  return c.toLowerCase().toUpperCase().toLowerCase();
}

/** caseFold applies Unicode full case folding (x/text cases.Fold semantics). */
export function caseFold(s: string): string {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return s.toLowerCase();
  let out = "";
  for (const c of s) out += foldCodePoint(c.codePointAt(0)!, c);
  return out;
}

// Go's unicode.IsSpace: Latin-1 \t \n \v \f \r space U+0085 U+00A0, and the
// White_Space property elsewhere. (JavaScript's trim differs: it trims U+FEFF
// and keeps U+0085.)
function isGoSpace(cp: number): boolean {
  if (cp <= 0xff) return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d) || cp === 0x85 || cp === 0xa0;
  return (
    cp === 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp === 0x2028 || cp === 0x2029 || cp === 0x202f || cp === 0x205f || cp === 0x3000
  );
}

/** goTrimSpace is Go's strings.TrimSpace. */
export function goTrimSpace(s: string): string {
  let i = 0;
  let j = s.length;
  while (i < j && isGoSpace(s.charCodeAt(i))) i++;
  while (j > i && isGoSpace(s.charCodeAt(j - 1))) j--;
  return s.slice(i, j);
}

/**
 * normalizeCategory returns the comparison form of a category: trimmed
 * (Go's Unicode white space), NFC, full case folding, NFC ("Travel",
 * " TRAVEL " and "travel" are one category; so are "Straße" and "STRASSE").
 */
export function normalizeCategory(s: string): string {
  const t = goTrimSpace(s).normalize("NFC");
  return caseFold(t).normalize("NFC");
}
