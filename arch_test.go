package main

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/gatehouse/gatehouse"

// TestImportDirection enforces the hexagonal layering: dependencies point
// inward (adapters -> app -> ports -> domain), the core imports no
// third-party code, and adapters do not reach into each other.
func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, imports := strings.TrimPrefix(fields[0], module), fields[1:]
		for _, imp := range imports {
			if msg := importViolation(pkg, imp); msg != "" {
				t.Errorf("%s imports %s: %s", fields[0], imp, msg)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("go list reported no imports at all; the check checked nothing")
	}
}

// importViolation returns why pkg (relative to the module, e.g. "/domain")
// may not import imp, or "" when it may.
func importViolation(pkg, imp string) string {
	std := !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".")
	own := strings.HasPrefix(imp, module)
	rel := strings.TrimPrefix(imp, module)
	under := func(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
	switch {
	case under(pkg, "/domain"), under(pkg, "/config"), under(pkg, "/schema"):
		if !std && !(own && under(pkg, "/domain") && under(rel, "/domain")) {
			return "this package may import only the standard library"
		}
	case under(pkg, "/ports/porttest") && strings.HasPrefix(imp, "github.com/google/go-cmp/"):
		// The contract suites are test code and may use the test helpers the rest of the tests use.
	case under(pkg, "/ports"):
		if !std && !(own && (under(rel, "/domain") || under(rel, "/ports"))) {
			return "ports may import only the standard library, domain and ports"
		}
	case under(pkg, "/app"):
		if !std && !(own && (under(rel, "/domain") || under(rel, "/ports") || under(rel, "/app") || under(rel, "/config"))) {
			return "app may import only the standard library, domain, ports and config (no adapters, SDKs, SQL or HTTP frameworks)"
		}
	case under(pkg, "/adapters"):
		if own && under(rel, "/adapters") {
			self := "/adapters/" + strings.SplitN(strings.TrimPrefix(pkg, "/adapters/"), "/", 2)[0]
			if !under(rel, self) {
				return "adapters must not import each other (compose them in the root package)"
			}
		}
		if own && under(rel, "/app") && !under(pkg, "/adapters/httpapi") {
			return "only the HTTP adapter drives app; other adapters implement ports"
		}
	}
	return ""
}

func TestImportViolationRules(t *testing.T) {
	cases := []struct {
		pkg, imp string
		allowed  bool
	}{
		{"/domain", "time", true},
		{"/domain", "github.com/uptrace/bun", false},
		{"/domain", module + "/ports", false},
		{"/ports", module + "/domain", true},
		{"/ports", "github.com/aws/aws-sdk-go-v2/aws", false},
		{"/ports/porttest", module + "/ports", true},
		{"/app", module + "/adapters/postgres", false},
		{"/app", "github.com/labstack/echo/v4", false},
		{"/app", module + "/ports", true},
		{"/adapters/postgres", module + "/adapters/s3", false},
		{"/adapters/postgres/pgtest", module + "/adapters/postgres", true},
		{"/adapters/httpapi", module + "/app", true},
		{"/adapters/s3", module + "/app", false},
		{"/adapters/s3", "github.com/aws/aws-sdk-go-v2/service/s3", true},
		{"/config", "github.com/joho/godotenv", false},
	}
	for _, tc := range cases {
		got := importViolation(tc.pkg, tc.imp) == ""
		if got != tc.allowed {
			t.Errorf("%s -> %s: got allowed=%v, want %v", tc.pkg, tc.imp, got, tc.allowed)
		}
	}
}
