// Package pgtest gives tests real PostgreSQL databases: a fresh database per
// test, already migrated from schema/, reached over TLS as the least-privilege
// roles that schema/roles.sql creates.
//
// On first use the harness starts a private, throw-away cluster with the
// pgcluster package (initdb, then the server on a free 127.0.0.1 port with
// TLS on, scram-sha-256 and pg_hba allowing only hostssl), bootstraps the two roles with roles.sql, applies the schema
// once to a template database as the migrator, and clones that template for
// every test. The role passwords are full of URL- and SQL-hostile characters,
// so every test that connects proves the escaping in config.DB's URLs.
//
// When GATEHOUSE_TEST_PG_ADMIN_URL holds a superuser URL, that server is used
// instead of a private cluster; every role and database the run creates has a
// name unique to the run and is dropped at the end.
//
// A test package that uses pgtest must call Main from TestMain, so the cluster
// stops and its directory is removed after the tests:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Everything here is safe for parallel tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/schema"
)

// AdminURLEnv names the variable that points the harness at an existing
// server: a superuser postgres:// URL with sslmode require, verify-ca or
// verify-full.
const AdminURLEnv = "GATEHOUSE_TEST_PG_ADMIN_URL"

// These passwords are deliberately hostile: URL delimiters and percent signs
// (for the URL escaping), quotes and a backslash (for SQL literal quoting), a
// space (which form encoding would turn into '+'). A random suffix keeps them
// unique per run.
const (
	appPasswordBase      = `p@ss:w/rd#%?`
	migratorPasswordBase = `m'gr"t0r \&=+;[]!`
)

// Main runs the tests, then stops the private cluster and removes its
// directory (or, with GATEHOUSE_TEST_PG_ADMIN_URL, drops what the run
// created), and exits. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if err := shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// NewDB returns a fresh database with gatehouse's schema applied, reachable as
// both roles, and drops it when the test ends. The returned config.DB is what
// config.Load would produce for it (sslmode require).
func NewDB(t testing.TB) config.DB {
	t.Helper()
	s := get(t)
	return s.clone(t, s.template)
}

// NewEmptyDB returns a fresh database bootstrapped by roles.sql (schema
// gatehouse exists, owned by the migrator, with the app role's grants) but
// without any table, for tests of migrations themselves. It is dropped when
// the test ends.
func NewEmptyDB(t testing.TB) config.DB {
	t.Helper()
	s := get(t)
	return s.clone(t, s.emptyTemplate)
}

// AdminURL returns a superuser URL for database dbName on the test server
// (the maintenance database when dbName is empty), for tests that need to
// look behind the roles' backs.
func AdminURL(t testing.TB, dbName string) string {
	t.Helper()
	return get(t).adminURLFor(dbName)
}

// CACertFile returns the path of a PEM file that verifies the test server's
// certificate (for sslmode verify-ca or verify-full against 127.0.0.1), or ""
// when the server is an external one given without sslrootcert.
func CACertFile(t testing.TB) string {
	t.Helper()
	return get(t).caFile
}

var (
	mu       sync.Mutex
	current  *server
	startErr error
)

// get starts the server on first use. A failed start fails every test that
// asks, with the same message.
func get(t testing.TB) *server {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if current == nil && startErr == nil {
		current, startErr = start()
	}
	if startErr != nil {
		t.Fatalf("pgtest: %v", startErr)
	}
	return current
}

func shutdown() error {
	mu.Lock()
	defer mu.Unlock()
	if current == nil {
		return nil
	}
	err := current.close()
	current = nil
	return err
}

// server is one PostgreSQL server bootstrapped for this run.
type server struct {
	admin       *url.URL // superuser; Path is replaced per database
	host        string
	port        int
	sslMode     string
	sslRootCert string
	caFile      string

	prefix                  string // unique per run: every database and role name starts with it
	migratorUser, appUser   string
	migratorPass, appPass   string
	template, emptyTemplate string
	maintenance             *sql.DB
	seq                     atomic.Int64
	stopCluster             func() error // nil for an external server
}

func start() (*server, error) {
	var s *server
	var err error
	if raw := os.Getenv(AdminURLEnv); raw != "" {
		s, err = external(raw)
	} else {
		s, err = startCluster()
	}
	if err != nil {
		return nil, err
	}
	if err := s.bootstrap(); err != nil {
		_ = s.close()
		return nil, err
	}
	return s, nil
}

// external uses the server at rawURL, which must be a superuser's.
func external(rawURL string) (*server, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return nil, fmt.Errorf("%s must be a postgres:// URL with a host", AdminURLEnv)
	}
	q := u.Query()
	mode := q.Get("sslmode")
	switch mode {
	case "require", "verify-ca", "verify-full":
	default:
		return nil, fmt.Errorf("%s must set sslmode to require, verify-ca or verify-full (got %q): gatehouse never connects without TLS", AdminURLEnv, mode)
	}
	port := 5432
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("%s: bad port %q", AdminURLEnv, p)
		}
	}
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return &server{
		admin:       u,
		host:        u.Hostname(),
		port:        port,
		sslMode:     mode,
		sslRootCert: q.Get("sslrootcert"),
		caFile:      q.Get("sslrootcert"),
	}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func (s *server) adminURLFor(dbName string) string {
	u := *s.admin
	if dbName == "" {
		dbName = "postgres"
	}
	u.Path = "/" + dbName
	u.RawPath = ""
	return u.String()
}

func (s *server) dbConfig(name string) config.DB {
	return config.DB{
		Host:             s.host,
		Port:             s.port,
		Name:             name,
		SSLMode:          s.sslMode,
		SSLRootCert:      s.sslRootCert,
		AppUser:          s.appUser,
		AppPassword:      config.Secret(s.appPass),
		MigratorUser:     s.migratorUser,
		MigratorPassword: config.Secret(s.migratorPass),
		MaxConns:         4,
	}
}

func (s *server) vars(dbName string) schema.RoleVars {
	return schema.RoleVars{
		MigratorUser:     s.migratorUser,
		MigratorPassword: s.migratorPass,
		AppUser:          s.appUser,
		AppPassword:      s.appPass,
		DBName:           dbName,
	}
}

// bootstrap creates the roles and the two template databases: one migrated
// (for NewDB) and one with the roles' grants only (for NewEmptyDB).
func (s *server) bootstrap() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	s.prefix = "gh_" + randomHex(4)
	// Upper case and a hyphen force correct identifier quoting everywhere.
	s.migratorUser = s.prefix + "-Migrator"
	s.appUser = s.prefix + "-App"
	s.appPass = appPasswordBase + randomHex(4)
	s.migratorPass = migratorPasswordBase + randomHex(4)
	s.template = s.prefix + "_template"
	s.emptyTemplate = s.prefix + "_empty"

	var err error
	if s.maintenance, err = openAdmin(s.adminURLFor("")); err != nil {
		return err
	}
	if err := s.execRoles(ctx, s.maintenance, s.vars(s.template), schema.SectionRoles); err != nil {
		return err
	}
	for _, name := range []string{s.template, s.emptyTemplate} {
		if err := s.createBootstrapped(ctx, name); err != nil {
			return err
		}
	}

	m, err := postgres.OpenMigrator(ctx, s.dbConfig(s.template).MigrationsDatabaseURL())
	if err != nil {
		return fmt.Errorf("connecting as the migrator: %w", err)
	}
	_, err = m.Apply(ctx)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("applying the schema to the template: %w", err)
	}

	// Nobody may connect to a template while it is cloned; forbidding
	// connections makes sure nobody does.
	for _, name := range []string{s.template, s.emptyTemplate} {
		if _, err := s.maintenance.ExecContext(ctx, "ALTER DATABASE "+ident(name)+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
			return fmt.Errorf("marking %s as a template: %w", name, err)
		}
	}
	return nil
}

// createBootstrapped creates database name and runs the database and schema
// sections of roles.sql for it, as an administrator would.
func (s *server) createBootstrapped(ctx context.Context, name string) error {
	if _, err := s.maintenance.ExecContext(ctx, "CREATE DATABASE "+ident(name)); err != nil {
		return fmt.Errorf("creating database %s: %w", name, err)
	}
	if err := s.execRoles(ctx, s.maintenance, s.vars(name), schema.SectionDatabase); err != nil {
		return err
	}
	db, err := openAdmin(s.adminURLFor(name))
	if err != nil {
		return err
	}
	defer db.Close()
	return s.execRoles(ctx, db, s.vars(name), schema.SectionSchema)
}

func (s *server) execRoles(ctx context.Context, db *sql.DB, v schema.RoleVars, sections ...schema.Section) error {
	script, err := schema.RenderRoles(v, sections...)
	if err != nil {
		return err
	}
	// No arguments: pgx sends the script with the simple protocol, which
	// runs several statements in one go.
	if _, err := db.ExecContext(ctx, script); err != nil {
		return fmt.Errorf("running roles.sql %v for %s: %w", sections, v.DBName, err)
	}
	return nil
}

// clone creates a database from template for one test and drops it at the
// test's end.
func (s *server) clone(t testing.TB, template string) config.DB {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("%s_t%d", s.prefix, s.seq.Add(1))
	if _, err := s.maintenance.ExecContext(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(template)); err != nil {
		t.Fatalf("pgtest: creating database from %s: %v", template, err)
	}
	t.Cleanup(func() {
		if _, err := s.maintenance.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	// pg_database's ACL is not copied from the template.
	if err := s.execRoles(ctx, s.maintenance, s.vars(name), schema.SectionDatabase); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s.dbConfig(name)
}

func (s *server) close() error {
	var errs []error
	if s.maintenance != nil {
		if s.stopCluster == nil {
			errs = append(errs, s.dropAll())
		}
		errs = append(errs, s.maintenance.Close())
	}
	if s.stopCluster != nil {
		errs = append(errs, s.stopCluster())
	}
	return errors.Join(errs...)
}

// dropAll removes every database and role this run created on an external
// server.
func (s *server) dropAll() error {
	if s.prefix == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := s.maintenance.QueryContext(ctx,
		"SELECT datname FROM pg_database WHERE starts_with(datname, $1)", s.prefix+"_")
	if err != nil {
		return err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		for _, stmt := range []string{
			"ALTER DATABASE " + ident(n) + " WITH IS_TEMPLATE false",
			"DROP DATABASE " + ident(n) + " WITH (FORCE)",
		} {
			if _, err := s.maintenance.ExecContext(ctx, stmt); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, r := range []string{s.appUser, s.migratorUser} {
		if _, err := s.maintenance.ExecContext(ctx, "DROP ROLE IF EXISTS "+ident(r)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// openAdmin opens a small superuser pool. It is the harness's own plumbing,
// so it skips Open's checks; the URL always asks for TLS anyway.
func openAdmin(dsn string) (*sql.DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting as the administrator: %w", err)
	}
	return db, nil
}

func ident(s string) string {
	q, err := schema.QuoteIdent(s)
	if err != nil {
		panic(err) // names are built here, never from outside
	}
	return q
}
