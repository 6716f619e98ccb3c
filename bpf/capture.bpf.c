// SPDX-License-Identifier: GPL-2.0
/*
 * capture.bpf.c: the kernel side of capture. Attached to one cgroup (and so to every cgroup
 * below it), these programs see each connect() and each addressed datagram a workload makes:
 *
 *   connect4/6    TCP to a TLS port -> rewrite to the proxy listener, remember the original
 *                 destination and who asked in socket-local storage. Scope "tls": any
 *                 address (the proxy reads the ClientHello); scope "providers": provider
 *                 addresses only. Any other provider-bound connect (other port, UDP/QUIC)
 *                 -> EPERM, in both scopes.
 *                 The listener is the one of the socket's own network namespace: the daemon
 *                 listens in each namespace it serves (aigw_netns); from any other the
 *                 connect is denied and the event asks the daemon to open one there.
 *   sendmsg4/6    an addressed UDP datagram to a provider -> EPERM.
 *   sockops       at TCP_CONNECT (local port known, SYN not yet sent) copy the record into
 *                 aigw_flows keyed by the client's address:port, where the proxy finds it
 *                 for the connection it accepts (and checks, by socket cookie, that the
 *                 connection is the one that made it); when that socket reaches TCP_CLOSE
 *                 (refused, timed out, reset, disconnected, closed) remove the record, so
 *                 none outlives its connection.
 *   getpeername4/6  a redirected socket reports the provider, not the proxy, as its peer.
 *   cgroup_mkdir/rename  (tracing, not cgroup attachments) the name and parent of each cgroup
 *                 made or renamed under the captured root, by id (aigw_cgroup_names): a
 *                 cgroup removed between connect() and the proxy's accept keeps its path.
 *
 * A connect goes to a listener only when that listener is aigw's own (listener_is_ours():
 * the kernel's socket lookup at the target, compared by socket cookie with the one the daemon
 * configured): a redirect, and a connect to api.listen's address. While the daemon is down,
 * nobody else (any local user binding the port) receives captured connections.
 *
 * Observe mode changes nothing and records every provider-bound attempt. Every redirect,
 * deny and observation is an event in the aigw_events ring buffer. The decision itself is
 * aigw_decide() in capture_decide.h, shared with the tests.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "capture.h"
#include "capture_decide.h"

char LICENSE[] SEC("license") = "GPL";

#define EPERM_VERDICT 0 /* a cgroup sock_addr program returning 0 fails the call with EPERM */
#define ALLOW_VERDICT 1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct aigw_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} aigw_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, AIGW_PROVIDER_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct aigw_lpm4_key);
	__type(value, struct aigw_provider_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} aigw_prov4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, AIGW_PROVIDER_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct aigw_lpm6_key);
	__type(value, struct aigw_provider_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} aigw_prov6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AIGW_FLOWS_MAX);
	__type(key, struct aigw_flow_key);
	__type(value, struct aigw_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} aigw_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AIGW_NETNS_MAX);
	__type(key, __u64); /* netns cookie */
	__type(value, struct aigw_netns_listener);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} aigw_netns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct aigw_sk_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} aigw_sk SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, AIGW_RINGBUF_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} aigw_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AIGW_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} aigw_stats SEC(".maps");

/* Not pinned: each daemon's tracing programs fill their own, and the daemon seeds it with the
 * cgroups that exist when it starts. LRU: a workload that makes cgroups without end evicts
 * names, and a removed cgroup whose name is gone is unknown (its call refused), never another
 * cgroup's: ids are never reused. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AIGW_CGROUP_NAMES_MAX);
	__type(key, __u64);
	__type(value, struct aigw_cgroup_name);
} aigw_cgroup_names SEC(".maps");

extern void *bpf_rdonly_cast(void *obj, __u32 btf_id) __ksym;

/* The cgroup of the daemon that loaded these programs: only its sockets may carry the exempt
 * mark past capture. Read-only data, fixed at load; each daemon loads its own. */
const volatile __u64 aigw_exempt_cgroup_id = 0;
/* The captured cgroup: the tracing programs name only the cgroups below it. */
const volatile __u64 aigw_capture_cgroup_id = 0;

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&aigw_stats, &idx);

	if (v)
		*v += 1;
}

static __always_inline const struct aigw_config *config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&aigw_config, &zero);
}

/* The cgroup the socket belongs to: where it was created, which is not where the task
 * calling connect() is when the descriptor was passed over a UNIX socket. */
static __always_inline __u64 sock_cgroup_id(struct bpf_sock *bsk)
{
	struct sock *sk = bpf_rdonly_cast(bsk, bpf_core_type_id_kernel(struct sock));

	return BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
}

static __always_inline void attr_fill(struct aigw_attr *a, struct bpf_sock_addr *ctx,
				      struct bpf_sock *sk)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	a->pid = pid_tgid >> 32;
	a->tid = (__u32)pid_tgid;
	a->uid = (__u32)uid_gid;
	a->gid = uid_gid >> 32;
	a->task_cgroup_id = bpf_get_current_cgroup_id();
	a->sock_cgroup_id = sock_cgroup_id(sk);
	a->netns_cookie = bpf_get_netns_cookie(ctx);
	bpf_get_current_comm(a->comm, sizeof(a->comm));
}

static __always_inline void event_emit(struct bpf_sock_addr *ctx, struct bpf_sock *sk,
				       struct aigw_decision d, __u8 hook, __u8 proto,
				       const struct aigw_addr *dst, const struct aigw_addr *to,
				       __u32 provider_id)
{
	struct aigw_event *ev = bpf_ringbuf_reserve(&aigw_events, sizeof(*ev), 0);

	if (!ev) {
		/* The verdict stands; userspace reports the count of lost events. */
		stat_inc(AIGW_STAT_EVENT_DROPPED);
		return;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->boot_ns = bpf_ktime_get_boot_ns();
	ev->action = d.action;
	ev->reason = d.reason;
	ev->proto = proto;
	ev->hook = hook;
	ev->provider_id = provider_id;
	ev->orig_dst = *dst;
	if (to)
		ev->redirect_to = *to;
	attr_fill(&ev->attr, ctx, sk);
	ev->sock_cookie = bpf_get_socket_cookie(ctx);
	bpf_ringbuf_submit(ev, 0);
}

/* Records the flow in the socket's storage so that sockops can publish it and getpeername
 * can undo the rewrite. Without storage the redirect still happens: the proxy then finds no
 * flow and refuses the connection (fail closed), and the loss is counted. */
static __always_inline void flow_remember(struct bpf_sock_addr *ctx, struct bpf_sock *sk,
					  const struct aigw_addr *dst, __u32 provider_id)
{
	struct aigw_sk_state *st;

	st = bpf_sk_storage_get(&aigw_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		stat_inc(AIGW_STAT_FLOW_LOST);
		return;
	}
	st->flow.orig_dst = *dst;
	attr_fill(&st->flow.attr, ctx, sk);
	st->flow.sock_cookie = bpf_get_socket_cookie(ctx);
	st->flow.connect_boot_ns = bpf_ktime_get_boot_ns();
	st->flow.provider_id = provider_id;
	st->flags |= AIGW_SK_REDIRECTED;
}

/* Datagram events once per socket: a QUIC client retrying must not flood the ring. */
static __always_inline int udp_first_report(struct bpf_sock *sk)
{
	struct aigw_sk_state *st;

	st = bpf_sk_storage_get(&aigw_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return 1;
	if (st->flags & AIGW_SK_REPORTED)
		return 0;
	st->flags |= AIGW_SK_REPORTED;
	return 1;
}

static __always_inline void addr_set4(struct aigw_addr *a, __u32 ip, __u16 port)
{
	a->family = AIGW_AF_INET;
	a->port = port;
	__builtin_memcpy(a->addr, &ip, 4);
}

static __always_inline void addr_set6(struct aigw_addr *a, const __u32 ip[4], __u16 port)
{
	a->family = AIGW_AF_INET6;
	a->port = port;
	__builtin_memcpy(a->addr, ip, 16);
}

/* The cookie of a socket the kernel's lookup returned: set once userspace asked for it
 * (SO_COOKIE), as aigw does for its listeners; 0 for a socket nobody asked about. */
static __always_inline __u64 sock_cookie_of(struct bpf_sock *bsk)
{
	struct sock *sk = bpf_rdonly_cast(bsk, bpf_core_type_id_kernel(struct sock));

	return BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
}

/*
 * Is the socket that a TCP connection to ADDR:PORT (FAMILY AIGW_AF_INET or _INET6, network
 * order) from this socket's network namespace would reach a listener whose cookie is COOKIE?
 * The kernel's own lookup answers (the one a SYN makes, with no source given: the listener,
 * never an established socket), so a listener bound to the same port by anyone else, or
 * none at all (the daemon is down), is not ours. COOKIE 0: not configured, never ours.
 * The one check of every connect that may land at aigw, so that nobody else ever receives
 * it; another netns's listener is checked the same way from that namespace's sockets.
 */
static __always_inline int listener_is_ours(struct bpf_sock_addr *ctx, __u8 family,
					    const __u8 addr[16], __u16 port, __u64 cookie)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *l;
	int ours;

	if (!cookie)
		return 0;
	if (family == AIGW_AF_INET) {
		__builtin_memcpy(&t.ipv4.daddr, addr, 4);
		t.ipv4.dport = port;
		l = bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	} else {
		__builtin_memcpy(t.ipv6.daddr, addr, 16);
		t.ipv6.dport = port;
		l = bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv6), BPF_F_CURRENT_NETNS, 0);
	}
	if (!l)
		return 0;
	ours = l->state == BPF_TCP_LISTEN && sock_cookie_of(l) == cookie;
	bpf_sk_release(l);
	return ours;
}

static __always_inline int stat_and_verdict(struct aigw_decision d)
{
	if (d.action == AIGW_ACTION_DENY) {
		stat_inc(AIGW_STAT_DENY);
		return EPERM_VERDICT;
	}
	if (d.action == AIGW_ACTION_OBSERVE)
		stat_inc(AIGW_STAT_OBSERVE);
	else if (d.action == AIGW_ACTION_REDIRECT)
		stat_inc(AIGW_STAT_REDIRECT);
	return ALLOW_VERDICT;
}

/*
 * A redirect lands on 127.0.0.1:PORT (or [::1]) of the socket's own network namespace: only
 * where the daemon listens (an aigw_netns entry with a listener of the family TO_V6 needs) may
 * it happen. Elsewhere nobody, or somebody else, would answer: deny, and the event (its attr
 * carries the pid and the netns cookie) makes the daemon open a listener there. For a
 * redirect that may go on, *RET_COOKIE is that listener's socket cookie (listener_is_ours()).
 */
static __always_inline struct aigw_decision netns_gate(struct bpf_sock_addr *ctx,
						       struct aigw_decision d, int to_v6,
						       __u64 *ret_cookie)
{
	const struct aigw_netns_listener *nl;
	__u64 cookie;

	*ret_cookie = 0;
	if (d.action != AIGW_ACTION_REDIRECT)
		return d;
	cookie = bpf_get_netns_cookie(ctx);
	nl = bpf_map_lookup_elem(&aigw_netns, &cookie);
	if (nl)
		*ret_cookie = to_v6 ? nl->listen6_cookie : nl->listen4_cookie;
	if (!*ret_cookie) {
		d.action = AIGW_ACTION_DENY;
		d.reason = AIGW_REASON_NETNS_NO_LISTENER;
	}
	return d;
}

/*
 * The common path of all four hooks once the destination is known: decide, remember the
 * flow of a redirect, emit the event. TO_V6: a redirect would go to the IPv6 listener.
 * Returns the decision; for a redirect the caller rewrites the address.
 */
static __always_inline struct aigw_decision decide_and_record(struct bpf_sock_addr *ctx,
							      struct bpf_sock *sk, __u8 hook,
							      const struct aigw_addr *dst,
							      __u32 provider_id, int sendmsg,
							      const struct aigw_addr *to, int to_v6)
{
	const struct aigw_config *cfg = config_get();
	struct aigw_decision d = {AIGW_ACTION_DENY, AIGW_REASON_NO_LISTENER};
	__u8 proto = (__u8)ctx->protocol;
	__u32 mark = sk->mark;
	__u64 listener_cookie;
	int exempt = 0;

	/* The cgroup is read only for a socket that carries the mark: the rare case. */
	if (cfg && cfg->exempt_mark && mark == cfg->exempt_mark)
		exempt = aigw_is_exempt(cfg->exempt_mark, aigw_exempt_cgroup_id, mark,
					sock_cgroup_id(sk));
	if (cfg)
		d = aigw_decide(cfg, provider_id != AIGW_PROVIDER_NONE, proto, dst->port, sendmsg,
				exempt, to_v6);
	if (d.action == AIGW_ACTION_NONE)
		return d;
	/* The listener of the socket's namespace, checked there by its own cookie. */
	d = netns_gate(ctx, d, to_v6, &listener_cookie);
	if (d.action == AIGW_ACTION_REDIRECT && cfg &&
	    !listener_is_ours(ctx, to->family, to->addr, to->port, listener_cookie)) {
		d.action = AIGW_ACTION_DENY;
		d.reason = AIGW_REASON_LISTENER_NOT_OURS;
	}
	if (d.action == AIGW_ACTION_REDIRECT)
		flow_remember(ctx, sk, dst, provider_id);
	if (proto != AIGW_PROTO_UDP || udp_first_report(sk))
		event_emit(ctx, sk, d, hook, proto, dst, d.action == AIGW_ACTION_REDIRECT ? to : 0,
			   provider_id);
	return d;
}

/*
 * A TCP connect to api.listen's address (any address on its port when it is a wildcard) goes
 * only to aigw's own listener there: apps send their gateway keys to it. Returns the verdict
 * of a connect that is not (denied, or recorded in observe mode), or -1 when DST is not
 * api.listen's or the listener there is aigw's: the caller goes on.
 */
static __always_inline int api_listen_guard(struct bpf_sock_addr *ctx, struct bpf_sock *sk,
					    __u8 hook, const struct aigw_addr *dst)
{
	const struct aigw_config *cfg = config_get();
	struct aigw_decision d = {AIGW_ACTION_DENY, AIGW_REASON_LISTENER_NOT_OURS};
	__u32 proto = ctx->protocol;

	if (!cfg || proto != AIGW_PROTO_TCP || !aigw_api_listen_matches(&cfg->api, dst))
		return -1;
	if (listener_is_ours(ctx, dst->family, dst->addr, dst->port, cfg->api_cookie))
		return -1;
	if (cfg->mode == AIGW_MODE_OBSERVE)
		d.action = AIGW_ACTION_OBSERVE;
	event_emit(ctx, sk, d, hook, AIGW_PROTO_TCP, dst, 0, AIGW_PROVIDER_NONE);
	return stat_and_verdict(d);
}

static __always_inline struct aigw_provider_val *provider4(__u32 ip)
{
	struct aigw_lpm4_key key = {.prefixlen = 32};

	__builtin_memcpy(key.addr, &ip, 4);
	return bpf_map_lookup_elem(&aigw_prov4, &key);
}

static __always_inline struct aigw_provider_val *provider6(const __u32 ip[4])
{
	struct aigw_lpm6_key key = {.prefixlen = 128};

	__builtin_memcpy(key.addr, ip, 16);
	return bpf_map_lookup_elem(&aigw_prov6, &key);
}

/*
 * Whether a destination that is no provider's address is left alone before anything else is
 * read: all of them under scope "providers", all but TCP to a TLS port under "tls".
 */
static __always_inline int untouched(const struct aigw_config *cfg, __u8 proto, __u16 port)
{
	return !cfg || !aigw_scope_redirects(cfg, proto, port);
}

static __always_inline int hook4(struct bpf_sock_addr *ctx, __u8 hook)
{
	struct bpf_sock *sk = ctx->sk;
	__u32 ip = ctx->user_ip4;
	__u16 port = (__u16)ctx->user_port;
	__u8 proto = (__u8)ctx->protocol;
	const struct aigw_config *cfg;
	struct aigw_provider_val *pv;
	struct aigw_addr dst = {}, to = {};
	struct aigw_decision d;
	int verdict;

	if (!sk)
		return ALLOW_VERDICT;
	addr_set4(&dst, ip, port);
	verdict = api_listen_guard(ctx, sk, hook, &dst);
	if (verdict >= 0)
		return verdict;
	pv = provider4(ip);
	cfg = config_get();
	if (!pv && untouched(cfg, proto, port))
		return ALLOW_VERDICT;
	if (cfg)
		addr_set4(&to, cfg->listen4_addr, cfg->listen4_port);
	d = decide_and_record(ctx, sk, hook, &dst, pv ? pv->provider_id : AIGW_PROVIDER_NONE,
			      hook == AIGW_HOOK_SENDMSG4, &to, 0);
	if (d.action == AIGW_ACTION_REDIRECT && cfg) {
		ctx->user_ip4 = cfg->listen4_addr;
		ctx->user_port = cfg->listen4_port;
	}
	return stat_and_verdict(d);
}

/*
 * An IPv6 hook: native IPv6 destinations go to the IPv6 listener, v4-mapped ones are
 * IPv4 destinations and go to the IPv4 listener, v4-mapped, on this dual-stack socket.
 * A NAT64, 6to4 or IPv4-compatible form of a provider's IPv4 address is that provider: the
 * connection is IPv6 and goes to the IPv6 listener, recorded with the address as dialled.
 */
static __always_inline int hook6(struct bpf_sock_addr *ctx, __u8 hook)
{
	struct bpf_sock *sk = ctx->sk;
	__u32 ip[4], ip4 = 0;
	__u16 port = (__u16)ctx->user_port;
	__u8 proto = (__u8)ctx->protocol;
	const struct aigw_config *cfg;
	struct aigw_provider_val *pv;
	struct aigw_addr dst = {}, to = {};
	struct aigw_decision d;
	int form, mapped, verdict;

	if (!sk)
		return ALLOW_VERDICT;
	ip[0] = ctx->user_ip6[0];
	ip[1] = ctx->user_ip6[1];
	ip[2] = ctx->user_ip6[2];
	ip[3] = ctx->user_ip6[3];
	form = aigw_v6_embedded_v4(ip, &ip4);
	mapped = form == AIGW_V4_MAPPED;
	if (mapped)
		addr_set4(&dst, ip4, port);
	else
		addr_set6(&dst, ip, port);
	verdict = api_listen_guard(ctx, sk, hook, &dst);
	if (verdict >= 0)
		return verdict;
	if (mapped) {
		pv = provider4(ip4);
	} else {
		/* A provider's own IPv6 prefix first: 2002::/16 may be one. */
		pv = provider6(ip);
		if (!pv && form != AIGW_V4_NONE)
			pv = provider4(ip4);
	}
	cfg = config_get();
	if (!pv && untouched(cfg, proto, port))
		return ALLOW_VERDICT;
	if (cfg && mapped)
		addr_set4(&to, cfg->listen4_addr, cfg->listen4_port);
	else if (cfg)
		addr_set6(&to, (const __u32 *)cfg->listen6_addr, cfg->listen6_port);
	/* A v4-mapped destination is redirected to the IPv4 listener. */
	d = decide_and_record(ctx, sk, hook, &dst, pv ? pv->provider_id : AIGW_PROVIDER_NONE,
			      hook == AIGW_HOOK_SENDMSG6, &to, !mapped);
	if (d.action == AIGW_ACTION_REDIRECT && cfg) {
		if (mapped) {
			ctx->user_ip6[0] = 0;
			ctx->user_ip6[1] = 0;
			ctx->user_ip6[2] = bpf_htonl(0x0000ffff);
			ctx->user_ip6[3] = cfg->listen4_addr;
			ctx->user_port = cfg->listen4_port;
		} else {
			const __u32 *l6 = (const __u32 *)cfg->listen6_addr;

			ctx->user_ip6[0] = l6[0];
			ctx->user_ip6[1] = l6[1];
			ctx->user_ip6[2] = l6[2];
			ctx->user_ip6[3] = l6[3];
			ctx->user_port = cfg->listen6_port;
		}
	}
	return stat_and_verdict(d);
}

SEC("cgroup/connect4")
int aigw_connect4(struct bpf_sock_addr *ctx)
{
	return hook4(ctx, AIGW_HOOK_CONNECT4);
}

SEC("cgroup/connect6")
int aigw_connect6(struct bpf_sock_addr *ctx)
{
	return hook6(ctx, AIGW_HOOK_CONNECT6);
}

SEC("cgroup/sendmsg4")
int aigw_sendmsg4(struct bpf_sock_addr *ctx)
{
	return hook4(ctx, AIGW_HOOK_SENDMSG4);
}

SEC("cgroup/sendmsg6")
int aigw_sendmsg6(struct bpf_sock_addr *ctx)
{
	return hook6(ctx, AIGW_HOOK_SENDMSG6);
}

/*
 * The flows map key of a redirected socket: its own address:port and namespace. For a v4-mapped connect
 * the IPv6 source is filled in only after TCP_CONNECT, so the IPv4 source is read instead
 * (also at close, so that both find the same key).
 */
static __always_inline void flow_key(struct bpf_sock_ops *skops, const struct aigw_sk_state *st,
				     struct aigw_flow_key *fk)
{
	struct aigw_addr *key = &fk->client;
	__u32 family = skops->family;
	__u32 lport = skops->local_port;

	if (family == AIGW_AF_INET || st->flow.orig_dst.family == AIGW_AF_INET) {
		addr_set4(key, skops->local_ip4, bpf_htons((__u16)lport));
	} else {
		__u32 ip[4];

		ip[0] = skops->local_ip6[0];
		ip[1] = skops->local_ip6[1];
		ip[2] = skops->local_ip6[2];
		ip[3] = skops->local_ip6[3];
		addr_set6(key, ip, bpf_htons((__u16)lport));
	}
	/* The namespace the connect hook saw: a socket never changes namespace. */
	fk->netns_cookie = st->flow.attr.netns_cookie;
}

/*
 * TCP_CONNECT runs in tcp_connect(), after the local port is chosen and before the SYN
 * leaves: the flow is published before the proxy can accept the connection. The socket then
 * asks for state callbacks, so that its record goes when it reaches TCP_CLOSE: a connection
 * the proxy never accepted (daemon down, accept queue full, connect(AF_UNSPEC) and a
 * reconnect) must not leave a record that a later socket on the same address:port could
 * present. The callback runs before the port is released, so the key is still readable.
 */
SEC("sockops")
int aigw_sockops(struct bpf_sock_ops *skops)
{
	struct aigw_sk_state *st;
	struct aigw_flow *cur;
	struct aigw_flow_key key = {};
	struct bpf_sock *sk;
	__u32 op = skops->op;

	if (op != BPF_SOCK_OPS_TCP_CONNECT_CB && op != BPF_SOCK_OPS_STATE_CB)
		return 1;
	if (op == BPF_SOCK_OPS_STATE_CB && skops->args[1] != BPF_TCP_CLOSE)
		return 1;
	sk = skops->sk;
	if (!sk)
		return 1;
	st = bpf_sk_storage_get(&aigw_sk, sk, 0, 0);
	if (!st || !(st->flags & AIGW_SK_REDIRECTED))
		return 1;
	flow_key(skops, st, &key);
	if (op == BPF_SOCK_OPS_STATE_CB) {
		/* Only our own: the proxy may have claimed it already. */
		cur = bpf_map_lookup_elem(&aigw_flows, &key);
		if (cur && aigw_flow_claimable(cur, st->flow.sock_cookie))
			bpf_map_delete_elem(&aigw_flows, &key);
		return 1;
	}
	if (bpf_map_update_elem(&aigw_flows, &key, &st->flow, BPF_ANY)) {
		stat_inc(AIGW_STAT_FLOW_LOST);
		return 1;
	}
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
	return 1;
}

static __always_inline struct aigw_sk_state *redirected_state(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct aigw_sk_state *st;

	if (!sk)
		return 0;
	st = bpf_sk_storage_get(&aigw_sk, sk, 0, 0);
	if (!st || !(st->flags & AIGW_SK_REDIRECTED))
		return 0;
	return st;
}

SEC("cgroup/getpeername4")
int aigw_getpeername4(struct bpf_sock_addr *ctx)
{
	struct aigw_sk_state *st = redirected_state(ctx);
	__u32 ip;

	if (st && st->flow.orig_dst.family == AIGW_AF_INET) {
		__builtin_memcpy(&ip, st->flow.orig_dst.addr, 4);
		ctx->user_ip4 = ip;
		ctx->user_port = st->flow.orig_dst.port;
	}
	return 1;
}

SEC("cgroup/getpeername6")
int aigw_getpeername6(struct bpf_sock_addr *ctx)
{
	struct aigw_sk_state *st = redirected_state(ctx);
	__u32 ip[4];

	if (!st)
		return 1;
	if (st->flow.orig_dst.family == AIGW_AF_INET) {
		ip[0] = 0;
		ip[1] = 0;
		ip[2] = bpf_htonl(0x0000ffff);
		__builtin_memcpy(&ip[3], st->flow.orig_dst.addr, 4);
	} else {
		__builtin_memcpy(ip, st->flow.orig_dst.addr, 16);
	}
	ctx->user_ip6[0] = ip[0];
	ctx->user_ip6[1] = ip[1];
	ctx->user_ip6[2] = ip[2];
	ctx->user_ip6[3] = ip[3];
	ctx->user_port = st->flow.orig_dst.port;
	return 1;
}

/*
 * Records the name and parent of CGRP, made or renamed, when it is below the captured cgroup:
 * its parent is that cgroup or one recorded already (the daemon seeds the map with the tree
 * as it finds it at start, after these programs are attached, so nothing made in between is
 * missed). A parent evicted from the map leaves its new children unrecorded: unknown, not
 * misnamed.
 */
static __always_inline int cgroup_name_note(struct cgroup *cgrp)
{
	struct aigw_cgroup_name v = {};
	__u64 id, parent;

	parent = BPF_CORE_READ(cgrp, self.parent, cgroup, kn, id);
	if (!parent || !aigw_capture_cgroup_id)
		return 0;
	if (parent != aigw_capture_cgroup_id && !bpf_map_lookup_elem(&aigw_cgroup_names, &parent))
		return 0;
	v.parent_id = parent;
	if (bpf_probe_read_kernel_str(v.name, sizeof(v.name), BPF_CORE_READ(cgrp, kn, name)) <= 0)
		return 0;
	id = BPF_CORE_READ(cgrp, kn, id);
	bpf_map_update_elem(&aigw_cgroup_names, &id, &v, BPF_ANY);
	return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(aigw_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	return cgroup_name_note(cgrp);
}

/* cgroup2 renames only within the same parent, and only its owner may: the new name. */
SEC("tp_btf/cgroup_rename")
int BPF_PROG(aigw_cgroup_rename, struct cgroup *cgrp, const char *path)
{
	return cgroup_name_note(cgrp);
}
