// Command hello is a minimal Go program, built with old toolchains to check that
// receiver/golang rejects them with a clear message.
package main

import "fmt"

func main() {
	m := map[string]int{"a": 1}
	delete(m, "a")
	fmt.Println(len(m))
}
