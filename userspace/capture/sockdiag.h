/*
 * sockdiag: finds the TCP connections that predate the capture and destroys them.
 *
 * When aigw attaches its cgroup programs, connections the captured workloads already made
 * to providers bypass the proxy. sockdiag_destroy_matching() dumps every ESTABLISHED and
 * SYN_SENT TCP socket (AF_INET and AF_INET6) over NETLINK_SOCK_DIAG, asks the caller's match
 * function about each one, and once the dumps are over sends one SOCK_DESTROY per chosen
 * socket (the exact inet_diag id, cookie included, as `ss -K` does), reporting each result.
 *
 * Needs CAP_NET_ADMIN and a kernel with CONFIG_INET_DIAG_DESTROY (else each destroy reports
 * -EOPNOTSUPP). Everything it allocates is freed before it returns.
 *
 * sockdiag_cookie_of() asks for one socket by its exact 4-tuple, over a netlink socket kept
 * open (struct sockdiag): the proxy learns which client socket is at the other end of a
 * connection it accepted, to check it against the flow record (aigw_flow_claimable()).
 */
#ifndef AIGW_CAPTURE_SOCKDIAG_H
#define AIGW_CAPTURE_SOCKDIAG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* One TCP socket as the kernel's inet_diag dump describes it. */
struct sockdiag_sock {
	int family;	    /* AF_INET or AF_INET6; IPv4-mapped: see sockdiag_v4mapped() */
	uint8_t state;	    /* TCP_ESTABLISHED or TCP_SYN_SENT (<netinet/tcp.h>) */
	uint8_t src[16];    /* local address, network order; IPv4 in [0..3] */
	uint8_t dst[16];    /* peer address, network order; IPv4 in [0..3] */
	uint16_t sport;	    /* local port, host order */
	uint16_t dport;	    /* peer port, host order */
	uint32_t ifindex;   /* bound device, 0 if none */
	uint64_t cgroup_id; /* cgroup v2 id of the socket; 0 if the kernel did not send one */
	uint32_t uid;	    /* owner, in the caller's user namespace */
	uint64_t inode;	    /* socket inode, 0 if it has no file any more */
	uint32_t cookie[2]; /* the kernel's socket cookie */
};

/* Return 1 to destroy the socket, 0 to leave it. Called during the dump: must not block. */
typedef int (*sockdiag_match_fn)(const struct sockdiag_sock *s, void *arg);

/* Called once per socket the match chose, with 0 or the -errno of its SOCK_DESTROY. */
typedef void (*sockdiag_report_fn)(const struct sockdiag_sock *s, int err, void *arg);

/*
 * Dump, match, then destroy. @report may be NULL; @ret_destroyed (may be NULL) receives how
 * many destroys succeeded, also on error. Returns 0 once every chosen socket was attempted
 * (a failed destroy is only reported, not returned), or -errno if the netlink socket or a
 * dump failed, in which case nothing was destroyed.
 */
int sockdiag_destroy_matching(sockdiag_match_fn match, sockdiag_report_fn report, void *arg,
			      unsigned *ret_destroyed);

/*
 * 1 if @s is an AF_INET6 socket whose peer is an IPv4-mapped address (::ffff:a.b.c.d), i.e.
 * an IPv6 socket talking IPv4. Addresses are left as the kernel sent them (not normalised);
 * use sockdiag_dst_v4() to match the peer against IPv4 prefixes.
 */
int sockdiag_v4mapped(const struct sockdiag_sock *s);

/* The peer's IPv4 address (4 bytes, network order) for AF_INET and IPv4-mapped AF_INET6
 * sockets; NULL for a real IPv6 peer. Points into @s. */
const uint8_t *sockdiag_dst_v4(const struct sockdiag_sock *s);

struct sockdiag; /* a NETLINK_SOCK_DIAG socket for lookups; sockdiag_free() frees it */

/* Opens one. Returns 0 or -errno. */
int sockdiag_new(struct sockdiag **ret_sd);

/* NULL is fine. */
void sockdiag_free(struct sockdiag *sd);

/*
 * The cookie of the TCP socket (any state) whose own address is LOCAL and whose peer is
 * REMOTE, both AF_INET or AF_INET6 (IPv4-mapped counts as AF_INET). For a connection accepted
 * from PEER on the listener address ME, sockdiag_cookie_of(sd, PEER, ME, ...) names the
 * client's socket. Returns 0, -ENOENT when no socket has that 4-tuple, or -errno.
 */
int sockdiag_cookie_of(struct sockdiag *sd, const struct sockaddr *local,
		       const struct sockaddr *remote, uint64_t *ret_cookie);

/* Room for any sockdiag_sock_str() output, NUL included. */
#define SOCKDIAG_STR_MAX 192

/*
 * One log line's worth: "tcp 127.0.0.1:4000 -> [::ffff:1.2.3.4]:443 ESTAB uid 0 cgroup 1
 * inode 42". Returns what snprintf() returns.
 */
int sockdiag_sock_str(const struct sockdiag_sock *s, char *buf, size_t size);

#endif
