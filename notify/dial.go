package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// ErrDestinationNotAllowed answers a send to a host that is, or resolves to, an address that
// is not public (PublicAddr), when private destinations are not allowed.
var ErrDestinationNotAllowed = errors.New("destination address is loopback, private, link-local or otherwise not public")

// Ranges that the netip predicates do not cover but that no partner's public endpoint uses.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT, shared address space
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
}

// nat64 embeds an IPv4 address in its last 32 bits (RFC 6052): judged by the IPv4 address.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// PublicAddr reports whether a webhook may be sent to the address: not loopback, private
// (RFC 1918, unique local), link-local, unspecified, multicast, carrier-grade NAT, reserved or
// documentation space. IPv4-mapped and NAT64 addresses are judged by their IPv4 address.
func PublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is6() && nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:]))
	}
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// NewClient answers the HTTP client a Worker sends with: no proxy (the destination check must
// see the real destination), no redirects (a 3xx is the answer, and a failure), keep-alive
// connections, and no overall timeout (each attempt has its own deadline). Unless
// allowPrivate, it connects only to public addresses: it resolves the host itself, refuses it
// when any of its addresses is not public, and dials the checked address, so a DNS answer that
// changes between the check and the connection (rebinding) cannot reach an internal service.
func NewClient(allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if !allowPrivate {
		// The Control hook checks the address each socket actually connects to, whatever the
		// path to it; publicDial below does the resolving and fails fast with a clear error.
		d.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !PublicAddr(ap.Addr()) {
				return ErrDestinationNotAllowed
			}
			return nil
		}
		tr.DialContext = publicDial(d, net.DefaultResolver)
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// publicDial resolves addr's host, refuses it unless every address is public, and dials the
// addresses in turn (by IP, so nothing is resolved again).
func publicDial(d *net.Dialer, r *net.Resolver) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, portText, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		port, err := strconv.ParseUint(portText, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("bad port %q", portText)
		}
		var ips []netip.Addr
		if ip, err := netip.ParseAddr(host); err == nil {
			ips = []netip.Addr{ip}
		} else {
			ips, err = r.LookupNetIP(ctx, "ip", host)
			if err != nil {
				return nil, err
			}
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("%s does not resolve", host)
		}
		for _, ip := range ips {
			if !PublicAddr(ip) {
				return nil, ErrDestinationNotAllowed
			}
		}
		var first error
		for _, ip := range ips {
			c, err := d.DialContext(ctx, network, netip.AddrPortFrom(ip.Unmap(), uint16(port)).String())
			if err == nil {
				return c, nil
			}
			if first == nil {
				first = err
			}
			if ctx.Err() != nil {
				break
			}
		}
		return nil, first
	}
}
