package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dallyhttp/dally/loadgen"
)

// browseRun is one configuration driven by browsing users.
type browseRun struct {
	cfg    serverConfig
	res    *loadgen.Result
	sum    loadgen.BrowseSummary
	last   sample   // after the users left
	steady []sample // from the end of the warm-up on
	err    error
}

func (r *browseRun) meanOpen() float64 {
	var s float64
	for _, x := range r.steady {
		s += float64(x.Open)
	}
	return s / float64(max(len(r.steady), 1))
}

func (r *browseRun) peakOpen() int64 {
	var m int64
	for _, x := range r.steady {
		m = max(m, x.Open)
	}
	return m
}

func (r *browseRun) meanRSS() float64 {
	var s float64
	for _, x := range r.steady {
		s += float64(x.RSS)
	}
	return s / float64(max(len(r.steady), 1)) / (1 << 20)
}

func (r *browseRun) meanIdleTimeout() time.Duration {
	var s time.Duration
	for _, x := range r.steady {
		s += x.IdleTimeout
	}
	return s / time.Duration(max(len(r.steady), 1))
}

func (r *browseRun) meanPressure() float64 {
	var s float64
	for _, x := range r.steady {
		s += x.Pressure
	}
	return s / float64(max(len(r.steady), 1))
}

// runBrowse runs every configuration at once, each its own server process
// and its own users with the same seed (so every configuration sees the
// same request schedule), for o.dur.
func runBrowse(o opts, cfgs []serverConfig, warm time.Duration) ([]*browseRun, error) {
	runs := make([]*browseRun, len(cfgs))
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		runs[i] = &browseRun{cfg: cfg}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := runs[i]
			c, err := startChild(cfg, "")
			if err != nil {
				r.err = err
				return
			}
			d := &loadgen.CountingDialer{}
			b := &loadgen.Browse{Servers: c.addrs, Seed: o.seed, TimeScale: o.scale,
				Dial: d.DialContext, KeepAlive: true, Timeout: 10 * time.Second}
			r.res, r.err = b.Run(context.Background(), o.users, o.dur, d, nil)
			r.sum = b.Summary()
			r.steady = c.samplesSince(warm.Seconds())
			r.last = c.finish()
		}()
	}
	wg.Wait()
	for _, r := range runs {
		if r.err != nil {
			return nil, fmt.Errorf("%s: %w", r.cfg.Name, r.err)
		}
	}
	return runs, nil
}

// model converts a compressed duration back to model time.
func model(d time.Duration, scale float64) time.Duration {
	return time.Duration(float64(d) * scale).Round(100 * time.Millisecond)
}

func compress(d time.Duration, scale float64) time.Duration {
	return time.Duration(float64(d) / scale)
}

func mogul(o opts) error {
	if o.users == 0 {
		o.users = 300
	}
	if o.dur == 0 {
		o.dur = 150 * time.Second
	}
	timeouts := []time.Duration{1, 2, 5, 10, 30, 60, 120, 300}
	var cfgs []serverConfig
	for _, t := range timeouts {
		t *= time.Second
		cfgs = append(cfgs, serverConfig{
			Name: fmt.Sprintf("fixed %v", t), Ports: 2,
			Idle: compress(t, o.scale), IdleMin: compress(t, o.scale), MinWindow: compress(2*time.Second, o.scale),
		})
	}
	// dally's adaptive default (60 s falling to 5 s with pressure), with a
	// connection budget the 60 s timeout would overrun: the limit is where
	// pressure comes from on a machine with memory to spare.
	adaptiveMax := o.users / 2
	cfgs = append(cfgs, serverConfig{
		Name: "adaptive", Ports: 2, MaxConns: adaptiveMax,
		Idle: compress(60*time.Second, o.scale), IdleMin: compress(5*time.Second, o.scale),
		MinWindow: compress(2*time.Second, o.scale),
	})
	warm := compress(5*time.Minute, o.scale) // one median absence and more: the users have all arrived
	logf("mogul: %d configurations at once, %d users each, %v (model %v), scale %g",
		len(cfgs), o.users, o.dur, model(o.dur, o.scale), o.scale)
	t0 := time.Now()
	runs, err := runBrowse(o, cfgs, warm)
	if err != nil {
		return err
	}
	logf("mogul: done in %v", time.Since(t0).Round(time.Second))

	var tb strings.Builder
	fmt.Fprintf(&tb, "Machine: %s. %d users per configuration, 2 servers (ports), %v per run = %v of model time (scale %g), all configurations at once, seed %d.\n\n",
		machine(), o.users, o.dur, model(o.dur, o.scale), o.scale, o.seed)
	fmt.Fprintln(&tb, "| idle timeout (model) | requests | connections (client) | accepted (server) | reuse (req/conn) | new conns per 100 req | mean open conns | peak open | server RSS MiB | errors | stale-conn retries |")
	fmt.Fprintln(&tb, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range runs {
		name := "fixed " + model(r.cfg.Idle, o.scale).String()
		if r.cfg.Name == "adaptive" {
			name = fmt.Sprintf("adaptive 60 s..5 s, MaxConns %d (mean in force %v, mean p %.2f)",
				r.cfg.MaxConns, model(r.meanIdleTimeout(), o.scale).Round(time.Second), r.meanPressure())
		}
		fmt.Fprintf(&tb, "| %s | %d | %d | %d | %.2f | %.1f | %.0f | %d | %.1f | %d | %d |\n",
			name, r.res.Requests, r.res.ConnsOpened, r.last.Accepted, r.res.Reuse, 100/r.res.Reuse, r.meanOpen(), r.peakOpen(), r.meanRSS(),
			r.res.TransportErrors(), r.sum.Retries)
	}
	table := tb.String()
	fmt.Print(table)
	if err := os.WriteFile(filepath.Join(o.out, "mogul.md"), []byte(table), 0o644); err != nil {
		return err
	}

	var fixed, open []xy
	var ad browseRun
	for _, r := range runs {
		x := model(r.cfg.Idle, o.scale).Seconds()
		if r.cfg.Name == "adaptive" {
			ad = *r
			continue
		}
		fixed = append(fixed, xy{x, r.res.Reuse})
		open = append(open, xy{x, r.meanOpen()})
	}
	adX := model(ad.meanIdleTimeout(), o.scale).Seconds()
	if err := plotLines(filepath.Join(o.out, "mogul-reuse.png"),
		"Requests per connection against the idle timeout", "idle timeout, s (model time, log scale)", "requests per connection",
		true, []series{{"fixed timeout", fixed, false}, {"adaptive (at its mean timeout in force)", []xy{{adX, ad.res.Reuse}}, true}}); err != nil {
		return err
	}
	// The trade itself: reuse bought per connection held. A policy is
	// better than the fixed timeouts where it lies above their curve.
	var frontier []xy
	for i := range fixed {
		frontier = append(frontier, xy{open[i].Y, fixed[i].Y})
	}
	if err := plotLines(filepath.Join(o.out, "mogul-frontier.png"),
		"Reuse against the connections held (each fixed timeout a point on the curve)", "mean open connections at the server", "requests per connection",
		false, []series{{"fixed timeouts 1 s ... 300 s", frontier, false}, {"adaptive", []xy{{ad.meanOpen(), ad.res.Reuse}}, true}}); err != nil {
		return err
	}
	return plotLines(filepath.Join(o.out, "mogul-memory.png"),
		"Connections the server holds against the idle timeout", "idle timeout, s (model time, log scale)", "mean open connections (x 849 B each idle)",
		true, []series{{"fixed timeout", open, false}, {"adaptive", []xy{{adX, ad.meanOpen()}}, true},
			{fmt.Sprintf("adaptive's MaxConns (%d)", ad.cfg.MaxConns), []xy{{1, float64(ad.cfg.MaxConns)}, {300, float64(ad.cfg.MaxConns)}}, false}})
}
