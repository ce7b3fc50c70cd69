package bench

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// A scenario's ceiling runs the statements the server actually ran for one
// request, captured from PostgreSQL's own log: statement logging
// (log_min_duration_statement = 0) is switched on for all sessions, one
// request is made, logging is switched off, and the log lines of the app
// role in between are read back. Each executed statement comes with its
// exact text and the values bound to it, as the server saw them. So when the
// code changes its SQL, the ceiling changes with it.

// capturedStatement is one statement the app role ran: its text and its
// parameters as PostgreSQL logged them (nil for NULL).
type capturedStatement struct {
	SQL    string
	Params []*string
}

var (
	// logEntryRE matches the first line of a log entry written with
	// logLinePrefix: "2026-01-02 03:04:05.678 UTC [123] user@db LOG:  ...".
	logEntryRE = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(\d+)\] (?:(\S*)@(\S*) )?([A-Z]+\d?):  (.*)$`)
	// durationRE matches what log_min_duration_statement logs: an executed
	// prepared statement (extended protocol) or a simple query.
	durationRE = regexp.MustCompile(`(?s)^duration: [0-9.]+ ms  (?:(execute|parse|bind) ([^:]*)|statement): (.*)$`)
)

// pingSQL is the liveness check pgx's database/sql driver sends before it
// reuses a connection that sat idle for more than a second. The capture's
// single request comes after such a pause; under load connections are busy
// and the ping is rare (pg_stat_statements shows how rare), so it is left
// out of the ceiling.
const pingSQL = "-- ping"

// parseStatementLog returns, in log order, the statements that user ran:
// the "execute" step of prepared statements with the parameters of the
// DETAIL line that follows it, and simple queries. Parse and bind steps are
// skipped: each statement is counted once.
func parseStatementLog(log []byte, user string) ([]capturedStatement, error) {
	type entry struct {
		pid, user, level string
		msg              strings.Builder
	}
	var entries []*entry
	for _, line := range strings.Split(string(log), "\n") {
		if m := logEntryRE.FindStringSubmatch(line); m != nil {
			e := &entry{pid: m[1], user: m[2], level: m[4]}
			e.msg.WriteString(m[5])
			entries = append(entries, e)
			continue
		}
		if len(entries) > 0 {
			// A continuation line of a multi-line statement.
			e := entries[len(entries)-1]
			e.msg.WriteByte('\n')
			e.msg.WriteString(line)
		}
	}
	var out []capturedStatement
	last := map[string]int{} // pid -> index in out of its last executed statement
	for _, e := range entries {
		if e.user != user {
			continue
		}
		msg := strings.TrimRight(e.msg.String(), "\n")
		switch e.level {
		case "LOG":
			m := durationRE.FindStringSubmatch(msg)
			if m == nil {
				continue
			}
			if m[1] == "parse" || m[1] == "bind" {
				delete(last, e.pid)
				continue
			}
			if strings.TrimSpace(m[3]) == pingSQL {
				continue
			}
			out = append(out, capturedStatement{SQL: m[3]})
			last[e.pid] = len(out) - 1
		case "DETAIL":
			i, ok := last[e.pid]
			if !ok || !strings.HasPrefix(msg, "parameters: ") {
				continue
			}
			params, err := parseLoggedParams(strings.TrimPrefix(msg, "parameters: "))
			if err != nil {
				return nil, fmt.Errorf("statement %q: %w", firstLine(out[i].SQL), err)
			}
			out[i].Params = params
			delete(last, e.pid)
		}
	}
	return out, nil
}

// parseLoggedParams reads the parameters PostgreSQL logs, such as
// $1 = 'a', $2 = NULL (a quote inside a value is doubled).
func parseLoggedParams(s string) ([]*string, error) {
	var out []*string
	for i := 0; i < len(s); {
		if s[i] == ',' || s[i] == ' ' {
			i++
			continue
		}
		if s[i] != '$' {
			return nil, fmt.Errorf("unexpected %q in the parameters", s[i:min(len(s), i+20)])
		}
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(s[i+1 : j])
		if err != nil || n != len(out)+1 || !strings.HasPrefix(s[j:], " = ") {
			return nil, errors.New("parameters out of order")
		}
		i = j + 3
		if strings.HasPrefix(s[i:], "NULL") {
			out = append(out, nil)
			i += 4
			continue
		}
		if i >= len(s) || s[i] != '\'' {
			return nil, errors.New("a parameter value that is neither NULL nor quoted")
		}
		var b strings.Builder
		i++
		for {
			if i >= len(s) {
				return nil, errors.New("an unterminated parameter value")
			}
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i += 2
					continue
				}
				i++
				break
			}
			b.WriteByte(s[i])
			i++
		}
		v := b.String()
		out = append(out, &v)
	}
	return out, nil
}

// Values in captured parameters that are not the request's identities but
// were made for it: new ids (a UUID) and new token hashes (bytea, shown as
// \x and 64 hex digits). Each must be fresh in every transaction of the
// ceiling, or a unique index would refuse it.
var (
	uuidRE      = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	tokenHashRE = regexp.MustCompile(`\\x[0-9a-f]{64}`)
)

// identity names the values a request was about, as PostgreSQL shows them:
// "user_id", "upload_id", "token_hash" (\x...), "email" and so on. A
// ceiling transaction uses another row's values in their place.
type identity map[string]string

// paramTemplate is one parameter of a captured statement, with the
// identities and fresh values in it marked.
type paramTemplate struct {
	null  bool
	parts []tmplPart // literal text and markers, in order
}

type tmplPart struct {
	text   string // literal, when ident and fresh are empty
	ident  string // an identity's name
	fresh  int    // 1-based index of a fresh value
	freshT string // "uuid" or "hash"
}

// empty reports whether the parameter is always the empty string.
func (p paramTemplate) empty() bool {
	return !p.null && p.constant() && p.render(nil, nil) == ""
}

// inline reports whether the parameter is written into the statement
// rather than bound (see pgbenchSQL).
func (p paramTemplate) inline() bool { return p.null || p.empty() }

func (p paramTemplate) constant() bool {
	for _, part := range p.parts {
		if part.ident != "" || part.fresh > 0 {
			return false
		}
	}
	return true
}

// render fills the template with a row's identities and fresh values.
func (p paramTemplate) render(id identity, fresh []string) string {
	var b strings.Builder
	for _, part := range p.parts {
		switch {
		case part.ident != "":
			b.WriteString(id[part.ident])
		case part.fresh > 0:
			b.WriteString(fresh[part.fresh-1])
		default:
			b.WriteString(part.text)
		}
	}
	return b.String()
}

// statementTemplate is a captured statement ready to be replayed.
type statementTemplate struct {
	SQL    string
	Params []paramTemplate
}

// requestTemplate is all a request's statements, and the kinds of the
// fresh values they need (index i is fresh value i+1).
type requestTemplate struct {
	Statements []statementTemplate
	Fresh      []string // "uuid" or "hash"
}

// templatize marks in every parameter the request's identities (the longest
// first, so a key that contains an id is matched as a key) and then the
// fresh values; what remains is literal.
func templatize(stmts []capturedStatement, id identity) requestTemplate {
	names := make([]string, 0, len(id))
	for k, v := range id {
		if v != "" {
			names = append(names, k)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if len(id[names[i]]) != len(id[names[j]]) {
			return len(id[names[i]]) > len(id[names[j]])
		}
		return names[i] < names[j]
	})
	var rt requestTemplate
	freshIndex := map[string]int{}
	markFresh := func(text string) []tmplPart {
		var parts []tmplPart
		for len(text) > 0 {
			loc, kind := firstFresh(text)
			if loc == nil {
				parts = append(parts, tmplPart{text: text})
				break
			}
			if loc[0] > 0 {
				parts = append(parts, tmplPart{text: text[:loc[0]]})
			}
			v := text[loc[0]:loc[1]]
			n, ok := freshIndex[v]
			if !ok {
				rt.Fresh = append(rt.Fresh, kind)
				n = len(rt.Fresh)
				freshIndex[v] = n
			}
			parts = append(parts, tmplPart{fresh: n, freshT: kind})
			text = text[loc[1]:]
		}
		return parts
	}
	for _, st := range stmts {
		t := statementTemplate{SQL: st.SQL}
		for _, p := range st.Params {
			if p == nil {
				t.Params = append(t.Params, paramTemplate{null: true})
				continue
			}
			parts := []tmplPart{{text: *p}}
			for _, name := range names {
				parts = splitIdent(parts, name, id[name])
			}
			var out []tmplPart
			for _, part := range parts {
				if part.ident != "" {
					out = append(out, part)
					continue
				}
				out = append(out, markFresh(part.text)...)
			}
			t.Params = append(t.Params, paramTemplate{parts: out})
		}
		rt.Statements = append(rt.Statements, t)
	}
	return rt
}

func firstFresh(s string) ([]int, string) {
	u := uuidRE.FindStringIndex(s)
	h := tokenHashRE.FindStringIndex(s)
	switch {
	case u == nil && h == nil:
		return nil, ""
	case h == nil || (u != nil && u[0] < h[0]):
		return u, "uuid"
	default:
		return h, "hash"
	}
}

// splitIdent marks every occurrence of value in the literal parts.
func splitIdent(parts []tmplPart, name, value string) []tmplPart {
	var out []tmplPart
	for _, p := range parts {
		if p.ident != "" || p.fresh > 0 {
			out = append(out, p)
			continue
		}
		text := p.text
		for {
			i := strings.Index(text, value)
			if i < 0 {
				break
			}
			if i > 0 {
				out = append(out, tmplPart{text: text[:i]})
			}
			out = append(out, tmplPart{ident: name})
			text = text[i+len(value):]
		}
		if text != "" {
			out = append(out, tmplPart{text: text})
		}
	}
	return out
}

// placeholderRE finds $n placeholders in a statement.
var placeholderRE = regexp.MustCompile(`\$(\d+)`)

// pgbenchSQL rewrites a statement for pgbench: each placeholder becomes
// the pgbench variable name(n) returns, and the statement ends with a
// semicolon. What a pgbench variable cannot hold is written into the
// statement instead: NULL, and the empty string (as a quoted literal).
func pgbenchSQL(t statementTemplate, name func(n int) string) (string, error) {
	var bad error
	sql := placeholderRE.ReplaceAllStringFunc(t.SQL, func(m string) string {
		n, _ := strconv.Atoi(m[1:])
		if n < 1 || n > len(t.Params) {
			bad = fmt.Errorf("statement %q uses %s but %d parameters were logged", firstLine(t.SQL), m, len(t.Params))
			return m
		}
		switch p := t.Params[n-1]; {
		case p.null:
			return "NULL"
		case p.empty():
			return "''"
		}
		return ":" + name(n)
	})
	if bad != nil {
		return "", bad
	}
	return strings.TrimRight(strings.TrimSpace(sql), ";") + ";", nil
}
