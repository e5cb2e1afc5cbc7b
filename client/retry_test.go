package client

import "testing"

func TestShouldRetry(t *testing.T) {
	reusedGET := attempt{method: "GET", reused: true, written: 40}
	tests := []struct {
		name string
		a    attempt
		want bool
	}{
		{"reused GET before any response byte", reusedGET, true},
		{"already retried", with(reusedGET, func(a *attempt) { a.retried = true }), false},
		{"context done", with(reusedGET, func(a *attempt) { a.ctxDone = true }), false},
		{"own header timeout", with(reusedGET, func(a *attempt) { a.headTimeout = true }), false},
		{"no connection", attempt{method: "GET", noConn: true}, false},
		{"response had begun", with(reusedGET, func(a *attempt) { a.gotResponse = true }), false},
		{"fresh connection", with(reusedGET, func(a *attempt) { a.reused = false }), false},
		{"POST written on reused conn", attempt{method: "POST", reused: true, written: 10}, false},
		{"POST provably not written", attempt{method: "POST", reused: true}, true},
		{"POST with Idempotency-Key", attempt{method: "POST", reused: true, written: 10, idempotencyKey: true}, true},
		{"PUT with replayable body", attempt{method: "PUT", reused: true, written: 10, hasBody: true, canReplay: true, bodyTouched: true}, true},
		{"PUT body not replayable", attempt{method: "PUT", reused: true, written: 10, hasBody: true, bodyTouched: true}, false},
		{"PUT body untouched, nothing written", attempt{method: "PUT", reused: true, hasBody: true}, true},
		{"POST key but body not replayable", attempt{method: "POST", reused: true, written: 10, hasBody: true, bodyTouched: true, idempotencyKey: true}, false},
		{"HEAD", attempt{method: "HEAD", reused: true, written: 10}, true},
		{"OPTIONS", attempt{method: "OPTIONS", reused: true, written: 10}, true},
		{"TRACE", attempt{method: "TRACE", reused: true, written: 10}, true},
		{"DELETE", attempt{method: "DELETE", reused: true, written: 10}, true},
		{"PATCH", attempt{method: "PATCH", reused: true, written: 10}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := shouldRetry(tt.a)
			if got != tt.want {
				t.Fatalf("shouldRetry = %v (%s), want %v", got, why, tt.want)
			}
			if why == "" {
				t.Fatal("no reason given")
			}
		})
	}
}

func with(a attempt, f func(*attempt)) attempt { f(&a); return a }
