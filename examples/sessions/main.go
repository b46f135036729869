// Command sessions is the demo target for map-delete-tracer: a tiny in-memory
// session store that keeps deleting things from maps, forever (until SIGINT or
// SIGTERM), a few dozen deletes per second.
//
//   - logins create sessions in a map[string]*main.Session ("sess-1a2b");
//   - an expiry sweeper deletes sessions whose TTL ran out;
//   - logouts delete sessions directly;
//   - a response cache map[uint64][]byte evicts entries when it is full;
//   - a rate-limit table map[string]int is clear()ed every few seconds.
//
// Run it, then trace it:
//
//	go run ./examples/sessions &
//	map-delete-tracer run --pid <the pid it prints>
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

type Session struct {
	ID      string
	User    string
	Created time.Time
	Expires time.Time
}

type Store struct {
	mu       sync.Mutex
	sessions map[string]*Session
	cache    map[uint64][]byte
	cacheLRU []uint64
	limits   map[string]int
	deletes  int
}

const cacheCap = 64

var users = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}

func NewStore() *Store {
	return &Store{
		sessions: make(map[string]*Session),
		cache:    make(map[uint64][]byte),
		limits:   make(map[string]int),
	}
}

// Login creates a session with a short random lifetime.
func (s *Store) Login(user string, rnd *rand.Rand) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := fmt.Sprintf("sess-%04x", rnd.Intn(0x10000))
	now := time.Now()
	s.sessions[id] = &Session{ID: id, User: user, Created: now, Expires: now.Add(time.Duration(500+rnd.Intn(2500)) * time.Millisecond)}
	s.limits[user]++
	return id
}

// Logout ends a session early.
func (s *Store) Logout(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[id]; ok {
		delete(s.sessions, id)
		s.deletes++
	}
}

// ExpireSessions removes every session whose TTL has passed.
func (s *Store) ExpireSessions(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, sess := range s.sessions {
		if now.After(sess.Expires) {
			delete(s.sessions, id)
			n++
		}
	}
	s.deletes += n
	return n
}

// CachePut stores a rendered response, evicting the oldest entry when full.
func (s *Store) CachePut(key uint64, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cache[key]; !ok {
		s.cacheLRU = append(s.cacheLRU, key)
	}
	s.cache[key] = body
	for len(s.cache) > cacheCap {
		oldest := s.cacheLRU[0]
		s.cacheLRU = s.cacheLRU[1:]
		evictCache(s.cache, oldest)
		s.deletes++
	}
}

//go:noinline
func evictCache(cache map[uint64][]byte, key uint64) {
	delete(cache, key)
}

// ResetLimits forgets all rate-limit counters.
func (s *Store) ResetLimits() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.limits)
}

func (s *Store) Stats() (sessions, cached, deletes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions), len(s.cache), s.deletes
}

func main() {
	quiet := flag.Bool("quiet", false, "no periodic stats on stderr")
	flag.Parse()
	log.SetFlags(log.Ltime)
	log.SetPrefix("sessions: ")

	fmt.Printf("sessions: pid %d\n", os.Getpid())

	store := NewStore()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	every := func(d time.Duration, f func(*rand.Rand)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
			t := time.NewTicker(d)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					f(rnd)
				}
			}
		}()
	}

	// ~25 logins/s; a fifth of them log out again soon after.
	every(40*time.Millisecond, func(rnd *rand.Rand) {
		id := store.Login(users[rnd.Intn(len(users))], rnd)
		if rnd.Intn(5) == 0 {
			time.AfterFunc(time.Duration(100+rnd.Intn(300))*time.Millisecond, func() { store.Logout(id) })
		}
	})
	// Expiry sweep.
	every(250*time.Millisecond, func(*rand.Rand) { store.ExpireSessions(time.Now()) })
	// ~15 cache fills/s over a key space bigger than the cache: evictions.
	every(66*time.Millisecond, func(rnd *rand.Rand) {
		store.CachePut(uint64(rnd.Intn(512)), make([]byte, 32+rnd.Intn(96)))
	})
	// Rate-limit window.
	every(3*time.Second, func(*rand.Rand) { store.ResetLimits() })
	if !*quiet {
		every(10*time.Second, func(*rand.Rand) {
			n, c, d := store.Stats()
			log.Printf("%d sessions, %d cached responses, %d deletes so far", n, c, d)
		})
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	close(stop)
	wg.Wait()
	_, _, d := store.Stats()
	log.Printf("%v: stopping after %d deletes", s, d)
}
