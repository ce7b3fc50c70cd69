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
	"runtime/debug"
	"syscall"
)

// defaultGCPercent is the garbage collector's target when the environment
// sets no GOGC: the heap may grow to five times what is live before a
// collection, instead of twice. A serving process keeps little live data
// (a few MB) and allocates a little on every request, so Go's default of
// 100 collects many times a second under load, for a fifth of the CPU in
// profiles; at 400 the heap stays in the tens of MB. GOGC and GOMEMLIMIT
// in the environment take precedence, as they always do.
const defaultGCPercent = 400

// gcPercent returns the GC target to set, unless the environment sets GOGC.
func gcPercent(getenv func(string) string) (int, bool) {
	if getenv("GOGC") != "" {
		return 0, false
	}
	return defaultGCPercent, true
}

func main() {
	if p, ok := gcPercent(os.Getenv); ok {
		debug.SetGCPercent(p)
	}
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
