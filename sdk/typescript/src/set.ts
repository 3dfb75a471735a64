/**
 * AllowSet is an allow-list whose extreme states are explicit (authority.Set):
 * unrestricted (the claim was omitted) or exactly its items ([] = deny-all).
 * Immutable.
 */
export class AllowSet {
  private readonly lookup: ReadonlySet<string>;
  /** items sorted as Go sorts strings (by UTF-8 bytes), without duplicates; empty when unrestricted. */
  readonly items: readonly string[];

  private constructor(
    readonly unrestricted: boolean,
    items: string[],
  ) {
    this.lookup = new Set(items);
    this.items = [...this.lookup].sort(compareUTF8);
  }

  static any(): AllowSet {
    return new AllowSet(true, []);
  }

  static only(...items: string[]): AllowSet {
    return new AllowSet(false, items);
  }

  /** empty reports a deny-all set. */
  get empty(): boolean {
    return !this.unrestricted && this.items.length === 0;
  }

  contains(x: string): boolean {
    return this.unrestricted || this.lookup.has(x);
  }

  /** The wire form: undefined when unrestricted (the field is omitted). */
  toJSON(): string[] | undefined {
    return this.unrestricted ? undefined : [...this.items];
  }
}

/** compareUTF8 orders strings by code point, which is Go's byte order of UTF-8. */
export function compareUTF8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}
