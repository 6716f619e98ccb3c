/*
 * sockdiag: dumps TCP sockets over NETLINK_SOCK_DIAG and destroys the ones the caller picks.
 *
 * libnl-3 core carries the netlink side (socket, message building, sequence checks, multipart
 * dumps, attribute parsing); the request and reply layouts are the kernel's inet_diag structs.
 * Matches are collected while the dump runs and destroyed only after it ended, one
 * SOCK_DESTROY request per socket, each waiting for its ACK so the caller learns its error.
 * A lookup is one SOCK_DIAG_BY_FAMILY request without NLM_F_DUMP: the kernel finds the socket
 * by its 4-tuple (inet_diag_find_one_icsk()) and answers with one inet_diag_msg.
 */
#include "capture/sockdiag.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <linux/inet_diag.h>
#include <linux/sock_diag.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>

#define SOCKDIAG_STATES ((1U << TCP_ESTABLISHED) | (1U << TCP_SYN_SENT))

/* A socket the match chose, with the id exactly as the kernel sent it. */
struct sockdiag_victim {
	struct sockdiag_sock sock;
	struct inet_diag_sockid id;
};

struct sockdiag_ctx {
	sockdiag_match_fn match;
	void *arg;
	struct sockdiag_victim *v;
	size_t n, cap;
	int err;   /* -errno from the kernel (NLMSG_ERROR) or from a callback */
	int acked; /* the request's ACK (or error) came */
};

static const uint8_t sockdiag_v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* libnl reports its own NLE_* codes; the caller wants -errno. */
static int sockdiag_nlerr(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case NLE_INTR:
	case NLE_DUMP_INTR:
		return -EINTR;
	case NLE_BAD_SOCK:
		return -EBADF;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_INVAL:
		return -EINVAL;
	case NLE_RANGE:
		return -ERANGE;
	case NLE_MSGSIZE:
	case NLE_MSG_TRUNC:
		return -EMSGSIZE;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND:
		return -ENOENT;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_PROTO_MISMATCH:
		return -EPROTONOSUPPORT;
	case NLE_NOACCESS:
		return -EACCES;
	case NLE_PERM:
		return -EPERM;
	case NLE_MSG_OVERFLOW:
		return -ENOBUFS;
	default:
		return -EPROTO;
	}
}

int sockdiag_v4mapped(const struct sockdiag_sock *s)
{
	return s->family == AF_INET6 &&
	       !memcmp(s->dst, sockdiag_v4mapped_prefix, sizeof(sockdiag_v4mapped_prefix));
}

const uint8_t *sockdiag_dst_v4(const struct sockdiag_sock *s)
{
	if (s->family == AF_INET)
		return s->dst;
	if (sockdiag_v4mapped(s))
		return s->dst + sizeof(sockdiag_v4mapped_prefix);
	return NULL;
}

static const char *sockdiag_state_name(uint8_t state)
{
	switch (state) {
	case TCP_ESTABLISHED:
		return "ESTAB";
	case TCP_SYN_SENT:
		return "SYN-SENT";
	default:
		return "?";
	}
}

/* "1.2.3.4:80" or "[::1]:80" */
static void sockdiag_endpoint_str(int family, const uint8_t *addr, uint16_t port, char *buf,
				  size_t size)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(family, addr, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	snprintf(buf, size, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
}

int sockdiag_sock_str(const struct sockdiag_sock *s, char *buf, size_t size)
{
	char src[INET6_ADDRSTRLEN + 8], dst[INET6_ADDRSTRLEN + 8];

	sockdiag_endpoint_str(s->family, s->src, s->sport, src, sizeof(src));
	sockdiag_endpoint_str(s->family, s->dst, s->dport, dst, sizeof(dst));
	return snprintf(buf, size, "tcp %s -> %s %s uid %u cgroup %llu inode %llu", src, dst,
			sockdiag_state_name(s->state), s->uid, (unsigned long long)s->cgroup_id,
			(unsigned long long)s->inode);
}

static void sockdiag_fill(struct sockdiag_sock *s, const struct inet_diag_msg *r,
			  struct nlattr **tb)
{
	memset(s, 0, sizeof(*s));
	s->family = r->idiag_family;
	s->state = r->idiag_state;
	memcpy(s->src, r->id.idiag_src, sizeof(s->src));
	memcpy(s->dst, r->id.idiag_dst, sizeof(s->dst));
	s->sport = ntohs(r->id.idiag_sport);
	s->dport = ntohs(r->id.idiag_dport);
	s->ifindex = r->id.idiag_if;
	s->uid = r->idiag_uid;
	s->inode = r->idiag_inode;
	s->cookie[0] = r->id.idiag_cookie[0];
	s->cookie[1] = r->id.idiag_cookie[1];
	if (tb[INET_DIAG_CGROUP_ID])
		s->cgroup_id = nla_get_u64(tb[INET_DIAG_CGROUP_ID]);
}

static int sockdiag_push(struct sockdiag_ctx *ctx, const struct sockdiag_sock *s,
			 const struct inet_diag_sockid *id)
{
	struct sockdiag_victim *v;

	if (ctx->n == ctx->cap) {
		size_t cap = ctx->cap ? ctx->cap * 2 : 16;

		v = realloc(ctx->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ctx->v = v;
		ctx->cap = cap;
	}
	v = &ctx->v[ctx->n++];
	v->sock = *s;
	v->id = *id;
	return 0;
}

/* NL_CB_VALID for the dump: one inet_diag_msg per socket. */
static int sockdiag_on_sock(struct nl_msg *msg, void *arg)
{
	static const struct nla_policy policy[INET_DIAG_MAX + 1] = {
	    [INET_DIAG_CGROUP_ID] = {.type = NLA_U64},
	};
	struct sockdiag_ctx *ctx = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[INET_DIAG_MAX + 1];
	const struct inet_diag_msg *r;
	struct sockdiag_sock s;
	int err;

	if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY)
		return NL_SKIP;
	err = nlmsg_parse(nlh, sizeof(*r), tb, INET_DIAG_MAX, policy);
	if (err < 0) {
		ctx->err = sockdiag_nlerr(err);
		return NL_STOP;
	}
	r = nlmsg_data(nlh);
	sockdiag_fill(&s, r, tb);
	if (!ctx->match(&s, ctx->arg))
		return NL_OK;
	err = sockdiag_push(ctx, &s, &r->id);
	if (err < 0) {
		ctx->err = err;
		return NL_STOP;
	}
	return NL_OK;
}

/* The kernel refused a request: keep its errno, which libnl would translate away. */
static int sockdiag_on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct sockdiag_ctx *ctx = arg;

	(void)nla;
	ctx->err = e->error;
	ctx->acked = 1;
	return NL_STOP;
}

static int sockdiag_on_ack(struct nl_msg *msg, void *arg)
{
	struct sockdiag_ctx *ctx = arg;

	(void)msg;
	ctx->acked = 1;
	return NL_STOP;
}

/* Send @req as a @type message and read replies until the dump ends or the ACK comes. */
static int sockdiag_talk(struct nl_sock *sk, struct nl_cb *cb, struct sockdiag_ctx *ctx, int type,
			 int flags, struct inet_diag_req_v2 *req)
{
	struct nl_msg *msg;
	int r;

	ctx->err = 0;
	ctx->acked = 0;
	msg = nlmsg_alloc_simple(type, flags);
	if (!msg)
		return -ENOMEM;
	r = nlmsg_append(msg, req, sizeof(*req), NLMSG_ALIGNTO);
	if (r < 0)
		goto out;
	r = nl_send_auto(sk, msg);
	if (r < 0)
		goto out;
	r = nl_recvmsgs(sk, cb);
out:
	nlmsg_free(msg);
	if (ctx->err)
		return ctx->err;
	return r < 0 ? sockdiag_nlerr(r) : 0;
}

static int sockdiag_dump(struct nl_sock *sk, struct nl_cb *cb, struct sockdiag_ctx *ctx, int family)
{
	struct inet_diag_req_v2 req = {
	    .sdiag_family = family,
	    .sdiag_protocol = IPPROTO_TCP,
	    .idiag_states = SOCKDIAG_STATES,
	};

	/* uid, inode and INET_DIAG_CGROUP_ID come with every full socket: no idiag_ext */
	return sockdiag_talk(sk, cb, ctx, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, &req);
}

static int sockdiag_destroy(struct nl_sock *sk, struct nl_cb *cb, struct sockdiag_ctx *ctx,
			    const struct sockdiag_victim *v)
{
	struct inet_diag_req_v2 req = {
	    .sdiag_family = v->sock.family,
	    .sdiag_protocol = IPPROTO_TCP,
	    .id = v->id,
	};

	return sockdiag_talk(sk, cb, ctx, SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, &req);
}

static int sockdiag_nl_open(struct nl_sock **ret_sk, struct nl_cb **ret_cb,
			    struct sockdiag_ctx *ctx)
{
	struct nl_sock *sk;
	struct nl_cb *cb;
	int r;

	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	r = nl_connect(sk, NETLINK_SOCK_DIAG);
	if (r < 0) {
		nl_socket_free(sk);
		return sockdiag_nlerr(r);
	}
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		nl_socket_free(sk);
		return -ENOMEM;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, sockdiag_on_sock, ctx);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, sockdiag_on_ack, ctx);
	nl_cb_err(cb, NL_CB_CUSTOM, sockdiag_on_error, ctx);
	*ret_sk = sk;
	*ret_cb = cb;
	return 0;
}

int sockdiag_destroy_matching(sockdiag_match_fn match, sockdiag_report_fn report, void *arg,
			      unsigned *ret_destroyed)
{
	struct sockdiag_ctx ctx = {.match = match, .arg = arg};
	struct nl_sock *sk = NULL;
	struct nl_cb *cb = NULL;
	unsigned destroyed = 0;
	int r;

	if (!match) {
		r = -EINVAL;
		goto out;
	}
	r = sockdiag_nl_open(&sk, &cb, &ctx);
	if (r < 0)
		goto out;
	r = sockdiag_dump(sk, cb, &ctx, AF_INET);
	if (r < 0)
		goto out;
	r = sockdiag_dump(sk, cb, &ctx, AF_INET6);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < ctx.n; i++) {
		int err = sockdiag_destroy(sk, cb, &ctx, &ctx.v[i]);

		if (!err)
			destroyed++;
		if (report)
			report(&ctx.v[i].sock, err, arg);
	}
out:
	if (ret_destroyed)
		*ret_destroyed = destroyed;
	if (cb)
		nl_cb_put(cb);
	if (sk)
		nl_socket_free(sk);
	free(ctx.v);
	return r;
}

struct sockdiag {
	struct nl_sock *sk;
	struct nl_cb *cb;
	struct sockdiag_ctx ctx;
	uint64_t cookie; /* of the last socket a lookup found */
	int found;
};

/* The lookup's "match": note the socket, keep none. */
static int sockdiag_note_cookie(const struct sockdiag_sock *s, void *arg)
{
	struct sockdiag *sd = arg;

	sd->cookie = (uint64_t)s->cookie[1] << 32 | s->cookie[0];
	sd->found = 1;
	return 0;
}

int sockdiag_new(struct sockdiag **ret_sd)
{
	struct sockdiag *sd = calloc(1, sizeof(*sd));
	int r;

	if (!sd)
		return -ENOMEM;
	sd->ctx.match = sockdiag_note_cookie;
	sd->ctx.arg = sd;
	r = sockdiag_nl_open(&sd->sk, &sd->cb, &sd->ctx);
	if (r < 0) {
		free(sd);
		return r;
	}
	*ret_sd = sd;
	return 0;
}

void sockdiag_free(struct sockdiag *sd)
{
	if (!sd)
		return;
	nl_cb_put(sd->cb);
	nl_socket_free(sd->sk);
	free(sd);
}

/* One end of an inet_diag_sockid: the family (IPv4-mapped IPv6 is AF_INET), the address in
 * the kernel's layout and the port in network order. */
static int sockdiag_endpoint(const struct sockaddr *sa, __be32 ret_addr[4], __be16 *ret_port)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

	memset(ret_addr, 0, 16);
	if (sa->sa_family == AF_INET) {
		ret_addr[0] = s4->sin_addr.s_addr;
		*ret_port = s4->sin_port;
		return AF_INET;
	}
	if (sa->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	*ret_port = s6->sin6_port;
	if (!memcmp(&s6->sin6_addr, sockdiag_v4mapped_prefix, sizeof(sockdiag_v4mapped_prefix))) {
		memcpy(ret_addr, s6->sin6_addr.s6_addr + 12, 4);
		return AF_INET;
	}
	memcpy(ret_addr, &s6->sin6_addr, 16);
	return AF_INET6;
}

int sockdiag_cookie_of(struct sockdiag *sd, const struct sockaddr *local,
		       const struct sockaddr *remote, uint64_t *ret_cookie)
{
	struct inet_diag_req_v2 req = {
	    .sdiag_protocol = IPPROTO_TCP,
	    .idiag_states = ~0U,
	    .id.idiag_cookie = {INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE},
	};
	int lfam, rfam, r;

	lfam = sockdiag_endpoint(local, req.id.idiag_src, &req.id.idiag_sport);
	rfam = sockdiag_endpoint(remote, req.id.idiag_dst, &req.id.idiag_dport);
	if (lfam < 0 || rfam < 0 || lfam != rfam)
		return -EAFNOSUPPORT;
	req.sdiag_family = lfam;
	sd->found = 0;
	/*
	 * With an ACK: libnl expects the next sequence number only after an ACK or an error, and
	 * the answer (one message, no NLM_F_MULTI) and the ACK come as two datagrams, so read
	 * until the ACK, or the next lookup would find this one's ACK first.
	 */
	r = sockdiag_talk(sd->sk, sd->cb, &sd->ctx, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_ACK,
			  &req);
	while (!r && !sd->ctx.acked) {
		r = nl_recvmsgs(sd->sk, sd->cb);
		r = sd->ctx.err ? sd->ctx.err : r < 0 ? sockdiag_nlerr(r) : 0;
	}
	if (r < 0)
		return r;
	if (!sd->found)
		return -ENOENT;
	*ret_cookie = sd->cookie;
	return 0;
}
