package fetcher

import (
	"slices"
	"time"

	"aggregator"
)

// Schedule holds the knobs of the schedule rule: the feed's base interval
// (Options.Interval or Feed.Interval) and the clamps.
type Schedule struct {
	Interval, MinInterval, MaxInterval time.Duration
}

// Facts are what one exchange said about when to come back.
type Facts struct {
	// Failed: the fetch failed; the state's ConsecutiveErrors (already
	// counting this failure) sets the backoff.
	Failed bool
	// RetryAfter is the server's Retry-After (429, 503), zero if none.
	RetryAfter time.Time
	// MaxAge is Cache-Control's max-age, Expires the Expires header.
	MaxAge  time.Duration
	Expires time.Time
	// TTL is RSS <ttl>; UpdatePeriod is sy:updatePeriod divided by
	// sy:updateFrequency.
	TTL, UpdatePeriod time.Duration
	// SkipHours (0–23, GMT) and SkipDays are RSS <skipHours>/<skipDays>.
	SkipHours []int
	SkipDays  []time.Weekday
	// Jitter is a uniform random number in [0, 1); 0.5 adds none.
	Jitter float64
}

// maxRetryAfter bounds how far a Retry-After may push a feed out, so a
// typo on the server cannot silence a feed for a year.
const maxRetryAfter = 7 * 24 * time.Hour

// jitterFraction is the spread of the jitter: ±10% of the interval.
const jitterFraction = 0.2

// NextFetch is the schedule rule, a pure function: when a feed whose
// fetch at now ended in st (LastResult, ConsecutiveErrors and MeanItemGap
// already updated) with the given facts is next due.
//
// After a success: the base interval, adapted to the feed's publishing
// cadence (half the mean gap between its items, kept between half and
// eight times the base), raised to the floor the publisher asks for (the
// largest of Cache-Control max-age, Expires, <ttl> and sy:updatePeriod),
// jittered by ±10%, clamped to [MinInterval, MaxInterval] (the floor wins
// over MinInterval, MaxInterval over the floor), then moved out of any
// skipHours/skipDays.
//
// After a failure: exponential backoff from the base interval (doubling
// per consecutive error), jittered, clamped to [MinInterval,
// MaxInterval]; a Retry-After later than that wins (up to 7 days).
func NextFetch(now time.Time, st aggregator.FeedState, s Schedule, f Facts) time.Time {
	if f.Failed {
		n := min(max(1, st.ConsecutiveErrors), 30)
		d := s.Interval
		for i := 1; i < n && d < s.MaxInterval; i++ {
			d *= 2
		}
		d = clamp(jitter(d, f.Jitter), s.MinInterval, s.MaxInterval)
		if ra := f.RetryAfter.Sub(now); !f.RetryAfter.IsZero() && ra > d {
			d = min(ra, maxRetryAfter)
		}
		return now.Add(d)
	}
	d := s.Interval
	if gap := time.Duration(st.MeanItemGap * float64(time.Second)); gap > 0 {
		d = clamp(gap/2, s.Interval/2, s.Interval*8)
	}
	floor := max(f.MaxAge, f.TTL, f.UpdatePeriod)
	if !f.Expires.IsZero() {
		floor = max(floor, f.Expires.Sub(now))
	}
	d = max(d, floor)
	lo := max(s.MinInterval, min(floor, s.MaxInterval))
	d = clamp(jitter(d, f.Jitter), lo, s.MaxInterval)
	return skip(now.Add(d), f.SkipHours, f.SkipDays)
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return max(lo, min(d, hi))
}

func jitter(d time.Duration, j float64) time.Duration {
	return time.Duration(float64(d) * (1 + jitterFraction*(j-0.5)))
}

// skip moves t forward, to the start of an hour, until neither its hour
// nor its weekday (both in GMT, as RSS says) is skipped. A feed that
// skips every hour is not skipped at all.
func skip(t time.Time, hours []int, days []time.Weekday) time.Time {
	if len(hours) == 0 && len(days) == 0 {
		return t
	}
	skipped := func(u time.Time) bool {
		u = u.UTC()
		return slices.Contains(hours, u.Hour()) || slices.Contains(days, u.Weekday())
	}
	u := t
	for range 7*24 + 1 {
		if !skipped(u) {
			return u
		}
		u = u.UTC().Truncate(time.Hour).Add(time.Hour)
	}
	return t
}

// Due reports whether a feed in state st should be fetched at now: its
// next fetch time has come (a zero time is always due) and it is not
// disabled. Callers that know the configured URL should also treat a
// disabled state recorded for another URL as enabled (see Disabled).
func Due(st aggregator.FeedState, now time.Time) bool {
	return !st.Disabled && !now.Before(st.NextFetch)
}

// Disabled reports whether st stops polling of f: it was disabled (410
// Gone) for the URL f still has. Changing the URL in the configuration
// re-enables the feed.
func Disabled(f aggregator.Feed, st aggregator.FeedState) bool {
	return st.Disabled && (st.URL == "" || st.URL == f.URL)
}
