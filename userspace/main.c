/* main.c: `aigw SUBCOMMAND ...` — dispatch and argument parsing only. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "capture/loader.h"
#include "daemon.h"
#include "ledger/audit.h"
#include "ledger/ledger.h"
#include "ledger/report.h"
#include "policy/policy.h"
#include "proxy/certs.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: aigw run --policy FILE [--pin-dir DIR]\n"
		   "       aigw policy check FILE\n"
		   "       aigw ca init DIR [--domain D ...]\n"
		   "       aigw audit verify FILE [FILE...]   (oldest first)\n"
		   "       aigw report FILE [FILE...]         (oldest first)\n"
		   "       aigw ledger rebuild --audit LOG --ledger DB\n"
		   "       aigw status [--pin-dir DIR]\n"
		   "       aigw detach [--pin-dir DIR]\n"
		   "default pin dir: " CAPTURE_PIN_DIR_DEFAULT "\n");
}

/* Parses --policy and --pin-dir; returns the index of the first other argument or -1. */
static int parse_common(int argc, char **argv, const char **policy, const char **pin_dir)
{
	static const struct option opts[] = {{"policy", required_argument, 0, 'p'},
					     {"pin-dir", required_argument, 0, 'd'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			*policy = optarg;
			break;
		case 'd':
			*pin_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	return optind;
}

static int cmd_run(int argc, char **argv)
{
	struct daemon_options opt = {.pin_dir = CAPTURE_PIN_DIR_DEFAULT};

	if (parse_common(argc, argv, &opt.policy_path, &opt.pin_dir) < 0)
		return 2;
	if (!opt.policy_path) {
		fprintf(stderr, "aigw run: --policy FILE is required\n");
		return 2;
	}
	return daemon_run(&opt);
}

static int cmd_policy(int argc, char **argv)
{
	struct policy *p;
	int err;

	if (argc != 3 || strcmp(argv[1], "check")) {
		fprintf(stderr, "usage: aigw policy check FILE\n");
		return 2;
	}
	err = policy_load(argv[2], stderr, &p);
	if (err) {
		fprintf(stderr, "%s: policy refused\n", argv[2]);
		return 1;
	}
	if (policy_check_secret_files(p, stderr)) {
		fprintf(stderr, "%s: policy refused\n", argv[2]);
		policy_free(p);
		return 1;
	}
	policy_warn(p, stderr);
	printf("%s: ok (%zu provider(s), %zu workload rule(s), %zu logical model name(s), capture "
	       "%s in %s mode)\n",
	       argv[2], p->n_providers, p->n_workloads, p->n_models, p->capture.cgroup,
	       p->capture.mode == POLICY_CAPTURE_OBSERVE ? "observe" : "enforce");
	policy_free(p);
	return 0;
}

static int cmd_audit(int argc, char **argv)
{
	int r;

	if (argc < 3 || strcmp(argv[1], "verify")) {
		fprintf(stderr, "usage: aigw audit verify LOG | FILE FILE... (oldest first)\n");
		return 2;
	}
	if (argc == 3)
		r = audit_verify_log(argv[2], stdout);
	else
		r = audit_verify((const char **)argv + 2, argc - 2, stdout);
	if (r < 0) {
		fprintf(stderr, "aigw audit verify: %s\n", strerror(-r));
		return 2;
	}
	return r ? 1 : 0;
}

/* aigw ledger rebuild --audit LOG --ledger DB: the ledger's rows again from the audit log
 * (LOG and its rotated files). */
static int cmd_ledger(int argc, char **argv)
{
	static const struct option opts[] = {{"audit", required_argument, 0, 'a'},
					     {"ledger", required_argument, 0, 'l'},
					     {0, 0, 0, 0}};
	const char *audit = NULL, *db = NULL;
	int c;

	if (argc < 2 || strcmp(argv[1], "rebuild"))
		goto usage;
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
		if (c == 'a')
			audit = optarg;
		else if (c == 'l')
			db = optarg;
		else
			goto usage;
	}
	if (!audit || !db || optind != argc - 1)
		goto usage;
	return ledger_rebuild(audit, db, stdout, stderr) ? 1 : 0;
usage:
	fprintf(stderr, "usage: aigw ledger rebuild --audit LOG --ledger DB\n");
	return 2;
}

static int cmd_report(int argc, char **argv)
{
	int err;

	if (argc < 2) {
		fprintf(stderr, "usage: aigw report FILE [FILE...]\n");
		return 2;
	}
	err = report_print((const char **)argv + 1, argc - 1, stdout);
	if (err) {
		fprintf(stderr, "aigw report: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}

static int cmd_detach(int argc, char **argv)
{
	const char *policy = NULL, *pin_dir = CAPTURE_PIN_DIR_DEFAULT;
	int err;

	if (parse_common(argc, argv, &policy, &pin_dir) < 0)
		return 2;
	err = capture_detach(pin_dir);
	if (err) {
		fprintf(stderr, "aigw detach: %s: %s\n", pin_dir, strerror(-err));
		return 1;
	}
	printf("detached: nothing of aigw remains under %s\n", pin_dir);
	return 0;
}

static int cmd_status(int argc, char **argv)
{
	static const char *const names[AIGW_STAT_MAX] = {"redirected", "denied", "observed",
							 "events_dropped", "flows_lost"};
	const char *policy = NULL, *pin_dir = CAPTURE_PIN_DIR_DEFAULT;
	char path[PATH_MAX];
	int ncpu = libbpf_num_possible_cpus(), fd;
	uint64_t vals[1024];

	if (parse_common(argc, argv, &policy, &pin_dir) < 0)
		return 2;
	snprintf(path, sizeof(path), "%s/aigw_stats", pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		printf("not attached: nothing pinned at %s\n", pin_dir);
		return 1;
	}
	printf("attached (pinned at %s)\n", pin_dir);
	for (uint32_t i = 0; i < AIGW_STAT_MAX && ncpu > 0 && ncpu <= 1024; i++) {
		uint64_t sum = 0;

		if (bpf_map_lookup_elem(fd, &i, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			sum += vals[c];
		printf("  %-15s %llu\n", names[i], (unsigned long long)sum);
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "policy"))
		return cmd_policy(argc - 1, argv + 1);
	if (!strcmp(argv[1], "audit"))
		return cmd_audit(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ca") && argc > 2 && !strcmp(argv[2], "init"))
		return certs_cli_ca_init(argc - 1, argv + 1);
	if (!strcmp(argv[1], "report"))
		return cmd_report(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ledger"))
		return cmd_ledger(argc - 1, argv + 1);
	if (!strcmp(argv[1], "detach"))
		return cmd_detach(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status"))
		return cmd_status(argc - 1, argv + 1);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "aigw: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
