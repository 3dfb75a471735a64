package admin

import (
	"context"
	"errors"
	"net/http"

	"github.com/openlegant/legant/issuer/store"
)

// serveList answers GET /v1/sessions?user=&agent=&upstream=&state=&jti=&limit=
// from the store: the sessions of every replica sharing it, most recently
// active first.
func (s *Server) serveList(w http.ResponseWriter, r *http.Request) {
	q, err := parseSessionQuery(r.URL.Query())
	if err != nil {
		writeError(w, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: err.Error()})
		return
	}
	s.flushLocal(r.Context())
	list, err := s.opts.Store.ListSessions(r.Context(), q.filter())
	if err != nil {
		s.storeUnavailable(w, err)
		return
	}
	out := SessionList{Sessions: make([]Session, len(list))}
	for i := range list {
		out.Sessions[i] = sessionOf(&list[i])
	}
	writeJSON(w, http.StatusOK, out)
}

// serveGet answers GET /v1/sessions/{id}.
func (s *Server) serveGet(w http.ResponseWriter, r *http.Request) {
	s.flushLocal(r.Context())
	se, err := s.opts.Store.GetSession(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, &Error{Status: http.StatusNotFound, Code: "not_found", Description: "no such session"})
	case err != nil:
		s.storeUnavailable(w, err)
	default:
		writeJSON(w, http.StatusOK, sessionOf(se))
	}
}

// activityFlusher is what a replica's gateway does to have its sessions'
// counters in the store at once (*gateway.Gateway implements it).
type activityFlusher interface{ FlushActivity(context.Context) }

// flushLocal has this replica's gateway record its sessions' counters before
// they are read: a client that just made calls through it sees them counted.
// Other replicas' lag by up to their janitor's second (docs/KILL.md).
func (s *Server) flushLocal(ctx context.Context) {
	if f, ok := s.opts.Gateway.(activityFlusher); ok {
		f.FlushActivity(ctx)
	}
}
