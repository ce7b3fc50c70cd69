package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime/debug"
)

// runServe runs the HTTP API, and the outbox dispatcher unless
// OUTBOX_DISPATCHER_ENABLED is false, until ctx is cancelled; then both stop
// (the dispatcher finishes or releases what it holds) before it returns. It
// refuses to start when the database is unreachable or its schema differs
// from schema/, so a release that forgot `gatehouse migrate` fails loudly
// instead of serving errors.
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
	// Building the API (its OpenAPI document, the schema comparison) leaves
	// garbage that, with the raised GC target (defaultGCPercent), would
	// otherwise stay resident until the first collection under load.
	debug.FreeOSMemory()
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	dispatched := make(chan error, 1)
	if cfg.Outbox.DispatcherEnabled {
		go func() { dispatched <- app.Dispatcher.Run(runCtx) }()
	} else {
		dispatched <- nil
		log.Info("outbox dispatcher not started here (OUTBOX_DISPATCHER_ENABLED=false): run `gatehouse worker` to deliver mail and events")
	}
	log.Info("serving", "addr", ln.Addr().String())
	err = app.Server.Run(runCtx, ln)
	stop()
	return errors.Join(err, <-dispatched)
}
