package engine

import (
	"fmt"
	"time"
)

// civil is a calendar date in the campaign's zone.
type civil struct {
	Y int
	M time.Month
	D int
}

func civilOf(t time.Time) civil { y, m, d := t.Date(); return civil{y, m, d} }

func parseCivil(s string) (civil, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return civil{}, fmt.Errorf("not a date: %q", s)
	}
	return civilOf(t), nil
}

func (c civil) t() time.Time        { return time.Date(c.Y, c.M, c.D, 0, 0, 0, 0, time.UTC) }
func (c civil) before(o civil) bool { return c.t().Before(o.t()) }
func (c civil) addDays(n int) civil { return civilOf(c.t().AddDate(0, 0, n)) }
func (c civil) String() string      { return c.t().Format(time.DateOnly) }
func maxCivil(a, b civil) civil {
	if a.before(b) {
		return b
	}
	return a
}
func minCivil(a, b civil) civil {
	if a.before(b) {
		return a
	}
	return b
}

// Period is one billing period of an offer: its first and last day (campaign zone, clipped to
// the campaign dates) and the day its bill falls due.
type Period struct {
	Start, End, Settlement string // yyyy-MM-dd
}

// PeriodOf answers the billing period that holds t.
func (o *Offer) PeriodOf(t time.Time) Period {
	d := civilOf(t.In(o.Loc))
	if p, ok := o.periods.Load(d); ok {
		return p.(Period)
	}
	p := o.periodOfDay(d)
	o.periods.Store(d, p)
	return p
}

// periodOfDay computes the billing period holding the day d.
func (o *Offer) periodOfDay(d civil) Period {
	var s, e civil
	switch o.Period {
	case "day":
		s, e = d, d
	case "week": // Monday to Sunday
		back := (int(d.t().Weekday()) + 6) % 7
		s = d.addDays(-back)
		e = s.addDays(6)
	case "month":
		s = civil{d.Y, d.M, 1}
		e = civilOf(s.t().AddDate(0, 1, -1))
	default: // campaign
		s, e = o.Start, o.End
	}
	s, e = maxCivil(s, o.Start), minCivil(e, o.End)
	return Period{Start: s.String(), End: e.String(), Settlement: e.addDays(o.DelayDays + 1).String()}
}

// PeriodOfDay answers the billing period of the offer's current dates that holds the day
// (yyyy-MM-dd), or the first or last period when the day lies outside the campaign's dates.
func (o *Offer) PeriodOfDay(day string) (Period, error) {
	d, err := parseCivil(day)
	if err != nil {
		return Period{}, err
	}
	return o.periodOfDay(minCivil(maxCivil(d, o.Start), o.End)), nil
}

// PeriodEnd answers the instant a period ends: the start of the day after its last day, in the
// campaign's zone.
func (o *Offer) PeriodEnd(p Period) time.Time {
	e, _ := parseCivil(p.End)
	n := e.addDays(1)
	return time.Date(n.Y, n.M, n.D, 0, 0, 0, 0, o.Loc)
}

// PeriodStartAt answers the instant the billing period holding t begins, in the campaign's zone.
func (o *Offer) PeriodStartAt(t time.Time) time.Time {
	d := civilOf(t.In(o.Loc))
	if at, ok := o.starts.Load(d); ok {
		return at.(time.Time)
	}
	s, _ := parseCivil(o.PeriodOf(t).Start)
	at := time.Date(s.Y, s.M, s.D, 0, 0, 0, 0, o.Loc)
	o.starts.Store(d, at)
	return at
}

// NeedsWholeHistory reports whether the offer's rewards depend on transactions outside the
// periods new ones fall in: a limit across periods, or a budget across every unit.
func (o *Offer) NeedsWholeHistory() bool { return o.PerTotal > 0 || o.Budget > 0 }
