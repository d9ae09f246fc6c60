package storetest

import (
	"bytes"
	"testing"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/store"
)

// The key check is written once: a later InitKeyCheck (another process, another key) keeps the
// first value and answers it.
func TestKeyCheck(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		_, err := s.KeyCheck(ctx)
		wantErr(t, "KeyCheck of a new database", err, vsrp.ErrNotFound)
		first, second := []byte{0, 1, 0xff, 0x80}, []byte{9, 9}
		kept, err := s.InitKeyCheck(ctx, first, base)
		noErr(t, "first InitKeyCheck", err)
		if !bytes.Equal(kept, first) {
			t.Fatalf("first InitKeyCheck kept %x, want %x", kept, first)
		}
		kept, err = Reopen(t, s).InitKeyCheck(ctx, second, at(1))
		noErr(t, "second InitKeyCheck", err)
		if !bytes.Equal(kept, first) {
			t.Fatalf("second InitKeyCheck answered %x, want the first value %x", kept, first)
		}
		got, err := s.KeyCheck(ctx)
		noErr(t, "KeyCheck", err)
		if !bytes.Equal(got, first) {
			t.Fatalf("KeyCheck = %x, want %x", got, first)
		}
	})
}

// SealedSamples answers one sealed value of each kind the database holds, and none of a kind
// it holds none of.
func TestSealedSamples(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		ss, err := s.SealedSamples(ctx)
		noErr(t, "SealedSamples of a new database", err)
		if !ss.Empty() {
			t.Fatalf("SealedSamples of a new database = %+v, want empty", ss)
		}
		a := fullApp("app_sealed", base)
		k := createApp(t, s, a)
		ss, err = s.SealedSamples(ctx)
		noErr(t, "SealedSamples", err)
		if ss.Empty() || ss.AppID != a.ID || !bytes.Equal(ss.WebhookSecret, a.WebhookSecret) ||
			ss.KeyID != k.ID || !bytes.Equal(ss.PrivateKey, k.PrivateKey) || ss.PAN != nil {
			t.Fatalf("SealedSamples = %+v, want the app's webhook secret and key, no PAN", ss)
		}
		c := &vsrp.Card{ID: "card_sealed", PANHash: sum("4111111111111111"), PANSealed: []byte{1, 0, 0xfe},
			BIN: "411111", Last4: "1111", CreatedAt: base}
		_, err = s.Card(ctx, c)
		noErr(t, "Card", err)
		ss, err = s.SealedSamples(ctx)
		noErr(t, "SealedSamples", err)
		if !bytes.Equal(ss.PAN, c.PANSealed) {
			t.Fatalf("SealedSamples PAN = %x, want %x", ss.PAN, c.PANSealed)
		}
	})
}
