package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/uptrace/bun"

	"github.com/gatehouse/gatehouse/adapters/argon2id"
	"github.com/gatehouse/gatehouse/adapters/guardduty"
	"github.com/gatehouse/gatehouse/adapters/httpapi"
	"github.com/gatehouse/gatehouse/adapters/httpapi/httpapitest"
	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
	"github.com/gatehouse/gatehouse/adapters/s3"
	"github.com/gatehouse/gatehouse/adapters/s3/s3local"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
)

const frontendOrigin = "https://app.example.com"

// lockedBuffer collects a server's log lines for the suite's leak check.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAccountsContractPostgres runs the HTTP contract of the accounts API
// against the real PostgreSQL adapter, over the app role's TLS connection to
// a freshly migrated database per case: the same suite the in-memory
// adapters pass in adapters/httpapi. Only the clock is a fake, so tokens and
// sessions can expire without waiting.
func TestAccountsContractPostgres(t *testing.T) {
	t.Parallel()
	hasher := cheapHasher(t)
	httpapitest.RunAccounts(t, func(t *testing.T) httpapitest.Env {
		return newRealEnv(t, hasher).Env
	})
}

// TestUploadsContractPostgres runs the HTTP contract of the uploads API
// against PostgreSQL and the real S3 adapter, speaking the S3 protocol to a
// local server that checks signatures, lengths, types and checksums as S3
// does. Scan verdicts arrive as GuardDuty events through the real decoder.
func TestUploadsContractPostgres(t *testing.T) {
	t.Parallel()
	hasher := cheapHasher(t)
	httpapitest.RunUploads(t, func(t *testing.T) httpapitest.UploadsEnv {
		return newRealEnv(t, hasher)
	})
}

func cheapHasher(t *testing.T) *argon2id.Hasher {
	t.Helper()
	h, err := argon2id.NewWithOptions(argon2id.Options{
		Params:        argon2id.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		MaxConcurrent: 64,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

const (
	testBucket = "gatehouse-test"
	testRegion = "eu-west-1"
)

// newRealEnv serves the real handler over loopback HTTP, wired with the
// PostgreSQL store (a fresh database), the S3 adapter against a local S3
// server, argon2id and a clock that moves only when told.
func newRealEnv(t *testing.T, hasher *argon2id.Hasher) httpapitest.UploadsEnv {
	t.Helper()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	bdb, err := postgres.Open(ctx, db.DatabaseURL(), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bdb.Close() })
	store := postgres.NewStore(bdb)
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clock := inmem.NewClock(time.Now().Truncate(time.Second))
	accounts, err := app.NewAccounts(app.AccountStores{Tx: store, Users: store, Tokens: store, Sessions: store, Limiter: store, Outbox: store},
		hasher, clock, app.AccountsConfig{AppBaseURL: frontendOrigin, Sessions: domain.DefaultSessionPolicy(), Limits: app.DefaultRateLimits()}, log)
	if err != nil {
		t.Fatal(err)
	}

	creds := aws.Credentials{AccessKeyID: "AKIDGATEHOUSETEST", SecretAccessKey: "gatehouse-test-secret"}
	s3srv, err := s3local.New(s3local.Config{Buckets: []string{testBucket}, Region: testRegion, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	s3ts := httptest.NewServer(s3srv)
	t.Cleanup(s3ts.Close)
	ucfg := app.DefaultUploadsConfig()
	ucfg.Bucket = testBucket
	objects, err := s3.New(ctx, s3.Config{
		Bucket: testBucket, Region: testRegion, Endpoint: s3ts.URL, UsePathStyle: true,
		UploadPrefix: ucfg.QuarantinePrefix, DownloadPrefix: ucfg.AcceptedPrefix,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	uploads, err := app.NewUploads(app.UploadStores{Tx: store, Uploads: store, Outbox: store}, objects, clock, ucfg, log)
	if err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	srv, err := httpapi.New(config.HTTP{
		Addr: ":0", RequestTimeout: 30 * time.Second, ShutdownTimeout: 5 * time.Second,
		MaxBodyBytes: 1 << 20, CORSOrigins: []string{frontendOrigin},
	}, log, nil, reg, reg, accounts, uploads)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return httpapitest.UploadsEnv{
		Env: httpapitest.Env{
			BaseURL:       ts.URL,
			Outbox:        func() []domain.OutboxMessage { return readOutbox(t, bdb) },
			Clock:         clock,
			AllowedOrigin: frontendOrigin,
			Logs:          logs.String,
		},
		QuarantineObject: func(t *testing.T, uploadID string) (httpapitest.ObjectRef, bool) {
			t.Helper()
			info, err := objects.Head(t.Context(), ucfg.QuarantinePrefix+uploadID, "")
			if domain.IsKind(err, domain.KindNotFound) {
				return httpapitest.ObjectRef{}, false
			} else if err != nil {
				t.Fatalf("Head of upload %s's object: %v", uploadID, err)
			}
			return httpapitest.ObjectRef{Bucket: info.Bucket, Key: info.Key, VersionID: info.VersionID, ETag: info.ETag}, true
		},
		DeliverVerdict: func(t *testing.T, event []byte) {
			t.Helper()
			v, err := guardduty.Decode(event)
			if err != nil {
				t.Fatalf("guardduty.Decode: %v\n%s", err, event)
			}
			if err := uploads.HandleVerdict(t.Context(), v); err != nil {
				t.Fatalf("HandleVerdict: %v", err)
			}
		},
	}
}

// readOutbox lists the outbox rows in the order they were written, as the
// dispatcher would find them.
func readOutbox(t *testing.T, db *bun.DB) []domain.OutboxMessage {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT id::text, kind, topic, payload::text, created_at FROM outbox ORDER BY created_at, id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []domain.OutboxMessage
	for rows.Next() {
		var m domain.OutboxMessage
		var kind, payload string
		if err := rows.Scan(&m.ID, &kind, &m.Topic, &payload, &m.CreatedAt); err != nil {
			t.Fatal(err)
		}
		m.Kind, m.Payload = domain.OutboxKind(kind), []byte(payload)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
