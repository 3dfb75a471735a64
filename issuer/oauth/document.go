package oauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults of MetadataDocumentOptions.
const (
	DefaultDocumentTimeout  = 5 * time.Second
	DefaultDocumentMaxBytes = 64 << 10
	DefaultDocumentCacheTTL = 5 * time.Minute
	// maxCachedDocuments bounds the cache; when full, expired entries go,
	// and if none expired the cache is cleared.
	maxCachedDocuments = 1000
)

// MetadataDocumentOptions configure Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document): a client_id that is an
// https URL names a JSON document describing the client, which the server
// fetches.
type MetadataDocumentOptions struct {
	// Disabled refuses such client ids.
	Disabled bool
	// AllowPrivateAddresses lets the fetch reach loopback, private and
	// link-local addresses. Only for tests: in production it would let a
	// client_id probe the internal network (SSRF).
	AllowPrivateAddresses bool
	// RootCAs verifies the document servers; nil means the system roots.
	RootCAs *x509.CertPool
	// Timeout bounds one fetch; 0 means DefaultDocumentTimeout.
	Timeout time.Duration
	// MaxBytes bounds a document; 0 means DefaultDocumentMaxBytes.
	MaxBytes int64
	// CacheTTL is how long a fetched document is reused; 0 means
	// DefaultDocumentCacheTTL. Failures are not cached.
	CacheTTL time.Duration
}

// documentFetcher fetches and caches client metadata documents through an
// HTTP client that refuses non-public addresses, redirects, proxies, large
// bodies and slow servers. Safe for concurrent use.
type documentFetcher struct {
	opts     MetadataDocumentOptions
	client   *http.Client
	redirect func(string) error // validates a redirect URI

	mu    sync.Mutex
	cache map[string]cachedDocument
}

type cachedDocument struct {
	c       *client
	expires time.Time
}

func newDocumentFetcher(o MetadataDocumentOptions, redirect func(string) error) (*documentFetcher, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultDocumentTimeout
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultDocumentMaxBytes
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = DefaultDocumentCacheTTL
	}
	tr := &http.Transport{
		Proxy:                  nil, // a proxy would dial for us, past the address check
		DialContext:            safeDialer(o.Timeout, o.AllowPrivateAddresses).DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		MaxIdleConns:           10,
		IdleConnTimeout:        30 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	return &documentFetcher{opts: o, redirect: redirect, cache: map[string]cachedDocument{},
		client: &http.Client{Transport: tr, Timeout: o.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// errDocument is what a client learns of a document that could not be used;
// the cause is in the log.
func errDocument(format string, args ...any) *Error {
	return oauthErr(CodeInvalidClient, "client metadata document: "+fmt.Sprintf(format, args...))
}

// fetch returns the client described at id, from the cache or the network.
func (f *documentFetcher) fetch(ctx context.Context, id string) (*client, error) {
	if f.opts.Disabled {
		return nil, errDocument("client ID metadata documents are not accepted here")
	}
	if err := checkDocumentURL(id); err != nil {
		return nil, errDocument("%s", err)
	}
	now := time.Now()
	f.mu.Lock()
	e, ok := f.cache[id]
	f.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.c, nil
	}
	c, err := f.get(ctx, id)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if len(f.cache) >= maxCachedDocuments {
		f.evictLocked(now)
	}
	f.cache[id] = cachedDocument{c: c, expires: now.Add(f.opts.CacheTTL)}
	f.mu.Unlock()
	return c, nil
}

func (f *documentFetcher) evictLocked(now time.Time) {
	for k, e := range f.cache {
		if !now.Before(e.expires) {
			delete(f.cache, k)
		}
	}
	if len(f.cache) >= maxCachedDocuments {
		clear(f.cache)
	}
}

// checkDocumentURL applies the draft's rules to a client_id URL: https, a
// host, a path other than "/", no dot segments, fragment or userinfo.
func checkDocumentURL(id string) error {
	u, err := url.Parse(id)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		return errors.New("the client_id must be an https URL")
	}
	if u.User != nil || u.Fragment != "" || strings.Contains(id, "#") {
		return errors.New("the client_id URL must not carry userinfo or a fragment")
	}
	if u.Path == "" || u.Path == "/" {
		return errors.New("the client_id URL must have a path")
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return errors.New("the client_id URL must not have dot segments")
		}
	}
	return nil
}

// documentBody is the part of a client metadata document this server reads.
type documentBody struct {
	ClientMetadata
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func (f *documentFetcher) get(ctx context.Context, id string) (*client, error) {
	body, err := f.download(ctx, id)
	if err != nil {
		return nil, err
	}
	var doc documentBody
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, errDocument("not a JSON object")
	}
	return f.validate(id, &doc)
}

func (f *documentFetcher) download(ctx context.Context, id string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return nil, errDocument("bad URL")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		if errors.Is(err, errForbiddenAddress) {
			return nil, errDocument("%s resolves to an address that is not public", req.URL.Host)
		}
		return nil, errDocument("could not fetch %s", id)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errDocument("fetching %s answered HTTP %d (redirects are not followed)", id, resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return nil, errDocument("%s is not served as application/json", id)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.opts.MaxBytes+1))
	if err != nil {
		return nil, errDocument("could not read %s", id)
	}
	if int64(len(body)) > f.opts.MaxBytes {
		return nil, errDocument("%s is larger than %d bytes", id, f.opts.MaxBytes)
	}
	return body, nil
}

// validate checks a document: its client_id is the URL it came from, no
// secret, a public client (authentication "none"), valid redirect URIs.
func (f *documentFetcher) validate(id string, doc *documentBody) (*client, error) {
	switch {
	case doc.ClientID != id:
		return nil, errDocument("its client_id %q differs from the URL it was fetched from", doc.ClientID)
	case doc.ClientSecret != "":
		return nil, errDocument("a metadata document must not carry a client_secret")
	case doc.TokenEndpointAuthMethod != "" && doc.TokenEndpointAuthMethod != AuthNone:
		return nil, errDocument("token_endpoint_auth_method %q is not supported (none)", doc.TokenEndpointAuthMethod)
	case len(doc.RedirectURIs) == 0:
		return nil, errDocument("redirect_uris is required")
	}
	for _, u := range doc.RedirectURIs {
		if err := f.redirect(u); err != nil {
			return nil, errDocument("%s", err)
		}
	}
	grants := doc.GrantTypes
	if len(grants) == 0 {
		grants = []string{GrantAuthorizationCode}
	}
	c := &client{ID: id, Name: doc.ClientName, RedirectURIs: doc.RedirectURIs, GrantTypes: grants,
		AuthMethod: AuthNone, Scope: doc.Scope, Document: true}
	if isHTTPSURL(doc.ClientURI) {
		c.URI = doc.ClientURI
	}
	if isHTTPSURL(doc.LogoURI) {
		c.LogoURI = doc.LogoURI
	}
	return c, nil
}
