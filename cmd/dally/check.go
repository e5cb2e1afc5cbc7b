package main

import (
	"fmt"
	"io"

	"github.com/dallyhttp/dally/cmd/dally/internal/config"
)

// check is `dally check FILE...`: exit 0 and "FILE: ok" for each good
// file, or every error of every file and exit 1.
func check(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprintln(stderr, "usage: dally check FILE...\n\nParses each config file as `dally -config FILE` would and prints \"FILE: ok\",\nor every problem as FILE:LINE:COL: message (exit 1).")
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	rc := 0
	for _, f := range args {
		if _, err := config.Load(f); err != nil {
			if _, ok := err.(config.Errors); !ok {
				err = fmt.Errorf("%s: %w", f, err)
			}
			fmt.Fprintln(stderr, err)
			rc = 1
			continue
		}
		fmt.Fprintf(stdout, "%s: ok\n", f)
	}
	return rc
}
