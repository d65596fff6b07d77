package fetcher_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"aggregator/fetcher"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestCollector: the Collector passes a pedantic registry's checks and
// reports what the client did, dropped and clamped items included; Stats
// gives the same numbers as values.
func TestCollector(t *testing.T) {
	doc := `<rss version="2.0"><channel><title>t</title>
<item><title>Kept</title><guid>a</guid><pubDate>Fri, 31 Dec 9999 23:59:59 GMT</pubDate></item>
<item><title>Also kept</title><guid>b</guid></item>
<item><title>Over the cap</title><guid>c</guid></item>
<item><description>  </description></item>
</channel></rss>`
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path == "/gone" {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.Write([]byte(doc))
	})
	c := newClient(t, fetcher.Options{MaxItems: 2, Now: func() time.Time { return fixedNow }})
	c.Fetch(context.Background(), feed(srv.URL+"/feed"), zeroState)
	c.Fetch(context.Background(), feed(srv.URL+"/gone"), zeroState)

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	var hist *dto.Histogram
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				hist = m.GetHistogram()
			}
		}
	}
	for key, want := range map[string]float64{
		"aggregator_fetches_total{result=ok}":                   1,
		"aggregator_fetches_total{result=failed}":               1,
		"aggregator_fetches_total{result=unchanged}":            0,
		"aggregator_fetch_items_total":                          2,
		"aggregator_fetch_items_dropped_total{reason=empty}":    1,
		"aggregator_fetch_items_dropped_total{reason=over_max}": 1,
		"aggregator_fetch_future_dates_total":                   1,
		"aggregator_fetch_errors_total{kind=http_4xx}":          1,
		"aggregator_fetches_in_flight":                          0,
		"aggregator_fetch_bytes_total":                          float64(len(doc)),
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present: %v), want %v", key, v, ok, want)
		}
	}
	if hist == nil || hist.GetSampleCount() != 2 || len(hist.GetBucket()) != len(fetcher.DurationBuckets()) {
		t.Errorf("duration histogram %v", hist)
	}
	s := c.Stats()
	if s.OK != 1 || s.Failed != 1 || s.Items != 2 || s.EmptyItems != 1 || s.OverMax != 1 || s.FutureDates != 1 ||
		s.Errors["http_4xx"] != 1 || s.Durations.Count != 2 || s.Durations.Buckets[len(s.Durations.Buckets)-1] > 2 {
		t.Errorf("Stats %+v", s)
	}
}
