//go:build unix

package pgcluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/schema"
)

// state is what a persistent cluster's credentials.json holds.
type state struct {
	Superuser         string               `json:"superuser"`
	SuperuserPassword string               `json:"superuser_password"`
	Initialized       bool                 `json:"initialized"` // initdb finished
	Port              int                  `json:"port,omitempty"`
	Databases         map[string]*database `json:"databases,omitempty"`
}

// database is one database made by EnsureDatabase, with the two roles of
// schema/roles.sql.
type database struct {
	MigratorUser     string `json:"migrator_user"`
	MigratorPassword string `json:"migrator_password"`
	AppUser          string `json:"app_user"`
	AppPassword      string `json:"app_password"`
	Ready            bool   `json:"ready"` // roles.sql ran to the end
}

func readState(path string) (*state, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("%s is damaged (%v): remove its directory to start afresh (the data is lost)", path, err)
	}
	return &st, nil
}

// writeState saves st, readable by the caller only (the server's user does
// not need it).
func writeState(path string, st *state) error {
	st.Superuser = Superuser
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(raw, '\n'), owner{})
}

// randomPassword returns 192 random bits, URL-safe.
func randomPassword() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Roles names the two login roles schema/roles.sql creates for a database.
type Roles struct {
	Migrator string
	App      string
}

// EnsureDatabase makes sure database name exists, bootstrapped by
// schema/roles.sql for the two roles (schema gatehouse owned by the
// migrator, the app role limited to data), and returns how to reach it as
// either role, over TLS (sslmode require, no root certificate; MaxConns is
// left zero). The first call creates the roles with random passwords and the
// database; the passwords are kept in the credentials file, so later calls,
// in later runs, return the same ones. created reports whether this call
// made the database. The tables are not created: that is the migrator's job
// (postgres.Migrator).
//
// A database or role of those names that the credentials file does not
// account for is refused rather than taken over.
func (c *Cluster) EnsureDatabase(ctx context.Context, name string, roles Roles) (db config.DB, created bool, err error) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if c.state == nil {
		c.state = &state{SuperuserPassword: c.password, Initialized: true, Port: c.port}
	}
	if c.state.Databases == nil {
		c.state.Databases = map[string]*database{}
	}
	admin, err := pgx.Connect(ctx, c.AdminURL(""))
	if err != nil {
		return config.DB{}, false, fmt.Errorf("connecting as the superuser: %w", err)
	}
	defer admin.Close(context.Background())

	rec := c.state.Databases[name]
	if rec != nil && (rec.MigratorUser != roles.Migrator || rec.AppUser != roles.App) {
		return config.DB{}, false, fmt.Errorf("database %s was made for roles %s and %s, not %s and %s", name, rec.MigratorUser, rec.AppUser, roles.Migrator, roles.App)
	}
	if rec != nil && rec.Ready {
		var found bool
		if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&found); err != nil {
			return config.DB{}, false, err
		}
		if found {
			return c.dbConfig(name, rec), false, nil
		}
		rec.Ready = false // dropped by hand: make it again
	}

	if rec == nil {
		var taken bool
		err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)
			OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname IN ($2, $3))`, name, roles.Migrator, roles.App).Scan(&taken)
		if err != nil {
			return config.DB{}, false, err
		}
		if taken {
			return config.DB{}, false, fmt.Errorf("database %s or role %s or %s already exists in %s but is not in %s: drop them, or remove %s to start afresh",
				name, roles.Migrator, roles.App, c.dir, c.stateFile(), c.dir)
		}
		rec = &database{MigratorUser: roles.Migrator, MigratorPassword: randomPassword(), AppUser: roles.App, AppPassword: randomPassword()}
		c.state.Databases[name] = rec
		if err := c.saveState(); err != nil {
			return config.DB{}, false, err
		}
	}
	c.log.Info("postgres: creating the database and its roles (schema/roles.sql)", "database", name, "migrator", rec.MigratorUser, "app", rec.AppUser)
	if err := c.bootstrap(ctx, admin, name, rec); err != nil {
		return config.DB{}, false, err
	}
	rec.Ready = true
	if err := c.saveState(); err != nil {
		return config.DB{}, false, err
	}
	return c.dbConfig(name, rec), true, nil
}

// bootstrap (re)creates the roles and the database from scratch, as an
// administrator following schema/roles.sql would. Anything left by an
// earlier attempt that stopped half-way is dropped first.
func (c *Cluster) bootstrap(ctx context.Context, admin *pgx.Conn, name string, rec *database) (err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	vars := schema.RoleVars{
		MigratorUser: rec.MigratorUser, MigratorPassword: rec.MigratorPassword,
		AppUser: rec.AppUser, AppPassword: rec.AppPassword, DBName: name,
	}
	var idents [3]string
	for i, s := range []string{name, rec.AppUser, rec.MigratorUser} {
		if idents[i], err = schema.QuoteIdent(s); err != nil {
			return fmt.Errorf("%q: %w", s, err)
		}
	}
	dbIdent := idents[0]
	for _, stmt := range []string{
		"DROP DATABASE IF EXISTS " + dbIdent + " WITH (FORCE)",
		"DROP ROLE IF EXISTS " + idents[1],
		"DROP ROLE IF EXISTS " + idents[2],
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("clearing an earlier attempt: %w", err)
		}
	}
	if err := execRoles(ctx, admin, vars, schema.SectionRoles); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+dbIdent); err != nil {
		return fmt.Errorf("creating database %s: %w", name, err)
	}
	if err := execRoles(ctx, admin, vars, schema.SectionDatabase); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, c.AdminURL(name))
	if err != nil {
		return fmt.Errorf("connecting to %s as the superuser: %w", name, err)
	}
	defer conn.Close(context.Background())
	return execRoles(ctx, conn, vars, schema.SectionSchema)
}

// execRoles runs sections of roles.sql. Without arguments pgx uses the simple
// protocol, which runs several statements in one go.
func execRoles(ctx context.Context, conn *pgx.Conn, v schema.RoleVars, sections ...schema.Section) error {
	script, err := schema.RenderRoles(v, sections...)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, script); err != nil {
		return fmt.Errorf("running roles.sql %v for %s: %w", sections, v.DBName, err)
	}
	return nil
}

// saveState writes credentials.json for a persistent cluster; a throw-away
// one keeps its state in memory only. The caller holds stateMu.
func (c *Cluster) saveState() error {
	if !c.persistent {
		return nil
	}
	return writeState(c.stateFile(), c.state)
}

func (c *Cluster) dbConfig(name string, rec *database) config.DB {
	return config.DB{
		Host:             c.Host(),
		Port:             c.port,
		Name:             name,
		SSLMode:          "require",
		AppUser:          rec.AppUser,
		AppPassword:      config.Secret(rec.AppPassword),
		MigratorUser:     rec.MigratorUser,
		MigratorPassword: config.Secret(rec.MigratorPassword),
	}
}
