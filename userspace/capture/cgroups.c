/*
 * cgroups.c: cgroup2 mount discovery, an id -> path cache filled by walking the hierarchy,
 * and workload matching.
 *
 * The cache is a small open-addressing table rebuilt whole on a miss: ids come from the
 * kernel, cgroups are created and removed behind our back, and a full walk of a host's
 * hierarchy takes well under a millisecond. An id that a rescan did not find is not looked
 * for again for a while, so a stream of events from a cgroup that no longer exists cannot
 * turn into a stream of walks.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <fnmatch.h>
#include <ftw.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "capture/cgroups.h"

#define CGROUPS_RESCAN_MIN_NS (200ull * 1000 * 1000)

struct cgroups_entry {
	uint64_t id; /* 0 = empty slot */
	char *path;
	/* What cgroups_attr_to_json() writes of this cgroup under cg->attr_policy, made at its
	 * first call: "aigw.workload" to "aigw.cgroup.id" (ATTR_LEN bytes, without braces; owned),
	 * and the container id. Made from PATH and the policy alone, so it goes with the entry
	 * (a rescan, which sees renames and moves) and with the policy (a reload). */
	char *attr;
	size_t attr_len;
	char container[CGROUPS_CONTAINER_ID_LEN + 1]; /* "" when the path shows none */
};

struct cgroups {
	/* What cgroups_attr_to_json() wrote last of a process ("process.pid" to "aigw.netns"),
	 * from its attr: a kept-alive connection's calls all carry the same. */
	struct jsonw_memo proc;
	char *mount;
	size_t mount_len;
	struct cgroups_entry *slots; /* power of two */
	size_t n_slots, n_used;
	uint64_t last_scan_ns;
	uint64_t last_miss_id; /* the id a recent rescan did not find */
	int names_fd;	       /* capture's aigw_cgroup_names, or -1 (not owned) */
	struct policy *attr_policy; /* the entries' attr was made under; a reference, owned */
	char gone_path[PATH_MAX]; /* the path of a removed cgroup, as cgroups_path() returns it */
};

int cgroups_mount_path(char *buf, size_t len)
{
	struct mntent *m;
	FILE *f = setmntent("/proc/mounts", "r");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while ((m = getmntent(f))) {
		if (strcmp(m->mnt_type, "cgroup2"))
			continue;
		snprintf(buf, len, "%s", m->mnt_dir);
		err = 0;
		break;
	}
	endmntent(f);
	return err;
}

int cgroups_self_id(const char *mount, uint64_t *ret_id)
{
	char line[PATH_MAX + 8], path[2 * PATH_MAX];
	FILE *f = fopen("/proc/self/cgroup", "re");
	struct stat st;
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		/* cgroup v2 is the line "0::/path"; v1 hierarchies have other numbers. */
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(path, sizeof(path), "%s%s", mount, strcmp(line + 3, "/") ? line + 3 : "");
		err = stat(path, &st) ? -errno : 0;
		break;
	}
	fclose(f);
	if (!err)
		*ret_id = st.st_ino;
	return err;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void entry_forget_attr(struct cgroups_entry *e)
{
	free(e->attr);
	e->attr = NULL;
	e->attr_len = 0;
}

static void table_clear(struct cgroups *cg)
{
	for (size_t i = 0; i < cg->n_slots; i++) {
		free(cg->slots[i].path);
		cg->slots[i].path = NULL;
		cg->slots[i].id = 0;
		entry_forget_attr(&cg->slots[i]);
	}
	cg->n_used = 0;
}

static struct cgroups_entry *table_slot(struct cgroups *cg, uint64_t id)
{
	size_t mask = cg->n_slots - 1;
	size_t i = (id * 0x9E3779B97F4A7C15ull) & mask;

	while (cg->slots[i].id && cg->slots[i].id != id)
		i = (i + 1) & mask;
	return &cg->slots[i];
}

static int table_grow(struct cgroups *cg)
{
	struct cgroups_entry *old = cg->slots;
	size_t n_old = cg->n_slots;

	cg->n_slots = n_old ? n_old * 2 : 256;
	cg->slots = calloc(cg->n_slots, sizeof(*cg->slots));
	if (!cg->slots) {
		cg->slots = old;
		cg->n_slots = n_old;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_old; i++)
		if (old[i].id)
			*table_slot(cg, old[i].id) = old[i];
	free(old);
	return 0;
}

static int table_put(struct cgroups *cg, uint64_t id, const char *path)
{
	struct cgroups_entry *e;

	if ((cg->n_used + 1) * 2 > cg->n_slots && table_grow(cg))
		return -ENOMEM;
	e = table_slot(cg, id);
	if (e->id)
		return 0;
	e->path = strdup(path);
	if (!e->path)
		return -ENOMEM;
	e->id = id;
	cg->n_used++;
	return 0;
}

/* nftw has no user argument: each thread (the main loop, each worker with a cache of its
 * own) walks with its own target. */
static __thread struct cgroups *walk_target;

static int walk_one(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	const char *rel;

	if (type != FTW_D)
		return 0;
	rel = fpath + walk_target->mount_len;
	table_put(walk_target, sb->st_ino, *rel ? rel : "/");
	return 0;
}

static void cgroups_rescan(struct cgroups *cg)
{
	table_clear(cg);
	walk_target = cg;
	nftw(cg->mount, walk_one, 32, FTW_PHYS | FTW_MOUNT);
	walk_target = NULL;
	cg->last_scan_ns = now_ns();
}

int cgroups_new(const char *mount, struct cgroups **ret_cgroups)
{
	struct cgroups *cg = calloc(1, sizeof(*cg));

	if (!cg)
		return -ENOMEM;
	cg->names_fd = -1;
	cg->mount = strdup(mount);
	if (!cg->mount || table_grow(cg)) {
		cgroups_free(cg);
		return -ENOMEM;
	}
	cg->mount_len = strlen(mount);
	if (cg->mount_len && mount[cg->mount_len - 1] == '/')
		cg->mount_len--;
	cgroups_rescan(cg);
	*ret_cgroups = cg;
	return 0;
}

void cgroups_free(struct cgroups *cg)
{
	if (!cg)
		return;
	if (cg->slots)
		table_clear(cg);
	policy_free(cg->attr_policy);
	free(cg->slots);
	free(cg->mount);
	free(cg);
}

#define CGROUPS_MAX_DEPTH 64 /* of a removed cgroup's chain of recorded parents */

/*
 * The path of ID into BUF (LEN bytes): the live one when the last walk found it, else its
 * recorded parent's path and its recorded name. DEPTH bounds the chain. -ENOENT when a link
 * of the chain is unknown (never recorded, or evicted by a flood of new cgroups): unknown,
 * never another cgroup's path.
 */
static int names_path(struct cgroups *cg, uint64_t id, char *buf, size_t len, int depth)
{
	struct cgroups_entry *e = table_slot(cg, id);
	struct aigw_cgroup_name v;
	size_t n;
	int err;

	if (e->id)
		return snprintf(buf, len, "%s", e->path) >= (int)len ? -ENAMETOOLONG : 0;
	if (!depth || cg->names_fd < 0 || bpf_map_lookup_elem(cg->names_fd, &id, &v))
		return -ENOENT;
	v.name[sizeof(v.name) - 1] = 0;
	err = names_path(cg, v.parent_id, buf, len, depth - 1);
	if (err)
		return err;
	n = strcmp(buf, "/") ? strlen(buf) : 0; /* a child of the root is "/name" */
	return snprintf(buf + n, len - n, "/%s", v.name) >= (int)(len - n) ? -ENAMETOOLONG : 0;
}

const char *cgroups_path(struct cgroups *cg, uint64_t id)
{
	struct cgroups_entry *e;

	if (!id)
		return NULL;
	e = table_slot(cg, id);
	if (e->id)
		return e->path;
	if (id != cg->last_miss_id || now_ns() - cg->last_scan_ns >= CGROUPS_RESCAN_MIN_NS) {
		cgroups_rescan(cg);
		e = table_slot(cg, id);
		if (e->id)
			return e->path;
		cg->last_miss_id = id;
	}
	/* Gone from the hierarchy: named as the kernel recorded it when it was made. */
	if (names_path(cg, id, cg->gone_path, sizeof(cg->gone_path), CGROUPS_MAX_DEPTH))
		return NULL;
	return cg->gone_path;
}

/* The walk that seeds the names map; nftw has no user argument (one per thread, as above).
 * Directories come before their contents: the id of each level's directory is on the stack
 * when its children are visited. */
static __thread struct {
	int fd;
	uint64_t ids[CGROUPS_MAX_DEPTH];
	int err;
} seed;

static int seed_one(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	struct aigw_cgroup_name v = {0};

	if (type != FTW_D || ftw->level >= CGROUPS_MAX_DEPTH)
		return 0;
	seed.ids[ftw->level] = sb->st_ino;
	if (!ftw->level)
		return 0; /* the captured cgroup itself: live as long as capture is */
	v.parent_id = seed.ids[ftw->level - 1];
	if (snprintf(v.name, sizeof(v.name), "%s", fpath + ftw->base) >= (int)sizeof(v.name))
		return 0;
	if (bpf_map_update_elem(seed.fd, &sb->st_ino, &v, BPF_ANY) && !seed.err)
		seed.err = -errno;
	return 0;
}

void cgroups_read_names(struct cgroups *cg, int map_fd)
{
	cg->names_fd = map_fd;
}

int cgroups_use_names(struct cgroups *cg, int map_fd, const char *root)
{
	int err;

	cg->names_fd = map_fd;
	seed.fd = map_fd;
	seed.err = 0;
	err = nftw(root, seed_one, 32, FTW_PHYS | FTW_MOUNT) ? -errno : seed.err;
	seed.fd = -1;
	return err;
}

/*
 * Splits PATH (a cgroup path or a glob) at its slashes, in place, into at most MAX names:
 * "/apps/x" is "", "apps", "x"; a glob "**" then "/x" is "**", "x". Returns the count, or MAX + 1
 * when there are more.
 */
static size_t split_names(char *path, char **names, size_t max)
{
	size_t n = 0;

	for (char *s = path;; s++) {
		if (n == max)
			return max + 1;
		names[n++] = s;
		s = strchr(s, '/');
		if (!s)
			return n;
		*s = 0;
	}
}

/* GLOB against NAMES, name by name; a glob name "**" stands for any number of names. */
static int names_match(char **glob, size_t n_glob, char **names, size_t n_names)
{
	for (; n_glob; glob++, n_glob--, names++, n_names--) {
		if (!strcmp(glob[0], "**")) {
			/* A run of "**" names is one: no needless backtracking. */
			while (n_glob > 1 && !strcmp(glob[1], "**"))
				glob++, n_glob--;
			for (size_t skip = 0; skip <= n_names; skip++)
				if (names_match(glob + 1, n_glob - 1, names + skip, n_names - skip))
					return 1;
			return 0;
		}
		if (!n_names || fnmatch(glob[0], names[0], 0))
			return 0;
	}
	return n_names == 0;
}

#define CGROUPS_MAX_NAMES 128 /* deeper than any cgroup tree (and any sane glob) */

/*
 * Does GLOB name the cgroup whose path is split into NAMES, or one of its ancestors (the
 * root excepted)? A workload is its cgroup and everything below it: a process that creates
 * a child cgroup stays the workload it was. Each glob name is an fnmatch pattern for one
 * path component, so "*" never crosses a "/" and a child cannot reach a glob written for
 * its parent's siblings by its own name.
 */
static int glob_names(const char *glob, char **names, size_t n_names)
{
	char copy[PATH_MAX];
	char *gnames[CGROUPS_MAX_NAMES];
	size_t n_glob;

	if (snprintf(copy, sizeof(copy), "%s", glob) >= (int)sizeof(copy))
		return 0;
	n_glob = split_names(copy, gnames, CGROUPS_MAX_NAMES);
	if (n_glob > CGROUPS_MAX_NAMES)
		return 0;
	for (size_t n = n_names; n >= 2; n--)
		if (names_match(gnames, n_glob, names, n))
			return 1;
	return n_names == 1 && names_match(gnames, n_glob, names, 1);
}

static const struct policy_workload *workload_of(const struct policy *p, const char *path)
{
	char copy[PATH_MAX];
	char *names[CGROUPS_MAX_NAMES];
	size_t n;

	if (!p || snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
		return NULL;
	if (!strcmp(copy, "/")) {
		names[0] = copy + 1; /* the root: one empty name, as "/x" is "", "x" */
		n = 1;
	} else {
		n = split_names(copy, names, CGROUPS_MAX_NAMES);
		if (n > CGROUPS_MAX_NAMES)
			return NULL;
	}
	for (size_t i = 0; i < p->n_workloads; i++)
		if (glob_names(p->workloads[i].cgroup_glob, names, n))
			return &p->workloads[i];
	return NULL;
}

void cgroups_workload(const struct policy *p, const char *path, struct cgroups_workload *ret)
{
	const struct policy_workload *w;
	const char *slash;

	ret->name = NULL;
	ret->team = NULL;
	ret->own_keys = 0;
	if (!path)
		return;
	w = workload_of(p, path);
	if (w) {
		ret->name = w->name;
		ret->team = w->team;
		ret->own_keys = w->own_keys;
		return;
	}
	/* No rule: the cgroup's own name, unless a workload of the policy has that name (its
	 * limits, budget and allow-lists are found by name): then the whole path. */
	slash = strrchr(path, '/');
	ret->name = slash && slash[1] ? slash + 1 : path;
	if (policy_workload_by_name(p, ret->name))
		ret->name = path;
}

static void json_add_str_or_null(struct jsonw *rec, const char *key, const char *val)
{
	if (val)
		jsonw_str(rec, key, val);
	else
		jsonw_null(rec, key);
}

/* Whether S holds exactly N hex digits (lower case, as runtimes write ids) and no more. */
static int hex_exactly(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!s[i] || !strchr("0123456789abcdef", s[i]))
			return 0;
	return 1;
}

int cgroups_container_id(const char *path, char ret_id[CGROUPS_CONTAINER_ID_LEN + 1])
{
	static const char *const prefixes[] = {"docker-", "cri-containerd-", "crio-", "libpod-",
					       ""};
	const char *c, *end, *rest;
	int found = 0;
	size_t len;

	for (c = path; c && *c; c = end) {
		while (*c == '/')
			c++;
		end = strchr(c, '/');
		len = end ? (size_t)(end - c) : strlen(c);
		if (len > 6 && !strncmp(c + len - 6, ".scope", 6))
			len -= 6;
		for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
			size_t plen = strlen(prefixes[i]);

			rest = c + plen;
			if (len != plen + CGROUPS_CONTAINER_ID_LEN || strncmp(c, prefixes[i], plen) ||
			    !hex_exactly(rest, CGROUPS_CONTAINER_ID_LEN))
				continue;
			memcpy(ret_id, rest, CGROUPS_CONTAINER_ID_LEN);
			ret_id[CGROUPS_CONTAINER_ID_LEN] = 0;
			found = 1; /* the deepest one wins: a pod's container below the pod */
			break;
		}
	}
	return found;
}

/* The attribution of cgroup ID at PATH under policy P that does not depend on the process:
 * workload, team, path and id, into REC; and its container id into CONTAINER ("" if none). */
static void cgroup_attr_add(struct jsonw *rec, const struct policy *p, uint64_t id,
			    const char *path, char container[CGROUPS_CONTAINER_ID_LEN + 1])
{
	struct cgroups_workload wl;

	cgroups_workload(p, path, &wl);
	json_add_str_or_null(rec, "aigw.workload", wl.name);
	json_add_str_or_null(rec, "aigw.team", wl.team);
	json_add_str_or_null(rec, "aigw.cgroup.path", path);
	jsonw_num(rec, "aigw.cgroup.id", (double)id);
	if (!path || !cgroups_container_id(path, container))
		container[0] = 0;
}

/* Entry E's attribution under P made: its members, without braces, in e->attr. */
static void cgroup_attr_make(struct cgroups_entry *e, const struct policy *p)
{
	struct jsonw *w = jsonw_new();
	size_t len;

	if (!w)
		return;
	cgroup_attr_add(w, p, e->id, e->path, e->container);
	e->attr = jsonw_finish(w, &len);
	if (!e->attr)
		return;
	memmove(e->attr, e->attr + 1, len - 2);
	e->attr_len = len - 2;
}

/*
 * The entry of cgroup ID (at PATH, from cgroups_path()) with its attribution made under P, or
 * NULL when it has none: a cgroup gone from the hierarchy (named from the kernel's records,
 * not cached), or no memory. A policy other than the one the entries' attributions were made
 * under (a reload) drops them all; the reference held on it keeps its address from being
 * another policy's.
 */
static const struct cgroups_entry *cgroup_attr_entry(struct cgroups *cg, const struct policy *p,
						     uint64_t id, const char *path)
{
	struct cgroups_entry *e;

	if (p != cg->attr_policy) {
		for (size_t i = 0; i < cg->n_slots; i++)
			entry_forget_attr(&cg->slots[i]);
		policy_free(cg->attr_policy);
		/* only its count of references changes */
		cg->attr_policy = p ? policy_ref((struct policy *)p) : NULL;
	}
	if (!path || path == cg->gone_path)
		return NULL;
	e = table_slot(cg, id);
	if (!e->attr)
		cgroup_attr_make(e, p);
	return e->attr ? e : NULL;
}

/* The process, user and namespace of the attr at SRC: made from its fields alone. */
static void proc_add(struct jsonw *rec, const void *src)
{
	const struct aigw_attr *a = src;
	char comm[AIGW_COMM_LEN + 1];

	jsonw_num(rec, "process.pid", a->pid);
	jsonw_num(rec, "process.thread.id", a->tid);
	memcpy(comm, a->comm, AIGW_COMM_LEN);
	comm[AIGW_COMM_LEN] = 0;
	jsonw_str(rec, "process.executable.name", comm);
	jsonw_num(rec, "process.user.id", a->uid);
	jsonw_num(rec, "process.group.id", a->gid);
	if (a->netns_cookie)
		jsonw_num(rec, "aigw.netns", (double)a->netns_cookie);
}

void cgroups_attr_to_json(struct cgroups *cg, const struct policy *p, const struct aigw_attr *a,
			  struct jsonw *rec)
{
	char container[CGROUPS_CONTAINER_ID_LEN + 1];
	const char *path = cgroups_path(cg, a->sock_cgroup_id);
	const struct cgroups_entry *e = cgroup_attr_entry(cg, p, a->sock_cgroup_id, path);

	if (e) {
		jsonw_members(rec, e->attr, e->attr_len);
		memcpy(container, e->container, sizeof(container));
	} else {
		cgroup_attr_add(rec, p, a->sock_cgroup_id, path, container);
	}
	if (a->task_cgroup_id != a->sock_cgroup_id) {
		/* A descriptor passed over a UNIX socket: the socket was made elsewhere. */
		json_add_str_or_null(rec, "aigw.task_cgroup.path",
				     cgroups_path(cg, a->task_cgroup_id));
		jsonw_num(rec, "aigw.task_cgroup.id", (double)a->task_cgroup_id);
	}
	jsonw_memo_members(rec, &cg->proc, a, sizeof(*a), proc_add);
	if (container[0])
		jsonw_str(rec, "container.id", container);
}
