package vsrp

import (
	"fmt"
	"strconv"
	"strings"
)

// minorDigits are the minor-unit digits of the currencies VSRP knows (ISO 4217).
var minorDigits = map[string]int{
	"CNY": 2, "HKD": 2, "MOP": 2, "TWD": 2, "USD": 2, "EUR": 2, "GBP": 2, "SGD": 2, "AUD": 2, "CAD": 2,
	"CHF": 2, "NZD": 2, "THB": 2, "MYR": 2, "PHP": 2, "INR": 2, "JPY": 0, "KRW": 0, "VND": 0, "IDR": 2,
}

// MinorDigits answers the currency's minor-unit digits, and false for an unknown currency.
func MinorDigits(currency string) (int, bool) {
	d, ok := minorDigits[currency]
	return d, ok
}

// Decimal is an exact decimal number as written in a document or request (a JSON number,
// kept as its text so that no float ever holds money).
type Decimal string

// UnmarshalJSON accepts a JSON number (or a string holding one).
func (d *Decimal) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if unq, err := strconv.Unquote(s); err == nil {
		s = unq
	}
	if s == "null" {
		*d = ""
		return nil
	}
	ip, frac, err := parseDecimal(s)
	if err != nil {
		return fmt.Errorf("not a decimal number: %s", s)
	}
	*d = canonicalDecimal(ip, frac)
	return nil
}

// canonicalDecimal writes a number one way: 10, 10.0 and 010.00 are all 10, so that the same
// document in JSON and in YAML (which keeps no trailing zeros) is the same document.
func canonicalDecimal(ip, frac string) Decimal {
	neg := strings.HasPrefix(ip, "-")
	ip = strings.TrimLeft(strings.TrimPrefix(ip, "-"), "0")
	frac = strings.TrimRight(frac, "0")
	if ip == "" {
		ip = "0"
	}
	if frac != "" {
		ip += "." + frac
	}
	if neg && ip != "0" {
		ip = "-" + ip
	}
	return Decimal(ip)
}

// MarshalJSON writes the number as written.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if d == "" {
		return []byte("null"), nil
	}
	return []byte(d), nil
}

// parseDecimal splits "-12.340" into sign-applied integer and fraction digit strings.
func parseDecimal(s string) (intPart, frac string, err error) {
	if s == "" {
		return "", "", fmt.Errorf("empty")
	}
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	if strings.ContainsAny(s, "eE") {
		return "", "", fmt.Errorf("exponent notation is not accepted")
	}
	intPart, frac, _ = strings.Cut(s, ".")
	if intPart == "" || !allDigits(intPart) || !allDigits(frac) {
		return "", "", fmt.Errorf("not a decimal")
	}
	if neg {
		intPart = "-" + intPart
	}
	return intPart, frac, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Scaled answers d × 10^digits as an exact integer; more fractional digits than digits (other
// than trailing zeros) are an error, never rounded away.
func (d Decimal) Scaled(digits int) (int64, error) {
	ip, frac, err := parseDecimal(string(d))
	if err != nil {
		return 0, err
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > digits {
		return 0, fmt.Errorf("more than %d decimal places", digits)
	}
	frac += strings.Repeat("0", digits-len(frac))
	neg := strings.HasPrefix(ip, "-")
	ip = strings.TrimPrefix(ip, "-")
	v, err := strconv.ParseInt(ip+frac, 10, 64)
	if err != nil || len(ip)+len(frac) > 17 {
		return 0, fmt.Errorf("too large")
	}
	if neg {
		v = -v
	}
	return v, nil
}

// FormatMinor writes an amount of minor units as a decimal in major units ("12.34").
func FormatMinor(v int64, digits int) string {
	neg := v < 0
	if neg {
		v = -v
	}
	s := strconv.FormatInt(v, 10)
	if digits > 0 {
		if len(s) <= digits {
			s = strings.Repeat("0", digits-len(s)+1) + s
		}
		s = s[:len(s)-digits] + "." + s[len(s)-digits:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
