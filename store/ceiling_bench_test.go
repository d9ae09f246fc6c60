package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkSQLiteIngestCeiling measures how fast SQLite, opened with this store's settings,
// stores transactions in a layout leaner than the real one, with no parsing, checking or
// evaluation at all: per transaction one row (appended) indexed by id and by card and time,
// one new reward row (appended) indexed by card, and, in the second case, the two running
// totals of earlier rewards updated (a spend and a count offer). Cards and ids are random, as
// in a real file; a commit every 10,000 transactions, as ingestion does. It bounds what the
// import can reach on this machine:
//
//	VSRP_BENCH_CEILING_TXNS=1000000 go test -run=^$ -bench=SQLiteIngestCeiling -benchtime=1x ./store/
//
// VSRP_BENCH_CEILING_BATCH sets the transactions per commit and VSRP_BENCH_CEILING_CACHE_MIB the
// page cache, to see how far larger commits and a larger cache than the store's move the bound.
func BenchmarkSQLiteIngestCeiling(b *testing.B) {
	n := ceilingSetting("VSRP_BENCH_CEILING_TXNS", 1_000_000)
	batch := ceilingSetting("VSRP_BENCH_CEILING_BATCH", 10_000)
	cacheMiB := ceilingSetting("VSRP_BENCH_CEILING_CACHE_MIB", 0) // 0: the store's setting
	for _, updates := range []int{0, 2} {
		b.Run(fmt.Sprintf("updates=%d", updates), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				st, err := Open(filepath.Join(b.TempDir(), "ceiling.db"))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				if err := leanIngest(st, n, batch, cacheMiB, updates); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "txns/s")
				b.StopTimer()
				st.Close()
			}
		})
	}
}

func ceilingSetting(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func leanIngest(st *Store, n, batch, cacheMiB, updates int) error {
	ctx := context.Background()
	if cacheMiB > 0 { // the writer is one connection: the setting holds for every statement below
		if _, err := st.w.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", cacheMiB*1024)); err != nil {
			return err
		}
	}
	if _, err := st.w.ExecContext(ctx, `
		CREATE TABLE lean_txns (seq INTEGER PRIMARY KEY, txn_id TEXT NOT NULL, card INTEGER NOT NULL,
			amount INTEGER NOT NULL, txn_time INTEGER NOT NULL, mcc TEXT NOT NULL, merchant TEXT NOT NULL);
		CREATE UNIQUE INDEX lean_txns_id ON lean_txns(txn_id);
		CREATE INDEX lean_txns_card ON lean_txns(card, txn_time);
		CREATE TABLE lean_rewards (seq INTEGER PRIMARY KEY, card INTEGER NOT NULL, bill INTEGER NOT NULL,
			status INTEGER NOT NULL, amount INTEGER NOT NULL, event_count INTEGER NOT NULL,
			event_total INTEGER NOT NULL, message TEXT NOT NULL, created_at INTEGER NOT NULL);
		CREATE INDEX lean_rewards_card ON lean_rewards(card, created_at);`); err != nil {
		return err
	}
	const perStmt = 50
	insTxn := `INSERT INTO lean_txns (txn_id, card, amount, txn_time, mcc, merchant) VALUES ` + placeholders(perStmt, 6)
	insReward := `INSERT INTO lean_rewards (card, bill, status, amount, event_count, event_total, message, created_at) VALUES ` +
		placeholders(perStmt, 8)
	r := rand.New(rand.NewPCG(1, 2))
	rewards := 0
	for done := 0; done < n; done += batch {
		tx, err := st.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for j := 0; j < batch && done+j < n; j += perStmt {
			txns, rws := make([]any, 0, perStmt*6), make([]any, 0, perStmt*8)
			for k := range perStmt {
				card := r.Int64N(100_000)
				txns = append(txns, "T"+strconv.FormatUint(r.Uint64(), 36), card, 12_345, r.Int64N(1e12), "5411", "M-1234")
				rws = append(rws, card, 7, 1, 500, 1, 12_345, "each purchase: 5.00", done+j+k)
			}
			if _, err := tx.ExecContext(ctx, insTxn, txns...); err != nil {
				tx.Rollback()
				return err
			}
			if _, err := tx.ExecContext(ctx, insReward, rws...); err != nil {
				tx.Rollback()
				return err
			}
			rewards += perStmt
			if updates == 0 {
				continue
			}
			// Running totals of earlier rewards, many to a statement as ingestion writes them.
			args := make([]any, 0, updates*perStmt*3)
			for range updates * perStmt {
				args = append(args, 1+r.Int64N(int64(rewards)), 12_345, "spent 123.45 of 500.00")
			}
			if _, err := tx.ExecContext(ctx, `WITH v (seq, amount, message) AS (VALUES `+
				strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", updates*perStmt), ", ")+`)
				UPDATE lean_rewards SET event_count = event_count + 1, event_total = event_total + v.amount,
				message = v.message FROM v WHERE lean_rewards.seq = v.seq`, args...); err != nil {
				tx.Rollback()
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}
