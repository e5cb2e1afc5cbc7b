// Package config is the dally binary's configuration file: one YAML file
// with the listeners, the routes, every knob of server.Server, the drain,
// the admin listener and the logs.
//
// Decoding is strict and reports every problem at once: the file is read
// into YAML nodes and walked by hand, so an unknown key, a value of the
// wrong kind, a bad duration or size, and a cross-field conflict each
// become one "file:line:col: message" and decoding goes on. The package is
// internal to cmd/dally: the file format is the public interface, not
// these types.
package config

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/dallyhttp/dally/h1"
	"github.com/dallyhttp/dally/proxy"
	"github.com/dallyhttp/dally/server"
	"go.yaml.in/yaml/v3"
)

// Defaults that are the binary's, not the server package's.
const (
	DefaultListen       = "127.0.0.1:8080"
	DefaultAdmin        = "127.0.0.1:9090"
	DefaultDrainTimeout = 10 * time.Second
)

// Config is a parsed, defaults-filled configuration. Fields are plain
// values so two configs compare with ==/reflect.DeepEqual (for reloads).
type Config struct {
	Listeners []Listener `yaml:"listeners"`
	Routes    []Route    `yaml:"routes"`
	Server    Server     `yaml:"server"`
	Drain     Drain      `yaml:"drain"`
	Admin     Admin      `yaml:"admin"`
	Log       Log        `yaml:"log"`
	AccessLog AccessLog  `yaml:"access_log"`

	// Dir is the directory relative paths are resolved against (the
	// config file's); not part of the file.
	Dir string `yaml:"-"`
}

// Listener is one public listening socket.
type Listener struct {
	Address string `yaml:"address"`
	// ReusePort sets SO_REUSEPORT so several processes can share the port.
	ReusePort bool `yaml:"reuse_port"`
}

// Route types.
const (
	RouteStatic  = "static"
	RouteDemo    = "demo"
	RouteProxy   = "proxy"   // reverse proxy to upstreams
	RouteForward = "forward" // forward proxy: absolute-form requests and CONNECT
)

// Balance policies of a reverse proxy route.
var balances = []string{"round_robin", "least_conn"}

// Route sends the requests for a host and path prefix to one handler.
type Route struct {
	Host        string   `yaml:"host,omitempty"`
	Path        string   `yaml:"path,omitempty"`
	Type        string   `yaml:"type"`
	Root        string   `yaml:"root,omitempty"`
	Upstreams   []string `yaml:"upstreams,omitempty"`
	Balance     string   `yaml:"balance,omitempty"`
	RewriteHost bool     `yaml:"rewrite_host,omitempty"`
	// Proxy and forward routes: how long to wait upstream.
	UpstreamTimeout Duration `yaml:"upstream_timeout,omitempty"`
	DialTimeout     Duration `yaml:"dial_timeout,omitempty"`
	FailTimeout     Duration `yaml:"fail_timeout,omitempty"`
	ConnectPorts    []int    `yaml:"connect_ports,omitempty"`
	// TunnelIdleTimeout closes a CONNECT tunnel idle both ways this long.
	TunnelIdleTimeout Duration `yaml:"tunnel_idle_timeout,omitempty"`

	// Line is where the route starts in its file (0 when built from flags).
	Line int `yaml:"-"`
}

// Server holds every knob of server.Server; zero values are filled with
// server's defaults, except those whose default depends on the machine
// (shown as "auto").
type Server struct {
	IdleTimeout        Duration `yaml:"idle_timeout"`
	IdleTimeoutMin     Duration `yaml:"idle_timeout_min"`
	MinIdleWindow      Duration `yaml:"min_idle_window"`
	HeaderTimeout      Duration `yaml:"header_timeout"`
	MinHeaderRate      Num      `yaml:"min_header_rate"` // bytes per second
	BodyTimeout        Duration `yaml:"body_timeout"`
	MinBodyRate        Num      `yaml:"min_body_rate"` // bytes per second of waiting; -1 off
	WriteTimeout       Duration `yaml:"write_timeout"`
	MinWriteRate       Num      `yaml:"min_write_rate"` // bytes per second of waiting; -1 off
	MaxRequestsPerConn Num      `yaml:"max_requests_per_conn"`
	MaxConns           Num      `yaml:"max_conns"`
	MaxConnsPerClient  Num      `yaml:"max_conns_per_client"`
	MaxHeaderBytes     Size     `yaml:"max_header_bytes"`
	MemoryBudget       Size     `yaml:"memory_budget"`
	MaxWorkers         Num      `yaml:"max_workers"`
	SchedTarget        Duration `yaml:"sched_target"` // off: no run bound
	LingerTimeout      Duration `yaml:"linger_timeout"`
	LingerBytes        Size     `yaml:"linger_bytes"`
	Loops              Num      `yaml:"loops"`
	ShedPolicy         string   `yaml:"shed_policy"`
	GreedyControl      bool     `yaml:"greedy_control"`
	ExtraMethods       []string `yaml:"extra_methods"`
}

// Drain is what SIGTERM and SIGINT do.
type Drain struct {
	// Delay keeps serving (and accepting) after the signal while /healthz
	// answers 503, so load balancers stop sending before the port closes.
	Delay Duration `yaml:"delay"`
	// Timeout is the hard deadline of server.Shutdown after Delay.
	Timeout Duration `yaml:"timeout"`
	// Spread paces the close of idle connections over this long
	// (server.DrainSpread), so their clients do not all reconnect to the
	// other replicas at once.
	Spread Duration `yaml:"spread"`
}

// Admin is the operator's listener: /healthz, /metrics, /status, pprof.
type Admin struct {
	Address string `yaml:"address"` // "off": no admin listener
	Pprof   bool   `yaml:"pprof"`
	// Defaulted says Address was not given: when the default address is
	// taken (another dally on the machine) the binary runs without an
	// admin listener instead of failing.
	Defaulted bool `yaml:"-"`
}

// Log is the error log.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text, json
	File   string `yaml:"file"`   // "stderr" or a path
}

// AccessLog is one line per request.
type AccessLog struct {
	Enabled bool   `yaml:"enabled"`
	Format  string `yaml:"format"` // text, json
	File    string `yaml:"file"`   // "stderr" or a path
}

// Duration is a time.Duration written as a Go duration string.
type Duration time.Duration

func (d Duration) MarshalYAML() (any, error) {
	if d < 0 {
		return "off", nil // only sched_target may be off
	}
	return time.Duration(d).String(), nil
}

// Size is a byte count written like 256KiB, 1MiB, 10MB or 512; 0 is
// "auto" (the server's default).
type Size int64

func (s Size) MarshalYAML() (any, error) { return s.String(), nil }

func (s Size) String() string {
	if s == 0 {
		return "auto"
	}
	for _, u := range sizeUnits {
		if u.n > 1 && int64(s)%u.n == 0 {
			return fmt.Sprintf("%d%s", int64(s)/u.n, u.name)
		}
	}
	return fmt.Sprint(int64(s))
}

// Num is a count: 0 is "auto", -1 is "unlimited" where a field allows it.
type Num int

func (n Num) MarshalYAML() (any, error) {
	switch n {
	case 0:
		return "auto", nil
	case -1:
		return "unlimited", nil
	}
	return int(n), nil
}

// Default is the configuration of `dally` with no file and no flags: the
// embedded demo site on 127.0.0.1:8080, the admin listener on
// 127.0.0.1:9090.
func Default() *Config {
	c, err := FromFlags(nil)
	if err != nil {
		panic(err) // the defaults are valid
	}
	return c
}

// fill puts defaults into zero fields. Idempotent.
func (c *Config) fill() {
	if len(c.Listeners) == 0 {
		c.Listeners = []Listener{{Address: DefaultListen}}
	}
	if len(c.Routes) == 0 {
		c.Routes = []Route{{Type: RouteDemo}}
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		if r.Type == RouteProxy || r.Type == RouteForward {
			setDur(&r.UpstreamTimeout, proxy.DefaultUpstreamTimeout)
			setDur(&r.DialTimeout, proxy.DefaultDialTimeout)
			setDur(&r.FailTimeout, proxy.DefaultFailTimeout)
		}
		if r.Type == RouteForward {
			if len(r.ConnectPorts) == 0 {
				r.ConnectPorts = []int{443}
			}
			setDur(&r.TunnelIdleTimeout, proxy.DefaultTunnelIdleTimeout)
		}
		if r.Type == RouteForward {
			continue // takes every proxy request: no host, no path
		}
		if r.Path == "" {
			r.Path = "/"
		}
		r.Host = strings.ToLower(r.Host)
		if r.Type == RouteProxy && r.Balance == "" {
			r.Balance = "round_robin"
		}
	}
	s := &c.Server
	setDur(&s.IdleTimeout, server.DefaultIdleTimeout)
	// server clamps both to IdleTimeout; show what will be in force.
	setDur(&s.IdleTimeoutMin, min(5*time.Second, time.Duration(s.IdleTimeout)))
	setDur(&s.MinIdleWindow, min(server.DefaultMinIdleWindow, time.Duration(s.IdleTimeout)))
	setDur(&s.HeaderTimeout, server.DefaultHeaderTimeout)
	if s.MinHeaderRate == 0 {
		s.MinHeaderRate = server.DefaultMinHeaderRate
	}
	setDur(&s.BodyTimeout, server.DefaultBodyTimeout)
	setDur(&s.WriteTimeout, server.DefaultWriteTimeout)
	if s.MinBodyRate == 0 {
		s.MinBodyRate = server.DefaultMinBodyRate
	}
	if s.MinWriteRate == 0 {
		s.MinWriteRate = server.DefaultMinWriteRate
	}
	if s.MaxRequestsPerConn == 0 {
		s.MaxRequestsPerConn = server.DefaultMaxRequests
	}
	if s.MaxHeaderBytes == 0 {
		s.MaxHeaderBytes = Size(h1.DefaultLimits.MaxHeadBytes)
	}
	if s.MaxWorkers == 0 {
		s.MaxWorkers = server.DefaultMaxWorkers
	}
	setDur(&s.SchedTarget, server.DefaultSchedTarget)
	setDur(&s.LingerTimeout, server.DefaultLingerTimeout)
	if s.LingerBytes == 0 {
		s.LingerBytes = server.DefaultLingerBytes
	}
	if s.ShedPolicy == "" {
		s.ShedPolicy = "lru"
	}
	if s.ExtraMethods == nil {
		s.ExtraMethods = []string{}
	}
	setDur(&c.Drain.Timeout, DefaultDrainTimeout)
	if c.Admin.Address == "" {
		c.Admin.Address, c.Admin.Defaulted = DefaultAdmin, true
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.File == "" {
		c.Log.File = "stderr"
	}
	if c.AccessLog.Format == "" {
		c.AccessLog.Format = "text"
	}
	if c.AccessLog.File == "" {
		c.AccessLog.File = "stderr"
	}
}

func setDur(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

// Canonical is the configuration as YAML with every default written out,
// in a fixed order: what the golden files hold, and itself a valid file.
func (c *Config) Canonical() []byte {
	var b bytes.Buffer
	e := yaml.NewEncoder(&b)
	e.SetIndent(2)
	if err := e.Encode(c); err != nil {
		panic(err) // only plain values: cannot fail
	}
	e.Close()
	return b.Bytes()
}

// Apply sets a server's knobs from s.
func (s Server) Apply(dst *server.Server) {
	dst.IdleTimeout = time.Duration(s.IdleTimeout)
	dst.IdleTimeoutMin = time.Duration(s.IdleTimeoutMin)
	dst.MinIdleWindow = time.Duration(s.MinIdleWindow)
	dst.HeaderTimeout = time.Duration(s.HeaderTimeout)
	dst.MinHeaderRate = int(s.MinHeaderRate)
	dst.BodyTimeout = time.Duration(s.BodyTimeout)
	dst.MinBodyRate = int(s.MinBodyRate)
	dst.WriteTimeout = time.Duration(s.WriteTimeout)
	dst.MinWriteRate = int(s.MinWriteRate)
	dst.MaxRequestsPerConn = int(s.MaxRequestsPerConn)
	dst.MaxConns = int(s.MaxConns)
	dst.MaxConnsPerClient = int(s.MaxConnsPerClient)
	dst.MaxHeaderBytes = int(s.MaxHeaderBytes)
	dst.MemoryBudget = int64(s.MemoryBudget)
	dst.MaxWorkers = int(s.MaxWorkers)
	dst.SchedTarget = time.Duration(s.SchedTarget)
	dst.LingerTimeout = time.Duration(s.LingerTimeout)
	dst.LingerBytes = int(s.LingerBytes)
	dst.Loops = int(s.Loops)
	dst.ShedPolicy = server.ShedLRU
	if s.ShedPolicy == "random" {
		dst.ShedPolicy = server.ShedRandom
	}
	dst.DisableGreedyControl = !s.GreedyControl
	dst.ExtraMethods = append([]string(nil), s.ExtraMethods...)
}

// Apply sets a server's drain knobs from d.
func (d Drain) Apply(dst *server.Server) { dst.DrainSpread = time.Duration(d.Spread) }

// Error is one problem in a file, at a position.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e Error) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Col == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Errors is every problem found, in file order.
type Errors []Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func (es Errors) sort() {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Col < es[j].Col
	})
}

func (d Duration) String() string { return time.Duration(d).String() }
