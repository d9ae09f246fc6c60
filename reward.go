package vsrp

import (
	"fmt"
	"time"
)

// BillStatusName names a bill status in words.
func BillStatusName(status int) string {
	switch status {
	case BillOpen:
		return "open"
	case BillGenerated:
		return "generated"
	case BillApproved:
		return "approved"
	case BillSettled:
		return "settled"
	case BillException:
		return "settled with failures"
	}
	return fmt.Sprintf("in status %d", status)
}

// Reward statuses (contract 6.8).
const (
	RewardNotMet   = 0
	RewardMet      = 1
	RewardToSettle = 2 // to settle / to claim
	RewardSettling = 3 // settling / being issued
	RewardSettled  = 4 // settled / issued
	RewardFailed   = 5
	RewardRedeemed = 6
	RewardExpired  = 7
	BillOpen       = 0
	BillGenerated  = 1
	BillApproved   = 2
	BillSettled    = 3
	BillException  = 4
	BillTypeSystem = "SYSTEM"
	BillTypeManual = "MANUAL"
	ItemIssued     = "ISSUED"
	ItemRedeemed   = "REDEEMED"
	ItemVoided     = "VOIDED"
	ItemExpired    = "EXPIRED"
)

// Bill is one offer's one billing period.
type Bill struct {
	ID             string
	CampaignID     string
	OfferID        string
	Name           string
	Type           string
	StartDate      string // yyyy-MM-dd, campaign timezone
	EndDate        string
	SettlementDate string
	Status         int
	CreatedAt      time.Time
}

// Reward is what a card, or an account, earned on one bill. Amounts are minor units of
// Currency.
type Reward struct {
	ID               string
	Bill             Bill
	CampaignID       string
	OfferID          string
	AccountAppID     string // account aggregation only
	AccountVuid      string
	Status           int
	Voided           bool
	Name             string
	Type             string
	Provider         string
	Code             string
	Currency         string
	CalculatedAmount int64
	ConfirmedAmount  *int64 // nil until the bill is generated
	ClaimRequired    bool
	ClaimBefore      time.Time
	ExpiredAt        time.Time
	CreatedAt        time.Time
	CalculatedAt     time.Time
	CalculateMessage string
	ClaimedAt        time.Time
	ClaimMessage     string
	SettledAt        time.Time
	SettleMessage    string
	RedeemedAt       time.Time
	RedeemMessage    string
	EventCount       int64
	EventTotalAmount int64
	CardIDs          []string
	Items            []RewardItem
}

// RewardItem is one detail of a non-cash reward, such as a coupon code.
type RewardItem struct {
	Type       string // barcode | QR | text | url
	Code       string
	Status     string // ISSUED | REDEEMED | VOIDED | EXPIRED
	ExpiredAt  time.Time
	VoidedAt   time.Time
	RedeemedAt time.Time
	SettledAt  time.Time
}

// RewardQuery selects the rewards one app may see (contract 6.8).
type RewardQuery struct {
	AppID         string
	CampaignIDs   []string // the campaigns to list: granted ones, or the one asked for
	CardID        string   // wins over Vuid
	Vuid          string
	BillStartDate string // bills starting on or after, yyyy-MM-dd
	BillEndDate   string // bills ending on or before
	MinStatus     int    // 0 all, 2 status ≥ 2, 4 status ≥ 4
	Page          int
	PageSize      int
}

// Transaction types.
const (
	Purchase = "purchase"
	Refund   = "refund"
	Reversal = "reversal"
)

// Transaction is one card transaction as stored. Amount is positive minor units of Currency
// for every type; Type says which way it goes.
type Transaction struct {
	ID              string
	Type            string
	OriginalID      string // refunds and reversals
	CardID          string
	Amount          int64
	Currency        string
	Time            time.Time
	MerchantID      string
	MerchantName    string
	MCC             string
	MerchantCountry string
}
