/*
 * loader: the capture programs' life in the kernel. Loads capture.bpf.c through its
 * skeleton, reusing the maps pinned by a previous daemon, attaches every program to the
 * captured cgroup with bpf_link (BPF_F_ALLOW_MULTI semantics: other cgroup programs such as a
 * CNI's keep running), and pins maps, programs and links under the pin directory so that
 * capture outlives the daemon: while no daemon listens, redirected connections are refused.
 *
 * A daemon that starts over a pinned instance takes it over without a gap: each pinned link
 * is atomically switched to the new program (BPF_LINK_UPDATE). The tracing programs that name
 * the cgroups under the captured one (a removed cgroup keeps its path) are attached for the
 * daemon's life only.
 */
#ifndef AIGW_CAPTURE_LOADER_H
#define AIGW_CAPTURE_LOADER_H

#include <stdint.h>
#include <sys/socket.h>

#include "capture.h"

#define CAPTURE_PIN_DIR_DEFAULT "/sys/fs/bpf/aigw"

struct capture; /* owns the skeleton, the cgroup fd, the links and a sock_diag socket; freed by
		 * capture_close() */

enum capture_map {
	CAPTURE_MAP_PROV4,
	CAPTURE_MAP_PROV6,
	CAPTURE_MAP_FLOWS,
	CAPTURE_MAP_EVENTS,
	CAPTURE_MAP_CGROUP_NAMES, /* struct aigw_cgroup_name by cgroup id (cgroups_use_names()) */
	CAPTURE_MAP_NETNS, /* netns cookie -> struct aigw_netns_listener */
};

/*
 * Loads, configures with CFG (its generation is set here), attaches to the cgroup at
 * CGROUP_PATH (absolute) and pins under PIN_DIR. EXEMPT_CGROUP_ID: the daemon's own cgroup,
 * the only one whose sockets the exempt mark lets through (fixed in the programs' read-only
 * data). *ret_took_over says whether a pinned instance was found and taken over. Returns 0 or
 * -errno, with the reason logged.
 */
int capture_open(const char *pin_dir, const char *cgroup_path, const struct aigw_config *cfg,
		 uint64_t exempt_cgroup_id, struct capture **ret_capture, int *ret_took_over);

/* Replaces the running configuration (a policy reload); the generation is bumped. */
int capture_configure(struct capture *c, const struct aigw_config *cfg);

int capture_map_fd(const struct capture *c, enum capture_map which);

struct sockdiag;

/*
 * The flow the connect hook recorded for a connection accepted from PEER on the listener
 * address LOCAL in the network namespace NETNS_COOKIE, removed from the map (claimed once, whatever the outcome). The record is
 * honoured only when the socket at PEER is the one that created it (aigw_flow_claimable(),
 * by socket cookie, asked of SD, a sock_diag socket of that namespace; NULL: the daemon's own):
 * one left by another socket on the same address:port, or one of another namespace, is not.
 * Returns 0,
 * -ENOENT when there is no record (capture did not redirect this connection), -ESTALE when
 * the record is not this connection's, or another -errno when it could not be checked.
 */
int capture_flow_take(struct capture *c, struct sockdiag *sd, uint64_t netns_cookie,
		      const struct sockaddr *peer, const struct sockaddr *local,
		      struct aigw_flow *ret_flow);

/* Sums of the per-CPU counters, indexed by enum aigw_stat. */
int capture_stats(const struct capture *c, uint64_t ret_counts[AIGW_STAT_MAX]);

/* Releases the daemon's handles; what is pinned stays attached and enforcing. NULL is fine. */
void capture_close(struct capture *c);

/* Detaches every pinned link and removes every pin and the directory. Returns 0 when there was
 * nothing or everything was removed, -errno otherwise. */
int capture_detach(const char *pin_dir);

#endif
