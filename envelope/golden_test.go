package envelope

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGolden opens envelopes made by other implementations (openssl CLI, Node.js, Java; see
// testdata/gen.sh) and compares each with its expected plaintext.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.enc")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".enc")
		seen[strings.SplitN(name, "-", 2)[0]]++
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(f, ".enc") + ".plain")
			if err != nil {
				t.Fatal(err)
			}
			o := NewOpener()
			got, id, err := o.Open(string(data), testKeys())
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, want) || id != testKeyID {
				t.Fatalf("Open = %q, %q; want %q", got, id, want)
			}
			// The variant named in the file name is the one that opened it.
			for v, tag := range map[Variant]string{SHA256MGF1SHA256: "-sha256-mgf1sha256-", SHA256MGF1SHA1: "-sha256-mgf1sha1-", SHA1MGF1SHA1: "-sha1-mgf1sha1-"} {
				if strings.Contains(name, tag) {
					if got, _ := o.variants.Load(testKeyID); got != v {
						t.Errorf("opened with %v, want %v", got, v)
					}
				}
			}
			// Opened again with the variant remembered: one operation per block, or one for
			// a JWE.
			wantOps := int64(1)
			if raw, err := decodeBase64(string(data)); err == nil {
				wantOps = int64(len(raw) / BlockSize)
			}
			if n, err := ops(o, string(data), testKeys()); err != nil || n != wantOps {
				t.Errorf("second Open: %d operations (%v), want %d", n, err, wantOps)
			}
		})
	}
	for _, src := range []string{"openssl", "node", "java"} {
		if seen[src] == 0 {
			t.Errorf("no golden envelope from %s", src)
		}
	}
}
