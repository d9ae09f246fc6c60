package platform

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/envelope"
	"github.com/vsrp-dev/vsrp/notify"
	"github.com/vsrp-dev/vsrp/vault"
)

// AppSpec is what an operator sets on an app. Nil fields of a patch are left unchanged.
type AppSpec struct {
	Name             *string   `json:"name"`
	Scopes           *[]string `json:"scopes"`
	IPWhitelist      *[]string `json:"ipWhitelist"`
	NotifyURL        *string   `json:"notifyUrl"`
	CampaignIDs      *[]string `json:"campaignIds"`
	BIDs             *[]string `json:"bids"`
	Enabled          *bool     `json:"enabled"`
	ReplayProtection *bool     `json:"replayProtection"`
}

// AppCredentials are the secrets of a new app, shown once.
type AppCredentials struct {
	AppID         string `json:"appId"`
	AppSecret     string `json:"appSecret"`
	WebhookSecret string `json:"webhookSecret"`
	KeyID         string `json:"keyId"`
	PublicKeyPEM  string `json:"publicKeyPem"`
}

// apply validates spec onto a, reporting every problem at once.
func (p *Platform) apply(ctx context.Context, a *vsrp.App, spec AppSpec) error {
	var ve vsrp.ValidationError
	if spec.Name != nil {
		if *spec.Name == "" || len(*spec.Name) > 200 {
			ve.Add("name", "must be 1 to 200 characters")
		}
		a.Name = *spec.Name
	}
	if spec.Scopes != nil {
		a.Scopes = nil
		for i, s := range *spec.Scopes {
			if !slices.Contains(vsrp.AllScopes, s) {
				ve.Add(fieldIndex("scopes", i), "unknown scope %q (user, enroll, reward)", s)
				continue
			}
			if !slices.Contains(a.Scopes, s) {
				a.Scopes = append(a.Scopes, s)
			}
		}
	}
	if spec.IPWhitelist != nil {
		a.IPWhitelist = nil
		for i, c := range *spec.IPWhitelist {
			pfx, err := parseCIDR(c)
			if err != nil {
				ve.Add(fieldIndex("ipWhitelist", i), "not an IPv4 or IPv6 address or CIDR")
				continue
			}
			a.IPWhitelist = append(a.IPWhitelist, pfx)
		}
		// An empty whitelist lets every address call the app: the contract allows it in sandbox
		// mode only. Apps stored with one before keep it until their whitelist is changed.
		if len(*spec.IPWhitelist) == 0 && !p.cfg.Sandbox {
			ve.Add("ipWhitelist", "must hold at least one address or CIDR (an empty whitelist is for sandbox mode only)")
		}
	}
	if spec.NotifyURL != nil {
		if err := p.checkNotifyURL(ctx, *spec.NotifyURL); err != nil {
			ve.Add("notifyUrl", "%s", err.Error())
		}
		a.NotifyURL = *spec.NotifyURL
	}
	if spec.CampaignIDs != nil {
		a.CampaignIDs = dedupe(*spec.CampaignIDs)
		for i, c := range a.CampaignIDs {
			if c == "" {
				ve.Add(fieldIndex("campaignIds", i), "must not be empty")
			}
		}
	}
	if spec.BIDs != nil {
		a.BIDs = dedupe(*spec.BIDs)
	}
	if spec.Enabled != nil {
		a.Enabled = *spec.Enabled
	}
	if spec.ReplayProtection != nil {
		a.ReplayProtection = *spec.ReplayProtection
	}
	return ve.Err()
}

func fieldIndex(name string, i int) string {
	return name + "[" + strconv.Itoa(i) + "]"
}

func dedupe(in []string) []string {
	out := []string{}
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func parseCIDR(s string) (netip.Prefix, error) {
	if pfx, err := netip.ParsePrefix(s); err == nil {
		return pfx.Masked(), nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()), nil
}

// checkNotifyURL accepts an empty URL or an absolute http(s) URL whose host is not a loopback,
// private or link-local address (unless the operator allows those).
func (p *Platform) checkNotifyURL(ctx context.Context, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("must be an absolute http or https URL")
	}
	if p.cfg.AllowPrivateHooks {
		return nil
	}
	return CheckPublicHost(ctx, u.Hostname())
}

// CheckPublicHost refuses a host that is, or resolves to, a loopback, private, link-local or
// unspecified address.
func CheckPublicHost(ctx context.Context, host string) error {
	addrs := []netip.Addr{}
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = append(addrs, a)
	} else {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		found, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return errors.New("host does not resolve")
		}
		addrs = found
	}
	for _, a := range addrs {
		if !notify.PublicAddr(a) { // the same rule the notifier applies at send time
			return errors.New("loopback, private and link-local destinations are not allowed")
		}
	}
	return nil
}

// CreateApp creates an app from spec (name required; an IP whitelist required outside sandbox
// mode) with an RSA-2048 key pair, an appSecret and a webhook secret, and answers the
// credentials; the secrets are not kept in clear.
func (p *Platform) CreateApp(ctx context.Context, spec AppSpec) (*AppCredentials, error) {
	now := p.now()
	a := &vsrp.App{ID: vault.NewID("app_"), Enabled: true, Scopes: []string{}, BIDs: []string{}, CampaignIDs: []string{},
		CreatedAt: now, UpdatedAt: now}
	if spec.Name == nil {
		empty := ""
		spec.Name = &empty
	}
	if spec.Scopes == nil {
		spec.Scopes = &vsrp.AllScopes
	}
	if spec.IPWhitelist == nil {
		spec.IPWhitelist = &[]string{}
	}
	if err := p.apply(ctx, a, spec); err != nil {
		return nil, err
	}
	secret, hook := vault.NewToken(), newWebhookSecret()
	a.SecretHash = vault.HashPassword(secret)
	a.WebhookSecret = p.vault.Seal("webhook:"+a.ID, []byte(hook))
	key, pemText, err := p.newKey(a.ID, now)
	if err != nil {
		return nil, err
	}
	if err := p.store.CreateApp(ctx, a, key); err != nil {
		return nil, storeErr(err)
	}
	if len(a.IPWhitelist) == 0 {
		p.log.Warn("app has an empty IP whitelist: every address may call it", "app_id", a.ID)
	}
	return &AppCredentials{AppID: a.ID, AppSecret: secret, WebhookSecret: hook, KeyID: key.ID, PublicKeyPEM: pemText}, nil
}

func newWebhookSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

func (p *Platform) newKey(appID string, now time.Time) (*vsrp.AppKey, string, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, "", vsrp.Internal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, "", vsrp.Internal(err)
	}
	pemBytes, err := envelope.MarshalPublicKeyPEM(&priv.PublicKey)
	if err != nil {
		return nil, "", vsrp.Internal(err)
	}
	id := vault.NewID("key_")
	return &vsrp.AppKey{ID: id, AppID: appID, PrivateKey: p.vault.Seal("rsa-key:"+id, der), PublicPEM: string(pemBytes), CreatedAt: now}, string(pemBytes), nil
}

// App reads an app; vsrp.ErrNotFound when unknown.
func (p *Platform) App(ctx context.Context, id string) (*vsrp.App, error) {
	a, err := p.store.App(ctx, id)
	if errors.Is(err, vsrp.ErrNotFound) {
		return nil, err
	}
	return a, storeErr(err)
}

// Apps lists every app.
func (p *Platform) Apps(ctx context.Context) ([]*vsrp.App, error) {
	apps, err := p.store.Apps(ctx)
	return apps, storeErr(err)
}

// UpdateApp changes the fields that spec sets. Outside sandbox mode a whitelist it sets must not
// be empty; an app stored with an empty one keeps it while other fields change.
func (p *Platform) UpdateApp(ctx context.Context, id string, spec AppSpec) (*vsrp.App, error) {
	a, err := p.App(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := p.apply(ctx, a, spec); err != nil {
		return nil, err
	}
	a.UpdatedAt = p.now()
	if err := p.store.UpdateApp(ctx, a); err != nil {
		return nil, storeErr(err)
	}
	return a, nil
}

// PublicKey is an app's current public key.
type PublicKey struct {
	KeyID        string `json:"keyId"`
	PublicKeyPEM string `json:"publicKeyPem"`
}

// CurrentKey answers the app's current public key.
func (p *Platform) CurrentKey(ctx context.Context, appID string) (*PublicKey, error) {
	keys, err := p.store.AppKeys(ctx, appID, p.now())
	if err != nil {
		return nil, storeErr(err)
	}
	if len(keys) == 0 || !keys[0].RetiredAt.IsZero() {
		return nil, vsrp.ErrNotFound
	}
	return &PublicKey{KeyID: keys[0].ID, PublicKeyPEM: keys[0].PublicPEM}, nil
}

// RotateKey gives the app a new current RSA key; the old one decrypts for the grace period.
func (p *Platform) RotateKey(ctx context.Context, appID string) (*PublicKey, error) {
	if _, err := p.App(ctx, appID); err != nil {
		return nil, err
	}
	key, pemText, err := p.newKey(appID, p.now())
	if err != nil {
		return nil, err
	}
	if err := p.store.RotateKey(ctx, key); err != nil {
		return nil, storeErr(err)
	}
	return &PublicKey{KeyID: key.ID, PublicKeyPEM: pemText}, nil
}

// RotatedSecrets are an app's new secrets, shown once.
type RotatedSecrets struct {
	AppSecret     string `json:"appSecret"`
	WebhookSecret string `json:"webhookSecret"`
}

// RotateSecret replaces the appSecret (the old one stops working at once, and refresh tokens
// issued before can renew nothing: a leaked secret's tokens die with their access token) and
// the webhook secret (the old one keeps signing beside the new one for the grace period).
func (p *Platform) RotateSecret(ctx context.Context, appID string) (*RotatedSecrets, error) {
	secret, hook := vault.NewToken(), newWebhookSecret()
	hash := vault.HashPassword(secret)
	for attempt := 0; ; attempt++ {
		a, err := p.App(ctx, appID)
		if err != nil {
			return nil, err
		}
		now := p.now()
		replaced := a.WebhookSecret
		// The replaced secret signs for the grace period, as do those replaced before it that
		// are still in theirs: newest first.
		cur, err := p.vault.Open("webhook:"+a.ID, a.WebhookSecret)
		if err != nil {
			return nil, vsrp.Internal(err)
		}
		olds, err := p.oldSecrets(a, now)
		if err != nil {
			return nil, err
		}
		kept := append([]oldSecret{{Secret: string(cur), Until: now.Add(p.cfg.WebhookSecretGrace)}}, olds...)
		list, err := json.Marshal(kept)
		if err != nil {
			return nil, vsrp.Internal(err)
		}
		a.SecretHash = hash
		a.WebhookSecretOld, a.WebhookOldUntil = p.vault.Seal("webhook:"+a.ID, list), kept[0].Until
		a.WebhookSecret = p.vault.Seal("webhook:"+a.ID, []byte(hook))
		a.UpdatedAt = now
		err = p.store.SetAppSecrets(ctx, a, replaced)
		if errors.Is(err, vsrp.ErrConflict) && attempt < 5 {
			continue // another rotation came between: this one replaces it, keeping it as the old one
		}
		if err != nil {
			return nil, storeErr(err)
		}
		return &RotatedSecrets{AppSecret: secret, WebhookSecret: hook}, nil
	}
}

// WebhookSecrets answers the app's signing secrets: the current one, then the previous one
// while it is in its grace period.
func (p *Platform) WebhookSecrets(a *vsrp.App) ([]string, error) {
	cur, err := p.vault.Open("webhook:"+a.ID, a.WebhookSecret)
	if err != nil {
		return nil, vsrp.Internal(err)
	}
	out := []string{string(cur)}
	olds, err := p.oldSecrets(a, p.now())
	if err != nil {
		return nil, err
	}
	for _, o := range olds {
		out = append(out, o.Secret)
	}
	return out, nil
}

// oldSecret is a replaced webhook secret and the end of its grace period.
type oldSecret struct {
	Secret string    `json:"secret"`
	Until  time.Time `json:"until"`
}

// oldSecrets opens the app's replaced webhook secrets still in their grace period at now,
// newest first: a sealed JSON list, or (as stored before several were kept) one sealed secret
// whose grace ends at WebhookOldUntil, which is the latest end in either form.
func (p *Platform) oldSecrets(a *vsrp.App, now time.Time) ([]oldSecret, error) {
	if len(a.WebhookSecretOld) == 0 || !now.Before(a.WebhookOldUntil) {
		return nil, nil
	}
	raw, err := p.vault.Open("webhook:"+a.ID, a.WebhookSecretOld)
	if err != nil {
		return nil, vsrp.Internal(err)
	}
	if !bytes.HasPrefix(raw, []byte("[")) {
		return []oldSecret{{Secret: string(raw), Until: a.WebhookOldUntil}}, nil
	}
	var list []oldSecret
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, vsrp.Internal(err)
	}
	return slices.DeleteFunc(list, func(o oldSecret) bool { return !now.Before(o.Until) }), nil
}

// ErrMasterKey is CheckMasterKey's answer when the database's data was sealed with another
// master key.
var ErrMasterKey = errors.New("the database was sealed with another master key")

// CheckMasterKey makes sure the database belongs with the platform's master key, before it
// serves: its sealed data would not open under another key, and every call that needs it
// would fail. The database keeps the check value of its key (vault.KeyCheck), written on the
// first start; a database without one (new, or from before the check existed) gets it now,
// unless a sealed value it already holds does not open. It answers ErrMasterKey when the key
// is not the database's.
func (p *Platform) CheckMasterKey(ctx context.Context) error {
	want := p.vault.KeyCheck()
	kept, err := p.store.KeyCheck(ctx)
	if errors.Is(err, vsrp.ErrNotFound) {
		if err := p.openSamples(ctx); err != nil {
			return err
		}
		kept, err = p.store.InitKeyCheck(ctx, want, p.now())
	}
	if err != nil {
		return storeErr(err)
	}
	if !hmac.Equal(kept, want) {
		return ErrMasterKey
	}
	return nil
}

// openSamples opens one sealed value of each kind the database holds, with the purposes they
// were sealed for (here and in users.go).
func (p *Platform) openSamples(ctx context.Context) error {
	ss, err := p.store.SealedSamples(ctx)
	if err != nil {
		return storeErr(err)
	}
	for _, s := range []struct {
		purpose string
		sealed  []byte
	}{
		{"webhook:" + ss.AppID, ss.WebhookSecret},
		{"rsa-key:" + ss.KeyID, ss.PrivateKey},
		{"pan", ss.PAN},
	} {
		if s.sealed == nil {
			continue
		}
		if _, err := p.vault.Open(s.purpose, s.sealed); err != nil {
			return ErrMasterKey
		}
	}
	return nil
}
