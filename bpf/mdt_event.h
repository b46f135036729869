/* SPDX-License-Identifier: (Apache-2.0 OR BSD-2-Clause) */
/*
 * The one description of what crosses from the kernel to user space.
 * Included by bpf/map_delete.bpf.c and addon/; decoded in receiver/events/decode.ts.
 * Every change here must be mirrored in decode.ts (test/unit/layout.test.ts checks the sizes).
 */
#ifndef MDT_EVENT_H
#define MDT_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define MDT_KEY_MAX 128   /* key bytes captured and hashed; longer keys fold in their length */
#define MDT_STACK_MAX 32  /* return addresses per record; stack[0] is the direct caller */

/* How the probed function receives its arguments (Go register ABI, amd64). */
enum mdt_arg_kind {
	MDT_ARGS_KEYPTR = 1, /* (maptype, map, *key): runtime.mapdelete, reflect.mapdelete */
	MDT_ARGS_KEY32 = 2,  /* (maptype, map, uint32 key) */
	MDT_ARGS_KEY64 = 3,  /* (maptype, map, uint64 key) */
	MDT_ARGS_KEYSTR = 4, /* (maptype, map, key.ptr, key.len) */
	MDT_ARGS_CLEAR = 5,  /* (maptype, map) */
};

/*
 * The uprobe's attach cookie carries everything per-probe the program needs, so one
 * program serves every function, binary and Go version without a map lookup.
 */
#define MDT_COOKIE(kind, func_id, goid_off, plan_id) \
	((__u64)(kind) | ((__u64)(func_id) << 8) | ((__u64)(goid_off) << 16) | ((__u64)(plan_id) << 32))
#define MDT_COOKIE_KIND(c) ((__u32)((c) & 0xff))
#define MDT_COOKIE_FUNC(c) ((__u32)(((c) >> 8) & 0xff))
#define MDT_COOKIE_GOID_OFF(c) ((__u32)(((c) >> 16) & 0xffff))
#define MDT_COOKIE_PLAN(c) ((__u32)(((c) >> 32) & 0xffff))
/* Delete probes of a binary whose OpenTelemetry SDK spans are tracked: look up the active span. */
#define MDT_COOKIE_CORRELATE (1ULL << 48)

/*
 * Span-tracking probes (docs/design/correlation.md) reuse the cookie layout: goid offset and
 * plan as above; the kind byte says which register holds the new g at a goroutine-created probe.
 */
enum mdt_newg_reg {
	MDT_NEWG_RBX = 1, /* the CALL runtime.runqput in runtime.newproc.func1 */
	MDT_NEWG_RAX = 2, /* a RET of runtime.newproc1 */
};

enum mdt_event_flags {
	MDT_F_NIL_MAP = 1 << 0,         /* map pointer was nil */
	MDT_F_LEN_UNKNOWN = 1 << 1,     /* map count could not be read */
	MDT_F_KEY_STRING = 1 << 2,      /* key[] holds string bytes, key_len is the string length */
	MDT_F_KEY_TRUNCATED = 1 << 3,   /* key_len > MDT_KEY_MAX: key[] and hash cover a prefix */
	MDT_F_KEY_UNREADABLE = 1 << 4,  /* key bytes could not be read: hash is 0 */
	MDT_F_STACK_TRUNCATED = 1 << 5, /* the frame chain went on past MDT_STACK_MAX (or the depth limit) */
	MDT_F_GOID_UNREADABLE = 1 << 6, /* g or g.goid could not be read */
	MDT_F_KEY_CAPTURED = 1 << 7,    /* key[] holds key bytes (capture enabled) */
};

struct mdt_event {
	__u64 ts_ns;     /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 pid;       /* tgid */
	__u32 tid;
	__u64 goid;
	__u64 map_addr;  /* 0 for a nil map */
	__u64 map_type;  /* runtime address of the map's type descriptor */
	__u64 key_hash;  /* FNV-1a 64, see receiver/events/keyhash.ts */
	__s64 map_len;   /* element count when the probe fired (before the operation) */
	__u64 probe_ip;  /* where the probe fired: with plan_id, gives the load address (PIE) */
	__u32 key_len;   /* the key's full size in bytes */
	__u16 flags;     /* enum mdt_event_flags */
	__u8 func_id;    /* index into the attach plan's function list */
	__u8 arg_kind;   /* enum mdt_arg_kind */
	__u16 stack_len; /* valid entries in stack[] */
	__u16 key_bytes; /* valid bytes in key[] (0 unless capture is on) */
	__u32 plan_id;   /* which binary's plan attached this probe (from the cookie) */
	__u8 trace_id[16]; /* the OpenTelemetry span active on the goroutine (span_state != NONE) */
	__u8 span_id[8];
	__u8 span_state;   /* enum mdt_span_state */
	__u8 span_flags;   /* the span's W3C trace flags (bit 0: sampled) */
	__u8 _pad[6];
	__u64 stack[MDT_STACK_MAX];
	__u8 key[MDT_KEY_MAX];
};

enum mdt_span_state {
	MDT_SPAN_NONE = 0,      /* no tracked span was active on the goroutine */
	MDT_SPAN_OWN = 1,       /* started on this goroutine */
	MDT_SPAN_INHERITED = 2, /* open on the creating goroutine when this one was created */
};

/*
 * Where the span-tracking probes find things, per plan (binary), in the otel_plans array map:
 * byte offsets from a *recordingSpan of the SDK's span context members and endTime, and from a
 * runtime.g of goid and parentGoid (0: unknown, no inheritance).
 */
struct mdt_otel_plan {
	__u16 trace_id_off;
	__u16 span_id_off;
	__u16 flags_off;
	__u16 end_time_off;
	__u16 goid_off;
	__u16 parent_goid_off;
	__u32 enabled;
};

/* Indices of the per-CPU counters in the `stats` array map. */
enum mdt_stat {
	MDT_STAT_HITS = 0,      /* probe hits */
	MDT_STAT_EMITTED = 1,   /* records committed to the ring buffer */
	MDT_STAT_LOST = 2,      /* records dropped because the ring buffer was full */
	MDT_STAT_FILTERED = 3,  /* hits dropped by the in-kernel key filter */
	MDT_STAT_UNSAMPLED = 4, /* hits not recorded because sampling left them out */
	MDT_STAT_SPAN_STARTS = 5,  /* span-start probe hits */
	MDT_STAT_SPAN_ENDS = 6,    /* span-end probe hits */
	MDT_STAT_INHERITS = 7,     /* goroutines created with spans open on their creator */
	MDT_STAT_CORRELATED = 8,   /* records that carry an active span */
	MDT_STAT_SPAN_OVERFLOW = 9, /* spans pushed onto a full per-goroutine stack (outermost dropped) */
	MDT_STAT_COUNTER_FULL = 10, /* deletes not counted by label: the counts table was full */
	MDT_STAT__COUNT = 11,
};

/*
 * Sampling keep-filters match link-time addresses (map type descriptors, caller return
 * addresses) of one plan (binary): the program computes the process's load bias from where the
 * probe fired, so one entry serves every process of the binary, PIE or not.
 */
#define MDT_FUNC_SLOTS 16   /* probe_vaddrs holds MDT_FUNC_SLOTS entries per plan */
#define MDT_MAX_PLANS 256

enum mdt_keep_kind {
	MDT_KEEP_MAP_TYPE = 1,
	MDT_KEEP_CALLER = 2,
};

struct mdt_keep_addr {
	__u32 plan_id;
	__u32 kind;      /* enum mdt_keep_kind */
	__u64 link_addr;
};

/*
 * Exact counters (metrics mode, counters.h): read by user space, never sent through the ring
 * buffer. Addresses are link-time (the load bias removed in the kernel), so one row names the
 * same map type and call site in every process of a binary.
 */
enum mdt_op {
	MDT_OP_DELETE = 0,
	MDT_OP_CLEAR = 1,
};

struct mdt_count_key {
	__u32 pid;
	__u16 plan_id;
	__u8 op;        /* enum mdt_op */
	__u8 func_id;
	__u64 map_type; /* link-time address of the map's type descriptor (0: unknown) */
	__u64 caller;   /* link-time return address into the delete statement's function */
};

/* Per map, for the hottest maps (LRU): keyed by process and the map's runtime address. */
struct mdt_map_key {
	__u32 pid;
	__u32 _pad;
	__u64 map_addr;
};

struct mdt_map_activity {
	__u64 deletes;
	__u64 clears;
	__u64 map_type;       /* link-time address of the map's type descriptor (0: unknown) */
	__s64 last_len;       /* element count at the latest delete/clear, before it; -1 unreadable */
	__s64 max_clear_len;  /* largest element count seen at a clear, before it; -1 none */
	__u64 last_seen;      /* bpf_jiffies64() at the latest (orders maps by recency; a clock read costs 20 ns) */
	__u32 plan_id;
	__u32 _pad;
};

/* Per key hash (LRU), only when key counting is on. */
struct mdt_key_key {
	__u32 pid;
	__u32 plan_id;
	__u64 key_hash;
};

struct mdt_key_activity {
	__u64 deletes;
	__u64 map_type; /* link-time type address of the latest map the key was deleted from */
};

#define MDT_DURATION_BUCKETS 40 /* log2(ns) buckets per op: 1 ns .. ~550 s */

#endif /* MDT_EVENT_H */
