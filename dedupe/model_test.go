package dedupe_test

import (
	"math"
	"testing"

	"aggregator/dedupe"
)

// TestSizeCap checks that a model's SizeCap limits the cluster-size
// feature, for headlines and for leads, and leaves other features alone.
func TestSizeCap(t *testing.T) {
	idx := -1
	for i, n := range dedupe.FeatureNames {
		if n == "log-size" {
			idx = i
		}
	}
	if idx < 0 {
		t.Fatal("no log-size feature")
	}
	lead := idx + len(dedupe.FeatureNames)/2 + 1
	if dedupe.FeatureNames[lead] != "summary*log-size" {
		t.Fatalf("feature %d is %q, want summary*log-size", lead, dedupe.FeatureNames[lead])
	}
	var x [dedupe.NumFeatures]float64
	x[0] = 0.5
	x[idx], x[lead] = math.Log1p(30), math.Log1p(30)
	capped := dedupe.CapSize(x, 3)
	if want := math.Log1p(3); capped[idx] != want || capped[lead] != want {
		t.Errorf("capped sizes %v, %v; want %v", capped[idx], capped[lead], want)
	}
	if capped[0] != 0.5 {
		t.Errorf("CapSize changed feature 0: %v", capped[0])
	}
	if got := dedupe.CapSize(x, 0); got != x {
		t.Error("CapSize with no cap changed the vector")
	}
	small := x
	small[idx], small[lead] = math.Log1p(2), 0
	if got := dedupe.CapSize(small, 3); got != small {
		t.Error("CapSize changed a size under the cap")
	}
	// A model that penalises size weighs clusters of 3 and of 30 alike.
	m := dedupe.Model{SizeCap: 3}
	m.Weights[idx] = -2
	three := x
	three[idx], three[lead] = math.Log1p(3), math.Log1p(3)
	if m.Prob(&x) != m.Prob(&three) {
		t.Errorf("Prob at size 30 %v, at size 3 %v: want equal under SizeCap 3", m.Prob(&x), m.Prob(&three))
	}
	m.SizeCap = 0
	if m.Prob(&x) >= m.Prob(&three) {
		t.Error("without a cap a larger cluster should weigh less under a negative weight")
	}
}
