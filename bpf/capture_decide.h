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

/* Is DPORT (network order) tls_port or one of tls_ports? Unused entries are 0, never a port. */
static __always_inline int aigw_tls_port(const struct aigw_config *cfg, __u16 dport)
{
	int i;

	if (dport == cfg->tls_port)
		return 1;
	for (i = 0; i < AIGW_TLS_PORTS_MAX; i++) {
		if (cfg->tls_ports[i] && cfg->tls_ports[i] == dport)
			return 1;
	}
	return 0;
}

/*
 * Does a TCP connect to DPORT of an address no provider has go to the proxy? Only under scope
 * "tls" of a written config that enforces: observe mode watches providers, not every site,
 * and an unwritten config cannot say which ports (it denies providers, leaves the rest).
 */
static __always_inline int aigw_scope_redirects(const struct aigw_config *cfg, __u8 proto,
						__u16 dport)
{
	return cfg->generation && cfg->mode == AIGW_MODE_ENFORCE && cfg->scope == AIGW_SCOPE_TLS &&
	       proto == AIGW_PROTO_TCP && aigw_tls_port(cfg, dport);
}

/*
 * What to do with an attempt to reach PROVIDER (nonzero when the destination is in the
 * provider set) over PROTO to DPORT (network order). IS_SENDMSG: a datagram sent with an
 * address rather than a connect(). EXEMPT: the socket is the gateway's own (aigw_is_exempt).
 *
 * Order matters: exempt sockets first (the gateway's own upstream connections), then the
 * destination, then the mode. A provider's TLS port is tls_port under scope "providers" and
 * any of tls_ports under "tls"; any other address goes to the proxy only on a TLS port under
 * "tls" (aigw_scope_redirects). A config that was never written (generation 0) or names no
 * listener denies what it would redirect: capture fails closed, never open.
 */
static __always_inline struct aigw_decision aigw_decide(const struct aigw_config *cfg, int provider,
							__u8 proto, __u16 dport, int is_sendmsg,
							int exempt, int ipv6)
{
	struct aigw_decision d = {AIGW_ACTION_NONE, AIGW_REASON_NONE};
	__u16 listen_port;
	int tls;

	if (exempt)
		return d;
	if (!provider) {
		if (!aigw_scope_redirects(cfg, proto, dport))
			return d;
		d.reason = AIGW_REASON_TLS_PORT;
	} else {
		tls = cfg->scope == AIGW_SCOPE_TLS ? aigw_tls_port(cfg, dport)
						   : dport == cfg->tls_port;
		if (proto == AIGW_PROTO_UDP)
			d.reason = is_sendmsg ? AIGW_REASON_UDP_SENDMSG : AIGW_REASON_UDP_CONNECT;
		else if (proto == AIGW_PROTO_TCP && tls)
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

/*
 * May the connection whose client socket has cookie CLIENT_COOKIE claim flow record F?
 * A record is a capability of the socket that created it: the connect hook stores that
 * socket's cookie, and only the very same socket matches. The key (the client's
 * address:port) is no proof: after the socket is gone anyone may bind the same address:port.
 * A record without a cookie is never claimable. Also the close hook's test before it removes
 * a record: a socket removes only its own.
 */
static __always_inline int aigw_flow_claimable(const struct aigw_flow *f, __u64 client_cookie)
{
	return f->sock_cookie != 0 && f->sock_cookie == client_cookie;
}

/*
 * Is DST (as the connect hooks read it: a v4-mapped address is IPv4) api.listen's address
 * API? Family and port equal, and the address equal, or API's all zero (a wildcard listener
 * receives connections to every local address on its port). API family 0: no api.listen.
 */
static __always_inline int aigw_api_listen_matches(const struct aigw_addr *api,
						   const struct aigw_addr *dst)
{
	/* Words ORed, no branch per byte: the verifier walked each byte's two ways on every IPv6
	 * path (71,695 instructions in connect6). All 16 bytes are read whatever the family:
	 * callers zero the address (a kernel before 6.3 refuses a read of unset stack). */
	__u32 a[4], d[4], set = 0, differ = 0;
	int words = api->family == AIGW_AF_INET ? 1 : 4;

	if (!api->family || api->family != dst->family || api->port != dst->port)
		return 0;
	__builtin_memcpy(a, api->addr, 16);
	__builtin_memcpy(d, dst->addr, 16);
	for (int i = 0; i < 4; i++) {
		if (i >= words)
			break;
		set |= a[i];
		differ |= a[i] ^ d[i];
	}
	return !set || !differ;
}

/* The IPv6 forms that carry an IPv4 address (aigw_v6_embedded_v4()). */
enum aigw_v4_form {
	AIGW_V4_NONE = 0,
	AIGW_V4_MAPPED = 1, /* ::ffff:a.b.c.d, the socket API's IPv4 on an IPv6 socket */
	AIGW_V4_NAT64 = 2,  /* 64:ff9b::a.b.c.d, the well-known NAT64 prefix (RFC 6052) */
	AIGW_V4_6TO4 = 3,   /* 2002:AABB:CCDD::/48, 6to4 (RFC 3056) */
	AIGW_V4_COMPAT = 4, /* ::a.b.c.d, IPv4-compatible (deprecated; not :: nor ::1) */
};

/*
 * Which IPv4 address, if any, the IPv6 address W (words in network order, as the hooks read
 * them) carries, in *RET_V4 (network order). A workload that cannot reach a provider's IPv4
 * address may write it in one of these forms: each counts as that address. Read byte by byte,
 * so that the result is the same on either byte order.
 */
static __always_inline int aigw_v6_embedded_v4(const __u32 w[4], __u32 *ret_v4)
{
	const __u8 *b = (const __u8 *)w;
	__u8 *v4 = (__u8 *)ret_v4;

	if (b[0] == 0x20 && b[1] == 0x02) {
		v4[0] = b[2];
		v4[1] = b[3];
		v4[2] = b[4];
		v4[3] = b[5];
		return AIGW_V4_6TO4;
	}
	*ret_v4 = w[3];
	if (w[1] != 0)
		return AIGW_V4_NONE;
	if (w[0] == 0 && b[8] == 0 && b[9] == 0 && b[10] == 0xff && b[11] == 0xff)
		return AIGW_V4_MAPPED;
	if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && w[2] == 0)
		return AIGW_V4_NAT64;
	if (w[0] == 0 && w[2] == 0 && !(b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] <= 1))
		return AIGW_V4_COMPAT;
	return AIGW_V4_NONE;
}

#endif
