// Command godeletes is the ground truth for GoBinary.callSites and GoBinary.mapTypes: every
// delete/clear statement is followed, ON THE SAME LINE, by mark(), which records that line and
// its function as runtime.CallersFrames reports them, together with the runtime function the
// statement compiles to. The program prints, as one JSON object, those marks and the %T name and
// type-descriptor address of every map type it uses.
//
// Keep each delete and its mark on one line (gofmt would split them: do not gofmt this file).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"unsafe"
)

type User struct{ Name string }

type Key struct {
	A int32
	B string
}

// Big is larger than 128 bytes, so map[int32]Big cannot use mapdelete_fast32.
type Big struct{ Buf [200]byte }

type ID uint32

// Named map types: the compiler never puts them in typelinks.
type Set map[string]int
type Index map[int64]*User
type Cache[K comparable] map[K]int

// Hidden is only ever handled by generic code: its type descriptor is referenced from
// dictionaries only, never loaded directly by non-generic code.
type Hidden map[string]bool

// Reflected is deleted from only through reflection.
type Reflected map[uint64]string

type Mark struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	// Runtime function the statement calls (without "runtime."); "" when that depends on the
	// instantiation or happens inside reflect.
	Want string `json:"want"`
	// "direct": its own non-inlined function, so exactly one call site; "inlined": in a function
	// that may be inlined into its callers; "generic": in a generic function (one call site per
	// shape); "reflect": through reflect.Value.
	How string `json:"how"`
}

type MapType struct {
	Type string `json:"type"`
	Addr uint64 `json:"addr"`
}

type Report struct {
	Version string    `json:"version"`
	Anchor  uint64    `json:"anchor"`
	Marks   []Mark    `json:"marks"`
	Maps    []MapType `json:"maps"`
}

var marks []Mark

//go:noinline
func mark(want, how string) {
	pcs := make([]uintptr, 1)
	runtime.Callers(2, pcs)
	fr, _ := runtime.CallersFrames(pcs).Next()
	marks = append(marks, Mark{Function: fr.Function, File: fr.File, Line: fr.Line, Want: want, How: how})
}

//go:noinline
func anchor() int { return 42 }

func typeWord(i interface{}) uint64 {
	return uint64((*[2]uintptr)(unsafe.Pointer(&i))[0])
}

//go:noinline
func delStr(m map[string]*User, k string) { delete(m, k); mark("mapdelete_faststr", "direct") }

//go:noinline
func del32(m map[int32]string, k int32) { delete(m, k); mark("mapdelete_fast32", "direct") }

//go:noinline
func delID(m map[ID][]byte, k ID) { delete(m, k); mark("mapdelete_fast32", "direct") }

//go:noinline
func del64(m map[int64]struct{}, k int64) { delete(m, k); mark("mapdelete_fast64", "direct") }

//go:noinline
func delPtr(m map[*User]bool, k *User) { delete(m, k); mark("mapdelete_fast64", "direct") }

//go:noinline
func delStruct(m map[Key]int, k Key) { delete(m, k); mark("mapdelete", "direct") }

//go:noinline
func delBig(m map[int32]Big, k int32) { delete(m, k); mark("mapdelete", "direct") }

//go:noinline
func delIface(m map[interface{}]string, k interface{}) { delete(m, k); mark("mapdelete", "direct") }

//go:noinline
func delFloat(m map[float64]uint8, k float64) { delete(m, k); mark("mapdelete", "direct") }

//go:noinline
func delArr(m map[[2]string]error, k [2]string) { delete(m, k); mark("mapdelete", "direct") }

//go:noinline
func (s Set) Del(k string) { delete(s, k); mark("mapdelete_faststr", "direct") }

//go:noinline
func (x Index) Drop(k int64) { delete(x, k); mark("mapdelete_fast64", "direct") }

//go:noinline
func (c Cache[K]) Evict(k K) { delete(c, k); mark("", "generic") }

//go:noinline
func twoDeletes(a map[string]int, b map[uint32]int, k string) {
	delete(a, k); mark("mapdelete_faststr", "direct")
	delete(b, uint32(len(k))); mark("mapdelete_fast32", "direct")
}

//go:noinline
func nested(m map[string]map[int32]bool, k string, j int32) { delete(m[k], j); mark("mapdelete_fast32", "direct") }

//go:noinline
func clearRange(m map[string]int) { for k := range m { delete(m, k) }; mark("mapclear", "direct") }

//go:noinline
func clearBuiltin(m map[int64]bool) { clear(m); mark("mapclear", "direct") }

// Called through a variable: never inlined.
var closureDel = func(m map[uint64]int, k uint64) { delete(m, k); mark("mapdelete_fast64", "direct") }

// Small enough to be inlined into its callers (each inlined copy is a call site of its own).
func rmInl(m map[string]int, k string) { delete(m, k); mark("mapdelete_faststr", "inlined") }

//go:noinline
func callsInl1(m map[string]int) { rmInl(m, "a") }

//go:noinline
func callsInl2(m map[string]int) { rmInl(m, "b") }

//go:noinline
func delG[M ~map[K]V, K comparable, V any](m M, k K) { delete(m, k); mark("", "generic") }

//go:noinline
func clearG[M ~map[K]V, K comparable, V any](m M) { clear(m); mark("mapclear", "generic") }

//go:noinline
func newG[M ~map[K]V, K comparable, V any]() M { return make(M) }

//go:noinline
func setG[M ~map[K]V, K comparable, V any](m M, k K, v V) { m[k] = v }

//go:noinline
func typeOfG[M any](m M) MapType {
	var i interface{} = m
	return MapType{Type: fmt.Sprintf("%T", i), Addr: typeWord(i)}
}

//go:noinline
func reflectDel(m, k interface{}) { reflect.ValueOf(m).SetMapIndex(reflect.ValueOf(k), reflect.Value{}); mark("", "reflect") }

func main() {
	users := map[string]*User{"a": {Name: "a"}}
	i32s := map[int32]string{1: "x"}
	ids := map[ID][]byte{1: nil}
	i64s := map[int64]struct{}{1: {}}
	ptrs := map[*User]bool{nil: true}
	keys := map[Key]int{{1, "x"}: 1}
	bigs := map[int32]Big{1: {}}
	anys := map[interface{}]string{1: "one"}
	floats := map[float64]uint8{1.5: 1}
	arrs := map[[2]string]error{{"a", "b"}: nil}
	set := Set{"k": 1}
	index := Index{1: nil}
	cache := Cache[string]{"c": 1}
	cache32 := Cache[int32]{1: 1}
	strInt := map[string]int{"a": 1, "b": 2}
	u32s := map[uint32]int{1: 1}
	nest := map[string]map[int32]bool{"n": {1: true}}
	clr := map[int64]bool{1: true}
	u64s := map[uint64]int{1: 1}
	refl := Reflected{7: "seven"}
	hidden := newG[Hidden]()
	setG(hidden, "h", true)

	delStr(users, "a")
	del32(i32s, 1)
	delID(ids, 1)
	del64(i64s, 1)
	delPtr(ptrs, nil)
	delStruct(keys, Key{1, "x"})
	delBig(bigs, 1)
	delIface(anys, 1)
	delFloat(floats, 1.5)
	delArr(arrs, [2]string{"a", "b"})
	set.Del("k")
	index.Drop(1)
	cache.Evict("c")
	cache32.Evict(1)
	twoDeletes(strInt, u32s, "zz")
	nested(nest, "n", 1)
	clearRange(map[string]int{"r": 1})
	clearBuiltin(clr)
	closureDel(u64s, 1)
	callsInl1(strInt)
	callsInl2(strInt)
	delG(strInt, "a")
	delG(set, "k")
	delG(hidden, "h")
	delG(i32s, 1)
	clearG(hidden)
	clearG(u64s)
	reflectDel(refl, uint64(7))

	r := Report{Version: runtime.Version(), Anchor: uint64(reflect.ValueOf(anchor).Pointer()), Marks: marks}
	for _, m := range []interface{}{users, i32s, ids, i64s, ptrs, keys, bigs, anys, floats, arrs, set, index, cache, cache32, strInt, u32s, nest, nest["n"], clr, u64s, refl} {
		r.Maps = append(r.Maps, MapType{Type: fmt.Sprintf("%T", m), Addr: typeWord(m)})
	}
	r.Maps = append(r.Maps, typeOfG(hidden))
	if err := json.NewEncoder(os.Stdout).Encode(&r); err != nil {
		panic(err)
	}
	_ = anchor()
}
