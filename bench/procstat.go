package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of the CPU times in
// /proc/<pid>/stat: 100 on every Linux architecture Go supports.
const clockTicks = 100

// procTimes are one process's CPU times from /proc/<pid>/stat, in clock
// ticks: its own (utime+stime) and that of its children it has waited for
// (cutime+cstime).
type procTimes struct {
	ppid     int
	self     int64
	children int64
}

// readProcTimes parses /proc/<pid>/stat. The command name (field 2) may hold
// spaces and parentheses, so the fields are counted from the last ')'.
func readProcTimes(pid int) (procTimes, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procTimes{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procTimes{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
	if len(f) < 15 {
		return procTimes{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var n [5]int64
	for j, k := range []int{1, 11, 12, 13, 14} {
		if n[j], err = strconv.ParseInt(f[k], 10, 64); err != nil {
			return procTimes{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
	}
	return procTimes{ppid: int(n[0]), self: n[1] + n[2], children: n[3] + n[4]}, nil
}

// cpuTicks is a process's own CPU time in clock ticks.
func cpuTicks(pid int) (int64, error) {
	t, err := readProcTimes(pid)
	return t.self, err
}

// treeTicks is the CPU time of a server and its children: its own, that of
// the children it has reaped, and that of the children still running. The
// difference of two readings counts every process that ran in between, also
// those that exited (their time moves from the live sum to the parent's
// cutime/cstime when the parent waits for them), which is how PostgreSQL's
// backends come and go.
func treeTicks(parent int) (int64, error) {
	pt, err := readProcTimes(parent)
	if err != nil {
		return 0, err
	}
	total := pt.self + pt.children
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == parent {
			continue
		}
		t, err := readProcTimes(pid)
		if err != nil || t.ppid != parent {
			continue // gone meanwhile, or not a child
		}
		total += t.self
	}
	return total, nil
}

// selfTicks is this process's CPU time (all threads) in clock ticks.
func selfTicks() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	us := ru.Utime.Sec*1e6 + int64(ru.Utime.Usec) + ru.Stime.Sec*1e6 + int64(ru.Stime.Usec)
	return us * clockTicks / 1e6
}

// cpuPercent turns a tick count over wall time into percent of one core
// (100% is one core busy all the time).
func cpuPercent(ticks int64, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return float64(ticks) / clockTicks / wall.Seconds() * 100
}

// rssKiB returns VmRSS and VmHWM (the peak) of a process, in KiB.
func rssKiB(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		n, perr := strconv.ParseInt(f[0], 10, 64)
		if perr != nil {
			continue
		}
		switch name {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
	}
	return rss, hwm, nil
}

// cpuMeter reads the CPU time of the processes a measurement is about.
type cpuMeter struct {
	server int // 0: none (in-process scenarios count the worker as server)
	db     int // PostgreSQL's postmaster
}

// cpuReading is one reading of a cpuMeter.
type cpuReading struct {
	at                 time.Time
	server, db, loader int64
	busy, all          int64 // the whole machine's, from /proc/stat
}

// machineTicks returns the ticks all CPUs spent busy and in total (the
// "cpu" line of /proc/stat; idle and iowait count as not busy).
func machineTicks() (busy, all int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, _ := strconv.ParseInt(v, 10, 64)
		all += n
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return busy, all
}

func (m cpuMeter) read() cpuReading {
	r := cpuReading{at: time.Now(), loader: selfTicks()}
	r.busy, r.all = machineTicks()
	if m.server > 0 {
		r.server, _ = cpuTicks(m.server)
	}
	if m.db > 0 {
		r.db, _ = treeTicks(m.db)
	}
	return r
}

// cpuUsage is the CPU the processes used between two readings, in percent
// of one core.
type cpuUsage struct {
	Server, DB, Loader float64
	// Machine is how busy all the CPUs were, in percent of one core like
	// the others (the machine's total is the number of CPUs times 100).
	Machine float64
}

func usageBetween(a, b cpuReading) cpuUsage {
	wall := b.at.Sub(a.at)
	u := cpuUsage{
		Server: cpuPercent(b.server-a.server, wall),
		DB:     cpuPercent(b.db-a.db, wall),
		Loader: cpuPercent(b.loader-a.loader, wall),
	}
	if all := b.all - a.all; all > 0 {
		u.Machine = float64(b.busy-a.busy) / float64(all) * float64(runtime.NumCPU()) * 100
	}
	return u
}
