// Command lab runs dally's connection-management experiments: dally's
// server (in child processes, one per policy) driven by loadgen's browsing
// users, written up as markdown tables and PNG plots.
//
//	lab mogul     reuse and server memory against a fixed idle timeout, 1-300 s, and the adaptive policy
//	lab shed      LRU against random shedding at connection limits
//	lab capture   greedy pipelining clients beside polite ones, over time
//
// See docs/lab.md for what they showed and bench/lab/run for how to run them.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

// opts are the flags every experiment shares.
type opts struct {
	out   string // where tables and plots go
	users int    // simulated users per configuration
	dur   time.Duration
	scale float64 // time compression
	seed  uint64
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: lab mogul|shed|capture [flags] (lab server is the child)")
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	if cmd == "server" {
		serverMain(args)
		return
	}
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	var o opts
	fs.StringVar(&o.out, "out", "docs/lab", "directory for the tables and plots")
	fs.IntVar(&o.users, "users", 0, "simulated users per configuration (0: the experiment's default)")
	fs.DurationVar(&o.dur, "d", 0, "run length per configuration (0: the experiment's default)")
	fs.Float64Var(&o.scale, "scale", 10, "time compression: model times (think, absence, timeouts) divided by this")
	fs.Uint64Var(&o.seed, "seed", 1, "the users' seed")
	fs.Parse(args)
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var err error
	switch cmd {
	case "mogul":
		err = mogul(o)
	case "shed":
		err = shed(o)
	case "capture":
		err = capture(o)
	default:
		err = fmt.Errorf("unknown experiment %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		os.Exit(1)
	}
}

// machine describes where the figures were made.
func machine() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s, %d CPUs, %s %s/%s, %s", host, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH,
		time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "lab: "+format+"\n", args...)
}
