package httpapi

import "testing"

// No card number reaches the access log, however it is written in the path; short numbers
// (ids, versions, dates' parts) stay readable.
func TestLogPathMasksCardNumbers(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/api/v1/cards/4111111111111111", "/api/v1/cards/[digits]"},
		{"/api/v1/cards/4111 1111 1111 1111", "/api/v1/cards/[digits]"},
		{"/api/v1/cards/4111-1111-1111-1111/x", "/api/v1/cards/[digits]/x"},
		{"/api/v1/cards/4111.1111.1111.1111", "/api/v1/cards/[digits]"},
		{"/api/v1/cards/4111_1111_1111_1111", "/api/v1/cards/[digits]"},
		{"/api/v1/cards/4111/1111/1111/1111/x", "/api/v1/cards/[digits]/x"},
		{"/admin/v1/x/2027/01/01", "/admin/v1/x/2027/01/01"},
		{"/admin/v1/campaigns/CMP-2027?version=12", "/admin/v1/campaigns/CMP-2027?version=12"},
		{"/admin/v1/bills/2027-01-01", "/admin/v1/bills/2027-01-01"},
		{"/x/12345", "/x/12345"},
		{"/x/123456", "/x/[digits]"},
	} {
		if got := logPath(c.in); got != c.want {
			t.Errorf("logPath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
