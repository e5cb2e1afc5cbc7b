package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dallyhttp/dally/proxy"
	"go.yaml.in/yaml/v3"
)

// Load reads and parses a file. Relative paths in it (static roots, log
// files) are relative to the file's directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses data, named file in messages. The error, if any, is Errors
// with every problem found.
func Parse(file string, data []byte) (*Config, error) { return ParseWith(file, data, nil) }

// LoadWith is Load with overrides (flags) applied before defaults are
// filled and the whole is checked.
func LoadWith(path string, override func(*Config)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseWith(path, data, override)
}

// ParseWith is Parse with overrides applied before defaults and checks.
func ParseWith(file string, data []byte, override func(*Config)) (*Config, error) {
	d := &decoder{file: file, pos: map[string]*yaml.Node{}}
	c := &Config{Dir: filepath.Dir(file)}
	c.Server.GreedyControl = true
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{syntaxError(file, err)}
	}
	if len(doc.Content) > 0 {
		d.config(doc.Content[0], c)
	}
	// Checks across fields run even after decoding errors, so one run
	// reports every problem; a field that failed to decode is left zero
	// and its checks skip it.
	if override != nil {
		override(c)
	}
	c.fill()
	d.validate(c)
	if len(d.errs) > 0 {
		d.errs.sort()
		return nil, d.errs
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func syntaxError(file string, err error) Error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Error{File: file, Line: n, Msg: m[2]}
	}
	return Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
}

// decoder walks YAML nodes and collects every problem.
type decoder struct {
	file string
	errs Errors
	// pos is the value node of each key seen, by path ("server.idle_timeout",
	// "routes.2"), for checks that span fields.
	pos map[string]*yaml.Node
}

func (d *decoder) errf(n *yaml.Node, format string, args ...any) {
	e := Error{File: d.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// at is the node of a key path, or nil when the key was not in the file.
func (d *decoder) at(path string) *yaml.Node { return d.pos[path] }

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// fields decodes a mapping whose keys must all be in fs; where names it in
// messages and is the prefix of its keys' paths. A null node is an empty
// mapping.
func (d *decoder) fields(n *yaml.Node, where string, fs map[string]func(*yaml.Node)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errf(n, "%s must be a mapping, not %s", where, kindName(n))
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		f, ok := fs[k.Value]
		if !ok {
			d.errf(k, "unknown key %q in %s (known: %s)", k.Value, where, strings.Join(keys(fs), ", "))
			continue
		}
		if prev := seen[k.Value]; prev != nil {
			d.errf(k, "duplicate key %q in %s (first at line %d)", k.Value, where, prev.Line)
			continue
		}
		seen[k.Value] = k
		path := where + "." + k.Value
		if where == topLevel {
			path = k.Value
		}
		d.pos[path] = v
		f(v)
	}
}

func keys(fs map[string]func(*yaml.Node)) []string {
	ks := make([]string, 0, len(fs))
	for k := range fs {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (d *decoder) scalar(n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errf(n, "%s needs a value, not %s", what, kindName(n))
		return false
	}
	return true
}

func (d *decoder) str(what string, dst *string) func(*yaml.Node) {
	return func(n *yaml.Node) {
		if d.scalar(n, what) {
			*dst = n.Value
		}
	}
}

func (d *decoder) boolean(what string, dst *bool) func(*yaml.Node) {
	return func(n *yaml.Node) {
		if !d.scalar(n, what) {
			return
		}
		switch n.Value {
		case "true":
			*dst = true
		case "false":
			*dst = false
		default:
			d.errf(n, "%s must be true or false, not %q", what, n.Value)
		}
	}
}

func (d *decoder) enum(what string, dst *string, options ...string) func(*yaml.Node) {
	return func(n *yaml.Node) {
		if !d.scalar(n, what) {
			return
		}
		if !slices.Contains(options, n.Value) {
			d.errf(n, "%s must be one of %s, not %q", what, strings.Join(options, ", "), n.Value)
			return
		}
		*dst = n.Value
	}
}

// dur decodes a Go duration string; zero is allowed only if zeroOK (a zero
// knob would otherwise silently mean "the default").
func (d *decoder) dur(what string, dst *Duration, zeroOK bool) func(*yaml.Node) {
	return func(n *yaml.Node) {
		if !d.scalar(n, what) {
			return
		}
		v, err := time.ParseDuration(n.Value)
		switch {
		case err != nil:
			d.errf(n, "%s: %q is not a duration (write it like 500ms, 30s, 2m)", what, n.Value)
		case v < 0:
			d.errf(n, "%s must not be negative", what)
		case v == 0 && !zeroOK:
			d.errf(n, "%s must be more than 0 (leave it out for the default)", what)
		default:
			*dst = Duration(v)
		}
	}
}

// durOrOff is dur (more than 0) or the word off, stored as -1.
func (d *decoder) durOrOff(what string, dst *Duration) func(*yaml.Node) {
	plain := d.dur(what, dst, false)
	return func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && n.Value == "off" {
			*dst = -1
			return
		}
		plain(n)
	}
}

var sizeUnits = []struct {
	name string
	n    int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"kB", 1e3}, {"B", 1},
}

// ParseSize reads a byte count: a whole number with an optional unit,
// binary (KiB, MiB, GiB, TiB) or decimal (KB, MB, GB, TB) or B.
func ParseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.name) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(s, u.name)), u.n
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size (write it like 512, 64KiB, 1MiB, 10MB)", s)
	}
	if v > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return v * mult, nil
}

func (d *decoder) size(what string, dst *Size, autoOK bool) func(*yaml.Node) {
	return func(n *yaml.Node) {
		if !d.scalar(n, what) {
			return
		}
		if n.Value == "auto" && autoOK {
			*dst = 0
			return
		}
		v, err := ParseSize(n.Value)
		switch {
		case err != nil:
			d.errf(n, "%s: %v", what, err)
		case v == 0:
			d.errf(n, "%s must be more than 0 (leave it out for the default)", what)
		default:
			*dst = Size(v)
		}
	}
}

// num decodes a positive count, or "auto" (0) and "unlimited" (-1) when
// the knob allows them.
func (d *decoder) num(what string, dst *Num, autoOK, unlimitedOK bool) func(*yaml.Node) {
	return func(n *yaml.Node) {
		if !d.scalar(n, what) {
			return
		}
		switch {
		case n.Value == "auto" && autoOK:
			*dst = 0
			return
		case n.Value == "unlimited" && unlimitedOK:
			*dst = -1
			return
		}
		v, err := strconv.Atoi(n.Value)
		if err != nil || v <= 0 {
			words := ""
			if autoOK {
				words += ", or auto"
			}
			if unlimitedOK {
				words += ", or unlimited"
			}
			d.errf(n, "%s must be a whole number more than 0%s, not %q", what, words, n.Value)
			return
		}
		*dst = Num(v)
	}
}

func (d *decoder) list(n *yaml.Node, what string, each func(i int, n *yaml.Node)) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errf(n, "%s must be a list, not %s", what, kindName(n))
		return
	}
	for i, e := range n.Content {
		each(i, resolve(e))
	}
}

func (d *decoder) strings(what string, dst *[]string) func(*yaml.Node) {
	return func(n *yaml.Node) {
		*dst = []string{}
		d.list(n, what, func(_ int, e *yaml.Node) {
			if d.scalar(e, what+" entry") {
				*dst = append(*dst, e.Value)
			}
		})
	}
}

func (d *decoder) config(n *yaml.Node, c *Config) {
	d.fields(n, topLevel, map[string]func(*yaml.Node){
		"listeners": func(n *yaml.Node) {
			d.list(n, "listeners", func(i int, e *yaml.Node) {
				var l Listener
				where := fmt.Sprintf("listeners.%d", i)
				d.pos[where] = e
				d.fields(e, where, map[string]func(*yaml.Node){
					"address":    d.str("address", &l.Address),
					"reuse_port": d.boolean("reuse_port", &l.ReusePort),
				})
				c.Listeners = append(c.Listeners, l)
			})
		},
		"routes": func(n *yaml.Node) {
			d.list(n, "routes", func(i int, e *yaml.Node) {
				r := Route{Line: e.Line}
				where := fmt.Sprintf("routes.%d", i)
				d.pos[where] = e
				d.fields(e, where, map[string]func(*yaml.Node){
					"host":                d.str("host", &r.Host),
					"path":                d.str("path", &r.Path),
					"type":                d.enum("type", &r.Type, RouteStatic, RouteDemo, RouteProxy, RouteForward),
					"root":                d.str("root", &r.Root),
					"upstreams":           d.strings("upstreams", &r.Upstreams),
					"balance":             d.enum("balance", &r.Balance, balances...),
					"rewrite_host":        d.boolean("rewrite_host", &r.RewriteHost),
					"upstream_timeout":    d.dur("upstream_timeout", &r.UpstreamTimeout, false),
					"dial_timeout":        d.dur("dial_timeout", &r.DialTimeout, false),
					"fail_timeout":        d.dur("fail_timeout", &r.FailTimeout, false),
					"tunnel_idle_timeout": d.dur("tunnel_idle_timeout", &r.TunnelIdleTimeout, false),
					"connect_ports": func(n *yaml.Node) {
						r.ConnectPorts = []int{}
						d.list(n, "connect_ports", func(_ int, p *yaml.Node) {
							if !d.scalar(p, "connect_ports entry") {
								return
							}
							v, err := strconv.Atoi(p.Value)
							if err != nil || v < 1 || v > 65535 {
								d.errf(p, "connect_ports: %q is not a port (1-65535)", p.Value)
								return
							}
							r.ConnectPorts = append(r.ConnectPorts, v)
						})
					},
				})
				c.Routes = append(c.Routes, r)
			})
		},
		"server": func(n *yaml.Node) {
			s := &c.Server
			d.fields(n, "server", map[string]func(*yaml.Node){
				"idle_timeout":          d.dur("idle_timeout", &s.IdleTimeout, false),
				"idle_timeout_min":      d.dur("idle_timeout_min", &s.IdleTimeoutMin, false),
				"min_idle_window":       d.dur("min_idle_window", &s.MinIdleWindow, false),
				"header_timeout":        d.dur("header_timeout", &s.HeaderTimeout, false),
				"min_header_rate":       d.num("min_header_rate", &s.MinHeaderRate, false, false),
				"body_timeout":          d.dur("body_timeout", &s.BodyTimeout, false),
				"min_body_rate":         d.num("min_body_rate", &s.MinBodyRate, false, true),
				"write_timeout":         d.dur("write_timeout", &s.WriteTimeout, false),
				"min_write_rate":        d.num("min_write_rate", &s.MinWriteRate, false, true),
				"max_requests_per_conn": d.num("max_requests_per_conn", &s.MaxRequestsPerConn, false, true),
				"max_conns":             d.num("max_conns", &s.MaxConns, true, false),
				"max_conns_per_client":  d.num("max_conns_per_client", &s.MaxConnsPerClient, true, true),
				"max_header_bytes":      d.size("max_header_bytes", &s.MaxHeaderBytes, false),
				"memory_budget":         d.size("memory_budget", &s.MemoryBudget, true),
				"max_workers":           d.num("max_workers", &s.MaxWorkers, false, false),
				"sched_target":          d.durOrOff("sched_target", &s.SchedTarget),
				"linger_timeout":        d.dur("linger_timeout", &s.LingerTimeout, false),
				"linger_bytes":          d.size("linger_bytes", &s.LingerBytes, false),
				"loops":                 d.num("loops", &s.Loops, true, false),
				"shed_policy":           d.enum("shed_policy", &s.ShedPolicy, "lru", "random"),
				"greedy_control":        d.boolean("greedy_control", &s.GreedyControl),
				"extra_methods":         d.strings("extra_methods", &s.ExtraMethods),
			})
		},
		"drain": func(n *yaml.Node) {
			d.fields(n, "drain", map[string]func(*yaml.Node){
				"delay":   d.dur("delay", &c.Drain.Delay, true),
				"timeout": d.dur("timeout", &c.Drain.Timeout, false),
				"spread":  d.dur("spread", &c.Drain.Spread, true),
			})
		},
		"admin": func(n *yaml.Node) {
			d.fields(n, "admin", map[string]func(*yaml.Node){
				"address": d.str("address", &c.Admin.Address),
				"pprof":   d.boolean("pprof", &c.Admin.Pprof),
			})
		},
		"log": func(n *yaml.Node) {
			d.fields(n, "log", map[string]func(*yaml.Node){
				"level":  d.enum("level", &c.Log.Level, "debug", "info", "warn", "error"),
				"format": d.enum("format", &c.Log.Format, "text", "json"),
				"file":   d.str("file", &c.Log.File),
			})
		},
		"access_log": func(n *yaml.Node) {
			d.fields(n, "access_log", map[string]func(*yaml.Node){
				"enabled": d.boolean("enabled", &c.AccessLog.Enabled),
				"format":  d.enum("format", &c.AccessLog.Format, "text", "json"),
				"file":    d.str("file", &c.AccessLog.File),
			})
		},
	})
}

const topLevel = "the file"

// FromFlags is the configuration without a file: the defaults with
// overrides applied, then checked.
func FromFlags(override func(*Config)) (*Config, error) {
	c := &Config{}
	c.Server.GreedyControl = true
	if override != nil {
		override(c)
	}
	c.fill()
	d := &decoder{file: "flags", pos: map[string]*yaml.Node{}}
	d.validate(c)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return c, nil
}

// validate checks what one field cannot check alone. Called after fill.
func (d *decoder) validate(c *Config) {
	seenAddr := map[string]int{}
	for i, l := range c.Listeners {
		n := d.at(fmt.Sprintf("listeners.%d", i))
		if a := d.at(fmt.Sprintf("listeners.%d.address", i)); a != nil {
			n = a
		}
		if l.Address == "" {
			if d.at(fmt.Sprintf("listeners.%d.address", i)) == nil {
				d.errf(n, "listener needs an address (like 127.0.0.1:8080 or :80)")
			}
			continue
		}
		if err := checkHostPort(l.Address); err != nil {
			d.errf(n, "listener address %q: %v", l.Address, err)
			continue
		}
		if j, ok := seenAddr[l.Address]; ok && !strings.HasSuffix(l.Address, ":0") {
			d.errf(n, "listener address %q is already listener %d", l.Address, j)
		}
		seenAddr[l.Address] = i
	}

	if c.Admin.Address != "off" {
		n := d.at("admin.address")
		if err := checkHostPort(c.Admin.Address); err != nil {
			d.errf(n, "admin address %q: %v (or off)", c.Admin.Address, err)
		} else if _, ok := seenAddr[c.Admin.Address]; ok && !strings.HasSuffix(c.Admin.Address, ":0") {
			d.errf(n, "admin address %q is a public listener's: the admin listener must be off the public port", c.Admin.Address)
		}
	}

	d.validateRoutes(c)

	// Values from flags skipped the decoder's checks; values from the
	// file that failed them were left out, so these cannot repeat them.
	for _, e := range []struct {
		what, v string
		ok      []string
	}{
		{"log.level", c.Log.Level, []string{"debug", "info", "warn", "error"}},
		{"log.format", c.Log.Format, []string{"text", "json"}},
		{"access_log.format", c.AccessLog.Format, []string{"text", "json"}},
	} {
		if !slices.Contains(e.ok, e.v) {
			d.errf(d.at(e.what), "%s must be one of %s, not %q", e.what, strings.Join(e.ok, ", "), e.v)
		}
	}
	s := c.Server
	for _, e := range []struct {
		what string
		v    Duration
	}{
		{"server.idle_timeout", s.IdleTimeout}, {"server.header_timeout", s.HeaderTimeout},
		{"server.body_timeout", s.BodyTimeout}, {"server.write_timeout", s.WriteTimeout},
		{"drain.timeout", c.Drain.Timeout}, {"drain.delay", c.Drain.Delay}, {"drain.spread", c.Drain.Spread},
	} {
		if e.v < 0 {
			d.errf(d.at(e.what), "%s must not be negative", e.what)
		}
	}
	if s.IdleTimeoutMin > s.IdleTimeout {
		d.errf(d.at("server.idle_timeout_min"), "idle_timeout_min (%v) is more than idle_timeout (%v)", time.Duration(s.IdleTimeoutMin), time.Duration(s.IdleTimeout))
	}
	if s.MinIdleWindow > s.IdleTimeout {
		d.errf(d.at("server.min_idle_window"), "min_idle_window (%v) is more than idle_timeout (%v)", time.Duration(s.MinIdleWindow), time.Duration(s.IdleTimeout))
	}
	if s.MaxConns > 0 && s.MaxConnsPerClient > s.MaxConns {
		d.errf(d.at("server.max_conns_per_client"), "max_conns_per_client (%d) is more than max_conns (%d)", s.MaxConnsPerClient, s.MaxConns)
	}
	for _, m := range s.ExtraMethods {
		if m == "" || strings.ContainsFunc(m, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) }) {
			d.errf(d.at("server.extra_methods"), "extra_methods: %q is not a method token (RFC 9110 §9.1)", m)
		}
	}
}

func (d *decoder) validateRoutes(c *Config) {
	type key struct{ host, path string }
	seen := map[key]int{}
	forwards := 0
	for i, r := range c.Routes {
		p := fmt.Sprintf("routes.%d.", i)
		rn := d.at(fmt.Sprintf("routes.%d", i))
		at := func(k string) *yaml.Node {
			if n := d.at(p + k); n != nil {
				return n
			}
			return rn
		}
		if r.Type == "" {
			if d.at(p+"type") == nil {
				d.errf(rn, "route needs a type: static, demo, proxy or forward")
			}
			continue
		}
		// Fields that belong to other types are mistakes, not decoration.
		for _, k := range typeOnly {
			if n := d.at(p + k.key); n != nil && !slices.Contains(k.types, r.Type) {
				d.errf(n, "%s is for %s routes, not %s", k.key, strings.Join(k.types, " and "), r.Type)
			}
		}
		if r.Type != RouteForward && !strings.HasPrefix(r.Path, "/") {
			d.errf(at("path"), "path %q must start with /", r.Path)
		}
		if strings.ContainsAny(r.Host, "/:* ") {
			d.errf(at("host"), "host %q must be a plain host name (no scheme, port, path or wildcard)", r.Host)
		}
		switch r.Type {
		case RouteStatic:
			if r.Root == "" {
				if d.at(p+"root") == nil {
					d.errf(rn, "static route needs a root directory")
				}
			} else if st, err := os.Stat(c.Path(r.Root)); err != nil || !st.IsDir() {
				d.errf(at("root"), "root %q is not a directory", r.Root)
			}
		case RouteProxy:
			if len(r.Upstreams) == 0 {
				d.errf(at("upstreams"), "proxy route needs at least one upstream")
			}
			for j, u := range r.Upstreams {
				if err := checkUpstream(u); err != nil {
					n := at("upstreams")
					if n.Kind == yaml.SequenceNode && j < len(n.Content) {
						n = n.Content[j]
					}
					d.errf(n, "upstream %q: %v", u, err)
				}
			}
		case RouteForward:
			if forwards++; forwards > 1 {
				d.errf(rn, "only one forward route: it takes every proxy request (absolute-form and CONNECT)")
			}
			if d.at(p+"host") != nil || d.at(p+"path") != nil {
				d.errf(at("host"), "a forward route takes every proxy request: it has no host or path")
			}
			continue
		}
		k := key{r.Host, r.Path}
		if j, ok := seen[k]; ok {
			d.errf(rn, "route for host %q and path %q repeats route %d (line %d)", r.Host, r.Path, j, c.Routes[j].Line)
		}
		seen[k] = i
	}
}

// typeOnly lists the route keys that belong to some types only.
var typeOnly = []struct {
	key   string
	types []string
}{
	{"root", []string{RouteStatic}},
	{"upstreams", []string{RouteProxy}},
	{"balance", []string{RouteProxy}},
	{"rewrite_host", []string{RouteProxy}},
	{"upstream_timeout", []string{RouteProxy, RouteForward}},
	{"dial_timeout", []string{RouteProxy, RouteForward}},
	{"fail_timeout", []string{RouteProxy, RouteForward}},
	{"connect_ports", []string{RouteForward}},
	{"tunnel_idle_timeout", []string{RouteForward}},
}

// Path resolves a path from the file against the file's directory.
func (c *Config) Path(p string) string {
	if filepath.IsAbs(p) || c.Dir == "" {
		return p
	}
	return filepath.Join(c.Dir, p)
}

func checkHostPort(a string) error {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("want host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

func checkUpstream(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("want a URL like http://10.0.0.1:8080")
	}
	if u.Scheme != "http" {
		return fmt.Errorf("scheme %q: dally speaks http:// to upstreams", u.Scheme)
	}
	if u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("an upstream is http://host[:port][/base-path], no query or user")
	}
	_, err = proxy.ParseUpstream(s)
	return err
}
