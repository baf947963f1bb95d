package load

import (
	"math"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1, math.MaxUint64} {
		b := bucketOf(v)
		if b <= prev && v != 0 {
			t.Errorf("bucketOf(%d) = %d, not above the previous %d", v, b, prev)
		}
		if b >= len(Histogram{}.counts) {
			t.Fatalf("bucketOf(%d) = %d, out of range", v, b)
		}
		if mid := bucketMid(b); v >= 64 && math.Abs(float64(mid)-float64(v)) > float64(v)/64 {
			t.Errorf("bucketMid(bucketOf(%d)) = %d, more than 1/64 away", v, mid)
		}
		prev = b
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var a, b Histogram
	for i := 1; i <= 1000; i++ {
		h := &a
		if i%2 == 0 {
			h = &b
		}
		h.Record(time.Duration(i) * time.Microsecond)
	}
	a.Merge(&b)
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 500 * time.Microsecond},
		{0.9, 900 * time.Microsecond},
		{0.99, 990 * time.Microsecond},
		{1, 1000 * time.Microsecond},
	}
	for _, tt := range tests {
		got := a.Quantile(tt.q)
		if math.Abs(float64(got-tt.want)) > float64(tt.want)/64 {
			t.Errorf("Quantile(%v) = %v, want %v within 1/64", tt.q, got, tt.want)
		}
	}
	if a.Count() != 1000 || a.Max() != time.Millisecond || a.Mean() != 500500*time.Nanosecond {
		t.Errorf("Count, Max, Mean = %d, %v, %v", a.Count(), a.Max(), a.Mean())
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram reports nonzero")
	}
	empty.Record(-time.Second)
	if empty.Max() != 0 {
		t.Error("negative duration not clamped to zero")
	}
}
