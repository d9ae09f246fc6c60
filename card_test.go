package vsrp

import "testing"

func TestValidPAN(t *testing.T) {
	for _, c := range []struct {
		pan  string
		want bool
	}{
		{"4111111111111111", true},
		{"4111111111111112", false}, // Luhn
		{"5105105105105100", false}, // not Visa
		{"411111111111111", false},  // 15 digits
		{"41111111111111111", false},
		{"4111a11111111111", false},
		{"4012888888881881", true},
		{"", false},
	} {
		if got := ValidPAN(c.pan); got != c.want {
			t.Errorf("ValidPAN(%q) = %v, want %v", c.pan, got, c.want)
		}
	}
}

func FuzzValidPAN(f *testing.F) {
	f.Add("4111111111111111")
	f.Add("4111111111111112")
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidPAN(s) {
			return
		}
		// Any accepted number must stop being valid when one digit changes.
		b := []byte(s)
		b[7] = '0' + (b[7]-'0'+1)%10
		if ValidPAN(string(b)) {
			t.Fatalf("%q and %q both valid", s, b)
		}
	})
}
