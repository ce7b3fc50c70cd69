package gmail_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/adapters/gmail"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

const (
	testUser     = "gatehouse.sender@gmail.com"
	testPassword = "abcdefghijklmnop"
)

func emailConfig(addr, caFile string) config.Email {
	return config.Email{
		Provider:         config.ProviderGmail,
		GmailUsername:    testUser,
		GmailAppPassword: testPassword,
		GmailSMTPAddr:    addr,
		SMTPCAFile:       caFile,
	}
}

func newMailer(t *testing.T, cfg config.Email, opts ...gmail.Option) *gmail.Mailer {
	t.Helper()
	m, err := gmail.New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: got error %v, want nil", err)
	}
	return m
}

func sample(id string) domain.MailMessage {
	return domain.MailMessage{
		ID:      id,
		To:      "ada@example.com",
		Subject: "Verify your email address",
		Text:    "Open https://app.example.com/verify#t=secret-token to verify.",
		HTML:    `<a href="https://app.example.com/verify#t=secret-token">Verify</a>`,
	}
}

func TestMailerContract(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	porttest.RunMailer(t, func(t *testing.T) (ports.Mailer, func() []domain.MailMessage) {
		s := newSMTPStandIn(t, testUser, testPassword, standInOptions{cert: &pki.server})
		m := newMailer(t, emailConfig(s.addr, pki.caFile))
		return m, func() []domain.MailMessage { return s.Delivered(t) }
	})
}

func TestSendUsesSTARTTLSThenAuthThenSubmits(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	s := newSMTPStandIn(t, testUser, testPassword, standInOptions{cert: &pki.server})
	cfg := emailConfig(s.addr, pki.caFile)
	cfg.GmailAppPassword = "abcd efgh ijkl mnop" // as Google displays it
	msg := sample("0190b7e2-7c1a-7d4e-9a51-3f0c2b8d9e10")
	if err := newMailer(t, cfg).Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: got error %v, want nil", err)
	}

	wantAuths := []authAttempt{{Mechanism: "PLAIN", OverTLS: true, Username: testUser, Password: testPassword}}
	if d := cmp.Diff(wantAuths, s.Auths()); d != "" {
		t.Errorf("AUTH attempts differ (-want +got):\n%s", d)
	}
	acc := s.Accepted()
	if len(acc) != 1 {
		t.Fatalf("accepted %d messages, want 1", len(acc))
	}
	env := acc[0]
	if d := cmp.Diff(envelope{From: testUser, To: []string{msg.To}, OverTLS: true, Authed: true}, env, cmpIgnoreRaw); d != "" {
		t.Errorf("envelope differs (-want +got):\n%s", d)
	}
	headers := map[string]string{
		"From: <" + testUser + ">":                    "the Gmail account as sender",
		"Message-ID: <" + msg.ID + "@gmail.com>":      "a Message-ID from the message ID and the account's domain",
		"Content-Type: multipart/alternative":         "a text and an HTML alternative",
		"X-Entity-Ref-ID: " + msg.ID:                  "the message ID",
		"Subject: Verify your email address\r\n":      "the subject",
		"To: <ada@example.com>\r\n":                   "the recipient",
		"Content-Type: text/plain; charset=UTF-8":     "a UTF-8 text part",
		"Content-Type: text/html; charset=UTF-8":      "a UTF-8 HTML part",
		"Content-Transfer-Encoding: quoted-printable": "7-bit safe bodies",
	}
	for h, why := range headers {
		if !strings.Contains(env.Raw, h) {
			t.Errorf("message lacks %q (%s):\n%s", h, why, env.Raw)
		}
	}
}

var cmpIgnoreRaw = cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Raw" }, cmp.Ignore())

// A retry produces the same Message-ID, so the recipient's side can tell.
func TestRetriesKeepTheMessageID(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	s := newSMTPStandIn(t, testUser, testPassword, standInOptions{cert: &pki.server})
	m := newMailer(t, emailConfig(s.addr, pki.caFile))
	for range 2 {
		if err := m.Send(context.Background(), sample("outbox-42")); err != nil {
			t.Fatalf("Send: got error %v, want nil", err)
		}
	}
	got := s.Delivered(t)
	if len(got) != 2 || got[0].ID != "outbox-42" || got[1].ID != "outbox-42" {
		t.Errorf("delivered %+v, want two copies with ID outbox-42", got)
	}
}

// TLS is never optional: no credential or message reaches a server that
// cannot prove who it is over an encrypted connection.
func TestTLSIsMandatory(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	otherPKI := newTestPKI(t)
	cases := []struct {
		name   string
		server standInOptions
		caFile string
	}{
		{"a server without STARTTLS is refused even when it offers AUTH in clear text", standInOptions{insecure: true}, pki.caFile},
		{"a certificate from an untrusted CA is refused", standInOptions{cert: &pki.server}, otherPKI.caFile},
		{"a private CA is not trusted without SMTP_CA_FILE", standInOptions{cert: &pki.server}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSMTPStandIn(t, testUser, testPassword, tc.server)
			err := newMailer(t, emailConfig(s.addr, tc.caFile)).Send(context.Background(), sample("m1"))
			if got, want := domain.KindOf(err), domain.KindUnavailable; err == nil || got != want {
				t.Fatalf("Send: got error %v (kind %v), want kind %v", err, got, want)
			}
			if a := s.Auths(); len(a) != 0 {
				t.Errorf("server saw AUTH %+v, want none", a)
			}
			if a := s.Accepted(); len(a) != 0 {
				t.Errorf("server accepted %d messages, want 0", len(a))
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestServerRefusalsMapToKinds(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cases := []struct {
		name     string
		password string
		rcptErr  error
		dataErr  error
		want     domain.Kind
	}{
		{"a rejected app password waits for the operator", "wrong-password", nil, nil, domain.KindUnavailable},
		{"an unknown recipient (550) is permanent", testPassword,
			&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}, nil, domain.KindInvalid},
		{"a temporarily refused recipient (451) is retryable", testPassword,
			&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}, nil, domain.KindUnavailable},
		{"content refused as policy violation (554) is permanent", testPassword, nil,
			&smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Message rejected"}, domain.KindInvalid},
		{"a full mailbox store (452) is retryable", testPassword, nil,
			&smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Over quota"}, domain.KindUnavailable},
		{"sending limit exceeded (421) is retryable", testPassword, nil,
			&smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Daily sending quota exceeded"}, domain.KindUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSMTPStandIn(t, testUser, tc.password, standInOptions{cert: &pki.server})
			s.rcptErr, s.dataErr = tc.rcptErr, tc.dataErr
			err := newMailer(t, emailConfig(s.addr, pki.caFile)).Send(context.Background(), sample("m1"))
			if got := domain.KindOf(err); err == nil || got != tc.want {
				t.Fatalf("Send: got error %v (kind %v), want kind %v", err, got, tc.want)
			}
			for _, secret := range []string{testPassword, "secret-token"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains %q", err, secret)
				}
			}
		})
	}
}

func TestHangingServerTimesOut(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		// Accept and say nothing, like a black-holed server.
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	pki := newTestPKI(t)
	m := newMailer(t, emailConfig(ln.Addr().String(), pki.caFile), gmail.WithTimeout(100*time.Millisecond))
	err = m.Send(context.Background(), sample("m1"))
	if got, want := domain.KindOf(err), domain.KindUnavailable; err == nil || got != want {
		t.Fatalf("Send: got error %v (kind %v), want kind %v", err, got, want)
	}
	var ne net.Error
	if timedOut := errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout(); !timedOut {
		t.Errorf("Send: got %v, want a timeout error", err)
	}
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		change func(*config.Email)
	}{
		{"a username that is not an address", func(c *config.Email) { c.GmailUsername = "sender" }},
		{"an empty app password", func(c *config.Email) { c.GmailAppPassword = "" }},
		{"an address without a port", func(c *config.Email) { c.GmailSMTPAddr = "smtp.gmail.com" }},
		{"a port out of range", func(c *config.Email) { c.GmailSMTPAddr = "smtp.gmail.com:70000" }},
		{"a missing CA file", func(c *config.Email) { c.SMTPCAFile = filepath.Join(dir, "missing.pem") }},
		{"a CA file without a certificate", func(c *config.Email) { c.SMTPCAFile = notPEM }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := emailConfig("smtp.gmail.com:587", "")
			tc.change(&cfg)
			m, err := gmail.New(cfg)
			if err == nil {
				t.Fatalf("New: got %v, nil error; want an error", m)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}
