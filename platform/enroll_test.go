package platform_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
	"github.com/vsrp-dev/vsrp/storetest"
)

func TestEnrollCapacityRace(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", campaignDoc(group("EG-CAP", 10, nil)), false); err != nil {
			t.Fatal(err)
		}
		const n = 50
		var wg sync.WaitGroup
		codes := make([]vsrp.Code, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := f.p.Enroll(ctx, f.a, pan(fmt.Sprintf("411111110%06d", i)), "EG-CAP", nil)
				codes[i] = code(err)
			}()
		}
		wg.Wait()
		count := map[vsrp.Code]int{}
		for _, c := range codes {
			count[c]++
		}
		if count[vsrp.OK] != 10 || count[vsrp.CodeGroupFull] != 40 {
			t.Fatalf("want 10 enrolled and 40 refused with 3010, got %v", count)
		}
		g, err := st.Group(ctx, "EG-CAP")
		if err != nil || g.Enrolled != 10 {
			t.Fatalf("group holds %d (%v), want 10", g.Enrolled, err)
		}
	})
}

// Several server processes share one PostgreSQL database: each has its own connection pool.
func TestEnrollCapacityAcrossProcessesOnPostgres(t *testing.T) {
	url := storetest.PostgresURL(t)
	ctx := context.Background()
	var stores []*store.Store
	for range 3 {
		st, err := store.Open(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		stores = append(stores, st)
	}
	f := setup(t, stores[0])
	if _, err := f.p.ApplyCampaign(ctx, "CMP-T", campaignDoc(group("EG-CAP", 10, nil)), false); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 60 {
		p := newPlatform(t, stores[i%3])
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := p.Enroll(ctx, f.a, pan(fmt.Sprintf("411111110%06d", i)), "EG-CAP", nil)
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if code(err) != vsrp.CodeGroupFull {
				t.Errorf("enroll: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 10 {
		t.Fatalf("%d enrollments succeeded across processes, want 10", ok)
	}
}

func TestEnrollRules(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		closed := group("EG-CLOSED", 0, nil)
		closed["enrollEnd"] = "2027-01-05T00:00:00+08:00"
		doc := campaignDoc(group("EG-OPEN", 0, nil), closed,
			group("EG-B1", 0, map[string]any{"bids": []string{"B1"}}),
			group("EG-BIN", 0, map[string]any{"bins": []string{"42424242"}}))
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", doc, false); err != nil {
			t.Fatal(err)
		}
		card1, card2 := pan("411111112222333"), pan("424242420011112")
		e, already, err := f.p.Enroll(ctx, f.a, card1, "EG-OPEN", []byte(`{"channel": "app"}`))
		if err != nil || already {
			t.Fatalf("first enroll: %v, already=%v", err, already)
		}
		again, already, err := f.p.Enroll(ctx, f.a, card1, "EG-OPEN", []byte(`{"other": 1}`))
		if err != nil || !already || again.ID != e.ID || string(again.ExtendedData) != `{"channel":"app"}` || !again.CreatedAt.Equal(e.CreatedAt) {
			t.Fatalf("re-enroll: %+v already=%v err=%v; want the first enrollment kept", again, already, err)
		}
		for _, c := range []struct {
			name  string
			card  string
			group string
			ext   string
			want  vsrp.Code
		}{
			{"unknown group", card2, "EG-NOPE", "", vsrp.CodeGroupNotFound},
			{"closed", card2, "EG-CLOSED", "", vsrp.CodeGroupClosed},
			{"bid not eligible", card2, "EG-B1", "", vsrp.CodeNotEligible},
			{"8-digit BIN rule checks the PAN", card2, "EG-BIN", "", vsrp.OK},
			{"bin not eligible", card1, "EG-BIN", "", vsrp.CodeNotEligible},
			{"extended data not an object", card2, "EG-OPEN", `"text"`, vsrp.CodeExtDataInvalid},
			{"extended data over 4 KiB", card2, "EG-OPEN", `{"x":"` + string(make([]byte, 0)) + fmt.Sprintf("%04100d", 0) + `"}`, vsrp.CodeExtDataInvalid},
			{"unknown card", "card_nope", "EG-OPEN", "", vsrp.CodeCardNotFound},
			{"invalid PAN", "4111111111111112", "EG-OPEN", "", vsrp.CodeCardInvalid},
		} {
			var ext []byte
			if c.ext != "" {
				ext = []byte(c.ext)
			}
			if _, _, err := f.p.Enroll(ctx, f.a, c.card, c.group, ext); code(err) != c.want {
				t.Errorf("%s: code %d (%v), want %d", c.name, code(err), err, c.want)
			}
		}
	})
}

func TestCampaignGrantIsolation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", campaignDoc(group("EG-OPEN", 0, nil)), false); err != nil {
			t.Fatal(err)
		}
		card := pan("411111113333444")
		// B is not granted CMP-T: its group answers 3006 exactly like a missing one.
		_, _, errB := f.p.Enroll(ctx, f.b, card, "EG-OPEN", nil)
		_, _, errMissing := f.p.Enroll(ctx, f.b, card, "EG-MISSING", nil)
		if code(errB) != vsrp.CodeGroupNotFound || code(errMissing) != vsrp.CodeGroupNotFound {
			t.Fatalf("B enroll: %v / missing: %v; want 3006 for both", errB, errMissing)
		}
		if _, _, err := f.p.Enroll(ctx, f.a, card, "EG-OPEN", []byte(`{"secret":"A's"}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.p.ShowEnrollment(ctx, f.b, "", card, "EG-OPEN"); code(err) != vsrp.CodeGroupNotFound {
			t.Fatalf("B showEnrollment: %v, want 3006", err)
		}
		views, err := f.p.ShowEnrollment(ctx, f.a, "", card, "EG-OPEN")
		if err != nil || len(views) != 1 || string(views[0].ExtendedData) != `{"secret":"A's"}` {
			t.Fatalf("A showEnrollment: %+v %v", views, err)
		}
		// Once granted, B sees the card's enrollment but not A's extended data.
		campaigns := []string{"CMP-T"}
		if _, err := f.p.UpdateApp(ctx, f.b.ID, platformSpec(campaigns)); err != nil {
			t.Fatal(err)
		}
		b, _ := f.p.App(ctx, f.b.ID)
		views, err = f.p.ShowEnrollment(ctx, b, "", card, "EG-OPEN")
		if err != nil || len(views) != 1 || views[0].ExtendedData != nil {
			t.Fatalf("granted B showEnrollment: %+v %v; want the enrollment without A's data", views, err)
		}
		_, already, err := f.p.Enroll(ctx, b, card, "EG-OPEN", nil)
		if err != nil || !already {
			t.Fatalf("B enrolling A's enrolled card: already=%v err=%v; want alreadyEnrolled", already, err)
		}
	})
}

func TestCampaignApplyHistory(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		doc := campaignDoc(group("EG-1", 0, nil), group("EG-2", 0, nil))
		r1, err := f.p.ApplyCampaign(ctx, "CMP-T", doc, false)
		if err != nil || r1.Version != 1 || !r1.Changed {
			t.Fatalf("first apply: %+v %v", r1, err)
		}
		r2, err := f.p.ApplyCampaign(ctx, "CMP-T", doc, false)
		if err != nil || r2.Version != 1 || r2.Changed {
			t.Fatalf("same document again: %+v %v; want unchanged version 1", r2, err)
		}
		if _, _, err := f.p.Enroll(ctx, f.a, pan("411111114444555"), "EG-1", nil); err != nil {
			t.Fatal(err)
		}
		// Removing a group with enrollments rewrites history: refused, nothing changes.
		_, err = f.p.ApplyCampaign(ctx, "CMP-T", campaignDoc(group("EG-2", 0, nil)), false)
		if !errors.Is(err, vsrp.ErrConflict) {
			t.Fatalf("removing an enrolled group: %v, want a conflict", err)
		}
		if cur, _ := f.p.Campaign(ctx, "CMP-T", 0); cur.Version != 1 {
			t.Fatalf("a refused apply changed the version to %d", cur.Version)
		}
		// Removing the empty group is fine and makes version 2; version 1 stays readable.
		if r, err := f.p.ApplyCampaign(ctx, "CMP-T", campaignDoc(group("EG-1", 0, nil)), false); err != nil || r.Version != 2 {
			t.Fatalf("removing an empty group: %+v %v", r, err)
		}
		if _, err := st.Group(ctx, "EG-2"); !errors.Is(err, vsrp.ErrNotFound) {
			t.Fatalf("removed group still there: %v", err)
		}
		old, err := f.p.Campaign(ctx, "CMP-T", 1)
		if err != nil || string(old.Doc) == "" || old.Version != 1 {
			t.Fatalf("version 1: %+v %v", old, err)
		}
		// A dry run validates and reports, but stores nothing.
		r, err := f.p.ApplyCampaign(ctx, "CMP-T", campaignDoc(group("EG-1", 5, nil)), true)
		if err != nil || !r.Changed || r.Version != 3 || len(r.Changes) == 0 {
			t.Fatalf("dry run: %+v %v", r, err)
		}
		if g, _ := st.Group(ctx, "EG-1"); g.Capacity != 0 {
			t.Fatalf("dry run changed the capacity to %d", g.Capacity)
		}
	})
}

func TestCampaignIDsAreGlobal(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		if _, err := f.p.ApplyCampaign(ctx, "CMP-T", campaignDoc(group("EG-1", 0, nil)), false); err != nil {
			t.Fatal(err)
		}
		other := []byte(`{"campaignId":"CMP-U","name":"U","timezone":"UTC","startDate":"2027-01-01","endDate":"2027-02-01",
			"currency":"USD","aggregation":"card","enrollmentGroups":[{"enrollmentGroupId":"EG-1","name":"x",
			"enrollStart":"2027-01-01T00:00:00Z","enrollEnd":"2027-02-01T00:00:00Z","capacity":0,"eligibility":{}}],"offers":[]}`)
		_, err := f.p.ApplyCampaign(ctx, "CMP-U", other, false)
		var ve *vsrp.ValidationError
		if !errors.As(err, &ve) || ve.Problems[0].Field != "enrollmentGroups[0].enrollmentGroupId" {
			t.Fatalf("reused group id: %v, want a validation problem at enrollmentGroups[0].enrollmentGroupId", err)
		}
		if _, err := f.p.Campaign(ctx, "CMP-U", 0); !errors.Is(err, vsrp.ErrNotFound) {
			t.Fatalf("an invalid document was stored: %v", err)
		}
	})
}

// An app whose issuers were narrowed no longer sees, through its user, the enrollments of
// cards of the issuers it lost (as listCards leaves those cards out).
func TestShowEnrollmentByUserKeepsToTheAppsIssuers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := setup(t, st)
		ctx := context.Background()
		applyOffers(t, f.p, offer("OF-E", "each", nil))
		cards := enrolledCards(t, f, 1) // issuer B1
		vuid := bindAll(t, f, "u", cards...)
		show := func() int {
			t.Helper()
			got, err := f.p.ShowEnrollment(ctx, f.a, vuid, "", "EG-R")
			if err != nil {
				t.Fatal(err)
			}
			return len(got)
		}
		if n := show(); n != 1 {
			t.Fatalf("before: %d enrollments, want 1", n)
		}
		if _, err := f.p.UpdateApp(ctx, f.a.ID, platform.AppSpec{BIDs: &[]string{"B2"}}); err != nil {
			t.Fatal(err)
		}
		a, err := f.p.App(ctx, f.a.ID)
		if err != nil {
			t.Fatal(err)
		}
		f.a = a
		if n := show(); n != 0 {
			t.Fatalf("after the app lost issuer B1: %d enrollments shown, want 0", n)
		}
	})
}
