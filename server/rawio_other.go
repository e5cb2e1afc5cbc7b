//go:build !linux

package server

import "golang.org/x/sys/unix"

// readNB and writeNB: on these systems system calls go through the C
// library, so they are unix.Read and unix.Write.
func readNB(fd int, p []byte) (int, error) { return unix.Read(fd, p) }

func writeNB(fd int, p []byte) (int, error) { return unix.Write(fd, p) }
