package httpapi_test

import (
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite api/openapi.yaml from the served document")

// contractPath is the committed HTTP contract.
var contractPath = filepath.Join("..", "..", "api", "openapi.yaml")

// TestOpenAPIUpToDate keeps api/openapi.yaml equal to what the server serves,
// so every change to the HTTP contract shows up in review.
func TestOpenAPIUpToDate(t *testing.T) {
	s := newServer(t, baseConfig())
	res := s.do(httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil))
	if res.Code != http.StatusOK {
		t.Fatalf("GET /openapi.yaml: got %d, want 200", res.Code)
	}
	served := res.Body.String()

	if *update {
		if err := os.WriteFile(contractPath, []byte(served), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", contractPath)
		return
	}
	committed, err := os.ReadFile(contractPath)
	if err != nil {
		t.Fatalf("reading the committed contract: %v\nGenerate it with: go test ./adapters/httpapi -run TestOpenAPIUpToDate -update", err)
	}
	if diff := cmp.Diff(string(committed), served); diff != "" {
		t.Errorf("api/openapi.yaml differs from the API the code serves (-committed +served):\n%s\n"+
			"If the change is intended, regenerate the file and review the diff:\n"+
			"  go test ./adapters/httpapi -run TestOpenAPIUpToDate -update", diff)
	}
}

// TestOpenAPIDescribesProblems checks the document's content, not just its
// stability: the operations are there and every error is a Problem.
func TestOpenAPIDescribesProblems(t *testing.T) {
	t.Parallel()
	s := newServer(t, baseConfig())
	res := s.do(httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if res.Code != http.StatusOK {
		t.Fatalf("GET /openapi.json: got %d, want 200", res.Code)
	}
	type mediaType struct {
		Schema struct {
			Ref string `json:"$ref"`
		} `json:"schema"`
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Responses   map[string]struct {
				Content map[string]mediaType `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Required   []string       `json:"required"`
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(res.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi: got %q, want 3.1.0", doc.OpenAPI)
	}
	problem := "#/components/schemas/Problem"
	cases := []struct{ path, status string }{
		{"/healthz", "default"},
		{"/readyz", "503"},
		{"/readyz", "default"},
	}
	for _, tc := range cases {
		t.Run(tc.path+" "+tc.status, func(t *testing.T) {
			op, ok := doc.Paths[tc.path]["get"]
			if !ok {
				t.Fatalf("no GET %s in the document", tc.path)
			}
			got := op.Responses[tc.status].Content["application/problem+json"].Schema.Ref
			if got != problem {
				t.Errorf("response %s: got schema %q, want %q", tc.status, got, problem)
			}
		})
	}
	wantRequired := []string{"type", "title", "status", "detail", "code", "request_id"}
	if diff := cmp.Diff(wantRequired, doc.Components.Schemas["Problem"].Required); diff != "" {
		t.Errorf("Problem required members (-want +got):\n%s", diff)
	}
	if _, ok := doc.Components.Schemas["Problem"].Properties["errors"]; !ok {
		t.Errorf("Problem schema: no errors property")
	}
}
