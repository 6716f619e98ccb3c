/*
 * bench_durability: what audit.durability "strict" costs a request against "batched", on the
 * -O2 objects build/aigw is made of, with the log in DIR (argument; default the current
 * directory: put it on the disk the audit log would be on). For each mode and for 1, 16 and 64
 * calls in flight, N records are written as the proxy writes them (audit_write_text_ticket())
 * and each "call" waits, as a strict answer's end does, until audit_durable() covers its
 * ticket (batched: waits for nothing). Printed per mode and concurrency: the wall time per
 * record, and how long a call's end waits (median, p99) — the latency strict adds to every
 * answer. Group commit shows as the per-record time falling with more in flight: one
 * fdatasync covers every record queued while the last one ran. A benchmark, never a test.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledger/audit.h"

#define N 4000

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static char *record(int i, size_t *len)
{
	char *t = NULL;
	int n = asprintf(&t,
			 "{\"time\":\"2026-12-01T00:00:00.000000Z\",\"event.name\":\"proxy.request\","
			 "\"aigw.request_id\":\"aigw-%016x\",\"aigw.workload\":\"billing\","
			 "\"gen_ai.system\":\"openai\",\"gen_ai.request.model\":\"gpt-4o-mini\","
			 "\"gen_ai.usage.input_tokens\":%d,\"gen_ai.usage.output_tokens\":%d,"
			 "\"http.response.status_code\":200}",
			 i, 120 + i % 7, 300 + i % 11);

	*len = n > 0 ? (size_t)n : 0;
	return t;
}

/* One run: INFLIGHT calls at a time, each ending with its record; ret_wait gets how long each
 * call's end waited for its record (0 in batched). Returns microseconds per record. */
static double run(const char *dir, int strict, int inflight, double *wait)
{
	struct audit_options opt = {.journal_socket = "", .strict = strict};
	uint64_t tickets[64], durable = 0, lost;
	double started[64], t0;
	struct audit_log *log;
	char path[512];
	int done = 0, queued = 0, nwait = 0;

	snprintf(path, sizeof(path), "%s/bench-durability.log", dir);
	unlink(path);
	if (audit_open(path, &opt, &log))
		exit(1);
	t0 = now_us();
	while (done < N) {
		/* fill the window: calls whose answers end now */
		while (queued - done < inflight && queued < N) {
			size_t len;
			char *text = record(queued, &len);

			audit_write_text_ticket(log, text, len, &tickets[queued % 64]);
			started[queued % 64] = now_us();
			queued++;
		}
		if (!strict) {
			done = queued;
			continue;
		}
		struct pollfd p = {.fd = audit_durable_fd(log), .events = POLLIN};
		uint64_t n;

		poll(&p, 1, 1000);
		if (read(p.fd, &n, sizeof(n)) < 0) {
		}
		audit_durable(log, &durable, &lost);
		while (done < queued && tickets[done % 64] <= durable)
			wait[nwait++] = now_us() - started[done++ % 64];
	}
	audit_close(log); /* batched: its records reach the disk here */
	t0 = (now_us() - t0) / N;
	unlink(path);
	return t0;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	static double wait[N];
	static const int inflight[] = {1, 16, 64};

	printf("audit durability, %d records each, log in %s\n", N, dir);
	printf("%-8s %9s %14s %14s %14s\n", "mode", "in flight", "us/record", "end waits p50",
	       "p99 (us)");
	for (int strict = 0; strict <= 1; strict++) {
		for (size_t k = 0; k < sizeof(inflight) / sizeof(inflight[0]); k++) {
			double per = run(dir, strict, inflight[k], wait);

			if (strict)
				qsort(wait, N, sizeof(wait[0]), cmp_double);
			printf("%-8s %9d %14.2f %14.0f %14.0f\n", strict ? "strict" : "batched",
			       inflight[k], per, strict ? wait[N / 2] : 0.0,
			       strict ? wait[N * 99 / 100] : 0.0);
		}
	}
	return 0;
}
