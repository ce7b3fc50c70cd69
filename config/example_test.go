package config_test

import (
	"bufio"
	"os"
	"regexp"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/config"
)

var assignment = regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=(.*)$`)

// TestEnvExampleMatchesCode keeps .env.example true: it must list exactly the
// variables Load reads, and show each optional variable's real default.
func TestEnvExampleMatchesCode(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	example := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := assignment.FindStringSubmatch(sc.Text()); m != nil {
			if _, dup := example[m[1]]; dup {
				t.Errorf(".env.example lists %s twice", m[1])
			}
			example[m[1]] = m[2]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	res, err := load(base())
	if err != nil {
		t.Fatal(err)
	}
	var read, listed []string
	for _, v := range res.Vars {
		read = append(read, v.Name)
		if v.Set {
			continue // required or example-set: the file shows an example, not a default
		}
		if got, ok := example[v.Name]; ok && got != v.Value {
			t.Errorf(".env.example shows %s=%s, but its default is %q", v.Name, got, v.Value)
		}
	}
	for name := range example {
		listed = append(listed, name)
	}
	sort.Strings(read)
	sort.Strings(listed)
	if diff := cmp.Diff(read, listed); diff != "" {
		t.Errorf("variables read by config.Load (-) vs listed in .env.example (+):\n%s", diff)
	}
	_ = config.SchemaName
}
