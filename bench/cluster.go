package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgcluster"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/schema"
)

// The benchmark's database and roles.
const (
	benchDB       = "gatehouse_bench"
	appRole       = "gatehouse_app"
	migratorRole  = "gatehouse_migrator"
	logLinePrefix = "%m [%p] %q%u@%d "
)

// database is the private cluster with gatehouse's schema applied, the
// roles bootstrapped by schema/roles.sql, and a superuser pool.
type database struct {
	cluster *pgcluster.Cluster
	dir     string // removed by close
	cfg     config.DB
	admin   *pgxpool.Pool // superuser, on benchDB, search_path gatehouse
	version string
	// statStatements reports whether pg_stat_statements is loaded.
	statStatements bool
	tuned          []string // the settings applied with ALTER SYSTEM
}

// startDatabase starts a private cluster (pgcluster), tunes it (unless
// tune is false) and restarts it, bootstraps the roles and the database
// with roles.sql as an administrator would, and applies the schema as the
// migrator. The cluster is persistent in pgcluster's sense only so that it
// can be restarted with settings of its own; close stops it and removes its
// directory.
func startDatabase(ctx context.Context, log *slog.Logger, tune bool, sharedBuffers string, maxConns int) (_ *database, err error) {
	dir, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return nil, err
	}
	d := &database{dir: dir}
	// When the harness runs as root the server runs as "postgres", which
	// must be able to pass through.
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	pgDir := filepath.Join(dir, "pg")
	if d.cluster, err = pgcluster.Start(ctx, pgcluster.Options{Dir: pgDir}); err != nil {
		return nil, err
	}
	if tune {
		// pgcluster takes no server settings, but a persistent cluster
		// keeps what ALTER SYSTEM writes: set, then restart. Settings
		// given on pgcluster's command line (synchronous_commit=off,
		// log_min_messages) still win.
		d.tuned = []string{
			"shared_buffers = '" + sharedBuffers + "'",
			"shared_preload_libraries = 'pg_stat_statements'",
			"max_connections = 200",
			"max_wal_size = '4GB'",
			"checkpoint_timeout = '30min'",
		}
		if err := d.adminExec(ctx, "postgres", alterSystem(d.tuned)...); err != nil {
			return nil, err
		}
		if err := d.cluster.Stop(); err != nil {
			return nil, err
		}
		if d.cluster, err = pgcluster.Start(ctx, pgcluster.Options{Dir: pgDir}); err != nil {
			return nil, err
		}
	}
	// Statement logging is switched on only while a scenario's statements
	// are captured; the prefix says whose statement a line is.
	if err := d.adminExec(ctx, "postgres", alterSystem([]string{"log_line_prefix = '" + logLinePrefix + "'"})...); err != nil {
		return nil, err
	}
	if err := d.adminExec(ctx, "postgres", "SELECT pg_reload_conf()"); err != nil {
		return nil, err
	}
	d.cfg = config.DB{
		Host:             d.cluster.Host(),
		Port:             d.cluster.Port(),
		Name:             benchDB,
		SSLMode:          "require",
		AppUser:          appRole,
		AppPassword:      config.Secret(randomSecret()),
		MigratorUser:     migratorRole,
		MigratorPassword: config.Secret(randomSecret()),
		MaxConns:         maxConns,
	}
	vars := schema.RoleVars{
		MigratorUser: migratorRole, MigratorPassword: d.cfg.MigratorPassword.Reveal(),
		AppUser: appRole, AppPassword: d.cfg.AppPassword.Reveal(),
		DBName: benchDB,
	}
	rolesSQL, err := schema.RenderRoles(vars, schema.SectionRoles)
	if err != nil {
		return nil, err
	}
	dbSQL, err := schema.RenderRoles(vars, schema.SectionDatabase)
	if err != nil {
		return nil, err
	}
	schemaSQL, err := schema.RenderRoles(vars, schema.SectionSchema)
	if err != nil {
		return nil, err
	}
	if err := d.adminExec(ctx, "postgres", rolesSQL, "CREATE DATABASE "+benchDB, dbSQL); err != nil {
		return nil, err
	}
	if err := d.adminExec(ctx, benchDB, schemaSQL); err != nil {
		return nil, err
	}
	m, err := postgres.OpenMigrator(ctx, d.cfg.MigrationsDatabaseURL())
	if err != nil {
		return nil, fmt.Errorf("connecting as the migrator: %w", err)
	}
	_, err = m.Apply(ctx)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("applying the schema: %w", err)
	}
	exts := []string{"CREATE EXTENSION IF NOT EXISTS pg_prewarm WITH SCHEMA public"}
	if tune {
		exts = append(exts, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA public")
		d.statStatements = true
	}
	// The ceiling's parameter tables live beside gatehouse's schema, owned
	// by the administrator and readable by the app role that pgbench logs
	// in as.
	exts = append(exts, "CREATE SCHEMA bench", "GRANT USAGE ON SCHEMA bench TO "+appRole,
		"ALTER DEFAULT PRIVILEGES IN SCHEMA bench GRANT SELECT ON TABLES TO "+appRole)
	if err := d.adminExec(ctx, benchDB, exts...); err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(d.adminURL(benchDB))
	if err != nil {
		return nil, err
	}
	pcfg.MaxConns = 4
	pcfg.ConnConfig.RuntimeParams["search_path"] = config.SchemaName
	if d.admin, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, err
	}
	if err := d.admin.QueryRow(ctx, "SELECT version()").Scan(&d.version); err != nil {
		return nil, err
	}
	log.Info("database ready", "port", d.cluster.Port(), "version", d.version)
	return d, nil
}

func alterSystem(settings []string) []string {
	out := make([]string, len(settings))
	for i, s := range settings {
		out[i] = "ALTER SYSTEM SET " + s
	}
	return out
}

func randomSecret() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (d *database) adminURL(db string) string { return d.cluster.AdminURL(db) }

// adminExec runs statements one by one as the superuser on database db.
func (d *database) adminExec(ctx context.Context, db string, stmts ...string) error {
	conn, err := pgx.Connect(ctx, d.adminURL(db))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, s := range stmts {
		// Exec without arguments uses the simple protocol, which runs a
		// multi-statement script such as roles.sql in one go.
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", firstLine(s), err)
		}
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + "..."
	}
	return s
}

// exec runs one statement as the superuser on the benchmark database.
func (d *database) exec(ctx context.Context, sql string, args ...any) error {
	_, err := d.admin.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", firstLine(sql), err)
	}
	return nil
}

// setStatementLog switches the logging of every statement, with its
// parameters, on or off for all sessions, and waits a moment for the
// backends to take the new setting (they do so between commands).
func (d *database) setStatementLog(ctx context.Context, on bool) error {
	stmt := "ALTER SYSTEM RESET log_min_duration_statement"
	if on {
		stmt = "ALTER SYSTEM SET log_min_duration_statement = 0"
	}
	if err := d.exec(ctx, stmt); err != nil {
		return err
	}
	if err := d.exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond)
	return nil
}

// logSize is the server log's current size, where a capture starts reading.
func (d *database) logSize() int64 {
	fi, err := os.Stat(d.cluster.LogFile())
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince returns the server log from offset on.
func (d *database) logSince(offset int64) ([]byte, error) {
	b, err := os.ReadFile(d.cluster.LogFile())
	if err != nil {
		return nil, err
	}
	if offset > int64(len(b)) {
		return nil, errors.New("the server log shrank")
	}
	return b[offset:], nil
}

// prewarm loads gatehouse's tables and indexes into shared buffers, so
// the first measured runs do not pay for reading them in.
func (d *database) prewarm(ctx context.Context) error {
	return d.exec(ctx, `SELECT public.pg_prewarm(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'gatehouse' AND c.relkind IN ('r', 'i')`)
}

func (d *database) close() {
	if d.admin != nil {
		d.admin.Close()
	}
	if d.cluster != nil {
		_ = d.cluster.Stop()
	}
	if d.dir != "" {
		_ = os.RemoveAll(d.dir)
	}
}
