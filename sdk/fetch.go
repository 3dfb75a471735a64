package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// MaxDocumentSize bounds every document the Verifier reads (metadata, JWKS,
// revocation feed), over HTTP or from a file.
const MaxDocumentSize = 1 << 20

// errNotFound reports an HTTP 404, which discovery treats as "not published".
var errNotFound = errors.New("not found")

// fetcher reads issuer documents over HTTP(S) or from files, size-limited and
// with a timeout. Safe for concurrent use.
type fetcher struct {
	client    *http.Client
	timeout   time.Duration
	allowHTTP bool
}

func newFetcher(client *http.Client, timeout time.Duration, allowHTTP bool) *fetcher {
	if client == nil {
		client = &http.Client{}
	}
	// A copy, so that the redirect policy below does not change the caller's client.
	c := *client
	f := &fetcher{client: &c, timeout: timeout, allowHTTP: allowHTTP}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("stopped after 5 redirects")
		}
		return f.checkURL(req.URL)
	}
	return f
}

// checkURL refuses anything but https (and http when allowed).
func (f *fetcher) checkURL(u *url.URL) error {
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http" && u.Host != "" && f.allowHTTP:
		return nil
	case u.Scheme == "http" && u.Host != "":
		return fmt.Errorf("%s: https is required (VerifierOptions.AllowHTTP allows http)", u.Redacted())
	}
	return fmt.Errorf("%q is not an absolute https URL", u.Redacted())
}

// get fetches rawURL and returns its body. A 404 wraps errNotFound.
func (f *fetcher) get(ctx context.Context, rawURL, accept string) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse URL: %w", err)
	}
	if err := f.checkURL(u); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		io.Copy(io.Discard, io.LimitReader(resp.Body, MaxDocumentSize))
		return nil, fmt.Errorf("GET %s: %w", u.Redacted(), errNotFound)
	case resp.StatusCode != http.StatusOK:
		io.Copy(io.Discard, io.LimitReader(resp.Body, MaxDocumentSize))
		return nil, fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
	}
	body, err := readLimited(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	return body, nil
}

// readFile reads a local document with the same size limit.
func readFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	body, err := readLimited(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return body, nil
}

func readLimited(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxDocumentSize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxDocumentSize {
		return nil, fmt.Errorf("document larger than %d bytes", MaxDocumentSize)
	}
	return body, nil
}

// wellKnown returns the RFC 8414 §3.1 metadata URL of issuer: the well-known
// segment goes between the host and the issuer's path.
func wellKnown(issuer, name string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return "", fmt.Errorf("issuer URL: %w", err)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("issuer URL must have no query or fragment")
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	u.Path, u.RawPath = "", ""
	return u.String() + "/.well-known/" + name + path, nil
}
