// Exact decimals, as authority.Decimal: a bigint and a scale, never a
// JavaScript number.

/** MaxDecimalDigits bounds the digits parseDecimal accepts (a lone leading "0" not counted). */
export const MaxDecimalDigits = 40;

/**
 * Decimal is an exact decimal number: unscaled / 10^scale. Immutable. The
 * canonical form has no trailing zero in the fraction, so "500.000" and
 * "500" are the same Decimal.
 */
export class Decimal {
  private constructor(
    readonly unscaled: bigint,
    readonly scale: number,
  ) {}

  static readonly zero = new Decimal(0n, 0);

  /** @internal */
  static of(unscaled: bigint, scale: number): Decimal {
    if (unscaled === 0n) return Decimal.zero;
    while (scale > 0 && unscaled % 10n === 0n) {
      unscaled /= 10n;
      scale--;
    }
    return new Decimal(unscaled, scale);
  }

  private rescaled(scale: number): bigint {
    return this.unscaled * 10n ** BigInt(scale - this.scale);
  }

  /** cmp returns -1, 0 or 1 as this is less than, equal to or greater than o. */
  cmp(o: Decimal): number {
    const s = Math.max(this.scale, o.scale);
    const a = this.rescaled(s);
    const b = o.rescaled(s);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  add(o: Decimal): Decimal {
    const s = Math.max(this.scale, o.scale);
    return Decimal.of(this.rescaled(s) + o.rescaled(s), s);
  }

  sub(o: Decimal): Decimal {
    const s = Math.max(this.scale, o.scale);
    return Decimal.of(this.rescaled(s) - o.rescaled(s), s);
  }

  sign(): number {
    return this.unscaled < 0n ? -1 : this.unscaled > 0n ? 1 : 0;
  }

  isZero(): boolean {
    return this.unscaled === 0n;
  }

  /** The canonical form: "500", "499.99", "-0.5". */
  toString(): string {
    const neg = this.unscaled < 0n;
    let digits = (neg ? -this.unscaled : this.unscaled).toString();
    if (this.scale > 0) {
      if (digits.length <= this.scale) digits = "0".repeat(this.scale + 1 - digits.length) + digits;
      const cut = digits.length - this.scale;
      digits = digits.slice(0, cut) + "." + digits.slice(cut);
    }
    return neg ? "-" + digits : digits;
  }

  toJSON(): string {
    return this.toString();
  }
}

const decimalRE = /^(-?)([0-9]+)(?:\.([0-9]+))?$/;

/**
 * parseDecimal parses the strict form -?(0|[1-9][0-9]*)(\.[0-9]+)?: no
 * exponent, NaN, Infinity, "+", spaces, leading zero or bare point, at most
 * MaxDecimalDigits digits. It throws a RangeError on anything else.
 */
export function parseDecimal(s: string): Decimal {
  const shown = s.length <= 64 ? s : s.slice(0, 64) + "…";
  if (s.length > 2 * MaxDecimalDigits + 3) throw new RangeError(`decimal ${JSON.stringify(shown)}: not a plain decimal`);
  const m = decimalRE.exec(s);
  if (!m) throw new RangeError(`decimal ${JSON.stringify(shown)}: not a plain decimal`);
  const [, sign, int, frac0 = ""] = m;
  if (int.length > 1 && int[0] === "0") throw new RangeError(`decimal ${JSON.stringify(shown)}: leading zero`);
  const digits = frac0.length + (int === "0" ? 0 : int.length);
  if (digits > MaxDecimalDigits) throw new RangeError(`decimal ${JSON.stringify(shown)}: more than ${MaxDecimalDigits} digits`);
  const frac = frac0.replace(/0+$/, "");
  let u = BigInt(int + frac);
  if (sign) u = -u;
  return Decimal.of(u, frac.length);
}
