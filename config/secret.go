package config

// Secret is a string that never prints itself: fmt verbs, %#v, JSON and logs
// all see a placeholder. Call Reveal where the real value is needed.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer with a placeholder.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// MarshalText keeps encoders (JSON, slog) from writing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
