/*
 * report.c: one pass over the audit lines; request rows and refusal rows are printed as
 * they come, the per-workload totals at the end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ledger/report.h"

#define REPORT_WORKLOADS 64

struct report_total {
	char name[64];
	unsigned calls, errors, denied, unpriced;
	double latency_ms;
	long long tokens_in, tokens_out, micro_usd;
};

struct report {
	struct report_total totals[REPORT_WORKLOADS];
	size_t n_totals;
	unsigned requests, refusals;
	FILE *out;
};

static const char *str(const cJSON *rec, const char *key, const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, key);

	return cJSON_IsString(v) ? v->valuestring : dflt;
}

static double num(const cJSON *rec, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, key);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static struct report_total *total_of(struct report *r, const char *workload)
{
	for (size_t i = 0; i < r->n_totals; i++)
		if (!strcmp(r->totals[i].name, workload))
			return &r->totals[i];
	if (r->n_totals == REPORT_WORKLOADS)
		return NULL;
	snprintf(r->totals[r->n_totals].name, sizeof(r->totals[0].name), "%s", workload);
	return &r->totals[r->n_totals++];
}

static void process_name(const cJSON *rec, char *buf, size_t len)
{
	snprintf(buf, len, "%s[%d]", str(rec, "process.executable.name", "?"),
		 (int)num(rec, "process.pid", 0));
}

/* "0.000123" from the exact micro-dollars, or "unknown". */
static const char *cost_text(const cJSON *rec, char *buf, size_t len)
{
	double micro = num(rec, "aigw.cost.micro_usd", -1);

	if (micro < 0)
		return "unknown";
	snprintf(buf, len, "%lld.%06lld", (long long)micro / 1000000, (long long)micro % 1000000);
	return buf;
}

static void request_row(struct report *r, const cJSON *rec)
{
	const char *wl = str(rec, "aigw.workload", "?");
	struct report_total *t = total_of(r, wl);
	double status = num(rec, "http.response.status_code", 0), ms = num(rec, "aigw.latency_ms", 0);
	char proc[48], cost[32];

	if (!r->requests++)
		fprintf(r->out, "\nCalls\n%-16s %-20s %-10s %-26s %6s %10s %7s %8s %8s %11s  %s\n",
			"workload", "process", "provider", "model", "status", "latency", "stream",
			"in tok", "out tok", "cost USD", "outcome");
	process_name(rec, proc, sizeof(proc));
	fprintf(r->out, "%-16s %-20s %-10s %-26s %6.0f %8.1fms %7s %8.0f %8.0f %11s  %s\n", wl,
		proc, str(rec, "gen_ai.system", "?"), str(rec, "gen_ai.request.model", "-"), status,
		ms, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "aigw.stream")) ? "yes" : "no",
		num(rec, "gen_ai.usage.input_tokens", 0), num(rec, "gen_ai.usage.output_tokens", 0),
		cost_text(rec, cost, sizeof(cost)), str(rec, "aigw.outcome", "?"));
	if (t) {
		t->calls++;
		t->latency_ms += ms;
		t->tokens_in += (long long)num(rec, "gen_ai.usage.input_tokens", 0);
		t->tokens_out += (long long)num(rec, "gen_ai.usage.output_tokens", 0);
		if (num(rec, "aigw.cost.micro_usd", -1) >= 0)
			t->micro_usd += (long long)num(rec, "aigw.cost.micro_usd", 0);
		else
			t->unpriced++;
		if (status < 200 || status >= 400 || strcmp(str(rec, "aigw.outcome", ""), "ok"))
			t->errors++;
	}
}

static void refusal_row(struct report *r, const cJSON *rec)
{
	const char *wl = str(rec, "aigw.workload", "?");
	struct report_total *t = total_of(r, wl);
	char proc[48], dst[96];

	if (!r->refusals++)
		fprintf(r->out, "\nBlocked attempts to reach a provider directly\n%-16s %-20s %-10s "
				"%-28s %s\n",
			"workload", "process", "provider", "destination", "reason");
	process_name(rec, proc, sizeof(proc));
	snprintf(dst, sizeof(dst), "%s %s:%.0f", str(rec, "network.transport", "?"),
		 str(rec, "server.address", "?"), num(rec, "server.port", 0));
	fprintf(r->out, "%-16s %-20s %-10s %-28s %s\n", wl, proc, str(rec, "gen_ai.system", "?"), dst,
		str(rec, "aigw.reason", "?"));
	if (t)
		t->denied++;
}

static void report_line(struct report *r, const char *line)
{
	cJSON *rec = cJSON_Parse(line);
	const char *ev;

	if (!rec)
		return;
	ev = str(rec, "event.name", "");
	if (!strcmp(ev, "proxy.request"))
		request_row(r, rec);
	else if (!strcmp(ev, "capture.deny"))
		refusal_row(r, rec);
	cJSON_Delete(rec);
}

static void totals_print(struct report *r)
{
	fprintf(r->out, "\nBy workload\n%-16s %6s %6s %11s %9s %9s %12s %8s %8s\n", "workload",
		"calls", "errors", "avg latency", "in tok", "out tok", "cost USD", "unpriced",
		"blocked");
	for (size_t i = 0; i < r->n_totals; i++) {
		struct report_total *t = &r->totals[i];

		fprintf(r->out, "%-16s %6u %6u %9.1fms %9lld %9lld %5lld.%06lld %8u %8u\n", t->name,
			t->calls, t->errors, t->calls ? t->latency_ms / t->calls : 0, t->tokens_in,
			t->tokens_out, t->micro_usd / 1000000, t->micro_usd % 1000000, t->unpriced,
			t->denied);
	}
}

int report_print(const char **paths, size_t n, FILE *out)
{
	struct report *r = calloc(1, sizeof(*r));
	char *line = NULL;
	size_t cap = 0;

	if (!r)
		return -ENOMEM;
	r->out = out;
	for (size_t i = 0; i < n; i++) {
		FILE *f = fopen(paths[i], "r");

		if (!f) {
			int err = -errno;

			free(line);
			free(r);
			return err;
		}
		while (getline(&line, &cap, f) > 0)
			report_line(r, line);
		fclose(f);
	}
	if (!r->requests)
		fprintf(out, "\nNo calls recorded.\n");
	totals_print(r);
	free(line);
	free(r);
	return 0;
}
