// Package policy holds dally's connection-management decisions, the
// draft's advice made concrete ("HTTP Connection Management", Gettys and
// Freier, draft-ietf-http-connection-00, sections 5, 9 and 11):
//
//   - Pressure folds connection slots, descriptors, memory, handler
//     saturation and the CPU's scheduling delay into one value p in [0,1].
//   - IdleTimeout turns p into the idle timeout and the Keep-Alive hint
//     (short under overload, long under underload, §11); it reads
//     Pressures.Held, p without the CPU, which closing connections does
//     not relieve.
//   - IdleList is the intrusive LRU of idle connections, which is also their
//     timer queue and the source of shedding victims (§5, §9).
//   - Admit, DrainRate and CloseGate decide what happens at the connection
//     limit and when responses carry "Connection: close".
//   - Scheduler serves ready connections by deficit round robin over
//     clients, and Clients spots greedy ones (§9, the capture effect).
//   - CloseReason, Decision and Counters name every outcome so it can be
//     counted.
//
// The package is pure: no goroutines, no clocks, no locks. Time comes in as
// an int64 of monotonic nanoseconds from the caller's clock (the server uses
// evloop.Now), durations as time.Duration. Every type is owned by one
// goroutine at a time; the caller serializes access.
package policy
