package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/vault"
)

// base is the suite's clock: a fixed instant at microsecond precision, the precision the
// store keeps. Tests never read the wall clock.
var base = time.Date(2025, time.March, 14, 9, 26, 53, 589793238, time.UTC).Truncate(time.Microsecond)

// at answers base moved by d.
func at(d time.Duration) time.Time { return base.Add(d) }

// sum is a stand-in for the keyed hashes the platform computes (tokens, auids, PANs).
func sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func prefixes(cidrs ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(cidrs))
	for i, c := range cidrs {
		out[i] = netip.MustParsePrefix(c)
	}
	return out
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// ---- apps ----

func fullApp(id string, created time.Time) *vsrp.App {
	return &vsrp.App{
		ID:               id,
		Name:             "Bank of Round Trips 往返银行",
		SecretHash:       "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		Scopes:           []string{vsrp.ScopeUser, vsrp.ScopeEnroll, vsrp.ScopeReward},
		IPWhitelist:      prefixes("10.0.0.0/8", "203.0.113.7/32", "2001:db8::/32", "::1/128", "fe80::1:2:0:0/96"),
		NotifyURL:        "https://partner.example/vsrp/notify?src=vsrp&x=1",
		CampaignIDs:      []string{"cmp_a", "cmp_b", "cmp_c"},
		BIDs:             []string{"10000001", "10000002"},
		Enabled:          true,
		ReplayProtection: true,
		// Sealed blobs are arbitrary bytes, NUL and high bytes included.
		WebhookSecret:    []byte{1, 0, 0xff, 0x80, 'w', 0},
		WebhookSecretOld: []byte{1, 0xfe, 0, 'o'},
		WebhookOldUntil:  created.Add(24*time.Hour + time.Microsecond),
		CreatedAt:        created,
		UpdatedAt:        created.Add(time.Microsecond),
	}
}

func newKey(appID, id string, created time.Time) *vsrp.AppKey {
	return &vsrp.AppKey{
		ID:         id,
		AppID:      appID,
		PrivateKey: append([]byte{1, 0, 0xff}, id...),
		PublicPEM:  "-----BEGIN PUBLIC KEY-----\n" + id + "\n-----END PUBLIC KEY-----\n",
		CreatedAt:  created,
	}
}

// appDiff lists the fields in which got differs from want. Grants are compared as sets, since
// the store answers them sorted; nil and empty lists are the same.
func appDiff(got, want *vsrp.App) []string {
	var d []string
	diff := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.ID != want.ID {
		diff("ID", got.ID, want.ID)
	}
	if got.Name != want.Name {
		diff("Name", got.Name, want.Name)
	}
	if got.SecretHash != want.SecretHash {
		diff("SecretHash", got.SecretHash, want.SecretHash)
	}
	if !slices.Equal(got.Scopes, want.Scopes) {
		diff("Scopes", got.Scopes, want.Scopes)
	}
	if !slices.Equal(got.IPWhitelist, want.IPWhitelist) {
		diff("IPWhitelist", got.IPWhitelist, want.IPWhitelist)
	}
	if got.NotifyURL != want.NotifyURL {
		diff("NotifyURL", got.NotifyURL, want.NotifyURL)
	}
	if g, w := slices.Sorted(slices.Values(got.CampaignIDs)), slices.Sorted(slices.Values(want.CampaignIDs)); !slices.Equal(g, w) {
		diff("CampaignIDs", got.CampaignIDs, want.CampaignIDs)
	}
	if !slices.Equal(got.BIDs, want.BIDs) {
		diff("BIDs", got.BIDs, want.BIDs)
	}
	if got.Enabled != want.Enabled {
		diff("Enabled", got.Enabled, want.Enabled)
	}
	if got.ReplayProtection != want.ReplayProtection {
		diff("ReplayProtection", got.ReplayProtection, want.ReplayProtection)
	}
	if !bytes.Equal(got.WebhookSecret, want.WebhookSecret) {
		diff("WebhookSecret", got.WebhookSecret, want.WebhookSecret)
	}
	if !bytes.Equal(got.WebhookSecretOld, want.WebhookSecretOld) {
		diff("WebhookSecretOld", got.WebhookSecretOld, want.WebhookSecretOld)
	}
	for _, f := range []struct {
		name      string
		got, want time.Time
	}{
		{"WebhookOldUntil", got.WebhookOldUntil, want.WebhookOldUntil},
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"UpdatedAt", got.UpdatedAt, want.UpdatedAt},
	} {
		if !f.got.Equal(f.want) {
			diff(f.name, f.got, f.want)
		}
	}
	return d
}

func wantApp(t *testing.T, got, want *vsrp.App) {
	t.Helper()
	for _, d := range appDiff(got, want) {
		t.Errorf("app %s: %s", want.ID, d)
	}
}

func wantKey(t *testing.T, got, want *vsrp.AppKey) {
	t.Helper()
	if got.ID != want.ID || got.AppID != want.AppID || !bytes.Equal(got.PrivateKey, want.PrivateKey) ||
		got.PublicPEM != want.PublicPEM || !got.CreatedAt.Equal(want.CreatedAt) || !got.RetiredAt.Equal(want.RetiredAt) {
		t.Errorf("key = %+v, want %+v", got, want)
	}
}

func createApp(t *testing.T, s *store.Store, a *vsrp.App) *vsrp.AppKey {
	t.Helper()
	k := newKey(a.ID, "key_"+a.ID, a.CreatedAt)
	noErr(t, "CreateApp "+a.ID, s.CreateApp(t.Context(), a, k))
	return k
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		noErr(t, "Ready after Migrate", s.Ready(ctx))
		a := fullApp("app_migrate", base)
		createApp(t, s, a)
		versions := func() int {
			var n int
			noErr(t, "count goose versions", s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM goose_db_version`).Scan(&n))
			return n
		}
		before := versions()
		noErr(t, "second Migrate", s.Migrate(ctx))
		noErr(t, "third Migrate", s.Migrate(ctx))
		if after := versions(); after != before {
			t.Errorf("goose_db_version rows: %d after migrating again, want %d", after, before)
		}
		got, err := s.App(ctx, a.ID)
		noErr(t, "App after migrating again", err)
		wantApp(t, got, a)
		noErr(t, "Ready after migrating again", s.Ready(ctx))
	})
}

func TestReadyBeforeMigrate(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		fresh := openUnmigrated(t, s.Engine())
		if err := fresh.Ready(ctx); err == nil {
			t.Fatal("Ready on an unmigrated database = nil, want an error")
		}
		// Ready must not leave the database in a state Migrate cannot start from.
		noErr(t, "Migrate after Ready", fresh.Migrate(ctx))
		noErr(t, "Ready after Migrate", fresh.Ready(ctx))
	})
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		// A later binary applied migration 9999 to this database.
		if _, err := s.DB().ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, true)`); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err == nil {
			t.Error("Migrate on a schema newer than the binary = nil, want an error")
		}
	})
}

func TestAppRoundTrip(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for _, a := range []*vsrp.App{
			fullApp("app_full", base),
			// Everything off or empty: no whitelist (sandbox), no grants, no old webhook secret.
			{
				ID: "app_empty", Name: "Sandbox", SecretHash: "h", Scopes: []string{vsrp.ScopeUser},
				WebhookSecret: []byte{9}, CreatedAt: at(time.Hour), UpdatedAt: at(time.Hour),
			},
		} {
			k := createApp(t, s, a)
			got, err := s.App(ctx, a.ID)
			noErr(t, "App "+a.ID, err)
			wantApp(t, got, a)
			if len(a.IPWhitelist) == 0 && len(got.IPWhitelist) != 0 {
				t.Errorf("app %s: empty whitelist came back as %v", a.ID, got.IPWhitelist)
			}
			keys, err := s.AppKeys(ctx, a.ID, base)
			noErr(t, "AppKeys "+a.ID, err)
			if len(keys) != 1 {
				t.Fatalf("app %s: %d keys, want 1", a.ID, len(keys))
			}
			wantKey(t, keys[0], k)
		}
		// The whitelist still does its job after the round trip, for both families.
		got, err := s.App(ctx, "app_full")
		noErr(t, "App", err)
		for addr, want := range map[string]bool{
			"10.1.2.3": true, "203.0.113.7": true, "203.0.113.8": false, "2001:db8::42": true,
			"2001:db9::1": false, "::1": true, "::ffff:10.9.9.9": true,
		} {
			if ok := got.AllowsIP(netip.MustParseAddr(addr)); ok != want {
				t.Errorf("AllowsIP(%s) = %v, want %v", addr, ok, want)
			}
		}
	})
}

func TestAppNotFound(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		_, err := s.App(t.Context(), "app_nobody")
		wantErr(t, "App of an unknown id", err, vsrp.ErrNotFound)
		apps, err := s.Apps(t.Context())
		noErr(t, "Apps", err)
		if len(apps) != 0 {
			t.Errorf("Apps on an empty store: %d apps", len(apps))
		}
	})
}

func TestCreateAppConflict(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		orig := fullApp("app_dup", base)
		k := createApp(t, s, orig)

		dup := fullApp("app_dup", at(time.Hour))
		dup.Name, dup.CampaignIDs = "Impostor", []string{"cmp_other"}
		err := s.CreateApp(ctx, dup, newKey(dup.ID, "key_other", at(time.Hour)))
		wantErr(t, "CreateApp with a taken id", err, vsrp.ErrConflict)

		// A new app whose key id is taken fails as a whole: no half-created app is left.
		half := fullApp("app_half", at(time.Hour))
		err = s.CreateApp(ctx, half, newKey(half.ID, k.ID, at(time.Hour)))
		wantErr(t, "CreateApp with a taken key id", err, vsrp.ErrConflict)
		_, err = s.App(ctx, half.ID)
		wantErr(t, "App after a failed CreateApp", err, vsrp.ErrNotFound)

		got, err := s.App(ctx, orig.ID)
		noErr(t, "App", err)
		wantApp(t, got, orig)
		keys, err := s.AppKeys(ctx, orig.ID, time.Time{})
		noErr(t, "AppKeys", err)
		if len(keys) != 1 {
			t.Fatalf("%d keys after the failed creates, want 1", len(keys))
		}
		wantKey(t, keys[0], k)
	})
}

func TestUpdateApp(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := fullApp("app_upd", base)
		createApp(t, s, a)
		other := fullApp("app_other", base)
		other.CampaignIDs = []string{"cmp_a", "cmp_x"}
		createApp(t, s, other)

		upd := *a
		upd.Name = "Renamed"
		upd.Scopes = []string{vsrp.ScopeReward}
		upd.IPWhitelist = prefixes("192.0.2.0/24", "2001:db8:1::/48")
		upd.NotifyURL = "https://new.example/hook"
		upd.BIDs = []string{"10000003"}
		upd.Enabled, upd.ReplayProtection = false, false
		upd.CampaignIDs = []string{"cmp_c", "cmp_d"}
		upd.UpdatedAt = at(time.Hour)
		// UpdateApp leaves secrets and the creation time alone.
		upd.SecretHash, upd.WebhookSecret, upd.WebhookSecretOld = "other", []byte("other"), nil
		upd.WebhookOldUntil, upd.CreatedAt = at(99*time.Hour), at(99*time.Hour)
		noErr(t, "UpdateApp", s.UpdateApp(ctx, &upd))

		want := upd
		want.SecretHash, want.WebhookSecret, want.WebhookSecretOld = a.SecretHash, a.WebhookSecret, a.WebhookSecretOld
		want.WebhookOldUntil, want.CreatedAt = a.WebhookOldUntil, a.CreatedAt
		got, err := s.App(ctx, a.ID)
		noErr(t, "App", err)
		wantApp(t, got, &want)

		// Grants are replaced, not merged; an empty list removes them all.
		upd.CampaignIDs = nil
		noErr(t, "UpdateApp without grants", s.UpdateApp(ctx, &upd))
		got, err = s.App(ctx, a.ID)
		noErr(t, "App", err)
		if len(got.CampaignIDs) != 0 {
			t.Errorf("grants after UpdateApp with none: %v", got.CampaignIDs)
		}

		gotOther, err := s.App(ctx, other.ID)
		noErr(t, "App other", err)
		wantApp(t, gotOther, other)

		missing := fullApp("app_missing", base)
		wantErr(t, "UpdateApp of an unknown app", s.UpdateApp(ctx, missing), vsrp.ErrNotFound)
		_, err = s.App(ctx, missing.ID)
		wantErr(t, "App after UpdateApp of an unknown app", err, vsrp.ErrNotFound)
	})
}

func TestSetAppSecrets(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := fullApp("app_sec", base)
		a.WebhookSecretOld, a.WebhookOldUntil = nil, time.Time{}
		createApp(t, s, a)

		rot := *a
		rot.SecretHash = "$argon2id$new"
		rot.WebhookSecretOld, rot.WebhookSecret = a.WebhookSecret, []byte{1, 2, 0, 3}
		rot.WebhookOldUntil, rot.UpdatedAt = at(25*time.Hour), at(time.Hour)
		rot.Name, rot.Enabled = "ignored", false // SetAppSecrets touches secrets only
		wantErr(t, "SetAppSecrets replacing a secret that is not the current one",
			s.SetAppSecrets(ctx, &rot, []byte("stale")), vsrp.ErrConflict)
		noErr(t, "SetAppSecrets", s.SetAppSecrets(ctx, &rot, a.WebhookSecret))

		want := rot
		want.Name, want.Enabled = a.Name, a.Enabled
		got, err := s.App(ctx, a.ID)
		noErr(t, "App", err)
		wantApp(t, got, &want)

		// The old webhook secret can be cleared again.
		rot.WebhookSecretOld, rot.WebhookOldUntil, rot.UpdatedAt = nil, time.Time{}, at(26*time.Hour)
		noErr(t, "SetAppSecrets clearing", s.SetAppSecrets(ctx, &rot, rot.WebhookSecret))
		got, err = s.App(ctx, a.ID)
		noErr(t, "App", err)
		if len(got.WebhookSecretOld) != 0 || !got.WebhookOldUntil.IsZero() {
			t.Errorf("old webhook secret after clearing: %x until %v", got.WebhookSecretOld, got.WebhookOldUntil)
		}
		wantTime(t, "UpdatedAt", got.UpdatedAt, at(26*time.Hour))

		missing := fullApp("app_missing", base)
		wantErr(t, "SetAppSecrets of an unknown app", s.SetAppSecrets(ctx, missing, missing.WebhookSecret), vsrp.ErrNotFound)
	})
}

func TestAppsOrder(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		// Inserted out of order; listed oldest first, ties by id.
		created := map[string]time.Time{
			"app_c": at(2 * time.Hour), "app_b2": at(3 * time.Hour), "app_a": at(time.Hour), "app_b1": at(3 * time.Hour),
		}
		want := map[string]*vsrp.App{}
		for _, id := range []string{"app_c", "app_b2", "app_a", "app_b1"} {
			a := fullApp(id, created[id])
			a.CampaignIDs = []string{"cmp_" + id}
			createApp(t, s, a)
			want[id] = a
		}
		apps, err := s.Apps(ctx)
		noErr(t, "Apps", err)
		var ids []string
		for _, a := range apps {
			ids = append(ids, a.ID)
			if w := want[a.ID]; w != nil {
				wantApp(t, a, w)
			}
		}
		if order := []string{"app_a", "app_c", "app_b1", "app_b2"}; !slices.Equal(ids, order) {
			t.Errorf("Apps order = %v, want %v", ids, order)
		}
	})
}

// ---- keys ----

func TestRotateKey(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := fullApp("app_keys", base)
		k1 := createApp(t, s, a)
		other := fullApp("app_bystander", base)
		kOther := createApp(t, s, other)

		k2 := newKey(a.ID, "key_2", at(time.Hour))
		noErr(t, "RotateKey k2", s.RotateKey(ctx, k2))
		k3 := newKey(a.ID, "key_3", at(2*time.Hour))
		noErr(t, "RotateKey k3", s.RotateKey(ctx, k3))
		// Each rotation retired the then-current key at the new key's creation.
		k1.RetiredAt, k2.RetiredAt = k2.CreatedAt, k3.CreatedAt

		for _, tc := range []struct {
			name  string
			since time.Time
			want  []*vsrp.AppKey
		}{
			{"zero since: every key", time.Time{}, []*vsrp.AppKey{k3, k2, k1}},
			{"since before every retirement", base, []*vsrp.AppKey{k3, k2, k1}},
			{"since exactly at k1's retirement", at(time.Hour), []*vsrp.AppKey{k3, k2, k1}},
			{"since just after k1's retirement", at(time.Hour + time.Microsecond), []*vsrp.AppKey{k3, k2}},
			{"since between retirements", at(90 * time.Minute), []*vsrp.AppKey{k3, k2}},
			{"since exactly at k2's retirement", at(2 * time.Hour), []*vsrp.AppKey{k3, k2}},
			{"since after every retirement", at(3 * time.Hour), []*vsrp.AppKey{k3}},
		} {
			keys, err := s.AppKeys(ctx, a.ID, tc.since)
			noErr(t, tc.name, err)
			var got, want []string
			for _, k := range keys {
				got = append(got, k.ID)
			}
			for _, k := range tc.want {
				want = append(want, k.ID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: AppKeys = %v, want %v", tc.name, got, want)
				continue
			}
			for i := range keys {
				wantKey(t, keys[i], tc.want[i])
			}
		}

		// Another app's key is not retired by this app's rotations, nor listed with its keys.
		keys, err := s.AppKeys(ctx, other.ID, time.Time{})
		noErr(t, "AppKeys other", err)
		if len(keys) != 1 {
			t.Fatalf("other app: %d keys, want 1", len(keys))
		}
		wantKey(t, keys[0], kOther)
		keys, err = s.AppKeys(ctx, "app_nobody", time.Time{})
		noErr(t, "AppKeys of an unknown app", err)
		if len(keys) != 0 {
			t.Errorf("AppKeys of an unknown app: %d keys", len(keys))
		}
	})
}

// ---- tokens ----

func token(appID, name string, kind vsrp.TokenKind, family string, gen int, created time.Time, ttl time.Duration) *vsrp.Token {
	return &vsrp.Token{
		Hash: sum(name), AppID: appID, Kind: kind, Family: family, Generation: gen,
		CreatedAt: created, ExpiresAt: created.Add(ttl),
	}
}

// tokenPair is what getToken (generation 0) or a refresh (later generations) issues.
func tokenPair(appID, family string, gen int, created time.Time, tag string) []*vsrp.Token {
	return []*vsrp.Token{
		token(appID, fmt.Sprintf("%s/%d/%s/access", family, gen, tag), vsrp.AccessToken, family, gen, created, 15*time.Minute),
		token(appID, fmt.Sprintf("%s/%d/%s/refresh", family, gen, tag), vsrp.RefreshToken, family, gen, created, 2*time.Hour),
	}
}

func wantToken(t *testing.T, got, want *vsrp.Token) {
	t.Helper()
	if !bytes.Equal(got.Hash, want.Hash) || got.AppID != want.AppID || got.Kind != want.Kind || got.Family != want.Family ||
		got.Generation != want.Generation || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
		!got.UsedAt.Equal(want.UsedAt) || got.Revoked != want.Revoked {
		t.Errorf("token = %+v, want %+v", got, want)
	}
}

func TestTokenRoundTrip(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		toks := tokenPair("app_t", "fam_1", 0, base, "a")
		noErr(t, "InsertTokens", s.InsertTokens(ctx, toks...))
		for _, want := range toks {
			got, err := s.Token(ctx, want.Hash)
			noErr(t, "Token", err)
			wantToken(t, got, want)
		}
		_, err := s.Token(ctx, sum("never issued"))
		wantErr(t, "Token of an unknown hash", err, vsrp.ErrNotFound)

		// InsertTokens is one transaction: a duplicate refuses the whole batch.
		fresh := token("app_t", "fresh", vsrp.AccessToken, "fam_2", 0, base, time.Minute)
		err = s.InsertTokens(ctx, fresh, toks[0])
		wantErr(t, "InsertTokens with a duplicate hash", err, vsrp.ErrConflict)
		_, err = s.Token(ctx, fresh.Hash)
		wantErr(t, "Token of a token from a refused batch", err, vsrp.ErrNotFound)
	})
}

func TestExchangeRefresh(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		gen0 := tokenPair("app_t", "fam", 0, base, "")
		noErr(t, "InsertTokens", s.InsertTokens(ctx, gen0...))
		access0, refresh0 := gen0[0], gen0[1]

		gen1 := tokenPair("app_t", "fam", 1, at(time.Minute), "")
		won, err := s.ExchangeRefresh(ctx, refresh0.Hash, at(time.Minute), gen1...)
		noErr(t, "ExchangeRefresh", err)
		if !won {
			t.Fatal("first ExchangeRefresh = false, want true")
		}
		refresh0.UsedAt = at(time.Minute)
		got, err := s.Token(ctx, refresh0.Hash)
		noErr(t, "Token", err)
		wantToken(t, got, refresh0)
		for _, want := range gen1 {
			got, err := s.Token(ctx, want.Hash)
			noErr(t, "Token of a successor", err)
			wantToken(t, got, want)
		}

		lose := func(what string, hash []byte) {
			t.Helper()
			late := tokenPair("app_t", "fam", 1, at(2*time.Minute), what)
			won, err := s.ExchangeRefresh(ctx, hash, at(2*time.Minute), late...)
			noErr(t, what, err)
			if won {
				t.Errorf("%s: ExchangeRefresh = true, want false", what)
			}
			for _, tok := range late {
				_, err := s.Token(ctx, tok.Hash)
				wantErr(t, what+": successor of a refused exchange", err, vsrp.ErrNotFound)
			}
		}
		lose("used refresh token", refresh0.Hash)
		lose("access token", access0.Hash)
		lose("unknown token", sum("never issued"))

		got, err = s.Token(ctx, refresh0.Hash)
		noErr(t, "Token", err)
		wantTime(t, "UsedAt after refused exchanges", got.UsedAt, at(time.Minute))
		got, err = s.Token(ctx, access0.Hash)
		noErr(t, "Token", err)
		if !got.UsedAt.IsZero() {
			t.Errorf("access token marked used at %v", got.UsedAt)
		}

		// A revoked refresh token does not exchange either.
		noErr(t, "RevokeDescendants", s.RevokeDescendants(ctx, "fam", 0))
		lose("revoked refresh token", gen1[1].Hash)
	})
}

func TestExchangeRefreshConcurrent(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		gen0 := tokenPair("app_t", "fam", 0, base, "")
		noErr(t, "InsertTokens", s.InsertTokens(ctx, gen0...))
		refresh0 := gen0[1]

		const n = 20
		next := make([][]*vsrp.Token, n)
		won := make([]bool, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			next[i] = tokenPair("app_t", "fam", 1, at(time.Minute), fmt.Sprint(i))
			wg.Go(func() {
				<-start
				// Each exchange uses its own instant, so that UsedAt names the winner.
				won[i], errs[i] = s.ExchangeRefresh(ctx, refresh0.Hash, at(time.Minute+time.Duration(i)*time.Microsecond), next[i]...)
			})
		}
		close(start)
		wg.Wait()

		winner := -1
		for i := range n {
			if errs[i] != nil {
				t.Errorf("exchange %d: %v", i, errs[i])
			}
			if won[i] {
				if winner >= 0 {
					t.Errorf("exchanges %d and %d both won", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no exchange won")
		}
		got, err := s.Token(ctx, refresh0.Hash)
		noErr(t, "Token", err)
		wantTime(t, "UsedAt", got.UsedAt, at(time.Minute+time.Duration(winner)*time.Microsecond))

		// Exactly one successor pair exists: the winner's.
		for i := range n {
			for _, tok := range next[i] {
				_, err := s.Token(ctx, tok.Hash)
				switch {
				case i == winner && err != nil:
					t.Errorf("winner's successor %s: %v", tok.Kind, err)
				case i != winner && !errors.Is(err, vsrp.ErrNotFound):
					t.Errorf("exchange %d lost but its successor %s exists (err %v)", i, tok.Kind, err)
				}
			}
		}
	})
}

func TestRevokeDescendants(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		var all []*vsrp.Token
		for _, fam := range []string{"fam_a", "fam_b"} {
			for gen := range 4 {
				all = append(all, tokenPair("app_t", fam, gen, at(time.Duration(gen)*time.Minute), "")...)
			}
		}
		noErr(t, "InsertTokens", s.InsertTokens(ctx, all...))
		noErr(t, "RevokeDescendants", s.RevokeDescendants(ctx, "fam_a", 1))
		noErr(t, "RevokeDescendants of an unknown family", s.RevokeDescendants(ctx, "fam_nobody", 0))
		for _, tok := range all {
			got, err := s.Token(ctx, tok.Hash)
			noErr(t, "Token", err)
			want := tok.Family == "fam_a" && tok.Generation > 1
			if got.Revoked != want {
				t.Errorf("%s generation %d %s: revoked = %v, want %v", tok.Family, tok.Generation, tok.Kind, got.Revoked, want)
			}
		}
	})
}

func TestCountIssued(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		var toks []*vsrp.Token
		for i, m := range []time.Duration{1, 2, 3} {
			toks = append(toks, tokenPair("app_a", fmt.Sprint("fam_a", i), 0, at(m*time.Minute), "")...)
		}
		// Refreshes are not getToken calls.
		toks = append(toks, tokenPair("app_a", "fam_a0", 1, at(4*time.Minute), "")...)
		toks = append(toks, tokenPair("app_a", "fam_a0", 2, at(5*time.Minute), "")...)
		toks = append(toks, tokenPair("app_b", "fam_b", 0, at(2*time.Minute), "")...)
		noErr(t, "InsertTokens", s.InsertTokens(ctx, toks...))

		for _, tc := range []struct {
			app   string
			since time.Time
			want  int
		}{
			{"app_a", base, 3},
			{"app_a", at(time.Minute), 2}, // strictly after since
			{"app_a", at(time.Minute - time.Microsecond), 3},
			{"app_a", at(3 * time.Minute), 0},
			{"app_a", at(time.Hour), 0},
			{"app_b", base, 1},
			{"app_nobody", base, 0},
		} {
			n, err := s.CountIssued(ctx, tc.app, tc.since)
			noErr(t, "CountIssued", err)
			if n != tc.want {
				t.Errorf("CountIssued(%s, base%+v) = %d, want %d", tc.app, tc.since.Sub(base), n, tc.want)
			}
		}
	})
}

// The hourly allowance of token pairs holds under concurrent getToken calls, from one store
// or two (two processes on PostgreSQL): counting and storing are one step.
func TestIssueTokensKeepsTheAllowance(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		createApp(t, s, fullApp("app_lim", base))
		stores := []*store.Store{s, Reopen(t, s)}
		const limit, callers = 5, 40
		var issued atomic.Int32
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				ok, err := stores[i%2].IssueTokens(t.Context(), "app_lim", base, limit,
					tokenPair("app_lim", fmt.Sprint("fam_", i), 0, at(time.Minute), "")...)
				if err != nil {
					t.Error(err)
				}
				if ok {
					issued.Add(1)
				}
			})
		}
		wg.Wait()
		n, err := s.CountIssued(t.Context(), "app_lim", base)
		noErr(t, "CountIssued", err)
		if issued.Load() != limit || n != limit {
			t.Fatalf("%d issued (%d stored) to %d concurrent callers, want the allowance of %d", issued.Load(), n, callers, limit)
		}
	})
}

func TestPurgeTokens(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		var toks []*vsrp.Token
		for i := range 3 {
			// Expire at base+1m, +2m, +3m.
			toks = append(toks, token("app_t", fmt.Sprint("tok", i), vsrp.AccessToken, "fam", 0, base, time.Duration(i+1)*time.Minute))
		}
		noErr(t, "InsertTokens", s.InsertTokens(ctx, toks...))

		for _, step := range []struct {
			before time.Time
			purged int64
			left   []bool
		}{
			{base, 0, []bool{true, true, true}},
			{at(2 * time.Minute), 1, []bool{false, true, true}}, // expired strictly before
			{at(2 * time.Minute), 0, []bool{false, true, true}},
			{at(time.Hour), 2, []bool{false, false, false}},
		} {
			n, err := s.PurgeTokens(ctx, step.before)
			noErr(t, "PurgeTokens", err)
			if n != step.purged {
				t.Errorf("PurgeTokens(base%+v) = %d, want %d", step.before.Sub(base), n, step.purged)
			}
			for i, tok := range toks {
				_, err := s.Token(ctx, tok.Hash)
				switch {
				case step.left[i] && err != nil:
					t.Errorf("after PurgeTokens(base%+v): token %d: %v", step.before.Sub(base), i, err)
				case !step.left[i] && !errors.Is(err, vsrp.ErrNotFound):
					t.Errorf("after PurgeTokens(base%+v): token %d still there (err %v)", step.before.Sub(base), i, err)
				}
			}
		}
	})
}

// ---- users ----

func TestUser(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		h := sum("auid:+8613800138000")
		u, err := s.User(ctx, "app_a", h, "vu_first", base)
		noErr(t, "User", err)
		if u.AppID != "app_a" || u.Vuid != "vu_first" || !bytes.Equal(u.AuidHash, h) || !u.CreatedAt.Equal(base) {
			t.Errorf("first User = %+v", u)
		}
		again, err := s.User(ctx, "app_a", h, "vu_second", at(time.Hour))
		noErr(t, "User again", err)
		if again.Vuid != "vu_first" || !again.CreatedAt.Equal(base) {
			t.Errorf("User again = %s at %v, want vu_first at %v", again.Vuid, again.CreatedAt, base)
		}
		_, err = s.UserByVuid(ctx, "app_a", "vu_second")
		wantErr(t, "UserByVuid of a vuid proposed by a repeated call", err, vsrp.ErrNotFound)

		byVuid, err := s.UserByVuid(ctx, "app_a", "vu_first")
		noErr(t, "UserByVuid", err)
		if byVuid.AppID != "app_a" || byVuid.Vuid != "vu_first" || !bytes.Equal(byVuid.AuidHash, h) || !byVuid.CreatedAt.Equal(base) {
			t.Errorf("UserByVuid = %+v", byVuid)
		}
		_, err = s.UserByVuid(ctx, "app_a", "vu_nobody")
		wantErr(t, "UserByVuid of an unknown vuid", err, vsrp.ErrNotFound)
	})
}

func TestUserPerApp(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		h := sum("the same auid hash")
		ua, err := s.User(ctx, "app_a", h, "vu_a", base)
		noErr(t, "User app_a", err)
		ub, err := s.User(ctx, "app_b", h, "vu_b", at(time.Minute))
		noErr(t, "User app_b", err)
		if ua.Vuid != "vu_a" || ub.Vuid != "vu_b" {
			t.Fatalf("same auid hash in two apps: vuids %s and %s, want vu_a and vu_b", ua.Vuid, ub.Vuid)
		}
		wantTime(t, "app_b user created", ub.CreatedAt, at(time.Minute))

		// Tenant isolation: another app's vuid answers as a missing one.
		_, err = s.UserByVuid(ctx, "app_b", "vu_a")
		wantErr(t, "UserByVuid of app_a's vuid in app_b", err, vsrp.ErrNotFound)
		_, err = s.UserByVuid(ctx, "app_a", "vu_b")
		wantErr(t, "UserByVuid of app_b's vuid in app_a", err, vsrp.ErrNotFound)
		got, err := s.UserByVuid(ctx, "app_b", "vu_b")
		noErr(t, "UserByVuid", err)
		if got.AppID != "app_b" || !bytes.Equal(got.AuidHash, h) {
			t.Errorf("UserByVuid = %+v", got)
		}
	})
}

func TestUserConcurrentFirstCalls(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		h := sum("auid:racing")
		const n = 30
		users := make([]*vsrp.User, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				users[i], errs[i] = s.User(ctx, "app_a", h, fmt.Sprint("vu_", i), at(time.Duration(i)*time.Microsecond))
			})
		}
		close(start)
		wg.Wait()

		var first *vsrp.User
		for i := range n {
			if errs[i] != nil {
				t.Errorf("call %d: %v", i, errs[i])
				continue
			}
			if first == nil {
				first = users[i]
				continue
			}
			if users[i].Vuid != first.Vuid || !users[i].CreatedAt.Equal(first.CreatedAt) {
				t.Errorf("call %d answered %s at %v; another answered %s at %v",
					i, users[i].Vuid, users[i].CreatedAt, first.Vuid, first.CreatedAt)
			}
		}
		if first == nil {
			t.Fatal("no call succeeded")
		}
		// The user kept is one of the proposals, with that proposal's creation time.
		var k int
		if _, err := fmt.Sscanf(first.Vuid, "vu_%d", &k); err != nil {
			t.Fatalf("vuid %q was not proposed", first.Vuid)
		}
		wantTime(t, "createdAt", first.CreatedAt, at(time.Duration(k)*time.Microsecond))
		for i := range n {
			_, err := s.UserByVuid(ctx, "app_a", fmt.Sprint("vu_", i))
			if (i == k) != (err == nil) {
				t.Errorf("UserByVuid(vu_%d): err = %v (the user kept is vu_%d)", i, err, k)
			}
		}
	})
}

// ---- BINs ----

func bin(prefix, bid string, n int) vsrp.BIN {
	return vsrp.BIN{
		BIN: prefix, BID: bid,
		IssuerName: fmt.Sprint("Issuer ", n), IssuerNameNative: fmt.Sprint("发卡行 ", n),
		IssuingCountryCode: "CN", AccountFundingSource: "C",
		ProductID: fmt.Sprint("P", n), ProductName: fmt.Sprint("Visa Product ", n), ProductNameNative: fmt.Sprint("产品 ", n),
		IsDualBrand: n%2 == 0, IsChip: n%2 == 1,
	}
}

func TestUpsertBINs(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		b6, b8, other := bin("411111", "10000001", 1), bin("41111122", "10000002", 2), bin("422222", "10000003", 3)
		noErr(t, "UpsertBINs insert", s.UpsertBINs(ctx, []vsrp.BIN{b8, other, b6}, base))
		got, err := s.BINs(ctx)
		noErr(t, "BINs", err)
		if want := []vsrp.BIN{b6, b8, other}; !slices.Equal(got, want) {
			t.Errorf("BINs after insert = %+v, want %+v", got, want)
		}

		// Every attribute is replaced, booleans included; untouched rows stay.
		b6new := bin("411111", "10000009", 4)
		b6new.AccountFundingSource, b6new.IssuingCountryCode = "D", "HK"
		noErr(t, "UpsertBINs update", s.UpsertBINs(ctx, []vsrp.BIN{b6new}, at(time.Hour)))
		got, err = s.BINs(ctx)
		noErr(t, "BINs", err)
		if want := []vsrp.BIN{b6new, b8, other}; !slices.Equal(got, want) {
			t.Errorf("BINs after update = %+v, want %+v", got, want)
		}
		noErr(t, "UpsertBINs of nothing", s.UpsertBINs(ctx, nil, at(time.Hour)))
	})
}

func TestMatchBIN(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		b6, b8 := bin("411111", "10000001", 1), bin("41111122", "10000002", 2)
		lone8 := bin("43333333", "10000004", 4) // an 8-digit range without its 6-digit parent
		noErr(t, "UpsertBINs", s.UpsertBINs(ctx, []vsrp.BIN{b6, b8, lone8, bin("422222", "10000003", 3)}, base))
		for _, tc := range []struct {
			pan  string
			want string // matched prefix; "" for none
		}{
			{"4111112233334444", "41111122"}, // 8 before 6
			{"4111119900001111", "411111"},   // falls back to 6
			{"4222220000000000", "422222"},
			{"4333333312345678", "43333333"},
			{"4333339912345678", ""},
			{"4999990000000000", ""},
			{"4111120000000000", ""},
		} {
			got, err := s.MatchBIN(ctx, tc.pan)
			if tc.want == "" {
				wantErr(t, "MatchBIN "+tc.pan, err, vsrp.ErrNotFound)
				continue
			}
			noErr(t, "MatchBIN "+tc.pan, err)
			if got.BIN != tc.want {
				t.Errorf("MatchBIN(%s) = %s, want %s", tc.pan, got.BIN, tc.want)
			}
		}
		got, err := s.MatchBIN(ctx, "4111112233334444")
		noErr(t, "MatchBIN", err)
		if *got != b8 {
			t.Errorf("MatchBIN attributes = %+v, want %+v", *got, b8)
		}
	})
}

// ---- cards ----

func card(id, pan, prefix string, created time.Time) *vsrp.Card {
	return &vsrp.Card{
		ID: id, PANHash: sum("pan:" + pan), PANSealed: append([]byte{1, 0}, id...),
		BIN: prefix, Last4: pan[12:], CreatedAt: created,
	}
}

func wantCard(t *testing.T, got, want *vsrp.Card) {
	t.Helper()
	if got.ID != want.ID || !bytes.Equal(got.PANHash, want.PANHash) || !bytes.Equal(got.PANSealed, want.PANSealed) ||
		got.BIN != want.BIN || got.Last4 != want.Last4 || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("card = %+v, want %+v", got, want)
	}
}

func mustCard(t *testing.T, s *store.Store, c *vsrp.Card) *vsrp.Card {
	t.Helper()
	got, err := s.Card(t.Context(), c)
	noErr(t, "Card", err)
	wantCard(t, got, c)
	return got
}

func TestCard(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		c := card("card_1", "4111111111111111", "411111", base)
		mustCard(t, s, c)

		// A later look-up of the same PAN answers the first card, whatever it proposes.
		again := card("card_2", "4111111111111111", "41111111", at(time.Hour))
		got, err := s.Card(ctx, again)
		noErr(t, "Card again", err)
		wantCard(t, got, c)
		_, err = s.CardByID(ctx, again.ID)
		wantErr(t, "CardByID of the id a repeated look-up proposed", err, vsrp.ErrNotFound)

		other := card("card_3", "4222222222222220", "422222", at(time.Minute))
		mustCard(t, s, other)

		for _, want := range []*vsrp.Card{c, other} {
			got, err := s.CardByID(ctx, want.ID)
			noErr(t, "CardByID", err)
			wantCard(t, got, want)
		}
		_, err = s.CardByID(ctx, "card_nobody")
		wantErr(t, "CardByID of an unknown id", err, vsrp.ErrNotFound)
	})
}

func TestCardConcurrentFirstLookups(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		const n = 20
		cards := make([]*vsrp.Card, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				cards[i], errs[i] = s.Card(ctx, card(fmt.Sprint("card_", i), "4111111111111111", "411111", at(time.Duration(i)*time.Microsecond)))
			})
		}
		close(start)
		wg.Wait()

		var first *vsrp.Card
		for i := range n {
			if errs[i] != nil {
				t.Errorf("look-up %d: %v", i, errs[i])
				continue
			}
			if first == nil {
				first = cards[i]
				continue
			}
			if cards[i].ID != first.ID || !cards[i].CreatedAt.Equal(first.CreatedAt) || !bytes.Equal(cards[i].PANSealed, first.PANSealed) {
				t.Errorf("look-up %d answered %s at %v; another answered %s at %v",
					i, cards[i].ID, cards[i].CreatedAt, first.ID, first.CreatedAt)
			}
		}
		if first == nil {
			t.Fatal("no look-up succeeded")
		}
		for i := range n {
			id := fmt.Sprint("card_", i)
			_, err := s.CardByID(ctx, id)
			if (id == first.ID) != (err == nil) {
				t.Errorf("CardByID(%s): err = %v (the card kept is %s)", id, err, first.ID)
			}
		}
	})
}

func TestCardView(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		b8 := bin("41111122", "10000002", 2)
		noErr(t, "UpsertBINs", s.UpsertBINs(ctx, []vsrp.BIN{bin("411111", "10000001", 1), b8}, base))
		c := mustCard(t, s, card("card_1", "4111112233334444", "41111122", base))
		noErr(t, "Bind app_a", s.Bind(ctx, "app_a", c.ID, "vu_a", at(time.Hour)))
		noErr(t, "Bind app_b", s.Bind(ctx, "app_b", c.ID, "vu_b", at(2*time.Hour)))

		for _, tc := range []struct {
			app, vuid string
			bound     time.Time
		}{
			{"app_a", "vu_a", at(time.Hour)},
			{"app_b", "vu_b", at(2 * time.Hour)},
			{"app_c", "", time.Time{}}, // known card, not bound in this app
		} {
			v, err := s.CardView(ctx, tc.app, c.ID)
			noErr(t, "CardView "+tc.app, err)
			if v.ID != c.ID || v.BIN != c.BIN || v.Last4 != c.Last4 || !v.CreatedAt.Equal(c.CreatedAt) {
				t.Errorf("%s: CardView card = %s %s %s %v, want %s %s %s %v",
					tc.app, v.ID, v.BIN, v.Last4, v.CreatedAt, c.ID, c.BIN, c.Last4, c.CreatedAt)
			}
			if v.Attrs != b8 {
				t.Errorf("%s: CardView attributes = %+v, want %+v", tc.app, v.Attrs, b8)
			}
			if v.Vuid != tc.vuid || !v.BoundAt.Equal(tc.bound) {
				t.Errorf("%s: CardView binding = %q at %v, want %q at %v", tc.app, v.Vuid, v.BoundAt, tc.vuid, tc.bound)
			}
		}
		_, err := s.CardView(ctx, "app_a", "card_nobody")
		wantErr(t, "CardView of an unknown card", err, vsrp.ErrNotFound)

		// A card whose BIN range was since removed still shows, with its prefix only.
		orphan := mustCard(t, s, card("card_orphan", "4555550000000000", "455555", base))
		v, err := s.CardView(ctx, "app_a", orphan.ID)
		noErr(t, "CardView of a card without a BIN row", err)
		if v.Attrs != (vsrp.BIN{BIN: "455555"}) || v.Vuid != "" {
			t.Errorf("CardView without a BIN row: attrs %+v, vuid %q", v.Attrs, v.Vuid)
		}
	})
}

func TestBind(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		c := mustCard(t, s, card("card_1", "4111111111111111", "411111", base))
		binding := func(app string) (string, time.Time) {
			t.Helper()
			v, err := s.CardView(ctx, app, c.ID)
			noErr(t, "CardView", err)
			return v.Vuid, v.BoundAt
		}

		noErr(t, "Bind", s.Bind(ctx, "app_a", c.ID, "vu_1", at(time.Minute)))
		noErr(t, "Bind again to the same user", s.Bind(ctx, "app_a", c.ID, "vu_1", at(2*time.Minute)))
		if vuid, when := binding("app_a"); vuid != "vu_1" || !when.Equal(at(time.Minute)) {
			t.Errorf("binding after Bind twice = %s at %v, want vu_1 at %v (the first binding)", vuid, when, at(time.Minute))
		}

		err := s.Bind(ctx, "app_a", c.ID, "vu_2", at(3*time.Minute))
		wantErr(t, "Bind to another user of the app", err, vsrp.ErrConflict)
		if vuid, _ := binding("app_a"); vuid != "vu_1" {
			t.Errorf("binding after a refused Bind = %s, want vu_1", vuid)
		}

		// Bindings in different apps are independent.
		noErr(t, "Bind in app_b", s.Bind(ctx, "app_b", c.ID, "vu_b", at(4*time.Minute)))
		if vuid, when := binding("app_b"); vuid != "vu_b" || !when.Equal(at(4*time.Minute)) {
			t.Errorf("app_b binding = %s at %v", vuid, when)
		}
		if vuid, _ := binding("app_a"); vuid != "vu_1" {
			t.Errorf("app_a binding after app_b bound = %s, want vu_1", vuid)
		}

		// Once unbound, the card may go to another user.
		noErr(t, "Unbind", s.Unbind(ctx, "app_a", c.ID, "vu_1"))
		noErr(t, "Bind to another user after Unbind", s.Bind(ctx, "app_a", c.ID, "vu_2", at(5*time.Minute)))
		if vuid, when := binding("app_a"); vuid != "vu_2" || !when.Equal(at(5*time.Minute)) {
			t.Errorf("binding after rebinding = %s at %v", vuid, when)
		}
	})
}

func TestBindConcurrent(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		c := mustCard(t, s, card("card_1", "4111111111111111", "411111", base))
		const n = 10
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = s.Bind(ctx, "app_a", c.ID, fmt.Sprint("vu_", i), at(time.Minute))
			})
		}
		close(start)
		wg.Wait()

		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("users %d and %d both bound the card", winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, vsrp.ErrConflict):
				t.Errorf("Bind %d: %v, want nil or ErrConflict", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no Bind succeeded")
		}
		v, err := s.CardView(ctx, "app_a", c.ID)
		noErr(t, "CardView", err)
		if want := fmt.Sprint("vu_", winner); v.Vuid != want {
			t.Errorf("card bound to %s, but Bind succeeded for %s", v.Vuid, want)
		}
	})
}

func TestBoundCards(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		noErr(t, "UpsertBINs", s.UpsertBINs(ctx, []vsrp.BIN{bin("411111", "bid_x", 1), bin("422222", "bid_y", 2)}, base))
		c1 := mustCard(t, s, card("card_1", "4111111111111111", "411111", base))
		c2 := mustCard(t, s, card("card_2", "4222222222222220", "422222", base))
		c3 := mustCard(t, s, card("card_3", "4111110000000005", "411111", base))
		c4 := mustCard(t, s, card("card_4", "4111110000000013", "411111", base))
		c5 := mustCard(t, s, card("card_5", "4111110000000021", "411111", base))
		for _, b := range []struct {
			app, card, vuid string
			at              time.Duration
		}{
			{"app_a", c1.ID, "vu_a", time.Hour},
			{"app_a", c2.ID, "vu_a", 3 * time.Hour},
			{"app_a", c3.ID, "vu_a", 2 * time.Hour},
			{"app_a", c5.ID, "vu_a", 2 * time.Hour}, // same instant as c3: ties by card id
			{"app_a", c4.ID, "vu_other", 4 * time.Hour},
			{"app_b", c4.ID, "vu_b", 5 * time.Hour},
		} {
			noErr(t, "Bind", s.Bind(ctx, b.app, b.card, b.vuid, at(b.at)))
		}

		for _, tc := range []struct {
			app, vuid, bid string
			want           []string
		}{
			{"app_a", "vu_a", "", []string{"card_2", "card_3", "card_5", "card_1"}},
			{"app_a", "vu_a", "bid_x", []string{"card_3", "card_5", "card_1"}},
			{"app_a", "vu_a", "bid_y", []string{"card_2"}},
			{"app_a", "vu_a", "bid_z", nil},
			{"app_a", "vu_other", "", []string{"card_4"}},
			{"app_a", "vu_nobody", "", nil},
			{"app_b", "vu_a", "", nil}, // another app's user answers as unknown
			{"app_a", "vu_b", "", nil}, // and the other way round
			{"app_b", "vu_b", "", []string{"card_4"}},
		} {
			views, err := s.BoundCards(ctx, tc.app, tc.vuid, tc.bid)
			noErr(t, "BoundCards", err)
			var ids []string
			for _, v := range views {
				ids = append(ids, v.ID)
				if v.Vuid != tc.vuid {
					t.Errorf("BoundCards(%s, %s, %q): %s shows user %s", tc.app, tc.vuid, tc.bid, v.ID, v.Vuid)
				}
				if tc.bid != "" && v.Attrs.BID != tc.bid {
					t.Errorf("BoundCards(%s, %s, %q): %s has bid %s", tc.app, tc.vuid, tc.bid, v.ID, v.Attrs.BID)
				}
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("BoundCards(%s, %s, %q) = %v, want %v", tc.app, tc.vuid, tc.bid, ids, tc.want)
			}
		}

		views, err := s.BoundCards(ctx, "app_a", "vu_a", "bid_y")
		noErr(t, "BoundCards", err)
		if len(views) == 1 {
			v := views[0]
			if v.BIN != "422222" || v.Last4 != "2220" || !v.BoundAt.Equal(at(3*time.Hour)) || !v.CreatedAt.Equal(base) ||
				v.Attrs != bin("422222", "bid_y", 2) {
				t.Errorf("BoundCards view = %+v", v)
			}
		}
	})
}

func TestUnbind(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		c := mustCard(t, s, card("card_1", "4111111111111111", "411111", base))
		free := mustCard(t, s, card("card_2", "4222222222222220", "422222", base))
		noErr(t, "Bind", s.Bind(ctx, "app_a", c.ID, "vu_1", at(time.Minute)))

		wantErr(t, "Unbind of a card bound to nobody", s.Unbind(ctx, "app_a", free.ID, "vu_1"), vsrp.ErrNotFound)
		wantErr(t, "Unbind of an unknown card", s.Unbind(ctx, "app_a", "card_nobody", "vu_1"), vsrp.ErrNotFound)
		wantErr(t, "Unbind by another user", s.Unbind(ctx, "app_a", c.ID, "vu_2"), vsrp.ErrNotFound)
		wantErr(t, "Unbind in another app", s.Unbind(ctx, "app_b", c.ID, "vu_1"), vsrp.ErrNotFound)
		if v, err := s.CardView(ctx, "app_a", c.ID); err != nil || v.Vuid != "vu_1" {
			t.Fatalf("after refused Unbinds: CardView = %+v, %v; want bound to vu_1", v, err)
		}

		noErr(t, "Unbind", s.Unbind(ctx, "app_a", c.ID, "vu_1"))
		wantErr(t, "Unbind again", s.Unbind(ctx, "app_a", c.ID, "vu_1"), vsrp.ErrNotFound)
		v, err := s.CardView(ctx, "app_a", c.ID)
		noErr(t, "CardView", err)
		if v.Vuid != "" || !v.BoundAt.IsZero() {
			t.Errorf("after Unbind: bound to %q at %v", v.Vuid, v.BoundAt)
		}
		views, err := s.BoundCards(ctx, "app_a", "vu_1", "")
		noErr(t, "BoundCards", err)
		if len(views) != 0 {
			t.Errorf("BoundCards after Unbind: %d cards", len(views))
		}
		// The card itself stays.
		_, err = s.CardByID(ctx, c.ID)
		noErr(t, "CardByID after Unbind", err)
	})
}

// ---- nonces ----

func TestUseNonce(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		const ttl = 10 * time.Minute
		for _, step := range []struct {
			what       string
			app, nonce string
			now        time.Time
			want       bool
		}{
			{"fresh", "app_a", "n1", base, true},
			{"again", "app_a", "n1", at(time.Minute), false},
			{"again just before expiry", "app_a", "n1", at(ttl - time.Microsecond), false},
			{"another nonce", "app_a", "n2", at(time.Minute), true},
			{"same nonce, another app", "app_b", "n1", at(time.Minute), true},
			{"after expiry", "app_a", "n1", at(ttl + time.Microsecond), true},
			{"again after reuse", "app_a", "n1", at(ttl + time.Minute), false},
		} {
			ok, err := s.UseNonce(ctx, step.app, step.nonce, step.now, step.now.Add(ttl))
			noErr(t, step.what, err)
			if ok != step.want {
				t.Errorf("%s: UseNonce(%s, %s) = %v, want %v", step.what, step.app, step.nonce, ok, step.want)
			}
		}
	})
}

// ---- campaigns ----

func TestCampaignVersions(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		docA := []byte(`{"id":"cmp_1","name":"Spring 春季","offers":[]}`)
		docB := []byte(`{"id":"cmp_1","name":"Spring 春季","offers":[{"id":"o1"}]}`)
		for _, step := range []struct {
			doc     []byte
			now     time.Time
			version int
			changed bool
		}{
			{docA, base, 1, true},
			{docA, at(time.Minute), 1, false}, // the same document again changes nothing
			{docB, at(2 * time.Minute), 2, true},
			{docB, at(3 * time.Minute), 2, false},
			{docA, at(4 * time.Minute), 3, true}, // going back is a new version
		} {
			v, changed, err := s.ApplyCampaign(ctx, &vsrp.Campaign{CampaignID: "cmp_1"}, step.doc, step.now)
			noErr(t, "ApplyCampaign", err)
			if v != step.version || changed != step.changed {
				t.Errorf("ApplyCampaign at base%+v = %d, %v; want %d, %v", step.now.Sub(base), v, changed, step.version, step.changed)
			}
		}
		_, _, err := s.ApplyCampaign(ctx, &vsrp.Campaign{CampaignID: "cmp_2"}, docB, base)
		noErr(t, "ApplyCampaign cmp_2", err)

		for _, tc := range []struct {
			asked, version int
			doc            []byte
			applied        time.Time
		}{
			{0, 3, docA, at(4 * time.Minute)},
			{1, 1, docA, base},
			{2, 2, docB, at(2 * time.Minute)},
			{3, 3, docA, at(4 * time.Minute)},
		} {
			d, err := s.Campaign(ctx, "cmp_1", tc.asked)
			noErr(t, fmt.Sprint("Campaign version ", tc.asked), err)
			if d.CampaignID != "cmp_1" || d.Version != tc.version || !bytes.Equal(d.Doc, tc.doc) || !d.AppliedAt.Equal(tc.applied) {
				t.Errorf("Campaign(cmp_1, %d) = %s v%d %s at %v; want v%d %s at %v",
					tc.asked, d.CampaignID, d.Version, d.Doc, d.AppliedAt, tc.version, tc.doc, tc.applied)
			}
		}
		_, err = s.Campaign(ctx, "cmp_1", 4)
		wantErr(t, "Campaign of a version never applied", err, vsrp.ErrNotFound)
		_, err = s.Campaign(ctx, "cmp_nobody", 0)
		wantErr(t, "Campaign of an unknown id", err, vsrp.ErrNotFound)
		_, err = s.Campaign(ctx, "cmp_nobody", 1)
		wantErr(t, "Campaign version of an unknown id", err, vsrp.ErrNotFound)
	})
}

// ---- secrets at rest ----

// dump answers, per table, every value of every row of every table of the store's database,
// stringified: text as it is, blobs as their raw bytes.
func dump(t *testing.T, s *store.Store) map[string]string {
	t.Helper()
	ctx := t.Context()
	list := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	if s.Engine() == store.Postgres {
		list = `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := s.DB().QueryContext(ctx, list)
	noErr(t, "list tables", err)
	var tables []string
	for rows.Next() {
		var name string
		noErr(t, "scan table name", rows.Scan(&name))
		tables = append(tables, name)
	}
	noErr(t, "list tables", rows.Err())
	rows.Close()

	out := map[string]string{}
	for _, table := range tables {
		rows, err := s.DB().QueryContext(ctx, `SELECT * FROM "`+table+`"`)
		noErr(t, "dump "+table, err)
		cols, err := rows.Columns()
		noErr(t, "columns of "+table, err)
		var b strings.Builder
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			noErr(t, "scan "+table, rows.Scan(ptrs...))
			for i, v := range vals {
				b.WriteString(cols[i])
				b.WriteByte('=')
				switch v := v.(type) {
				case []byte:
					b.Write(v)
				case string:
					b.WriteString(v)
				default:
					fmt.Fprint(&b, v)
				}
				b.WriteByte('\n')
			}
		}
		noErr(t, "dump "+table, rows.Err())
		rows.Close()
		out[table] = b.String()
	}
	return out
}

func TestDatabaseCopyHoldsNoSecret(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		key := make([]byte, vault.KeySize)
		for i := range key {
			key[i] = byte(i*7 + 3)
		}
		v, err := vault.New(key)
		noErr(t, "vault.New", err)

		const pan = "4111112233334441"
		if !vsrp.ValidPAN(pan) {
			t.Fatalf("test PAN %s is not valid", pan)
		}
		const auid = "+8613800138000" // a phone number, as apps often use
		const auidDigits = "8613800138000"

		a := fullApp("app_secrets", base)
		createApp(t, s, a)
		noErr(t, "UpsertBINs", s.UpsertBINs(ctx, []vsrp.BIN{bin("41111122", "10000002", 2)}, base))
		c, err := s.Card(ctx, &vsrp.Card{
			ID: vault.NewID("card_"), PANHash: v.Lookup("pan", []byte(pan)), PANSealed: v.Seal("pan", []byte(pan)),
			BIN: pan[:8], Last4: pan[12:], CreatedAt: base,
		})
		noErr(t, "Card", err)
		u, err := s.User(ctx, a.ID, v.Lookup("auid:"+a.ID, []byte(auid)), vault.NewID("vu_"), base)
		noErr(t, "User", err)
		noErr(t, "Bind", s.Bind(ctx, a.ID, c.ID, u.Vuid, base))
		noErr(t, "InsertTokens", s.InsertTokens(ctx, tokenPair(a.ID, "fam", 0, base, "")...))
		_, err = s.UseNonce(ctx, a.ID, "nonce-1", base, at(time.Minute))
		noErr(t, "UseNonce", err)
		_, _, err = s.ApplyCampaign(ctx, &vsrp.Campaign{CampaignID: "cmp_1"}, []byte(`{"id":"cmp_1"}`), base)
		noErr(t, "ApplyCampaign", err)

		// The sealed PAN still opens with the key: the copy holds it, only not in clear.
		got, err := s.CardByID(ctx, c.ID)
		noErr(t, "CardByID", err)
		plain, err := v.Open("pan", got.PANSealed)
		if err != nil || string(plain) != pan {
			t.Fatalf("sealed PAN does not open to the PAN: %q, %v", plain, err)
		}

		tables := dump(t, s)
		// The dump must have seen the data, or the assertions below prove nothing.
		for table, seen := range map[string]string{"cards": c.ID, "users": u.Vuid, "bindings": u.Vuid, "apps": a.ID} {
			if !strings.Contains(tables[table], seen) {
				t.Fatalf("dump of %s does not show %s: %q", table, seen, tables[table])
			}
		}
		for table, text := range tables {
			for what, secret := range map[string]string{
				"the PAN":              pan,
				"the PAN past its BIN": pan[6:],
				"the auid":             auid,
				"the auid's digits":    auidDigits,
			} {
				if strings.Contains(text, secret) {
					t.Errorf("table %s holds %s in clear", table, what)
				}
			}
		}
	})
}

// ---- enrollments ----

// applyGroup applies a campaign with one enrollment group of the capacity (0: no limit).
func applyGroup(t *testing.T, s *store.Store, campaignID, groupID string, capacity int64) {
	t.Helper()
	c := &vsrp.Campaign{CampaignID: campaignID, EnrollmentGroups: []vsrp.EnrollmentGroup{{
		EnrollmentGroupID: groupID, Name: "Group " + groupID, EnrollStart: base, EnrollEnd: at(30 * 24 * time.Hour),
		Capacity: capacity, Eligibility: vsrp.Eligibility{BIDs: []string{"10000001"}},
	}}}
	_, _, err := s.ApplyCampaign(t.Context(), c, fmt.Appendf(nil, `{"campaignId":%q,"group":%q,"capacity":%d}`, campaignID, groupID, capacity), base)
	noErr(t, "ApplyCampaign", err)
}

func enrollment(id, groupID, cardID string, created time.Time) *vsrp.Enrollment {
	return &vsrp.Enrollment{ID: id, GroupID: groupID, CampaignID: "cmp_1", CardID: cardID, AppID: "app_a",
		ExtendedData: []byte(`{"k":"v"}`), CreatedAt: created}
}

func TestEnroll(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		applyGroup(t, s, "cmp_1", "eg_1", 0)
		c := mustCard(t, s, card("card_1", "4111111111111111", "411111", base))

		first := enrollment("enr_1", "eg_1", c.ID, at(time.Minute))
		got, already, err := s.Enroll(ctx, first)
		noErr(t, "Enroll", err)
		if already || got.ID != first.ID {
			t.Errorf("first Enroll = %s, already %v; want %s, false", got.ID, already, first.ID)
		}
		// Enrolling the card again answers the first enrollment and takes no place.
		got, already, err = s.Enroll(ctx, enrollment("enr_2", "eg_1", c.ID, at(time.Hour)))
		noErr(t, "Enroll again", err)
		if !already || got.ID != first.ID || !got.CreatedAt.Equal(first.CreatedAt) || !bytes.Equal(got.ExtendedData, first.ExtendedData) {
			t.Errorf("Enroll again = %+v, already %v; want the first enrollment, true", got, already)
		}
		g, err := s.Group(ctx, "eg_1")
		noErr(t, "Group", err)
		if g.Enrolled != 1 || g.CampaignID != "cmp_1" || !g.EnrollStart.Equal(base) {
			t.Errorf("Group = %+v, want 1 enrolled in cmp_1", g)
		}
		_, err = s.Group(ctx, "eg_nobody")
		wantErr(t, "Group of an unknown id", err, vsrp.ErrNotFound)
		_, err = s.Enrollment(ctx, "eg_1", "card_nobody")
		wantErr(t, "Enrollment of a card never enrolled", err, vsrp.ErrNotFound)

		// A group that holds enrollments cannot be removed; the refused version changes nothing.
		_, _, err = s.ApplyCampaign(ctx, &vsrp.Campaign{CampaignID: "cmp_1"}, []byte(`{"campaignId":"cmp_1"}`), at(2*time.Hour))
		wantErr(t, "ApplyCampaign removing a group with enrollments", err, vsrp.ErrConflict)
		d, err := s.Campaign(ctx, "cmp_1", 0)
		noErr(t, "Campaign", err)
		if d.Version != 1 {
			t.Errorf("version after a refused apply = %d, want 1", d.Version)
		}
		_, err = s.Group(ctx, "eg_1")
		noErr(t, "Group after a refused apply", err)
	})
}

// Ingestion reads a card's campaigns through a cache: an enrollment added after a read shows
// in the next one, from the same store or from another (another process).
func TestCardCampaignsSeeNewEnrollments(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		applyGroup(t, s, "cmp_1", "eg_1", 0)
		applyGroup(t, s, "cmp_2", "eg_2", 0)
		c := mustCard(t, s, card("card_1", "4111111111111111", "411111", base))
		campaigns := func(st *store.Store) []string {
			t.Helper()
			var ids []string
			noErr(t, "WriteTx", st.WriteTx(ctx, func(tx *store.Tx) error {
				got, err := tx.CardCampaigns([]string{c.ID, "card_nobody"})
				for _, cc := range got[c.ID] {
					ids = append(ids, cc.CampaignID)
				}
				if len(got["card_nobody"]) != 0 {
					t.Errorf("campaigns of an unknown card: %v", got["card_nobody"])
				}
				return err
			}))
			return ids
		}
		if got := campaigns(s); len(got) != 0 {
			t.Fatalf("campaigns before any enrollment: %v", got)
		}
		_, _, err := s.Enroll(ctx, enrollment("enr_1", "eg_1", c.ID, at(time.Minute)))
		noErr(t, "Enroll", err)
		if got := campaigns(s); !slices.Equal(got, []string{"cmp_1"}) {
			t.Fatalf("campaigns after one enrollment: %v", got)
		}
		other := Reopen(t, s)
		campaigns(other) // fills the other store's cache
		e := enrollment("enr_2", "eg_2", c.ID, at(2*time.Minute))
		e.CampaignID = "cmp_2"
		_, _, err = s.Enroll(ctx, e)
		noErr(t, "Enroll in a second campaign", err)
		for name, st := range map[string]*store.Store{"same store": s, "other store": other} {
			if got := campaigns(st); !slices.Equal(got, []string{"cmp_1", "cmp_2"}) {
				t.Errorf("%s: campaigns after a second enrollment: %v", name, got)
			}
		}
	})
}

func TestEnrollCapacityConcurrent(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		const capacity, n = 5, 20
		applyGroup(t, s, "cmp_1", "eg_cap", capacity)
		ids := make([]string, n)
		for i := range n {
			ids[i] = mustCard(t, s, card(fmt.Sprint("card_", i), fmt.Sprintf("411111%010d", i), "411111", base)).ID
		}
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				_, _, errs[i] = s.Enroll(ctx, enrollment(fmt.Sprint("enr_", i), "eg_cap", ids[i], at(time.Minute)))
			})
		}
		close(start)
		wg.Wait()

		enrolled := 0
		for i, err := range errs {
			switch {
			case err == nil:
				enrolled++
			case errors.Is(err, store.ErrFull):
				// The refused card holds no enrollment.
				if _, err := s.Enrollment(ctx, "eg_cap", ids[i]); !errors.Is(err, vsrp.ErrNotFound) {
					t.Errorf("card %d was refused but is enrolled (err %v)", i, err)
				}
			default:
				t.Errorf("Enroll %d: %v, want nil or ErrFull", i, err)
			}
		}
		if enrolled != capacity {
			t.Errorf("%d cards enrolled in a group of %d", enrolled, capacity)
		}
		g, err := s.Group(ctx, "eg_cap")
		noErr(t, "Group", err)
		if g.Enrolled != capacity {
			t.Errorf("Group.Enrolled = %d, want %d", g.Enrolled, capacity)
		}
	})
}

// ---- regressions of bugs found by this suite ----

// Concurrent rotations must leave the app with one current key. On PostgreSQL (READ
// COMMITTED) this needs the rotations to queue on the app's row.
func TestRotateKeyConcurrent(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := fullApp("app_keys", base)
		createApp(t, s, a)
		const n = 10
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				if err := s.RotateKey(ctx, newKey(a.ID, fmt.Sprint("key_", i), at(time.Duration(i+1)*time.Second))); err != nil {
					t.Errorf("RotateKey %d: %v", i, err)
				}
			})
		}
		close(start)
		wg.Wait()
		keys, err := s.AppKeys(ctx, a.ID, time.Time{})
		noErr(t, "AppKeys", err)
		var current []string
		for _, k := range keys {
			if k.RetiredAt.IsZero() {
				current = append(current, k.ID)
			}
		}
		if len(keys) != n+1 || len(current) != 1 {
			t.Errorf("after %d concurrent rotations: %d keys, current %v; want %d keys, one current", n, len(keys), current, n+1)
		}
	})
}

// Ready must not answer nil on a schema newer than the binary knows, which Migrate refuses.
func TestReadyOnNewerSchema(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		if _, err := s.DB().ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, true)`); err != nil {
			t.Fatal(err)
		}
		if err := s.Ready(ctx); err == nil {
			t.Error("Ready on a schema newer than the binary = nil, want an error")
		}
	})
}

// Reversed sums the refunds and reversals of a purchase, never a purchase that names it (the
// platform refuses such a purchase now; one stored before must not eat the original's refunds).
func TestReversedCountsOnlyRefundsAndReversals(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		row := func(id, typ, original string, amount int64) *store.TxnRow {
			return &store.TxnRow{Transaction: vsrp.Transaction{ID: id, CardID: "card_1", Type: typ, OriginalID: original,
				Amount: amount, Currency: "CNY", Time: at(time.Minute), MerchantID: "M", MerchantName: "Shop", MCC: "5812",
				MerchantCountry: "CN"}, Digest: id}
		}
		noErr(t, "WriteTx", s.WriteTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.InsertTxns([]*store.TxnRow{row("P1", vsrp.Purchase, "", 10000), row("P2", vsrp.Purchase, "P1", 10000),
				row("R1", vsrp.Refund, "P1", 2500), row("V1", vsrp.Reversal, "P1", 500)}, at(time.Hour)); err != nil {
				return err
			}
			got, err := tx.Reversed("P1")
			if err == nil && got != 3000 {
				t.Errorf("Reversed(P1) = %d, want 3000 (the refund and the reversal, not the purchase P2)", got)
			}
			return err
		}))
	})
}
