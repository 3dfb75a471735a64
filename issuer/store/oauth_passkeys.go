package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Passkey is a WebAuthn credential of a user. Credential is the relying
// party library's record (JSON: public key, sign count, flags), opaque here.
type Passkey struct {
	ID         string // base64url credential id
	User       string
	Credential []byte
	CreatedAt  time.Time // read-only
	LastUsed   time.Time // read-only
}

// AddPasskey stores p; ErrExists if the credential id is registered.
func (s *Store) AddPasskey(ctx context.Context, p Passkey) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO oauth_passkeys (credential_id, username, credential, created_ns)
		VALUES ($1, $2, $3, $4) ON CONFLICT (credential_id) DO NOTHING`, p.ID, p.User, string(p.Credential), s.now().UnixNano())
	if err != nil {
		return fmt.Errorf("store: add passkey: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: passkey", ErrExists)
	}
	return nil
}

// Passkeys returns user's passkeys, oldest first.
func (s *Store) Passkeys(ctx context.Context, user string) ([]Passkey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT credential_id, username, credential, created_ns, used_ns FROM oauth_passkeys
		WHERE username = $1 ORDER BY created_ns`, user)
	if err != nil {
		return nil, fmt.Errorf("store: list passkeys: %w", err)
	}
	defer rows.Close()
	var out []Passkey
	for rows.Next() {
		p, err := scanPasskey(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

// GetPasskey returns the passkey of credential id, or ErrNotFound.
func (s *Store) GetPasskey(ctx context.Context, id string) (*Passkey, error) {
	p, err := scanPasskey(s.db.QueryRowContext(ctx, `SELECT credential_id, username, credential, created_ns, used_ns
		FROM oauth_passkeys WHERE credential_id = $1`, id).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: passkey", ErrNotFound)
	}
	return p, err
}

// UsePasskey records a login with passkey id and its updated credential
// (the sign counter).
func (s *Store) UsePasskey(ctx context.Context, id string, credential []byte) error {
	_, err := s.db.ExecContext(ctx, `UPDATE oauth_passkeys SET credential = $1, used_ns = $2 WHERE credential_id = $3`,
		string(credential), s.now().UnixNano(), id)
	if err != nil {
		return fmt.Errorf("store: use passkey: %w", err)
	}
	return nil
}

func scanPasskey(scan func(...any) error) (*Passkey, error) {
	var p Passkey
	var cred string
	var created, used int64
	if err := scan(&p.ID, &p.User, &cred, &created, &used); err != nil {
		return nil, err
	}
	p.Credential, p.CreatedAt, p.LastUsed = []byte(cred), fromNanos(created), fromNanos(used)
	return &p, nil
}

// SaveCeremony stores the state of a WebAuthn ceremony under idHash.
func (s *Store) SaveCeremony(ctx context.Context, idHash, user string, data []byte, expires time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO oauth_webauthn_ceremonies (id_hash, username, data, expires_ns) VALUES ($1, $2, $3, $4)`,
		idHash, user, string(data), expires.UnixNano())
	if err != nil {
		return fmt.Errorf("store: save ceremony: %w", err)
	}
	return nil
}

// TakeCeremony returns and deletes the ceremony idHash (single use: a
// challenge answers once); ErrNotFound if missing or expired at now.
func (s *Store) TakeCeremony(ctx context.Context, idHash string, now time.Time) (user string, data []byte, err error) {
	var d string
	var expires int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT username, data, expires_ns FROM oauth_webauthn_ceremonies WHERE id_hash = $1`+s.d.forUpdate(),
			idHash).Scan(&user, &d, &expires)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM oauth_webauthn_ceremonies WHERE id_hash = $1`, idHash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return sql.ErrNoRows
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM oauth_webauthn_ceremonies WHERE expires_ns < $1`, now.UnixNano())
		return err
	})
	if errors.Is(err, sql.ErrNoRows) || (err == nil && now.UnixNano() >= expires) {
		return "", nil, fmt.Errorf("%w: ceremony", ErrNotFound)
	}
	if err != nil {
		return "", nil, fmt.Errorf("store: take ceremony: %w", err)
	}
	return user, []byte(d), nil
}
