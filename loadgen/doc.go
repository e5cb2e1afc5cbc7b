// Package loadgen is the engine of `dally load`: a closed- or open-loop HTTP
// load generator that counts what a connection manager cares about
// (connections opened, requests per connection, errors by kind) beside an
// HDR-style latency histogram, and a browsing-user workload (Browse) for
// experiments on idle timeouts and shedding.
//
// The engine drives Workers, one per connection (or user); a Worker is
// whatever sends requests: RawWorker speaks HTTP/1.x itself on one
// connection with dally's h1 codec (and pipelines), RoundTripWorker goes
// through any http.RoundTripper. Connections are counted where they are
// made, by a CountingDialer, whatever the transport does with them.
package loadgen
