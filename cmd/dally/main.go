// Command dally runs dally's HTTP/1.1 server.
//
//	dally [serve] [flags]     serve the routes of -config FILE, a directory
//	                          (-root), or the embedded demo site
//	dally check FILE...       check config files: "ok", or every error
//	dally proxy [flags]       a reverse or forward proxy from flags alone
//	dally load [flags] URL    a bounded load generator
//
// Run `dally serve -h` for the flags.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		os.Exit(serve(args, os.Stdout, os.Stderr))
	case "check":
		os.Exit(check(args, os.Stdout, os.Stderr))
	case "proxy":
		os.Exit(proxyCmd(args, os.Stderr))
	case "load":
		os.Exit(loadCmd(args, os.Stdout, os.Stderr))
	case "help":
		usage(os.Stdout)
	default:
		fmt.Fprintf(os.Stderr, "dally: unknown command %q\n", cmd)
		usage(os.Stderr)
		os.Exit(2)
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage: dally [command] [flags]

commands:
  serve   serve the routes of -config FILE, a directory (-root), or the
          embedded demo site (the default command)
  check   check config files: prints "ok", or every error with its line
  proxy   a reverse or forward proxy from flags alone ('dally proxy -h')
  load    a bounded load generator ('dally load -h')
  help    this text

Run 'dally serve -h' for the server's flags; docs/config.md for the file.`)
}
