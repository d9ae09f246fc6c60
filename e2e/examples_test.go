package e2e

import (
	"io"
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
	req, err := http.NewRequest(http.MethodPut, h.url+"/admin/v1/campaigns/CMP-EXAMPLE", strings.NewReader(string(doc)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.admin)
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := h.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"version":1`) {
		t.Fatalf("applying examples/campaign.yaml: HTTP %d %s", resp.StatusCode, body)
	}
}
