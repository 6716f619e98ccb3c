/*
 * netns.c: the network namespaces capture serves (see netns.h). One struct netns_served per
 * foreign namespace, in a list (at most AIGW_NETNS_MAX - 1; looked up only on the connect hook's
 * events, never per connection: each listener carries its own).
 *
 * A namespace that could not be served (a process there bound the listener's port first) is
 * not tried again for a while: each denied connect from it is an event, and each try costs an
 * open of /proc/PID/ns/net, two setns and a bind. The wait starts at NETNS_BACKOFF_MIN_MS and
 * doubles with each failed try up to NETNS_BACKOFF_MAX_MS; a try is logged and recorded, so
 * the failure is too, once per wait. The waits are kept in a small table (struct
 * netns_backoff), forgotten once a namespace stayed quiet for the longest wait.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "capture.h"
#include "capture/netns.h"
#include "util/log.h"
#include "util/timefmt.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

struct netns_served {
	struct netns_set *set;
	uint64_t cookie;
	uint64_t inode; /* nsfs inode of the namespace */
	uint32_t pid;	/* a process of the captured tree in it, when last seen */
	struct listener *l4, *l6;
	struct sockdiag *sd; /* sock_diag socket made in the namespace: flow claims ask it */
	struct netns_served *next;
};

#define NETNS_BACKOFF_MIN_MS 1000
#define NETNS_BACKOFF_MAX_MS 30000
#define NETNS_BACKOFF_SLOTS 64 /* namespaces failing at once; past that the oldest is forgotten */

/* A namespace whose last serve failed: not tried before RETRY_MS. */
struct netns_backoff {
	uint64_t cookie;   /* 0: a free slot */
	uint64_t retry_ms; /* CLOCK_MONOTONIC */
	unsigned wait_ms;  /* the last wait, doubled at the next failure */
};

struct netns_set {
	struct event_base *base;
	struct netns_config cfg;
	char cgroup_path[PATH_MAX];
	int home_fd; /* the daemon's own namespace, to return to */
	uint64_t home_cookie;
	struct netns_served *list;
	size_t n; /* foreign namespaces in LIST */
	struct event *tick;
	time_t refused_at; /* the last "refused" record: at most one a second */
	struct netns_backoff backoff[NETNS_BACKOFF_SLOTS];
};

static int sock_u64_opt(int fd, int opt, uint64_t *ret)
{
	socklen_t len = sizeof(*ret);

	return getsockopt(fd, SOL_SOCKET, opt, ret, &len) ? -errno : 0;
}

/* The netns cookie of the calling thread's current namespace. */
static int current_netns_cookie(uint64_t *ret_cookie)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int err;

	if (fd < 0)
		return -errno;
	err = sock_u64_opt(fd, SO_NETNS_COOKIE, ret_cookie);
	close(fd);
	return err;
}

/* 0 (no listener) when L is NULL or its cookie cannot be read. */
static uint64_t cookie_of(const struct listener *l)
{
	uint64_t cookie = 0;

	if (l && listener_cookie(l, &cookie))
		cookie = 0;
	return cookie;
}

static int map_put(struct netns_set *s, uint64_t cookie, const struct listener *l4,
		   const struct listener *l6)
{
	struct aigw_netns_listener v = {
	    .listen4_cookie = cookie_of(l4),
	    .listen6_cookie = cookie_of(l6),
	};

	return bpf_map_update_elem(s->cfg.map_fd, &cookie, &v, BPF_ANY) ? -errno : 0;
}

static void record_err(struct netns_set *s, const char *action, uint64_t cookie, uint64_t inode,
		       uint32_t pid, const char *reason, int err)
{
	char when[TIMEFMT_LEN];
	struct jsonw *rec = jsonw_new();

	if (rec) {
		timefmt_now(when);
		jsonw_str(rec, "time", when);
		jsonw_str(rec, "event.name", "capture.netns");
		jsonw_str(rec, "aigw.netns.action", action);
		jsonw_num(rec, "aigw.netns", (double)cookie);
		if (inode)
			jsonw_num(rec, "aigw.netns.inode", (double)inode);
		if (pid)
			jsonw_num(rec, "process.pid", pid);
		if (reason)
			jsonw_str(rec, "aigw.reason", reason);
		if (err)
			jsonw_str(rec, "error.type", strerror(-err));
		jsonw_num(rec, "aigw.netns.count", (double)netns_count(s));
	}
	s->cfg.record(rec, s->cfg.arg);
}

static void record(struct netns_set *s, const char *action, uint64_t cookie, uint64_t inode,
		   uint32_t pid, const char *reason)
{
	record_err(s, action, cookie, inode, pid, reason, 0);
}

static void served_accepted(int fd, const struct sockaddr *peer, void *arg)
{
	struct netns_served *ns = arg;

	ns->set->cfg.accept(fd, peer, ns->sd, ns->cookie, ns->set->cfg.arg);
}

static void served_free(struct netns_served *ns)
{
	if (!ns)
		return;
	listener_free(ns->l4);
	listener_free(ns->l6);
	sockdiag_free(ns->sd);
	free(ns);
}

/*
 * A fresh namespace (unshare -n) has its loopback down and no 127.0.0.1: nothing could
 * listen there, and the redirected connect would find no route. Container runtimes bring lo
 * up themselves; where nobody did, we do, and touch nothing else (FD: a socket in the
 * namespace).
 */
static int loopback_up(int fd)
{
	struct ifreq ifr = {0};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr))
		return -errno;
	if (ifr.ifr_flags & IFF_UP)
		return 0;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr))
		return -errno;
	log_info("netns: brought lo up in a namespace that had it down");
	return 0;
}

/*
 * What is done inside the namespace (the calling thread has entered it): prove it is the
 * one the event named, bring lo up, listen, open the sock_diag socket. The IPv6 listener is
 * optional (a namespace may have IPv6 off): without it IPv6 redirects there stay denied.
 */
static int served_open_inside(struct netns_served *ns)
{
	struct netns_set *s = ns->set;
	uint64_t cookie;
	int fd, err;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = sock_u64_opt(fd, SO_NETNS_COOKIE, &cookie);
	if (!err && cookie != ns->cookie)
		err = -ESRCH; /* the pid has moved, or is another process now */
	if (!err)
		err = loopback_up(fd);
	close(fd);
	if (err)
		return err;
	err = listener_new(s->base, (const struct sockaddr *)&s->cfg.listen4,
			   sizeof(s->cfg.listen4), served_accepted, ns, &ns->l4);
	if (err)
		return err;
	if (listener_new(s->base, (const struct sockaddr *)&s->cfg.listen6, sizeof(s->cfg.listen6),
			 served_accepted, ns, &ns->l6))
		ns->l6 = NULL;
	return sockdiag_new(&ns->sd);
}

/*
 * Enters the namespace of PID, opens NS's sockets there and returns to the daemon's own. A
 * failure to return is fatal: every later socket (upstream ones too) would be made in the
 * workload's namespace.
 */
static int served_open(struct netns_served *ns, uint32_t pid)
{
	char path[64];
	struct stat st;
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	ns->inode = st.st_ino;
	if (setns(fd, CLONE_NEWNET)) {
		err = -errno;
		goto out;
	}
	err = served_open_inside(ns);
	if (setns(ns->set->home_fd, CLONE_NEWNET)) {
		log_error("netns: cannot return to aigw's own network namespace: %s",
			  strerror(errno));
		abort();
	}
out:
	close(fd);
	return err;
}

static struct netns_served *served_find(struct netns_set *s, uint64_t cookie)
{
	for (struct netns_served *ns = s->list; ns; ns = ns->next)
		if (ns->cookie == cookie)
			return ns;
	return NULL;
}

static uint64_t monotonic_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static struct netns_backoff *backoff_find(struct netns_set *s, uint64_t cookie)
{
	for (size_t i = 0; i < NETNS_BACKOFF_SLOTS; i++)
		if (s->backoff[i].cookie == cookie)
			return &s->backoff[i];
	return NULL;
}

/* The slot of COOKIE's next wait: its own, a free or forgotten one, else the oldest. */
static struct netns_backoff *backoff_slot(struct netns_set *s, uint64_t cookie, uint64_t now)
{
	struct netns_backoff *b = backoff_find(s, cookie), *oldest = &s->backoff[0];

	for (size_t i = 0; !b && i < NETNS_BACKOFF_SLOTS; i++) {
		struct netns_backoff *c = &s->backoff[i];

		if (!c->cookie || now >= c->retry_ms + NETNS_BACKOFF_MAX_MS) {
			memset(c, 0, sizeof(*c));
			return c;
		}
		if (c->retry_ms < oldest->retry_ms)
			oldest = c;
	}
	if (!b) {
		b = oldest;
		memset(b, 0, sizeof(*b));
	}
	return b;
}

/* COOKIE's serve failed: the next try waits twice as long as the last (NETNS_BACKOFF_*). */
static unsigned backoff_fail(struct netns_set *s, uint64_t cookie)
{
	uint64_t now = monotonic_ms();
	struct netns_backoff *b = backoff_slot(s, cookie, now);

	b->wait_ms = !b->cookie ? NETNS_BACKOFF_MIN_MS
		     : b->wait_ms >= NETNS_BACKOFF_MAX_MS / 2 ? NETNS_BACKOFF_MAX_MS
							       : b->wait_ms * 2;
	b->cookie = cookie;
	b->retry_ms = now + b->wait_ms;
	return b->wait_ms;
}

/* Whether COOKIE failed to be served and its wait is not over. */
static int backoff_waiting(struct netns_set *s, uint64_t cookie)
{
	struct netns_backoff *b = backoff_find(s, cookie);

	return b && monotonic_ms() < b->retry_ms;
}

static void backoff_clear(struct netns_set *s, uint64_t cookie)
{
	struct netns_backoff *b = backoff_find(s, cookie);

	if (b)
		memset(b, 0, sizeof(*b));
}

/* Logged and recorded once per wait: the next try is not before it ends. */
static void serve_failed(struct netns_set *s, uint64_t cookie, uint32_t pid, int err)
{
	unsigned wait_ms = backoff_fail(s, cookie);

	log_warn("netns: serve the network namespace of pid %u: %s (next try in %u ms at the "
		 "earliest)",
		 pid, strerror(-err), wait_ms);
	record_err(s, "refused", cookie, 0, pid, "serve_failed", err);
}

int netns_serve(struct netns_set *s, uint32_t pid, uint64_t cookie)
{
	struct netns_served *ns;
	time_t now;
	int err;

	if (cookie == s->home_cookie || served_find(s, cookie))
		return 0;
	if (backoff_waiting(s, cookie))
		return -EAGAIN;
	if (netns_count(s) >= s->cfg.max) {
		now = time(NULL);
		if (now != s->refused_at)
			record(s, "refused", cookie, 0, pid, "netns_limit");
		s->refused_at = now;
		return -ENOSPC;
	}
	ns = calloc(1, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	ns->set = s;
	ns->cookie = cookie;
	ns->pid = pid;
	err = served_open(ns, pid);
	/* Listening: now the kernel may redirect there. */
	if (!err)
		err = map_put(s, cookie, ns->l4, ns->l6);
	if (err) {
		served_free(ns);
		if (err != -ESRCH)
			serve_failed(s, cookie, pid, err);
		return err;
	}
	backoff_clear(s, cookie);
	ns->next = s->list;
	s->list = ns;
	s->n++;
	log_info("netns: listening in network namespace %llu (inode %llu, pid %u)%s",
		 (unsigned long long)cookie, (unsigned long long)ns->inode, pid,
		 ns->l6 ? "" : ", IPv4 only");
	record(s, "served", cookie, ns->inode, pid, NULL);
	return 0;
}

/* Whether process PID lives in the namespace with nsfs inode INODE. The inode cannot name
 * another namespace meanwhile: our listener keeps this one alive. */
static int pid_in_netns(uint32_t pid, uint64_t inode)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
	return !stat(path, &st) && (uint64_t)st.st_ino == inode;
}

/* Gives each namespace whose pid has left it another process of the captured tree that lives
 * there, read from the cgroup.procs file of CG_DIR and of every cgroup below it. Returns how
 * many namespaces are still without one. */
static size_t adopt_from_tree(struct netns_set *s, const char *cg_dir, size_t orphans)
{
	char path[PATH_MAX];
	struct dirent *de;
	unsigned pid;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg_dir);
	f = fopen(path, "re");
	if (f) {
		while (orphans && fscanf(f, "%u", &pid) == 1)
			for (struct netns_served *ns = s->list; ns; ns = ns->next)
				if (!ns->pid && pid_in_netns(pid, ns->inode)) {
					ns->pid = pid;
					orphans--;
					break;
				}
		fclose(f);
	}
	d = orphans ? opendir(cg_dir) : NULL;
	if (!d)
		return orphans;
	while (orphans && (de = readdir(d)))
		if (de->d_type == DT_DIR && de->d_name[0] != '.' &&
		    snprintf(path, sizeof(path), "%s/%s", cg_dir, de->d_name) < (int)sizeof(path))
			orphans = adopt_from_tree(s, path, orphans);
	closedir(d);
	return orphans;
}

static void release(struct netns_set *s, struct netns_served **link)
{
	struct netns_served *ns = *link;

	if (bpf_map_delete_elem(s->cfg.map_fd, &ns->cookie) && errno != ENOENT)
		log_warn("netns: remove the map entry of namespace %llu: %s",
			 (unsigned long long)ns->cookie, strerror(errno));
	*link = ns->next;
	s->n--;
	log_info("netns: released network namespace %llu (inode %llu): no captured process "
		 "lives there",
		 (unsigned long long)ns->cookie, (unsigned long long)ns->inode);
	record(s, "released", ns->cookie, ns->inode, 0, NULL);
	served_free(ns);
}

/*
 * Once a second: which namespaces no process of the captured tree uses any more. The cheap
 * test first (the pid that last proved it); the tree is read only when one of those has
 * gone, and then once for all of them.
 */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct netns_set *s = arg;
	size_t orphans = 0;

	for (struct netns_served *ns = s->list; ns; ns = ns->next)
		if (!pid_in_netns(ns->pid, ns->inode)) {
			ns->pid = 0;
			orphans++;
		}
	if (orphans)
		adopt_from_tree(s, s->cgroup_path, orphans);
	for (struct netns_served **link = &s->list; *link;)
		if (!(*link)->pid)
			release(s, link);
		else
			link = &(*link)->next;
}

/* Removes every entry but the daemon's own: listeners a previous daemon opened died with it. */
static int map_keep_only_home(struct netns_set *s)
{
	uint64_t key, next;
	void *prev = NULL;
	int err = 0;

	while (!bpf_map_get_next_key(s->cfg.map_fd, prev, &next)) {
		if (next != s->home_cookie && bpf_map_delete_elem(s->cfg.map_fd, &next)) {
			err = -errno;
			break;
		}
		key = next;
		prev = &key;
	}
	return err;
}

int netns_set_new(struct event_base *base, const struct netns_config *cfg,
		  struct netns_set **ret_set)
{
	struct netns_set *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->base = base;
	s->cfg = *cfg;
	if (!s->cfg.max || s->cfg.max > AIGW_NETNS_MAX)
		s->cfg.max = AIGW_NETNS_MAX;
	snprintf(s->cgroup_path, sizeof(s->cgroup_path), "%s", cfg->cgroup_path);
	s->cfg.cgroup_path = s->cgroup_path;
	s->home_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (s->home_fd < 0) {
		err = -errno;
		goto fail;
	}
	err = current_netns_cookie(&s->home_cookie);
	if (!err)
		err = map_put(s, s->home_cookie, cfg->home4, cfg->home6);
	if (!err)
		err = map_keep_only_home(s);
	if (err)
		goto fail;
	s->tick = event_new(base, -1, EV_PERSIST, on_tick, s);
	if (!s->tick || event_add(s->tick, &(struct timeval){1, 0})) {
		err = -ENOMEM;
		goto fail;
	}
	*ret_set = s;
	return 0;
fail:
	log_error("netns: the daemon's own network namespace in the aigw_netns map: %s",
		  strerror(-err));
	netns_set_free(s);
	return err;
}

uint64_t netns_home_cookie(const struct netns_set *s)
{
	return s->home_cookie;
}

size_t netns_count(const struct netns_set *s)
{
	return s->n + 1;
}

void netns_set_free(struct netns_set *s)
{
	struct netns_served *ns;

	if (!s)
		return;
	while ((ns = s->list)) {
		bpf_map_delete_elem(s->cfg.map_fd, &ns->cookie);
		s->list = ns->next;
		served_free(ns);
	}
	if (s->tick)
		event_free(s->tick);
	if (s->home_fd >= 0)
		close(s->home_fd);
	free(s);
}
