// Package platform is the VSRP service: the operations behind the App API and the admin API,
// over a store, a vault and the envelope opener. It knows nothing of HTTP and holds no SQL.
// Every App API operation takes the authenticated app first and scopes all it reads to it.
package platform

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/envelope"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/vault"
)

// Config holds the platform's tunables. Zero values take the contract's defaults.
type Config struct {
	AccessTTL          time.Duration // 15 minutes
	RefreshTTL         time.Duration // 2 hours
	KeyGrace           time.Duration // 7 days: a rotated RSA key keeps decrypting this long
	TokensPerHour      int           // 60 getToken answers per app per rolling hour
	FailuresPerMinute  int           // 20 failed getToken attempts per source address and appId
	ReplayWindow       time.Duration // 5 minutes either side for replay-protected apps
	NonceTTL           time.Duration // 10 minutes
	AllowPrivateHooks  bool          // allow loopback/private webhook destinations
	WebhookSecretGrace time.Duration // 24 hours
	Sandbox            bool          // sandbox mode: an app may have an empty IP whitelist (contract 4.3)
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AccessTTL, 15*time.Minute)
	def(&c.RefreshTTL, 2*time.Hour)
	def(&c.KeyGrace, 7*24*time.Hour)
	def(&c.ReplayWindow, 5*time.Minute)
	def(&c.NonceTTL, 10*time.Minute)
	def(&c.WebhookSecretGrace, 24*time.Hour)
	if c.TokensPerHour == 0 {
		c.TokensPerHour = 60
	}
	if c.FailuresPerMinute == 0 {
		c.FailuresPerMinute = 20
	}
}

// Platform is the service. It is safe for concurrent use.
type Platform struct {
	store      *store.Store
	vault      *vault.Vault
	opener     *envelope.Opener
	cfg        Config
	now        func() time.Time
	log        *slog.Logger
	failures   *windowLimiter
	keys       sync.Map // key id → *rsa.PrivateKey, unsealed once
	campaigns  campaignCache
	knownCards cardSet
	wake       func()       // nudges the notifier after a commit; nil until SetNotifier
	ingested   atomic.Int64 // transactions accepted by this process, for RefreshStats
}

// New returns a platform over the store. now is the clock (time.Now in production).
func New(st *store.Store, v *vault.Vault, cfg Config, now func() time.Time, log *slog.Logger) *Platform {
	cfg.defaults()
	return &Platform{
		store: st, vault: v, opener: envelope.NewOpener(), cfg: cfg, now: now, log: log,
		failures: newWindowLimiter(cfg.FailuresPerMinute, time.Minute),
	}
}

// Store gives the platform's store.
func (p *Platform) Store() *store.Store { return p.store }

// Config gives the platform's configuration with defaults applied.
func (p *Platform) Config() Config { return p.cfg }

// storeErr maps a store error that is not one of the expected domain errors to 5000/5001.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	var ve *vsrp.Error
	if errors.As(err, &ve) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &vsrp.Error{Code: vsrp.CodeUnavailable, Err: err}
	}
	return vsrp.Internal(err)
}

// privateKey unseals and parses a stored key once, then serves it from memory. Keys never
// change once written, so the cache needs no invalidation.
func (p *Platform) privateKey(k *vsrp.AppKey) (*rsa.PrivateKey, error) {
	if v, ok := p.keys.Load(k.ID); ok {
		return v.(*rsa.PrivateKey), nil
	}
	der, err := p.vault.Open("rsa-key:"+k.ID, k.PrivateKey)
	if err != nil {
		return nil, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("platform: stored key is not RSA")
	}
	p.keys.Store(k.ID, priv)
	return priv, nil
}

// plainText reports whether s can be stored as text on both databases: UTF-8 without NUL
// characters (PostgreSQL refuses both, SQLite would keep them).
func plainText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }
