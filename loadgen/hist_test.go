package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketRoundTrip(t *testing.T) {
	// Every value falls in the bucket whose range holds it, and buckets
	// tile the line without gaps.
	for _, v := range []uint64{0, 1, 255, 256, 257, 511, 512, 1000, 1 << 20, 1<<20 + 12345, 1 << 40, math.MaxInt64} {
		i := bucketOf(v)
		lo, w := bucketRange(i)
		if v < lo || v-lo >= w {
			t.Errorf("v=%d in bucket %d = [%d,+%d)", v, i, lo, w)
		}
		if lo >= histSub && float64(w)/float64(lo) > 1.0/histHalf {
			t.Errorf("bucket %d too wide: %d at %d", i, w, lo)
		}
	}
	prevEnd := uint64(0)
	for i := 0; i < histBuckets; i++ {
		lo, w := bucketRange(i)
		if lo != prevEnd {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevEnd)
		}
		prevEnd = lo + w
		if prevEnd == 1<<63 {
			if i != histBuckets-1 {
				t.Fatalf("int64 range ends at bucket %d of %d", i, histBuckets)
			}
			break
		}
	}
}

func TestQuantileErrorBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		gen  func() time.Duration
	}{
		{"lognormal-ms", func() time.Duration { return time.Duration(1e6 * math.Exp(rng.NormFloat64())) }},
		{"uniform-ns", func() time.Duration { return time.Duration(rng.IntN(1000)) }},
		{"pareto-heavy", func() time.Duration { return time.Duration(1e4 / math.Pow(1-rng.Float64(), 1/1.1)) }},
		{"bimodal", func() time.Duration {
			if rng.IntN(100) == 0 {
				return 200 * time.Millisecond
			}
			return 50 * time.Microsecond
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			vals := make([]time.Duration, 100000)
			for i := range vals {
				vals[i] = tc.gen()
				h.Record(vals[i])
			}
			slices.Sort(vals)
			for _, q := range []float64{0, 0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
				rank := max(int(math.Ceil(q*float64(len(vals)))), 1)
				want := vals[rank-1]
				got := h.Quantile(q)
				if err := math.Abs(float64(got-want)) / math.Max(float64(want), 1); err > RelativeError && got-want > 1 && want-got > 1 {
					t.Errorf("q=%v: got %v, exact %v, relative error %.5f > %.5f", q, got, want, err, RelativeError)
				}
			}
			if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] || h.Count() != uint64(len(vals)) {
				t.Errorf("min/max/count %v %v %d, want %v %v %d", h.Min(), h.Max(), h.Count(), vals[0], vals[len(vals)-1], len(vals))
			}
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all Histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Microsecond
		all.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	for _, q := range []float64{0.5, 0.99, 1} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("q=%v: merged %v, direct %v", q, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Min() != time.Microsecond || a.Count() != 1000 || a.Mean() != all.Mean() {
		t.Errorf("merged min %v count %d mean %v", a.Min(), a.Count(), a.Mean())
	}
}

func TestRecordAllocs(t *testing.T) {
	var h Histogram
	if n := testing.AllocsPerRun(1000, func() { h.Record(1234567) }); n != 0 {
		t.Errorf("Record allocates %v times", n)
	}
}

func BenchmarkRecord(b *testing.B) {
	var h Histogram
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(1000)
		for pb.Next() {
			h.Record(d)
			d += 7919
		}
	})
}
