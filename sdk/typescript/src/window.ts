// Weekly windows in IANA time zones (authority.Window): an instant is
// allowed when, as wall-clock time in the zone, it falls in a segment.

/** Segment is one allowed interval of one weekday (0 = Sunday), in minutes from local midnight: start inclusive, end exclusive. */
export interface Segment {
  day: number;
  start: number;
  end: number;
}

/** Window is a weekly schedule in one IANA time zone; segments are normalized (sorted, merged, none crossing midnight). */
export interface Window {
  zone: string;
  segments: Segment[];
}

export const dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;

const minutesPerDay = 24 * 60;

/** parseClock parses "HH:MM" into minutes; "24:00" only for an end. */
export function parseClock(s: string, end: boolean): number {
  if (!/^[0-9]{2}:[0-9]{2}$/.test(s)) throw new Error(`window: time ${JSON.stringify(s)} is not HH:MM`);
  const h = Number(s.slice(0, 2));
  const m = Number(s.slice(3));
  if (m > 59 || h > 24 || (h === 24 && (m !== 0 || !end))) throw new Error(`window: time ${JSON.stringify(s)} out of range`);
  return h * 60 + m;
}

export function formatClock(m: number): string {
  return `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}

/** normalizeSegments sorts by day and start and merges overlapping or adjacent segments of one day. */
export function normalizeSegments(input: Segment[]): Segment[] {
  const segs = input.map((s) => ({ ...s })).sort((a, b) => (a.day !== b.day ? a.day - b.day : a.start - b.start));
  const out: Segment[] = [];
  for (const s of segs) {
    const last = out[out.length - 1];
    if (last && last.day === s.day && s.start <= last.end) {
      last.end = Math.max(last.end, s.end);
      continue;
    }
    out.push(s);
  }
  return out;
}

/** validateWindow checks the zone name and every segment's bounds, as authority does. */
export function validateWindow(w: Window): void {
  if (w.zone === "" || w.zone === "Local") throw new Error(`window: time zone ${JSON.stringify(w.zone)} is not an IANA name`);
  for (const s of w.segments) {
    if (!(s.day >= 0 && s.day <= 6) || s.start < 0 || s.start >= s.end || s.end > minutesPerDay) {
      throw new Error(`window: bad segment ${JSON.stringify(s)}`);
    }
  }
}

/** windowString is the human form "mon 09:00-17:00, tue 09:00-17:00 (Europe/Paris)". */
export function windowString(w: Window): string {
  if (w.segments.length === 0) return `never (${w.zone})`;
  return w.segments.map((s) => `${dayNames[s.day]} ${formatClock(s.start)}-${formatClock(s.end)}`).join(", ") + ` (${w.zone})`;
}

// Formatters are cached per zone: building one loads zone data.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    if (zone === "" || zone === "Local") throw new RangeError(`window: time zone ${JSON.stringify(zone)} is not an IANA name`);
    try {
      f = new Intl.DateTimeFormat("en-US", { timeZone: zone, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    } catch {
      throw new RangeError(`window: time zone ${JSON.stringify(zone)}: unknown time zone`);
    }
    formatters.set(zone, f);
  }
  return f;
}

const weekdays: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** wallClock returns the weekday (0 = Sunday) and minute of the day of t in zone; it throws for a zone that does not load. */
export function wallClock(zone: string, t: Date): { day: number; minute: number } {
  let day = -1;
  let hour = 0;
  let minute = 0;
  for (const p of formatter(zone).formatToParts(t)) {
    if (p.type === "weekday") day = weekdays[p.value] ?? -1;
    else if (p.type === "hour") hour = Number(p.value);
    else if (p.type === "minute") minute = Number(p.value);
  }
  if (day < 0) throw new RangeError(`window: cannot read the weekday in ${zone}`);
  return { day, minute: hour * 60 + minute };
}

/** windowContains reports whether t, as wall-clock time in w.zone, falls in the window; it throws when the zone does not load. */
export function windowContains(w: Window, t: Date): boolean {
  const { day, minute } = wallClock(w.zone, t);
  return w.segments.some((s) => s.day === day && s.start <= minute && minute < s.end);
}
