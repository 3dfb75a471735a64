"""Weekly time windows in an IANA zone (Go's authority.Window)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from ._gostr import equal_fold
from ._json import object_value, string_value

MINUTES_PER_DAY = 24 * 60
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


class WindowError(ValueError):
    """A window that cannot be built or checked."""


@dataclass(frozen=True)
class Segment:
    """One allowed interval of one weekday (0 = Sunday, as Go's time.Weekday),
    in minutes from local midnight: start inclusive, end exclusive."""

    day: int
    start: int
    end: int


@dataclass(frozen=True)
class Window:
    """A weekly schedule: an instant is allowed when, seen as wall-clock time
    in ``zone`` (DST-correct), it falls in one of the segments. Segments are
    normalized (sorted, merged, none crossing midnight); a window without
    segments never allows anything."""

    zone: str
    segments: tuple[Segment, ...] = field(default_factory=tuple)

    def contains(self, t: _dt.datetime) -> bool:
        """Whether the aware instant t falls in the window; WindowError when the zone does not load."""
        loc = load_location(self.zone)
        if t.tzinfo is None or t.utcoffset() is None:
            raise WindowError("window: the instant has no time zone (give an aware datetime)")
        lt = t.astimezone(loc)
        day = (lt.weekday() + 1) % 7
        minute = lt.hour * 60 + lt.minute
        return any(s.day == day and s.start <= minute < s.end for s in self.segments)

    def __str__(self) -> str:
        if not self.segments:
            return f"never ({self.zone})"
        parts = [f"{DAY_NAMES[s.day]} {format_clock(s.start)}-{format_clock(s.end)}" for s in self.segments]
        return ", ".join(parts) + f" ({self.zone})"

    def to_json(self) -> dict[str, Any]:
        return {"tz": self.zone, "segments": [
            {"day": DAY_NAMES[s.day], "start": format_clock(s.start), "end": format_clock(s.end)} for s in self.segments]}

    def validate(self) -> None:
        if self.zone in ("", "Local"):
            raise WindowError(f"window: time zone {self.zone!r} is not an IANA name")
        for s in self.segments:
            if not (0 <= s.day <= 6) or s.start < 0 or s.start >= s.end or s.end > MINUTES_PER_DAY:
                raise WindowError(f"window: bad segment {s}")


def format_clock(m: int) -> str:
    return "%02d:%02d" % (m // 60, m % 60)


def parse_clock(s: str, end: bool) -> int:
    """ "HH:MM" in minutes; "24:00" only as an end."""
    if not (len(s) == 5 and s[2] == ":" and _digits(s[:2]) and _digits(s[3:])):
        raise WindowError(f"window: time {s!r} is not HH:MM")
    h, m = int(s[:2]), int(s[3:])
    if m > 59 or h > 24 or (h == 24 and (m != 0 or not end)):
        raise WindowError(f"window: time {s!r} out of range")
    return h * 60 + m


def _digits(s: str) -> bool:
    return s != "" and all("0" <= c <= "9" for c in s)


def normalize_segments(segs: list[Segment] | tuple[Segment, ...]) -> tuple[Segment, ...]:
    """Sort by day and start; merge overlapping or adjacent segments of a day."""
    out: list[Segment] = []
    for s in sorted(segs, key=lambda x: (x.day, x.start)):
        if out and out[-1].day == s.day and s.start <= out[-1].end:
            out[-1] = Segment(s.day, out[-1].start, max(out[-1].end, s.end))
            continue
        out.append(s)
    return tuple(out)


def new_window(zone: str, days: list[int] | None, start: str, end: str) -> Window:
    """authority.NewWindow: days (empty = every day, 0 = Sunday), "HH:MM"
    start and end; end before start crosses midnight, start == end is the whole day."""
    load_location(zone)
    lo, hi = parse_clock(start, False), parse_clock(end, True)
    segs: list[Segment] = []
    for d in days or range(7):
        if not 0 <= d <= 6:
            raise WindowError(f"window: bad weekday {d}")
        if lo == hi or (lo == 0 and hi == MINUTES_PER_DAY):
            segs.append(Segment(d, 0, MINUTES_PER_DAY))
        elif lo < hi:
            segs.append(Segment(d, lo, hi))
        else:
            segs.append(Segment(d, lo, MINUTES_PER_DAY))
            if hi > 0:
                segs.append(Segment((d + 1) % 7, 0, hi))
    return Window(zone, normalize_segments(segs))


def window_from_json(v: Any) -> Window:
    """Decode {"tz":…,"segments":[{"day":"mon","start":"09:00","end":"17:00"}]} strictly."""
    obj = object_value(v)
    for k in obj:
        if k not in ("tz", "segments"):
            raise WindowError(f"window: unknown key {k!r}")
    zone = string_value(obj.get("tz"))
    raw = obj.get("segments")
    if raw is None:
        raise WindowError("window: segments missing")
    if not isinstance(raw, list):
        raise WindowError("window: segments: not an array")
    segs = [_segment(x) for x in raw]
    w = Window(zone, normalize_segments(segs))
    w.validate()
    return w


def _segment(v: Any) -> Segment:
    obj = object_value(v)
    for k in obj:
        if k not in ("day", "start", "end"):
            raise WindowError(f"window: unknown key {k!r}")
    day_s = string_value(obj.get("day"))
    start_s, end_s = string_value(obj.get("start")), string_value(obj.get("end"))
    day = next((i for i, n in enumerate(DAY_NAMES) if equal_fold(day_s, n)), -1)
    if day < 0:
        raise WindowError(f"window: unknown day {day_s!r} (want sun..sat)")
    start, end = parse_clock(start_s, False), parse_clock(end_s, True)
    if start >= end:
        raise WindowError(f"window: segment {day_s} {start_s}-{end_s} is empty or crosses midnight")
    return Segment(day, start, end)


@lru_cache(maxsize=256)
def load_location(name: str) -> ZoneInfo:
    """An IANA zone; "" and "Local" are refused (they would silently mean UTC or the host's zone)."""
    if name in ("", "Local"):
        raise WindowError(f"window: time zone {name!r} is not an IANA name")
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError) as e:  # ZoneInfoNotFoundError is a KeyError
        raise WindowError(f"window: time zone {name!r}: {e}") from e
