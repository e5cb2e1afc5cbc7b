package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// reportHeader names the columns of the row report prints.
const reportHeader = "idle_n\tidle_p50_us\tidle_p99_us\tload_n\tload_p50_us\tload_p99_us\tp99_ratio\tp50_ratio\t" +
	"polite_idle_rps\tpolite_load_rps\tpolite_fail\tpolite_503\tgreedy_rps\tgreedy_non200\tgreedy_errors\tgreedy_conns\t" +
	"jain_demand\tjain_raw\tjain_greedy\tjain_polite\tmin_polite_share"

// output is one parsed client output: per-address tallies (by address, in
// the order printed) and the latency line.
type output struct {
	addrs []string
	vals  map[string]map[string]float64 // address -> key -> value
	lat   map[string]float64
}

func parseOutput(path string) (*output, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	o := &output{vals: map[string]map[string]float64{}, lat: map[string]float64{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kv := func(from int, into map[string]float64) error {
			for _, f := range fields[from:] {
				k, v, ok := strings.Cut(f, "=")
				if !ok {
					return fmt.Errorf("%s: bad field %q", path, f)
				}
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return fmt.Errorf("%s: bad field %q", path, f)
				}
				into[k] = x
			}
			return nil
		}
		switch fields[0] {
		case "greedy", "polite":
			m := map[string]float64{}
			if err := kv(2, m); err != nil {
				return nil, err
			}
			o.addrs = append(o.addrs, fields[1])
			o.vals[fields[1]] = m
		case "latency":
			if err := kv(1, o.lat); err != nil {
				return nil, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(o.addrs) == 0 {
		return nil, fmt.Errorf("%s: no client lines", path)
	}
	return o, nil
}

func (o *output) sum(key string) float64 {
	var s float64
	for _, a := range o.addrs {
		s += o.vals[a][key]
	}
	return s
}

// jain is Jain's fairness index (Σx)² / (n Σx²): 1 when all x are equal,
// 1/n when one client has everything.
func jain(x []float64) float64 {
	var s, s2 float64
	for _, v := range x {
		s += v
		s2 += v * v
	}
	if s2 == 0 {
		return math.NaN()
	}
	return s * s / (float64(len(x)) * s2)
}

// maxMinShares is the max-min fair allocation of capacity among clients
// with the given demands (math.Inf(1): unbounded): water-filling, each
// client gets min(demand, the level that uses up the capacity).
func maxMinShares(capacity float64, demand []float64) []float64 {
	idx := make([]int, len(demand))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return demand[idx[a]] < demand[idx[b]] })
	share := make([]float64, len(demand))
	left := capacity
	for k, i := range idx {
		level := left / float64(len(idx)-k)
		share[i] = min(demand[i], level)
		left -= share[i]
	}
	return share
}

// report prints the header and one row from the three outputs. The
// fairness indexes, over the window under load:
//
//   - jain_demand: all clients (every greedy and every polite address), each
//     x = its throughput / its max-min fair share, where a polite client's
//     demand is its own throughput on the idle server (a closed loop asks for
//     no more) and a greedy client's demand is unbounded; the capacity shared
//     is what the server delivered in all. 1 means every client got its fair
//     share; a polite client slowed to half its idle rate while greedy ones
//     took the rest pulls it down.
//   - jain_raw: the same clients, x = throughput, demand ignored: it mostly
//     says that 4 greedy addresses asking for everything out-ran 20 polite
//     ones, which asked for little; shown so the normalisation is visible.
//   - jain_greedy, jain_polite: raw throughput within each group, whose
//     members ask for the same.
//
// min_polite_share is the worst polite client's load/idle throughput.
func report(w io.Writer, idlePath, loadPath, greedyPath string) error {
	idle, err := parseOutput(idlePath)
	if err != nil {
		return err
	}
	load, err := parseOutput(loadPath)
	if err != nil {
		return err
	}
	greedy, err := parseOutput(greedyPath)
	if err != nil {
		return err
	}
	idleSecs, loadSecs := idle.lat["seconds"], load.lat["seconds"]
	if idleSecs <= 0 || loadSecs <= 0 {
		return fmt.Errorf("missing window length")
	}
	var rate, demand, polite, greedyRates []float64
	minShare := math.Inf(1)
	for _, a := range load.addrs {
		r := load.vals[a]["ok"] / loadSecs
		d := idle.vals[a]["ok"] / idleSecs
		rate, demand, polite = append(rate, r), append(demand, d), append(polite, r)
		if d > 0 {
			minShare = min(minShare, r/d)
		}
	}
	for _, a := range greedy.addrs {
		r := greedy.vals[a]["ok"] / loadSecs
		rate, demand, greedyRates = append(rate, r), append(demand, math.Inf(1)), append(greedyRates, r)
	}
	var capacity float64
	for _, r := range rate {
		capacity += r
	}
	shares := maxMinShares(capacity, demand)
	norm := make([]float64, len(rate))
	for i := range rate {
		if shares[i] > 0 {
			norm[i] = rate[i] / shares[i]
		}
	}
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return math.NaN()
		}
		return a / b
	}
	fmt.Fprintln(w, reportHeader)
	fmt.Fprintf(w, "%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.2f\t%.2f\t%.1f\t%.1f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t%.2f\n",
		idle.lat["n"], idle.lat["p50_us"], idle.lat["p99_us"],
		load.lat["n"], load.lat["p50_us"], load.lat["p99_us"],
		ratio(load.lat["p99_us"], idle.lat["p99_us"]), ratio(load.lat["p50_us"], idle.lat["p50_us"]),
		idle.sum("ok")/idleSecs, load.sum("ok")/loadSecs, load.sum("fail"), load.sum("s503"),
		greedy.sum("ok")/loadSecs, greedy.sum("non200"), greedy.sum("errors"), greedy.sum("conns"),
		jain(norm), jain(rate), jain(greedyRates), jain(polite), minShare)
	return nil
}
