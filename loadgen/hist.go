package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records durations in log-linear buckets, as HdrHistogram does:
// values below 2^histSubBits nanoseconds each have their own bucket; above
// that, every power of two is cut into 2^(histSubBits-1) equal buckets. A
// bucket is then never wider than 1/128 of its lower bound, and a quantile
// reported at its bucket's midpoint is within 1/256 (0.4%) of the recorded
// value at that rank, from nanoseconds to the int64 limit.
//
// Record is safe for concurrent use and allocation-free (atomic adds on a
// fixed array). The zero value is ready.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Int64
	min    atomic.Int64 // +1 biased so that the zero value means unset
	max    atomic.Int64
}

const (
	histSubBits = 8
	histSub     = 1 << histSubBits // exact buckets below this many ns
	histHalf    = histSub / 2      // buckets per power of two above it
	histGroups  = 63 - histSubBits // powers of two above histSub, to the int64 limit
	histBuckets = histSub + histGroups*histHalf
	// RelativeError bounds |reported - recorded| / recorded for a quantile.
	RelativeError = 1.0 / (2 * histHalf)
)

// bucketOf returns the index of v's bucket (v >= 0).
func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	g := bits.Len64(v) - histSubBits // >= 1: the shift that leaves 8 bits
	m := v >> g                      // in [histHalf, histSub)
	return histSub + (g-1)*histHalf + int(m-histHalf)
}

// bucketRange returns the lowest value in bucket i and the bucket's width.
func bucketRange(i int) (lo, width uint64) {
	if i < histSub {
		return uint64(i), 1
	}
	g := (i-histSub)/histHalf + 1
	m := uint64((i-histSub)%histHalf + histHalf)
	return m << g, 1 << g
}

// Record adds one observation; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(uint64(v))].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for {
		cur := h.min.Load()
		if cur != 0 && cur-1 <= v || h.min.CompareAndSwap(cur, v+1) {
			break
		}
	}
	for {
		cur := h.max.Load()
		if cur >= v || h.max.CompareAndSwap(cur, v) {
			break
		}
	}
}

// Merge adds o's observations to h. o must not be recorded into meanwhile.
func (h *Histogram) Merge(o *Histogram) {
	if o.n.Load() == 0 {
		return
	}
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	h.sum.Add(o.sum.Load())
	if m := o.min.Load(); m != 0 {
		for {
			cur := h.min.Load()
			if cur != 0 && cur <= m || h.min.CompareAndSwap(cur, m) {
				break
			}
		}
	}
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Min and Max are the exact extremes (0 when empty).
func (h *Histogram) Min() time.Duration {
	if m := h.min.Load(); m != 0 {
		return time.Duration(m - 1)
	}
	return 0
}
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the exact mean.
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Quantile returns the value at quantile q in [0,1]: the midpoint of the
// bucket holding the observation of rank ceil(q*n), clamped to [Min, Max].
// q = 1 is Max exactly.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	if q >= 1 {
		return h.Max()
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, w := bucketRange(i)
			v := time.Duration(lo + (w-1)/2)
			return min(max(v, h.Min()), h.Max())
		}
	}
	return h.Max()
}

// Bucket is one non-empty bucket: observations in [Lo, Lo+Width).
type Bucket struct {
	Lo, Width time.Duration
	Count     uint64
}

// Buckets returns the non-empty buckets in increasing order.
func (h *Histogram) Buckets() []Bucket {
	var out []Bucket
	for i := range h.counts {
		if c := h.counts[i].Load(); c != 0 {
			lo, w := bucketRange(i)
			out = append(out, Bucket{time.Duration(lo), time.Duration(w), c})
		}
	}
	return out
}
