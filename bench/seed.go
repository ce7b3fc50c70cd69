package bench

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/adapters/argon2id"
	"github.com/gatehouse/gatehouse/domain"
)

// benchPassword is every seeded user's password.
const benchPassword = "correct horse battery staple, bench edition"

// benchBucket is the bucket the seeded uploads and the server use.
const benchBucket = "gatehouse-bench"

// uuid16 is a UUID in binary form; the seed keeps a million of them.
type uuid16 [16]byte

func parseUUID(s string) uuid16 {
	var u uuid16
	b := []byte(s)
	j := 0
	for i := 0; i < len(b) && j < 16; i++ {
		if b[i] == '-' {
			continue
		}
		_, _ = hex.Decode(u[j:j+1], b[i:i+2])
		i++
		j++
	}
	return u
}

func (u uuid16) String() string {
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], u[10:16])
	return string(s[:])
}

// seedUser is a seeded, verified user with one session.
type seedUser struct {
	ID        uuid16
	Email     string
	Token     string // the session's bearer token
	TokenHash domain.TokenHash
	Uploads   []uuid16 // accepted uploads, oldest first
}

// dataset is what the seed wrote and the load generator draws from.
type dataset struct {
	Users       []seedUser
	PasswordPHC string
	Uploads     int
	Took        time.Duration
}

// seed writes users (verified, one argon2id hash shared by all), one
// unexpired session each, and uploadsPerUser accepted uploads each, with
// COPY as the superuser, then VACUUM (FREEZE, ANALYZE)s the tables and
// loads them into shared buffers. The password hash is computed once with
// the production parameters and reused, so that seeding takes seconds
// instead of hours; every login still verifies a full-cost hash.
func seed(ctx context.Context, db *database, log *slog.Logger, users, uploadsPerUser int) (*dataset, error) {
	start := time.Now()
	phc, err := argon2id.New().Hash(benchPassword)
	if err != nil {
		return nil, err
	}
	ds := &dataset{Users: make([]seedUser, users), PasswordPHC: phc}
	rng := rand.NewChaCha8([32]byte{'g', 'a', 't', 'e', 'h', 'o', 'u', 's', 'e'})
	now := time.Now().UTC().Truncate(time.Microsecond)

	// Ids are UUIDv7, increasing within a process: make them in time order.
	userBase := now.Add(-200 * 24 * time.Hour)
	userRows := make([][]any, users)
	for i := range ds.Users {
		at := userBase.Add(time.Duration(i) * time.Minute)
		id, err := domain.NewID(at, rng)
		if err != nil {
			return nil, err
		}
		u := &ds.Users[i]
		u.ID = parseUUID(id)
		u.Email = fmt.Sprintf("bench-user-%06d@example.com", i)
		verified := at.Add(time.Hour)
		userRows[i] = []any{u.ID, u.Email, phc, verified, at, verified}
	}
	if err := copyRows(ctx, db, "users", []string{"id", "email", "password_hash", "email_verified_at", "created_at", "updated_at"}, userRows); err != nil {
		return nil, err
	}

	total := users * uploadsPerUser
	if total > 0 {
		span := 100 * 24 * time.Hour
		base := now.Add(-span)
		step := span / time.Duration(total+1)
		cols := []string{"id", "owner_id", "bucket", "key", "created_at", "filename", "content_type", "size_bytes", "sha256", "status",
			"version_id", "etag", "completed_at", "verdict", "scan_result", "scan_code", "scan_reason", "scan_threats", "scan_completed_at", "updated_at"}
		src := &uploadSource{ds: ds, rng: rng, n: total, base: base, step: step, perUser: uploadsPerUser}
		if _, err := db.admin.CopyFrom(ctx, pgx.Identifier{"gatehouse", "uploads"}, cols, src); err != nil {
			return nil, fmt.Errorf("copying uploads: %w", err)
		}
		if src.err != nil {
			return nil, src.err
		}
		ds.Uploads = total
	}

	policy := domain.DefaultSessionPolicy()
	sessRows := make([][]any, users)
	for i := range ds.Users {
		u := &ds.Users[i]
		id, err := domain.NewID(now, rng)
		if err != nil {
			return nil, err
		}
		raw, s, err := domain.NewSession(rng, id, u.ID.String(), now, policy)
		if err != nil {
			return nil, err
		}
		u.Token, u.TokenHash = raw, s.TokenHash
		sessRows[i] = []any{parseUUID(s.ID), u.ID, s.TokenHash[:], s.CreatedAt, s.LastSeenAt, s.ExpiresAt}
	}
	if err := copyRows(ctx, db, "sessions", []string{"id", "user_id", "token_hash", "created_at", "last_seen_at", "expires_at"}, sessRows); err != nil {
		return nil, err
	}
	log.Info("seeded; vacuuming and prewarming", "users", users, "uploads", total, "took", time.Since(start).Round(time.Millisecond).String())
	if err := db.exec(ctx, "VACUUM (FREEZE, ANALYZE) users, sessions, uploads"); err != nil {
		return nil, err
	}
	if err := db.prewarm(ctx); err != nil {
		return nil, err
	}
	ds.Took = time.Since(start)
	return ds, nil
}

func copyRows(ctx context.Context, db *database, table string, cols []string, rows [][]any) error {
	if _, err := db.admin.CopyFrom(ctx, pgx.Identifier{"gatehouse", table}, cols, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copying %s: %w", table, err)
	}
	return nil
}

// uploadSource makes the accepted uploads one row at a time for COPY, in
// creation order, round robin over the users (so each user's uploads are
// spread over the whole period, as real ones would be).
type uploadSource struct {
	ds      *dataset
	rng     *rand.ChaCha8
	n, i    int
	perUser int
	base    time.Time
	step    time.Duration
	row     []any
	err     error
}

func (s *uploadSource) Next() bool {
	if s.i >= s.n || s.err != nil {
		return false
	}
	owner := &s.ds.Users[s.i%len(s.ds.Users)]
	created := s.base.Add(time.Duration(s.i) * s.step)
	u, err := acceptedUpload(s.rng, owner.ID.String(), s.i, created)
	if err != nil {
		s.err = err
		return false
	}
	owner.Uploads = append(owner.Uploads, parseUUID(u.ID))
	s.row, s.err = uploadRow(u)
	s.i++
	return s.err == nil
}

func (s *uploadSource) Values() ([]any, error) { return s.row, nil }
func (s *uploadSource) Err() error             { return s.err }

// acceptedUpload is an upload taken through the domain's whole story:
// declared, completed, scanned clean and accepted.
func acceptedUpload(rng *rand.ChaCha8, owner string, n int, created time.Time) (domain.Upload, error) {
	id, err := domain.NewID(created, rng)
	if err != nil {
		return domain.Upload{}, err
	}
	var sum [32]byte
	_, _ = rng.Read(sum[:])
	u, err := domain.NewUpload(domain.NewUploadParams{
		ID: id, OwnerID: owner, Bucket: benchBucket, Key: "quarantine/" + id,
		Filename: fmt.Sprintf("holiday-photo-%07d.png", n), ContentType: "image/png",
		SizeBytes: 48213 + int64(n%5000), SHA256: hex.EncodeToString(sum[:]),
	}, domain.DefaultUploadPolicy(), created)
	if err != nil {
		return domain.Upload{}, err
	}
	var ver [16]byte
	_, _ = rng.Read(ver[:])
	completed := created.Add(2 * time.Second)
	obj := domain.ObjectInfo{Bucket: u.Bucket, Key: u.Key, VersionID: hex.EncodeToString(ver[:]),
		ETag: hex.EncodeToString(sum[:16]), ContentType: u.ContentType, SizeBytes: u.SizeBytes}
	if _, err := u.Complete(obj, completed); err != nil {
		return domain.Upload{}, err
	}
	scanned := completed.Add(5 * time.Second)
	v := domain.ScanVerdict{Bucket: u.Bucket, Key: u.Key, VersionID: obj.VersionID, ETag: obj.ETag,
		ScanStatus: domain.ScanStatusCompleted, Result: domain.ScanNoThreatsFound}
	if d := u.DecideVerdict(v, scanned); d.Action != domain.ActionPromote {
		return domain.Upload{}, fmt.Errorf("seed: a clean verdict was decided %s", d.Action)
	}
	if err := u.MarkAccepted(scanned.Add(200 * time.Millisecond)); err != nil {
		return domain.Upload{}, err
	}
	return u, nil
}

// uploadRow is u as the uploads table's columns, in the order of the seed's
// COPY, written the way the PostgreSQL adapter writes them: "" is NULL for
// the optional text columns, an absent verdict or scan result is NULL in all
// its columns, an empty threat list is NULL.
func uploadRow(u domain.Upload) ([]any, error) {
	var verdict any
	if v := u.Verdict; v != nil {
		b, err := json.Marshal(struct {
			Bucket     string   `json:"bucket"`
			Key        string   `json:"key"`
			VersionID  string   `json:"version_id"`
			ETag       string   `json:"etag"`
			ScanStatus string   `json:"scan_status"`
			Result     string   `json:"result"`
			Threats    []string `json:"threats,omitempty"`
			Reasons    []string `json:"reasons,omitempty"`
		}{v.Bucket, v.Key, v.VersionID, v.ETag, v.ScanStatus, v.Result, v.Threats, v.Reasons})
		if err != nil {
			return nil, err
		}
		verdict = string(b)
	}
	var scanResult, scanCode, scanReason, scanThreats, scanCompleted any
	if r := u.Scan; r != nil {
		scanResult, scanCode, scanReason, scanCompleted = r.Result, r.Code, r.Reason, r.CompletedAt
		if len(r.Threats) > 0 {
			scanThreats = r.Threats
		}
	}
	var completed any
	if u.CompletedAt != nil {
		completed = *u.CompletedAt
	}
	return []any{
		parseUUID(u.ID), parseUUID(u.OwnerID), u.Bucket, u.Key, u.CreatedAt,
		u.Filename, u.ContentType, u.SizeBytes, nullString(u.SHA256), string(u.Status),
		nullString(u.VersionID), nullString(u.ETag), completed, verdict,
		scanResult, scanCode, scanReason, scanThreats, scanCompleted,
		u.UpdatedAt,
	}, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
