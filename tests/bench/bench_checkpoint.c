/*
 * bench_checkpoint: what signed checkpoints cost the audit writer, on the -O2 objects build/aigw
 * is made of. Three figures, in one run on the same machine:
 *   sign     one checkpoint_sign() (Ed25519 over the checkpoint's text), in microseconds;
 *   none     per record: N records through audit_write() to audit_close(), no checkpoints;
 *   every K  the same with a checkpoint every K records (1000, the default, and 10), each one
 *            signed, appended to the log, fdatasync'd, appended to a checkpoint file and
 *            fdatasync'd.
 * The writer is a thread of its own, off the event loop: what a request pays is audit_write()'s
 * enqueue, the same in every case; these figures are the writer's throughput. Each figure is
 * the median of ROUNDS runs, in CPU time (the fdatasyncs' waits are not in it). A benchmark, never a test: nothing here passes or fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ledger/audit.h"
#include "ledger/checkpoint.h"

#define N 20000
#define ROUNDS 5
#define SIGNS 2000

/* CPU time of the whole process, the writer thread included: other load on the machine
 * (wall time) does not move it much. */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* A record shaped like a proxy.request one, ~600 bytes once chained. */
static cJSON *record(int i)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "event.name", "proxy.request");
	cJSON_AddStringToObject(o, "aigw.workload", "billing");
	cJSON_AddStringToObject(o, "aigw.team", "finance");
	cJSON_AddStringToObject(o, "process.executable.path", "/usr/bin/python3.11");
	cJSON_AddNumberToObject(o, "process.pid", 4242);
	cJSON_AddStringToObject(o, "gen_ai.system", "openai");
	cJSON_AddStringToObject(o, "gen_ai.request.model", "gpt-4o-mini");
	cJSON_AddNumberToObject(o, "gen_ai.usage.input_tokens", 120 + i % 7);
	cJSON_AddNumberToObject(o, "gen_ai.usage.output_tokens", 300 + i % 11);
	cJSON_AddNumberToObject(o, "aigw.cost_usd", 0.000198);
	cJSON_AddStringToObject(o, "http.request.path", "/v1/chat/completions");
	cJSON_AddNumberToObject(o, "http.response.status_code", 200);
	return o;
}

/* Nanoseconds per record for N records with a checkpoint every EVERY (0: none). */
static double per_record(const char *dir, EVP_PKEY *key, unsigned every)
{
	char path[256], cps[256];
	struct audit_options opt = {.journal_socket = ""};
	struct audit_log *log;
	double t0, t;

	snprintf(path, sizeof(path), "%s/audit.log", dir);
	snprintf(cps, sizeof(cps), "%s/checkpoints", dir);
	unlink(path);
	unlink(cps);
	if (every) {
		opt.checkpoint_key = key;
		opt.checkpoint_path = cps;
		opt.checkpoint_every_records = every;
	}
	if (audit_open(path, &opt, &log) < 0)
		return -1;
	t0 = now_ns();
	for (int i = 0; i < N; i++)
		audit_write(log, record(i));
	audit_close(log);
	t = (now_ns() - t0) / N;
	return t;
}

int main(void)
{
	static const unsigned every[] = {0, 1000, 10};
	char dir[] = "/tmp/aigw-bench-checkpoint-XXXXXX";
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct checkpoint cp = {.seq = 1};
	double v[ROUNDS], t0, base = 0;

	if (!key || !mkdtemp(dir))
		return 1;
	memset(cp.head, 'a', 64);
	t0 = now_ns();
	for (int i = 0; i < SIGNS; i++)
		checkpoint_sign(key, &cp);
	printf("checkpoint: sign %.1f us CPU each (Ed25519, OpenSSL)\n",
	       (now_ns() - t0) / SIGNS / 1e3);
	for (size_t k = 0; k < sizeof(every) / sizeof(every[0]); k++) {
		for (int r = 0; r < ROUNDS; r++)
			v[r] = per_record(dir, key, every[k]);
		qsort(v, ROUNDS, sizeof(v[0]), cmp_double);
		if (!every[k]) {
			base = v[ROUNDS / 2];
			printf("checkpoint: none        %7.0f ns CPU per record written\n", base);
		} else {
			printf("checkpoint: every %-5u %7.0f ns CPU per record written (%+.0f ns, "
			       "%+.1f%%)\n",
			       every[k], v[ROUNDS / 2], v[ROUNDS / 2] - base,
			       100.0 * (v[ROUNDS / 2] - base) / base);
		}
	}
	per_record(dir, NULL, 0);
	unlink(strcat(dir, "/audit.log"));
	dir[strlen(dir) - strlen("/audit.log")] = '\0';
	rmdir(dir);
	EVP_PKEY_free(key);
	return 0;
}
