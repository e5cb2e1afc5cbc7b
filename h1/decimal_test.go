package h1

import (
	"fmt"
	"math"
	"strconv"
	"testing"
)

func TestAppendDecimalMatchesStrconv(t *testing.T) {
	vals := []int64{math.MinInt64, -10000, -1, math.MaxInt64, 10000, 10001, 123456789}
	for n := int64(0); n < 10010; n++ {
		vals = append(vals, n)
	}
	for _, n := range vals {
		got := string(AppendDecimal([]byte("x"), n))
		if want := "x" + strconv.FormatInt(n, 10); got != want {
			t.Fatalf("AppendDecimal(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"13", 13, true},
		{"007", 7, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"9223372036854775808", 0, false}, // overflow
		{"99999999999999999999", 0, false},
		{"", 0, false},
		{"+13", 0, false}, // strconv.ParseInt takes a sign; 1*DIGIT does not
		{"-1", 0, false},
		{" 13", 0, false},
		{"13 ", 0, false},
		{"1_3", 0, false},
		{"0x10", 0, false},
	} {
		n, ok := ParseDecimal(tc.in)
		if n != tc.want || ok != tc.ok {
			t.Errorf("ParseDecimal(%q) = %d, %v; want %d, %v", tc.in, n, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "13", "+1", "9223372036854775808", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := ParseDecimal(s)
		digits := len(s) > 0
		for i := 0; i < len(s); i++ {
			digits = digits && s[i] >= '0' && s[i] <= '9'
		}
		want, err := strconv.ParseInt(s, 10, 64)
		if wantOK := digits && err == nil; ok != wantOK || ok && n != want {
			t.Fatalf("ParseDecimal(%q) = %d, %v; strconv says %d, %v (digits only: %v)", s, n, ok, want, err, digits)
		}
	})
}

// The one-copy status lines are exactly what the general path writes.
func TestCommonStatusLinesMatchTheGeneralForm(t *testing.T) {
	for code := 100; code <= 999; code++ {
		got := string(AppendStatusLine(nil, 1, 1, code, ""))
		want := fmt.Sprintf("HTTP/1.1 %03d %s\r\n", code, StatusText(code))
		if got != want {
			t.Fatalf("status %d: %q, want %q", code, got, want)
		}
		if line := commonStatusLine(code); line != "" && line != want {
			t.Fatalf("commonStatusLine(%d) = %q, want %q", code, line, want)
		}
	}
	if got := string(AppendStatusLine(nil, 1, 0, 200, "")); got != "HTTP/1.0 200 OK\r\n" {
		t.Fatalf("HTTP/1.0: %q", got)
	}
	if got := string(AppendStatusLine(nil, 1, 1, 200, "Fine")); got != "HTTP/1.1 200 Fine\r\n" {
		t.Fatalf("own reason: %q", got)
	}
}
