package vsrp

import (
	"fmt"
	"strconv"
	"strings"
)

// minorDigits are the minor-unit digits of the currencies in circulation (ISO 4217, as card
// networks use them: IDR 2, where CLDR says 0), by their alphabetic codes.
var minorDigits = map[string]int{
	"AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2,
	"AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2,
	"BOB": 2, "BOV": 2, "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2,
	"CDF": 2, "CHE": 2, "CHF": 2, "CHW": 2, "CLF": 4, "CLP": 0, "CNY": 2, "COP": 2, "COU": 2,
	"CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2,
	"ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2,
	"GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2,
	"ILS": 2, "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0, "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2,
	"KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2,
	"LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2,
	"MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2, "MVR": 2, "MWK": 2, "MXN": 2, "MXV": 2,
	"MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2, "NZD": 2, "OMR": 3,
	"PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2, "PYG": 0, "QAR": 2, "RON": 2,
	"RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2,
	"SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2, "SVC": 2, "SYP": 2, "SZL": 2,
	"THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2,
	"UAH": 2, "UGX": 0, "USD": 2, "USN": 2, "UYI": 0, "UYU": 2, "UYW": 4, "UZS": 2, "VED": 2,
	"VES": 2, "VND": 0, "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2, "XCG": 2, "XOF": 0, "XPF": 0,
	"YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2,
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
