package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
)

// runServe runs the HTTP API until ctx is cancelled. It refuses to start when
// the database is unreachable or its schema differs from schema/, so a
// release that forgot `gatehouse migrate` fails loudly instead of serving
// errors.
func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{"serve takes no arguments"}
	}
	log := newLogger(stderr, getenv("LOG_LEVEL"))
	cfg, err := loadConfig(getenv, log)
	if err != nil {
		return err
	}
	app, cleanup, err := initServe(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := app.Schema.Check(ctx); err != nil {
		return fmt.Errorf("refusing to serve: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return err
	}
	log.Info("serving", "addr", ln.Addr().String())
	return app.Server.Run(ctx, ln)
}
