package platform_test

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
	"github.com/vsrp-dev/vsrp/vault"
)

// wantFieldError fails the test unless err is a validation error naming field.
func wantFieldError(t *testing.T, what string, err error, field string) {
	t.Helper()
	var ve *vsrp.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("%s: err = %v, want a validation error naming %s", what, err, field)
	}
	for _, p := range ve.Problems {
		if p.Field == field {
			return
		}
	}
	t.Fatalf("%s: %v, want a problem with %s", what, err, field)
}

// Contract 4.3: an empty IP whitelist (every address) is for sandbox mode only. Outside it, an
// app is neither created nor changed to one; an app stored with one (made in sandbox mode)
// keeps working and can have its other fields changed.
func TestEmptyWhitelistOnlyInSandbox(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		ctx := t.Context()
		p := newPlatform(t, st)
		name, none := "closed", []string{}

		_, err := p.CreateApp(ctx, platform.AppSpec{Name: &name})
		wantFieldError(t, "create without a whitelist", err, "ipWhitelist")
		_, err = p.CreateApp(ctx, platform.AppSpec{Name: &name, IPWhitelist: &none})
		wantFieldError(t, "create with an empty whitelist", err, "ipWhitelist")
		if apps, err := p.Apps(ctx); err != nil || len(apps) != 0 {
			t.Fatalf("apps after refused creations: %d, %v; want none", len(apps), err)
		}

		c, err := p.CreateApp(ctx, platform.AppSpec{Name: &name, IPWhitelist: &localhost})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.UpdateApp(ctx, c.AppID, platform.AppSpec{IPWhitelist: &none})
		wantFieldError(t, "patch to an empty whitelist", err, "ipWhitelist")
		if a, err := p.App(ctx, c.AppID); err != nil || len(a.IPWhitelist) != 2 {
			t.Fatalf("whitelist after a refused patch: %v, %v; want the two loopback prefixes", a.IPWhitelist, err)
		}

		v, err := vault.New(testKey)
		if err != nil {
			t.Fatal(err)
		}
		sb := platform.New(st, v, platform.Config{Sandbox: true}, func() time.Time { return testNow },
			slog.New(slog.NewJSONHandler(io.Discard, nil)))
		openName := "open"
		open, err := sb.CreateApp(ctx, platform.AppSpec{Name: &openName})
		if err != nil {
			t.Fatalf("sandbox: create without a whitelist: %v", err)
		}
		if _, err := sb.UpdateApp(ctx, c.AppID, platform.AppSpec{IPWhitelist: &none}); err != nil {
			t.Fatalf("sandbox: patch to an empty whitelist: %v", err)
		}

		// Outside sandbox mode again, the stored open app changes its other fields.
		renamed := "open, renamed"
		a, err := p.UpdateApp(ctx, open.AppID, platform.AppSpec{Name: &renamed})
		if err != nil {
			t.Fatalf("patch the name of an app stored with an empty whitelist: %v", err)
		}
		if a.Name != renamed || len(a.IPWhitelist) != 0 {
			t.Fatalf("after the patch: name %q, whitelist %v", a.Name, a.IPWhitelist)
		}
	})
}

// Two rotations of one app's secrets at once both hold: each answers a webhook secret that
// signs afterwards (the later one current, the earlier one in its grace period), instead of
// one being overwritten unseen by a rotation that read the app before it.
func TestConcurrentSecretRotationsBothSign(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		p := newPlatform(t, st)
		name := "rotating"
		for round := range 3 {
			c, err := p.CreateApp(ctx, platform.AppSpec{Name: &name, IPWhitelist: &localhost})
			if err != nil {
				t.Fatal(err)
			}
			var answered [2]string
			var wg sync.WaitGroup
			for i := range answered {
				wg.Go(func() {
					r, err := p.RotateSecret(ctx, c.AppID)
					if err != nil {
						t.Error(err)
						return
					}
					answered[i] = r.WebhookSecret
				})
			}
			wg.Wait()
			a, err := p.App(ctx, c.AppID)
			if err != nil {
				t.Fatal(err)
			}
			signing, err := p.WebhookSecrets(a)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range answered {
				if !slices.Contains(signing, s) {
					t.Fatalf("round %d: a rotation answered a webhook secret that never signs (signing: %d secrets)", round, len(signing))
				}
			}
		}
	})
}
