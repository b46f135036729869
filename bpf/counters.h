/* SPDX-License-Identifier: (Apache-2.0 OR BSD-2-Clause) */
/*
 * Exact counts for metrics and alert rules (issue 5), updated by the delete probe before any
 * filtering or sampling, so every delete and clear is counted whatever reaches the ring buffer.
 * Included once by map_delete.bpf.c. User space reads these maps on scrape.
 */
#ifndef MDT_COUNTERS_H
#define MDT_COUNTERS_H

const volatile __u8 counting_on = 0;    /* exact per-label counts and per-map activity */
const volatile __u8 key_counting_on = 0; /* per-key-hash activity (a key-grouped alert rule) */
const volatile __u8 timing_on = 0;      /* delete durations: entry time here, RET probes in mdt_delete_ret */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mdt_count_key);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct mdt_map_key);
	__type(value, struct mdt_map_activity);
} map_activity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mdt_key_key);
	__type(value, struct mdt_key_activity);
} key_activity SEC(".maps");

/* Entry time per thread (a runtime map function neither blocks nor is preempted asynchronously). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} delete_start SEC(".maps");

/* [op * MDT_DURATION_BUCKETS + log2(ns)] counts; then per op the sum of ns at 2 * MDT_DURATION_BUCKETS + op. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * MDT_DURATION_BUCKETS + 2);
	__type(key, __u32);
	__type(value, __u64);
} durations SEC(".maps");

/* Bytes waiting in the ring buffer, as the latest probe saw them (a level, not a counter). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rb_level SEC(".maps");

static __always_inline void count_delete(struct pt_regs *ctx, __u64 cookie, __u32 kind, __u64 map_type,
					 __u64 map_addr, __u64 hash, __u16 flags, struct site_reads *site)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u32 plan = MDT_COOKIE_PLAN(cookie);
	__u32 func = MDT_COOKIE_FUNC(cookie);
	__u8 op = kind == MDT_ARGS_CLEAR ? MDT_OP_CLEAR : MDT_OP_DELETE;
	site_len(map_addr, site);
	__s64 len = site->len;

	/* Link-time addresses, so one row names the same type and site in every process. */
	__u64 bias;
	load_bias(ctx, cookie, &bias);
	__u64 ret = site_ret(ctx, site) ? site->ret : 0;
	struct mdt_count_key ck = {
		.pid = pid,
		.plan_id = plan,
		.op = op,
		.func_id = func,
		.map_type = map_type ? map_type - bias : 0,
		.caller = ret ? ret - bias : 0,
	};
	__u64 *n = bpf_map_lookup_elem(&counts, &ck);
	if (!n) {
		__u64 zero = 0;
		bpf_map_update_elem(&counts, &ck, &zero, BPF_NOEXIST);
		n = bpf_map_lookup_elem(&counts, &ck);
	}
	if (n)
		*n += 1;
	else
		count(MDT_STAT_COUNTER_FULL);

	if (map_addr) {
		struct mdt_map_key mk = { .pid = pid, .map_addr = map_addr };
		struct mdt_map_activity *a = bpf_map_lookup_elem(&map_activity, &mk);
		if (!a) {
			struct mdt_map_activity fresh = { .map_type = ck.map_type, .last_len = -1, .max_clear_len = -1, .plan_id = plan };
			bpf_map_update_elem(&map_activity, &mk, &fresh, BPF_NOEXIST);
			a = bpf_map_lookup_elem(&map_activity, &mk);
		}
		if (a) {
			/* Deletes from one map on two CPUs at once are rare (Go maps need a lock), but possible. */
			if (op == MDT_OP_CLEAR) {
				__sync_fetch_and_add(&a->clears, 1);
				if (len > a->max_clear_len)
					a->max_clear_len = len;
			} else {
				__sync_fetch_and_add(&a->deletes, 1);
			}
			a->last_len = len;
			a->last_seen = bpf_jiffies64();
			a->map_type = ck.map_type;
		}
	}

	if (key_counting_on && op == MDT_OP_DELETE && !(flags & MDT_F_KEY_UNREADABLE)) {
		struct mdt_key_key kk = { .pid = pid, .plan_id = plan, .key_hash = hash };
		struct mdt_key_activity *k = bpf_map_lookup_elem(&key_activity, &kk);
		if (!k) {
			struct mdt_key_activity fresh = {};
			bpf_map_update_elem(&key_activity, &kk, &fresh, BPF_NOEXIST);
			k = bpf_map_lookup_elem(&key_activity, &kk);
		}
		if (k) {
			__sync_fetch_and_add(&k->deletes, 1);
			k->map_type = ck.map_type;
		}
	}
}

static __always_inline void timing_start(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();
	bpf_map_update_elem(&delete_start, &tid, &now, BPF_ANY);
}

/* A RET instruction of a probed map function (cookie as the entry's): duration into log2 buckets. */
SEC("uprobe")
int mdt_delete_ret(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *t0 = bpf_map_lookup_elem(&delete_start, &tid);
	if (!t0)
		return 0;
	__u64 ns = bpf_ktime_get_ns() - *t0;
	bpf_map_delete_elem(&delete_start, &tid);
	__u32 op = MDT_COOKIE_KIND(cookie) == MDT_ARGS_CLEAR ? MDT_OP_CLEAR : MDT_OP_DELETE;
	__u32 b = 0;
	for (int i = 0; i < MDT_DURATION_BUCKETS - 1; i++) {
		if ((ns >> (i + 1)) == 0)
			break;
		b = i + 1;
	}
	__u32 idx = op * MDT_DURATION_BUCKETS + b;
	__u64 *c = bpf_map_lookup_elem(&durations, &idx);
	if (c)
		*c += 1;
	idx = 2 * MDT_DURATION_BUCKETS + op;
	c = bpf_map_lookup_elem(&durations, &idx);
	if (c)
		*c += ns;
	return 0;
}

#endif /* MDT_COUNTERS_H */
