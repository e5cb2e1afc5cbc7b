// Package client is dally's HTTP/1.1 client: an http.RoundTripper whose
// connection pool closes idle connections before the server does, retries
// only what is safe to retry, and can pipeline.
//
//	c := &http.Client{Transport: &client.Transport{}}
//
// What it does, and why, is in docs/client.md. In short:
//
//   - Pool per (scheme, host, port, proxy): at most MaxConnsPerHost
//     connections (default 2, RFC 2616 §8.1.4), waiters served in order and
//     honouring their context, idle connections reused most recent first and
//     closed least recent first.
//   - Closing first: an idle connection is closed at the earlier of
//     IdleTimeout and the server's Keep-Alive: timeout less a margin; max= is
//     counted down. A pooled connection is checked for the server's FIN (a
//     non-blocking peek) just before a request is written on it.
//   - Retry: one predicate, shouldRetry, with a reason on every branch.
//   - Pipelining: opt-in with MaxPipelineDepth, on proven connections only,
//     for idempotent requests without a body.
//
// The package uses dally's h1 codec for the wire; net/http's Transport is
// not used.
package client
