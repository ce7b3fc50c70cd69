package schema

import (
	"strings"
	"testing"
)

func TestQuoteIdent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{"plain", "gatehouse_app", `"gatehouse_app"`, false},
		{"case and hyphen kept", "Gate-House", `"Gate-House"`, false},
		{"double quote doubled", `a"b`, `"a""b"`, false},
		{"sql in a name stays a name", `x"; DROP ROLE postgres; --`, `"x""; DROP ROLE postgres; --"`, false},
		{"63 bytes is the limit", strings.Repeat("a", 63), `"` + strings.Repeat("a", 63) + `"`, false},
		{"64 bytes would be truncated", strings.Repeat("a", 64), "", true},
		{"empty", "", "", true},
		{"NUL", "a\x00b", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := QuoteIdent(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error=%v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestQuoteLiteral(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{"plain", "secret", `'secret'`, false},
		{"empty", "", `''`, false},
		{"single quote doubled", "it's", `'it''s'`, false},
		{"URL characters untouched", "p@ss:w/rd#%?", `'p@ss:w/rd#%?'`, false},
		{"backslash makes an E literal", `a\'b`, ` E'a\\''b'`, false},
		{"NUL", "a\x00", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := QuoteLiteral(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error=%v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

var testVars = RoleVars{
	MigratorUser:     "mig",
	MigratorPassword: `m'p`,
	AppUser:          `a"pp`,
	AppPassword:      `p\w`,
	DBName:           "db",
}

func TestSubstitute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{"identifier", `GRANT x TO :"app_user";`, `GRANT x TO "a""pp";`, ""},
		{"literal", `PASSWORD :'migrator_password'`, `PASSWORD 'm''p'`, ""},
		{"literal with backslash", `PASSWORD :'app_password'`, `PASSWORD  E'p\\w'`, ""},
		{"cast is not a variable", `SELECT 1::int, :'db_name'::text`, `SELECT 1::int, 'db'::text`, ""},
		{"line comment untouched", "-- :\"app_user\" :app_user\nSELECT 1", "-- :\"app_user\" :app_user\nSELECT 1", ""},
		{"block comment untouched", `/* :'db_name' */ SELECT 1`, `/* :'db_name' */ SELECT 1`, ""},
		{"string literal untouched", `SELECT ':''db_name'' :"x"'`, `SELECT ':''db_name'' :"x"'`, ""},
		{"quoted identifier untouched", `SELECT 1 AS ":'db_name'"`, `SELECT 1 AS ":'db_name'"`, ""},
		{"bare variable refused", `CREATE ROLE :app_user`, "", "unquoted"},
		{"unknown variable", `SELECT :'nope'`, "", "unknown variable"},
		{"malformed reference", `SELECT :'db_name`, "", "malformed"},
		{"unterminated string", `SELECT 'abc`, "", "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := substitute(tt.in, testVars)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenderRoles(t *testing.T) {
	t.Parallel()
	hostile := RoleVars{
		MigratorUser:     `Gate-Migrator`,
		MigratorPassword: `m'gr"t0r \&=+;[]`,
		AppUser:          `gate"app`,
		AppPassword:      `p@ss:w/rd#%?`,
		DBName:           "gatehouse",
	}
	tests := []struct {
		name     string
		vars     RoleVars
		sections []Section
		want     []string // fragments the output must contain
		wantNot  []string // fragments it must not contain
		wantErr  string
	}{
		{
			name: "whole file",
			vars: hostile,
			want: []string{
				`CREATE ROLE "Gate-Migrator" WITH LOGIN`,
				`PASSWORD  E'm''gr"t0r \\&=+;[]';`,
				`CREATE ROLE "gate""app" WITH LOGIN`,
				`PASSWORD 'p@ss:w/rd#%?';`,
				`REVOKE ALL ON DATABASE "gatehouse" FROM PUBLIC;`,
				`GRANT CONNECT ON DATABASE "gatehouse" TO "Gate-Migrator", "gate""app";`,
				`CREATE SCHEMA gatehouse AUTHORIZATION "Gate-Migrator";`,
				`ALTER DEFAULT PRIVILEGES FOR ROLE "Gate-Migrator" IN SCHEMA gatehouse`,
				`GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "gate""app";`,
			},
			wantNot: []string{`:"`, `:'`, `\set`},
		},
		{
			name:     "database section only, for a clone",
			vars:     RoleVars{MigratorUser: "m", AppUser: "a", DBName: "clone_1"},
			sections: []Section{SectionDatabase},
			want:     []string{`REVOKE ALL ON DATABASE "clone_1" FROM PUBLIC;`, `GRANT CONNECT ON DATABASE "clone_1" TO "m", "a";`},
			wantNot:  []string{"CREATE ROLE", "CREATE SCHEMA", "DEFAULT PRIVILEGES"},
		},
		{
			name:     "sections come out in file order",
			vars:     hostile,
			sections: []Section{SectionSchema, SectionRoles},
			want:     []string{"CREATE ROLE", "CREATE SCHEMA"},
			wantNot:  []string{"ON DATABASE"},
		},
		{
			name:    "empty password refused",
			vars:    RoleVars{MigratorUser: "m", AppUser: "a", AppPassword: "p", DBName: "d"},
			wantErr: "migrator_password is empty",
		},
		{
			name:    "overlong role name refused",
			vars:    RoleVars{MigratorUser: strings.Repeat("m", 64), MigratorPassword: "x", AppUser: "a", AppPassword: "p", DBName: "d"},
			wantErr: "PostgreSQL keeps only 63",
		},
		{
			name:     "unknown section",
			vars:     hostile,
			sections: []Section{"tables"},
			wantErr:  `no section "tables"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RenderRoles(tt.vars, tt.sections...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("output contains %q:\n%s", w, got)
				}
			}
			if len(tt.sections) == 2 && strings.Index(got, "CREATE ROLE") > strings.Index(got, "CREATE SCHEMA") {
				t.Errorf("sections out of file order:\n%s", got)
			}
		})
	}
}

func TestSplitSections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		src     string
		wantErr string
	}{
		{"the real file", rolesSQL, ""},
		{"missing section", "-- section: roles\nSELECT 1;\n-- section: database\n", `section "schema" is missing`},
		{"duplicate section", "-- section: roles\n-- section: roles\n", "appears twice"},
		{"statement before the first section", "SELECT 1;\n-- section: roles\n", "before the first section"},
		{"other meta-commands refused", "\\connect other\n-- section: roles\n", "cannot be rendered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := splitSections(tt.src)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestHCLDeclaresSchemaGatehouse(t *testing.T) {
	t.Parallel()
	if got := string(HCL()); !strings.Contains(got, `schema "gatehouse" {}`) {
		t.Errorf("schema.pg.hcl does not declare schema gatehouse:\n%s", got)
	}
}
