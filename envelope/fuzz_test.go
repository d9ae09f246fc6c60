package envelope

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzOpen checks that Open never panics, returns only ErrDecrypt or ErrTooLarge on failure,
// and makes no RSA operation for an input that is not JWE-shaped and does not decode to a
// positive multiple of BlockSize, at most MaxBlocks blocks.
//
//	go test -run='^$' -fuzz=FuzzOpen -fuzztime=60s -fuzzminimizetime=5s ./envelope/
//
// (An input that reaches RSA is slow to minimize: with the default minimize time of 60s
// the fuzzer spends its run minimizing.)
func FuzzOpen(f *testing.F) {
	pt := []byte(`{"auid":"008618612345678"}`)
	for _, v := range variants {
		f.Add(seal(f, pt, v))
		f.Add(seal(f, payload(3*v.MaxSegment()), v))
	}
	f.Add(sealJWE(f, testKeyID, pt, "RSA-OAEP-256", "A256GCM"))
	f.Add(sealJWE(f, "", pt, "RSA-OAEP", "A128GCM"))
	goldens, _ := filepath.Glob("testdata/golden/*-short.enc")
	for _, g := range goldens {
		b, _ := os.ReadFile(g)
		f.Add(string(b))
	}
	for _, s := range []string{"", "=", "====", "AA", "AA==", "-_-_", "a.b.c.d.e", "....", "\r\n",
		base64.StdEncoding.EncodeToString(make([]byte, 255)),
		base64.RawURLEncoding.EncodeToString(make([]byte, 257)),
		base64.StdEncoding.EncodeToString(make([]byte, 33*BlockSize)),
	} {
		f.Add(s)
	}

	o := NewOpener()
	keys := testKeys()
	f.Fuzz(func(t *testing.T, data string) {
		before := o.rsaOps.Load()
		got, id, err := o.Open(data, keys)
		n := o.rsaOps.Load() - before
		switch {
		case err == nil:
			if id != testKeyID || len(got) > MaxPlaintext {
				t.Fatalf("Open succeeded with key %q, %d bytes", id, len(got))
			}
		case err != ErrDecrypt && err != ErrTooLarge:
			t.Fatalf("Open: unexpected error %v", err)
		case got != nil || id != "":
			t.Fatalf("Open failed with results %q, %q", got, id)
		}
		if strings.Contains(data, ".") {
			if n > int64(len(keys)) {
				t.Fatalf("JWE: %d RSA operations", n)
			}
			return
		}
		blocks := -1
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(data); err == nil && len(b) > 0 && len(b)%BlockSize == 0 && len(b) <= MaxBlocks*BlockSize {
				blocks = len(b) / BlockSize
			}
		}
		if blocks < 0 && n != 0 {
			t.Fatalf("%d RSA operations for an input of no valid length", n)
		}
		// A success costs at most every pair on the first block and one operation on each
		// other; a failure at a later block costs every pair on that block as well.
		pairs := 3 * int64(len(keys))
		limit := pairs + int64(blocks-1)
		if err != nil {
			limit += pairs - 1
		}
		if n > limit {
			t.Fatalf("%d RSA operations for %d blocks (%v), want at most %d", n, blocks, err, limit)
		}
	})
}
