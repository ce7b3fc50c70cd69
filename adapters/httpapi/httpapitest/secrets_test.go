package httpapitest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSecretSetLeaks(t *testing.T) {
	t.Parallel()
	mailBody := "Confirm your address:\n\nhttps://app.example.com/verify-email#token=abc\n\n<ignore> & \"quote\"\n"
	cases := []struct {
		name string
		logs string
		want []string
	}{
		{"clean logs", `{"msg":"http request","path":"/v1/auth/login","status":200}` + "\n", nil},
		{"a password as written", `{"msg":"login","password":"hunter2 hunter2"}`, []string{`"hunter2 hunter2"`}},
		{"a mail body as JSON escapes it", `{"msg":"sent","body":"Confirm your address:\n\nhttps://app.example.com/verify-email#token=abc\n\n\u003cignore\u003e \u0026 \"quote\"\n"}`,
			[]string{`"Confirm your address:\n\nhttps://app.example.com/verify-email#..."`}},
		{"a mail body as slog escapes it (no HTML escaping)", `{"body":"Confirm your address:\n\nhttps://app.example.com/verify-email#token=abc\n\n<ignore> & \"quote\"\n"}`,
			[]string{`"Confirm your address:\n\nhttps://app.example.com/verify-email#..."`}},
		{"a token inside a longer value", `{"url":"https://x/y?token=q2vX9k1Hc0bQe6tJm3Zr8yLw5nA7uD4fG1sP0oIxKjE&a=b"}`,
			[]string{`"q2vX9k1Hc0bQe6tJm3Zr8yLw5nA7uD4fG1sP0oIxKjE"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &secretSet{}
			s.add("hunter2 hunter2")
			s.add(mailBody)
			s.add("q2vX9k1Hc0bQe6tJm3Zr8yLw5nA7uD4fG1sP0oIxKjE")
			s.add("short") // too short to check: it would match by chance
			if diff := cmp.Diff(tc.want, s.leaks(tc.logs+` "short" `)); diff != "" {
				t.Errorf("leaks (-want +got):\n%s", diff)
			}
		})
	}
}
