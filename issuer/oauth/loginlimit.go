package oauth

import (
	"sync"
	"time"
)

// Login throttling: after maxLoginFailures failed logins for one user name
// within loginWindow, further attempts for that name are refused until the
// window has passed since the first failure. It slows password guessing
// down; it is per process.
const (
	maxLoginFailures = 10
	loginWindow      = 15 * time.Minute
	maxTrackedNames  = 10_000
)

// loginLimiter counts failed logins per user name. Safe for concurrent use.
type loginLimiter struct {
	mu       sync.Mutex
	failures map[string]failureCount
}

type failureCount struct {
	n     int
	since time.Time
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{failures: map[string]failureCount{}}
}

// allowed reports whether a login for name may be tried at now.
func (l *loginLimiter) allowed(name string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.failures[name]
	if !ok || now.Sub(f.since) >= loginWindow {
		return true
	}
	return f.n < maxLoginFailures
}

// failed records a failed login.
func (l *loginLimiter) failed(name string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) >= maxTrackedNames {
		for k, f := range l.failures {
			if now.Sub(f.since) >= loginWindow {
				delete(l.failures, k)
			}
		}
	}
	f := l.failures[name]
	if f.n == 0 || now.Sub(f.since) >= loginWindow {
		f = failureCount{since: now}
	}
	f.n++
	l.failures[name] = f
}

// succeeded forgets the failures of name.
func (l *loginLimiter) succeeded(name string) {
	l.mu.Lock()
	delete(l.failures, name)
	l.mu.Unlock()
}
