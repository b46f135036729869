//go:build cgo

package main

// static int cgo_answer(void) { return 42; }
import "C"

func init() { cgoEnabled = C.cgo_answer() == 42 }
