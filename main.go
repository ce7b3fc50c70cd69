// Command gatehouse is the gatehouse backend: one binary whose subcommands
// serve the HTTP API, apply the schema and check the configuration. Run
// `gatehouse help` for the list.
//
// The root package is the composition root: it reads the configuration, and
// google/wire (wire.go, wire_gen.go) builds each command's object graph from
// the provider sets the adapter packages export.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		var ue usageError
		if !errors.As(err, &ue) || ue.msg != "" {
			fmt.Fprintln(os.Stderr, "gatehouse:", err)
		}
		os.Exit(exitCode(err))
	}
}
