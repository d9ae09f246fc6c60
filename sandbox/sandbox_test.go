package sandbox

import (
	"strings"
	"testing"

	"github.com/vsrp-dev/vsrp"
)

func TestTestCardsAreValidAndInDemoBINs(t *testing.T) {
	for _, pan := range TestCards {
		if !vsrp.ValidPAN(pan) {
			t.Errorf("%s is not a valid Visa number", pan)
		}
		found := false
		for _, b := range BINs {
			found = found || strings.HasPrefix(pan, b.BIN)
		}
		if !found {
			t.Errorf("%s is in no demo BIN", pan)
		}
	}
}
