/*
 * bench_ledger: what the cost ledger costs a request, on the -O2 objects build/aigw is made
 * of, against no ledger (which costs the event loop nothing: the daemon does not call it).
 *
 *   event loop  ledger_submit() of a call's record as the daemon hands it over: a copy of
 *               the text and a locked append to the writer's queue, while the writer thread
 *               commits. Median and p99 of per-record times over ROUNDS batches of BATCH.
 *   writer      rows per second the writer thread parses and commits (WAL, synchronous=
 *               NORMAL, one transaction per wake): QUEUED records submitted at once, timed
 *               from the first submit to ledger_sync() returning, best of WRITER_ROUNDS.
 *
 * A benchmark, never a test: nothing here passes or fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger/ledger.h"

#include "benchclock.h"

#define BATCH 1000
#define ROUNDS 101
#define QUEUED 50000
#define WRITER_ROUNDS 3

/* A proxy.request record as the daemon writes it (about 1 KB); %07d is the request id. */
static const char *const RECORD =
    "{\"time\":\"2026-12-03T11:44:31.123Z\",\"event.name\":\"proxy.request\","
    "\"aigw.request_id\":\"01JEX0000000000000%07d\",\"aigw.workload\":\"billing\","
    "\"aigw.team\":\"finance\",\"aigw.cgroup.path\":\"/sys/fs/cgroup/apps/billing\","
    "\"process.executable.name\":\"python3\",\"process.pid\":4242,\"gen_ai.system\":\"openai\","
    "\"gen_ai.operation.name\":\"chat\",\"gen_ai.request.model\":\"gpt-4o-mini\","
    "\"gen_ai.response.model\":\"gpt-4o-mini-2024-07-18\",\"aigw.upstream.model\":"
    "\"gpt-4o-mini\",\"http.request.method\":\"POST\",\"url.path\":\"/v1/chat/completions\","
    "\"server.address\":\"api.openai.com\",\"http.response.status_code\":200,"
    "\"gen_ai.usage.input_tokens\":812,\"gen_ai.usage.output_tokens\":153,"
    "\"aigw.usage.cached_input_tokens\":512,\"aigw.usage.reasoning_tokens\":0,"
    "\"aigw.cost.nano_usd\":168300,\"cost_usd\":0.000168300,\"aigw.upstream.attempts\":1,"
    "\"aigw.outcome\":\"ok\",\"aigw.latency_ms\":412.5,\"aigw.ttft_ms\":180.2,"
    "\"aigw.stream\":true,\"aigw.fallback\":false,\"aigw.translated\":false,"
    "\"aigw.route\":null,\"aigw.policy.version\":\"5f0c1d\",\"aigw.attempts\":[{"
    "\"gen_ai.system\":\"openai\",\"gen_ai.request.model\":\"gpt-4o-mini\","
    "\"http.response.status_code\":200,\"aigw.result\":\"ok\"}],"
    "\"aigw.prev_hash\":\"6b1f8a0c3e2d4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6\"}";

int main(void)
{
	static double per_record[ROUNDS];
	char dir[] = "/tmp/aigw-bench-ledger-XXXXXX", db[64], **texts;
	size_t len, n_texts = QUEUED;
	struct ledger *l;
	double best = 0;
	int id = 0;

	if (!mkdtemp(dir))
		return 1;
	snprintf(db, sizeof(db), "%s/ledger.db", dir);
	if (ledger_open(db, stderr, &l))
		return 1;
	texts = calloc(n_texts, sizeof(*texts));
	for (size_t i = 0; i < n_texts; i++)
		if (!texts || asprintf(&texts[i], RECORD, (int)i) < 0)
			return 1;
	len = strlen(texts[0]);

	/* The event loop's side. The writer runs meanwhile; a sync between rounds (untimed)
	 * keeps the queue far from its cap. */
	for (int round = 0; round < ROUNDS; round++) {
		double t0 = now_ns();

		for (int i = 0; i < BATCH; i++, id = (id + 1) % (int)n_texts)
			ledger_submit(l, texts[id], len);
		per_record[round] = (now_ns() - t0) / BATCH;
		if (round % 10 == 9)
			ledger_sync(l);
	}
	ledger_sync(l);
	qsort(per_record, ROUNDS, sizeof(per_record[0]), cmp_double);

	/* The writer's side. */
	for (int round = 0; round < WRITER_ROUNDS; round++) {
		double t0 = now_ns(), rate;

		for (size_t i = 0; i < n_texts; i++)
			ledger_submit(l, texts[i], len);
		if (ledger_sync(l))
			fprintf(stderr, "bench_ledger: a commit failed\n");
		rate = n_texts / ((now_ns() - t0) / 1e9);
		if (rate > best)
			best = rate;
	}
	ledger_close(l);

	printf("cost ledger, per call record of %zu bytes:\n", len);
	printf("  event loop, no ledger                 %7.0f ns\n", 0.0);
	printf("  event loop, ledger_submit (median/p99) %6.0f ns / %6.0f ns  (%d batches of %d)\n",
	       per_record[ROUNDS / 2], per_record[ROUNDS * 99 / 100], ROUNDS, BATCH);
	printf("  writer thread                         %7.0f rows/s (%d queued at once, best of "
	       "%d)\n",
	       best, QUEUED, WRITER_ROUNDS);

	for (size_t i = 0; i < n_texts; i++)
		free(texts[i]);
	free(texts);
	for (const char *suffix = ""; suffix; suffix = *suffix ? NULL : "-wal") {
		char f[80];

		snprintf(f, sizeof(f), "%s%s", db, suffix);
		unlink(f);
	}
	snprintf(db, sizeof(db), "%s/ledger.db-shm", dir);
	unlink(db);
	rmdir(dir);
	return 0;
}
