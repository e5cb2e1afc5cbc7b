package server

import (
	"bufio"
	"io"
	"log"
	"net"
)

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
