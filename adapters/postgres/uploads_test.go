package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

// The Store passes the same uploads contract as the in-memory UploadStore,
// as the app role, with every subtest on one database.
func TestUploadStoreContract(t *testing.T) {
	t.Parallel()
	db := openAppDB(t)
	porttest.RunUploadStore(t, func(t *testing.T) porttest.UploadStores {
		s := postgres.NewStore(db)
		return porttest.UploadStores{Tx: s, Uploads: s, Users: s, Sessions: s}
	})
}

// newUploadValue returns a pending upload of owner, not stored.
func newUploadValue(t testing.TB, owner string) domain.Upload {
	t.Helper()
	id := newID(t)
	u, err := domain.NewUpload(domain.NewUploadParams{ID: id, OwnerID: owner, Bucket: "b", Key: "quarantine/" + id,
		Filename: "a.txt", ContentType: "text/plain", SizeBytes: 3}, domain.DefaultUploadPolicy(), at)
	if err != nil {
		t.Fatalf("NewUpload: %v", err)
	}
	return u
}

func createUpload(t testing.TB, s *postgres.Store, owner string) domain.Upload {
	t.Helper()
	u := newUploadValue(t, owner)
	if err := s.CreateUpload(context.Background(), u); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	return u
}

// uploadCmp compares uploads as the contract does: instants to the
// microsecond, nil and empty lists alike.
var uploadCmp = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool {
		return a.UTC().Truncate(time.Microsecond).Equal(b.UTC().Truncate(time.Microsecond))
	}),
	cmp.FilterValues(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Comparer(func(_, _ []string) bool { return true })),
}

// Values the domain rarely produces still come back as they went in: the
// optional columns are NULL only for "", the verdict keeps the scanner's
// strings (quotes, braces, the word NULL, S3's "null" version), and a scan
// result's empty strings stay distinct from a missing one.
func TestUploadRoundTripsEdgeValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := postgres.NewStore(openAppDB(t))
	owner := createUser(t, s).ID
	done := at.Add(time.Minute)
	awkward := []string{`say "hi"`, "{a,b}", "NULL", "", `back\slash`, "ü 𝄞", " padded "}
	tests := []struct {
		name   string
		change func(*domain.Upload)
	}{
		{"pending, nothing optional", func(*domain.Upload) {}},
		{"unversioned object and every verdict field", func(u *domain.Upload) {
			u.Status, u.VersionID, u.ETag, u.CompletedAt = domain.UploadScanning, "null", `"quoted-etag"`, &done
			u.Verdict = &domain.ScanVerdict{Bucket: u.Bucket, Key: u.Key, VersionID: "null", ETag: "e", ScanStatus: "SKIPPED",
				Result: "SOMETHING_NEW", Threats: awkward, Reasons: awkward}
		}},
		{"verdict with empty strings and no lists", func(u *domain.Upload) {
			u.Verdict = &domain.ScanVerdict{}
		}},
		{"scan result with empty strings and awkward threats", func(u *domain.Upload) {
			u.Status = domain.UploadFailed
			u.Scan = &domain.ScanResult{Threats: awkward, CompletedAt: done}
		}},
		{"scan result completed at the zero time", func(u *domain.Upload) {
			u.Status = domain.UploadFailed
			u.Scan = &domain.ScanResult{Result: domain.ScanFailed, Code: domain.CodeScanFailed, Reason: "r"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUploadValue(t, owner)
			tt.change(&u)
			if err := s.CreateUpload(ctx, u); err != nil {
				t.Fatalf("CreateUpload: %v", err)
			}
			got, err := s.UploadByObject(ctx, u.Bucket, u.Key)
			if err != nil {
				t.Fatalf("UploadByObject: %v", err)
			}
			if d := cmp.Diff(got, u, uploadCmp); d != "" {
				t.Errorf("after CreateUpload (-got +want):\n%s", d)
			}
			// Inside a transaction the row is read through database/sql
			// rather than pgx's own scanning: the same values come back.
			if err := s.WithinTx(ctx, func(ctx context.Context) error {
				got, err := s.UploadByID(ctx, u.ID, u.OwnerID)
				if err != nil {
					return err
				}
				if d := cmp.Diff(got, u, uploadCmp); d != "" {
					t.Errorf("UploadByID in a transaction (-got +want):\n%s", d)
				}
				listed(t, ctx, s, u, "in a transaction")
				return nil
			}); err != nil {
				t.Fatalf("UploadByID in a transaction: %v", err)
			}
			listed(t, ctx, s, u, "outside a transaction")
			// The same through UpdateUpload, from a row that had none of it.
			plain := newUploadValue(t, owner)
			if err := s.CreateUpload(ctx, plain); err != nil {
				t.Fatalf("CreateUpload: %v", err)
			}
			want := u
			want.ID, want.Key = plain.ID, plain.Key
			if err := s.UpdateUpload(ctx, plain.ID, func(cur *domain.Upload) error {
				id, key := cur.ID, cur.Key
				*cur = want
				cur.ID, cur.Key = id, key
				return nil
			}); err != nil {
				t.Fatalf("UpdateUpload: %v", err)
			}
			got, err = s.UploadByObject(ctx, plain.Bucket, plain.Key)
			if err != nil {
				t.Fatalf("UploadByObject: %v", err)
			}
			if d := cmp.Diff(got, want, uploadCmp); d != "" {
				t.Errorf("after UpdateUpload (-got +want):\n%s", d)
			}
		})
	}
}

// listed checks that the owner's list holds u as it went in.
func listed(t *testing.T, ctx context.Context, s *postgres.Store, u domain.Upload, where string) {
	t.Helper()
	page, err := s.ListUploads(ctx, u.OwnerID, ports.MaxUploadPage, nil)
	if err != nil {
		t.Fatalf("ListUploads %s: %v", where, err)
	}
	for _, got := range page.Uploads {
		if got.ID == u.ID {
			if d := cmp.Diff(got, u, uploadCmp); d != "" {
				t.Errorf("ListUploads %s (-got +want):\n%s", where, d)
			}
			return
		}
	}
	t.Errorf("ListUploads %s: upload %s missing", where, u.ID)
}

// What the uploads table refuses comes back as the kinds the port and the
// in-memory store use: conflicts for a taken id or object, KindInternal for
// rows only a bug could produce.
func TestUploadStoreTranslatesErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := postgres.NewStore(openAppDB(t))
	owner := createUser(t, s).ID
	taken := createUpload(t, s, owner)
	create := func(change func(*domain.Upload)) func() error {
		return func() error {
			u := newUploadValue(t, owner)
			change(&u)
			return s.CreateUpload(ctx, u)
		}
	}
	tests := []struct {
		name string
		call func() error
		want domain.Kind
	}{
		{"CreateUpload with a taken id", create(func(u *domain.Upload) { u.ID = taken.ID }), domain.KindConflict},
		{"CreateUpload with a taken object", create(func(u *domain.Upload) { u.Key = taken.Key }), domain.KindConflict},
		{"CreateUpload for an owner that does not exist", create(func(u *domain.Upload) { u.OwnerID = newID(t) }), domain.KindInternal},
		{"CreateUpload with an id that is not a UUID", create(func(u *domain.Upload) { u.ID = "x" }), domain.KindInternal},
		{"CreateUpload with an unknown status", create(func(u *domain.Upload) { u.Status = "lost" }), domain.KindInternal},
		{"CreateUpload with a size of zero", create(func(u *domain.Upload) { u.SizeBytes = 0 }), domain.KindInternal},
		{"CreateUpload with a malformed checksum", create(func(u *domain.Upload) { u.SHA256 = "ABC" }), domain.KindInternal},
		{"UpdateUpload to an unknown status", func() error {
			return s.UpdateUpload(ctx, taken.ID, func(u *domain.Upload) error { u.Status = "lost"; return nil })
		}, domain.KindInternal},
		{"UpdateUpload of an id that is not a UUID", func() error {
			return s.UpdateUpload(ctx, "nope", func(*domain.Upload) error { return nil })
		}, domain.KindNotFound},
		{"ListUploads after a cursor whose id is not a UUID", func() error {
			_, err := s.ListUploads(ctx, owner, 10, &ports.UploadCursor{CreatedAt: at, ID: "nope"})
			return err
		}, domain.KindInternal},
		{"StaleUploads of an unknown status", func() error {
			_, err := s.StaleUploads(ctx, "lost", at, 10)
			return err
		}, domain.KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if got := domain.KindOf(err); err == nil || got != tt.want {
				t.Errorf("got %v (kind %v), want kind %v", err, got, tt.want)
			}
		})
	}
	got, err := s.UploadByObject(ctx, taken.Bucket, taken.Key)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(got, taken, uploadCmp); d != "" {
		t.Errorf("the taken upload changed (-got +want):\n%s", d)
	}
}

// Uploads and the outbox are one unit of work: an upload.accepted event is
// written with the status change or not at all.
func TestUploadsShareTheStoreTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openAppDB(t)
	s := postgres.NewStore(db)
	owner := createUser(t, s).ID
	fail := errors.New("fail")
	for _, tt := range []struct {
		name  string
		fnErr error
		kept  bool
	}{
		{"a committed transaction keeps both", nil, true},
		{"a failed transaction keeps neither", fail, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := createUpload(t, s, owner)
			ev, err := domain.NewEventOutbox(domain.Event{ID: newID(t), Type: "upload.accepted", Version: 1, OccurredAt: at, Detail: []byte(`{}`)})
			if err != nil {
				t.Fatal(err)
			}
			err = s.WithinTx(ctx, func(ctx context.Context) error {
				if err := s.UpdateUpload(ctx, u.ID, func(cur *domain.Upload) error {
					cur.Filename = "renamed.txt"
					return nil
				}); err != nil {
					return err
				}
				if err := s.Enqueue(ctx, ev); err != nil {
					return err
				}
				return tt.fnErr
			})
			if !errors.Is(err, tt.fnErr) {
				t.Fatalf("WithinTx: got %v, want %v", err, tt.fnErr)
			}
			got, err := s.UploadByID(ctx, u.ID, owner)
			if err != nil {
				t.Fatal(err)
			}
			if gotKept := got.Filename == "renamed.txt"; gotKept != tt.kept {
				t.Errorf("upload change kept: got %v, want %v", gotKept, tt.kept)
			}
			gotEvent := false
			for _, m := range readOutbox(t, ctx, db) {
				gotEvent = gotEvent || m.ID == ev.ID
			}
			if gotEvent != tt.kept {
				t.Errorf("outbox message kept: got %v, want %v", gotEvent, tt.kept)
			}
		})
	}
}

// UploadByID, half of every authenticated GET /v1/uploads/{id}, is one
// statement whose text does not depend on its values, prepared once per
// connection.
func TestUploadByIDIsOnePreparedStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := pgtest.NewDB(t)
	setup := postgres.NewStore(openApp(t, cfg.DatabaseURL()))
	owner := createUser(t, setup).ID
	uploads := []domain.Upload{createUpload(t, setup, owner), createUpload(t, setup, owner)}

	log := &statementLog{}
	db := openTraced(t, cfg.DatabaseURL(), log)
	s := postgres.NewStore(db)
	log.take()
	for _, u := range uploads {
		got, err := s.UploadByID(ctx, u.ID, owner)
		if err != nil || got.ID != u.ID {
			t.Fatalf("UploadByID: got %v, %v; want upload %s", got.ID, err, u.ID)
		}
	}
	sqls := log.take()
	if len(sqls) != 2 {
		t.Fatalf("got %d statements for two lookups, want 2:\n%s", len(sqls), strings.Join(sqls, "\n"))
	}
	if sqls[0] != sqls[1] || !strings.Contains(sqls[0], "$2") {
		t.Errorf("got statements %q, want one text with placeholders", sqls)
	}
	var prepared int
	if err := db.DB.QueryRowContext(ctx, `SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql AND statement = $1`, sqls[0]).Scan(&prepared); err != nil {
		t.Fatal(err)
	}
	if prepared != 1 {
		t.Errorf("the lookup is prepared %d times on the connection, want once", prepared)
	}
}

// planNode is the part of EXPLAIN (FORMAT JSON) the plan test reads.
type planNode struct {
	NodeType  string     `json:"Node Type"`
	IndexName string     `json:"Index Name"`
	IndexCond string     `json:"Index Cond"`
	Plans     []planNode `json:"Plans"`
}

// flatten lists the nodes of the plan, depth first.
func (n planNode) flatten() []planNode {
	out := []planNode{n}
	for _, c := range n.Plans {
		out = append(out, c.flatten()...)
	}
	return out
}

// explain returns the plan of stmt with args, planned with sequential
// scans, bitmap scans and sorts priced out, so that what remains shows
// whether an index alone can serve the statement in order.
func explain(t *testing.T, db *bun.DB, stmt string, args ...any) []planNode {
	t.Helper()
	ctx := context.Background()
	tx, err := db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, set := range []string{"SET LOCAL enable_seqscan = off", "SET LOCAL enable_bitmapscan = off", "SET LOCAL enable_sort = off"} {
		if _, err := tx.ExecContext(ctx, set); err != nil {
			t.Fatal(err)
		}
	}
	var raw []byte
	if err := tx.QueryRowContext(ctx, "EXPLAIN (FORMAT JSON) "+stmt, args...).Scan(&raw); err != nil {
		t.Fatalf("EXPLAIN %s: %v", stmt, err)
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("reading the plan %s: %v", raw, err)
	}
	return plans[0].Plan.flatten()
}

// Each statement the uploads and the purge send is one scan of the index the
// schema declares for it, with the whole condition in the index (a range,
// not a filter over the owner's rows) and no sort: the pages of a list cost
// the same however far down it they are.
//
// The tables hold a few thousand rows, analysed, so that the planner's
// choice between indexes is the one it makes in service.
func TestUploadStatementsAreIndexRangeScans(t *testing.T) {
	t.Parallel()
	cfg := pgtest.NewDB(t)
	db := openApp(t, cfg.DatabaseURL())
	execAs(t, cfg.DatabaseURL(),
		`INSERT INTO users (id, email, password_hash) SELECT gen_random_uuid(), 'bulk-' || i || '@example.com', 'h' FROM generate_series(1, 200) AS i`,
		`INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at)
		SELECT gen_random_uuid(), id, sha256(id::text::bytea), now(), now(), now() + interval '30 days' FROM users`,
		`INSERT INTO one_time_tokens (id, user_id, purpose, token_hash, expires_at, created_at)
		SELECT gen_random_uuid(), id, 'verify_email', sha256(('t' || id::text)::bytea), now() + interval '1 day', now() FROM users`,
		`INSERT INTO uploads (id, owner_id, bucket, key, filename, content_type, size_bytes, status, created_at, updated_at)
		SELECT gen_random_uuid(), u.id, 'b', 'bulk/' || gen_random_uuid(), 'f.txt', 'text/plain', 1,
			(ARRAY['pending', 'scanning', 'accepted', 'deleted'])[1 + i % 4], now() - i * interval '1 minute', now() - i * interval '1 second'
		FROM users AS u, generate_series(1, 20) AS i`)
	execAs(t, cfg.MigrationsDatabaseURL(), `ANALYZE gatehouse.users, gatehouse.sessions, gatehouse.one_time_tokens, gatehouse.uploads`)
	owner := newID(t)
	tests := []struct {
		name      string
		stmt      string
		args      []any
		wantIndex string
		wantCond  []string
	}{
		{"UploadByID", postgres.UploadByIDSQL, []any{newID(t), owner},
			"uploads_pkey", []string{"id ="}},
		{"ListUploads, first page", postgres.UploadFirstPageSQL, []any{owner, 11},
			"uploads_owner_id_created_at_id_idx", []string{"owner_id ="}},
		{"ListUploads, next page", postgres.UploadNextPageSQL, []any{owner, at, newID(t), 11},
			"uploads_owner_id_created_at_id_idx", []string{"owner_id =", "ROW(created_at, id) <"}},
		{"UploadByObject", postgres.UploadByObjectSQL, []any{"b", "k"},
			"uploads_bucket_key_key", []string{"bucket =", "key ="}},
		{"StaleUploads", postgres.StaleUploadsSQL, []any{"scanning", at, 100},
			"uploads_status_updated_at_id_idx", []string{"status =", "updated_at <"}},
		{"PurgeExpired, sessions", postgres.PurgeSessionsSQL, []any{at, 1000},
			"sessions_expires_at_idx", []string{"expires_at <="}},
		{"PurgeExpired, tokens", postgres.PurgeTokensSQL, []any{at, 1000},
			"one_time_tokens_dead_at_idx", []string{"LEAST(used_at, expires_at) <"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := explain(t, db, tt.stmt, tt.args...)
			var scans []planNode
			var types []string
			for _, n := range nodes {
				types = append(types, n.NodeType)
				switch n.NodeType {
				case "Sort", "Incremental Sort", "Seq Scan", "Bitmap Heap Scan":
					t.Errorf("plan has a %s node: %v", n.NodeType, types)
				case "Index Scan", "Index Only Scan":
					scans = append(scans, n)
				}
			}
			if len(scans) == 0 {
				t.Fatalf("plan has no index scan: %v", types)
			}
			// The purges' DELETE joins back on the primary key; the scan
			// that finds the rows is the one on the declared index.
			var found bool
			for _, n := range scans {
				if n.IndexName != tt.wantIndex {
					continue
				}
				found = true
				for _, c := range tt.wantCond {
					if !strings.Contains(n.IndexCond, c) {
						t.Errorf("index condition %q lacks %q", n.IndexCond, c)
					}
				}
			}
			if !found {
				t.Errorf("got scans %+v, want one on %s", scans, tt.wantIndex)
			}
		})
	}
}

// The outbox claim reads due rows from outbox_due_idx already in claim order,
// also when thousands share one due time (a bulk enqueue or a backlog after
// an outage): a sort of every due row on each claim would make a backlog
// drain slower the larger it is.
func TestOutboxClaimReadsTheDueIndexInOrder(t *testing.T) {
	t.Parallel()
	cfg := pgtest.NewDB(t)
	db := openApp(t, cfg.DatabaseURL())
	execAs(t, cfg.DatabaseURL(),
		`INSERT INTO outbox (id, kind, topic, payload, status, attempts, next_attempt_at, created_at)
		SELECT gen_random_uuid(), 'event', 'user.registered', '{}', 'pending', 0, '2026-01-01T00:00:00Z', now()
		FROM generate_series(1, 5000)`)
	execAs(t, cfg.MigrationsDatabaseURL(), `ANALYZE gatehouse.outbox`)
	var sawIndex bool
	var types []string
	for _, n := range explain(t, db, postgres.QueueClaimSQL, at, at.Add(5*time.Minute), 100) {
		types = append(types, n.NodeType)
		switch n.NodeType {
		case "Sort", "Incremental Sort", "Seq Scan", "Bitmap Heap Scan":
			t.Errorf("claim plan has a %s node: %v", n.NodeType, types)
		}
		if n.IndexName == "outbox_due_idx" {
			sawIndex = true
		}
	}
	if !sawIndex {
		t.Errorf("claim plan does not use outbox_due_idx: %v", types)
	}
}
