package notify_test

import (
	"net/netip"
	"testing"

	"github.com/vsrp-dev/vsrp/notify"
)

func TestPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8":              true,
		"1.1.1.1":              true,
		"2606:4700::1111":      true,
		"64:ff9b::808:808":     true, // NAT64 of 8.8.8.8
		"127.0.0.1":            false,
		"127.1.2.3":            false,
		"::1":                  false,
		"10.1.2.3":             false,
		"172.16.0.1":           false,
		"192.168.1.1":          false,
		"169.254.169.254":      false, // cloud metadata
		"fe80::1":              false,
		"fc00::1":              false,
		"fd00:ec2::254":        false,
		"0.0.0.0":              false,
		"::":                   false,
		"0.1.2.3":              false,
		"100.64.0.1":           false,
		"224.0.0.1":            false,
		"ff02::1":              false,
		"255.255.255.255":      false,
		"::ffff:127.0.0.1":     false, // IPv4-mapped loopback
		"::ffff:10.0.0.1":      false,
		"64:ff9b::a00:1":       false, // NAT64 of 10.0.0.1
		"64:ff9b::7f00:1":      false, // NAT64 of 127.0.0.1
		"198.18.0.1":           false,
		"2001:db8::1":          false,
		"192.0.2.1":            false,
		"fe80::1%eth0":         false,
		"2001:4860:4860::8888": true,
	} {
		if got := notify.PublicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("PublicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
	if notify.PublicAddr(netip.Addr{}) {
		t.Error("the zero Addr is public")
	}
}
