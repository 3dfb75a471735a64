package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketRangeHoldsValue(t *testing.T) {
	vals := []uint64{0, 1, 127, 255, 256, 257, 383, 384, 1000, 4095, 4096, 1 << 20, 123456789, 1<<40 + 12345, 1<<63 - 1}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		vals = append(vals, r.Uint64()>>r.IntN(64))
	}
	prev := -1
	slices.Sort(vals)
	for _, v := range vals {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of [0, %d)", v, i, numBuckets)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Fatalf("bucketOf(%d) = %d whose range is [%d, %d]", v, i, lo, hi)
		}
		if i < prev {
			t.Fatalf("buckets not monotonic: bucketOf(%d) = %d after %d", v, i, prev)
		}
		prev = i
		if v >= subCount && float64(hi-lo) > float64(v)/float64(halfCount) {
			t.Fatalf("bucket of %d is [%d, %d]: wider than 1/%d of the value", v, lo, hi, halfCount)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
		tol    float64 // relative
	}{
		{"empty", nil, 0.5, 0, 0},
		{"one value", []time.Duration{42 * time.Microsecond}, 0.99, 42 * time.Microsecond, 0},
		{"small values are exact", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.5, 5, 0},
		{"negative counts as zero", []time.Duration{-5, 10}, 0.5, 0, 0},
		{"p50 of 1..10000µs", seq(10000, time.Microsecond), 0.50, 5000 * time.Microsecond, 1.0 / halfCount},
		{"p90 of 1..10000µs", seq(10000, time.Microsecond), 0.90, 9000 * time.Microsecond, 1.0 / halfCount},
		{"p99 of 1..10000µs", seq(10000, time.Microsecond), 0.99, 9900 * time.Microsecond, 1.0 / halfCount},
		{"p100 is the exact max", seq(10000, time.Microsecond), 1, 10000 * time.Microsecond, 0},
		{"tail outlier", append(seq(99, time.Millisecond)[:99:99], 5*time.Second), 0.99, 99 * time.Millisecond, 1.0 / halfCount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tt.values {
				h.Record(v)
			}
			got := h.Quantile(tt.q)
			if diff := float64(got - tt.want); diff > tt.tol*float64(tt.want) || -diff > tt.tol*float64(tt.want) {
				t.Fatalf("Quantile(%v) = %v, want %v ± %.2f%%", tt.q, got, tt.want, tt.tol*100)
			}
			if h.Count() != uint64(len(tt.values)) {
				t.Fatalf("Count = %d, want %d", h.Count(), len(tt.values))
			}
		})
	}
}

// seq returns unit, 2·unit, …, n·unit, shuffled.
func seq(n int, unit time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * unit
	}
	r := rand.New(rand.NewPCG(3, 4))
	r.Shuffle(n, func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func TestHistogramMergeEqualsRecordingAll(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var all, a, b Histogram
	for i := range 20000 {
		v := time.Duration(r.ExpFloat64() * float64(300*time.Microsecond))
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	var merged Histogram
	merged.Merge(&a)
	merged.Merge(&b)
	merged.Merge(&Histogram{}) // empty: no effect on min
	if merged != all {
		t.Fatalf("merged histogram differs: n %d/%d min %v/%v max %v/%v mean %v/%v",
			merged.Count(), all.Count(), merged.min, all.min, merged.Max(), all.Max(), merged.Mean(), all.Mean())
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		if merged.Quantile(q) != all.Quantile(q) {
			t.Fatalf("q%v: %v vs %v", q, merged.Quantile(q), all.Quantile(q))
		}
	}
}

func TestHistogramMeanMax(t *testing.T) {
	var h Histogram
	for _, v := range []time.Duration{time.Millisecond, 3 * time.Millisecond} {
		h.Record(v)
	}
	if h.Mean() != 2*time.Millisecond || h.Max() != 3*time.Millisecond {
		t.Fatalf("mean %v max %v", h.Mean(), h.Max())
	}
}
