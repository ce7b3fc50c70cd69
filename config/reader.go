package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// reader reads variables and collects problems instead of stopping at the
// first one. Messages quote values only for variables that are not secret.
type reader struct {
	getenv   func(string) string
	problems []Problem
	vars     []Var
	seen     map[string]bool
}

// Var is one variable as Load understood it, for `gatehouse config check`.
type Var struct {
	Name   string
	Value  string // the effective value (the default when unset); "[redacted]" for secrets that are set
	Set    bool   // whether the environment set it
	Secret bool
}

// note records a variable's effective value once, in reading order.
func (r *reader) note(name, value string, secret bool) {
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	if r.seen[name] {
		return
	}
	r.seen[name] = true
	set := strings.TrimSpace(r.getenv(name)) != ""
	if secret && value != "" {
		value = redacted
	}
	r.vars = append(r.vars, Var{Name: name, Value: value, Set: set, Secret: secret})
}

// showDefault records the default a reader applied after reading name.
func (r *reader) showDefault(name, value string) {
	for i := range r.vars {
		if r.vars[i].Name == name && !r.vars[i].Set {
			r.vars[i].Value = value
		}
	}
}

func (r *reader) secret(name string, required bool) Secret {
	v := r.getenv(name)
	if required && strings.TrimSpace(v) == "" {
		r.fail(name, "is required")
	}
	r.note(name, v, true)
	return Secret(v)
}

func (r *reader) fail(name, msg string) { r.problems = append(r.problems, Problem{name, msg}) }

func (r *reader) str(name, def string) string {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		v = def
	}
	r.note(name, v, false)
	return v
}

func (r *reader) required(name string) string {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		r.fail(name, "is required")
	}
	r.note(name, v, false)
	return v
}

func (r *reader) port(name string, def int) int {
	v := r.str(name, "")
	if v == "" {
		r.vars[len(r.vars)-1].Value = strconv.Itoa(def)
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		r.fail(name, fmt.Sprintf("%q is not a port number (1-65535)", v))
		return def
	}
	return n
}

func (r *reader) intRange(name string, def, lo, hi int) int {
	v := r.str(name, "")
	if v == "" {
		r.vars[len(r.vars)-1].Value = strconv.Itoa(def)
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(name, fmt.Sprintf("%q is not a whole number between %d and %d", v, lo, hi))
		return def
	}
	return n
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		r.vars[len(r.vars)-1].Value = def.String()
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, fmt.Sprintf("%q is not a positive duration (e.g. 30s, 5m)", v))
		return def
	}
	return d
}

func (r *reader) boolean(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		r.vars[len(r.vars)-1].Value = strconv.FormatBool(def)
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, fmt.Sprintf("%q is not true or false", v))
		return def
	}
	return b
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(r.str(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", ")))
	return def
}

func (r *reader) list(name string) []string {
	r.note(name, strings.TrimSpace(r.getenv(name)), false)
	var out []string
	for _, part := range strings.Split(r.getenv(name), ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// origins reads a list of exact browser origins (scheme://host[:port]).
func (r *reader) origins(name string) []string {
	list := r.list(name)
	for _, o := range list {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || o == "*" {
			r.fail(name, fmt.Sprintf("%q is not an exact origin like https://app.example.com (no wildcards, paths or queries)", o))
		}
	}
	return list
}

func (r *reader) cidrs(name string) []*net.IPNet {
	var out []*net.IPNet
	for _, v := range r.list(name) {
		if !strings.Contains(v, "/") {
			if ip := net.ParseIP(v); ip != nil {
				bits := 128
				if ip.To4() != nil {
					ip, bits = ip.To4(), 32
				}
				out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
				continue
			}
		}
		_, n, err := net.ParseCIDR(v)
		if err != nil {
			r.fail(name, fmt.Sprintf("%q is not an IP address or CIDR range", v))
			continue
		}
		out = append(out, n)
	}
	return out
}

func (r *reader) baseURL(name string) string {
	v := r.required(name)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		r.fail(name, fmt.Sprintf("%q is not an absolute http(s) URL without query or fragment", v))
		return ""
	}
	return strings.TrimRight(v, "/")
}
