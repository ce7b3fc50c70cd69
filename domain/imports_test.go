package domain

import (
	"go/build"
	"strings"
	"testing"
)

// The domain imports the standard library only (test files may use test
// libraries).
func TestDomainImportsStandardLibraryOnly(t *testing.T) {
	t.Parallel()
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("found no imports; the check is not looking at the package")
	}
	for _, imp := range pkg.Imports {
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") {
			t.Errorf("domain imports %q, want the standard library only", imp)
		}
	}
}
