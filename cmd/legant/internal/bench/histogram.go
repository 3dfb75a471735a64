package bench

import (
	"math/bits"
	"time"
)

// subBits sets the histogram's resolution: 2^subBits buckets per power of
// two, so a recorded value is off by less than 2^-(subBits-1) (0.8% at 8).
const subBits = 8

const (
	subCount   = 1 << subBits
	halfCount  = subCount / 2
	numBuckets = (64-subBits+1)*halfCount + halfCount
)

// Histogram records durations in log-linear buckets (the HdrHistogram
// layout): exact below 2^subBits ns, then 2^(subBits-1) buckets per power of
// two. The zero value is empty and ready to use. It is not safe for
// concurrent use: each load worker owns one and they are merged at the end.
type Histogram struct {
	counts [numBuckets]uint64
	n      uint64
	min    time.Duration
	max    time.Duration
	sum    time.Duration
}

// bucketOf returns the bucket index of v (nanoseconds).
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits // ≥ 1
	return shift*halfCount + int(v>>uint(shift))
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	shift := i/halfCount - 1
	m := uint64(i - shift*halfCount)
	return m << uint(shift), (m+1)<<uint(shift) - 1
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += d
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Mean returns the exact mean, or 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Max returns the exact largest value recorded.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the value at quantile q (0 < q ≤ 1): the midpoint of the
// bucket holding the ⌈q·n⌉-th smallest value, clamped to the exact min and
// max; the largest rank is the exact max. It returns 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999)
	if rank >= h.n {
		return h.max
	}
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			lo, hi := bucketRange(i)
			v := time.Duration(lo + (hi-lo)/2)
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
