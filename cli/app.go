package cli

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
)

// AppCmd groups the app commands.
type AppCmd struct {
	Create AppCreateCmd `cmd:"" help:"Create a partner app and print its credentials (shown only this once)."`
	List   AppListCmd   `cmd:"" help:"List the partner apps (no secrets)."`
}

// AppCreateCmd creates an app. The list flags may be repeated or hold comma-separated values.
type AppCreateCmd struct {
	AdminFlags
	Name        string   `required:"" help:"The app's name (1 to 200 characters)."`
	Scope       []string `placeholder:"SCOPE" help:"A scope granted: user, enroll or reward (repeatable; all three when none is given)."`
	IPWhitelist []string `name:"ip-whitelist" placeholder:"CIDR" help:"An address or CIDR the app may call from (repeatable; required unless the server runs in sandbox mode, where none lets every address call)."`
	NotifyURL   string   `name:"notify-url" placeholder:"URL" help:"The http(s) URL reward notifications are sent to."`
	Campaign    []string `placeholder:"CAMPAIGN_ID" help:"A campaign the app may use (repeatable)."`
	BID         []string `name:"bid" placeholder:"BID" help:"An issuer (BID) whose cards the app may see (repeatable; none: every issuer)."`
}

// Run creates the app and prints its credentials on standard output, once; nothing else
// keeps them (the server stores only a hash of the appSecret).
func (c *AppCreateCmd) Run(rc *runCtx) error {
	// Absent lists stay absent: the server then grants its defaults (every scope).
	spec := struct {
		Name        string   `json:"name"`
		Scopes      []string `json:"scopes,omitempty"`
		IPWhitelist []string `json:"ipWhitelist,omitempty"`
		NotifyURL   string   `json:"notifyUrl,omitempty"`
		CampaignIDs []string `json:"campaignIds,omitempty"`
		BIDs        []string `json:"bids,omitempty"`
	}{c.Name, c.Scope, c.IPWhitelist, c.NotifyURL, c.Campaign, c.BID}
	buf, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	var creds struct {
		AppID         string `json:"appId"`
		AppSecret     string `json:"appSecret"`
		WebhookSecret string `json:"webhookSecret"`
		KeyID         string `json:"keyId"`
		PublicKeyPEM  string `json:"publicKeyPem"`
	}
	if err := c.do(http.MethodPost, "/admin/v1/apps", "application/json", bytes.NewReader(buf), &creds); err != nil {
		return err
	}
	fmt.Fprintf(rc.out, "app %s created; its secrets are shown only now: store them safely.\n", creds.AppID)
	fmt.Fprintf(rc.out, "appId:         %s\n", creds.AppID)
	fmt.Fprintf(rc.out, "appSecret:     %s\n", creds.AppSecret)
	fmt.Fprintf(rc.out, "webhookSecret: %s\n", creds.WebhookSecret)
	fmt.Fprintf(rc.out, "keyId:         %s\n", creds.KeyID)
	fmt.Fprintf(rc.out, "publicKeyPem:\n%s\n", strings.TrimRight(creds.PublicKeyPEM, "\n"))
	if len(c.IPWhitelist) == 0 {
		fmt.Fprintln(rc.errOut, "vsrp: warning: no --ip-whitelist: every address may call the app's API with its credentials")
	}
	return nil
}

// AppListCmd lists the apps.
type AppListCmd struct {
	AdminFlags
}

// Run prints one line per app, under a header (nothing when there is no app).
func (c *AppListCmd) Run(rc *runCtx) error {
	var res struct {
		Apps []struct {
			AppID       string   `json:"appId"`
			Name        string   `json:"name"`
			Scopes      []string `json:"scopes"`
			IPWhitelist []string `json:"ipWhitelist"`
			NotifyURL   string   `json:"notifyUrl"`
			CampaignIDs []string `json:"campaignIds"`
			BIDs        []string `json:"bids"`
			Enabled     bool     `json:"enabled"`
			CreatedAt   string   `json:"createdAt"`
		} `json:"apps"`
	}
	if err := c.do(http.MethodGet, "/admin/v1/apps", "", nil, &res); err != nil {
		return err
	}
	if len(res.Apps) == 0 {
		return nil
	}
	list := func(l []string, none string) string {
		if len(l) == 0 {
			return none
		}
		return strings.Join(l, ",")
	}
	tw := tabwriter.NewWriter(rc.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "APP ID\tNAME\tSTATE\tSCOPES\tCAMPAIGNS\tBIDS\tIP WHITELIST\tNOTIFY URL\tCREATED")
	for _, a := range res.Apps {
		state := "enabled"
		if !a.Enabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.AppID, a.Name, state, list(a.Scopes, "-"), list(a.CampaignIDs, "-"),
			list(a.BIDs, "all"), list(a.IPWhitelist, "any"), cmp.Or(a.NotifyURL, "-"), a.CreatedAt)
	}
	return tw.Flush()
}
