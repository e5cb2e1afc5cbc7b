package policy

import (
	"regexp"
	"testing"
)

func TestCloseReasonString(t *testing.T) {
	label := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	seen := map[string]bool{}
	for r := range numCloseReasons {
		s := r.String()
		if !label.MatchString(s) || seen[s] {
			t.Errorf("CloseReason(%d).String() = %q: not a unique metric label", r, s)
		}
		seen[s] = true
	}
	for d := range numDecisions {
		if s := d.String(); !label.MatchString(s) {
			t.Errorf("Decision(%d).String() = %q: not a metric label", d, s)
		}
	}
	tests := []struct {
		r    CloseReason
		want string
	}{
		{CloseUnknown, "unknown"}, {CloseIdleTimeout, "idle_timeout"}, {CloseShed, "shed"},
		{ClosePeer, "peer"}, {CloseMaxRequests, "max_requests"}, {CloseDrain, "drain"},
		{CloseError, "error"}, {CloseReject, "reject_503"}, {250, "CloseReason(250)"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("%d.String() = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestCounters(t *testing.T) {
	var a, b Counters
	a.Close(CloseIdleTimeout)
	a.Close(CloseIdleTimeout)
	a.Close(CloseShed)
	a.Close(200) // out of range: unknown
	a.Decide(Pause)
	a.Decide(Reject503)
	a.Decide(99) // ignored
	b.Close(CloseShed)
	b.Decide(Reject503)
	b.Add(&a)
	tests := []struct {
		name      string
		got, want uint64
	}{
		{"idle_timeout", b.Closes[CloseIdleTimeout], 2},
		{"shed", b.Closes[CloseShed], 2},
		{"unknown", b.Closes[CloseUnknown], 1},
		{"peer", b.Closes[ClosePeer], 0},
		{"pause", b.Decisions[Pause], 1},
		{"reject_503", b.Decisions[Reject503], 2},
		{"serve", b.Decisions[Serve], 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	n := 0
	for r := range CloseReason(len(b.Closes)) {
		n += int(b.Closes[r])
	}
	if n != 5 {
		t.Errorf("sum of closes = %d, want 5", n)
	}
}
