//go:build unix

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/adapters/console"
	"github.com/gatehouse/gatehouse/adapters/devstack"
	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgcluster"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
)

// Names of the development database and its roles (as in .env.example).
const (
	devDBName       = "gatehouse"
	devMigratorRole = "gatehouse_migrator"
	devAppRole      = "gatehouse_app"
	devFromEmail    = "gatehouse dev <no-reply@gatehouse.localhost>"
	// devNowhereURL is the discard port on loopback: nothing listens there.
	devNowhereURL = "http://127.0.0.1:9/"
	devAWSRegion  = "us-east-1"
)

// runDev is `gatehouse dev`: the system on this machine with nothing
// configured. It starts the devstack (the database and a local S3 server),
// which provides what production gets from elsewhere and returns the
// environment that describes it; from there on it is `gatehouse serve`: the
// same config.Load, schema check, HTTP API and outbox dispatcher, built by
// initDev with the console mailer and an event log in place of the mail
// provider and EventBridge. Around it run what AWS runs in production: a
// local scanner standing in for GuardDuty, which feeds its verdicts through
// the Lambda function's handler, and the reconciler every
// RECONCILE_INTERVAL. /dev/mail lists the mail (see devMailRoutes).
//
// It runs until ctx is cancelled (Ctrl-C), or until part of it stops by
// itself; then it stops the API, waits for the dispatcher, the scanner and
// the reconciler, and stops everything the stack started.
func runDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "`HOST:PORT` where the API listens (port 0 picks a free one)")
	data := fs.String("data", ".data", "`DIR` for the local state (the database cluster, its passwords), created on the first run and reused after")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{"dev takes no arguments; usage: gatehouse dev [--addr HOST:PORT] [--data DIR]"}
	}
	log := newLogger(stderr, getenv("LOG_LEVEL"))
	began := time.Now()

	stack, err := devstack.Start(ctx, devstack.Options{DataDir: *data, Components: devComponents()}, log)
	if err != nil {
		if ctx.Err() != nil {
			log.Info("interrupted while starting; everything started so far is stopped")
			return nil
		}
		return err
	}
	defer func() {
		if serr := stack.Stop(); serr != nil {
			err = errors.Join(err, serr)
		}
		log.Info("gatehouse dev stopped, and everything it started")
	}()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("the API cannot listen on %s (choose another address with --addr): %w", *addr, err)
	}
	defer ln.Close() // Run closes it too; a second Close is harmless
	apiURL := "http://" + displayAddr(ln.Addr().String())

	res, err := devConfig(stack.Env(), getenv, ln.Addr().String(), apiURL)
	if err != nil {
		return fmt.Errorf("gatehouse dev built an invalid configuration: %w", err)
	}
	for _, w := range res.Warnings {
		log.Warn("configuration", "variable", w.Var, "warning", w.Msg)
	}
	cfg := res.Config
	mailer := console.New(stdout, nil)
	dev, cleanup, err := initDev(ctx, cfg, log, devS3Creds, mailer, newDevEventLog(log))
	if err != nil {
		return err
	}
	defer cleanup()
	if err := dev.Schema.Check(ctx); err != nil {
		return fmt.Errorf("refusing to serve: %w", err)
	}
	devMailRoutes(dev.Server.Echo(), mailer, cfg.App.BaseURL == apiURL)

	var background sync.WaitGroup
	defer background.Wait() // after cancel, before cleanup closes the database
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	background.Go(func() {
		if err := dev.Dispatcher.Run(runCtx); err != nil {
			log.Error("outbox dispatcher stopped", "error", err.Error())
		}
	})
	scanner := newDevScanner(dev.Stores.Uploads, dev.Objects, newLambdaHandler(dev.Uploads, dev.Dispatcher, log).Invoke, log)
	background.Go(func() { _ = scanner.Run(runCtx) })
	background.Go(func() { devReconcile(runCtx, dev.Uploads, cfg.Uploads.ReconcileInterval, log) })
	go func() {
		select {
		case <-stack.Exited():
			cancel()
		case <-runCtx.Done():
		}
	}()

	printBanner(stdout, cfg, apiURL, stack, time.Since(began))
	log.Info("serving", "addr", ln.Addr().String(), "data", stack.DataDir(), "started_in", time.Since(began).Round(time.Millisecond).String())
	err = dev.Server.Run(runCtx, ln)
	cancel()
	select {
	case <-stack.Exited():
		err = errors.Join(err, errors.New("part of the local system stopped by itself (see the log above), so gatehouse dev stopped the rest"))
	default:
	}
	return err
}

// devReconcile runs a reconciler pass (app.Uploads.Reconcile, as the
// Lambda's scheduled tick does) every interval until ctx is done.
func devReconcile(ctx context.Context, uploads *app.Uploads, interval time.Duration, log *slog.Logger) {
	log = log.With("component", "reconciler")
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rep, err := uploads.Reconcile(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("reconciler pass failed in part; the next one tries again", "error", err.Error())
		case rep != app.ReconcileReport{}:
			log.Info("reconciler pass", "settled", rep.Settled, "waiting", rep.Waiting, "expired", rep.Expired)
		}
	}
}

// devComponents are what the devstack starts, in order.
func devComponents() []devstack.Component {
	return []devstack.Component{devPostgres{}, devS3{}}
}

// devConfig is the configuration dev serves with: config.Load, as in
// production, over the stack's variables and the API's address, plus
// whatever the caller's environment sets for the rest (LOG_LEVEL,
// CORS_ALLOWED_ORIGINS, APP_BASE_URL for a frontend of one's own…).
// APP_BASE_URL defaults to the API's own URL.
//
// The database, mail, AWS and S3 variables are dev's alone: whatever the
// environment says about them is ignored, so a shell set up for another
// deployment never points dev at that deployment's database, mail account,
// region or bucket (the S3 variables come from the stack's local S3).
// config.Load insists on a mail provider's settings, which dev does not use
// (initDev binds the console mailer); dev fills them with placeholders that
// lead nowhere: the Resend API "key" is not one, and its base URL is a
// loopback port where nothing listens, so even a send that should not
// happen could not leave this machine.
func devConfig(stackEnv map[string]string, getenv func(string) string, addr, apiURL string) (*config.Result, error) {
	fixed := maps.Clone(stackEnv)
	fixed["HTTP_ADDR"] = addr
	fixed["EMAIL_PROVIDER"] = config.ProviderResend
	fixed["FROM_EMAIL"] = devFromEmail
	fixed["RESEND_API_KEY"] = "placeholder-gatehouse-dev-sends-nothing"
	fixed["RESEND_BASE_URL"] = devNowhereURL
	fixed["AWS_REGION"] = devAWSRegion
	return config.Load(func(k string) string {
		if v, ok := fixed[k]; ok {
			return v
		}
		if devOwned(k) {
			return ""
		}
		v := getenv(k)
		if k == "APP_BASE_URL" && v == "" {
			return apiURL
		}
		return v
	})
}

// devOwned reports whether dev alone decides variable k.
func devOwned(k string) bool {
	switch k {
	case "HTTP_ADDR", "EMAIL_PROVIDER", "FROM_EMAIL", "SMTP_CA_FILE":
		return true
	}
	for _, prefix := range []string{"DB_", "RESEND_", "GMAIL_", "AWS_", "S3_"} {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// displayAddr turns a listener's address into one a browser can open:
// a wildcard host becomes localhost.
func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// printBanner tells the person at the terminal where everything is.
func printBanner(w io.Writer, cfg *config.Config, apiURL string, stack *devstack.Stack, took time.Duration) {
	fmt.Fprintf(w, "\ngatehouse dev is running (ready in %s). Ctrl-C stops everything it started.\n\n", took.Round(100*time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  API\t%s\n", apiURL)
	if cfg.HTTP.DocsEnabled {
		fmt.Fprintf(tw, "  API docs\t%s/docs\n", apiURL)
		fmt.Fprintf(tw, "  OpenAPI\t%s/openapi.json\n", apiURL)
	}
	fmt.Fprintf(tw, "  mail\t%s%s  (printed here too, never sent; JSON with Accept: application/json)\n", apiURL, devMailPath)
	fmt.Fprintf(tw, "  links in mail\t%s\n", cfg.App.BaseURL)
	fmt.Fprintf(tw, "  health\t%s/healthz  %s/readyz\n", apiURL, apiURL)
	fmt.Fprintf(tw, "  metrics\t%s/metrics\n", apiURL)
	fmt.Fprintf(tw, "  scanner\tlocal, standing in for GuardDuty: a file holding the EICAR test string is malware\n")
	fmt.Fprintf(tw, "  events\tlogged, sent nowhere\n")
	for _, l := range stack.Links() {
		fmt.Fprintf(tw, "  %s\t%s\n", l.Name, l.URL)
	}
	fmt.Fprintf(tw, "  data\t%s\n", stack.DataDir())
	tw.Flush()
	fmt.Fprintf(w, "\nTry it: README.md, \"Try it in five minutes\" (sign up, confirm from %s, upload, scan, download), starting with\n", devMailPath)
	fmt.Fprintf(w, "  API=%s\n\n", apiURL)
}

// devPostgres is the development database: a persistent private cluster
// (pgcluster) in the stack's postgres directory, with database gatehouse
// bootstrapped by schema/roles.sql on the first run and the schema brought
// up to date as the migrator on every run, so a checkout with new tables
// just works.
type devPostgres struct{}

// Name implements devstack.Component.
func (devPostgres) Name() string { return "postgres" }

// Start implements devstack.Component.
func (devPostgres) Start(ctx context.Context, dir string, log *slog.Logger) (_ *devstack.Running, err error) {
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Log: log})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()
	db, _, err := c.EnsureDatabase(ctx, devDBName, pgcluster.Roles{Migrator: devMigratorRole, App: devAppRole})
	if err != nil {
		return nil, err
	}
	m, err := postgres.OpenMigrator(ctx, db.MigrationsDatabaseURL())
	if err != nil {
		return nil, fmt.Errorf("connecting as the migrator: %w", err)
	}
	applied, err := m.Apply(ctx)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("applying schema/ as the migrator: %w", err)
	}
	for _, stmt := range applied {
		log.Debug("postgres: applied", "statement", stmt)
	}
	log.Info("postgres: schema up to date", "changes_applied", len(applied))
	return &devstack.Running{
		Env: map[string]string{
			"DB_HOST":              db.Host,
			"DB_PORT":              strconv.Itoa(db.Port),
			"DB_NAME":              db.Name,
			"DB_SSLMODE":           db.SSLMode,
			"DB_APP_USER":          db.AppUser,
			"DB_APP_PASSWORD":      db.AppPassword.Reveal(),
			"DB_MIGRATOR_USER":     db.MigratorUser,
			"DB_MIGRATOR_PASSWORD": db.MigratorPassword.Reveal(),
		},
		Links: []devstack.Link{
			{Name: "database", URL: redactURL(db.DatabaseURL())},
			{Name: "migrator", URL: redactURL(db.MigrationsDatabaseURL())},
			{Name: "passwords", URL: c.CredentialsFile()},
			{Name: "database log", URL: c.LogFile()},
		},
		Stop:   c.Stop,
		Exited: c.Exited(),
	}, nil
}
