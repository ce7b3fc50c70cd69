package postgres_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
	"github.com/gatehouse/gatehouse/domain"
)

// countingListener accepts TCP connections on 127.0.0.1 and closes them at
// once, counting them: proof of whether a client tried to connect at all.
type countingListener struct {
	l        net.Listener
	accepted atomic.Int64
}

func newCountingListener(t *testing.T) *countingListener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &countingListener{l: l}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			c.accepted.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return c
}

func (c *countingListener) port() int { return c.l.Addr().(*net.TCPAddr).Port }

// Open refuses any DSN whose connection could be unencrypted, before sending
// a single packet; with TLS required it does try to connect (the control
// case), and a server that cannot be reached is KindUnavailable.
func TestOpenRefusesConnectionsThatCouldBeUnencrypted(t *testing.T) {
	// An inherited PGSSLMODE would change what "no sslmode" means.
	t.Setenv("PGSSLMODE", "")
	ln := newCountingListener(t)
	base := fmt.Sprintf("postgres://app:secret@127.0.0.1:%d/gatehouse", ln.port())

	tests := []struct {
		name        string
		dsn         string
		wantKind    domain.Kind
		wantConnect bool
	}{
		{"sslmode disable", base + "?sslmode=disable", domain.KindInvalid, false},
		{"sslmode allow", base + "?sslmode=allow", domain.KindInvalid, false},
		{"sslmode prefer", base + "?sslmode=prefer", domain.KindInvalid, false},
		{"no sslmode means prefer", base, domain.KindInvalid, false},
		{"key=value disable", fmt.Sprintf("host=127.0.0.1 port=%d user=app password=secret sslmode=disable", ln.port()), domain.KindInvalid, false},
		{"unix socket", "host=/nonexistent user=app sslmode=require", domain.KindInvalid, false},
		{"not a connection string", "postgres://app:secret@127.0.0.1:notaport/x", domain.KindInvalid, false},
		{"sslmode require tries to connect", base + "?sslmode=require&connect_timeout=5", domain.KindUnavailable, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ln.accepted.Load()
			db, err := postgres.Open(context.Background(), tt.dsn, 2)
			if err == nil {
				db.Close()
				t.Fatal("got a connection, want an error")
			}
			if got := domain.KindOf(err); got != tt.wantKind {
				t.Errorf("got kind %v, want %v (err: %v)", got, tt.wantKind, err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q reveals the password", err)
			}
			if got := ln.accepted.Load() - before; (got > 0) != tt.wantConnect {
				t.Errorf("got %d connection(s) to the listener, want connect=%v", got, tt.wantConnect)
			}
		})
	}
}

// The app role's connection really is encrypted, as PostgreSQL sees it.
func TestAppConnectionIsEncrypted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := pgtest.NewDB(t)
	db, err := postgres.Open(ctx, cfg.DatabaseURL(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ssl bool
	var version string
	err = db.QueryRowContext(ctx, `SELECT ssl, coalesce(version, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&ssl, &version)
	if err != nil {
		t.Fatal(err)
	}
	if !ssl {
		t.Errorf("got ssl=%v, want true", ssl)
	}
	if !strings.HasPrefix(version, "TLSv1.") {
		t.Errorf("got TLS version %q, want TLSv1.x", version)
	}
}

// The harness's private server itself refuses clients that skip TLS
// (pg_hba.conf: hostnossl reject), so no test can pass over plain TCP by
// accident. Bypasses Open on purpose.
func TestServerRejectsUnencryptedClients(t *testing.T) {
	t.Parallel()
	if os.Getenv(pgtest.AdminURLEnv) != "" {
		t.Skip("the server is an external one; its pg_hba.conf is not the harness's")
	}
	cfg := pgtest.NewDB(t)
	plain := strings.Replace(cfg.DatabaseURL(), "sslmode=require", "sslmode=disable", 1)
	if plain == cfg.DatabaseURL() {
		t.Fatalf("could not switch %q to sslmode=disable", cfg.DatabaseURL())
	}
	conn, err := pgx.Connect(context.Background(), plain)
	if err == nil {
		conn.Close(context.Background())
		t.Fatal("got a plaintext connection, want the server to reject it")
	}
	if !strings.Contains(err.Error(), "no encryption") && !strings.Contains(err.Error(), "rejects connection") {
		t.Errorf("got %v, want pg_hba.conf's rejection of an unencrypted connection", err)
	}
}

// Passwords full of URL delimiters, quotes and backslashes survive
// config.DB's URLs, pgx's parsing and roles.sql's quoting: both roles log in
// as themselves.
func TestHostileCredentialsConnectThroughConfigURLs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := pgtest.NewDB(t)
	tests := []struct {
		name     string
		url      string
		user     string
		password string
		hostile  string
	}{
		{"app", cfg.DatabaseURL(), cfg.AppUser, cfg.AppPassword.Reveal(), "@:/#%?"},
		{"migrator", cfg.MigrationsDatabaseURL(), cfg.MigratorUser, cfg.MigratorPassword.Reveal(), `'" \&=+;[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range tt.hostile {
				if !strings.ContainsRune(tt.password, c) {
					t.Fatalf("the harness's %s password %q lacks %q: the test would prove nothing", tt.name, tt.password, c)
				}
			}
			db, err := postgres.Open(ctx, tt.url, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var user, search string
			if err := db.QueryRowContext(ctx, `SELECT current_user, current_setting('search_path')`).Scan(&user, &search); err != nil {
				t.Fatal(err)
			}
			if user != tt.user {
				t.Errorf("got current_user %q, want %q", user, tt.user)
			}
			if search != "gatehouse" {
				t.Errorf("got search_path %q, want gatehouse", search)
			}
		})
	}
}

// verify-full checks the server's certificate: the harness's CA passes, any
// other CA fails. pgx honours the mode rather than downgrading it.
func TestVerifyFullChecksTheCertificate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := pgtest.NewDB(t)
	cfg.SSLMode = "verify-full"

	t.Run("trusted CA", func(t *testing.T) {
		c := cfg
		c.SSLRootCert = pgtest.CACertFile(t)
		if c.SSLRootCert == "" {
			if os.Getenv(pgtest.AdminURLEnv) != "" {
				t.Skip("the external server's URL names no sslrootcert to verify it with")
			}
			t.Fatal("the harness gave no CA file for its server")
		}
		db, err := postgres.Open(ctx, c.DatabaseURL(), 1)
		if err != nil {
			t.Fatalf("got %v, want a verified connection", err)
		}
		db.Close()
	})
	t.Run("other CA", func(t *testing.T) {
		c := cfg
		c.SSLRootCert = writeForeignCA(t)
		db, err := postgres.Open(ctx, c.DatabaseURL(), 1)
		if err == nil {
			db.Close()
			t.Fatal("got a connection, want a certificate error")
		}
		if got := domain.KindOf(err); got != domain.KindUnavailable {
			t.Errorf("got kind %v, want %v (err: %v)", got, domain.KindUnavailable, err)
		}
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("got %v, want a certificate error", err)
		}
	})
}

// writeForeignCA writes a self-signed CA that signed nothing the server has.
func writeForeignCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "not the test server's CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
