// Package config reads and validates gatehouse's environment. The variable
// names are a contract with operators (see .env.example, which a test keeps in
// step with this package): the database and email names come from the
// backend overview and never change; the rest are gatehouse's own.
//
// Load reports every problem at once, names the variable each is about and
// never echoes a secret's value. The package imports only the standard
// library so that any layer's composition may read it.
package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SchemaName is the PostgreSQL schema that holds gatehouse's tables. The
// migrator role owns it (schema/roles.sql) and both connection URLs select it
// through search_path.
const SchemaName = "gatehouse"

// Config is the whole effective configuration.
type Config struct {
	DB      DB
	HTTP    HTTP
	Email   Email
	AWS     AWS
	Events  Events
	Outbox  Outbox
	Worker  Worker
	Uploads Uploads
	App     App
	Log     Log
}

// DB is how to reach PostgreSQL, with the two credential sets the seed
// requires: the app role for runtime traffic (data only) and the migrator role
// for schema changes (the only one with DDL).
type DB struct {
	Host             string
	Port             int
	Name             string
	SSLMode          string // require (default), verify-ca or verify-full; nothing weaker
	SSLRootCert      string // CA file; required for verify-ca, optional for verify-full (system roots otherwise)
	AppUser          string
	AppPassword      Secret
	MigratorUser     string
	MigratorPassword Secret
	MaxConns         int
}

// DatabaseURL is the app role's connection URL (the seed's database_url).
func (d DB) DatabaseURL() string { return d.url(d.AppUser, d.AppPassword) }

// MigrationsDatabaseURL is the migrator role's connection URL (the seed's
// migrations_database_url).
func (d DB) MigrationsDatabaseURL() string { return d.url(d.MigratorUser, d.MigratorPassword) }

func (d DB) url(user string, password Secret) string {
	q := url.Values{}
	q.Set("sslmode", d.SSLMode)
	if d.SSLRootCert != "" {
		q.Set("sslrootcert", d.SSLRootCert)
	}
	q.Set("search_path", SchemaName)
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password.Reveal()),
		Host:     net.JoinHostPort(d.Host, strconv.Itoa(d.Port)),
		Path:     "/" + d.Name,
		RawQuery: q.Encode(),
	}
	return u.String()
}

// HTTP configures the API listener.
type HTTP struct {
	Addr            string
	RequestTimeout  time.Duration
	ShutdownTimeout time.Duration
	MaxBodyBytes    int64
	DocsEnabled     bool
	CORSOrigins     []string
	TrustedProxies  []*net.IPNet
}

// MinOutboxLease is the shortest OUTBOX_LEASE accepted: twice the longest
// delivery attempt (the dispatcher's attempt timeout, 45 s, rounded up).
const MinOutboxLease = 2 * time.Minute

// Email providers accepted in EMAIL_PROVIDER.
const (
	ProviderResend = "resend"
	ProviderSES    = "ses"
	ProviderGmail  = "gmail"
	// ProviderConsole prints messages instead of sending them. It is used by
	// `gatehouse dev` and cannot be chosen through EMAIL_PROVIDER, so a
	// production deployment never drops mail on the floor by accident.
	ProviderConsole = "console"
)

// Email configures how verification and notice emails leave.
type Email struct {
	Provider         string // resend, ses or gmail (smtp is read as gmail)
	From             string // FROM_EMAIL; used for resend and ses only
	ResendAPIKey     Secret
	ResendBaseURL    string
	GmailUsername    string
	GmailAppPassword Secret
	GmailSMTPAddr    string
	SMTPCAFile       string
}

// AWS configures every AWS client (SES, S3, EventBridge).
type AWS struct {
	// Region is required: domain events are always published (to
	// EventBridge), so every deployment talks to AWS in some region.
	Region string
}

// Events says where domain events are published: an EventBridge bus in
// AWS.Region, with this source on every event.
type Events struct {
	BusName string // name or ARN of the event bus
	Source  string
}

// Outbox tunes the dispatcher that delivers the outbox (mail and events).
type Outbox struct {
	// DispatcherEnabled runs the dispatcher inside `gatehouse serve`; with
	// false, only `gatehouse worker` (or the Lambda) delivers the outbox.
	DispatcherEnabled bool
	BatchSize         int           // rows per claim
	Concurrency       int           // mail sends in flight at once, per process
	PollInterval      time.Duration // wait before looking again when nothing was due
	Lease             time.Duration // how long a claim holds its rows
	MaxAttempts       int           // attempts before a message is parked as dead
	RetryBase         time.Duration // wait after the first failure; doubles each time
	RetryMax          time.Duration // longest wait between two attempts
}

// Uploads configures the bucket uploads go to and the rules they follow.
// The bucket must be versioned, with GuardDuty Malware Protection for S3
// protecting QuarantinePrefix (see docs/deployment.md).
type Uploads struct {
	Bucket string
	// S3Endpoint, when set, replaces AWS's S3 endpoint (an S3-compatible
	// server); S3UsePathStyle puts the bucket in the path, as most of them
	// need.
	S3Endpoint     string
	S3UsePathStyle bool
	// QuarantinePrefix is where clients PUT and GuardDuty scans;
	// AcceptedPrefix is where clean files are copied and served from.
	QuarantinePrefix string
	AcceptedPrefix   string
	MaxBytes         int64
	AllowedTypes     []string
	PutURLTTL        time.Duration // life of a presigned PUT
	GetURLTTL        time.Duration // life of a download link
	// ScanStaleAfter: the reconciler reads the scan tag of uploads scanning
	// for longer; ScanGiveUpAfter: with no tag by then they fail.
	ScanStaleAfter  time.Duration
	ScanGiveUpAfter time.Duration
	// PendingGrace: uploads never completed expire this long after their
	// PUT link did.
	PendingGrace time.Duration
	// ReconcileInterval is how often the worker runs a reconciler pass.
	ReconcileInterval time.Duration
}

// Worker configures `gatehouse worker`.
type Worker struct {
	// MetricsAddr is where the worker serves /metrics and /healthz.
	MetricsAddr string
}

// App holds settings about the product rather than the plumbing.
type App struct {
	// BaseURL is the frontend's address; links in emails point there.
	BaseURL string
}

// Log configures the JSON logs on stderr.
type Log struct {
	Level string // debug, info, warn or error
}

// Problem is one thing wrong with the environment.
type Problem struct {
	Var string
	Msg string
}

func (p Problem) String() string { return p.Var + ": " + p.Msg }

// ValidationError lists every problem found, so an operator fixes them all in
// one go. Messages never contain a secret's value.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, 0, len(e.Problems)+1)
	lines = append(lines, fmt.Sprintf("invalid configuration (%d problems):", len(e.Problems)))
	for _, p := range e.Problems {
		lines = append(lines, "  "+p.String())
	}
	return strings.Join(lines, "\n")
}

// Result is what Load found: the configuration and any warnings about
// settings that are accepted but ignored or unwise.
type Result struct {
	Config   *Config
	Warnings []Problem
	// Vars lists every variable read, in order, with its effective value
	// (secrets redacted).
	Vars []Var
}

// Load reads the configuration through getenv (os.Getenv in production) and
// validates it. On any problem it returns a *ValidationError listing all of
// them.
func Load(getenv func(string) string) (*Result, error) {
	r := reader{getenv: getenv}
	c := &Config{}

	for _, legacy := range []struct{ name, replacement string }{
		{"DB_USER", "DB_APP_USER and DB_MIGRATOR_USER"},
		{"DB_PASSWORD", "DB_APP_PASSWORD and DB_MIGRATOR_PASSWORD"},
	} {
		if getenv(legacy.name) != "" {
			r.fail(legacy.name, "is no longer supported: set "+legacy.replacement+" instead (both credential sets are required; neither falls back to the other)")
		}
	}

	c.DB = DB{
		Host:             r.required("DB_HOST"),
		Port:             r.port("DB_PORT", 5432),
		Name:             r.required("DB_NAME"),
		SSLMode:          r.str("DB_SSLMODE", "require"),
		SSLRootCert:      r.str("DB_SSLROOTCERT", ""),
		AppUser:          r.required("DB_APP_USER"),
		AppPassword:      r.secret("DB_APP_PASSWORD", true),
		MigratorUser:     r.required("DB_MIGRATOR_USER"),
		MigratorPassword: r.secret("DB_MIGRATOR_PASSWORD", true),
		MaxConns:         r.intRange("DB_MAX_CONNS", 10, 1, 1000),
	}
	switch c.DB.SSLMode {
	case "require", "verify-full":
	case "verify-ca":
		if c.DB.SSLRootCert == "" {
			r.fail("DB_SSLROOTCERT", "is required when DB_SSLMODE is verify-ca")
		}
	case "disable", "allow", "prefer":
		r.fail("DB_SSLMODE", fmt.Sprintf("%q would allow an unencrypted connection; use require (the default), verify-ca or verify-full", c.DB.SSLMode))
	default:
		r.fail("DB_SSLMODE", fmt.Sprintf("%q is not a valid mode; use require (the default), verify-ca or verify-full", c.DB.SSLMode))
	}
	if c.DB.AppUser != "" && c.DB.AppUser == c.DB.MigratorUser {
		r.fail("DB_APP_USER", "must differ from DB_MIGRATOR_USER: the app role must not hold DDL privileges")
	}

	c.HTTP = HTTP{
		Addr:            r.str("HTTP_ADDR", ":8080"),
		RequestTimeout:  r.duration("HTTP_REQUEST_TIMEOUT", 30*time.Second),
		ShutdownTimeout: r.duration("HTTP_SHUTDOWN_TIMEOUT", 20*time.Second),
		MaxBodyBytes:    int64(r.intRange("HTTP_MAX_BODY_BYTES", 1<<20, 1024, 64<<20)),
		DocsEnabled:     r.boolean("API_DOCS_ENABLED", true),
		CORSOrigins:     r.origins("CORS_ALLOWED_ORIGINS"),
		TrustedProxies:  r.cidrs("TRUSTED_PROXIES"),
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		r.fail("HTTP_ADDR", fmt.Sprintf("%q is not HOST:PORT (e.g. :8080)", c.HTTP.Addr))
	}

	c.AWS = AWS{Region: r.str("AWS_REGION", "")}
	if c.AWS.Region == "" {
		r.fail("AWS_REGION", "is required: domain events are published to EventBridge in this region (SES, when chosen, and S3 use it too)")
	}
	c.Events = Events{
		BusName: r.str("EVENT_BUS_NAME", "default"),
		Source:  r.str("EVENT_SOURCE", "gatehouse"),
	}
	c.Outbox = Outbox{
		DispatcherEnabled: r.boolean("OUTBOX_DISPATCHER_ENABLED", true),
		BatchSize:         r.intRange("OUTBOX_BATCH_SIZE", 100, 1, 1000),
		Concurrency:       r.intRange("OUTBOX_CONCURRENCY", 4, 1, 64),
		PollInterval:      r.duration("OUTBOX_POLL_INTERVAL", time.Second),
		Lease:             r.duration("OUTBOX_LEASE", 5*time.Minute),
		MaxAttempts:       r.intRange("OUTBOX_MAX_ATTEMPTS", 12, 1, 100),
		RetryBase:         r.duration("OUTBOX_RETRY_BASE", 5*time.Second),
		RetryMax:          r.duration("OUTBOX_RETRY_MAX", time.Hour),
	}
	if c.Outbox.Lease < MinOutboxLease {
		r.fail("OUTBOX_LEASE", fmt.Sprintf("must be at least %s: a claim must outlast a delivery attempt (at most 45s) with room to spare", MinOutboxLease))
	}
	if c.Outbox.RetryMax < c.Outbox.RetryBase {
		r.fail("OUTBOX_RETRY_MAX", "must be at least OUTBOX_RETRY_BASE")
	}
	c.Worker = Worker{MetricsAddr: r.str("WORKER_METRICS_ADDR", ":9090")}
	if _, _, err := net.SplitHostPort(c.Worker.MetricsAddr); err != nil {
		r.fail("WORKER_METRICS_ADDR", fmt.Sprintf("%q is not HOST:PORT (e.g. :9090)", c.Worker.MetricsAddr))
	}
	c.Uploads = loadUploads(&r)
	c.App = App{BaseURL: r.baseURL("APP_BASE_URL")}
	c.Log = Log{Level: r.oneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error")}

	warnings := loadEmail(&r, c)

	if len(r.problems) > 0 {
		return nil, &ValidationError{Problems: r.problems}
	}
	return &Result{Config: c, Warnings: warnings, Vars: r.vars}, nil
}

func loadEmail(r *reader, c *Config) (warnings []Problem) {
	provider := strings.ToLower(r.str("EMAIL_PROVIDER", ProviderResend))
	switch provider {
	case "":
		provider = ProviderResend
	case "smtp": // legacy alias from the backend overview
		provider = ProviderGmail
	case ProviderResend, ProviderSES, ProviderGmail:
	default:
		r.fail("EMAIL_PROVIDER", fmt.Sprintf("%q is not supported; use resend (the default), ses or gmail (smtp is accepted as an alias of gmail)", provider))
	}
	e := Email{
		Provider:         provider,
		From:             r.str("FROM_EMAIL", ""),
		ResendAPIKey:     r.secret("RESEND_API_KEY", false),
		ResendBaseURL:    r.str("RESEND_BASE_URL", "https://api.resend.com/"),
		GmailUsername:    r.str("GMAIL_USERNAME", ""),
		GmailAppPassword: r.secret("GMAIL_APP_PASSWORD", false),
		GmailSMTPAddr:    r.str("GMAIL_SMTP_ADDR", "smtp.gmail.com:587"),
		SMTPCAFile:       r.str("SMTP_CA_FILE", ""),
	}
	needFrom := func() {
		if e.From == "" {
			r.fail("FROM_EMAIL", "is required when EMAIL_PROVIDER is "+provider)
		} else if !looksLikeAddress(e.From) {
			r.fail("FROM_EMAIL", "must be an email address, optionally with a display name (Name <addr@example.com>)")
		}
	}
	switch provider {
	case ProviderResend:
		needFrom()
		if e.ResendAPIKey == "" {
			r.fail("RESEND_API_KEY", "is required when EMAIL_PROVIDER is resend")
		}
		if u, err := url.Parse(e.ResendBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			r.fail("RESEND_BASE_URL", "must be an absolute http(s) URL")
		}
	case ProviderSES:
		needFrom() // AWS_REGION is required for every provider (see Load)
	case ProviderGmail:
		if e.GmailUsername == "" {
			r.fail("GMAIL_USERNAME", "is required when EMAIL_PROVIDER is gmail (the Gmail account that sends the mail)")
		} else if !looksLikeAddress(e.GmailUsername) {
			r.fail("GMAIL_USERNAME", "must be the Gmail account's email address")
		}
		if e.GmailAppPassword == "" {
			r.fail("GMAIL_APP_PASSWORD", "is required when EMAIL_PROVIDER is gmail (an app password of that account)")
		}
		if _, _, err := net.SplitHostPort(e.GmailSMTPAddr); err != nil {
			r.fail("GMAIL_SMTP_ADDR", fmt.Sprintf("%q is not HOST:PORT", e.GmailSMTPAddr))
		}
		if e.From != "" {
			warnings = append(warnings, Problem{"FROM_EMAIL", "is ignored when EMAIL_PROVIDER is gmail: the Gmail account (GMAIL_USERNAME) is the sender"})
		}
	}
	c.Email = e
	return warnings
}

// looksLikeAddress accepts "a@b.c" and "Name <a@b.c>". Providers do the full
// check; this catches typos at start-up.
func looksLikeAddress(s string) bool {
	if i := strings.LastIndexByte(s, '<'); i >= 0 && strings.HasSuffix(s, ">") {
		s = s[i+1 : len(s)-1]
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n<>") && strings.Contains(s[at+1:], ".")
}

func loadUploads(r *reader) Uploads {
	u := Uploads{
		Bucket:            r.required("S3_BUCKET"),
		S3Endpoint:        r.str("S3_ENDPOINT", ""),
		S3UsePathStyle:    r.boolean("S3_USE_PATH_STYLE", false),
		QuarantinePrefix:  r.str("UPLOAD_QUARANTINE_PREFIX", "quarantine/"),
		AcceptedPrefix:    r.str("UPLOAD_ACCEPTED_PREFIX", "accepted/"),
		MaxBytes:          int64(r.intRange("UPLOAD_MAX_BYTES", 25<<20, 1, 5<<30)),
		AllowedTypes:      r.list("UPLOAD_ALLOWED_TYPES"),
		PutURLTTL:         r.duration("UPLOAD_PUT_URL_TTL", 15*time.Minute),
		GetURLTTL:         r.duration("UPLOAD_GET_URL_TTL", 5*time.Minute),
		ScanStaleAfter:    r.duration("UPLOAD_SCAN_STALE_AFTER", 15*time.Minute),
		ScanGiveUpAfter:   r.duration("UPLOAD_SCAN_GIVE_UP_AFTER", 25*time.Hour),
		PendingGrace:      r.duration("UPLOAD_PENDING_GRACE", time.Hour),
		ReconcileInterval: r.duration("RECONCILE_INTERVAL", time.Minute),
	}
	if len(u.AllowedTypes) == 0 {
		u.AllowedTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}
		r.showDefault("UPLOAD_ALLOWED_TYPES", strings.Join(u.AllowedTypes, ","))
	}
	if u.S3Endpoint != "" {
		if e, err := url.Parse(u.S3Endpoint); err != nil || (e.Scheme != "https" && e.Scheme != "http") || e.Host == "" {
			r.fail("S3_ENDPOINT", fmt.Sprintf("%q is not an absolute http(s) URL", u.S3Endpoint))
		}
	}
	prefixOK := func(p string) bool { return len(p) > 1 && strings.HasSuffix(p, "/") && !strings.HasPrefix(p, "/") }
	for name, p := range map[string]string{"UPLOAD_QUARANTINE_PREFIX": u.QuarantinePrefix, "UPLOAD_ACCEPTED_PREFIX": u.AcceptedPrefix} {
		if !prefixOK(p) {
			r.fail(name, fmt.Sprintf("%q must be a key prefix ending in / (and not starting with one)", p))
		}
	}
	if strings.HasPrefix(u.QuarantinePrefix, u.AcceptedPrefix) || strings.HasPrefix(u.AcceptedPrefix, u.QuarantinePrefix) {
		r.fail("UPLOAD_ACCEPTED_PREFIX", "must not overlap UPLOAD_QUARANTINE_PREFIX: clients can write to the quarantine area and must never write where downloads are served from")
	}
	if u.PutURLTTL > 7*24*time.Hour || u.GetURLTTL > 7*24*time.Hour {
		r.fail("UPLOAD_PUT_URL_TTL", "presigned URLs live at most 7 days (S3's limit)")
	}
	if u.ScanGiveUpAfter <= u.ScanStaleAfter {
		r.fail("UPLOAD_SCAN_GIVE_UP_AFTER", "must be longer than UPLOAD_SCAN_STALE_AFTER")
	}
	return u
}
