package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func shed(o opts) error {
	if o.users == 0 {
		o.users = 300
	}
	if o.dur == 0 {
		o.dur = 120 * time.Second
	}
	// The default idle timeout, held fixed (IdleTimeoutMin = IdleTimeout)
	// so that only the choice of victim differs. With 300 users it would
	// hold about 220 connections (lab mogul); the limits are below that.
	idle := compress(60*time.Second, o.scale)
	limits := []int{o.users / 6, o.users / 3, o.users / 2}
	cfgs := []serverConfig{{Name: "unlimited", Ports: 2, Idle: idle, IdleMin: idle, MinWindow: compress(2*time.Second, o.scale)}}
	for _, l := range limits {
		for _, p := range []string{"lru", "random"} {
			cfgs = append(cfgs, serverConfig{Name: fmt.Sprintf("%s %d", p, l), Ports: 2, Idle: idle, IdleMin: idle,
				MinWindow: compress(2*time.Second, o.scale), MaxConns: l, Shed: p})
		}
	}
	logf("shed: %d configurations at once, %d users each, %v (model %v)", len(cfgs), o.users, o.dur, model(o.dur, o.scale))
	runs, err := runBrowse(o, cfgs, compress(5*time.Minute, o.scale))
	if err != nil {
		return err
	}
	var tb strings.Builder
	fmt.Fprintf(&tb, "Machine: %s. %d users per configuration, 2 servers (ports), idle timeout 60 s (model) fixed, %v per run = %v of model time (scale %g), all configurations at once, seed %d.\n\n",
		machine(), o.users, o.dur, model(o.dur, o.scale), o.scale, o.seed)
	fmt.Fprintln(&tb, "| policy | MaxConns | requests | connections | reuse | shed | 503 at the limit | client errors | mean open |")
	fmt.Fprintln(&tb, "|---|---|---|---|---|---|---|---|---|")
	pts := map[string][]xy{}
	refused := map[string][]xy{}
	for _, r := range runs {
		shedPolicy, limit := "-", "none"
		if r.cfg.MaxConns > 0 {
			shedPolicy, limit = r.cfg.Shed, fmt.Sprint(r.cfg.MaxConns)
			pts[r.cfg.Shed] = append(pts[r.cfg.Shed], xy{float64(r.cfg.MaxConns), r.res.Reuse})
			refused[r.cfg.Shed] = append(refused[r.cfg.Shed], xy{float64(r.cfg.MaxConns), float64(r.last.Rejected503)})
		}
		errs := r.res.TransportErrors() + r.res.Errors["status_5xx"]
		fmt.Fprintf(&tb, "| %s | %s | %d | %d | %.2f | %d | %d | %d | %.0f |\n", shedPolicy, limit, r.res.Requests, r.res.ConnsOpened,
			r.res.Reuse, r.last.Shed, r.last.Rejected503, errs, r.meanOpen())
	}
	fmt.Fprintln(&tb, "\nOldest-first shedding is not in the server (server.ShedPolicy has LRU and random only); see docs/lab.md for what it would take.")
	table := tb.String()
	fmt.Print(table)
	if err := os.WriteFile(filepath.Join(o.out, "shed.md"), []byte(table), 0o644); err != nil {
		return err
	}
	base := runs[0].res.Reuse
	lo, hi := float64(limits[0])*0.9, float64(limits[len(limits)-1])*1.1
	if err := plotLines(filepath.Join(o.out, "shed-reuse.png"), "Shedding at a connection limit: requests per connection",
		"MaxConns", "requests per connection", false, []series{
			{"LRU", pts["lru"], false}, {"random", pts["random"], false},
			{"no limit", []xy{{lo, base}, {hi, base}}, false},
		}); err != nil {
		return err
	}
	return plotLines(filepath.Join(o.out, "shed-503.png"), "Shedding at a connection limit: newcomers refused",
		"MaxConns", "connections answered 503 (no idle victim past its minimum window)", false, []series{
			{"LRU", refused["lru"], false}, {"random", refused["random"], false},
		})
}
