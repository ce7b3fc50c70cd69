package argon2id

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

// On Linux a slot's mapping is advised to use huge pages: the kernel marks
// it "hg" in /proc/self/smaps (whether it then finds huge pages for it is
// up to the system).
func TestSlotBufferAdvisesHugePages(t *testing.T) {
	t.Parallel()
	h := newHasher(t, Options{Params: cheap, MaxConcurrent: 1})
	if _, err := h.Hash("password-1"); err != nil {
		t.Fatal(err)
	}
	b, err := h.acquire("test")
	if err != nil {
		t.Fatal(err)
	}
	defer h.release(b)
	start := uintptr(unsafe.Pointer(&b.mapped[0]))
	flags, err := vmFlags(start)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Errorf("the mapping at %#x has VmFlags %q, want hg (MADV_HUGEPAGE) among them", start, flags)
	}
}

// vmFlags returns the VmFlags line of the mapping that starts at addr.
func vmFlags(addr uintptr) (string, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return "", err
	}
	defer f.Close()
	want := fmt.Sprintf("%x-", addr)
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		// A mapping's header ("start-end perms ...") starts each entry;
		// its attributes ("Name: value") follow.
		if name, _, _ := strings.Cut(line, " "); !strings.HasSuffix(name, ":") {
			in = strings.HasPrefix(line, want)
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmFlags:")), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no mapping starts at %#x in /proc/self/smaps", addr)
}
