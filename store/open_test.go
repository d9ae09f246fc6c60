package store_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vsrp-dev/vsrp/store"
)

// A SQLite path holding '#', '?' or '%' opens that very file: the characters would otherwise
// end the path of the file: URI the driver is given (a test named "sqlite#01" once wrote to
// a file shared across runs).
func TestOpenSQLitePathWithURICharacters(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a#b?c%41.db")
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at %s: %v", path, err)
	}
	for _, stray := range []string{"a", "a#b"} {
		if _, err := os.Stat(filepath.Join(dir, stray)); err == nil {
			t.Errorf("a stray file %s was made beside %s", stray, path)
		}
	}
}
