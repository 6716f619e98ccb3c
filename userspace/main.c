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

#include <openssl/evp.h>

#include "capture.h"
#include "capture/loader.h"
#include "daemon.h"
#include "ledger/audit.h"
#include "ledger/checkpoint.h"
#include "ledger/ledger.h"
#include "ledger/report.h"
#include "policy/policy.h"
#include "proxy/certs.h"
#include "util/evmem.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: aigw run --policy FILE [--pin-dir DIR]\n"
		   "       aigw policy check FILE\n"
		   "       aigw ca init DIR [--domain D ...]\n"
		   "       aigw audit verify FILE [FILE...]   (oldest first)\n"
		   "                         [--pubkey KEY.pub [--checkpoints FILE]]\n"
		   "       aigw report FILE [FILE...]         (oldest first)\n"
		   "       aigw report --ledger DB [--by KEY,...] [--since DAY] [--until DAY]\n"
		   "                   [--format table|csv|json]\n"
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

#define AUDIT_VERIFY_USAGE                                                                         \
	"usage: aigw audit verify LOG | FILE FILE... (oldest first)\n"                             \
	"                         [--pubkey KEY.pub [--checkpoints FILE]]\n"

/* `aigw audit verify`: the chain, and with --pubkey the signed checkpoints it is held to. */
static int cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {{"pubkey", required_argument, 0, 'k'},
					     {"checkpoints", required_argument, 0, 'c'},
					     {0, 0, 0, 0}};
	struct audit_verify_options vo = {0};
	const char *pubkey = NULL;
	char **files;
	int c, n, r;

	if (argc < 2 || strcmp(argv[1], "verify")) {
		fputs(AUDIT_VERIFY_USAGE, stderr);
		return 2;
	}
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
		if (c == 'k') {
			pubkey = optarg;
		} else if (c == 'c') {
			vo.checkpoints = optarg;
		} else {
			fputs(AUDIT_VERIFY_USAGE, stderr);
			return 2;
		}
	}
	files = argv + 1 + optind;
	n = argc - 1 - optind;
	if (n < 1) {
		fputs(AUDIT_VERIFY_USAGE, stderr);
		return 2;
	}
	if (vo.checkpoints && !pubkey) {
		fprintf(stderr, "aigw audit verify: --checkpoints needs --pubkey: a checkpoint is "
				"only worth its signature\n");
		return 2;
	}
	if (pubkey) {
		r = checkpoint_pubkey_load(pubkey, &vo.pubkey);
		if (r < 0) {
			fprintf(stderr, "aigw audit verify: --pubkey %s: %s\n", pubkey,
				r == -EBADMSG || r == -EINVAL ? "not a PEM Ed25519 public key"
							      : strerror(-r));
			return 2;
		}
	} else {
		fprintf(stderr, "aigw audit verify: checkpoints not checked (no --pubkey): a log "
				"cut at its tail, or rewritten and re-chained, verifies\n");
	}
	if (n == 1)
		r = audit_verify_log(files[0], &vo, stdout);
	else
		r = audit_verify((const char **)files, n, &vo, stdout);
	EVP_PKEY_free(vo.pubkey);
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

#define REPORT_LEDGER_USAGE                                                                        \
	"usage: aigw report --ledger DB [--by KEY[,KEY...]] [--since YYYY-MM-DD]\n"                \
	"                   [--until YYYY-MM-DD] [--format table|csv|json]\n"                      \
	"       KEY: team, workload, provider, model, day, month (default: workload);\n"           \
	"       days are UTC, --until's day included\n"

/* aigw report --ledger DB ...: the spend in the cost ledger. */
static int cmd_report_ledger(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ledger", required_argument, 0, 'l'}, {"by", required_argument, 0, 'b'},
	    {"since", required_argument, 0, 's'},  {"until", required_argument, 0, 'u'},
	    {"format", required_argument, 0, 'f'}, {0, 0, 0, 0}};
	struct report_query q = {.by = {REPORT_BY_WORKLOAD}, .n_by = 1};
	const char *db = NULL;
	int c, err = 0;

	optind = 1;
	opterr = 1;
	while (!err && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'l')
			db = optarg;
		else if (c == 'b')
			err = report_parse_by(optarg, &q, stderr);
		else if (c == 's')
			err = report_parse_date(optarg, "--since", q.since, stderr);
		else if (c == 'u')
			err = report_parse_date(optarg, "--until", q.until, stderr);
		else if (c == 'f')
			err = report_parse_format(optarg, &q, stderr);
		else
			err = -EINVAL;
	}
	if (!err && optind < argc) {
		fprintf(stderr, "aigw report: %s: with --ledger, no audit files\n", argv[optind]);
		err = -EINVAL;
	}
	if (!err && !db) {
		fprintf(stderr, "aigw report: --ledger DB is missing\n");
		err = -EINVAL;
	}
	if (err) {
		fputs(REPORT_LEDGER_USAGE, stderr);
		return 2;
	}
	return report_ledger_print(db, &q, stdout, stderr) ? 1 : 0;
}

/* aigw report FILE...: the audit log read back; with flags (--ledger DB), the ledger. */
static int cmd_report(int argc, char **argv)
{
	int err;

	if (argc < 2) {
		fprintf(stderr, "usage: aigw report FILE [FILE...]\n" REPORT_LEDGER_USAGE);
		return 2;
	}
	if (argv[1][0] == '-' && argv[1][1] == '-')
		return cmd_report_ledger(argc, argv);
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
	evmem_install(); /* before any other libevent call */
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
