//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// walkthroughMarker precedes each shell block of the README's "Try it in
// five minutes" that TestDevWalkthrough runs.
const walkthroughMarker = "<!-- walkthrough -->"

// walkthroughAPI is the line of the walkthrough that names the API; the
// test replaces it with its own dev's address and changes nothing else.
const walkthroughAPI = "API=http://127.0.0.1:8080"

// readmeWalkthrough returns the README's walkthrough: every ```sh block
// right after a walkthroughMarker line, in order, as one script.
func readmeWalkthrough(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	blocks := 0
	lines := strings.Split(string(raw), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != walkthroughMarker {
			continue
		}
		if i+1 >= len(lines) || strings.TrimSpace(lines[i+1]) != "```sh" {
			t.Fatalf("README.md line %d: %s must be followed by a ```sh block", i+1, walkthroughMarker)
		}
		i += 2
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			script.WriteString(lines[i] + "\n")
		}
		blocks++
	}
	if blocks == 0 {
		t.Fatalf("README.md has no %s block", walkthroughMarker)
	}
	return script.String()
}

// TestDevWalkthrough starts `gatehouse dev` on a fresh data directory and
// runs the README's walkthrough against it, exactly as written but for the
// API's address: sign up, the verification link from /dev/mail, login, an
// upload that is scanned, accepted and downloaded, and the EICAR file
// rejected. Each command must succeed (bash -e -o pipefail; the README's
// own greps and cmp check the results), and the results are checked again
// here. Then it checks /dev/mail itself, for scripts and for people.
func TestDevWalkthrough(t *testing.T) {
	t.Parallel()
	var tools []string
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			tools = append(tools, tool)
		}
	}
	if len(tools) > 0 {
		t.Fatalf("the README walkthrough runs with %s, which this machine lacks: install it to run this test", strings.Join(tools, " and "))
	}
	script := readmeWalkthrough(t)
	if n := strings.Count(script, walkthroughAPI+"\n"); n != 1 {
		t.Fatalf("the walkthrough should set the API once, as the line %q; it does %d times:\n%s", walkthroughAPI, n, script)
	}

	d := startDev(t, devDataDir(t))
	script = strings.Replace(script, walkthroughAPI+"\n", "API="+d.base+"\n", 1)

	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-u", "-o", "pipefail", "-c", script)
	cmd.Dir = work
	// Nothing from the caller's environment: no proxy, no ~/.curlrc.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + work, "CURL_HOME=" + work, "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README walkthrough failed: %v\n--- script ---\n%s--- its output ---\n%s\n--- dev's log ---\n%s", err, script, out, d.stderr.String())
	}

	hello, err := os.ReadFile(filepath.Join(work, "hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	downloaded, err := os.ReadFile(filepath.Join(work, "downloaded.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(downloaded, hello) || len(hello) == 0 {
		t.Errorf("downloaded file: got %q, want the uploaded %q", downloaded, hello)
	}
	for _, want := range []string{
		`"status":"scanning"`,
		`"status":"accepted"`,
		`"result":"NO_THREATS_FOUND"`,
		`"status":"rejected"`,
		`"code":"threats_found"`,
		`"threats":["` + eicarThreat + `"]`,
		`"code":"upload_not_accepted"`,
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the walkthrough's output lacks %s:\n%s", want, out)
		}
	}
	// The events reach the log through the outbox dispatcher, which polls:
	// they may land a moment after the walkthrough's last request.
	for _, want := range []string{`"msg":"upload scanned"`, `"type":"upload.accepted"`, `"type":"upload.rejected"`} {
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(d.stderr.String(), want) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if !strings.Contains(d.stderr.String(), want) {
			t.Errorf("dev's log lacks %s", want)
		}
	}

	t.Run("/dev/mail for scripts", func(t *testing.T) {
		resp, body := devGet(t, d.base+devMailPath, "application/json")
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type: got %q, want application/json", ct)
		}
		var got []struct {
			To      string    `json:"to"`
			Subject string    `json:"subject"`
			Text    string    `json:"text"`
			Links   []string  `json:"links"`
			SentAt  time.Time `json:"sent_at"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("decoding %s: %v", body, err)
		}
		if len(got) != 1 {
			t.Fatalf("got %d messages, want the one verification email:\n%s", len(got), body)
		}
		m := got[0]
		link := regexp.MustCompile(`^` + regexp.QuoteMeta(d.base) + `/verify-email#token=[A-Za-z0-9_-]{43}$`)
		if !strings.HasPrefix(m.To, "ada-") || m.Subject != "Confirm your email address" || len(m.Links) != 1 || !link.MatchString(m.Links[0]) ||
			!strings.Contains(m.Text, m.Links[0]) || m.SentAt.IsZero() {
			t.Errorf("the verification email: got %+v, want it to ada-…, subject \"Confirm your email address\", one link %s/verify-email#token=…", m, d.base)
		}
	})
	t.Run("/dev/mail for people", func(t *testing.T) {
		resp, body := devGet(t, d.base+devMailPath, "text/html,application/xhtml+xml,*/*;q=0.8")
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type: got %q, want text/html", ct)
		}
		for _, want := range []string{"<h2>Confirm your email address</h2>", `<a href="` + d.base + `/verify-email#token=`} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("the page lacks %s:\n%s", want, body)
			}
		}
	})
	t.Run("the pages the links lead to", func(t *testing.T) {
		for _, path := range []string{"/verify-email", "/reset-password"} {
			resp, body := devGet(t, d.base+path, "text/html")
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !bytes.Contains(body, []byte("<script>")) {
				t.Errorf("GET %s: got %s %q, want the page", path, ct, body)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'sha256-") || strings.Contains(csp, "unsafe") {
				t.Errorf("GET %s: Content-Security-Policy %q, want the page's script allowed by its hash only", path, csp)
			}
		}
	})
	if diff := cmp.Diff("", firstError(d.stderr.String())); diff != "" {
		t.Errorf("dev logged an error (-want +got):\n%s", diff)
	}
	d.stop(t)
}

// devGet GETs url with that Accept header and returns the 200 answer and
// its body.
func devGet(t *testing.T, url, accept string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: got %d, want 200: %s", url, resp.StatusCode, body)
	}
	return resp, body
}

// firstError returns the first line of a JSON log at level ERROR, or "".
func firstError(log string) string {
	for line := range strings.Lines(log) {
		var l struct {
			Level string `json:"level"`
		}
		if err := json.Unmarshal([]byte(line), &l); err == nil && l.Level == "ERROR" {
			return line
		}
	}
	return ""
}
