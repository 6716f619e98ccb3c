/*
 * capture_decide.h: the one decision every capture hook makes, as a pure function.
 *
 * CGROUP_SOCK_ADDR programs cannot run under BPF_PROG_RUN, so the decision lives here,
 * free of context reads, and tests/bpf/test_decide.c includes this file and calls it
 * directly; the hooks themselves are covered with real sockets in tests/e2e.
 * Include capture.h (or vmlinux.h + capture.h) first.
 */
#ifndef AIGW_CAPTURE_DECIDE_H
#define AIGW_CAPTURE_DECIDE_H

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

struct aigw_decision {
	__u8 action; /* enum aigw_action */
	__u8 reason; /* enum aigw_reason */
};

/*
 * Is a socket with SO_MARK SK_MARK, created in cgroup SK_CGROUP, one of the gateway's own?
 * Both must hold: the exempt mark, and the cgroup of the daemon (EXEMPT_CGROUP, which the
 * loader fixes in the program's read-only data). The mark alone is no proof: since Linux 5.17
 * CAP_NET_RAW suffices to set SO_MARK. The cgroup alone would exempt every socket of a
 * daemon that runs inside the captured tree, not only its upstream ones. Either unset: no
 * socket is exempt.
 */
static __always_inline int aigw_is_exempt(__u32 exempt_mark, __u64 exempt_cgroup, __u32 sk_mark,
					  __u64 sk_cgroup)
{
	return exempt_mark && sk_mark == exempt_mark && exempt_cgroup && sk_cgroup == exempt_cgroup;
}

/*
 * What to do with an attempt to reach PROVIDER (nonzero when the destination is in the
 * provider set) over PROTO to DPORT (network order). IS_SENDMSG: a datagram sent with an
 * address rather than a connect(). EXEMPT: the socket is the gateway's own (aigw_is_exempt).
 *
 * Order matters: exempt sockets first (the gateway's own upstream connections), then the
 * mode, then the destination. A config that was never written (generation 0) or names no
 * listener denies: capture fails closed, never open.
 */
static __always_inline struct aigw_decision aigw_decide(const struct aigw_config *cfg, int provider,
							__u8 proto, __u16 dport, int is_sendmsg,
							int exempt, int ipv6)
{
	struct aigw_decision d = {AIGW_ACTION_NONE, AIGW_REASON_NONE};
	__u16 listen_port;

	if (!provider || exempt)
		return d;

	if (proto == AIGW_PROTO_UDP)
		d.reason = is_sendmsg ? AIGW_REASON_UDP_SENDMSG : AIGW_REASON_UDP_CONNECT;
	else if (proto == AIGW_PROTO_TCP && dport == cfg->tls_port)
		d.reason = AIGW_REASON_PROVIDER_TLS;
	else
		d.reason = AIGW_REASON_PORT;

	if (cfg->generation && cfg->mode == AIGW_MODE_OBSERVE) {
		d.action = AIGW_ACTION_OBSERVE;
		return d;
	}
	if (d.reason != AIGW_REASON_PROVIDER_TLS) {
		d.action = AIGW_ACTION_DENY;
		return d;
	}
	listen_port = ipv6 ? cfg->listen6_port : cfg->listen4_port;
	if (!cfg->generation || !listen_port) {
		d.action = AIGW_ACTION_DENY;
		d.reason = AIGW_REASON_NO_LISTENER;
		return d;
	}
	d.action = AIGW_ACTION_REDIRECT;
	return d;
}

/* ::ffff:a.b.c.d — the v6 hooks treat it as a.b.c.d. Words in network order. */
static __always_inline int aigw_is_v4mapped(const __u32 w[4])
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const __u32 ffff = 0xffff0000u;
#else
	const __u32 ffff = 0x0000ffffu;
#endif
	return w[0] == 0 && w[1] == 0 && w[2] == ffff;
}

#endif
