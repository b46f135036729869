// Command deleteloop is the Go side of `npm run bench` (bench/suite.ts), part 1: a tight
// delete loop whose cost per delete is measured with no probe, with a do-nothing uprobe, with
// map-delete-tracer in its modes, and with bpftrace.
//
//	deleteloop [-cases int64,string] [-seconds 1] [-rate 0] [-keys 1024]
//
// Protocol (one JSON object per line on stdout):
//
//	{"event":"ready","pid":P,"go":"go1.26.8"}
//	   ... blocks until a line "go" arrives on stdin (so probes can be attached first) ...
//	{"event":"result","case":"int64","deletes":N,"ns_per_delete":X,"cpu_ns_per_delete":Y,"elapsed_ns":T}
//	{"event":"result","case":"string",...}
//	{"event":"done"}
//
// Each case deletes a present key from a map[K]int and puts it back, over and over, for
// -seconds (the clock is read every 1024 deletes): ns_per_delete is the wall-clock time of
// one delete plus its re-insert; cpu_ns_per_delete the same in CPU time of the loop's thread
// (CLOCK_THREAD_CPUTIME_ID; the goroutine is locked to it). A uprobe's trap and its BPF
// program run in the thread's context, so their cost is in both; time the thread spends
// waiting for a CPU (on a small machine, while a tracer uses the others) only in the first.
// int64 keys compile to runtime.mapdelete_fast64, string keys to runtime.mapdelete_faststr,
// for classic and Swiss-table maps alike.
//
// With -rate R, each case does R*seconds deletes paced at R per second (a sleep after every
// 1024 until they are due; a case that falls behind just keeps going): then only
// cpu_ns_per_delete means something — the cost of a delete at a rate the tracer keeps up with.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

var (
	flagCases   = flag.String("cases", "int64,string", "comma-separated: int64, string")
	flagSeconds = flag.Float64("seconds", 1, "duration of each case")
	flagRate    = flag.Int("rate", 0, "deletes per second, paced (0: as fast as possible)")
	flagKeys    = flag.Int("keys", 1024, "keys in the map (a power of two)")
)

func emit(v any) {
	b, _ := json.Marshal(v)
	os.Stdout.Write(append(b, '\n'))
}

type result struct {
	Event       string  `json:"event"`
	Case        string  `json:"case"`
	Deletes     int64   `json:"deletes"`
	NsPerDelete float64 `json:"ns_per_delete"`
	CPUNsPerDel float64 `json:"cpu_ns_per_delete"`
	ElapsedNs   int64   `json:"elapsed_ns"`
}

// threadCPU is the calling thread's CPU time (user + system), ns.
func threadCPU() int64 {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return ts.Nano()
}

const chunk = 1024

// pace: after n deletes, whether the case is over, sleeping first if ahead of the rate.
func pace(n int64, start time.Time, d time.Duration) bool {
	if *flagRate <= 0 {
		return time.Since(start) >= d
	}
	if n >= int64(float64(*flagRate)*d.Seconds()) {
		return true
	}
	due := start.Add(time.Duration(float64(n) / float64(*flagRate) * float64(time.Second)))
	if w := time.Until(due); w > 0 {
		time.Sleep(w)
	}
	return false
}

//go:noinline
func loopInt64(keys int, d time.Duration) (int64, time.Duration) {
	m := make(map[int64]int, keys)
	for i := 0; i < keys; i++ {
		m[int64(i)] = i
	}
	mask := int64(keys - 1)
	var n int64
	start := time.Now()
	for {
		for j := int64(0); j < chunk; j++ {
			k := (n + j) & mask
			delete(m, k)
			m[k] = int(j)
		}
		n += chunk
		if pace(n, start, d) {
			if len(m) != keys {
				panic("map lost keys")
			}
			return n, time.Since(start)
		}
	}
}

//go:noinline
func loopString(keys int, d time.Duration) (int64, time.Duration) {
	ks := make([]string, keys)
	m := make(map[string]int, keys)
	for i := range ks {
		ks[i] = fmt.Sprintf("session-%06d", i)
		m[ks[i]] = i
	}
	mask := int64(keys - 1)
	var n int64
	start := time.Now()
	for {
		for j := int64(0); j < chunk; j++ {
			k := ks[(n+j)&mask]
			delete(m, k)
			m[k] = int(j)
		}
		n += chunk
		if pace(n, start, d) {
			if len(m) != keys {
				panic("map lost keys")
			}
			return n, time.Since(start)
		}
	}
}

func main() {
	flag.Parse()
	if *flagKeys < 1 || *flagKeys&(*flagKeys-1) != 0 {
		fmt.Fprintln(os.Stderr, "deleteloop: -keys must be a power of two")
		os.Exit(2)
	}
	cases := strings.Split(*flagCases, ",")
	for _, c := range cases {
		if c != "int64" && c != "string" {
			fmt.Fprintf(os.Stderr, "deleteloop: unknown case %q (int64, string)\n", c)
			os.Exit(2)
		}
	}
	emit(map[string]any{"event": "ready", "pid": os.Getpid(), "go": runtime.Version()})
	in := bufio.NewReader(os.Stdin)
	for {
		line, err := in.ReadString('\n')
		if strings.TrimSpace(line) == "go" {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "deleteloop: stdin closed before a \"go\" line arrived")
			os.Exit(3)
		}
	}
	d := time.Duration(*flagSeconds * float64(time.Second))
	runtime.LockOSThread()
	for _, c := range cases {
		var n int64
		var el time.Duration
		cpu0 := threadCPU()
		if c == "int64" {
			n, el = loopInt64(*flagKeys, d)
		} else {
			n, el = loopString(*flagKeys, d)
		}
		cpu := threadCPU() - cpu0
		emit(result{Event: "result", Case: c, Deletes: n, NsPerDelete: float64(el.Nanoseconds()) / float64(n), CPUNsPerDel: float64(cpu) / float64(n), ElapsedNs: el.Nanoseconds()})
	}
	emit(map[string]any{"event": "done"})
}
