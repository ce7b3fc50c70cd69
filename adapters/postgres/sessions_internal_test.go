package postgres

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
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

// The hot reads' scan targets convert as pgx's own scans into strings and
// times would, and refuse what those refuse.
func TestScanTargetConversions(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var u pgtype.UUID
		for i := range u.Bytes {
			u.Bytes[i] = byte(r.Uint32())
		}
		u.Valid = true
		want, err := u.Value() // pgx's text form of a uuid
		if err != nil {
			t.Fatal(err)
		}
		if got, err := idOf(u); err != nil || got != want {
			t.Fatalf("idOf(%x) = %q, %v; want %q", u.Bytes, got, err, want)
		}
	}
	if _, err := idOf(pgtype.UUID{}); err == nil {
		t.Error("idOf(NULL): got nil error")
	}

	local := time.Date(2026, 11, 26, 10, 0, 0, 123456000, time.FixedZone("UTC+1", 3600))
	got, err := timeOf(pgtype.Timestamptz{Time: local, Valid: true})
	if err != nil || !got.Equal(local) || got.Location() != time.UTC {
		t.Errorf("timeOf: got %v, %v; want %v in UTC", got, err, local)
	}
	for name, ts := range map[string]pgtype.Timestamptz{
		"NULL":      {},
		"infinity":  {InfinityModifier: pgtype.Infinity, Valid: true},
		"-infinity": {InfinityModifier: pgtype.NegativeInfinity, Valid: true},
	} {
		if _, err := timeOf(ts); err == nil {
			t.Errorf("timeOf(%s): got nil error", name)
		}
	}
	if p, err := timePtrOf(pgtype.Timestamptz{}); p != nil || err != nil {
		t.Errorf("timePtrOf(NULL) = %v, %v; want nil, nil", p, err)
	}
	if p, err := timePtrOf(pgtype.Timestamptz{Time: local, Valid: true}); err != nil || p == nil || !p.Equal(local) || p.Location() != time.UTC {
		t.Errorf("timePtrOf = %v, %v; want %v in UTC", p, err, local)
	}
	if _, err := timePtrOf(pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}); err == nil {
		t.Error("timePtrOf(infinity): got nil error")
	}
}
