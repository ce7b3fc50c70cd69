package httpapi

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/labstack/echo/v4"
)

// begin shares its header values between responses: a handler that adds to
// or edits one of those headers must not change what later responses get.
func TestSecurityHeadersAreNotSharedMutably(t *testing.T) {
	e := echo.New()
	e.Use(begin)
	e.GET("/", func(c echo.Context) error {
		h := c.Response().Header()
		h.Add("Cache-Control", "private")
		h["X-Frame-Options"][0] = "SAMEORIGIN"
		h.Set("Referrer-Policy", "origin")
		return c.NoContent(http.StatusNoContent)
	})
	e.GET("/plain", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if got := rec.Header().Values("Cache-Control"); !slices.Equal(got, []string{"no-store", "private"}) {
		t.Errorf("the editing handler's Cache-Control: got %q", got)
	}

	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/plain", nil))
	for _, kv := range securityHeaders {
		if got := rec.Header().Values(kv[0]); !slices.Equal(got, []string{kv[1]}) {
			t.Errorf("next response's %s: got %q, want %q", kv[0], got, kv[1])
		}
	}
}
