package postgres_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/domain"
)

// benchOwners is how many signed-in users the hot-read benchmark spreads its
// lookups over; each has one session and benchUploadsPerOwner uploads.
const (
	benchOwners          = 1000
	benchUploadsPerOwner = 5
)

// cpuMeter reports, besides time per operation, the CPU time each operation
// costs the benchmark process (go-cpu-us/op) and the PostgreSQL backends
// serving db (pg-cpu-us/op). On a shared, busy machine wall time swings with
// whatever else runs; CPU per operation is what decides how many requests
// the cores can serve, and it barely moves. The server's share is read
// from /proc, so it is reported only when the server runs on this machine.
type cpuMeter struct {
	db        *bun.DB
	pg        map[int]time.Duration
	pgOK      bool
	goStarted time.Duration
}

func startCPUMeter(b *testing.B, db *bun.DB) *cpuMeter {
	m := &cpuMeter{db: db}
	m.pg, m.pgOK = backendCPU(b, db)
	m.goStarted = processCPU(b)
	return m
}

func (m *cpuMeter) stop(b *testing.B) {
	n := float64(b.N)
	b.ReportMetric(float64((processCPU(b)-m.goStarted).Microseconds())/n, "go-cpu-us/op")
	after, ok := backendCPU(b, m.db)
	if !ok || !m.pgOK {
		return
	}
	var spent time.Duration
	for pid, t := range after {
		spent += t - m.pg[pid] // a backend started during the run counts whole
	}
	b.ReportMetric(float64(spent.Microseconds())/n, "pg-cpu-us/op")
}

// processCPU is the user and system time of this process so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendCPU returns the user and system time of every backend of db's role
// in db's database, by process id, or false when /proc does not show them.
func backendCPU(b *testing.B, db *bun.DB) (map[int]time.Duration, bool) {
	rows, err := db.DB.QueryContext(context.Background(),
		`SELECT pid FROM pg_stat_activity WHERE usename = current_user AND datname = current_database()`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	out := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			b.Fatal(err)
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil, false
		}
		// Fields after the command (which may hold spaces) start at state;
		// utime and stime are the 14th and 15th fields of the whole line,
		// in clock ticks, which Linux reports at 100 per second.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		utime, err1 := strconv.ParseInt(f[11], 10, 64)
		stime, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, false
		}
		out[pid] = time.Duration(utime+stime) * 10 * time.Millisecond
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return out, true
}

// BenchmarkAuthenticatedUploadByID measures the hot read behind an
// authenticated GET /v1/uploads/{id}, session lookup included, two ways:
// as two prepared statements in two round trips (SessionByTokenHash, then
// UploadByID) and as the one joined statement of UploadForSession, which
// the API uses. Both decode into the domain types.
func BenchmarkAuthenticatedUploadByID(b *testing.B) {
	ctx := context.Background()
	db := openAppDB(b)
	s := postgres.NewStore(db)
	type target struct {
		hash     domain.TokenHash
		uploadID string
	}
	targets := make([]target, 0, benchOwners*benchUploadsPerOwner)
	err := s.WithinTx(ctx, func(ctx context.Context) error {
		for range benchOwners {
			owner := newUserValue(b)
			if err := s.CreateUser(ctx, owner); err != nil {
				return err
			}
			sess := createSessionIn(ctx, b, s, owner.ID)
			for range benchUploadsPerOwner {
				u := newUploadValue(b, owner.ID)
				if err := s.CreateUpload(ctx, u); err != nil {
					return err
				}
				targets = append(targets, target{sess.TokenHash, u.ID})
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}

	twoStatements := func(tg target) error {
		_, user, err := s.SessionByTokenHash(ctx, tg.hash)
		if err != nil {
			return err
		}
		_, err = s.UploadByID(ctx, tg.uploadID, user.ID)
		return err
	}
	joined := func(tg target) error {
		_, _, u, err := s.UploadForSession(ctx, tg.hash, tg.uploadID)
		if err == nil && u == nil {
			err = fmt.Errorf("upload %s not found", tg.uploadID)
		}
		return err
	}

	for _, bc := range []struct {
		name   string
		lookup func(target) error
	}{
		{"two-statements", twoStatements},
		{"joined", joined},
	} {
		b.Run(bc.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			m := startCPUMeter(b, db)
			i := 0
			for b.Loop() {
				if err := bc.lookup(targets[i%len(targets)]); err != nil {
					b.Fatal(err)
				}
				i += 7
			}
			m.stop(b)
		})
		// 8 concurrent callers on 2 cores: past that, more only queues.
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			m := startCPUMeter(b, db)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if err := bc.lookup(targets[i%len(targets)]); err != nil {
						b.Error(err)
						return
					}
					i += 13
				}
			})
			m.stop(b)
		})
	}
}

func createSessionIn(ctx context.Context, t testing.TB, s *postgres.Store, userID string) domain.Session {
	t.Helper()
	_, sess, err := domain.NewSession(nil, newID(t), userID, at, domain.DefaultSessionPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return sess
}
