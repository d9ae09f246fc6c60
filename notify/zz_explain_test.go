package notify_test

import (
	"testing"

	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

func TestExplainTmp(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		q := `EXPLAIN QUERY PLAN SELECT id FROM notifications WHERE status = 'pending' AND next_attempt_at <= 5 AND lease_until <= 5 ORDER BY next_attempt_at, id LIMIT 10`
		if s.Engine() == store.Postgres {
			q = `EXPLAIN UPDATE notifications SET lease_until = 1 WHERE id IN (SELECT id FROM notifications WHERE status = 'pending' AND next_attempt_at <= 5 AND lease_until <= 5 ORDER BY next_attempt_at, id LIMIT 10 FOR UPDATE SKIP LOCKED) RETURNING id`
		}
		rows, err := s.DB().Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			t.Log(vals...)
		}
	})
}
