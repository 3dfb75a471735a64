package oauth

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openlegant/legant/authority"
)

// consentForm is what the user sets on the consent page before approving:
// the tools, and the limits signed into every token of the delegation.
// Empty fields do not restrict.
type consentForm struct {
	Tools      []string
	MaxAmount  string
	Budget     string
	Currency   string
	MaxCalls   string
	Categories string // comma-separated
	Days       []string
	Start, End string // "HH:MM"
	Zone       string // IANA time zone of the window
	TTL        string // one of ttlChoices
}

// ttlChoice is a lifetime the user may give a delegation.
type ttlChoice struct {
	Value string
	Label string
	d     time.Duration
}

var ttlChoices = []ttlChoice{
	{"1h", "1 hour", time.Hour},
	{"8h", "8 hours", 8 * time.Hour},
	{"24h", "1 day", 24 * time.Hour},
	{"168h", "7 days", 7 * 24 * time.Hour},
	{"720h", "30 days", 30 * 24 * time.Hour},
}

// weekday is a day the window form offers.
type weekday struct {
	Value string
	Label string
	day   time.Weekday
}

var weekdays = []weekday{
	{"mon", "Mon", time.Monday}, {"tue", "Tue", time.Tuesday}, {"wed", "Wed", time.Wednesday},
	{"thu", "Thu", time.Thursday}, {"fri", "Fri", time.Friday}, {"sat", "Sat", time.Saturday}, {"sun", "Sun", time.Sunday},
}

// defaultConsentForm offers every tool the scopes reach and DefaultGrantTTL.
func defaultConsentForm(req *authRequest) consentForm {
	f := consentForm{Zone: "UTC"}
	for _, c := range ttlChoices {
		if c.d == DefaultGrantTTL {
			f.TTL = c.Value
		}
	}
	if req.Upstream == nil {
		return f // sign-in only: no tools
	}
	for _, t := range toolsFor(req.Upstream, req.Scopes) {
		f.Tools = append(f.Tools, t.Name)
		if t.Currency != "" && f.Currency == "" {
			f.Currency = t.Currency
		}
	}
	return f
}

func readConsentForm(v url.Values) consentForm {
	trim := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	return consentForm{Tools: v["tool"], MaxAmount: trim("max_amount"), Budget: trim("budget"),
		Currency: strings.ToUpper(trim("currency")), MaxCalls: trim("max_calls"), Categories: trim("categories"),
		Days: v["day"], Start: trim("window_start"), End: trim("window_end"), Zone: trim("window_zone"), TTL: trim("ttl")}
}

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// constraints turns the form into the delegation's constraints and
// lifetime. offered are the tools the request's scopes reach.
func (f consentForm) constraints(offered []toolInfo, maxTTL time.Duration) (authority.Constraints, time.Duration, error) {
	c := authority.Unrestricted()
	if len(f.Tools) == 0 {
		return c, 0, errors.New("select at least one tool")
	}
	for _, t := range f.Tools {
		if !slices.ContainsFunc(offered, func(o toolInfo) bool { return o.Name == t }) {
			return c, 0, fmt.Errorf("tool %q is not among the tools this request reaches", t)
		}
	}
	c.Tools = authority.Only(f.Tools...)
	if f.Currency != "" && !currencyCode.MatchString(f.Currency) {
		return c, 0, errors.New("currency must be a three-letter ISO 4217 code, e.g. USD")
	}
	var err error
	if c.MaxAmount, err = money("maximum amount per call", f.MaxAmount, f.Currency); err != nil {
		return c, 0, err
	}
	if c.Budget, err = money("budget", f.Budget, f.Currency); err != nil {
		return c, 0, err
	}
	if f.MaxCalls != "" {
		n, err := strconv.ParseInt(f.MaxCalls, 10, 64)
		if err != nil || n < 1 {
			return c, 0, errors.New("maximum number of calls must be a positive whole number")
		}
		c.MaxCalls = &n
	}
	if cats := splitList(f.Categories); len(cats) > 0 {
		c.Categories = authority.Only(cats...)
	}
	if c.Window, err = f.window(); err != nil {
		return c, 0, err
	}
	ttl, err := f.ttl(maxTTL)
	if err != nil {
		return c, 0, err
	}
	c, err = c.Normalize()
	if err != nil {
		return c, 0, fmt.Errorf("the limits are not valid: %w", err)
	}
	return c, ttl, nil
}

func money(what, value, currency string) (*authority.Money, error) {
	if value == "" {
		return nil, nil
	}
	d, err := authority.ParseDecimal(value)
	if err != nil || d.Sign() < 0 {
		return nil, fmt.Errorf("%s must be a non-negative number such as 200 or 49.99", what)
	}
	return &authority.Money{Value: d, Currency: currency}, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// window builds the time window, if the form sets one.
func (f consentForm) window() (*authority.Window, error) {
	if f.Start == "" && f.End == "" && len(f.Days) == 0 {
		return nil, nil
	}
	start, end := f.Start, f.End
	if start == "" && end == "" {
		start, end = "00:00", "00:00" // the whole day
	}
	var days []time.Weekday
	for _, d := range f.Days {
		i := slices.IndexFunc(weekdays, func(w weekday) bool { return w.Value == d })
		if i < 0 {
			return nil, fmt.Errorf("unknown day %q", d)
		}
		days = append(days, weekdays[i].day)
	}
	zone := f.Zone
	if zone == "" {
		zone = "UTC"
	}
	w, err := authority.NewWindow(zone, days, start, end)
	if err != nil {
		return nil, fmt.Errorf("time window: %w", err)
	}
	return &w, nil
}

func (f consentForm) ttl(maxTTL time.Duration) (time.Duration, error) {
	for _, c := range ttlChoices {
		if c.Value == f.TTL {
			if c.d > maxTTL {
				return 0, fmt.Errorf("this server allows delegations of at most %s", maxTTL)
			}
			return c.d, nil
		}
	}
	return 0, errors.New("choose how long the delegation lasts")
}
