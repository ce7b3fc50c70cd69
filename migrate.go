package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// errSchemaDrift is what `migrate --check` returns when changes are pending.
var errSchemaDrift = errors.New("the database schema differs from schema/: run `gatehouse migrate`")

// runMigrate applies schema/ as the migrator role, or with --check only
// reports what it would change and fails if anything would.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("check", false, "only compare: exit 1 and list the pending changes if the database differs from schema/")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{"migrate takes no arguments"}
	}
	log := newLogger(stderr, getenv("LOG_LEVEL"))
	cfg, err := loadConfig(getenv, log)
	if err != nil {
		return err
	}
	m, cleanup, err := initMigrate(ctx, cfg)
	if err != nil {
		return err
	}
	defer cleanup()
	if *check {
		pending, err := m.Pending(ctx)
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			fmt.Fprintln(stdout, "schema is up to date")
			return nil
		}
		fmt.Fprintf(stdout, "%d change(s) pending:\n", len(pending))
		for _, s := range pending {
			fmt.Fprintf(stdout, "  %s;\n", s)
		}
		return errSchemaDrift
	}
	applied, err := m.Apply(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "schema is up to date; nothing to apply")
		return nil
	}
	for _, s := range applied {
		fmt.Fprintf(stdout, "applied: %s;\n", s)
	}
	fmt.Fprintf(stdout, "%d change(s) applied\n", len(applied))
	return nil
}
