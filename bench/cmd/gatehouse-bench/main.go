// Command gatehouse-bench is gatehouse's performance benchmark (make bench):
// it starts a private PostgreSQL, seeds it, runs `gatehouse serve` and the
// in-process scenarios under load at several concurrencies, measures the
// pgbench ceiling of the statements each one runs, and prints the report
// (and writes it with -out). See package bench.
package main

import (
	"os"

	"github.com/gatehouse/gatehouse/bench"
)

func main() {
	os.Exit(bench.Main(os.Args[1:], os.Stdout, os.Stderr))
}
