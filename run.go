package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/gatehouse/gatehouse/config"
)

// usageError is a command line that could not be understood; it exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitCode maps an error from run to the process exit status: 2 for usage
// errors, 1 for everything else.
func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

const usage = `usage: gatehouse <command> [flags]

commands:
  serve            run the HTTP API (the database schema must be up to date), and the outbox
                   dispatcher unless OUTBOX_DISPATCHER_ENABLED=false
  worker           run the outbox dispatcher alone (any number of replicas), with /metrics
                   and /healthz on WORKER_METRICS_ADDR
  dev              run the whole system on this machine with nothing configured:
                   a private PostgreSQL under .data/ (schema applied), an in-process
                   S3 server, a local malware scanner standing in for GuardDuty, the
                   console mailer (also at /dev/mail), the API, dispatcher and reconciler
                   [--addr HOST:PORT (default 127.0.0.1:8080)] [--data DIR (default .data)]
  lambda           the AWS Lambda function: GuardDuty scan results and scheduler ticks (one
                   outbox sweep, one reconciler pass); chosen by itself when the binary is
                   started without arguments as a Lambda bootstrap (AWS_LAMBDA_RUNTIME_API set)
  migrate          apply schema/ to the database as the migrator role
  migrate --check  exit non-zero, listing the changes, if the database differs from schema/
  config check     validate the environment and print the effective configuration, secrets redacted
  help             show this text

Configuration comes from environment variables; see .env.example.
`

// run is the whole program behind main, with its dependencies passed in so
// tests can drive it: args without the program name, the environment lookup,
// and the standard output and error streams. It returns when the command is
// done or ctx is cancelled (SIGINT/SIGTERM in main).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 && getenv(lambdaRuntimeAPIEnv) != "" {
		// Lambda starts a custom runtime's bootstrap without arguments.
		args = []string{"lambda"}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{}
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stderr)
	case "worker":
		return runWorker(ctx, rest, getenv, stderr)
	case "lambda":
		return runLambda(ctx, rest, getenv, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "dev":
		return runDev(ctx, rest, getenv, stdout, stderr)
	case "config":
		if len(rest) != 1 || rest[0] != "check" {
			return usageError{"usage: gatehouse config check"}
		}
		return runConfigCheck(getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

// loadConfig reads the configuration and logs its warnings.
func loadConfig(getenv func(string) string, logger *slog.Logger) (*config.Config, error) {
	res, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	for _, w := range res.Warnings {
		logger.Warn("configuration", "variable", w.Var, "warning", w.Msg)
	}
	return res.Config, nil
}

// newLogger returns the JSON logger every command writes to stderr.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// runConfigCheck validates the environment and prints every variable's
// effective value, secrets redacted. It exits non-zero on any problem.
func runConfigCheck(getenv func(string) string, stdout io.Writer) error {
	res, err := config.Load(getenv)
	if err != nil {
		return err
	}
	width := 0
	for _, v := range res.Vars {
		width = max(width, len(v.Name))
	}
	for _, v := range res.Vars {
		origin := "default"
		if v.Set {
			origin = "set"
		}
		fmt.Fprintf(stdout, "%-*s = %-40s (%s)\n", width, v.Name, v.Value, origin)
	}
	fmt.Fprintf(stdout, "\ndatabase_url            = %s\nmigrations_database_url = %s\n",
		redactURL(res.Config.DB.DatabaseURL()), redactURL(res.Config.DB.MigrationsDatabaseURL()))
	for _, w := range res.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	fmt.Fprintln(stdout, "configuration OK")
	return nil
}

// redactURL hides the password in a connection URL.
func redactURL(raw string) string {
	at := strings.LastIndexByte(raw, '@')
	scheme := strings.Index(raw, "://")
	if at < 0 || scheme < 0 {
		return raw
	}
	userinfo := raw[scheme+3 : at]
	if i := strings.IndexByte(userinfo, ':'); i >= 0 {
		userinfo = userinfo[:i] + ":[redacted]"
	}
	return raw[:scheme+3] + userinfo + raw[at:]
}
