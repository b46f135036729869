// Package gptr exposes the current g pointer. It is a separate package
// because a package that uses cgo may not contain Go assembly.
package gptr

// Get returns the current goroutine's g pointer (getg_amd64.s).
func Get() uintptr
