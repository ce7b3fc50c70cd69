//go:build unix

package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWantsJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		accept string
		want   bool
	}{
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"application/problem+json, application/json;q=0.9", true},
		{"", false},
		{"*/*", false},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", false},
		{"text/html, application/json", false},
		{"application/json;q=0", false},
		{"not a media type", false},
	}
	for _, tc := range cases {
		t.Run(tc.accept, func(t *testing.T) {
			t.Parallel()
			if got := wantsJSON(tc.accept); got != tc.want {
				t.Errorf("wantsJSON(%q): got %v, want %v", tc.accept, got, tc.want)
			}
		})
	}
}

func TestDevLinks(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		text string
		want []string
	}{
		{"none", "Hello.\n\nNo link here, nor ftp://example.com.", nil},
		{"a verification link on its own line", "open this link:\n\nhttp://127.0.0.1:8080/verify-email#token=abc_DEF-123\n\nthanks",
			[]string{"http://127.0.0.1:8080/verify-email#token=abc_DEF-123"}},
		{"ends of sentences and brackets", "See https://example.com/a?b=1&c=2. Or (https://example.com/x), or <https://example.com/y>!",
			[]string{"https://example.com/a?b=1&c=2", "https://example.com/x", "https://example.com/y"}},
		{"a bare scheme", "http:// and https://.", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, devLinks(tc.text)); diff != "" {
				t.Errorf("devLinks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDevMailView checks that the page shows each message's whole text, with
// exactly its links as links.
func TestDevMailView(t *testing.T) {
	t.Parallel()
	text := "Confirm: https://a.example/v#token=x.\nAgain: https://a.example/v#token=x and https://b.example/\n"
	items := devMailView([]devMail{{Text: text, Links: devLinks(text)}})
	var whole strings.Builder
	var links []string
	for _, p := range items[0].Parts {
		whole.WriteString(p.Text)
		if p.Link {
			links = append(links, p.Text)
		}
	}
	if whole.String() != text {
		t.Errorf("parts join to %q, want the text %q", whole.String(), text)
	}
	if diff := cmp.Diff([]string{"https://a.example/v#token=x", "https://a.example/v#token=x", "https://b.example/"}, links); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
}
