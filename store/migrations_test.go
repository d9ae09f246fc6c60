package store

import (
	"io/fs"
	"regexp"
	"testing"
)

// The PostgreSQL migrations are the SQLite ones with PostgreSQL's type names (BLOB → BYTEA,
// INTEGER → BIGINT). This keeps the two from drifting apart: a migration that must differ
// between the engines is to be listed here, with the reason.
func TestMigrationsMatchAcrossEngines(t *testing.T) {
	engineSpecific := map[string]string{} // file → why it differs
	blob, integer := regexp.MustCompile(`\bBLOB\b`), regexp.MustCompile(`\bINTEGER\b`)
	lite, err := fs.ReadDir(migrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := fs.ReadDir(migrations, "migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) != len(pg) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL ones", len(lite), len(pg))
	}
	for _, e := range lite {
		if _, ok := engineSpecific[e.Name()]; ok {
			continue
		}
		l, err := fs.ReadFile(migrations, "migrations/sqlite/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		p, err := fs.ReadFile(migrations, "migrations/postgres/"+e.Name())
		if err != nil {
			t.Fatalf("%s has no PostgreSQL twin: %v", e.Name(), err)
		}
		want := integer.ReplaceAll(blob.ReplaceAll(l, []byte("BYTEA")), []byte("BIGINT"))
		if string(want) != string(p) {
			t.Errorf("%s: the PostgreSQL migration is not the SQLite one with PostgreSQL's type names", e.Name())
		}
	}
}
