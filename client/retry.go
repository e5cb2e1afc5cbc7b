package client

// attempt is what shouldRetry knows about one failed try of a request.
type attempt struct {
	method         string
	idempotencyKey bool // the request carries Idempotency-Key
	hasBody        bool // the request has a body (not nil, not http.NoBody)
	canReplay      bool // GetBody is set: the body can be produced again
	bodyTouched    bool // the transport began reading the body
	reused         bool // the connection had carried a request before (or was pipelined)
	written        int64
	gotResponse    bool // at least one byte of the response arrived
	retried        bool // this request was already retried once
	ctxDone        bool // the request's context is done
	headTimeout    bool // the client's own ResponseHeaderTimeout expired
	noConn         bool // the failure happened before a connection was obtained
}

// idempotent methods (RFC 9110 §9.2.2): repeating one has the effect of
// sending it once.
func idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// shouldRetry decides whether a failed try goes again, once, on a fresh
// connection. It is pure: the transport records what happened, this says
// what it means (RFC 9112 §9.3.1, the draft's §6 on asynchronous close).
func shouldRetry(a attempt) (bool, string) {
	switch {
	case a.retried:
		return false, "already retried once"
	case a.ctxDone:
		return false, "request context done"
	case a.headTimeout:
		return false, "the client's own response-header timeout: the server is slow, not gone, and a retry would wait as long again"
	case a.noConn:
		return false, "no connection was obtained (dial or wait failed)"
	case a.gotResponse:
		return false, "the response had begun: the server acted on the request"
	case !a.reused:
		return false, "a fresh connection failed: not the idle-close race"
	case a.written == 0 && !a.bodyTouched:
		return true, "request provably not written"
	case a.hasBody && !a.canReplay:
		return false, "body cannot be replayed (no GetBody)"
	case idempotent(a.method):
		return true, "idempotent method on a reused connection"
	case a.idempotencyKey:
		return true, "Idempotency-Key on a reused connection"
	}
	return false, "non-idempotent request may have been received"
}
