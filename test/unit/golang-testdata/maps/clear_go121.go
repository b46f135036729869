//go:build go1.21

package main

import "reflect"

// reflectClear exercises reflect.mapclear (reflect.Value.Clear is Go 1.21+).
func reflectClear(m interface{}) { reflect.ValueOf(m).Clear() }
