package main

import (
	"math"
	"testing"
)

func TestJainAndShares(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		name     string
		capacity float64
		demand   []float64
		want     []float64
	}{
		{"all unbounded split evenly", 12, []float64{inf, inf, inf}, []float64{4, 4, 4}},
		{"small demand served whole, rest split", 12, []float64{2, inf, inf}, []float64{2, 5, 5}},
		{"every demand under the level", 12, []float64{1, 2, 3}, []float64{1, 2, 3}},
	} {
		got := maxMinShares(tc.capacity, tc.demand)
		for i := range got {
			if math.Abs(got[i]-tc.want[i]) > 1e-9 {
				t.Errorf("%s: shares %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
	for _, tc := range []struct {
		name string
		x    []float64
		want float64
	}{
		{"equal", []float64{3, 3, 3, 3}, 1},
		{"one has all", []float64{5, 0, 0, 0}, 0.25},
		{"half and half", []float64{1, 1, 0, 0}, 0.5},
	} {
		if got := jain(tc.x); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: jain %v, want %v", tc.name, got, tc.want)
		}
	}
}
