//go:build unix

package pgcluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// reachableTempDir is a t.TempDir the server's user can pass through when
// the tests run as root (t.TempDir's directories are 0700).
func reachableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func startKept(t *testing.T, dir string) *Cluster {
	t.Helper()
	c, err := Start(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestPersistentClusterIsReused makes a cluster and a database, writes a
// row, stops the cluster and starts it again: the second start must reuse
// the cluster, the database and the passwords, and the row must be there.
func TestPersistentClusterIsReused(t *testing.T) {
	dir := filepath.Join(reachableTempDir(t), "pg")
	roles := Roles{Migrator: "dev_migrator", App: "dev_app"}

	c := startKept(t, dir)
	if !c.Created() {
		t.Errorf("first Start: Created() = false, want true")
	}
	db, created, err := c.EnsureDatabase(context.Background(), "devdb", roles)
	if err != nil || !created {
		t.Fatalf("first EnsureDatabase: got created=%v, %v; want created, no error", created, err)
	}
	mig := connect(t, db.MigrationsDatabaseURL())
	if _, err := mig.Exec(context.Background(), "CREATE TABLE gatehouse.kept (v text)"); err != nil {
		t.Fatalf("the migrator creating a table: %v", err)
	}
	app := connect(t, db.DatabaseURL())
	if _, err := app.Exec(context.Background(), "INSERT INTO kept VALUES ('across restarts')"); err != nil {
		t.Fatalf("the app role writing a row: %v", err)
	}
	var ssl bool
	if err := app.QueryRow(context.Background(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
		t.Errorf("the app connection: got ssl=%v (%v), want TLS", ssl, err)
	}
	mig.Close(context.Background())
	app.Close(context.Background())
	pid := c.PID()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the server (pid %d) after Stop: got %v, want ESRCH", pid, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pg", "data", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid after Stop: got %v, want it removed by a clean shutdown", err)
	}

	c2 := startKept(t, dir)
	if c2.Created() {
		t.Errorf("second Start: Created() = true, want false (reused)")
	}
	db2, created, err := c2.EnsureDatabase(context.Background(), "devdb", roles)
	if err != nil || created {
		t.Fatalf("second EnsureDatabase: got created=%v, %v; want reused, no error", created, err)
	}
	if db2.AppPassword != db.AppPassword || db2.MigratorPassword != db.MigratorPassword {
		t.Errorf("second EnsureDatabase returned other passwords than the first")
	}
	var v string
	if err := connect(t, db2.DatabaseURL()).QueryRow(context.Background(), "SELECT v FROM kept").Scan(&v); err != nil || v != "across restarts" {
		t.Errorf("the row after a restart: got %q, %v; want %q", v, err, "across restarts")
	}
	if fi, err := os.Stat(c2.CredentialsFile()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file: got %v, %v; want mode 0600", fi.Mode(), err)
	}
	if _, _, err := c2.EnsureDatabase(context.Background(), "devdb", Roles{Migrator: "other", App: "dev_app"}); err == nil {
		t.Errorf("EnsureDatabase with other role names for an existing database: got no error")
	}
}

func TestServerRefusesUnencryptedLogins(t *testing.T) {
	c := startKept(t, filepath.Join(reachableTempDir(t), "pg"))
	url := strings.Replace(c.AdminURL(""), "sslmode=require", "sslmode=disable", 1)
	conn, err := pgx.Connect(context.Background(), url)
	if err == nil {
		conn.Close(context.Background())
		t.Fatal("sslmode=disable: got a session, want pg_hba's rejection")
	}
	if !strings.Contains(err.Error(), "pg_hba.conf rejects") || !strings.Contains(err.Error(), "no encryption") {
		t.Errorf("sslmode=disable: got %v, want pg_hba's rejection of an unencrypted login", err)
	}
}

func TestThrowawayClusterIsRemoved(t *testing.T) {
	c, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	dir, pid := c.Dir(), c.PID()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the directory after Stop: got %v, want it removed", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the server (pid %d) after Stop: got %v, want ESRCH", pid, err)
	}
}

func TestUnusableDirectories(t *testing.T) {
	t.Run("a half-made cluster is made again", func(t *testing.T) {
		dir := filepath.Join(reachableTempDir(t), "pg")
		if err := os.MkdirAll(filepath.Join(dir, "pg", "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		for path, body := range map[string]string{
			filepath.Join(dir, "credentials.json"):           `{"superuser_password": "x", "initialized": false}`,
			filepath.Join(dir, "pg", "data", "PG_VERSION"):   "15\n",
			filepath.Join(dir, "pg", "data", "half-written"): "",
		} {
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if c := startKept(t, dir); !c.Created() {
			t.Errorf("Created() = false, want a new cluster")
		}
	})
	t.Run("a cluster without its credentials is refused", func(t *testing.T) {
		dir := filepath.Join(reachableTempDir(t), "pg")
		if err := startKept(t, dir).Stop(); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, "credentials.json")); err != nil {
			t.Fatal(err)
		}
		_, err := Start(context.Background(), Options{Dir: dir})
		if err == nil || !strings.Contains(err.Error(), "credentials.json") || !strings.Contains(err.Error(), "remove "+dir) {
			t.Errorf("Start: got %v, want a refusal naming credentials.json and saying to remove %s", err, dir)
		}
	})
	t.Run("a directory the server's user cannot reach", func(t *testing.T) {
		parent := filepath.Join(reachableTempDir(t), "private")
		if err := os.Mkdir(parent, 0o700); err != nil { // only its owner may enter
			t.Fatal(err)
		}
		dir := filepath.Join(parent, "pg")
		c, err := Start(context.Background(), Options{Dir: dir})
		if os.Geteuid() != 0 {
			// The server runs as the caller, who can reach its own
			// directories: nothing to refuse.
			if err != nil {
				t.Fatalf("Start as a regular user: %v", err)
			}
			_ = c.Stop()
			return
		}
		if err == nil {
			_ = c.Stop()
			t.Fatal("Start as root under a 0700 directory: got a running cluster, want a refusal")
		}
		for _, want := range []string{`"postgres"`, "cannot reach " + filepath.Join(dir, "pg"), "may not enter " + parent, "chmod o+x " + parent} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Start: got %q, want it to contain %q", err, want)
			}
		}
	})
}

func TestFindBinDir(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"13", "15"} {
		d := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, b := range []string{"initdb", "postgres"} {
			if err := os.WriteFile(filepath.Join(d, b), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	notOnPath := func(string) (string, error) { return "", errors.New("not found") }
	onPath := func(string) (string, error) { return filepath.Join(root, "13", "bin", "initdb"), nil }
	cases := []struct {
		name    string
		look    func(string) (string, error)
		glob    string
		want    string
		wantErr string
	}{
		{"PATH first", onPath, filepath.Join(root, "*", "bin"), filepath.Join(root, "13", "bin"), ""},
		{"else the newest installed", notOnPath, filepath.Join(root, "*", "bin"), filepath.Join(root, "15", "bin"), ""},
		{"none: say what to install", notOnPath, filepath.Join(root, "none", "*", "bin"), "", "apt-get install -y postgresql"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := findBinDir(tc.look, tc.glob)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
