//go:build unix

package pgcluster

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// InstallHint says exactly what to install when the server binaries are
// missing. scripts/ensure-postgres.sh (run by make) installs the Debian package
// itself when it can.
const InstallHint = `install PostgreSQL's server binaries: on Debian/Ubuntu, as root: apt-get install -y postgresql ` +
	`("make dev" and "make test" do this for you when run as root); on Fedora/RHEL: dnf install -y postgresql-server; ` +
	`on macOS: brew install postgresql@15 and put its bin directory on PATH`

// serverUser is the system account that runs the cluster when the caller is
// root: initdb and postgres refuse to run as root.
const serverUser = "postgres"

// owner is who runs initdb and postgres and owns the cluster's files.
type owner struct {
	cred *syscall.Credential // nil: the current user
}

func (o owner) uid() int {
	if o.cred == nil {
		return os.Geteuid()
	}
	return int(o.cred.Uid)
}

func (o owner) String() string {
	if o.cred == nil {
		if u, err := user.Current(); err == nil {
			return fmt.Sprintf("%q (the current user)", u.Username)
		}
		return fmt.Sprintf("uid %d (the current user)", os.Geteuid())
	}
	return fmt.Sprintf("the system user %q", serverUser)
}

func (o owner) chown(paths ...string) error {
	if o.cred == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, int(o.cred.Uid), int(o.cred.Gid)); err != nil {
			return err
		}
	}
	return nil
}

func (o owner) sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: o.cred}
}

// clusterOwner is the current user, or the "postgres" system user when the
// current user is root.
func clusterOwner() (owner, error) {
	if os.Geteuid() != 0 {
		return owner{}, nil
	}
	u, err := user.Lookup(serverUser)
	if err != nil {
		return owner{}, fmt.Errorf("running as root, and PostgreSQL refuses to: the cluster must run as the system user %q, which does not exist (%v); %s", serverUser, err, InstallHint)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return owner{}, fmt.Errorf("user %s has a non-numeric uid/gid %s/%s", serverUser, u.Uid, u.Gid)
	}
	return owner{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}}, nil
}

// checkReachable makes sure the owner can enter dir, which matters when the
// owner is not the current user: every directory above dir must let it
// search. The kernel decides (ACLs and all): a probe process started as the
// owner with dir as its working directory either starts or does not. When it
// does not, the error names the first directory that stops it and says what
// to do.
func checkReachable(o owner, bin, dir string) error {
	if o.cred == nil {
		return nil
	}
	if canEnter(o, bin, dir) {
		return nil
	}
	blocker := dir
	for _, d := range ancestors(dir) {
		if !canEnter(o, bin, d) {
			blocker = d
			break
		}
	}
	desc := ""
	if fi, err := os.Stat(blocker); err == nil {
		desc = " (" + fi.Mode().String()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			desc += fmt.Sprintf(", owner uid %d", st.Uid)
		}
		desc += ")"
	}
	return fmt.Errorf("PostgreSQL refuses to run as root, so the cluster runs as %s, which cannot reach %s: "+
		"it may not enter %s%s. Use a directory that user can reach (for example one under /var/tmp), run as a regular user, "+
		"or let it pass through with: chmod o+x %s",
		o, dir, blocker, desc, blocker)
}

// canEnter reports whether o can make dir its working directory.
func canEnter(o owner, bin, dir string) bool {
	cmd := exec.Command(filepath.Join(bin, "postgres"), "--version")
	cmd.Dir, cmd.Env = dir, childEnv()
	cmd.SysProcAttr = o.sysProcAttr()
	return cmd.Run() == nil
}

// ancestors lists dir's parents from the root down, then dir itself.
func ancestors(dir string) []string {
	var out []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		out = append(out, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// checkOwnedBy refuses a data directory that the cluster's owner does not
// own, which happens when a directory made by one user is reused by another
// (for instance, first as root, then as a regular user).
func checkOwnedBy(o owner, data string) error {
	fi, err := os.Stat(data)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) == o.uid() {
		return nil
	}
	return fmt.Errorf("the cluster in %s belongs to uid %d, but would run as %s (uid %d): run as the user who created it, or remove %s to start afresh (its data is lost)",
		data, st.Uid, o, o.uid(), filepath.Dir(filepath.Dir(data)))
}

// binDir finds the directory holding initdb and postgres: initdb on PATH
// (resolving Debian's wrapper symlinks), else the newest
// /usr/lib/postgresql/*/bin.
func binDir() (string, error) {
	return findBinDir(exec.LookPath, "/usr/lib/postgresql/*/bin")
}

func findBinDir(lookPath func(string) (string, error), glob string) (string, error) {
	if p, err := lookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && hasServer(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
	}
	dirs, _ := filepath.Glob(glob)
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if hasServer(d) {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL's server binaries (initdb, postgres) are not on PATH nor in " + filepath.Dir(filepath.Dir(glob)) + "/*/bin; " + InstallHint)
}

func hasServer(dir string) bool {
	for _, b := range []string{"initdb", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// binDirFor finds binaries able to run the existing cluster in data, whose
// PG_VERSION file names the major version that created it; a missing file
// (a new cluster) takes the newest binaries.
func binDirFor(data string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(data, "PG_VERSION"))
	if errors.Is(err, fs.ErrNotExist) {
		return binDir()
	}
	if err != nil {
		return "", err
	}
	want := strings.TrimSpace(string(raw))
	if d := filepath.Join("/usr/lib/postgresql", want, "bin"); hasServer(d) {
		return d, nil
	}
	bin, err := binDir()
	if err != nil {
		return "", err
	}
	if got := serverMajor(bin); got != want {
		return "", fmt.Errorf("the cluster in %s was made by PostgreSQL %s, but the server binaries in %s are version %s: install PostgreSQL %s's server (on Debian/Ubuntu: apt-get install -y postgresql-%s), or remove %s to start afresh (its data is lost)",
			data, want, bin, got, want, want, filepath.Dir(filepath.Dir(data)))
	}
	return bin, nil
}

// serverMajor is the major version of bin/postgres ("15"), or "unknown".
func serverMajor(bin string) string {
	out, err := exec.Command(filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		return "unknown"
	}
	// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
	f := strings.Fields(string(bytes.TrimSpace(out)))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.SplitN(f[2], ".", 2)[0]
}

// childEnv is the environment for initdb and postgres: ours without libpq's
// PG* variables, which would otherwise leak into the cluster's setup.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return append(env, "LC_ALL=C")
}
