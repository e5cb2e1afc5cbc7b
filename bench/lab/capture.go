package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dallyhttp/dally/loadgen"
)

// captureRun is one capture-effect run: polite clients throughout, greedy
// pipelining clients in the middle.
type captureRun struct {
	name       string
	greedyCtl  bool
	polite     []loadgen.Histogram // per second
	politeErrs []int64
	greedy     *loadgen.Result
	samples    []sample
	last       sample
}

const (
	captureLen      = 45 * time.Second
	greedyFrom      = 10 * time.Second
	greedyTo        = 35 * time.Second
	politeAddrs     = 10  // polite clients, each its own address
	politeRate      = 150 // requests/s over all polite clients
	greedyConns     = 64
	greedyDepth     = 16
	captureWork     = 40 // sha256 rounds of 1 KiB: tens of microseconds per request
	captureMaxWorks = 0
)

func dialerFrom(ip string) *loadgen.CountingDialer {
	return &loadgen.CountingDialer{Dialer: net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}}
}

func runCapture(name string, greedyCtl bool) (*captureRun, error) {
	c, err := startChild(serverConfig{Name: name, Ports: 1, GreedyControl: greedyCtl, Work: captureWork, Shed: "lru"}, "")
	if err != nil {
		return nil, err
	}
	addr := c.addrs[0]
	secs := int(captureLen / time.Second)
	r := &captureRun{name: name, greedyCtl: greedyCtl, polite: make([]loadgen.Histogram, secs), politeErrs: make([]int64, secs)}
	start := time.Now()
	end := start.Add(captureLen)
	ctx, cancel := context.WithDeadline(context.Background(), end)
	defer cancel()
	var wg sync.WaitGroup
	var errMu sync.Mutex
	// Polite: one connection per address, open loop at politeRate in all,
	// latency from the intended send time.
	pacer := loadgen.NewPacer(start, politeRate)
	for i := 0; i < politeAddrs; i++ {
		d := dialerFrom(fmt.Sprintf("127.0.0.%d", 10+i))
		w := loadgen.NewRawWorker(addr, &loadgen.Request{Host: addr, KeepAlive: true}, d.DialContext)
		w.Timeout = 10 * time.Second
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.Close()
			var out [1]loadgen.Outcome
			for {
				_, at := pacer.Next()
				if !at.Before(end) {
					return
				}
				time.Sleep(time.Until(at))
				w.Do(ctx, out[:])
				sec := int(at.Sub(start) / time.Second)
				if out[0].End.After(end) || sec >= secs {
					return
				}
				if out[0].Err != nil || out[0].Status != 200 {
					errMu.Lock()
					r.politeErrs[sec]++
					errMu.Unlock()
					continue
				}
				r.polite[sec].Record(out[0].End.Sub(at))
			}
		}()
	}
	// Greedy: one address, many connections, deep pipelines, closed loop.
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(greedyFrom)
		d := dialerFrom("127.0.0.2")
		r.greedy, _ = loadgen.Run(ctx, loadgen.Config{
			Workers: greedyConns, Duration: greedyTo - greedyFrom, Pipeline: greedyDepth, Dialer: d,
			NewWorker: func(int) (loadgen.Worker, error) {
				w := loadgen.NewRawWorker(addr, &loadgen.Request{Host: addr, KeepAlive: true}, d.DialContext)
				w.Timeout = 10 * time.Second
				return w, nil
			},
		})
	}()
	wg.Wait()
	r.samples = c.samplesSince(0)
	r.last = c.finish()
	return r, nil
}

func capture(o opts) error {
	var runs []*captureRun
	for _, cfg := range []struct {
		name string
		ctl  bool
	}{{"greedy control off", false}, {"greedy control on (default)", true}} {
		logf("capture: %s, %v", cfg.name, captureLen)
		r, err := runCapture(cfg.name, cfg.ctl)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	phase := func(r *captureRun, from, to time.Duration) (p50, p99 time.Duration, n uint64, errs int64) {
		var h loadgen.Histogram
		for s := int(from / time.Second); s < int(to/time.Second); s++ {
			h.Merge(&r.polite[s])
			errs += r.politeErrs[s]
		}
		return h.Quantile(.5), h.Quantile(.99), h.Count(), errs
	}
	var tb strings.Builder
	fmt.Fprintf(&tb, "Machine: %s. Server: dally, GOMAXPROCS=1, %d sha256 rounds per request. Polite: %d addresses, one connection each, %d req/s in all, open loop. Greedy: 127.0.0.2, %d connections pipelining %d, closed loop, from %v to %v.\n\n",
		machine(), captureWork, politeAddrs, politeRate, greedyConns, greedyDepth, greedyFrom, greedyTo)
	fmt.Fprintln(&tb, "| run | polite p50 / p99 before | polite p50 / p99 with greedy | polite errors with greedy | polite p50 / p99 after | greedy responses/s | greedy 503 | pauses | mean pressure with greedy |")
	fmt.Fprintln(&tb, "|---|---|---|---|---|---|---|---|---|")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }
	var lat, press []series
	for _, r := range runs {
		b50, b99, _, _ := phase(r, 2*time.Second, greedyFrom)
		g50, g99, _, gerr := phase(r, greedyFrom+2*time.Second, greedyTo)
		a50, a99, _, _ := phase(r, greedyTo+2*time.Second, captureLen)
		var sp float64
		var np int
		var pts []xy
		for _, s := range r.samples {
			pts = append(pts, xy{s.T, s.Pressure})
			if s.T >= (greedyFrom+2*time.Second).Seconds() && s.T < greedyTo.Seconds() {
				sp += s.Pressure
				np++
			}
		}
		grps := 0.0
		if r.greedy != nil {
			grps = r.greedy.RPS
		}
		fmt.Fprintf(&tb, "| %s | %s / %s ms | %s / %s ms | %d | %s / %s ms | %.0f | %d | %d | %.2f |\n", r.name,
			ms(b50), ms(b99), ms(g50), ms(g99), gerr, ms(a50), ms(a99), grps, r.last.Greedy503, r.last.Pauses, sp/float64(max(np, 1)))
		var l []xy
		for s := range r.polite {
			if r.polite[s].Count() > 0 {
				l = append(l, xy{float64(s) + 0.5, float64(r.polite[s].Quantile(.99)) / 1e6})
			}
		}
		lat = append(lat, series{"polite p99, " + r.name, l, false})
		press = append(press, series{"pressure, " + r.name, pts, false})
	}
	table := tb.String()
	fmt.Print(table)
	if err := os.WriteFile(filepath.Join(o.out, "capture.md"), []byte(table), 0o644); err != nil {
		return err
	}
	title := fmt.Sprintf("Capture effect: greedy pipelining client from %v to %v", greedyFrom, greedyTo)
	if err := plotLog(filepath.Join(o.out, "capture-latency.png"), title, "time, s", "polite clients' p99 latency per second, ms (log)", lat); err != nil {
		return err
	}
	return plotLines(filepath.Join(o.out, "capture-pressure.png"), title, "time, s", "server pressure p (Stats().Pressure)", false, press)
}
