package postgres

import (
	"regexp"
	"strings"
	"testing"
)

// TestUploadForSessionColumns checks that the joined statement reads the
// upload's columns in uploadColumns' order, the order scanUpload takes
// them in, whether or not they are wrapped in COALESCE.
func TestUploadForSessionColumns(t *testing.T) {
	_, rest, ok := strings.Cut(uploadForSessionSQL, "AS upload_found,")
	if !ok {
		t.Fatal("uploadForSessionSQL has no upload_found column")
	}
	list, _, ok := strings.Cut(rest, "FROM sessions")
	if !ok {
		t.Fatal("uploadForSessionSQL has no FROM sessions")
	}
	// A column is up.<name> or COALESCE(up.<name>, <zero>), comma-separated.
	col := regexp.MustCompile(`\s*(?:COALESCE\(up\.(\w+), [^()]*\)|up\.(\w+))\s*(?:,|$)`)
	var got []string
	for list != "" {
		loc := col.FindStringSubmatchIndex(list)
		if loc == nil || loc[0] != 0 {
			t.Fatalf("cannot read a column at %q: want up.<name> or COALESCE(up.<name>, <zero>)", list)
		}
		m := col.FindStringSubmatch(list)
		got = append(got, m[1]+m[2])
		list = list[loc[1]:]
	}
	var want []string
	for _, c := range strings.Split(uploadColumns, ",") {
		want = append(want, strings.TrimSpace(c))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("upload columns:\n got %v\nwant %v", got, want)
	}
}
