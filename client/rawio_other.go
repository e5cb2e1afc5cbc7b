//go:build unix && (!linux || race)

package client

import "syscall"

// writeNB and readNB are package syscall's Write and Read here (see
// rawio_linux.go): under the race detector they tell it that bytes
// written to a descriptor happen before bytes read from one, as
// net.Conn's own reads and writes do.
func writeNB(fd int, p []byte) (int, error) { return syscall.Write(fd, p) }
func readNB(fd int, p []byte) (int, error)  { return syscall.Read(fd, p) }
