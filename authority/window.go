package authority

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// minutesPerDay is the exclusive upper bound of a Segment's End.
const minutesPerDay = 24 * 60

// Window is a weekly schedule in one IANA time zone: an instant is allowed
// when, seen as wall-clock time in Zone, it falls in one of the Segments.
// Wall-clock means DST-correct: "09:00-17:00" stays 09:00-17:00 local time on
// both sides of a transition. A window given as "22:00-06:00" crosses
// midnight: it belongs to the day it starts on and is stored as two segments.
// A Window with no segment never allows anything.
type Window struct {
	Zone     string    // IANA name, e.g. "Europe/Paris"; required ("Local" is refused)
	Segments []Segment // normalized: no segment crosses midnight; sorted, merged
}

// Segment is one allowed interval of one weekday, in minutes from local
// midnight: Start inclusive, End exclusive, 0 <= Start < End <= 1440.
type Segment struct {
	Day        time.Weekday
	Start, End int
}

// NewWindow builds a Window from days (empty means every day) and a local
// start and end in "HH:MM" form. End before start crosses midnight into the
// next day; start equal to end is the whole day; "24:00" is a valid end.
func NewWindow(zone string, days []time.Weekday, start, end string) (Window, error) {
	if _, err := loadLocation(zone); err != nil {
		return Window{}, err
	}
	from, err := parseClock(start, false)
	if err != nil {
		return Window{}, err
	}
	to, err := parseClock(end, true)
	if err != nil {
		return Window{}, err
	}
	if len(days) == 0 {
		days = []time.Weekday{0, 1, 2, 3, 4, 5, 6}
	}
	var segs []Segment
	for _, d := range days {
		if d < time.Sunday || d > time.Saturday {
			return Window{}, fmt.Errorf("window: bad weekday %d", d)
		}
		segs = append(segs, daySegments(d, from, to)...)
	}
	return Window{Zone: zone, Segments: normalizeSegments(segs)}, nil
}

// daySegments expands one day's interval, splitting one that crosses midnight.
func daySegments(d time.Weekday, from, to int) []Segment {
	switch {
	case from == to || (from == 0 && to == minutesPerDay):
		return []Segment{{d, 0, minutesPerDay}}
	case from < to:
		return []Segment{{d, from, to}}
	}
	segs := []Segment{{d, from, minutesPerDay}}
	if to > 0 {
		segs = append(segs, Segment{(d + 1) % 7, 0, to})
	}
	return segs
}

// parseClock parses "HH:MM" into minutes; "24:00" only when end is true.
func parseClock(s string, end bool) (int, error) {
	if len(s) != 5 || s[2] != ':' || !allDigits(s[:2]) || !allDigits(s[3:]) {
		return 0, fmt.Errorf("window: time %q is not HH:MM", s)
	}
	h, _ := strconv.Atoi(s[:2])
	m, _ := strconv.Atoi(s[3:])
	if m > 59 || h > 24 || (h == 24 && (m != 0 || !end)) {
		return 0, fmt.Errorf("window: time %q out of range", s)
	}
	return h*60 + m, nil
}

func formatClock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// normalizeSegments sorts by day and start and merges overlapping or
// adjacent segments of the same day. It returns a new slice.
func normalizeSegments(in []Segment) []Segment {
	segs := slices.Clone(in)
	slices.SortFunc(segs, func(a, b Segment) int {
		if a.Day != b.Day {
			return int(a.Day) - int(b.Day)
		}
		return a.Start - b.Start
	})
	var out []Segment
	for _, s := range segs {
		if n := len(out); n > 0 && out[n-1].Day == s.Day && s.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, s.End)
			continue
		}
		out = append(out, s)
	}
	return out
}

// validate checks the zone name and every segment's bounds.
func (w Window) validate() error {
	if w.Zone == "" || w.Zone == "Local" {
		return fmt.Errorf("window: time zone %q is not an IANA name", w.Zone)
	}
	for _, s := range w.Segments {
		if s.Day < time.Sunday || s.Day > time.Saturday || s.Start < 0 || s.Start >= s.End || s.End > minutesPerDay {
			return fmt.Errorf("window: bad segment %v", s)
		}
	}
	return nil
}

// Contains reports whether t, as wall-clock time in w.Zone, falls in the
// window. The error is non-nil only when the zone cannot be loaded; callers
// must then refuse.
func (w Window) Contains(t time.Time) (bool, error) {
	loc, err := loadLocation(w.Zone)
	if err != nil {
		return false, err
	}
	lt := t.In(loc)
	day, minute := lt.Weekday(), lt.Hour()*60+lt.Minute()
	for _, s := range w.Segments {
		if s.Day == day && s.Start <= minute && minute < s.End {
			return true, nil
		}
	}
	return false, nil
}

// Intersect returns the window allowed by both w and o. Both must name the
// same zone: a window in another zone is refused, never converted, because a
// fixed offset between two zones does not exist across DST transitions.
func (w Window) Intersect(o Window) (Window, error) {
	if w.Zone != o.Zone {
		return Window{}, fmt.Errorf("window: time zone %s differs from %s", o.Zone, w.Zone)
	}
	a, b := normalizeSegments(w.Segments), normalizeSegments(o.Segments)
	out := []Segment{}
	for i, j := 0, 0; i < len(a) && j < len(b); {
		if a[i].Day == b[j].Day {
			if lo, hi := max(a[i].Start, b[j].Start), min(a[i].End, b[j].End); lo < hi {
				out = append(out, Segment{a[i].Day, lo, hi})
			}
		}
		if a[i].Day < b[j].Day || (a[i].Day == b[j].Day && a[i].End < b[j].End) {
			i++
		} else {
			j++
		}
	}
	return Window{Zone: w.Zone, Segments: out}, nil
}

// String returns the human form "mon 09:00-17:00, tue 09:00-17:00 (Europe/Paris)";
// a window without segments is "never (Zone)".
func (w Window) String() string {
	if len(w.Segments) == 0 {
		return "never (" + w.Zone + ")"
	}
	parts := make([]string, len(w.Segments))
	for i, s := range w.Segments {
		parts[i] = dayNames[s.Day] + " " + formatClock(s.Start) + "-" + formatClock(s.End)
	}
	return strings.Join(parts, ", ") + " (" + w.Zone + ")"
}

var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func parseDay(s string) (time.Weekday, error) {
	for i, n := range dayNames {
		if strings.EqualFold(s, n) {
			return time.Weekday(i), nil
		}
	}
	return 0, fmt.Errorf("window: unknown day %q (want sun..sat)", s)
}

type windowWire struct {
	Zone     string        `json:"tz"`
	Segments []segmentWire `json:"segments"`
}

type segmentWire struct {
	Day   string `json:"day"`
	Start string `json:"start"`
	End   string `json:"end"`
}

// MarshalJSON encodes {"tz":"Europe/Paris","segments":[{"day":"mon","start":"09:00","end":"17:00"}]}.
func (w Window) MarshalJSON() ([]byte, error) {
	if err := w.validate(); err != nil {
		return nil, err
	}
	out := windowWire{Zone: w.Zone, Segments: []segmentWire{}}
	for _, s := range w.Segments {
		out.Segments = append(out.Segments, segmentWire{dayNames[s.Day], formatClock(s.Start), formatClock(s.End)})
	}
	return json.Marshal(out)
}

// UnmarshalJSON decodes the form written by MarshalJSON strictly (unknown
// keys are errors) and normalizes the segments. It does not load the zone:
// Contains reports a zone that does not load.
func (w *Window) UnmarshalJSON(data []byte) error {
	var in windowWire
	if err := decodeFields(data, map[string]any{"tz": &in.Zone, "segments": &in.Segments}); err != nil {
		return fmt.Errorf("window: %w", err)
	}
	if in.Segments == nil {
		return errors.New("window: segments missing")
	}
	segs := make([]Segment, 0, len(in.Segments))
	for _, s := range in.Segments {
		seg, err := s.segment()
		if err != nil {
			return err
		}
		segs = append(segs, seg)
	}
	out := Window{Zone: in.Zone, Segments: normalizeSegments(segs)}
	if err := out.validate(); err != nil {
		return err
	}
	*w = out
	return nil
}

// UnmarshalJSON decodes one segment strictly.
func (s *segmentWire) UnmarshalJSON(data []byte) error {
	return decodeFields(data, map[string]any{"day": &s.Day, "start": &s.Start, "end": &s.End})
}

func (s segmentWire) segment() (Segment, error) {
	day, err := parseDay(s.Day)
	if err != nil {
		return Segment{}, err
	}
	start, err := parseClock(s.Start, false)
	if err != nil {
		return Segment{}, err
	}
	end, err := parseClock(s.End, true)
	if err != nil {
		return Segment{}, err
	}
	if start >= end {
		return Segment{}, fmt.Errorf("window: segment %s %s-%s is empty or crosses midnight", s.Day, s.Start, s.End)
	}
	return Segment{day, start, end}, nil
}

// ParseWindowSpec parses the compact form used on command lines:
//
//	"mon-fri 09:00-17:00 Europe/Paris"
//	"sat,sun 10:00-14:00 UTC"
//	"fri-mon 22:00-06:00 America/New_York"   (crosses midnight)
//	"daily 08:00-20:00 Asia/Tokyo"           (days may also be omitted)
//
// Days are a comma-separated list of names (sun..sat) or ranges, ranges may
// wrap around the week; the zone is required.
func ParseWindowSpec(spec string) (Window, error) {
	f := strings.Fields(spec)
	if len(f) == 2 {
		f = append([]string{"daily"}, f...)
	}
	if len(f) != 3 {
		return Window{}, fmt.Errorf("window %q: want \"DAYS HH:MM-HH:MM ZONE\"", spec)
	}
	days, err := parseDays(f[0])
	if err != nil {
		return Window{}, err
	}
	start, end, ok := strings.Cut(f[1], "-")
	if !ok {
		return Window{}, fmt.Errorf("window %q: time range %q is not HH:MM-HH:MM", spec, f[1])
	}
	return NewWindow(f[2], days, start, end)
}

// parseDays parses "mon-fri", "sat,sun", "mon,wed-fri" or "daily".
func parseDays(s string) ([]time.Weekday, error) {
	if strings.EqualFold(s, "daily") {
		return nil, nil
	}
	var days []time.Weekday
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		from, err := parseDay(lo)
		if err != nil {
			return nil, err
		}
		to := from
		if isRange {
			if to, err = parseDay(hi); err != nil {
				return nil, err
			}
		}
		for d := from; ; d = (d + 1) % 7 {
			days = append(days, d)
			if d == to {
				break
			}
		}
	}
	return days, nil
}

// locations caches loaded time zones: the tz database is read-only data, and
// loading a zone reads a file, which Contains must not do on every call.
var locations sync.Map // string -> *time.Location

// loadLocation loads an IANA zone, refusing "" and "Local" (which would
// silently mean UTC or the host's zone).
func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("window: time zone %q is not an IANA name", name)
	}
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("window: time zone %q: %w", name, err)
	}
	locations.Store(name, loc)
	return loc, nil
}
