package authority_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openlegant/legant/authority"
)

func mustWindow(t *testing.T, spec string) authority.Window {
	t.Helper()
	w, err := authority.ParseWindowSpec(spec)
	if err != nil {
		t.Fatalf("ParseWindowSpec(%q): %v", spec, err)
	}
	return w
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestWindowContains(t *testing.T) {
	tests := []struct {
		name, spec, at string
		want           bool
	}{
		// America/New_York moves to EDT on Sunday 2026-03-08 and back to EST on Sunday 2026-11-01.
		{"march: Fri 08:30 EST", "mon-fri 09:00-17:00 America/New_York", "2026-03-06T13:30:00Z", false},
		{"march: Fri 09:30 EST", "mon-fri 09:00-17:00 America/New_York", "2026-03-06T14:30:00Z", true},
		{"march: Mon 09:30 EDT, same UTC time as Fri 08:30 EST", "mon-fri 09:00-17:00 America/New_York", "2026-03-09T13:30:00Z", true},
		{"march: Mon 16:59 EDT", "mon-fri 09:00-17:00 America/New_York", "2026-03-09T20:59:00Z", true},
		{"march: Mon 17:00 EDT (end exclusive)", "mon-fri 09:00-17:00 America/New_York", "2026-03-09T21:00:00Z", false},
		{"november: Fri 09:30 EDT", "mon-fri 09:00-17:00 America/New_York", "2026-10-30T13:30:00Z", true},
		{"november: Mon 08:30 EST, same UTC time", "mon-fri 09:00-17:00 America/New_York", "2026-11-02T13:30:00Z", false},
		{"november: Mon 09:30 EST", "mon-fri 09:00-17:00 America/New_York", "2026-11-02T14:30:00Z", true},
		{"spring gap: 01:30 EST", "daily 01:00-03:00 America/New_York", "2026-03-08T06:30:00Z", true},
		{"spring gap: one minute later is 03:00 EDT... at 06:59Z still 01:59", "daily 01:00-03:00 America/New_York", "2026-03-08T06:59:00Z", true},
		{"spring gap: 07:00Z is 03:00 EDT", "daily 01:00-03:00 America/New_York", "2026-03-08T07:00:00Z", false},
		{"fall back: first 01:30 (EDT)", "sun 01:00-02:00 America/New_York", "2026-11-01T05:30:00Z", true},
		{"fall back: second 01:30 (EST)", "sun 01:00-02:00 America/New_York", "2026-11-01T06:30:00Z", true},
		{"fall back: 02:00 EST", "sun 01:00-02:00 America/New_York", "2026-11-01T07:00:00Z", false},
		// Crossing midnight: fri 22:00 - sat 06:00 and sat 22:00 - sun 06:00 (UTC).
		{"night: Fri 21:59", "fri-sat 22:00-06:00 UTC", "2026-03-06T21:59:00Z", false},
		{"night: Fri 22:00", "fri-sat 22:00-06:00 UTC", "2026-03-06T22:00:00Z", true},
		{"night: Sat 02:00", "fri-sat 22:00-06:00 UTC", "2026-03-07T02:00:00Z", true},
		{"night: Sat 12:00", "fri-sat 22:00-06:00 UTC", "2026-03-07T12:00:00Z", false},
		{"night: Sun 05:59", "fri-sat 22:00-06:00 UTC", "2026-03-08T05:59:00Z", true},
		{"night: Sun 06:00", "fri-sat 22:00-06:00 UTC", "2026-03-08T06:00:00Z", false},
		{"night: Mon 02:00", "fri-sat 22:00-06:00 UTC", "2026-03-09T02:00:00Z", false},
		{"night: Thu 23:00", "fri-sat 22:00-06:00 UTC", "2026-03-05T23:00:00Z", false},
		{"wrap: sat-mon covers sun", "sat-mon 10:00-11:00 UTC", "2026-03-08T10:30:00Z", true},
		{"whole day (start == end)", "wed 00:00-00:00 UTC", "2026-03-04T23:59:59Z", true},
		{"whole day (00:00-24:00)", "wed 00:00-24:00 UTC", "2026-03-04T00:00:00Z", true},
		{"Paris in winter (UTC+1)", "mon-fri 09:00-17:00 Europe/Paris", "2026-03-04T08:00:00Z", true},
		{"Paris in winter, 07:59Z = 08:59", "mon-fri 09:00-17:00 Europe/Paris", "2026-03-04T07:59:00Z", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustWindow(t, tt.spec).Contains(utc(tt.at))
			if err != nil || got != tt.want {
				t.Fatalf("%s Contains(%s) = %v, %v; want %v", tt.spec, tt.at, got, err, tt.want)
			}
		})
	}
}

func TestNewWindow(t *testing.T) {
	w, err := authority.NewWindow("UTC", []time.Weekday{time.Friday}, "22:00", "06:00")
	if err != nil {
		t.Fatal(err)
	}
	want := []authority.Segment{{Day: time.Friday, Start: 22 * 60, End: 1440}, {Day: time.Saturday, Start: 0, End: 6 * 60}}
	if diff := cmp.Diff(want, w.Segments); diff != "" {
		t.Fatalf("segments (-want +got):\n%s", diff)
	}
	sat, err := authority.NewWindow("UTC", []time.Weekday{time.Saturday}, "22:00", "00:00")
	if err != nil || len(sat.Segments) != 1 || sat.Segments[0].End != 1440 {
		t.Fatalf("22:00-00:00 = %v, %v; want one segment to midnight", sat.Segments, err)
	}
	for _, bad := range []struct{ zone, start, end string }{
		{"", "09:00", "17:00"},
		{"Local", "09:00", "17:00"},
		{"Mars/Olympus_Mons", "09:00", "17:00"},
		{"UTC", "9:00", "17:00"},
		{"UTC", "24:00", "17:00"},
		{"UTC", "09:60", "17:00"},
		{"UTC", "09:00", "24:01"},
		{"UTC", "09h00", "17:00"},
	} {
		if _, err := authority.NewWindow(bad.zone, nil, bad.start, bad.end); err == nil {
			t.Errorf("NewWindow(%q, %q, %q) succeeded", bad.zone, bad.start, bad.end)
		}
	}
	if _, err := authority.NewWindow("UTC", []time.Weekday{7}, "09:00", "10:00"); err == nil {
		t.Error("weekday 7 accepted")
	}
}

func TestParseWindowSpec(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"mon-fri 09:00-17:00 Europe/Paris", "mon 09:00-17:00, tue 09:00-17:00, wed 09:00-17:00, thu 09:00-17:00, fri 09:00-17:00 (Europe/Paris)"},
		{"sat,sun 10:00-14:00 UTC", "sun 10:00-14:00, sat 10:00-14:00 (UTC)"},
		{"Mon,wed-thu 08:00-09:00 UTC", "mon 08:00-09:00, wed 08:00-09:00, thu 08:00-09:00 (UTC)"},
		{"fri 22:00-02:00 Asia/Tokyo", "fri 22:00-24:00, sat 00:00-02:00 (Asia/Tokyo)"},
		{"12:00-13:00 UTC", "sun 12:00-13:00, mon 12:00-13:00, tue 12:00-13:00, wed 12:00-13:00, thu 12:00-13:00, fri 12:00-13:00, sat 12:00-13:00 (UTC)"},
		{"daily 12:00-13:00 UTC", "sun 12:00-13:00, mon 12:00-13:00, tue 12:00-13:00, wed 12:00-13:00, thu 12:00-13:00, fri 12:00-13:00, sat 12:00-13:00 (UTC)"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			if got := mustWindow(t, tt.spec).String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "mon-fri 09:00-17:00", "mon-fri 09:00 UTC", "funday 09:00-17:00 UTC", "mon-fri 09:00-17:00 UTC extra", "mon- 09:00-17:00 UTC", "mon-fri 09:00-17:00 Nowhere/Town"} {
		if w, err := authority.ParseWindowSpec(bad); err == nil {
			t.Errorf("ParseWindowSpec(%q) = %v, want error", bad, w)
		}
	}
}

func TestWindowIntersect(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"mon-fri 09:00-17:00 UTC", "mon-sun 12:00-20:00 UTC", "mon 12:00-17:00, tue 12:00-17:00, wed 12:00-17:00, thu 12:00-17:00, fri 12:00-17:00 (UTC)"},
		{"mon-fri 09:00-17:00 UTC", "sat,sun 09:00-17:00 UTC", "never (UTC)"},
		{"fri 22:00-06:00 UTC", "sat 05:00-07:00 UTC", "sat 05:00-06:00 (UTC)"},
		{"fri 22:00-06:00 UTC", "fri-sat 23:00-01:00 UTC", "fri 23:00-24:00, sat 00:00-01:00 (UTC)"},
		{"mon 09:00-10:00 UTC", "mon 10:00-11:00 UTC", "never (UTC)"},
	}
	for _, tt := range tests {
		t.Run(tt.a+" & "+tt.b, func(t *testing.T) {
			got, err := mustWindow(t, tt.a).Intersect(mustWindow(t, tt.b))
			if err != nil || got.String() != tt.want {
				t.Fatalf("Intersect = %q, %v; want %q", got, err, tt.want)
			}
			back, _ := mustWindow(t, tt.b).Intersect(mustWindow(t, tt.a))
			if back.String() != tt.want {
				t.Fatalf("not commutative: %q", back)
			}
		})
	}
	if _, err := mustWindow(t, "mon 09:00-10:00 UTC").Intersect(mustWindow(t, "mon 09:00-10:00 Europe/Paris")); err == nil {
		t.Fatal("windows in different zones must not intersect")
	}
}

func TestWindowJSON(t *testing.T) {
	w := mustWindow(t, "fri 22:00-06:00 Europe/Paris")
	data, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"tz":"Europe/Paris","segments":[{"day":"fri","start":"22:00","end":"24:00"},{"day":"sat","start":"00:00","end":"06:00"}]}`
	if string(data) != want {
		t.Fatalf("Marshal = %s\nwant      %s", data, want)
	}
	var back authority.Window
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(w, back); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		`{"tz":"UTC"}`,
		`{"tz":"","segments":[]}`,
		`{"tz":"UTC","segments":[{"day":"mon","start":"17:00","end":"09:00"}]}`,
		`{"tz":"UTC","segments":[{"day":"mon","start":"09:00","end":"09:00"}]}`,
		`{"tz":"UTC","segments":[{"day":"xyz","start":"09:00","end":"10:00"}]}`,
		`{"tz":"UTC","segments":[],"extra":1}`,
		`{"tz":"UTC","tz":"Europe/Paris","segments":[]}`,
		`{"tz":"UTC","segments":[{"day":"mon","start":"09:00","end":"10:00","x":1}]}`,
	} {
		var w authority.Window
		if err := json.Unmarshal([]byte(bad), &w); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}
