package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
	"github.com/gatehouse/gatehouse/config"
)

func psqlBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("psql"); err == nil {
		return p
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/psql")
	sort.Strings(dirs)
	if len(dirs) > 0 {
		return dirs[len(dirs)-1]
	}
	t.Fatal("psql not found: install the PostgreSQL client (apt-get install -y postgresql-client)")
	return ""
}

func randomSuffix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// roles.sql does what its header says when an administrator runs it with
// psql, hostile names and passwords included, and leaves exactly the same
// privileges as the Go rendering the harness (and gatehouse dev) uses.
func TestRolesSQLWithPsql(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	psql := psqlBin(t)
	suffix := randomSuffix(t)
	dbName := "psql_roles_" + suffix
	roles := struct{ migrator, migratorPass, app, appPass string }{
		migrator:     "psql-Migrator-" + suffix,
		migratorPass: `m'gr"t0r \&=+;[]!` + suffix,
		app:          `psql "App"-` + suffix,
		appPass:      `p@ss:w/rd#%? ` + suffix,
	}

	admin := openAdminDB(t, pgtest.AdminURL(t, ""))
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+dbName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, stmt := range []string{
			`DROP DATABASE IF EXISTS ` + dbName + ` WITH (FORCE)`,
			`DROP ROLE IF EXISTS ` + quoteIdent(roles.app),
			`DROP ROLE IF EXISTS ` + quoteIdent(roles.migrator),
		} {
			if _, err := admin.ExecContext(context.Background(), stmt); err != nil {
				t.Errorf("cleanup: %s: %v", stmt, err)
			}
		}
	})

	cmd := exec.Command(psql, "-X", "-q", "-v", "ON_ERROR_STOP=1",
		"-d", pgtest.AdminURL(t, dbName),
		"-v", "migrator_user="+roles.migrator,
		"-v", "migrator_password="+roles.migratorPass,
		"-v", "app_user="+roles.app,
		"-v", "app_password="+roles.appPass,
		"-v", "db_name="+dbName,
		"-f", filepath.Join("..", "..", "schema", "roles.sql"))
	cmd.Env = []string{"PGCONNECT_TIMEOUT=10"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql -f schema/roles.sql: %v\n%s", err, out)
	}

	cfg := config.DB{
		Host: "127.0.0.1", Name: dbName, SSLMode: "require",
		AppUser: roles.app, AppPassword: config.Secret(roles.appPass),
		MigratorUser: roles.migrator, MigratorPassword: config.Secret(roles.migratorPass),
	}
	u, err := url.Parse(pgtest.AdminURL(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host = u.Hostname()
	if cfg.Port, err = strconv.Atoi(u.Port()); err != nil {
		t.Fatal(err)
	}

	t.Run("migrator's tables are the app's to use, not to change", func(t *testing.T) {
		migrator, err := postgres.Open(ctx, cfg.MigrationsDatabaseURL(), 1)
		if err != nil {
			t.Fatal(err)
		}
		defer migrator.Close()
		if _, err := migrator.ExecContext(ctx, `CREATE TABLE gatehouse.things (id serial PRIMARY KEY, name text)`); err != nil {
			t.Fatalf("migrator CREATE TABLE: %v", err)
		}
		app, err := postgres.Open(ctx, cfg.DatabaseURL(), 1)
		if err != nil {
			t.Fatal(err)
		}
		defer app.Close()
		if _, err := app.ExecContext(ctx, `INSERT INTO things (name) VALUES ('x')`); err != nil {
			t.Errorf("app INSERT (needs the table and sequence default privileges): %v", err)
		}
		if got := execInRollback(t, app, `ALTER TABLE gatehouse.things ADD COLUMN y int`); got != insufficientPrivilege {
			t.Errorf("app ALTER TABLE: got SQLSTATE %q, want %q", got, insufficientPrivilege)
		}
		if _, err := migrator.ExecContext(ctx, `DROP TABLE gatehouse.things`); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("same privileges as the Go rendering", func(t *testing.T) {
		goDB := pgtest.NewEmptyDB(t)
		want := privileges(t, pgtest.AdminURL(t, dbName), roles.migrator, roles.app)
		got := privileges(t, pgtest.AdminURL(t, goDB.Name), goDB.MigratorUser, goDB.AppUser)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("privileges differ (-psql +Go):\n%s", diff)
		}
	})
}

func openAdminDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// privileges describes, with the two roles' names replaced by placeholders,
// everything roles.sql decides: role attributes, the database's ACL, the
// schemas' owners and ACLs, and the default privileges.
func privileges(t *testing.T, adminURL, migrator, app string) []string {
	t.Helper()
	ctx := context.Background()
	db := openAdminDB(t, adminURL)
	queries := []struct {
		sql  string
		args []any
	}{
		{`SELECT 'role ' || CASE WHEN rolname = $1 THEN 'migrator' ELSE 'app' END || concat_ws(' ', '', rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls)
		   FROM pg_roles WHERE rolname IN ($1, $2)`, []any{migrator, app}},
		{`SELECT 'database ' || coalesce(datacl::text, 'default') FROM pg_database WHERE datname = current_database()`, nil},
		{`SELECT 'schema ' || nspname || ' owner ' || nspowner::regrole::text || ' ' || coalesce(nspacl::text, 'default')
		   FROM pg_namespace WHERE nspname IN ('public', 'gatehouse')`, nil},
		{`SELECT 'default ' || defaclrole::regrole::text || ' ' || coalesce(defaclnamespace::regnamespace::text, '-') || ' ' || defaclobjtype::text || ' ' || defaclacl::text
		   FROM pg_default_acl`, nil},
	}
	var out []string
	for _, q := range queries {
		rows, err := db.QueryContext(ctx, q.sql, q.args...)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			for _, r := range []struct{ name, placeholder string }{{migrator, "<migrator>"}, {app, "<app>"}} {
				// ACLs and regrole quote names that need it, escaping quotes
				// with a backslash inside arrays.
				s = strings.ReplaceAll(s, `\"`+strings.ReplaceAll(r.name, `"`, `\"\"`)+`\"`, r.placeholder)
				s = strings.ReplaceAll(s, quoteIdent(r.name), r.placeholder)
				s = strings.ReplaceAll(s, r.name, r.placeholder)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	sort.Strings(out)
	if len(out) < 6 {
		t.Fatalf("got only %q: the comparison would prove little", out)
	}
	return out
}
