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

// Contract 7: a rotated webhook secret keeps signing for 24 hours — each one, also when the app
// is rotated again within them.
func TestEveryRotatedWebhookSecretSigns24Hours(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		at := func(d time.Duration) *platform.Platform { return newPlatformAt(t, st, testNow.Add(d)) }
		name := "rotating"
		c, err := at(0).CreateApp(ctx, platform.AppSpec{Name: &name, IPWhitelist: &localhost})
		if err != nil {
			t.Fatal(err)
		}
		first := c.WebhookSecret
		r1, err := at(time.Hour).RotateSecret(ctx, c.AppID)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := at(3*time.Hour).RotateSecret(ctx, c.AppID)
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []struct {
			at   time.Duration
			want []string
		}{
			{3 * time.Hour, []string{r2.WebhookSecret, r1.WebhookSecret, first}},
			{25*time.Hour - time.Second, []string{r2.WebhookSecret, r1.WebhookSecret, first}},
			{25 * time.Hour, []string{r2.WebhookSecret, r1.WebhookSecret}}, // 24 hours after the first rotation
			{27 * time.Hour, []string{r2.WebhookSecret}},
		} {
			p := at(step.at)
			a, err := p.App(ctx, c.AppID)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.WebhookSecrets(a)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, step.want) {
				t.Errorf("%v after creation: %d signing secrets, want %d (the current one, then the rotated ones within 24 hours, newest first)",
					step.at, len(got), len(step.want))
			}
		}
	})
}

// A replaced webhook secret stored the way it was before several were kept (one sealed secret,
// its grace in WebhookOldUntil) still signs until then, and a rotation keeps it in the list.
func TestSingleOldWebhookSecretStillSigns(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		p := newPlatformAt(t, st, testNow)
		name := "legacy"
		c, err := p.CreateApp(ctx, platform.AppSpec{Name: &name, IPWhitelist: &localhost})
		if err != nil {
			t.Fatal(err)
		}
		a, err := p.App(ctx, c.AppID)
		if err != nil {
			t.Fatal(err)
		}
		v, err := vault.New(testKey)
		if err != nil {
			t.Fatal(err)
		}
		a.WebhookSecretOld, a.WebhookOldUntil = v.Seal("webhook:"+a.ID, []byte("whsec_legacy")), testNow.Add(2*time.Hour)
		if err := st.SetAppSecrets(ctx, a, a.WebhookSecret); err != nil {
			t.Fatal(err)
		}
		r, err := newPlatformAt(t, st, testNow.Add(time.Hour)).RotateSecret(ctx, c.AppID)
		if err != nil {
			t.Fatal(err)
		}
		later := newPlatformAt(t, st, testNow.Add(time.Hour))
		if a, err = later.App(ctx, c.AppID); err != nil {
			t.Fatal(err)
		}
		got, err := later.WebhookSecrets(a)
		if want := []string{r.WebhookSecret, c.WebhookSecret, "whsec_legacy"}; err != nil || !slices.Equal(got, want) {
			t.Fatalf("signing secrets: %d (%v), want 3: the new, the one it replaced, the legacy one in its grace", len(got), err)
		}
	})
}
