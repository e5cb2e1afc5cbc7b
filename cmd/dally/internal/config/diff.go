package config

import (
	"fmt"
	"reflect"
	"strings"
)

// NeedsRestart lists what differs between old and new that a running
// process cannot change: the listeners (kept across a reload so no
// connection drops), the server's knobs (fixed once it serves), the admin
// listener, the drain's spread (a server knob) and the error log's
// destination. Routes, the access log, the log level and the drain's delay
// and timeout take effect on reload.
func NeedsRestart(old, new *Config) []string {
	var out []string
	if !reflect.DeepEqual(old.Listeners, new.Listeners) {
		out = append(out, fmt.Sprintf("listeners: %s -> %s", listeners(old), listeners(new)))
	}
	out = diffStruct(out, "server", reflect.ValueOf(old.Server), reflect.ValueOf(new.Server))
	out = diffStruct(out, "admin", reflect.ValueOf(old.Admin), reflect.ValueOf(new.Admin))
	if old.Drain.Spread != new.Drain.Spread {
		out = append(out, fmt.Sprintf("drain.spread: %s -> %s", old.Drain.Spread, new.Drain.Spread))
	}
	if old.Log.Format != new.Log.Format {
		out = append(out, fmt.Sprintf("log.format: %s -> %s", old.Log.Format, new.Log.Format))
	}
	if old.Log.File != new.Log.File {
		out = append(out, fmt.Sprintf("log.file: %s -> %s", old.Log.File, new.Log.File))
	}
	return out
}

func listeners(c *Config) string {
	var b []string
	for _, l := range c.Listeners {
		s := l.Address
		if l.ReusePort {
			s += " (reuse_port)"
		}
		b = append(b, s)
	}
	return strings.Join(b, ", ")
}

func diffStruct(out []string, prefix string, a, b reflect.Value) []string {
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		x, y := a.Field(i).Interface(), b.Field(i).Interface()
		if !reflect.DeepEqual(x, y) {
			out = append(out, fmt.Sprintf("%s.%s: %s -> %s", prefix, name, show(x), show(y)))
		}
	}
	return out
}

func show(v any) string {
	switch v := v.(type) {
	case Duration:
		return v.String()
	case Num:
		m, _ := v.MarshalYAML()
		return fmt.Sprint(m)
	}
	return fmt.Sprint(v)
}
