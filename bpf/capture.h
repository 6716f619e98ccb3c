/*
 * capture.h: the structs and constants that capture.bpf.c and the userspace daemon share.
 * Declared once here; both sides include this file. Only fixed-size types, no pointers:
 * every struct is a map key, a map value or a ring buffer record.
 */
#ifndef AIGW_CAPTURE_H
#define AIGW_CAPTURE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define AIGW_COMM_LEN 16
#define AIGW_AF_INET 2
#define AIGW_AF_INET6 10
#define AIGW_PROTO_TCP 6
#define AIGW_PROTO_UDP 17

/* Map sizes. */
#define AIGW_PROVIDER_PREFIXES 16384 /* per family */
#define AIGW_FLOWS_MAX 65536	     /* redirected connections awaiting accept() */
#define AIGW_RINGBUF_BYTES (1 << 22) /* events survive a daemon restart here */
#define AIGW_TLS_PORTS_MAX 8	     /* capture.tls_ports, tls_port included */
/* provider_id of a destination no provider has, or of an event that is not provider-bound */
#define AIGW_PROVIDER_NONE 0xffffffffu
#define AIGW_CGROUP_NAME_LEN 256     /* a kernfs name (NAME_MAX) and its NUL */
#define AIGW_CGROUP_NAMES_MAX 16384  /* cgroups under the captured root the kernel names */
#define AIGW_NETNS_MAX 1024	     /* network namespaces with a capture listener */

/* What the programs do with a provider-bound attempt (struct aigw_config.mode). */
enum aigw_mode {
	AIGW_MODE_ENFORCE = 0, /* redirect TLS port, deny everything else */
	AIGW_MODE_OBSERVE = 1, /* record, change nothing */
};

/* Which TCP connections go to the proxy (struct aigw_config.scope). */
enum aigw_scope {
	AIGW_SCOPE_TLS = 0,	  /* any address on a TLS port: the ClientHello decides */
	AIGW_SCOPE_PROVIDERS = 1, /* provider addresses on tls_port only */
};

/* What happened: the "action" of an event. */
enum aigw_action {
	AIGW_ACTION_NONE = 0,	  /* not provider-bound, or exempt: untouched */
	AIGW_ACTION_REDIRECT = 1, /* rewritten to the proxy listener */
	AIGW_ACTION_DENY = 2,	  /* connect/sendmsg failed with EPERM */
	AIGW_ACTION_OBSERVE = 3,  /* observe mode: allowed, recorded */
};

/* Why: the named reason userspace prints (never a bare errno). */
enum aigw_reason {
	AIGW_REASON_NONE = 0,
	AIGW_REASON_PROVIDER_TLS = 1, /* TCP to a provider on the TLS port */
	AIGW_REASON_PORT = 2,	      /* TCP to a provider on another port */
	AIGW_REASON_UDP_CONNECT = 3,  /* connect() of a UDP socket (QUIC/HTTP3) */
	AIGW_REASON_UDP_SENDMSG = 4,  /* sendto()/sendmsg() of a UDP datagram */
	AIGW_REASON_NO_LISTENER = 5,  /* capture configured without a listener: fail closed */
	AIGW_REASON_TLS_PORT = 6,     /* scope "tls": TCP to a TLS port, not a provider address */
	/* The socket at the redirect target (or at api.listen) is not aigw's, or there is none:
	 * the daemon is down. */
	AIGW_REASON_LISTENER_NOT_OURS = 7,
	AIGW_REASON_NETNS_NO_LISTENER = 8, /* the socket's network namespace has no listener
					    * (yet): the daemon opens one on this event */
};

/* Which hook saw it. */
enum aigw_hook {
	AIGW_HOOK_CONNECT4 = 1,
	AIGW_HOOK_CONNECT6 = 2,
	AIGW_HOOK_SENDMSG4 = 3,
	AIGW_HOOK_SENDMSG6 = 4,
};

/* An IPv4 or IPv6 endpoint. IPv4 (also when it came as v4-mapped IPv6) is family AF_INET
 * with the address in addr[0..3]. Used as the key of the flows map. */
struct aigw_addr {
	__u8 family; /* AIGW_AF_INET or AIGW_AF_INET6 */
	__u8 pad;
	__u16 port;    /* network byte order */
	__u8 addr[16]; /* network byte order */
};

/*
 * The key of the flows map: the client's address:port in its network namespace. Loopback
 * addresses repeat in every namespace: without the namespace, a flow of one could be found
 * (or overwritten) by a connection of another.
 */
struct aigw_flow_key {
	struct aigw_addr client;
	__u32 pad;
	__u64 netns_cookie; /* bpf_get_netns_cookie() / SO_NETNS_COOKIE of the client socket */
};

/*
 * A network namespace in which the daemon listens (the aigw_netns map, keyed by the netns
 * cookie). Written by the daemon after its listeners there are listening, removed when it
 * closes them; a redirect from a namespace without an entry (or without the listener of the
 * family it needs) is denied with AIGW_REASON_NETNS_NO_LISTENER. The socket cookies name the
 * listening sockets, so that the kernel side can check that the socket at the redirect
 * target is the daemon's.
 */
struct aigw_netns_listener {
	__u64 listen4_cookie; /* SO_COOKIE of the IPv4 listener there; 0: none */
	__u64 listen6_cookie; /* SO_COOKIE of the IPv6 listener there; 0: none */
};

/* Who made the attempt. */
struct aigw_attr {
	__u64 sock_cgroup_id; /* cgroup of the socket (where it was created) */
	__u64 task_cgroup_id; /* cgroup of the task calling connect(): differs for passed fds */
	__u64 netns_cookie;   /* network namespace of the socket */
	__u32 pid;	      /* tgid of the caller */
	__u32 tid;
	__u32 uid;
	__u32 gid;
	char comm[AIGW_COMM_LEN];
};

/* A redirected connection, as the proxy finds it by the client's address and namespace
 * (struct aigw_flow_key) after accept(). */
struct aigw_flow {
	struct aigw_addr orig_dst; /* the provider address the app asked for */
	struct aigw_attr attr;
	__u64 sock_cookie;
	__u64 connect_boot_ns; /* bpf_ktime_get_boot_ns() at connect() */
	__u32 provider_id;     /* index of the provider in the policy, or AIGW_PROVIDER_NONE */
	__u32 pad;
};

/* Per-socket state, in socket-local storage: dies with the socket. */
#define AIGW_SK_REDIRECTED (1u << 0) /* getpeername must show orig_dst */
#define AIGW_SK_REPORTED (1u << 1)   /* a UDP sendmsg event was emitted for this socket */
struct aigw_sk_state {
	struct aigw_flow flow;
	__u32 flags;
	__u32 pad;
};

/* One ring buffer record per redirect, deny or observation. */
struct aigw_event {
	__u64 boot_ns;
	__u8 action; /* enum aigw_action */
	__u8 reason; /* enum aigw_reason */
	__u8 proto;  /* AIGW_PROTO_TCP / _UDP */
	__u8 hook;   /* enum aigw_hook */
	__u32 provider_id;
	struct aigw_addr orig_dst;
	struct aigw_addr redirect_to; /* set for AIGW_ACTION_REDIRECT */
	struct aigw_attr attr;
	__u64 sock_cookie;
};

/* The single entry of the config map, written by the daemon before it attaches and on each
 * policy reload. Ports and addresses in network byte order. */
struct aigw_config {
	__u32 mode;	   /* enum aigw_mode */
	__u32 exempt_mark; /* SO_MARK of aigw's own sockets; exempt only in aigw's own cgroup
			    * (CAP_NET_RAW alone can set a mark: aigw_is_exempt()) */
	__u16 tls_port;	   /* the provider port that is redirected (443), network order */
	__u16 listen4_port;
	__u32 listen4_addr;
	__u8 listen6_addr[16];
	__u16 listen6_port;
	__u16 pad;
	__u32 generation; /* bumped on each reload; 0 = never configured: fail closed */
	__u32 scope;	  /* enum aigw_scope */
	/* scope "tls": the ports redirected whatever the address (tls_port among them), network
	 * order; unused entries 0 */
	__u16 tls_ports[AIGW_TLS_PORTS_MAX];
	__u32 pad3;
	/* SO_COOKIE of aigw's own listening sockets, written at each start before the
	 * generation is published: a connection goes only to a listener with this cookie
	 * (listener_is_ours()). 0: none, every such connect is denied. */
	__u64 listen4_cookie;
	__u64 listen6_cookie;
	struct aigw_addr api; /* api.listen (family 0: none); any address when addr is all 0 */
	__u32 pad2;
	__u64 api_cookie;
};

/*
 * A cgroup under the captured root as the kernel named it when it was made or renamed: the
 * value of aigw_cgroup_names, keyed by cgroup id. Its path is its parent's path and this
 * name, so a renamed parent renames its descendants too. How a cgroup removed after a
 * connect() still has its path (and so its workload).
 */
struct aigw_cgroup_name {
	__u64 parent_id;
	char name[AIGW_CGROUP_NAME_LEN];
};

/* LPM trie keys of the provider address sets. */
struct aigw_lpm4_key {
	__u32 prefixlen;
	__u8 addr[4];
};
struct aigw_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};
struct aigw_provider_val {
	__u32 provider_id;
	__u32 generation; /* the resolve round that last confirmed this prefix */
};

/* Counters (per-CPU array indices) for what cannot be an event. */
enum aigw_stat {
	AIGW_STAT_REDIRECT = 0,
	AIGW_STAT_DENY,
	AIGW_STAT_OBSERVE,
	AIGW_STAT_EVENT_DROPPED, /* ring buffer full: the action still happened */
	AIGW_STAT_FLOW_LOST,	 /* connect redirected but no per-socket storage */
	AIGW_STAT_MAX,
};

#endif
