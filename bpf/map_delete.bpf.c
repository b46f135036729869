// SPDX-License-Identifier: (Apache-2.0 OR BSD-2-Clause)
/*
 * One uprobe program for every Go map-delete entry point (and, in span_track.h, the probes that
 * follow the OpenTelemetry SDK's active spans). The attach cookie says how the
 * function takes its arguments and where g.goid lives, so the program needs no per-process
 * lookups. It reads only target memory (bpf_probe_read_user), never writes it.
 *
 * The probe sits before the function's frame is set up (see receiver/golang/prologue.ts):
 * RSP points at the return address into the caller, RBP is still the caller's frame pointer,
 * R14 is g and the argument registers hold the call's arguments.
 */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>

#include "mdt_event.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Load-time settings, written by user space before load. */
const volatile __u8 capture_keys = 0;      /* copy key bytes into records */
const volatile __u8 key_filter_on = 0;     /* only keys whose hash is in key_filter */
const volatile __u32 stack_depth = 16;     /* return addresses to collect, <= MDT_STACK_MAX */
const volatile __u64 wakeup_bytes = 65536; /* wake the reader once this much is queued */
const volatile __u8 sampling_on = 0;       /* record only a sample of deletes (plus keep-filter matches) */
const volatile __u32 sample_threshold = 0; /* recorded when bpf_get_prandom_u32() < threshold */

#define FNV64_OFFSET 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x100000001b3ULL
#define GO_KIND_STRING 24
#define GO_KIND_MASK 0x1f
#define GO_TYPE_KIND_OFF 23
#define GO_MAPTYPE_KEY_OFF 48
/* A record's footprint in the ring: the kernel's 8-byte header, the record, 8-byte aligned. */
#define MDT_RB_RECORD_BYTES ((8 + sizeof(struct mdt_event) + 7) & ~7ULL)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MDT_STAT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, __u8);
} key_filter SEC(".maps");

/* Sampling keep-filters: key hashes, and (plan, link-time address) of map types and callers. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} keep_keys SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mdt_keep_addr);
	__type(value, __u8);
} keep_addrs SEC(".maps");

/* Link-time address of each probe, by plan_id * MDT_FUNC_SLOTS + func_id: gives the load bias. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MDT_MAX_PLANS * MDT_FUNC_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} probe_vaddrs SEC(".maps");

/* Key bytes are read here first so a filtered-out key costs no ring-buffer space. */
struct key_scratch {
	__u8 buf[MDT_KEY_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct key_scratch);
} scratch SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);
	if (v)
		*v += 1;
}

static __always_inline __u64 fnv1a(const __u8 *buf, __u32 n, __u64 full_len)
{
	__u64 h = FNV64_OFFSET;
	for (__u32 i = 0; i < MDT_KEY_MAX; i++) {
		if (i >= n)
			break;
		h ^= buf[i];
		h *= FNV64_PRIME;
	}
	/* Keys longer than what we read are told apart by their length too. */
	if (full_len > MDT_KEY_MAX) {
		for (int i = 0; i < 8; i++) {
			h ^= (full_len >> (8 * i)) & 0xff;
			h *= FNV64_PRIME;
		}
	}
	return h;
}

/* Read `len` bytes (clamped to MDT_KEY_MAX) from user address `src`; returns bytes read or -1. */
static __always_inline int read_key(__u8 *dst, __u64 src, __u64 len)
{
	__u32 n = len > MDT_KEY_MAX ? MDT_KEY_MAX : (__u32)len;
	if (n == 0)
		return 0;
	if (bpf_probe_read_user(dst, n & (MDT_KEY_MAX * 2 - 1), (const void *)src) < 0)
		return -1;
	return n;
}

#include "span_track.h"

/*
 * What several steps of one probe hit need from the target (keep-filters, counters, the
 * record), read at most once each.
 */
struct site_reads {
	__u64 ret;    /* the return address at [RSP]: the delete statement's call site */
	__s64 len;    /* the map's element count before the operation */
	__u8 ret_read; /* 1: read, 2: unreadable */
	__u8 len_read;
};

static __always_inline int site_ret(struct pt_regs *ctx, struct site_reads *r)
{
	if (!r->ret_read)
		r->ret_read = bpf_probe_read_user(&r->ret, 8, (const void *)ctx->rsp) < 0 ? 2 : 1;
	return r->ret_read == 1;
}

static __always_inline int site_len(__u64 map_addr, struct site_reads *r)
{
	if (!r->len_read) {
		r->len = 0; /* a nil map is empty */
		r->len_read = map_addr && bpf_probe_read_user(&r->len, 8, (const void *)map_addr) < 0 ? 2 : 1;
		if (r->len_read == 2)
			r->len = -1;
	}
	return r->len_read == 1;
}

/*
 * The process's load bias (runtime minus link-time address), from where this probe fired and
 * the plan's probe address: keep-filters and counters match link-time addresses, so one entry
 * serves every process of a binary, PIE or not. 0 when the plan did not record its probes.
 */
static __always_inline int load_bias(struct pt_regs *ctx, __u64 cookie, __u64 *bias)
{
	__u32 plan = MDT_COOKIE_PLAN(cookie);
	__u32 func = MDT_COOKIE_FUNC(cookie);
	*bias = 0;
	if (plan >= MDT_MAX_PLANS || func >= MDT_FUNC_SLOTS)
		return 0;
	__u32 slot = plan * MDT_FUNC_SLOTS + func;
	__u64 *vaddr = bpf_map_lookup_elem(&probe_vaddrs, &slot);
	if (!vaddr || !*vaddr)
		return 0;
	*bias = ctx->rip - *vaddr;
	return 1;
}

/* Left out by sampling, but matching a keep-filter: the key, the map type or the caller. */
static __always_inline int kept_anyway(struct pt_regs *ctx, __u64 cookie, __u32 kind, __u16 flags,
				       __u64 hash, __u64 map_type, struct site_reads *site)
{
	if (kind != MDT_ARGS_CLEAR && !(flags & MDT_F_KEY_UNREADABLE) && bpf_map_lookup_elem(&keep_keys, &hash))
		return 1;
	__u64 bias;
	if (!load_bias(ctx, cookie, &bias))
		return 0;
	struct mdt_keep_addr k = { .plan_id = MDT_COOKIE_PLAN(cookie), .kind = MDT_KEEP_MAP_TYPE, .link_addr = map_type - bias };
	if (map_type && bpf_map_lookup_elem(&keep_addrs, &k))
		return 1;
	if (!site_ret(ctx, site))
		return 0;
	k.kind = MDT_KEEP_CALLER;
	k.link_addr = site->ret - bias;
	return bpf_map_lookup_elem(&keep_addrs, &k) != 0;
}

/* Reads the deleted key into ks->buf (*n bytes of *key_len) and returns its hash (0: unreadable). */
static __always_inline __u64 read_and_hash_key(struct pt_regs *ctx, __u32 kind, __u64 map_type,
					       struct key_scratch *ks, int *n, __u64 *key_len, __u16 *flags)
{
	__u64 hash;
	switch (kind) {
	case MDT_ARGS_KEY32: {
		__u32 v = (__u32)ctx->rcx;
		__builtin_memcpy(ks->buf, &v, 4);
		*n = 4;
		*key_len = 4;
		break;
	}
	case MDT_ARGS_KEY64: {
		__u64 v = ctx->rcx;
		__builtin_memcpy(ks->buf, &v, 8);
		*n = 8;
		*key_len = 8;
		break;
	}
	case MDT_ARGS_KEYSTR:
		*flags |= MDT_F_KEY_STRING;
		*key_len = ctx->rdi;
		*n = read_key(ks->buf, ctx->rcx, *key_len);
		break;
	case MDT_ARGS_KEYPTR: {
		/* The key's size and kind come from the map type: maptype.Key -> Type.Size_, Kind_. */
		__u64 key_type = 0;
		__u8 key_kind = 0;
		if (bpf_probe_read_user(&key_type, 8, (const void *)(map_type + GO_MAPTYPE_KEY_OFF)) < 0 ||
		    bpf_probe_read_user(key_len, 8, (const void *)key_type) < 0 ||
		    bpf_probe_read_user(&key_kind, 1, (const void *)(key_type + GO_TYPE_KIND_OFF)) < 0) {
			*n = -1;
			break;
		}
		if ((key_kind & GO_KIND_MASK) == GO_KIND_STRING) {
			/* Hash the string's bytes, as mapdelete_faststr does, so one key has one hash. */
			__u64 hdr[2];
			if (bpf_probe_read_user(hdr, sizeof(hdr), (const void *)ctx->rcx) < 0) {
				*n = -1;
				break;
			}
			*flags |= MDT_F_KEY_STRING;
			*key_len = hdr[1];
			*n = read_key(ks->buf, hdr[0], *key_len);
		} else {
			*n = read_key(ks->buf, ctx->rcx, *key_len);
		}
		break;
	}
	}

	if (*n < 0) {
		*flags |= MDT_F_KEY_UNREADABLE;
		*n = 0;
		hash = 0;
	} else {
		hash = fnv1a(ks->buf, *n, *key_len);
	}
	if (*key_len > MDT_KEY_MAX)
		*flags |= MDT_F_KEY_TRUNCATED;
	return hash;
}

#include "counters.h"

const volatile __u8 keep_clears = 0; /* sampling never leaves out a clear (alert rules look at every one) */
const volatile __u8 events_on = 1;   /* 0: counters only (metrics mode), nothing enters the ring buffer */

static __always_inline int delete_body(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 kind = MDT_COOKIE_KIND(cookie);
	__u32 goid_off = MDT_COOKIE_GOID_OFF(cookie);
	__u64 map_type = ctx->rax;
	__u64 map_addr = ctx->rbx;
	__u64 key_len = 0;
	__u16 flags = 0;
	__u32 zero = 0;
	struct site_reads site = {};
	int n = 0;

	count(MDT_STAT_HITS);

	if (kind < MDT_ARGS_KEYPTR || kind > MDT_ARGS_CLEAR)
		return 0;
	struct key_scratch *ks = bpf_map_lookup_elem(&scratch, &zero);
	if (!ks)
		return 0;

	/*
	 * The key's hash serves records, key filters and per-key counters; counting alone does
	 * not need it, and reading and hashing a string key is about 45 ns of the 200 counting costs.
	 */
	__u64 hash = 0;
	if (kind != MDT_ARGS_CLEAR && (events_on || key_counting_on))
		hash = read_and_hash_key(ctx, kind, map_type, ks, &n, &key_len, &flags);

	if (counting_on)
		count_delete(ctx, cookie, kind, map_type, map_addr, hash, flags, &site);
	if (!events_on)
		return 0;

	if (key_filter_on) {
		if (kind == MDT_ARGS_CLEAR || (flags & MDT_F_KEY_UNREADABLE) ||
		    !bpf_map_lookup_elem(&key_filter, &hash)) {
			count(MDT_STAT_FILTERED);
			return 0;
		}
	}

	if (sampling_on && !(keep_clears && kind == MDT_ARGS_CLEAR) && bpf_get_prandom_u32() >= sample_threshold &&
	    !kept_anyway(ctx, cookie, kind, flags, hash, map_type, &site)) {
		count(MDT_STAT_UNSAMPLED);
		return 0;
	}

	struct mdt_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(MDT_STAT_LOST);
		return 0;
	}

	__u64 pid_tgid = bpf_get_current_pid_tgid();
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->map_addr = map_addr;
	e->map_type = map_type;
	e->key_hash = hash;
	e->key_len = key_len;
	e->func_id = MDT_COOKIE_FUNC(cookie);
	e->arg_kind = kind;
	e->probe_ip = ctx->rip;
	e->plan_id = MDT_COOKIE_PLAN(cookie);

	e->goid = 0;
	if (bpf_probe_read_user(&e->goid, 8, (const void *)(ctx->r14 + goid_off)) < 0)
		flags |= MDT_F_GOID_UNREADABLE;
	e->span_state = MDT_SPAN_NONE;
	if ((cookie & MDT_COOKIE_CORRELATE) && !(flags & MDT_F_GOID_UNREADABLE))
		active_span(e, cookie);

	if (!map_addr)
		flags |= MDT_F_NIL_MAP;
	if (!site_len(map_addr, &site))
		flags |= MDT_F_LEN_UNKNOWN;
	e->map_len = site.len;

	e->key_bytes = 0;
	if (capture_keys && kind != MDT_ARGS_CLEAR && n > 0) {
		__builtin_memcpy(e->key, ks->buf, MDT_KEY_MAX);
		e->key_bytes = n;
		flags |= MDT_F_KEY_CAPTURED;
	}

	/*
	 * Stack: the return address at [RSP] is the direct caller (a frame-pointer walk from here
	 * would miss it); then the frame-pointer chain starting at the caller's RBP.
	 */
	__u32 depth = stack_depth > MDT_STACK_MAX ? MDT_STACK_MAX : stack_depth;
	__u16 len = 0;
	if (site_ret(ctx, &site) && site.ret) {
		e->stack[0] = site.ret;
		len = 1;
		__u64 fp = ctx->rbp;
		for (__u32 i = 1; i < MDT_STACK_MAX; i++) {
			__u64 frame[2]; /* saved RBP, return address */
			if (i >= depth) {
				if (fp)
					flags |= MDT_F_STACK_TRUNCATED;
				break;
			}
			if (!fp || bpf_probe_read_user(frame, sizeof(frame), (const void *)fp) < 0 || !frame[1])
				break;
			e->stack[i] = frame[1];
			len = i + 1;
			/* Frames grow toward higher addresses; anything else is not a sane chain. */
			if (frame[0] <= fp)
				break;
			fp = frame[0];
		}
	}
	e->stack_len = len;
	e->flags = flags;

	/*
	 * Batch wakeups: a wakeup is a self-interrupt (irq_work) that costs more than the record,
	 * so only the record that takes the queue past wakeup_bytes wakes the reader. While the
	 * reader is behind it is awake and reading anyway; a crossing missed when two CPUs submit
	 * at once is picked up by the reader's poll timeout.
	 */
	__u64 queued = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	int crossed = queued >= wakeup_bytes && queued < wakeup_bytes + MDT_RB_RECORD_BYTES;
	bpf_ringbuf_submit(e, crossed ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	count(MDT_STAT_EMITTED);
	if (counting_on) {
		__u64 *level = bpf_map_lookup_elem(&rb_level, &zero);
		if (level)
			*level = queued;
	}
	return 0;
}

SEC("uprobe")
int mdt_delete(struct pt_regs *ctx)
{
	delete_body(ctx);
	/* Last, so a measured duration leaves out most of this program's own time. */
	if (timing_on)
		timing_start();
	return 0;
}

/* The floor for benchmarks (npm run bench): a uprobe that does nothing, on the same instruction. */
SEC("uprobe")
int mdt_noop(struct pt_regs *ctx)
{
	return 0;
}
