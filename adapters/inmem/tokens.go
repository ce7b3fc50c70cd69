package inmem

import (
	"context"
	"maps"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

// tokenRows is the one-time tokens table, keyed by hash (unique), with its
// primary key on the id.
type tokenRows struct {
	byHash map[domain.TokenHash]domain.OneTimeToken
	ids    map[string]struct{}
}

func (r tokenRows) clone() tokenRows {
	return tokenRows{byHash: maps.Clone(r.byHash), ids: maps.Clone(r.ids)}
}

// tokenRow returns tok as stored and read back: times normalised, nothing
// shared with tok.
func tokenRow(tok domain.OneTimeToken) domain.OneTimeToken {
	tok.ExpiresAt = dbTime(tok.ExpiresAt)
	tok.UsedAt = dbTimePtr(tok.UsedAt)
	tok.CreatedAt = dbTime(tok.CreatedAt)
	return tok
}

// CreateToken stores a new token. Its user must exist (domain.KindNotFound
// otherwise); a taken id or hash is a domain.KindConflict error. An id that
// is not a UUID, a zero hash or an unknown purpose is a domain.KindInternal
// error (a bug in the caller).
func (s *Store) CreateToken(ctx context.Context, tok domain.OneTimeToken) error {
	const op = "inmem.Store.CreateToken"
	switch {
	case !domain.ValidID(tok.ID):
		return internal(op, "token id is not a UUID")
	case tok.Hash.IsZero():
		return internal(op, "token has no hash")
	case !tok.Purpose.Valid():
		return internal(op, "unknown token purpose "+string(tok.Purpose))
	}
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	users, _ := s.userRows(t)
	if _, ok := users.byID[tok.UserID]; !ok {
		return userNotFound(op)
	}
	rows, write := s.tokenRows(t)
	if _, taken := rows.ids[tok.ID]; taken {
		return conflict(op, "", "A token with this id already exists.")
	}
	if _, taken := rows.byHash[tok.Hash]; taken {
		return conflict(op, "", "A token with this hash already exists.")
	}
	write()
	rows.byHash[tok.Hash] = tokenRow(tok)
	rows.ids[tok.ID] = struct{}{}
	return nil
}

// ConsumeToken marks the token with that hash used at now, if it is for
// purpose, unused and unexpired, and returns it. Every other outcome is the
// same domain.KindInvalid error with code "invalid_token" and changes
// nothing. Calls are serialised, so of concurrent calls with one token at
// most one succeeds.
func (s *Store) ConsumeToken(ctx context.Context, hash domain.TokenHash, purpose domain.TokenPurpose, now time.Time) (domain.OneTimeToken, error) {
	const op = "inmem.Store.ConsumeToken"
	t, err := s.enter(ctx, op)
	if err != nil {
		return domain.OneTimeToken{}, err
	}
	defer s.mu.Unlock()
	rows, write := s.tokenRows(t)
	// An unknown hash gets the zero token, which is never usable, so it
	// fails with the very error the domain gives every unusable token.
	tok := tokenRow(rows.byHash[hash])
	if err := tok.Use(dbTime(now), purpose); err != nil {
		return domain.OneTimeToken{}, err
	}
	write()
	rows.byHash[hash] = tokenRow(tok)
	return tok, nil
}

// RevokeTokens marks every unused token of the user for purpose as used at
// now.
func (s *Store) RevokeTokens(ctx context.Context, userID string, purpose domain.TokenPurpose, now time.Time) error {
	const op = "inmem.Store.RevokeTokens"
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	rows, write := s.tokenRows(t)
	used := dbTime(now)
	for hash, tok := range rows.byHash {
		if tok.UserID != userID || tok.Purpose != purpose || tok.UsedAt != nil {
			continue
		}
		write()
		tok.UsedAt = &used
		rows.byHash[hash] = tokenRow(tok)
	}
	return nil
}
