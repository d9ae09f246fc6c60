package platform

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/envelope"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/vault"
)

// TokenPair is what getToken and refreshToken answer.
type TokenPair struct {
	AccessToken           string
	AccessTokenExpiredAt  time.Time
	RefreshToken          string
	RefreshTokenExpiredAt time.Time
	Scope                 string
}

// GetToken checks an app's credentials from the caller's address and issues a token pair.
// Checks, in the contract's order: unknown appId 2001; address outside the whitelist 2006
// (before any password hashing); app disabled 2008; wrong secret 2001; more than the hourly
// allowance of tokens 2011. Failed attempts per address and appId are limited too (2011).
func (p *Platform) GetToken(ctx context.Context, appID, secret string, ip netip.Addr) (*TokenPair, error) {
	now := p.now()
	failKey := ip.String() + "|" + appID
	if p.failures.Exceeded(failKey, now) {
		return nil, vsrp.E(vsrp.CodeRateLimited)
	}
	a, err := p.store.App(ctx, appID)
	if errors.Is(err, vsrp.ErrNotFound) {
		vault.DummyPasswordCheck(secret)
		p.failures.Add(failKey, now)
		return nil, vsrp.E(vsrp.CodeBadCredentials)
	}
	if err != nil {
		return nil, storeErr(err)
	}
	if !a.AllowsIP(ip) {
		return nil, vsrp.E(vsrp.CodeIPDenied)
	}
	if !a.Enabled {
		return nil, vsrp.E(vsrp.CodeAppDisabled)
	}
	if !vault.CheckPassword(a.SecretHash, secret) {
		p.failures.Add(failKey, now)
		return nil, vsrp.E(vsrp.CodeBadCredentials)
	}
	pair, toks := p.newPair(a, vault.NewID("fam_"), 0, now)
	issued, err := p.store.IssueTokensForSecret(ctx, a.ID, a.SecretHash, now.Add(-time.Hour), p.cfg.TokensPerHour, toks...)
	if errors.Is(err, store.ErrSecretChanged) { // rotated since the check: the secret is the old one
		p.failures.Add(failKey, now)
		return nil, vsrp.E(vsrp.CodeBadCredentials)
	}
	if err != nil {
		return nil, storeErr(err)
	}
	if !issued {
		return nil, vsrp.E(vsrp.CodeRateLimited)
	}
	return pair, nil
}

func (p *Platform) newPair(a *vsrp.App, family string, gen int, now time.Time) (*TokenPair, []*vsrp.Token) {
	access, refresh := vault.NewToken(), vault.NewToken()
	pair := &TokenPair{
		AccessToken: access, AccessTokenExpiredAt: now.Add(p.cfg.AccessTTL),
		RefreshToken: refresh, RefreshTokenExpiredAt: now.Add(p.cfg.RefreshTTL),
		Scope: joinScopes(a.Scopes),
	}
	return pair, []*vsrp.Token{
		{Hash: vault.TokenHash(access), AppID: a.ID, Kind: vsrp.AccessToken, Family: family, Generation: gen, CreatedAt: now, ExpiresAt: pair.AccessTokenExpiredAt},
		{Hash: vault.TokenHash(refresh), AppID: a.ID, Kind: vsrp.RefreshToken, Family: family, Generation: gen, CreatedAt: now, ExpiresAt: pair.RefreshTokenExpiredAt},
	}
}

func joinScopes(s []string) string { return strings.Join(s, " ") }

// Refresh exchanges a refresh token for a new pair. A refresh token works once: presenting a
// used one answers 2004 and revokes every token issued from it since (reuse detection).
func (p *Platform) Refresh(ctx context.Context, refresh string, ip netip.Addr) (*TokenPair, error) {
	now := p.now()
	hash := vault.TokenHash(refresh)
	t, err := p.store.Token(ctx, hash)
	if errors.Is(err, vsrp.ErrNotFound) || (err == nil && t.Kind != vsrp.RefreshToken) {
		return nil, vsrp.E(vsrp.CodeRefreshInvalid)
	}
	if err != nil {
		return nil, storeErr(err)
	}
	a, err := p.store.App(ctx, t.AppID)
	if err != nil {
		return nil, storeErr(err)
	}
	if !a.AllowsIP(ip) {
		return nil, vsrp.E(vsrp.CodeIPDenied)
	}
	if !a.Enabled {
		return nil, vsrp.E(vsrp.CodeAppDisabled)
	}
	if t.Revoked {
		return nil, vsrp.E(vsrp.CodeRefreshInvalid)
	}
	if !t.UsedAt.IsZero() {
		return nil, p.reuse(ctx, t)
	}
	if !now.Before(t.ExpiresAt) {
		return nil, vsrp.E(vsrp.CodeRefreshExpired)
	}
	pair, toks := p.newPair(a, t.Family, t.Generation+1, now)
	won, err := p.store.ExchangeRefresh(ctx, hash, now, toks...)
	if err != nil {
		return nil, storeErr(err)
	}
	if !won { // a concurrent exchange of the same token got there first: that is reuse too
		return nil, p.reuse(ctx, t)
	}
	return pair, nil
}

func (p *Platform) reuse(ctx context.Context, t *vsrp.Token) error {
	if err := p.store.RevokeDescendants(ctx, t.Family, t.Generation); err != nil {
		return storeErr(err)
	}
	p.log.WarnContext(ctx, "refresh token reused: descendants revoked", "app_id", t.AppID)
	return vsrp.E(vsrp.CodeRefreshInvalid)
}

// Authenticate checks a bearer access token from the caller's address and answers its app:
// 2002 unknown, revoked or missing; 2003 expired; 2006 address outside the whitelist; 2008
// app disabled.
func (p *Platform) Authenticate(ctx context.Context, access string, ip netip.Addr) (*vsrp.App, error) {
	if access == "" {
		return nil, vsrp.E(vsrp.CodeTokenInvalid)
	}
	t, err := p.store.Token(ctx, vault.TokenHash(access))
	if errors.Is(err, vsrp.ErrNotFound) || (err == nil && (t.Kind != vsrp.AccessToken || t.Revoked)) {
		return nil, vsrp.E(vsrp.CodeTokenInvalid)
	}
	if err != nil {
		return nil, storeErr(err)
	}
	if !p.now().Before(t.ExpiresAt) {
		return nil, vsrp.E(vsrp.CodeTokenExpired)
	}
	a, err := p.store.App(ctx, t.AppID)
	if err != nil {
		return nil, storeErr(err)
	}
	if !a.AllowsIP(ip) {
		return nil, vsrp.E(vsrp.CodeIPDenied)
	}
	if !a.Enabled {
		return nil, vsrp.E(vsrp.CodeAppDisabled)
	}
	return a, nil
}

// Decrypt opens an encrypted payload of the app: with keyID, only that key of the app;
// without, the current key and then keys in their rotation grace period. Every failure is
// 2009 (an unknown keyId included); over 32 blocks or 32 KiB of plaintext is 1004.
func (p *Platform) Decrypt(ctx context.Context, a *vsrp.App, keyID, encryptedData string) ([]byte, error) {
	stored, err := p.store.AppKeys(ctx, a.ID, p.now().Add(-p.cfg.KeyGrace))
	if err != nil {
		return nil, storeErr(err)
	}
	keys := make([]envelope.Key, 0, len(stored))
	for _, k := range stored {
		if keyID != "" && k.ID != keyID {
			continue
		}
		priv, err := p.privateKey(k)
		if err != nil {
			return nil, vsrp.Internal(err)
		}
		keys = append(keys, envelope.Key{ID: k.ID, Private: priv})
	}
	if keyID != "" && len(keys) == 0 && len(stored) > 0 {
		// An unknown keyId costs what a wrong ciphertext for a known one costs: the same RSA
		// work with the current key, then 2009 whatever it gives.
		priv, err := p.privateKey(stored[0])
		if err != nil {
			return nil, vsrp.Internal(err)
		}
		_, _, _ = p.opener.Open(encryptedData, []envelope.Key{{ID: stored[0].ID, Private: priv}})
		return nil, vsrp.E(vsrp.CodeDecrypt)
	}
	plain, _, err := p.opener.Open(encryptedData, keys)
	switch {
	case errors.Is(err, envelope.ErrTooLarge):
		return nil, vsrp.E(vsrp.CodeTooLarge)
	case err != nil:
		return nil, vsrp.E(vsrp.CodeDecrypt)
	}
	return plain, nil
}

// CheckReplay enforces replay protection for apps that turned it on: the payload must carry
// timestamp (unix seconds within the window), a nonce unused for NonceTTL, and appId equal to
// the envelope's. Otherwise 2012.
func (p *Platform) CheckReplay(ctx context.Context, a *vsrp.App, payload []byte) error {
	if !a.ReplayProtection {
		return nil
	}
	var f struct {
		Timestamp json.Number `json:"timestamp"`
		Nonce     string      `json:"nonce"`
		AppID     string      `json:"appId"`
	}
	if json.Unmarshal(payload, &f) != nil || f.Nonce == "" || len(f.Nonce) > 128 ||
		subtle.ConstantTimeCompare([]byte(f.AppID), []byte(a.ID)) != 1 {
		return vsrp.E(vsrp.CodeReplay)
	}
	ts, err := f.Timestamp.Int64()
	now := p.now()
	// Compare whole seconds: a time.Duration cannot hold the gap to a far-off timestamp (such as
	// one in milliseconds) and would wrap around.
	window := int64(p.cfg.ReplayWindow / time.Second)
	if d := now.Unix() - ts; err != nil || d > window || d < -window {
		return vsrp.E(vsrp.CodeReplay)
	}
	fresh, err := p.store.UseNonce(ctx, a.ID, f.Nonce, now, now.Add(p.cfg.NonceTTL))
	if err != nil {
		return storeErr(err)
	}
	if !fresh {
		return vsrp.E(vsrp.CodeReplay)
	}
	return nil
}
