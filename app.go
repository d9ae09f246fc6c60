package vsrp

import (
	"net/netip"
	"slices"
	"time"
)

// Scopes of the App API (contract 4.3).
const (
	ScopeUser   = "user"
	ScopeEnroll = "enroll"
	ScopeReward = "reward"
)

// AllScopes lists the scopes an app can be granted.
var AllScopes = []string{ScopeUser, ScopeEnroll, ScopeReward}

// App is a partner application.
type App struct {
	ID               string
	Name             string
	SecretHash       string // argon2id of the appSecret
	Scopes           []string
	IPWhitelist      []netip.Prefix // empty allows every address (sandbox only)
	NotifyURL        string
	CampaignIDs      []string // campaigns the app may use
	BIDs             []string // issuers the app may see; empty = all
	Enabled          bool
	ReplayProtection bool
	WebhookSecret    []byte // sealed
	WebhookSecretOld []byte // sealed; signs too until WebhookOldUntil
	WebhookOldUntil  time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// HasScope reports whether the app was granted the scope.
func (a *App) HasScope(s string) bool { return slices.Contains(a.Scopes, s) }

// AllowsIP reports whether the whitelist admits addr. An empty whitelist admits all.
func (a *App) AllowsIP(addr netip.Addr) bool {
	if len(a.IPWhitelist) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range a.IPWhitelist {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// SeesBID reports whether the app may see cards of the issuer.
func (a *App) SeesBID(bid string) bool {
	return len(a.BIDs) == 0 || slices.Contains(a.BIDs, bid)
}

// HasCampaign reports whether the campaign is granted to the app.
func (a *App) HasCampaign(id string) bool { return slices.Contains(a.CampaignIDs, id) }

// AppKey is one RSA key pair of an app. The private key is sealed under the master key.
type AppKey struct {
	ID         string
	AppID      string
	PrivateKey []byte // sealed PKCS#8 DER
	PublicPEM  string
	CreatedAt  time.Time
	RetiredAt  time.Time // zero while current; decrypts until RetiredAt + grace
}

// TokenKind tells access and refresh tokens apart.
type TokenKind string

// Token kinds.
const (
	AccessToken  TokenKind = "access"
	RefreshToken TokenKind = "refresh"
)

// Token is the stored form of an issued token: only its hash is kept. Tokens issued together
// share a Family (the getToken that began the chain) and a Generation (0 for getToken, +1
// per refresh), so reuse of a refresh token can revoke every later generation.
type Token struct {
	Hash       []byte
	AppID      string
	Kind       TokenKind
	Family     string
	Generation int
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsedAt     time.Time // refresh tokens: when it was exchanged
	Revoked    bool
}
