package vsrp

import "testing"

func TestDecimalScaled(t *testing.T) {
	for _, c := range []struct {
		in     Decimal
		digits int
		want   int64
		bad    bool
	}{
		{"12.34", 2, 1234, false},
		{"100", 2, 10000, false},
		{"0.1", 2, 10, false},
		{"12.340", 2, 1234, false},
		{"12.345", 2, 0, true},
		{"5", 0, 5, false},
		{"5.5", 0, 0, true},
		{"-3.2", 2, -320, false},
		{"1e3", 2, 0, true},
		{"abc", 2, 0, true},
		{"99999999999999999999", 2, 0, true},
	} {
		got, err := c.in.Scaled(c.digits)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("%q.Scaled(%d) = %d, %v; want %d, bad=%v", c.in, c.digits, got, err, c.want, c.bad)
		}
	}
}

func TestFormatMinor(t *testing.T) {
	for _, c := range []struct {
		v      int64
		digits int
		want   string
	}{{1234, 2, "12.34"}, {5, 2, "0.05"}, {0, 2, "0.00"}, {-150, 2, "-1.50"}, {7, 0, "7"}} {
		if got := FormatMinor(c.v, c.digits); got != c.want {
			t.Errorf("FormatMinor(%d, %d) = %q, want %q", c.v, c.digits, got, c.want)
		}
	}
}

// Amounts are written one way whatever their spelling, so equal documents compare equal.
func TestDecimalCanonical(t *testing.T) {
	for in, want := range map[string]Decimal{`10.00`: "10", `"010.50"`: "10.5", `0.000`: "0", `-0.0`: "0", `-1.20`: "-1.2",
		`"7"`: "7", `0.05`: "0.05", `100`: "100", `null`: ""} {
		var d Decimal
		if err := d.UnmarshalJSON([]byte(in)); err != nil || d != want {
			t.Errorf("%s: %q %v, want %q", in, d, err, want)
		}
	}
	var d Decimal
	if err := d.UnmarshalJSON([]byte("1e6")); err == nil {
		t.Errorf("1e6 accepted as %q", d)
	}
}
