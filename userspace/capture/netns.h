/*
 * netns: the network namespaces capture serves. A redirect keeps 127.0.0.1:PORT ([::1]:PORT);
 * which socket answers depends on the client's network namespace, so the daemon listens in
 * each namespace the captured tree uses, as Istio ambient's ztunnel does inside each pod: it
 * enters the namespace (setns on the main thread, and straight back), creates its listening
 * sockets and a sock_diag socket there (a socket keeps the namespace it was created in), and
 * serves them from its own event loop. Upstream connections are made after the return, from
 * the daemon's own namespace.
 *
 * A namespace is learnt from the connect hook's netns_no_listener event (the caller's pid and
 * netns cookie; that connect was denied, never let through) and is served once its listeners
 * listen: the aigw_netns map entry is written last. It is released (listeners closed, entry
 * removed) when no process of the captured tree lives in it any more, checked each second:
 * first the pid that last proved it in use, and only when that one has gone, the tree's
 * cgroup.procs. At most capture.netns_max (up to AIGW_NETNS_MAX, the map's size) namespaces,
 * the daemon's own included; past that a namespace is refused, with a record.
 *
 * Records: "capture.netns" with aigw.netns.action "served", "released" or "refused"
 * (aigw.reason "netns_limit", or "serve_failed" with error.type).
 * aigw.netns is the namespace's cookie (SO_NETNS_COOKIE, bpf_get_netns_cookie(): what every
 * capture record carries); aigw.netns.inode its nsfs inode (what /proc/PID/ns/net and lsns
 * show).
 */
#ifndef AIGW_CAPTURE_NETNS_H
#define AIGW_CAPTURE_NETNS_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <event2/event.h>

#include "capture/sockdiag.h"
#include "proxy/listener.h"
#include "util/jsonw.h"

/* A connection accepted in the namespace NETNS_COOKIE; SD asks for its sockets (NULL: the
 * daemon's own namespace). The callee owns FD. */
typedef void (*netns_accept_fn)(int fd, const struct sockaddr *peer, struct sockdiag *sd,
				uint64_t netns_cookie, void *arg);

/* A capture.netns record for the audit log; the callee owns REC (NULL: out of memory). */
typedef void (*netns_record_fn)(struct jsonw *rec, void *arg);

struct netns_config {
	int map_fd;		      /* aigw_netns, netns cookie -> struct aigw_netns_listener */
	const char *cgroup_path;      /* the captured tree, absolute */
	struct sockaddr_in listen4;   /* capture.listen */
	struct sockaddr_in6 listen6;  /* capture.listen6 */
	struct listener *home4;	      /* the daemon's own listeners (not owned here) */
	struct listener *home6;
	unsigned max;		      /* capture.netns_max: namespaces at most, ours included */
	netns_accept_fn accept;
	netns_record_fn record;
	void *arg;
};

struct netns_set; /* the served namespaces; freed by netns_set_free() */

/*
 * Takes over the aigw_netns map for CFG: the daemon's own namespace is entered with the
 * cookies of its listeners, every other entry (left by a previous daemon, whose listeners
 * died with it) is removed. Starts the once-a-second release check on BASE. Returns 0 or
 * -errno, logged.
 */
int netns_set_new(struct event_base *base, const struct netns_config *cfg,
		  struct netns_set **ret_set);

/* The cookie of the daemon's own network namespace. */
uint64_t netns_home_cookie(const struct netns_set *s);

/*
 * Serves the namespace NETNS_COOKIE, in which process PID (of the captured tree) made a
 * connect: opens the listeners there unless they are open. Returns 0 (served, or already),
 * -ESRCH when PID has gone or lives in another namespace now, -ENOSPC past the maximum
 * (recorded), -EAGAIN while a failed namespace waits for its next try (1 s, doubling up to
 * 30 s: a workload whose namespace cannot be served costs one try per wait, not one per
 * connect), or another -errno (logged, recorded as "refused" with aigw.reason "serve_failed").
 */
int netns_serve(struct netns_set *s, uint32_t pid, uint64_t netns_cookie);

/* How many namespaces are served, the daemon's own included. */
size_t netns_count(const struct netns_set *s);

/* Closes every listener in other namespaces and removes their map entries; the daemon's own
 * entry stays (while no daemon runs, redirects there are refused by the kernel: nobody
 * listens). NULL is fine. */
void netns_set_free(struct netns_set *s);

#endif
