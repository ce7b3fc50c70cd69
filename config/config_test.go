package config_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/config"
)

// base is a valid environment; each case changes it.
func base() map[string]string {
	return map[string]string{
		"DB_HOST":              "db.internal",
		"DB_NAME":              "gatehouse",
		"DB_APP_USER":          "gatehouse_app",
		"DB_APP_PASSWORD":      "app-secret-value",
		"DB_MIGRATOR_USER":     "gatehouse_migrator",
		"DB_MIGRATOR_PASSWORD": "migrator-secret-value",
		"FROM_EMAIL":           "Gatehouse <no-reply@example.com>",
		"RESEND_API_KEY":       "re_secret_key_value",
		"APP_BASE_URL":         "https://app.example.com",
		"AWS_REGION":           "eu-west-1",
		"S3_BUCKET":            "gatehouse-uploads",
	}
}

func load(env map[string]string) (*config.Result, error) {
	return config.Load(func(k string) string { return env[k] })
}

func with(changes map[string]string) map[string]string {
	env := base()
	for k, v := range changes {
		if v == "<unset>" {
			delete(env, k)
			continue
		}
		env[k] = v
	}
	return env
}

func problems(t *testing.T, err error) []config.Problem {
	t.Helper()
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got error %v (%T), want *config.ValidationError", err, err)
	}
	return ve.Problems
}

func TestLoadRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		env     map[string]string
		wantVar string
		wantMsg string
	}{
		{"legacy DB_USER is refused and names its replacements", with(map[string]string{"DB_USER": "x"}), "DB_USER", "DB_APP_USER and DB_MIGRATOR_USER"},
		{"legacy DB_PASSWORD is refused and names its replacements", with(map[string]string{"DB_PASSWORD": "x"}), "DB_PASSWORD", "DB_APP_PASSWORD and DB_MIGRATOR_PASSWORD"},
		{"app user is required", with(map[string]string{"DB_APP_USER": "<unset>"}), "DB_APP_USER", "required"},
		{"app password is required", with(map[string]string{"DB_APP_PASSWORD": "<unset>"}), "DB_APP_PASSWORD", "required"},
		{"migrator user is required", with(map[string]string{"DB_MIGRATOR_USER": "<unset>"}), "DB_MIGRATOR_USER", "required"},
		{"migrator password is required", with(map[string]string{"DB_MIGRATOR_PASSWORD": "<unset>"}), "DB_MIGRATOR_PASSWORD", "required"},
		{"app and migrator must be different roles", with(map[string]string{"DB_APP_USER": "gatehouse_migrator"}), "DB_APP_USER", "must differ"},
		{"host is required", with(map[string]string{"DB_HOST": "<unset>"}), "DB_HOST", "required"},
		{"database name is required", with(map[string]string{"DB_NAME": "<unset>"}), "DB_NAME", "required"},
		{"port must be a port", with(map[string]string{"DB_PORT": "70000"}), "DB_PORT", "port number"},
		{"sslmode disable is refused", with(map[string]string{"DB_SSLMODE": "disable"}), "DB_SSLMODE", "unencrypted"},
		{"sslmode allow is refused", with(map[string]string{"DB_SSLMODE": "allow"}), "DB_SSLMODE", "unencrypted"},
		{"sslmode prefer is refused", with(map[string]string{"DB_SSLMODE": "prefer"}), "DB_SSLMODE", "unencrypted"},
		{"unknown sslmode is refused", with(map[string]string{"DB_SSLMODE": "yes-please"}), "DB_SSLMODE", "not a valid mode"},
		{"verify-ca needs a root certificate", with(map[string]string{"DB_SSLMODE": "verify-ca"}), "DB_SSLROOTCERT", "verify-ca"},
		{"unknown email provider lists the valid ones", with(map[string]string{"EMAIL_PROVIDER": "mailgun"}), "EMAIL_PROVIDER", "resend (the default), ses or gmail"},
		{"resend needs FROM_EMAIL", with(map[string]string{"FROM_EMAIL": "<unset>"}), "FROM_EMAIL", "required when EMAIL_PROVIDER is resend"},
		{"resend needs RESEND_API_KEY", with(map[string]string{"RESEND_API_KEY": "<unset>"}), "RESEND_API_KEY", "required"},
		{"resend is the default provider and so needs its key", with(map[string]string{"EMAIL_PROVIDER": "<unset>", "RESEND_API_KEY": "<unset>"}), "RESEND_API_KEY", "required"},
		{"ses needs FROM_EMAIL", with(map[string]string{"EMAIL_PROVIDER": "ses", "AWS_REGION": "eu-west-1", "FROM_EMAIL": "<unset>"}), "FROM_EMAIL", "required when EMAIL_PROVIDER is ses"},
		{"AWS_REGION is required: events are always published to EventBridge", with(map[string]string{"AWS_REGION": "<unset>"}), "AWS_REGION", "EventBridge"},
		{"ses needs AWS_REGION too", with(map[string]string{"EMAIL_PROVIDER": "ses", "AWS_REGION": "<unset>"}), "AWS_REGION", "required"},
		{"the dispatcher switch is a boolean", with(map[string]string{"OUTBOX_DISPATCHER_ENABLED": "sometimes"}), "OUTBOX_DISPATCHER_ENABLED", "true or false"},
		{"a lease must outlast a delivery attempt", with(map[string]string{"OUTBOX_LEASE": "30s"}), "OUTBOX_LEASE", "at least 2m0s"},
		{"the longest retry wait is at least the first", with(map[string]string{"OUTBOX_RETRY_BASE": "1m", "OUTBOX_RETRY_MAX": "30s"}), "OUTBOX_RETRY_MAX", "OUTBOX_RETRY_BASE"},
		{"the batch size is bounded", with(map[string]string{"OUTBOX_BATCH_SIZE": "0"}), "OUTBOX_BATCH_SIZE", "between 1 and 1000"},
		{"max attempts is at least one", with(map[string]string{"OUTBOX_MAX_ATTEMPTS": "0"}), "OUTBOX_MAX_ATTEMPTS", "between 1 and 100"},
		{"WORKER_METRICS_ADDR is host:port", with(map[string]string{"WORKER_METRICS_ADDR": "9090"}), "WORKER_METRICS_ADDR", "HOST:PORT"},
		{"FROM_EMAIL must be an address", with(map[string]string{"FROM_EMAIL": "not-an-address"}), "FROM_EMAIL", "email address"},
		{"gmail needs the account", with(map[string]string{"EMAIL_PROVIDER": "gmail", "GMAIL_APP_PASSWORD": "pw"}), "GMAIL_USERNAME", "required"},
		{"gmail needs the app password", with(map[string]string{"EMAIL_PROVIDER": "gmail", "GMAIL_USERNAME": "me@gmail.com"}), "GMAIL_APP_PASSWORD", "required"},
		{"the smtp alias has gmail's requirements", with(map[string]string{"EMAIL_PROVIDER": "smtp", "GMAIL_USERNAME": "me@gmail.com"}), "GMAIL_APP_PASSWORD", "required"},
		{"APP_BASE_URL is required", with(map[string]string{"APP_BASE_URL": "<unset>"}), "APP_BASE_URL", "required"},
		{"APP_BASE_URL must be absolute", with(map[string]string{"APP_BASE_URL": "app.example.com"}), "APP_BASE_URL", "absolute"},
		{"CORS origins are exact", with(map[string]string{"CORS_ALLOWED_ORIGINS": "https://*.example.com/app"}), "CORS_ALLOWED_ORIGINS", "exact origin"},
		{"trusted proxies are IPs or CIDRs", with(map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}), "TRUSTED_PROXIES", "proxy.local"},
		{"durations are checked", with(map[string]string{"HTTP_REQUEST_TIMEOUT": "soon"}), "HTTP_REQUEST_TIMEOUT", "duration"},
		{"HTTP_ADDR is host:port", with(map[string]string{"HTTP_ADDR": "8080"}), "HTTP_ADDR", "HOST:PORT"},
		{"the upload bucket is required", with(map[string]string{"S3_BUCKET": "<unset>"}), "S3_BUCKET", "required"},
		{"S3_ENDPOINT must be a URL", with(map[string]string{"S3_ENDPOINT": "minio:9000"}), "S3_ENDPOINT", "absolute"},
		{"upload prefixes end in a slash", with(map[string]string{"UPLOAD_QUARANTINE_PREFIX": "incoming"}), "UPLOAD_QUARANTINE_PREFIX", "ending in /"},
		{"the accepted area never overlaps the quarantine", with(map[string]string{"UPLOAD_ACCEPTED_PREFIX": "quarantine/ok/"}), "UPLOAD_ACCEPTED_PREFIX", "overlap"},
		{"presigned URLs live at most a week", with(map[string]string{"UPLOAD_GET_URL_TTL": "200h"}), "UPLOAD_PUT_URL_TTL", "7 days"},
		{"the scan give-up time follows the stale time", with(map[string]string{"UPLOAD_SCAN_GIVE_UP_AFTER": "10m"}), "UPLOAD_SCAN_GIVE_UP_AFTER", "longer"},
		{"log level is one of the known ones", with(map[string]string{"LOG_LEVEL": "chatty"}), "LOG_LEVEL", "debug, info, warn, error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := load(tc.env)
			if err == nil {
				t.Fatalf("got config %+v, want an error about %s", res.Config, tc.wantVar)
			}
			var found bool
			for _, p := range problems(t, err) {
				if p.Var == tc.wantVar && strings.Contains(p.Msg, tc.wantMsg) {
					found = true
				}
			}
			if !found {
				t.Fatalf("got %v, want a problem on %s containing %q", err, tc.wantVar, tc.wantMsg)
			}
		})
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := load(map[string]string{"DB_SSLMODE": "disable", "DB_USER": "legacy", "EMAIL_PROVIDER": "pigeon"})
	got := map[string]bool{}
	for _, p := range problems(t, err) {
		got[p.Var] = true
	}
	for _, want := range []string{"DB_USER", "DB_HOST", "DB_NAME", "DB_SSLMODE", "DB_APP_USER", "DB_APP_PASSWORD", "DB_MIGRATOR_USER", "DB_MIGRATOR_PASSWORD", "EMAIL_PROVIDER", "APP_BASE_URL"} {
		if !got[want] {
			t.Errorf("no problem reported for %s; got %v", want, err)
		}
	}
}

func TestLoadNeverEchoesSecrets(t *testing.T) {
	t.Parallel()
	env := with(map[string]string{
		"DB_SSLMODE":         "disable",
		"EMAIL_PROVIDER":     "gmail",
		"GMAIL_USERNAME":     "not an address",
		"GMAIL_APP_PASSWORD": "gmail-secret-value",
	})
	_, err := load(env)
	if err == nil {
		t.Fatal("got nil error, want problems")
	}
	valid, verr := load(base())
	if verr != nil {
		t.Fatal(verr)
	}
	rendered := []string{err.Error(), fmt.Sprintf("%v %+v %#v", valid.Config, valid.Config, valid.Config)}
	for _, v := range valid.Vars {
		rendered = append(rendered, v.Value)
	}
	for _, secret := range []string{"app-secret-value", "migrator-secret-value", "re_secret_key_value", "gmail-secret-value"} {
		for _, s := range rendered {
			if strings.Contains(s, secret) {
				t.Errorf("output contains secret %q: %s", secret, s)
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	res, err := load(base())
	if err != nil {
		t.Fatal(err)
	}
	c := res.Config
	checks := []struct {
		name      string
		got, want any
	}{
		{"DB_SSLMODE defaults to require", c.DB.SSLMode, "require"},
		{"DB_PORT defaults to 5432", c.DB.Port, 5432},
		{"EMAIL_PROVIDER defaults to resend", c.Email.Provider, config.ProviderResend},
		{"HTTP_ADDR defaults to :8080", c.HTTP.Addr, ":8080"},
		{"Gmail SMTP defaults to the real service", c.Email.GmailSMTPAddr, "smtp.gmail.com:587"},
		{"Resend API defaults to the real service", c.Email.ResendBaseURL, "https://api.resend.com/"},
		{"APP_BASE_URL loses its trailing slash", c.App.BaseURL, "https://app.example.com"},
		{"the dispatcher runs inside serve by default", c.Outbox.DispatcherEnabled, true},
		{"events go to the default bus", c.Events.BusName, "default"},
		{"events come from gatehouse", c.Events.Source, "gatehouse"},
		{"a claim holds its rows for 5 minutes", c.Outbox.Lease, 5 * time.Minute},
		{"a message gets 12 attempts", c.Outbox.MaxAttempts, 12},
		{"the worker serves metrics on :9090", c.Worker.MetricsAddr, ":9090"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestSMTPIsALegacyAliasOfGmail(t *testing.T) {
	t.Parallel()
	res, err := load(with(map[string]string{"EMAIL_PROVIDER": "smtp", "GMAIL_USERNAME": "me@gmail.com", "GMAIL_APP_PASSWORD": "pw", "RESEND_API_KEY": "<unset>"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Config.Email.Provider; got != config.ProviderGmail {
		t.Fatalf("got provider %q, want %q", got, config.ProviderGmail)
	}
}

func TestGmailWarnsThatFromEmailIsIgnored(t *testing.T) {
	t.Parallel()
	res, err := load(with(map[string]string{"EMAIL_PROVIDER": "gmail", "GMAIL_USERNAME": "me@gmail.com", "GMAIL_APP_PASSWORD": "pw"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || res.Warnings[0].Var != "FROM_EMAIL" {
		t.Fatalf("got warnings %v, want one about FROM_EMAIL", res.Warnings)
	}
	res, err = load(with(map[string]string{"EMAIL_PROVIDER": "gmail", "GMAIL_USERNAME": "me@gmail.com", "GMAIL_APP_PASSWORD": "pw", "FROM_EMAIL": "<unset>"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Fatalf("got warnings %v, want none when FROM_EMAIL is unset", res.Warnings)
	}
}

func TestStricterSSLModesAreAllowed(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{
		with(map[string]string{"DB_SSLMODE": "verify-full"}),
		with(map[string]string{"DB_SSLMODE": "verify-ca", "DB_SSLROOTCERT": "/etc/ssl/db-ca.pem"}),
	} {
		res, err := load(env)
		if err != nil {
			t.Fatalf("%s: %v", env["DB_SSLMODE"], err)
		}
		u, err := url.Parse(res.Config.DB.DatabaseURL())
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Query().Get("sslmode"); got != env["DB_SSLMODE"] {
			t.Errorf("got sslmode %q, want %q", got, env["DB_SSLMODE"])
		}
		if got := u.Query().Get("sslrootcert"); got != env["DB_SSLROOTCERT"] {
			t.Errorf("got sslrootcert %q, want %q", got, env["DB_SSLROOTCERT"])
		}
	}
}

func TestTwoDiscreteURLsWithEscaping(t *testing.T) {
	t.Parallel()
	const appPW, migPW = "p@ss:w/rd#%?", "m:ig/r@tor% &="
	res, err := load(with(map[string]string{
		"DB_HOST": "::1", "DB_PORT": "6543",
		"DB_APP_USER": "app@tenant", "DB_APP_PASSWORD": appPW,
		"DB_MIGRATOR_PASSWORD": migPW,
	}))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, raw, user, password string
	}{
		{"DatabaseURL is the app role's", res.Config.DB.DatabaseURL(), "app@tenant", appPW},
		{"MigrationsDatabaseURL is the migrator's", res.Config.DB.MigrationsDatabaseURL(), "gatehouse_migrator", migPW},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(tc.raw)
			if err != nil {
				t.Fatalf("URL does not parse: %v", err)
			}
			pw, _ := u.User.Password()
			if u.User.Username() != tc.user || pw != tc.password {
				t.Errorf("got user %q password %q, want %q %q", u.User.Username(), pw, tc.user, tc.password)
			}
			if u.Hostname() != "::1" || u.Port() != "6543" || u.Path != "/gatehouse" {
				t.Errorf("got host %q port %q path %q", u.Hostname(), u.Port(), u.Path)
			}
			if got := u.Query().Get("sslmode"); got != "require" {
				t.Errorf("got sslmode %q, want require", got)
			}
			if got := u.Query().Get("search_path"); got != config.SchemaName {
				t.Errorf("got search_path %q, want %q", got, config.SchemaName)
			}
		})
	}
}

func TestSecretNeverFormats(t *testing.T) {
	t.Parallel()
	s := config.Secret("hunter2")
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %q %#v %+v", s, s, s, s, s)} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("got %q, which reveals the secret", out)
		}
	}
	if s.Reveal() != "hunter2" {
		t.Errorf("got %q from Reveal, want the value", s.Reveal())
	}
}
