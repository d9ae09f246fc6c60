package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/vsrp-dev/vsrp"
)

// BillCmd groups the bill commands.
type BillCmd struct {
	List     BillListCmd     `cmd:"" help:"List bills (of one campaign with --campaign)."`
	Generate BillGenerateCmd `cmd:"" help:"Generate a bill (before it falls due only with --force)."`
	Approve  BillApproveCmd  `cmd:"" help:"Approve a generated bill."`
	Settle   BillSettleCmd   `cmd:"" help:"Record settlement results of an approved bill."`
}

type billRow struct {
	BillID         string            `json:"billId"`
	CampaignID     string            `json:"campaignId"`
	OfferID        string            `json:"offerId"`
	Status         int               `json:"status"`
	StartDate      string            `json:"StartDate"`
	EndDate        string            `json:"EndDate"`
	SettlementDate string            `json:"SettlementDate"`
	RewardCount    int               `json:"rewardCount"`
	TotalAmount    json.Number       `json:"totalAmount"`
	Adjustments    []json.RawMessage `json:"adjustments"`
}

func printBill(rc *runCtx, b billRow) {
	fmt.Fprintf(rc.out, "%-28s %-16s %-18s %s..%s due %s  %-9s %6d rewards  %12s  %d adjustments\n", b.BillID, b.CampaignID,
		b.OfferID, b.StartDate, b.EndDate, b.SettlementDate, vsrp.BillStatusName(b.Status), b.RewardCount, b.TotalAmount, len(b.Adjustments))
}

// BillListCmd lists bills.
type BillListCmd struct {
	AdminFlags
	Campaign string `help:"Only this campaign's bills."`
}

// Run prints one line per bill.
func (c *BillListCmd) Run(rc *runCtx) error {
	var res struct {
		Bills []billRow `json:"bills"`
	}
	if err := c.do(http.MethodGet, "/admin/v1/bills?campaignId="+url.QueryEscape(c.Campaign), "", nil, &res); err != nil {
		return err
	}
	for _, b := range res.Bills {
		printBill(rc, b)
	}
	return nil
}

// BillGenerateCmd generates a bill.
type BillGenerateCmd struct {
	AdminFlags
	BillID string `arg:""`
	Force  bool   `help:"Generate before the period's end plus its settlement delay."`
}

// Run generates the bill and prints it.
func (c *BillGenerateCmd) Run(rc *runCtx) error {
	return billStep(rc, &c.AdminFlags, c.BillID, "generate", map[string]any{"force": c.Force})
}

// BillApproveCmd approves a bill.
type BillApproveCmd struct {
	AdminFlags
	BillID string `arg:""`
}

// Run approves the bill and prints it.
func (c *BillApproveCmd) Run(rc *runCtx) error {
	return billStep(rc, &c.AdminFlags, c.BillID, "approve", map[string]any{})
}

// BillSettleCmd records settlement results. Each --result is one value (sep:"none"): a
// message may hold commas, and kong would otherwise split the value on them.
type BillSettleCmd struct {
	AdminFlags
	BillID string   `arg:""`
	All    int      `help:"Settle every reward still settling with this status: 4 (settled) or 5 (failed)."`
	Result []string `sep:"none" help:"One reward's result: REWARD_ID=4 or REWARD_ID=5:message (repeatable; the message may hold commas)."`
}

// Run settles and prints the bill.
func (c *BillSettleCmd) Run(rc *runCtx) error {
	body := map[string]any{}
	if c.All != 0 {
		body["all"] = c.All
	}
	var results []map[string]any
	for _, r := range c.Result {
		id, rest, ok := strings.Cut(r, "=")
		st, msg, _ := strings.Cut(rest, ":")
		n, err := strconv.Atoi(st)
		if !ok || err != nil {
			return fmt.Errorf("--result %q: want REWARD_ID=4 or REWARD_ID=5:message", r)
		}
		results = append(results, map[string]any{"rewardId": id, "status": n, "message": msg})
	}
	if results != nil {
		body["results"] = results
	}
	return billStep(rc, &c.AdminFlags, c.BillID, "settle", body)
}

func billStep(rc *runCtx, f *AdminFlags, billID, step string, body map[string]any) error {
	buf, _ := json.Marshal(body)
	var b billRow
	if err := f.do(http.MethodPost, "/admin/v1/bills/"+url.PathEscape(billID)+"/"+step, "application/json", bytes.NewReader(buf), &b); err != nil {
		return err
	}
	printBill(rc, b)
	return nil
}
