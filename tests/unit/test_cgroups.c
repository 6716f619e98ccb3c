/*
 * test_cgroups.c: which workload a cgroup path is (capture/cgroups.c), against a policy built
 * here. Globs match name by name, and a cgroup a workload creates cannot name itself into
 * another workload.
 */
#include <bpf/bpf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/cgroups.h"
#include "unit.h"

static struct policy_workload wls[] = {
    {.name = "billing", .team = "finance", .cgroup_glob = "/*/billing*"},
    {.name = "research", .team = "labs", .cgroup_glob = "/*/research*"},
    {.name = "batch", .cgroup_glob = "/apps/**/batch-*"},
    {.name = "anywhere", .cgroup_glob = "**/anywhere.service"},
};

static struct policy pol = {.workloads = wls, .n_workloads = 4};

static const char *name_of(const char *path)
{
	struct cgroups_workload wl;

	cgroups_workload(&pol, path, &wl);
	return wl.name;
}

static void test_glob_matches_its_depth(void)
{
	ASSERT_STREQ(name_of("/aigw-test-1/billing.service"), "billing");
	ASSERT_STREQ(name_of("/aigw-test-1/research.service"), "research");
	/* Unmatched: the cgroup's own name. */
	ASSERT_STREQ(name_of("/aigw-test-1/support/worker.service"), "worker.service");
	ASSERT_STREQ(name_of("/billing.service"), "billing.service");
}

static void test_star_does_not_cross_slash(void)
{
	struct policy_workload w = {.name = "billing", .cgroup_glob = "*/billing*"};
	struct policy one = {.workloads = &w, .n_workloads = 1};
	struct cgroups_workload wl;

	/* "*" matches the empty name before the leading "/", never "/aigw-test-1". */
	cgroups_workload(&one, "/aigw-test-1/billing.service", &wl);
	ASSERT_TRUE(wl.team == NULL);
	ASSERT_STREQ(wl.name, "billing.service");
}

static void test_double_star_is_any_depth(void)
{
	ASSERT_STREQ(name_of("/apps/batch-1"), "batch");
	ASSERT_STREQ(name_of("/apps/x/y/batch-2"), "batch");
	ASSERT_STREQ(name_of("/other/batch-1"), "batch-1");
	ASSERT_STREQ(name_of("/anywhere.service"), "anywhere");
	ASSERT_STREQ(name_of("/a/b/c/anywhere.service"), "anywhere");
}

static void test_child_stays_its_parents_workload(void)
{
	struct cgroups_workload wl;

	/* A process in research.service creates a child named like billing: still research. */
	cgroups_workload(&pol, "/aigw-test-1/research.service/billing.service", &wl);
	ASSERT_STREQ(wl.name, "research");
	ASSERT_STREQ(wl.team, "labs");
	ASSERT_STREQ(name_of("/aigw-test-1/billing.service/job-7"), "billing");
}

static void test_unmatched_name_never_a_workloads(void)
{
	struct cgroups_workload wl;

	/* Named after a workload but matched by no glob: its rules must not apply by name. */
	cgroups_workload(&pol, "/aigw-test-1/support/billing", &wl);
	ASSERT_STREQ(wl.name, "/aigw-test-1/support/billing");
	ASSERT_TRUE(wl.team == NULL);
}

static void test_no_path_no_name(void)
{
	struct cgroups_workload wl;

	cgroups_workload(&pol, NULL, &wl);
	ASSERT_TRUE(wl.name == NULL);
	ASSERT_STREQ(name_of("/"), "/");
}

static uint64_t dir_id(const char *base, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", base, rel);
	return stat(path, &st) ? 0 : st.st_ino;
}

static int dir_make(const char *base, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s%s", base, rel);
	return mkdir(path, 0755);
}

static void dir_remove(const char *base, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s%s", base, rel);
	rmdir(path);
}

/*
 * A removed cgroup is named by the recorded names of it and its parents (any directory tree
 * stands in for the hierarchy here: ids are inode numbers), a renamed parent renames it, and
 * a chain with an unknown link is unknown, never another cgroup's path.
 */
static void test_removed_cgroup_keeps_its_recorded_path(void)
{
	char base[] = "/tmp/aigw-test-cgnames-XXXXXX", path[PATH_MAX];
	struct aigw_cgroup_name v = {0};
	struct cgroups *cg = NULL;
	uint64_t a, b, root;
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "cgnames_test", sizeof(uint64_t), sizeof(v), 64,
			    NULL);
	if (fd < 0) {
		printf("skip: no BPF map (not root?)\n");
		return;
	}
	ASSERT_TRUE(mkdtemp(base) != NULL);
	snprintf(path, sizeof(path), "%s/cap", base);
	ASSERT_OK(mkdir(path, 0755));
	snprintf(path, sizeof(path), "%s/cap/a", base);
	ASSERT_OK(mkdir(path, 0755));
	snprintf(path, sizeof(path), "%s/cap/a/b", base);
	ASSERT_OK(mkdir(path, 0755));
	root = dir_id(base, "/cap");
	a = dir_id(base, "/cap/a");
	b = dir_id(base, "/cap/a/b");
	ASSERT_OK(cgroups_new(base, &cg));
	snprintf(path, sizeof(path), "%s/cap", base);
	ASSERT_OK(cgroups_use_names(cg, fd, path));
	ASSERT_TRUE(bpf_map_lookup_elem(fd, &root, &v) < 0); /* the captured one is always live */
	dir_remove(base, "/cap/a/b");
	dir_remove(base, "/cap/a");
	/* An unknown id makes the cache walk the tree again: a and b are gone from it. */
	ASSERT_TRUE(cgroups_path(cg, 12345678901ull) == NULL);
	ASSERT_STREQ(cgroups_path(cg, b), "/cap/a/b");
	ASSERT_STREQ(cgroups_path(cg, a), "/cap/a");
	/* The parent renamed before it went (as the tracing program records it). */
	ASSERT_OK(bpf_map_lookup_elem(fd, &a, &v));
	snprintf(v.name, sizeof(v.name), "renamed");
	ASSERT_OK(bpf_map_update_elem(fd, &a, &v, BPF_ANY));
	ASSERT_STREQ(cgroups_path(cg, b), "/cap/renamed/b");
	/* Its record evicted: the child is unknown. */
	ASSERT_OK(bpf_map_delete_elem(fd, &a));
	ASSERT_TRUE(cgroups_path(cg, b) == NULL);
	cgroups_free(cg);
	dir_remove(base, "/cap");
	rmdir(base);
	close(fd);
}

/* The attribution cgroups_attr_to_json() writes of a socket made in cgroup ID, by CG under
 * P; the caller frees it. */
static char *attr_text_of(struct cgroups *cg, const struct policy *p, const struct aigw_attr *a)
{
	struct jsonw *w = jsonw_new();
	size_t len;

	jsonw_str(w, "before", "x"); /* as in a call's record, the members come after others */
	cgroups_attr_to_json(cg, p, a, w);
	return jsonw_finish(w, &len);
}

static char *attr_text(struct cgroups *cg, const struct policy *p, uint64_t id)
{
	struct aigw_attr a = {.sock_cgroup_id = id, .task_cgroup_id = id, .pid = 42, .tid = 43,
			      .uid = 1000, .gid = 1000, .comm = "app"};

	return attr_text_of(cg, p, &a);
}

/* What a cache that has seen nothing writes: the attribution looked up afresh. */
static char *attr_text_fresh(const char *base, const struct policy *p, uint64_t id)
{
	struct cgroups *cg;
	char *text;

	if (cgroups_new(base, &cg))
		return NULL;
	text = attr_text(cg, p, id);
	cgroups_free(cg);
	return text;
}

static void expect_attr(struct cgroups *cg, const char *base, const struct policy *p,
			uint64_t id, const char *want_members)
{
	char *got = attr_text(cg, p, id), *fresh = attr_text_fresh(base, p, id);

	ASSERT_TRUE(got != NULL && fresh != NULL);
	ASSERT_CONTAINS(got, want_members);
	ASSERT_STREQ(got, fresh);
	free(got);
	free(fresh);
}

/*
 * A cgroup's attribution is made once and kept with its entry of the cache, for the calls of
 * every connection from it: each cgroup gets its own, a policy reload makes it again under the
 * new policy, and a rename the cache has seen (a rescan) shows at the next call; it is always
 * byte for byte what a cache that has seen nothing writes.
 */
static void test_attribution_cached_per_cgroup(void)
{
	static struct policy_workload renamed[] = {
	    {.name = "payments", .team = "treasury", .cgroup_glob = "/*/billing*"},
	};
	struct policy p1 = {.workloads = wls, .n_workloads = 4, .refs = 1};
	struct policy p2 = {.workloads = renamed, .n_workloads = 1, .refs = 1};
	char base[] = "/tmp/aigw-test-cgattr-XXXXXX", from[PATH_MAX], to[PATH_MAX];
	struct cgroups *cg = NULL;
	uint64_t billing, other;

	ASSERT_TRUE(mkdtemp(base) != NULL);
	ASSERT_OK(dir_make(base, "/cap"));
	ASSERT_OK(dir_make(base, "/cap/billing.service"));
	ASSERT_OK(dir_make(base, "/cap/other"));
	billing = dir_id(base, "/cap/billing.service");
	other = dir_id(base, "/cap/other");
	ASSERT_OK(cgroups_new(base, &cg));
	for (int round = 0; round < 2; round++) { /* made, then kept */
		expect_attr(cg, base, &p1, billing,
			    "\"aigw.workload\":\"billing\",\"aigw.team\":\"finance\","
			    "\"aigw.cgroup.path\":\"/cap/billing.service\"");
		expect_attr(cg, base, &p1, other,
			    "\"aigw.workload\":\"other\",\"aigw.team\":null,"
			    "\"aigw.cgroup.path\":\"/cap/other\"");
	}
	/* Reloaded: the same cgroup is another workload now, and back. */
	expect_attr(cg, base, &p2, billing,
		    "\"aigw.workload\":\"payments\",\"aigw.team\":\"treasury\"");
	expect_attr(cg, base, &p1, billing, "\"aigw.workload\":\"billing\"");
	ASSERT_EQ(p1.refs, 2); /* the cache holds the policy it made its entries under */
	ASSERT_EQ(p2.refs, 1);
	/* Renamed, and a walk of the tree (an id it does not know) has seen it. */
	snprintf(from, sizeof(from), "%s/cap/billing.service", base);
	snprintf(to, sizeof(to), "%s/cap/ledger.service", base);
	ASSERT_OK(rename(from, to));
	ASSERT_TRUE(cgroups_path(cg, 12345678901ull) == NULL);
	expect_attr(cg, base, &p1, billing,
		    "\"aigw.workload\":\"ledger.service\",\"aigw.team\":null,"
		    "\"aigw.cgroup.path\":\"/cap/ledger.service\"");
	cgroups_free(cg);
	ASSERT_EQ(p1.refs, 1);
	rmdir(to);
	dir_remove(base, "/cap/other");
	dir_remove(base, "/cap");
	rmdir(base);
}

/*
 * The process members of a record (pid to netns) are copied from the last record's when its
 * socket's attribution is the same, and never when any field differs: another process, thread,
 * user, group, name, namespace or task cgroup calling from the same cgroup, right after the
 * first, is recorded as itself, byte for byte what a cache that has seen nothing writes.
 */
static void test_process_members_never_another_process(void)
{
	struct policy p = {.workloads = wls, .n_workloads = 4, .refs = 1};
	char base[] = "/tmp/aigw-test-cgproc-XXXXXX";
	struct cgroups *cg = NULL, *fresh_cg = NULL;
	struct aigw_attr first = {.pid = 42, .tid = 43, .uid = 1000, .gid = 1000,
				  .netns_cookie = 4026531840ull, .comm = "app"};
	enum { N_OTHERS = 10 };
	struct aigw_attr others[N_OTHERS];

	ASSERT_TRUE(mkdtemp(base) != NULL);
	ASSERT_OK(dir_make(base, "/cap"));
	ASSERT_OK(dir_make(base, "/cap/billing.service"));
	first.sock_cgroup_id = first.task_cgroup_id = dir_id(base, "/cap/billing.service");
	ASSERT_OK(cgroups_new(base, &cg));
	for (size_t i = 0; i < N_OTHERS; i++)
		others[i] = first;
	others[0].pid++;
	others[1].tid++;
	others[2].uid = 0;
	others[3].gid = 0;
	others[4].comm[0] = 'b';
	memcpy(others[5].comm, "0123456789abcdef", AIGW_COMM_LEN); /* no NUL */
	others[6].netns_cookie++;
	others[7].netns_cookie = 0;
	others[8].task_cgroup_id = dir_id(base, "/cap");
	/* others[9]: the same, copied */
	for (size_t field = 0; field < N_OTHERS; field++) {
		const struct aigw_attr *other = &others[field];
		char *a, *a_again, *b, *b_fresh;

		a = attr_text_of(cg, &p, &first);
		a_again = attr_text_of(cg, &p, &first);
		b = attr_text_of(cg, &p, other);
		ASSERT_OK(cgroups_new(base, &fresh_cg));
		b_fresh = attr_text_of(fresh_cg, &p, other);
		cgroups_free(fresh_cg);
		ASSERT_TRUE(a && a_again && b && b_fresh);
		ASSERT_STREQ(a_again, a);
		ASSERT_STREQ(b, b_fresh);
		if (field < N_OTHERS - 1)
			ASSERT_TRUE(strcmp(a, b) != 0);
		free(a);
		free(a_again);
		free(b);
		free(b_fresh);
	}
	cgroups_free(cg);
	dir_remove(base, "/cap/billing.service");
	dir_remove(base, "/cap");
	rmdir(base);
}

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char *container_of(const char *path)
{
	static char id[CGROUPS_CONTAINER_ID_LEN + 1];

	return cgroups_container_id(path, id) ? id : NULL;
}

static void test_container_id_of_each_runtime(void)
{
	ASSERT_STREQ(container_of("/system.slice/docker-" ID ".scope"), ID);
	ASSERT_STREQ(container_of("/kubepods.slice/kubepods-pod1.slice/cri-containerd-" ID
				  ".scope"),
		     ID);
	ASSERT_STREQ(container_of("/machine.slice/crio-" ID ".scope"), ID);
	ASSERT_STREQ(container_of("/machine.slice/libpod-" ID ".scope/container"), ID);
	ASSERT_STREQ(container_of("/docker/" ID), ID); /* the cgroupfs driver */
}

static void test_container_id_nothing_else(void)
{
	ASSERT_TRUE(container_of("/aigw-test-1/billing.service") == NULL);
	ASSERT_TRUE(container_of("/machine.slice/crio-conmon-" ID ".scope") == NULL);
	ASSERT_TRUE(container_of("/docker/" ID "0") == NULL);	   /* 65 digits */
	ASSERT_TRUE(container_of("/docker-" ID "x.scope") == NULL); /* not hex */
	ASSERT_TRUE(container_of("/docker/0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789"
				 "ABCDEF") == NULL); /* runtimes write lower case */
	ASSERT_TRUE(container_of("/") == NULL);
}

UNIT_MAIN(UNIT_CASE(test_glob_matches_its_depth), UNIT_CASE(test_star_does_not_cross_slash),
	  UNIT_CASE(test_double_star_is_any_depth),
	  UNIT_CASE(test_child_stays_its_parents_workload),
	  UNIT_CASE(test_unmatched_name_never_a_workloads), UNIT_CASE(test_no_path_no_name),
	  UNIT_CASE(test_removed_cgroup_keeps_its_recorded_path),
	  UNIT_CASE(test_attribution_cached_per_cgroup),
	  UNIT_CASE(test_process_members_never_another_process),
	  UNIT_CASE(test_container_id_of_each_runtime), UNIT_CASE(test_container_id_nothing_else))
