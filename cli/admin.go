package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// AdminFlags locate a running server's admin API.
type AdminFlags struct {
	Server     string `default:"http://127.0.0.1:8080" env:"VSRP_SERVER" help:"Base URL of the running server."`
	AdminToken string `env:"VSRP_ADMIN_TOKEN" required:"" help:"Admin API bearer token."`
}

// answerError is a non-2xx answer of the admin API: the server's message and details, and the
// body (an import's answer carries the counts of what was stored before a failure).
type answerError struct {
	msg  string
	body []byte
}

func (e *answerError) Error() string { return e.msg }

// do sends one admin request and decodes a 2xx JSON answer into out; any other answer becomes
// an *answerError with the server's message and details. It gives up after 10 minutes.
func (f *AdminFlags) do(method, path, contentType string, body io.Reader, out any) error {
	return f.send(10*time.Minute, method, path, contentType, body, out)
}

// send is do with a time limit for the whole exchange; 0 means none (a long upload).
func (f *AdminFlags) send(limit time.Duration, method, path, contentType string, body io.Reader, out any) error {
	return f.sendCtx(context.Background(), limit, method, path, contentType, body, out)
}

// sendCtx is send that also stops when ctx ends.
func (f *AdminFlags) sendCtx(ctx context.Context, limit time.Duration, method, path, contentType string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(f.Server, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+f.AdminToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := (&http.Client{Timeout: limit}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Message string `json:"message"`
				Details []struct {
					Field, Reason string
				} `json:"details"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error.Message == "" {
			return &answerError{msg: fmt.Sprintf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(data)), body: data}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "HTTP %d: %s", resp.StatusCode, e.Error.Message)
		for _, d := range e.Error.Details {
			if d.Reason == e.Error.Message {
				continue // an import that stopped says where in both
			}
			fmt.Fprintf(&b, "\n  %s: %s", d.Field, d.Reason)
		}
		return &answerError{msg: b.String(), body: data}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		// Something else answers at that address (a proxy's page, another service).
		return fmt.Errorf("%s %s: HTTP %d, but the answer is not the admin API's JSON (%v): is %s the VSRP server?",
			method, path, resp.StatusCode, err, f.Server)
	}
	return nil
}

// CampaignCmd groups the campaign commands.
type CampaignCmd struct {
	Apply CampaignApplyCmd `cmd:"" help:"Apply a campaign document (JSON or YAML) to a running server."`
}

// CampaignApplyCmd applies a campaign document.
type CampaignApplyCmd struct {
	AdminFlags
	File   string `short:"f" required:"" help:"Campaign document, JSON or YAML."`
	DryRun bool   `help:"Validate and show what would change, without changing anything."`
}

// Run sends the document and prints what changed (or would change).
func (c *CampaignApplyCmd) Run(rc *runCtx) error {
	doc, err := os.ReadFile(c.File)
	if err != nil {
		return err
	}
	// Editors on Windows start files with a byte order mark; it is no part of the document.
	doc = bytes.TrimPrefix(doc, utf8BOM)
	var head struct {
		CampaignID string `json:"campaignId" yaml:"campaignId"`
	}
	ctype := docType(c.File, doc)
	if err := unmarshalDoc(doc, ctype, &head); err != nil {
		return fmt.Errorf("%s: %w", c.File, err)
	}
	if head.CampaignID == "" {
		return fmt.Errorf("%s: no campaignId found", c.File)
	}
	path := "/admin/v1/campaigns/" + head.CampaignID
	if c.DryRun {
		path += "?dryRun=true"
	}
	var res struct {
		CampaignID string   `json:"campaignId"`
		Version    int      `json:"version"`
		Changed    bool     `json:"changed"`
		Changes    []string `json:"changes"`
	}
	if err := c.do(http.MethodPut, path, ctype, bytes.NewReader(doc), &res); err != nil {
		return err
	}
	switch {
	case !res.Changed:
		fmt.Fprintf(rc.out, "campaign %s unchanged (version %d)\n", res.CampaignID, res.Version)
	case c.DryRun:
		fmt.Fprintf(rc.out, "dry run: campaign %s would become version %d; %d changes:\n", res.CampaignID, res.Version, len(res.Changes))
	default:
		fmt.Fprintf(rc.out, "campaign %s applied as version %d; %d changes:\n", res.CampaignID, res.Version, len(res.Changes))
	}
	if res.Changed {
		for _, ch := range res.Changes {
			fmt.Fprintf(rc.out, "  %s\n", ch)
		}
	}
	return nil
}
