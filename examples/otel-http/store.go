package main

// The service's state and every map delete it performs.
//
// THIS FILE IS DELIBERATELY NOT gofmt'd. Each delete is followed, on the same
// line, by the call that records it for the tests' ground truth:
//
//	delete(m, k); rec(ctx, m, k)
//
// so the file:line rec reports (runtime.Callers) is the delete statement's own
// line, which is what map-delete-tracer must report too. gofmt would move rec
// to the next line. Do not run gofmt / goimports on this file; keep everything
// else in it formatted as gofmt would.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// ---- sessions: map[string]*main.Session ----------------------------------------

type Session struct {
	ID      string
	User    string
	Created time.Time
	Expires time.Time
}

type SessionStore struct {
	mu       sync.Mutex
	ttl      time.Duration
	sessions map[string]*Session
}

func newSessionStore(ttl time.Duration) *SessionStore {
	return &SessionStore{ttl: ttl, sessions: make(map[string]*Session)}
}

// Login creates a session for user.
func (s *SessionStore) Login(user string) *Session {
	var b [8]byte
	_, _ = rand.Read(b[:])
	now := time.Now()
	sess := &Session{ID: "sess-" + hex.EncodeToString(b[:]), User: user, Created: now, Expires: now.Add(s.ttl)}
	s.mu.Lock()
	s.sessions[sess.ID] = sess
	s.mu.Unlock()
	return sess
}

// Logout deletes the session (a delete of an unknown id is still a delete: the
// runtime's mapdelete runs either way) and says whether it existed.
func (s *SessionStore) Logout(ctx context.Context, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sessions[id]
	delete(s.sessions, id); rec(ctx, s.sessions, id)
	return ok
}

// Len is the number of live sessions.
func (s *SessionStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// janitor expires sessions every interval until ctx is done. It runs on a
// goroutine of its own, started before the server, outside any span.
func (s *SessionStore) janitor(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.expire(ctx, now)
		}
	}
}

func (s *SessionStore) expire(ctx context.Context, now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, sess := range s.sessions {
		if now.After(sess.Expires) {
			delete(s.sessions, id); rec(ctx, s.sessions, id)
			n++
		}
	}
	return n
}

// ---- LRU cache: map[uint64]*main.Entry ------------------------------------------

type Entry struct {
	Key        uint64
	Value      string
	prev, next *Entry
}

type Cache struct {
	mu         sync.Mutex
	capacity   int
	items      map[uint64]*Entry
	head, tail *Entry // most and least recently used
	evictions  int
}

func newCache(capacity int) *Cache {
	return &Cache{capacity: capacity, items: make(map[uint64]*Entry, capacity)}
}

// Get returns the cached value of key, loading (and caching) it on a miss;
// a miss on a full cache evicts the least recently used entry.
func (c *Cache) Get(ctx context.Context, key uint64, load func(uint64) string) (value string, hit bool) {
	c.mu.Lock()
	if e, ok := c.items[key]; ok {
		c.unlink(e)
		c.pushFront(e)
		c.mu.Unlock()
		return e.Value, true
	}
	c.mu.Unlock()

	v := load(key)

	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok { // loaded concurrently by another request
		return e.Value, false
	}
	for len(c.items) >= c.capacity {
		old := c.tail
		c.unlink(old)
		delete(c.items, old.Key); rec(ctx, c.items, old.Key)
		c.evictions++
	}
	e := &Entry{Key: key, Value: v}
	c.items[key] = e
	c.pushFront(e)
	return v, false
}

func (c *Cache) pushFront(e *Entry) {
	e.prev, e.next = nil, c.head
	if c.head != nil {
		c.head.prev = e
	}
	c.head = e
	if c.tail == nil {
		c.tail = e
	}
}

func (c *Cache) unlink(e *Entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// ---- orders: map[string]int ------------------------------------------------------

// Orders holds stock reservations while orders are processed.
type Orders struct {
	mu           sync.Mutex
	reservations map[string]int // "order-7/sku-2" -> quantity held
	inflight     map[string]int // "order-7" -> number of reservations it holds
}

func newOrders() *Orders {
	return &Orders{reservations: make(map[string]int), inflight: make(map[string]int)}
}

// Reserve holds stock for the order's line items (1 to 3 of them) and returns
// the reservation keys.
func (o *Orders) Reserve(order string, id uint64) []string {
	n := 1 + int(id%3)
	keys := make([]string, n)
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range keys {
		keys[i] = fmt.Sprintf("%s/sku-%d", order, i+1)
		o.reservations[keys[i]] += 1 + i
	}
	o.inflight[order] += n
	return keys
}

// settle runs on a worker goroutine of its own, one per order: it commits the
// order's reservations (deletes them), reports how many, and ends. It starts
// no span: its deletes belong to the span that was active in the handler that
// started it, through ctx.
func (o *Orders) settle(ctx context.Context, keys []string, work time.Duration, done chan<- int) {
	n := 0
	for _, k := range keys {
		if work > 0 {
			time.Sleep(work)
		}
		o.mu.Lock()
		delete(o.reservations, k); rec(ctx, o.reservations, k)
		o.mu.Unlock()
		n++
	}
	done <- n
}

// Finish forgets a processed order (in the handler's goroutine).
func (o *Orders) Finish(ctx context.Context, order string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.inflight, order); rec(ctx, o.inflight, order)
}
