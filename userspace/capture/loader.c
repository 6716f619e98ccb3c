/*
 * loader.c: skeleton open/load with pinned-map reuse, attach-or-take-over of each program's
 * cgroup link, pinning, and the teardown used by `aigw detach`.
 *
 * Pins under PIN_DIR: one file per map (by map name, libbpf's LIBBPF_PIN_BY_NAME), and
 * prog_<name> and link_<name> per program. A link pinned by a previous daemon is kept and
 * switched to the new program in one syscall, so no connect() ever runs unhooked.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.skel.h"
#include "capture/loader.h"
#include "capture_decide.h" /* after capture.h */
#include "capture/sockdiag.h"
#include "util/log.h"
#include "util/netaddr.h"

#define CAPTURE_MAX_PROGS 16

struct capture {
	struct capture_bpf *skel;
	char pin_dir[PATH_MAX];
	int cgroup_fd;
	uint64_t cgroup_id;
	uint32_t generation;
	struct bpf_link *links[CAPTURE_MAX_PROGS];
	int n_links;
	struct sockdiag *sockdiag; /* finds the client socket of an accepted connection */
};

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int pin_path(char *buf, size_t len, const char *dir, const char *kind, const char *name)
{
	int n = snprintf(buf, len, "%s/%s_%s", dir, kind, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int config_write(struct capture *c, const struct aigw_config *cfg)
{
	struct aigw_config cur = *cfg;
	uint32_t zero = 0;
	int fd = bpf_map__fd(c->skel->maps.aigw_config);
	struct aigw_config old;

	/* The generation continues across daemons: never 0 once configured. */
	if (!bpf_map_lookup_elem(fd, &zero, &old) && old.generation > c->generation)
		c->generation = old.generation;
	cur.generation = ++c->generation;
	if (bpf_map_update_elem(fd, &zero, &cur, BPF_ANY))
		return -errno;
	return 0;
}

int capture_configure(struct capture *c, const struct aigw_config *cfg)
{
	return config_write(c, cfg);
}

/* The cgroup a pinned link is attached to, or 0 when it is no cgroup link any more. */
static uint64_t link_cgroup_id(struct bpf_link *link)
{
	struct bpf_link_info info = {};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len))
		return 0;
	if (info.type != BPF_LINK_TYPE_CGROUP)
		return 0;
	return info.cgroup.cgroup_id;
}

/*
 * Attaches PROG, or takes over the link pinned for it. A pinned link on the same cgroup is
 * switched to PROG in place (no gap); one on another cgroup (the policy moved capture) is
 * detached after the new link is attached, so the old cgroup is released and the new one
 * covered.
 */
static int program_attach(struct capture *c, struct bpf_program *prog, int *took_over)
{
	char path[PATH_MAX];
	struct bpf_link *old, *link = NULL;
	int err;

	err = pin_path(path, sizeof(path), c->pin_dir, "link", bpf_program__name(prog));
	if (err)
		return err;
	old = access(path, F_OK) ? NULL : bpf_link__open(path);
	if (old && link_cgroup_id(old) == c->cgroup_id) {
		if (!bpf_link__update_program(old, prog)) {
			*took_over = 1;
			link = old;
			goto pinned;
		}
		log_warn("could not update pinned link %s (%s); replacing it", path,
			 strerror(errno));
	}
	link = bpf_program__attach_cgroup(prog, c->cgroup_fd);
	if (!link) {
		err = -errno;
		log_error("attach %s to the captured cgroup: %s", bpf_program__name(prog),
			  strerror(-err));
		bpf_link__destroy(old);
		return err;
	}
	if (old) {
		bpf_link__detach(old);
		bpf_link__destroy(old);
		unlink(path);
	}
	err = bpf_link__pin(link, path);
	if (err) {
		log_error("pin %s: %s", path, strerror(-err));
		bpf_link__destroy(link);
		return err;
	}
pinned:
	c->links[c->n_links++] = link;
	err = pin_path(path, sizeof(path), c->pin_dir, "prog", bpf_program__name(prog));
	if (err)
		return err;
	unlink(path);
	err = bpf_program__pin(prog, path);
	if (err)
		log_warn("pin %s: %s", path, strerror(-err));
	return 0;
}

/* A tracing program (the cgroup names): attached for this daemon's life, not pinned. The
 * daemon seeds their map when it starts, so nothing is lost while none runs. */
static int tracing_attach(struct capture *c, struct bpf_program *prog)
{
	struct bpf_link *link = bpf_program__attach(prog);

	if (!link) {
		int err = -errno;

		log_error("attach %s: %s", bpf_program__name(prog), strerror(-err));
		return err;
	}
	c->links[c->n_links++] = link;
	return 0;
}

static int capture_load(struct capture *c, uint64_t exempt_cgroup_id)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = c->pin_dir);
	int err;

	c->skel = capture_bpf__open_opts(&opts);
	if (!c->skel)
		return -errno;
	c->skel->rodata->aigw_exempt_cgroup_id = exempt_cgroup_id;
	c->skel->rodata->aigw_capture_cgroup_id = c->cgroup_id;
	err = capture_bpf__load(c->skel);
	if (err) {
		log_error("load capture programs: %s (a pinned instance of another version can be "
			  "removed with `aigw detach`)",
			  strerror(-err));
		return err;
	}
	return 0;
}

int capture_open(const char *pin_dir, const char *cgroup_path, const struct aigw_config *cfg,
		 uint64_t exempt_cgroup_id, struct capture **ret_capture, int *ret_took_over)
{
	struct bpf_program *prog;
	struct capture *c;
	struct stat st;
	int err, took_over = 0;

	libbpf_set_print(libbpf_quiet);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cgroup_fd = -1;
	snprintf(c->pin_dir, sizeof(c->pin_dir), "%s", pin_dir);
	if (mkdir(pin_dir, 0700) && errno != EEXIST) {
		err = -errno;
		log_error("create %s: %s (is bpffs mounted at /sys/fs/bpf?)", pin_dir,
			  strerror(-err));
		goto fail;
	}
	c->cgroup_fd = open(cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->cgroup_fd < 0 || fstat(c->cgroup_fd, &st)) {
		err = -errno;
		log_error("open captured cgroup %s: %s", cgroup_path, strerror(-err));
		goto fail;
	}
	c->cgroup_id = st.st_ino;
	err = sockdiag_new(&c->sockdiag);
	if (err) {
		log_error("open a NETLINK_SOCK_DIAG socket: %s (needed to check flow records)",
			  strerror(-err));
		goto fail;
	}
	err = capture_load(c, exempt_cgroup_id);
	if (err)
		goto fail;
	/* Configure before attaching: a program never runs on an unwritten config. */
	err = config_write(c, cfg);
	if (err)
		goto fail;
	bpf_object__for_each_program(prog, c->skel->obj)
	{
		if (c->n_links == CAPTURE_MAX_PROGS) {
			err = -E2BIG;
			goto fail;
		}
		if (bpf_program__type(prog) == BPF_PROG_TYPE_TRACING)
			err = tracing_attach(c, prog);
		else
			err = program_attach(c, prog, &took_over);
		if (err)
			goto fail;
	}
	*ret_capture = c;
	if (ret_took_over)
		*ret_took_over = took_over;
	return 0;
fail:
	capture_close(c);
	return err;
}

int capture_map_fd(const struct capture *c, enum capture_map which)
{
	switch (which) {
	case CAPTURE_MAP_PROV4:
		return bpf_map__fd(c->skel->maps.aigw_prov4);
	case CAPTURE_MAP_PROV6:
		return bpf_map__fd(c->skel->maps.aigw_prov6);
	case CAPTURE_MAP_FLOWS:
		return bpf_map__fd(c->skel->maps.aigw_flows);
	case CAPTURE_MAP_EVENTS:
		return bpf_map__fd(c->skel->maps.aigw_events);
	case CAPTURE_MAP_CGROUP_NAMES:
		return bpf_map__fd(c->skel->maps.aigw_cgroup_names);
	case CAPTURE_MAP_NETNS:
		return bpf_map__fd(c->skel->maps.aigw_netns);
	}
	return -EINVAL;
}

int capture_flow_take(struct capture *c, struct sockdiag *sd, uint64_t netns_cookie,
		      const struct sockaddr *peer, const struct sockaddr *local,
		      struct aigw_flow *ret_flow)
{
	struct aigw_flow_key key = {.netns_cookie = netns_cookie};
	struct aigw_flow flow;
	uint64_t cookie;
	int err;

	err = netaddr_from_sockaddr(peer, &key.client);
	if (err)
		return err;
	if (bpf_map_lookup_and_delete_elem(capture_map_fd(c, CAPTURE_MAP_FLOWS), &key, &flow))
		return -errno;
	if (flow.attr.netns_cookie != netns_cookie)
		return -ESTALE;
	/* The peer's socket is the client's: on loopback both ends are in one namespace, the
	 * listener's, where SD asks. */
	err = sockdiag_cookie_of(sd ? sd : c->sockdiag, peer, local, &cookie);
	if (err)
		return err == -ENOENT ? -ESTALE : err;
	if (!aigw_flow_claimable(&flow, cookie))
		return -ESTALE;
	*ret_flow = flow;
	return 0;
}

int capture_stats(const struct capture *c, uint64_t ret_counts[AIGW_STAT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	int fd = bpf_map__fd(c->skel->maps.aigw_stats);
	uint64_t *vals;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (uint32_t i = 0; i < AIGW_STAT_MAX; i++) {
		ret_counts[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, vals))
			continue;
		for (int cpu = 0; cpu < ncpu; cpu++)
			ret_counts[i] += vals[cpu];
	}
	free(vals);
	return 0;
}

void capture_close(struct capture *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n_links; i++)
		bpf_link__destroy(c->links[i]); /* pinned: stays attached; tracing: detached */
	capture_bpf__destroy(c->skel);
	sockdiag_free(c->sockdiag);
	if (c->cgroup_fd >= 0)
		close(c->cgroup_fd);
	free(c);
}

static int link_unpin_detach(const char *path)
{
	struct bpf_link *link = bpf_link__open(path);
	int err = 0;

	if (link) {
		if (bpf_link__detach(link))
			err = -errno;
		bpf_link__destroy(link);
	}
	if (unlink(path) && errno != ENOENT)
		err = -errno;
	return err;
}

int capture_detach(const char *pin_dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	int err = 0, e;
	DIR *d;

	d = opendir(pin_dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, de->d_name);
		if (!strncmp(de->d_name, "link_", 5))
			e = link_unpin_detach(path);
		else
			e = unlink(path) ? -errno : 0;
		if (e && !err)
			err = e;
	}
	closedir(d);
	if (rmdir(pin_dir) && !err)
		err = -errno;
	return err;
}
