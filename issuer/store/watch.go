package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reconnect backoff of the PostgreSQL listener.
const (
	listenMinBackoff = 50 * time.Millisecond
	listenMaxBackoff = 5 * time.Second
)

// startWatcher starts the goroutine that keeps the revocation set current:
// LISTEN on PostgreSQL (Open waits until it listens, so that nothing revoked
// after Open returns is missed), polling on SQLite. Close stops it.
func (s *Store) startWatcher(ctx context.Context) error {
	wctx, stop := context.WithCancel(context.Background())
	s.stop, s.watchDone = stop, make(chan struct{})
	if !s.d.postgres {
		go s.poll(wctx)
		return nil
	}
	ready := make(chan error, 1)
	go s.listen(wctx, ready)
	select {
	case err := <-ready:
		if err != nil {
			stop()
			<-s.watchDone
			return fmt.Errorf("store: listen for revocations: %w", err)
		}
		return nil
	case <-ctx.Done():
		stop()
		<-s.watchDone
		return ctx.Err()
	}
}

// listen holds a dedicated connection in LISTEN on the schema's channel and
// loads new revocations on every notification. After a lost connection it
// reconnects with exponential backoff and resyncs the whole set. The first
// outcome (listening, or the first failure) is sent on ready.
func (s *Store) listen(ctx context.Context, ready chan<- error) {
	defer close(s.watchDone)
	backoff := listenMinBackoff
	first := true
	for {
		err := s.listenOnce(ctx, func() {
			if first {
				first = false
				ready <- nil
			}
			backoff = listenMinBackoff
		})
		if ctx.Err() != nil {
			return
		}
		if first {
			ready <- err
			return
		}
		s.log.Warn("revocation listener lost its connection; reconnecting", "err", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

func (s *Store) listenOnce(ctx context.Context, listening func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.listenChannel}.Sanitize()); err != nil {
		return err
	}
	// Listening now: a full resync cannot miss anything committed meanwhile.
	if err := s.syncRevocations(ctx, true); err != nil {
		return err
	}
	listening()
	s.revs.fresh.setListening(true, time.Now())
	defer func() { s.revs.fresh.setListening(false, time.Now()) }()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		if err := s.syncRevocations(ctx, false); err != nil {
			return err
		}
	}
}

// poll looks for revocations written by other processes sharing the SQLite
// file (this Store's own are loaded by Revoke itself).
func (s *Store) poll(ctx context.Context) {
	defer close(s.watchDone)
	every := s.opts.PollInterval
	if every == 0 {
		every = DefaultPollInterval
	}
	s.revs.fresh.setPolled(true, time.Now())
	if every < 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var v int64
		err := s.db.QueryRowContext(ctx, `SELECT version FROM revocation_version WHERE id = 1`).Scan(&v)
		s.revs.fresh.setPolled(err == nil, time.Now())
		if err != nil {
			s.log.Warn("revocation poll failed", "err", err)
			continue
		}
		if v > s.revs.Version() {
			if err := s.syncRevocations(ctx, false); err != nil {
				s.log.Warn("revocation poll failed", "err", err)
			}
		}
	}
}
