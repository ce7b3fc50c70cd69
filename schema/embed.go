// Package schema holds gatehouse's database definition, the one source of
// truth for it: schema.pg.hcl declares every table, index and check in Atlas
// HCL, and roles.sql is the role bootstrap an administrator runs once with
// psql. Both are embedded so that the binary (gatehouse migrate, gatehouse
// dev) and the test harness use exactly the files in the repository.
//
// RenderRoles lets Go code run roles.sql without psql: it substitutes the psql
// variables the same way psql does for :"ident" and :'literal'.
package schema

import (
	_ "embed"
	"fmt"
	"strings"
)

//go:embed schema.pg.hcl
var hcl []byte

//go:embed roles.sql
var rolesSQL string

// HCL returns the contents of schema.pg.hcl, the declared schema.
func HCL() []byte { return append([]byte(nil), hcl...) }

// RolesSQL returns the contents of roles.sql, the role bootstrap, with its
// psql variables still in place.
func RolesSQL() string { return rolesSQL }

// Section names one part of roles.sql, opened in the file by a
// "-- section: NAME" line.
type Section string

// The sections of roles.sql, in the order they must run.
const (
	// SectionRoles creates the two cluster-wide login roles.
	SectionRoles Section = "roles"
	// SectionDatabase holds the privileges stored in pg_database. CREATE
	// DATABASE ... TEMPLATE does not copy them, so a clone needs this section
	// again (with DBName set to the clone).
	SectionDatabase Section = "database"
	// SectionSchema creates schema gatehouse and the default privileges. It
	// must run connected to the target database, and a clone inherits it.
	SectionSchema Section = "schema"
)

// RoleVars are the psql variables roles.sql expects.
type RoleVars struct {
	MigratorUser     string // migrator_user
	MigratorPassword string // migrator_password
	AppUser          string // app_user
	AppPassword      string // app_password
	DBName           string // db_name
}

func (v RoleVars) lookup(name string) (string, bool) {
	switch name {
	case "migrator_user":
		return v.MigratorUser, true
	case "migrator_password":
		return v.MigratorPassword, true
	case "app_user":
		return v.AppUser, true
	case "app_password":
		return v.AppPassword, true
	case "db_name":
		return v.DBName, true
	}
	return "", false
}

// maxIdentLen is PostgreSQL's NAMEDATALEN-1: longer identifiers are silently
// truncated by the server, which would make a role's name differ from the
// user in the connection URL.
const maxIdentLen = 63

// RenderRoles returns roles.sql, or only the given sections of it in file
// order, with every psql variable replaced by a properly quoted identifier
// (:"name") or literal (:'name'), ready to run as one multi-statement Exec.
// psql meta-commands (\set ON_ERROR_STOP) are dropped. Every variable the
// chosen sections use must be non-empty; identifiers may not exceed 63 bytes.
func RenderRoles(v RoleVars, sections ...Section) (string, error) {
	parts, err := splitSections(rolesSQL)
	if err != nil {
		return "", err
	}
	want := map[Section]bool{}
	for _, s := range sections {
		if _, ok := parts[s]; !ok {
			return "", fmt.Errorf("schema: roles.sql has no section %q", s)
		}
		want[s] = true
	}
	var b strings.Builder
	for _, s := range []Section{SectionRoles, SectionDatabase, SectionSchema} {
		if len(want) > 0 && !want[s] {
			continue
		}
		out, err := substitute(parts[s], v)
		if err != nil {
			return "", fmt.Errorf("schema: roles.sql section %s: %w", s, err)
		}
		b.WriteString(out)
	}
	return b.String(), nil
}

const sectionMarker = "-- section: "

// splitSections cuts roles.sql at its section markers and drops psql
// meta-commands. Text before the first marker may hold only comments and
// meta-commands.
func splitSections(src string) (map[Section]string, error) {
	parts := map[Section]string{}
	var cur Section
	var b strings.Builder
	flush := func() {
		if cur != "" {
			parts[cur] = b.String()
		}
		b.Reset()
	}
	for _, line := range strings.SplitAfter(src, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, sectionMarker):
			flush()
			cur = Section(strings.TrimSpace(strings.TrimPrefix(trimmed, sectionMarker)))
			if _, dup := parts[cur]; dup {
				return nil, fmt.Errorf("schema: roles.sql: section %q appears twice", cur)
			}
			b.WriteString(line)
		case strings.HasPrefix(trimmed, `\`):
			// Only settings that change psql's own behaviour are allowed:
			// anything else (\if, \gset, \connect) would make the file mean
			// something different outside psql.
			if !strings.HasPrefix(trimmed, `\set ON_ERROR_STOP `) {
				return nil, fmt.Errorf("schema: roles.sql: psql meta-command %q cannot be rendered in Go", trimmed)
			}
		case cur == "":
			if trimmed != "" && !strings.HasPrefix(trimmed, "--") {
				return nil, fmt.Errorf("schema: roles.sql: statement before the first section marker: %q", trimmed)
			}
		default:
			b.WriteString(line)
		}
	}
	flush()
	for _, s := range []Section{SectionRoles, SectionDatabase, SectionSchema} {
		if _, ok := parts[s]; !ok {
			return nil, fmt.Errorf("schema: roles.sql: section %q is missing", s)
		}
	}
	return parts, nil
}

// substitute replaces :"name" and :'name' outside comments, string literals
// and quoted identifiers, as psql does. Bare :name is refused: it would
// paste a value into the SQL unquoted.
func substitute(src string, v RoleVars) (string, error) {
	var b strings.Builder
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '-' && strings.HasPrefix(src[i:], "--"):
			end := strings.IndexByte(src[i:], '\n')
			if end < 0 {
				end = len(src) - i
			}
			b.WriteString(src[i : i+end])
			i += end
		case c == '/' && strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return "", fmt.Errorf("unterminated comment")
			}
			b.WriteString(src[i : i+2+end+2])
			i += 2 + end + 2
		case c == '\'' || c == '"':
			end := closingQuote(src, i)
			if end < 0 {
				return "", fmt.Errorf("unterminated quote at byte %d", i)
			}
			b.WriteString(src[i : end+1])
			i = end + 1
		case c == ':' && strings.HasPrefix(src[i:], "::"):
			b.WriteString("::")
			i += 2
		case c == ':' && i+1 < len(src) && (src[i+1] == '\'' || src[i+1] == '"'):
			q := src[i+1]
			name, n := varName(src[i+2:])
			if name == "" || i+2+n >= len(src) || src[i+2+n] != q {
				return "", fmt.Errorf("malformed variable reference at byte %d", i)
			}
			val, ok := v.lookup(name)
			if !ok {
				return "", fmt.Errorf("unknown variable %q", name)
			}
			if val == "" {
				return "", fmt.Errorf("variable %s is empty", name)
			}
			var quoted string
			var err error
			if q == '"' {
				quoted, err = QuoteIdent(val)
			} else {
				quoted, err = QuoteLiteral(val)
			}
			if err != nil {
				return "", fmt.Errorf("variable %s: %w", name, err)
			}
			b.WriteString(quoted)
			i += 2 + n + 1
		case c == ':' && i+1 < len(src) && isVarByte(src[i+1]):
			name, _ := varName(src[i+1:])
			return "", fmt.Errorf("variable %s is interpolated unquoted; use :\"%s\" or :'%s'", name, name, name)
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// closingQuote returns the index of the quote that closes the one at
// src[start], treating a doubled quote as an escaped one, or -1.
func closingQuote(src string, start int) int {
	q := src[start]
	for i := start + 1; i < len(src); i++ {
		if src[i] != q {
			continue
		}
		if i+1 < len(src) && src[i+1] == q {
			i++
			continue
		}
		return i
	}
	return -1
}

func varName(s string) (string, int) {
	n := 0
	for n < len(s) && isVarByte(s[n]) {
		n++
	}
	return s[:n], n
}

func isVarByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// QuoteIdent quotes s as a PostgreSQL identifier, as psql does for
// :"name": case and every character are kept. It refuses empty names, NUL
// bytes and names longer than PostgreSQL keeps (63 bytes).
func QuoteIdent(s string) (string, error) {
	switch {
	case s == "":
		return "", fmt.Errorf("empty identifier")
	case strings.IndexByte(s, 0) >= 0:
		return "", fmt.Errorf("identifier contains a NUL byte")
	case len(s) > maxIdentLen:
		return "", fmt.Errorf("identifier is %d bytes long; PostgreSQL keeps only %d", len(s), maxIdentLen)
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`, nil
}

// QuoteLiteral quotes s as a PostgreSQL string literal, as psql does for
// :'name' (libpq's PQescapeLiteral): quotes are doubled, and a value with a
// backslash becomes an E'...' literal with the backslashes doubled, so the
// result means the same whatever standard_conforming_strings is.
func QuoteLiteral(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", fmt.Errorf("literal contains a NUL byte")
	}
	body := strings.ReplaceAll(s, `'`, `''`)
	if strings.Contains(s, `\`) {
		return ` E'` + strings.ReplaceAll(body, `\`, `\\`) + `'`, nil
	}
	return `'` + body + `'`, nil
}
