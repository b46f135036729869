/* SPDX-License-Identifier: (Apache-2.0 OR BSD-2-Clause) */
/*
 * Which OpenTelemetry Go SDK span is active on which goroutine (docs/design/correlation.md §5–6).
 * Included once by map_delete.bpf.c: one BPF object, so the delete probe and the span probes
 * share these maps.
 *
 * Per goroutine, keyed by (tgid, goid) — never by g pointer, which the runtime reuses — a small
 * stack of spans: span start pushes, span end pops, a new goroutine gets a copy of its creator's
 * stack. Nothing here trusts the stack blindly: before an entry is used its span is read back
 * from the target (endTime still zero, span id unchanged), so an End we did not see, an End on
 * another goroutine or a span whose memory was reused cannot leave a stale attribution.
 * Each stack is written only by its own goroutine, or by its creator before it first runs.
 */
#ifndef MDT_SPAN_TRACK_H
#define MDT_SPAN_TRACK_H

#define MDT_SPAN_DEPTH 8

struct span_ent {
	__u64 span; /* *recordingSpan; 0 once ended out of order */
	__u8 trace_id[16];
	__u8 span_id[8];
	__u8 flags;
	__u8 inherited;
	__u8 _pad[6];
};

struct span_stack {
	__u32 depth;
	__u32 _pad;
	struct span_ent ent[MDT_SPAN_DEPTH];
};

struct goroutine_key {
	__u32 tgid;
	__u32 _pad;
	__u64 goid;
};

/*
 * Stacks of goroutines that exited are never touched again, so the LRU evicts them first.
 * 16 384 stacks × 328 bytes ≈ 5 MiB: more goroutines with spans open at one instant than a host
 * runs.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct span_stack);
} span_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MDT_MAX_PLANS);
	__type(key, __u32);
	__type(value, struct mdt_otel_plan);
} otel_plans SEC(".maps");

/* A stack built off the BPF stack (it is 328 bytes): new stacks and inherited copies. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct span_stack);
} stack_scratch SEC(".maps");

static __always_inline struct mdt_otel_plan *otel_plan(__u64 cookie)
{
	__u32 plan = MDT_COOKIE_PLAN(cookie);
	struct mdt_otel_plan *p = bpf_map_lookup_elem(&otel_plans, &plan);
	return p && p->enabled ? p : 0;
}

/* The span is still the one we pushed and has not ended. */
static __always_inline int span_alive(const struct span_ent *e, const struct mdt_otel_plan *p)
{
	__u64 end[2];   /* time.Time wall, ext: both zero until End sets it */
	__u8 id[8];
	if (!e->span)
		return 0;
	if (bpf_probe_read_user(end, sizeof(end), (const void *)(e->span + p->end_time_off)) < 0 ||
	    bpf_probe_read_user(id, sizeof(id), (const void *)(e->span + p->span_id_off)) < 0)
		return 0;
	if (end[0] | end[1])
		return 0;
	return __builtin_memcmp(id, e->span_id, sizeof(id)) == 0;
}

/* Pops dead entries off the top; returns the live top entry, or 0 (the stack is then empty). */
static __always_inline struct span_ent *live_top(struct span_stack *st, const struct mdt_otel_plan *p)
{
	for (int i = 0; i < MDT_SPAN_DEPTH; i++) {
		__u32 d = st->depth;
		if (d == 0 || d > MDT_SPAN_DEPTH)
			break;
		struct span_ent *top = &st->ent[(d - 1) & (MDT_SPAN_DEPTH - 1)];
		if (span_alive(top, p))
			return top;
		st->depth = d - 1;
	}
	if (st->depth > MDT_SPAN_DEPTH)
		st->depth = 0;
	return 0;
}

/* The delete probe's question: the live span on this goroutine, filled into the record. */
static __always_inline void active_span(struct mdt_event *e, __u64 cookie)
{
	struct goroutine_key k = { .tgid = e->pid, .goid = e->goid };
	e->span_state = MDT_SPAN_NONE;
	struct span_stack *st = bpf_map_lookup_elem(&span_stacks, &k);
	if (!st)
		return;
	struct mdt_otel_plan *p = otel_plan(cookie);
	if (!p)
		return;
	struct span_ent *top = live_top(st, p);
	if (!top)
		return;
	__builtin_memcpy(e->trace_id, top->trace_id, sizeof(e->trace_id));
	__builtin_memcpy(e->span_id, top->span_id, sizeof(e->span_id));
	e->span_flags = top->flags;
	e->span_state = top->inherited ? MDT_SPAN_INHERITED : MDT_SPAN_OWN;
	count(MDT_STAT_CORRELATED);
}

/* Entry of (*recordingSpan).runtimeTrace: RAX = the new span, R14 = the goroutine that started it. */
SEC("uprobe")
int mdt_span_start(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u64 span = ctx->rax;
	__u32 zero = 0;
	struct goroutine_key k = { .tgid = bpf_get_current_pid_tgid() >> 32 };

	count(MDT_STAT_SPAN_STARTS);
	struct mdt_otel_plan *p = otel_plan(cookie);
	if (!p || !span)
		return 0;
	if (bpf_probe_read_user(&k.goid, 8, (const void *)(ctx->r14 + MDT_COOKIE_GOID_OFF(cookie))) < 0)
		return 0;

	struct span_ent ne = { .span = span };
	if (bpf_probe_read_user(ne.trace_id, sizeof(ne.trace_id), (const void *)(span + p->trace_id_off)) < 0 ||
	    bpf_probe_read_user(ne.span_id, sizeof(ne.span_id), (const void *)(span + p->span_id_off)) < 0 ||
	    bpf_probe_read_user(&ne.flags, 1, (const void *)(span + p->flags_off)) < 0)
		return 0;

	struct span_stack *st = bpf_map_lookup_elem(&span_stacks, &k);
	if (!st) {
		struct span_stack *fresh = bpf_map_lookup_elem(&stack_scratch, &zero);
		if (!fresh)
			return 0;
		fresh->depth = 0;
		bpf_map_update_elem(&span_stacks, &k, fresh, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&span_stacks, &k);
		if (!st)
			return 0;
	} else {
		live_top(st, p);
	}

	__u32 d = st->depth;
	if (d >= MDT_SPAN_DEPTH) {
		/* Drop the outermost: once the inner spans end, deletes go uncorrelated, never to a wrong span. */
		for (int i = 0; i < MDT_SPAN_DEPTH - 1; i++)
			st->ent[i] = st->ent[i + 1];
		d = MDT_SPAN_DEPTH - 1;
		count(MDT_STAT_SPAN_OVERFLOW);
	}
	st->ent[d & (MDT_SPAN_DEPTH - 1)] = ne;
	st->depth = d + 1;
	return 0;
}

/* Entry of (*recordingSpan).End: RAX = the span, R14 = the goroutine ending it. */
SEC("uprobe")
int mdt_span_end(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u64 span = ctx->rax;
	struct goroutine_key k = { .tgid = bpf_get_current_pid_tgid() >> 32 };

	count(MDT_STAT_SPAN_ENDS);
	if (!span || bpf_probe_read_user(&k.goid, 8, (const void *)(ctx->r14 + MDT_COOKIE_GOID_OFF(cookie))) < 0)
		return 0;
	struct span_stack *st = bpf_map_lookup_elem(&span_stacks, &k);
	if (!st)
		return 0;
	/* Ended on another goroutine than its starter: not here; the owner finds it dead later. */
	__u32 d = st->depth;
	for (int i = MDT_SPAN_DEPTH - 1; i >= 0; i--) {
		if ((__u32)i >= d)
			continue;
		if (st->ent[i].span == span) {
			st->ent[i].span = 0;
			break;
		}
	}
	/* Pop what has ended from the top (End of the innermost span is the common case). */
	for (int i = 0; i < MDT_SPAN_DEPTH; i++) {
		d = st->depth;
		if (d == 0 || d > MDT_SPAN_DEPTH || st->ent[(d - 1) & (MDT_SPAN_DEPTH - 1)].span)
			break;
		st->depth = d - 1;
	}
	if (st->depth == 0)
		bpf_map_delete_elem(&span_stacks, &k);
	return 0;
}

/*
 * A goroutine was created (the cookie's kind says where the new g is). If its creator has
 * spans open, the new goroutine starts with a copy of them, marked inherited: a copy, so the
 * child keeps the outer spans when an inner one ends; liveness is checked at use.
 */
SEC("uprobe")
int mdt_goroutine_created(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	/* Read both registers before choosing: the verifier refuses a context access at a computed offset. */
	__u64 rax = ctx->rax, rbx = ctx->rbx;
	asm volatile("" : "+r"(rax), "+r"(rbx));
	__u64 newg = MDT_COOKIE_KIND(cookie) == MDT_NEWG_RAX ? rax : rbx;
	__u32 zero = 0;

	struct mdt_otel_plan *p = otel_plan(cookie);
	if (!p || !p->parent_goid_off || !newg)
		return 0;
	struct goroutine_key parent = { .tgid = bpf_get_current_pid_tgid() >> 32 };
	if (bpf_probe_read_user(&parent.goid, 8, (const void *)(newg + p->parent_goid_off)) < 0)
		return 0;
	struct span_stack *ps = bpf_map_lookup_elem(&span_stacks, &parent);
	if (!ps || ps->depth == 0)
		return 0;
	struct goroutine_key child = { .tgid = parent.tgid };
	if (bpf_probe_read_user(&child.goid, 8, (const void *)(newg + p->goid_off)) < 0)
		return 0;
	struct span_stack *copy = bpf_map_lookup_elem(&stack_scratch, &zero);
	if (!copy)
		return 0;
	__builtin_memcpy(copy, ps, sizeof(*copy));
	for (int i = 0; i < MDT_SPAN_DEPTH; i++)
		copy->ent[i].inherited = 1;
	bpf_map_update_elem(&span_stacks, &child, copy, BPF_ANY);
	count(MDT_STAT_INHERITS);
	return 0;
}

#endif /* MDT_SPAN_TRACK_H */
