// Command dally runs dally's HTTP/1.1 server.
package main

import (
	"fmt"
	"os"
)

func main() {
	// The server engine is being built (issue "Server engine"); until it lands
	// this command says so instead of pretending to serve.
	fmt.Fprintln(os.Stderr, "dally: the server engine has not landed yet; `./scripts/test` runs what exists")
	os.Exit(1)
}
