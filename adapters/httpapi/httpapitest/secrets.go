package httpapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
)

// minSecretLen keeps short, common strings out of the leak check, where they
// would match by chance. Every secret the suite handles is longer: passwords
// have at least 8 characters, tokens 43.
const minSecretLen = 8

// secretSet collects what a case handled that must never be logged:
// passwords, tokens, cookie values and mail bodies. It is safe for
// concurrent use.
type secretSet struct {
	mu   sync.Mutex
	list []string
	seen map[string]bool
}

func (s *secretSet) add(v string) {
	if len(v) < minSecretLen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	if !s.seen[v] {
		s.seen[v] = true
		s.list = append(s.list, v)
	}
}

// leaks returns a description of every secret found in logs, as written or
// as a JSON string encoder would escape it.
func (s *secretSet) leaks(logs string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, v := range s.list {
		for _, form := range jsonForms(v) {
			if strings.Contains(logs, form) {
				out = append(out, fmt.Sprintf("%q", abbreviate(v)))
				break
			}
		}
	}
	return out
}

// jsonForms returns v and its JSON-escaped spellings (with and without
// HTML escaping), without the quotes.
func jsonForms(v string) []string {
	forms := []string{v}
	for _, escapeHTML := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(escapeHTML)
		if err := enc.Encode(v); err != nil {
			continue
		}
		e := strings.TrimSuffix(b.String(), "\n")
		e = strings.TrimSuffix(strings.TrimPrefix(e, `"`), `"`)
		if e != v {
			forms = append(forms, e)
		}
	}
	return forms
}

// abbreviate keeps a failure message readable when the secret is a mail
// body.
func abbreviate(v string) string {
	const max = 60
	if len(v) <= max {
		return v
	}
	return v[:max] + "..."
}
