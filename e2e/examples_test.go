package e2e

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

// The example campaign the README applies stays a valid document.
func TestExampleCampaignApplies(t *testing.T) {
	t.Parallel()
	h := start(t)
	doc, err := os.ReadFile("../examples/campaign.yaml")
	if err != nil {
		t.Fatal(err)
	}
	status, body := h.adminRaw(http.MethodPut, "/admin/v1/campaigns/CMP-EXAMPLE", "application/yaml", string(doc))
	if status != http.StatusOK || !strings.Contains(body, `"version":1`) {
		t.Fatalf("applying examples/campaign.yaml: HTTP %d %s", status, body)
	}
}
