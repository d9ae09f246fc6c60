package vsrp

import (
	"regexp"
	"time"
)

// BIN is one configured BIN range: a 6- or 8-digit prefix and the card attributes it gives.
type BIN struct {
	BIN                  string `json:"bin"`
	BID                  string `json:"bid"`
	IssuerName           string `json:"issuerName"`
	IssuerNameNative     string `json:"issuerNameNative"`
	IssuingCountryCode   string `json:"issuingCountryCode"`
	AccountFundingSource string `json:"accountFundingSource"` // D debit, C credit, P prepaid
	ProductID            string `json:"productId"`
	ProductName          string `json:"productName"`
	ProductNameNative    string `json:"productNameNative"`
	IsDualBrand          bool   `json:"isDualBrand"`
	IsChip               bool   `json:"isChip"`
}

// User is a person as known to one app.
type User struct {
	AppID     string
	Vuid      string
	AuidHash  []byte // keyed hash of the auid; the auid itself is not stored
	CreatedAt time.Time
}

// Card is a Visa card known to the platform. The PAN is stored sealed, looked up by its
// keyed hash, and never returned.
type Card struct {
	ID        string
	PANHash   []byte
	PANSealed []byte
	BIN       string // the matched configured prefix
	Last4     string
	CreatedAt time.Time
}

// CardView is a card with its BIN attributes and, for one app, its user and binding time.
type CardView struct {
	Card
	Attrs   BIN
	Vuid    string    // the card's user in the calling app, "" if none
	BoundAt time.Time // binding time in the calling app
}

// ValidPAN reports whether pan is 16 digits, starts with 4 (Visa) and passes the Luhn check.
func ValidPAN(pan string) bool {
	if len(pan) != 16 || pan[0] != '4' {
		return false
	}
	sum := 0
	for i := 0; i < 16; i++ {
		c := pan[15-i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// digitRun is a run of digits, possibly grouped by single spaces, dashes, dots, underscores
// or slashes.
var digitRun = regexp.MustCompile(`[0-9](?:[ ._/-]?[0-9])*`)

// MaskDigits replaces what could be a card number in text shown to people or logs with
// "[digits]": a run of at least inRow digits in a row, or of twelve digits or more grouped by
// single spaces, dashes, dots, underscores or slashes (a PAN written "4111 1111 1111 1111").
func MaskDigits(s string, inRow int) string {
	return digitRun.ReplaceAllStringFunc(s, func(run string) string {
		digits, longest, row := 0, 0, 0
		for _, c := range run {
			if c >= '0' && c <= '9' {
				digits, row = digits+1, row+1
				longest = max(longest, row)
			} else {
				row = 0
			}
		}
		if longest >= inRow || digits >= 12 {
			return "[digits]"
		}
		return run
	})
}
