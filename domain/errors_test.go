package domain_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

func TestErrorChainHelpers(t *testing.T) {
	t.Parallel()
	cause := errors.New("pq: connection refused to 10.0.0.5")
	inner := &domain.Error{Kind: domain.KindRateLimited, Code: "rate_limited", Msg: "Too many attempts.", RetryAfter: 30 * time.Second,
		Fields: []domain.FieldError{{Location: "body.email", Message: "slow down"}}, Err: cause}
	outer := fmt.Errorf("app.Login: %w", domain.Wrap(domain.KindUnavailable, "app.Login", inner))

	cases := []struct {
		name      string
		got, want any
	}{
		{"KindOf takes the outermost kind", domain.KindOf(outer), domain.KindUnavailable},
		{"CodeOf finds the first code down the chain", domain.CodeOf(outer), "rate_limited"},
		{"PublicMessage finds the first client-safe message", domain.PublicMessage(outer), "Too many attempts."},
		{"RetryAfterOf finds the first positive wait", domain.RetryAfterOf(outer), 30 * time.Second},
		{"FieldsOf finds the field errors", len(domain.FieldsOf(outer)), 1},
		{"errors.Is reaches the cause", errors.Is(outer, cause), true},
		{"a plain error is internal", domain.KindOf(errors.New("boom")), domain.KindInternal},
		{"a plain error has no code", domain.CodeOf(errors.New("boom")), ""},
		{"a plain error has no public message", domain.PublicMessage(errors.New("secret detail")), ""},
		{"IsKind of nil is false", domain.IsKind(nil, domain.KindInternal), false},
		{"kinds have snake_case names", domain.KindRateLimited.String(), "rate_limited"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	// The log form names the operation and the cause; the public form never does.
	if msg := outer.Error(); !strings.Contains(msg, "app.Login") || !strings.Contains(msg, "connection refused") {
		t.Errorf("got %q, want the op and cause in the log form", msg)
	}
}

func TestMailMessageValidate(t *testing.T) {
	t.Parallel()
	ok := domain.MailMessage{ID: "0190f3c2-7b1a-7c3d-8e4f-0123456789ab", To: "a@example.com", Subject: "Hi", Text: "t"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid message refused: %v", err)
	}
	cases := map[string]func(m *domain.MailMessage){
		"empty id":                 func(m *domain.MailMessage) { m.ID = "" },
		"id with a space":          func(m *domain.MailMessage) { m.ID = "a b" },
		"id with a leading dot":    func(m *domain.MailMessage) { m.ID = ".abc" },
		"id too long":              func(m *domain.MailMessage) { m.ID = strings.Repeat("a", 129) },
		"no recipient":             func(m *domain.MailMessage) { m.To = "" },
		"recipient header inject":  func(m *domain.MailMessage) { m.To = "a@example.com\r\nBcc: b@example.com" },
		"recipient not an address": func(m *domain.MailMessage) { m.To = "not an address" },
		"no subject":               func(m *domain.MailMessage) { m.Subject = "" },
		"subject header inject":    func(m *domain.MailMessage) { m.Subject = "Hi\nBcc: x@example.com" },
		"no body":                  func(m *domain.MailMessage) { m.Text, m.HTML = "", "" },
	}
	for name, mutate := range cases {
		m := ok
		mutate(&m)
		if err := m.Validate(); !domain.IsKind(err, domain.KindInvalid) {
			t.Errorf("%s: got %v, want a KindInvalid error", name, err)
		}
	}
}
