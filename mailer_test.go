package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/config"
)

func TestNewMailerFollowsEmailProvider(t *testing.T) {
	t.Parallel()
	email := config.Email{
		From:             "Gatehouse <no-reply@example.com>",
		ResendAPIKey:     "re_test_key",
		ResendBaseURL:    "https://api.resend.com/",
		GmailUsername:    "sender@gmail.com",
		GmailAppPassword: "abcd efgh ijkl mnop",
		GmailSMTPAddr:    "smtp.gmail.com:587",
	}
	cases := []struct {
		name     string
		provider string
		wantType string // the mailer's type, or "" for an error
		wantErr  string
	}{
		{"unset means resend", "", "*resend.Mailer", ""},
		{"resend", config.ProviderResend, "*resend.Mailer", ""},
		{"ses", config.ProviderSES, "*ses.Mailer", ""},
		{"gmail", config.ProviderGmail, "*gmail.Mailer", ""},
		{"smtp is the legacy name of gmail", "smtp", "*gmail.Mailer", ""},
		{"the console mailer cannot be chosen", config.ProviderConsole, "", "not supported"},
		{"an unknown provider is refused with the valid ones", "mailgun", "", "resend (the default), ses or gmail"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := email
			e.Provider = tc.provider
			m, err := newMailer(context.Background(), &config.Config{Email: e, AWS: config.AWS{Region: "eu-west-1"}})
			if tc.wantType == "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("newMailer(%q): got %T, %v; want an error containing %q", tc.provider, m, err, tc.wantErr)
				}
				if m != nil {
					t.Errorf("newMailer(%q): got mailer %T with the error, want nil", tc.provider, m)
				}
				return
			}
			if err != nil {
				t.Fatalf("newMailer(%q): got error %v, want a %s", tc.provider, err, tc.wantType)
			}
			if got := fmt.Sprintf("%T", m); got != tc.wantType {
				t.Errorf("newMailer(%q): got %s, want %s", tc.provider, got, tc.wantType)
			}
		})
	}
}
