package postgres_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
	"github.com/gatehouse/gatehouse/config"
)

// atlasBin returns the atlas CLI the Makefile built from tools/atlas.
func atlasBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("GATEHOUSE_ATLAS_BIN")
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("GATEHOUSE_ATLAS_BIN is not set: CI must run the tests via make test, which builds the atlas CLI")
		}
		t.Skip("run via make test, which builds the atlas CLI")
	}
	// The CLI runs from the repository root (where atlas.hcl is), so a
	// relative path would be resolved from there, not from here.
	if !filepath.IsAbs(bin) {
		t.Fatalf("GATEHOUSE_ATLAS_BIN=%q must be an absolute path", bin)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("GATEHOUSE_ATLAS_BIN: %v", err)
	}
	return bin
}

// atlasEnv is the environment a release pipeline would give the CLI for db.
func atlasEnv(db config.DB) []string {
	env := []string{
		"ATLAS_NO_UPDATE_NOTIFIER=1",
		"DB_HOST=" + db.Host,
		"DB_PORT=" + strconv.Itoa(db.Port),
		"DB_NAME=" + db.Name,
		"DB_SSLMODE=" + db.SSLMode,
		"DB_MIGRATOR_USER=" + db.MigratorUser,
		"DB_MIGRATOR_PASSWORD=" + db.MigratorPassword.Reveal(),
	}
	if db.SSLRootCert != "" {
		env = append(env, "DB_SSLROOTCERT="+db.SSLRootCert)
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return env
}

func runAtlas(t *testing.T, bin string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = filepath.Join("..", "..") // the repository root, where atlas.hcl is
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The CLI's `schema apply --env prod` (what release pipelines run) and the
// library's Migrator agree: after the CLI applies the schema to an empty
// database, the library sees no drift, and the app role can use the tables.
func TestAtlasCLIApplyMatchesLibrary(t *testing.T) {
	bin := atlasBin(t)
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewEmptyDB(t)
	if !strings.ContainsAny(db.MigratorPassword.Reveal(), ` '"\&+`) {
		t.Fatalf("the harness's migrator password %q should contain URL-hostile characters", db.MigratorPassword.Reveal())
	}

	out, err := runAtlas(t, bin, atlasEnv(db), "schema", "apply", "--env", "prod", "--auto-approve")
	if err != nil {
		t.Fatalf("atlas schema apply --env prod: %v\n%s", err, out)
	}
	t.Logf("atlas schema apply --env prod:\n%s", out)
	if !strings.Contains(out, `CREATE TABLE "outbox"`) && !strings.Contains(out, `CREATE TABLE "gatehouse"."outbox"`) {
		t.Errorf("atlas output does not show the outbox table being created:\n%s", out)
	}

	for _, role := range []struct {
		name string
		url  string
	}{
		{"migrator", db.MigrationsDatabaseURL()},
		{"app", db.DatabaseURL()},
	} {
		t.Run("library sees no drift as "+role.name, func(t *testing.T) {
			m, err := postgres.OpenMigrator(ctx, role.url)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			pending, err := m.Pending(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(pending) != 0 {
				t.Errorf("got pending %q, want none", pending)
			}
		})
	}

	t.Run("app role can use the tables", func(t *testing.T) {
		app, err := postgres.Open(ctx, db.DatabaseURL(), 2)
		if err != nil {
			t.Fatal(err)
		}
		defer app.Close()
		if _, err := app.ExecContext(ctx, `INSERT INTO users (id, email, password_hash) VALUES (gen_random_uuid(), 'a@example.com', 'x')`); err != nil {
			t.Fatalf("insert as app: %v", err)
		}
		var n int
		if err := app.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("got %d users, want 1", n)
		}
	})

	t.Run("second apply has nothing to do", func(t *testing.T) {
		out, err := runAtlas(t, bin, atlasEnv(db), "schema", "apply", "--env", "prod", "--auto-approve")
		if err != nil {
			t.Fatalf("atlas schema apply: %v\n%s", err, out)
		}
		if !strings.Contains(out, "Schema is synced, no changes to be made") {
			t.Errorf("got output %q, want it to say the schema is synced", out)
		}
	})
}

// atlas.hcl refuses to build a URL whose TLS could be off.
func TestAtlasCLIRefusesWeakSSLMode(t *testing.T) {
	bin := atlasBin(t)
	t.Parallel()
	db := config.DB{Host: "127.0.0.1", Port: 1, Name: "x", MigratorUser: "m", MigratorPassword: "p"}
	for _, mode := range []string{"disable", "allow", "prefer"} {
		t.Run(mode, func(t *testing.T) {
			db := db
			db.SSLMode = mode
			out, err := runAtlas(t, bin, atlasEnv(db), "schema", "apply", "--env", "prod", "--auto-approve")
			if err == nil {
				t.Fatalf("got success, want an error:\n%s", out)
			}
			if !strings.Contains(out, "does not identify an element") {
				t.Errorf("got output %q, want the sslmode lookup to fail", out)
			}
		})
	}
}
