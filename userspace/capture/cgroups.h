/*
 * cgroups: who a cgroup id is. Finds the cgroup2 mount, maps cgroup ids (the kernfs inode
 * numbers the BPF side records) to paths relative to that mount, cached and rescanned when
 * an unknown id appears (and, for a cgroup removed since, from the names the kernel recorded
 * when it was made), and maps a path to a workload by the policy's rules (the first
 * glob that matches the path or an ancestor of it, name by name; otherwise the path's last
 * component, e.g. "billing.service", or the whole path when that is a policy workload's name).
 */
#ifndef AIGW_CAPTURE_CGROUPS_H
#define AIGW_CAPTURE_CGROUPS_H

#include <stddef.h>
#include <stdint.h>

#include "capture.h"
#include "util/jsonw.h"
#include "policy/policy.h"

/* Writes the cgroup2 mount point (from /proc/mounts) into BUF. -ENOENT when there is none. */
int cgroups_mount_path(char *buf, size_t len);

/* The id of the calling process's own cgroup (from /proc/self/cgroup, under MOUNT) in
 * *RET_ID. Returns 0 or -errno. */
int cgroups_self_id(const char *mount, uint64_t *ret_id);

/* the id -> path cache; freed with cgroups_free(). One thread's: each proxy worker has one. */
struct cgroups;

int cgroups_new(const char *mount, struct cgroups **ret_cgroups);
void cgroups_free(struct cgroups *cg);

/* The path of cgroup ID relative to the mount ("/apps/billing.service"), or NULL when no
 * such cgroup exists and none is known to have existed (cgroups_use_names()). The string is
 * owned by the cache: valid until the next call. */
const char *cgroups_path(struct cgroups *cg, uint64_t id);

/*
 * From now on a cgroup that is gone from the hierarchy is named by the kernel's record of its
 * name and parent, made when it was created or renamed (capture's aigw_cgroup_names map,
 * MAP_FD; the capture owns it and outlives CG's use of it): attribution is fixed at connect().
 * Seeds the map with the cgroups below ROOT (an absolute path: the captured cgroup) as they
 * are now, which the kernel recorded before the capture was loaded. Returns 0 or -errno.
 */
int cgroups_use_names(struct cgroups *cg, int map_fd, const char *root);

/* The same for another thread's cache CG: reads the map MAP_FD (seeded already). */
void cgroups_read_names(struct cgroups *cg, int map_fd);

struct cgroups_workload {
	const char *name; /* owned by the policy, or pointing into PATH */
	const char *team; /* NULL when the policy names none */
	int own_keys;     /* the policy lets its own provider keys through */
};

/*
 * The workload for cgroup PATH under policy P. A glob is matched one path component at a time
 * (fnmatch FNM_PATHNAME: "*" never crosses a "/"; a component "**" is any number of them), on
 * the path and on each of its ancestors: a workload is its cgroup and every cgroup below it.
 */
void cgroups_workload(const struct policy *p, const char *path, struct cgroups_workload *ret);

#define CGROUPS_CONTAINER_ID_LEN 64

/*
 * The container id PATH shows, if any: the 64 hex digits of the deepest component that is
 * docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope, libpod-<id>.scope (systemd
 * driver) or <id> alone (cgroupfs driver). Returns 1 with RET_ID written, else 0.
 */
int cgroups_container_id(const char *path, char ret_id[CGROUPS_CONTAINER_ID_LEN + 1]);

/* Adds the attribution fields of A (process, user, cgroup, workload, team; aigw.netns, the
 * socket's netns cookie; container.id where the cgroup path shows one) to REC. */
void cgroups_attr_to_json(struct cgroups *cg, const struct policy *p, const struct aigw_attr *a,
			  struct jsonw *rec);

#endif
