/*
 * report.c: one pass over the audit lines. Call rows are printed as they come; the blocked
 * attempts and the fallbacks are kept and printed after them, then the totals per provider
 * and model and per workload. A cost the record does not know is never added as zero: the
 * sums cover the priced calls, and the calls left out are counted and their reasons listed.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ledger/cost.h"
#include "ledger/report.h"

#define REPORT_KEYS 64	 /* workloads, and provider/model pairs */
#define REPORT_REASONS 8 /* distinct reasons for an unknown cost */

struct report_total {
	char name[64], model[96]; /* workload; or provider and model */
	unsigned calls, errors, denied, unpriced, fallbacks, failed_tries;
	double latency_ms;
	long long tokens_in, tokens_out, nano_usd;
};

struct report_totals {
	struct report_total v[REPORT_KEYS];
	size_t n;
};

/* One call that did not get its answer from its first target. */
struct report_fallback {
	char time[20], workload[64], route[64], from[384], to[160];
	bool translated;
};

struct report_reason {
	char text[160];
	unsigned n;
};

struct report {
	struct report_totals workloads, providers;
	struct report_reason reasons[REPORT_REASONS];
	size_t n_reasons;
	unsigned unpriced;
	struct report_fallback *fallbacks;
	size_t n_fallbacks, cap_fallbacks;
	char *blocked;
	size_t blocked_len;
	FILE *blocked_out; /* the blocked rows, printed after the calls */
	char *circuits;
	size_t circuits_len;
	FILE *circuits_out; /* the breakers' changes, printed after the fallbacks */
	unsigned requests, refusals;
	FILE *out;
};

static const char *str(const cJSON *rec, const char *key, const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, key);

	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : dflt;
}

static double num(const cJSON *rec, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, key);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static bool flag(const cJSON *rec, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, key));
}

static struct report_total *total_of(struct report_totals *ts, const char *name, const char *model)
{
	for (size_t i = 0; i < ts->n; i++)
		if (!strcmp(ts->v[i].name, name) && !strcmp(ts->v[i].model, model))
			return &ts->v[i];
	if (ts->n == REPORT_KEYS)
		return NULL;
	snprintf(ts->v[ts->n].name, sizeof(ts->v[0].name), "%s", name);
	snprintf(ts->v[ts->n].model, sizeof(ts->v[0].model), "%s", model);
	return &ts->v[ts->n++];
}

static void process_name(const cJSON *rec, char *buf, size_t len)
{
	snprintf(buf, len, "%s[%d]", str(rec, "process.executable.name", "?"),
		 (int)num(rec, "process.pid", 0));
}

/* The exact cost in nano-dollars, or -1 when the record does not know it. Records before
 * the nano-dollar carried micro-dollars (aigw.cost.micro_usd), or only cost_usd. */
static long long nano_usd(const cJSON *rec)
{
	double nano = num(rec, "aigw.cost.nano_usd", -1), usd = num(rec, "cost_usd", -1);
	double micro = num(rec, "aigw.cost.micro_usd", -1);

	if (nano >= 0)
		return (long long)nano;
	if (micro >= 0)
		return (long long)micro * 1000;
	return usd >= 0 ? llround(usd * 1e9) : -1;
}

/* A token count, or "-" when the record has none. */
static const char *tokens_text(const cJSON *rec, const char *key, char *buf, size_t len)
{
	double v = num(rec, key, -1);

	if (v < 0)
		return "-";
	snprintf(buf, len, "%.0f", v);
	return buf;
}

/* The model a provider was asked for: the target's, else the app's. */
static const char *served_model(const cJSON *rec)
{
	return str(rec, "aigw.upstream.model", str(rec, "gen_ai.request.model", "-"));
}

/* Counts (and keeps the reason of) a call whose cost is unknown. */
static void note_unpriced(struct report *r, const cJSON *rec)
{
	const char *why = str(rec, "aigw.cost.reason", "no cost in the record");
	size_t i;

	r->unpriced++;
	for (i = 0; i < r->n_reasons && strcmp(r->reasons[i].text, why); i++)
		;
	if (i >= REPORT_REASONS - 1) { /* the last one gathers the rest */
		i = REPORT_REASONS - 1;
		why = "other reasons";
	}
	if (i == r->n_reasons) {
		r->n_reasons++;
		snprintf(r->reasons[i].text, sizeof(r->reasons[i].text), "%s", why);
	}
	r->reasons[i].n++;
}

/* What an attempt that gave no answer met: its status, else its error, shortened. */
static void attempt_failure(const cJSON *a, char *buf, size_t len)
{
	const char *err = str(a, "error.type", NULL);
	double status = num(a, "http.response.status_code", 0);

	if (status > 0)
		snprintf(buf, len, "%.0f", status);
	else if (err && !strncmp(err, "circuit open", 12))
		snprintf(buf, len, "circuit open");
	else
		snprintf(buf, len, "%s", err ? err : str(a, "aigw.result", "?"));
}

static void append(char *buf, size_t len, const char *text)
{
	size_t used = strlen(buf), n = strlen(text);

	if (used + n >= len)
		n = len - used - 1; /* cut at the end of BUF */
	memcpy(buf + used, text, n);
	buf[used + n] = 0;
}

/* Adds "TARGET (WHY)", or "TARGET (3x WHY)", to the list in BUF. */
static void append_failure(char *buf, size_t len, const char *target, const char *why,
			   unsigned count)
{
	char piece[512], times[16] = "";

	if (count > 1)
		snprintf(times, sizeof(times), "%ux ", count);
	snprintf(piece, sizeof(piece), "%s%s (%s%s)", buf[0] ? ", " : "", target, times, why);
	append(buf, len, piece);
}

/* "openai/gpt-4o-mini (2x 503), ..." from the attempts before the one that answered (all
 * of them when none did); the same failure at the same target in a row is counted. */
static void fallback_from(const cJSON *attempts, const cJSON *answered, char *buf, size_t len)
{
	char target[160] = "", why[160] = "", t[160], w[160];
	unsigned count = 0;
	const cJSON *a;

	buf[0] = 0;
	cJSON_ArrayForEach(a, attempts)
	{
		if (a == answered)
			break;
		snprintf(t, sizeof(t), "%s/%s", str(a, "gen_ai.system", "?"),
			 str(a, "gen_ai.request.model", "?"));
		attempt_failure(a, w, sizeof(w));
		if (count && !strcmp(t, target) && !strcmp(w, why)) {
			count++;
			continue;
		}
		if (count)
			append_failure(buf, len, target, why, count);
		memcpy(target, t, sizeof(t));
		memcpy(why, w, sizeof(w));
		count = 1;
	}
	if (count)
		append_failure(buf, len, target, why, count);
}

/* The attempt that gave the answer (the last, when it is "ok"), or NULL. */
static const cJSON *answering_attempt(const cJSON *attempts)
{
	int n = cJSON_GetArraySize(attempts);
	const cJSON *last = n > 0 ? cJSON_GetArrayItem(attempts, n - 1) : NULL;

	return last && !strcmp(str(last, "aigw.result", ""), "ok") ? last : NULL;
}

/* Whether the call went on from a target that failed or was passed over (an open circuit):
 * attempts after one that "fell_back" or was "skipped". */
static bool fell_back(const cJSON *rec, const cJSON *attempts)
{
	bool passed = false;
	const cJSON *a;

	if (flag(rec, "aigw.fallback"))
		return true;
	cJSON_ArrayForEach(a, attempts)
	{
		const char *res = str(a, "aigw.result", "");

		if (passed)
			return true;
		passed = !strcmp(res, "fell_back") || !strcmp(res, "skipped");
	}
	return false;
}

static void fallback_note(struct report *r, const cJSON *rec, const cJSON *attempts)
{
	const cJSON *answered = answering_attempt(attempts);
	struct report_fallback *fb;
	char *t;

	if (r->n_fallbacks == r->cap_fallbacks) {
		size_t cap = r->cap_fallbacks ? 2 * r->cap_fallbacks : 16;
		void *v = realloc(r->fallbacks, cap * sizeof(*fb));

		if (!v)
			return;
		r->fallbacks = v;
		r->cap_fallbacks = cap;
	}
	fb = &r->fallbacks[r->n_fallbacks++];
	snprintf(fb->time, sizeof(fb->time), "%.19s", str(rec, "time", "?"));
	if ((t = strchr(fb->time, 'T')))
		*t = ' ';
	snprintf(fb->workload, sizeof(fb->workload), "%s", str(rec, "aigw.workload", "?"));
	snprintf(fb->route, sizeof(fb->route), "%s", str(rec, "aigw.route", "-"));
	fallback_from(attempts, answered, fb->from, sizeof(fb->from));
	if (answered)
		snprintf(fb->to, sizeof(fb->to), "%s/%s", str(answered, "gen_ai.system", "?"),
			 str(answered, "gen_ai.request.model", "?"));
	else if (num(rec, "http.response.status_code", 0) > 0)
		snprintf(fb->to, sizeof(fb->to), "none: the app got %.0f",
			 num(rec, "http.response.status_code", 0));
	else
		snprintf(fb->to, sizeof(fb->to), "none: %s", str(rec, "aigw.outcome", "?"));
	fb->translated = flag(rec, "aigw.translated");
}

/* Attempts that did not answer, counted against their provider and model. */
static void count_failed_tries(struct report *r, const cJSON *attempts)
{
	const cJSON *a;

	cJSON_ArrayForEach(a, attempts)
	{
		const char *res = str(a, "aigw.result", "");
		struct report_total *t;

		if (strcmp(res, "retried") && strcmp(res, "fell_back") && strcmp(res, "failed"))
			continue;
		t = total_of(&r->providers, str(a, "gen_ai.system", "?"),
			     str(a, "gen_ai.request.model", "?"));
		if (t)
			t->failed_tries++;
	}
}

static void request_row(struct report *r, const cJSON *rec)
{
	const char *wl = str(rec, "aigw.workload", "?"), *sys = str(rec, "gen_ai.system", "?");
	const char *outcome = str(rec, "aigw.outcome", "?");
	const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(rec, "aigw.attempts");
	struct report_total *ts[2] = {total_of(&r->workloads, wl, ""),
				      total_of(&r->providers, sys, served_model(rec))};
	double status = num(rec, "http.response.status_code", 0),
	       ms = num(rec, "aigw.latency_ms", 0);
	double in = num(rec, "gen_ai.usage.input_tokens", -1);
	double out = num(rec, "gen_ai.usage.output_tokens", -1);
	long long nano = nano_usd(rec);
	bool fb = fell_back(rec, attempts);
	bool failed = status < 200 || status >= 400 || strcmp(outcome, "ok");
	char proc[48], cost[COST_USD_TEXT_MAX], tin[24], tout[24];

	if (!r->requests++)
		fprintf(r->out, "\nCalls\n%-16s %-20s %-10s %-26s %6s %10s %7s %8s %8s %14s  %s\n",
			"workload", "process", "provider", "model", "status", "latency", "stream",
			"in tok", "out tok", "cost USD", "outcome");
	process_name(rec, proc, sizeof(proc));
	fprintf(r->out, "%-16s %-20s %-10s %-26s %6.0f %8.1fms %7s %8s %8s %14s  %s%s\n", wl, proc,
		sys, str(rec, "gen_ai.request.model", "-"), status, ms,
		flag(rec, "aigw.stream") ? "yes" : "no",
		tokens_text(rec, "gen_ai.usage.input_tokens", tin, sizeof(tin)),
		tokens_text(rec, "gen_ai.usage.output_tokens", tout, sizeof(tout)),
		nano < 0 ? "unknown" : cost_usd_text(nano, cost), outcome,
		fb ? " (fallback)" : "");
	if (nano < 0)
		note_unpriced(r, rec);
	for (size_t i = 0; i < 2; i++) {
		struct report_total *t = ts[i];

		if (!t)
			continue;
		t->calls++;
		t->latency_ms += ms;
		t->tokens_in += in > 0 ? (long long)in : 0;
		t->tokens_out += out > 0 ? (long long)out : 0;
		if (nano >= 0)
			t->nano_usd += nano;
		else
			t->unpriced++;
		t->errors += failed;
		t->fallbacks += fb;
	}
	count_failed_tries(r, attempts);
	if (fb)
		fallback_note(r, rec, attempts);
}

static void refusal_row(struct report *r, const cJSON *rec)
{
	const char *wl = str(rec, "aigw.workload", "?");
	struct report_total *t = total_of(&r->workloads, wl, "");
	FILE *out = r->blocked_out ? r->blocked_out : r->out;
	char proc[48], dst[96];

	if (!r->refusals++)
		fprintf(out,
			"\nBlocked attempts to reach a provider directly\n%-16s %-20s %-10s "
			"%-28s %s\n",
			"workload", "process", "provider", "destination", "reason");
	process_name(rec, proc, sizeof(proc));
	snprintf(dst, sizeof(dst), "%s %s:%.0f", str(rec, "network.transport", "?"),
		 str(rec, "server.address", "?"), num(rec, "server.port", 0));
	fprintf(out, "%-16s %-20s %-10s %-28s %s\n", wl, proc, str(rec, "gen_ai.system", "?"), dst,
		str(rec, "aigw.reason", "?"));
	if (t)
		t->denied++;
}

/* A target taken out of rotation, or back in. */
static void circuit_row(struct report *r, const cJSON *rec, int opened)
{
	char when[20], *t, target[160];

	if (!r->circuits_out)
		return;
	snprintf(when, sizeof(when), "%.19s", str(rec, "time", "?"));
	if ((t = strchr(when, 'T')))
		*t = ' ';
	snprintf(target, sizeof(target), "%s/%s", str(rec, "gen_ai.system", "?"),
		 str(rec, "gen_ai.request.model", "?"));
	if (opened)
		fprintf(r->circuits_out,
			"%-19s  %-40s  opened after %.0f failed attempts, for %.1f s\n", when,
			target, num(rec, "aigw.breaker.failures", 0),
			num(rec, "aigw.breaker.open_ms", 0) / 1000);
	else
		fprintf(r->circuits_out, "%-19s  %-40s  closed: it answered its probe\n", when,
			target);
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
	else if (!strcmp(ev, "routing.circuit_open") || !strcmp(ev, "routing.circuit_closed"))
		circuit_row(r, rec, !strcmp(ev, "routing.circuit_open"));
	cJSON_Delete(rec);
}

static int width(int w, const char *s)
{
	int n = (int)strlen(s);

	return n > w ? n : w;
}

static void fallbacks_print(struct report *r)
{
	int ww = 8, wr = 5, wf = 22, wt = 11;

	if (!r->n_fallbacks)
		return;
	for (size_t i = 0; i < r->n_fallbacks; i++) {
		ww = width(ww, r->fallbacks[i].workload);
		wr = width(wr, r->fallbacks[i].route);
		wf = width(wf, r->fallbacks[i].from);
		wt = width(wt, r->fallbacks[i].to);
	}
	fprintf(r->out, "\nFallbacks: calls their first target did not answer\n");
	fprintf(r->out, "%-19s  %-*s  %-*s  %-*s    %-*s  %s\n", "time (UTC)", ww, "workload", wr,
		"route", wf, "failed (status/error)", wt, "answered by", "translated");
	for (size_t i = 0; i < r->n_fallbacks; i++) {
		const struct report_fallback *fb = &r->fallbacks[i];

		fprintf(r->out, "%-19s  %-*s  %-*s  %-*s -> %-*s  %s\n", fb->time, ww, fb->workload,
			wr, fb->route, wf, fb->from, wt, fb->to, fb->translated ? "yes" : "no");
	}
}

/* The known sum, marked "*" when some calls' cost is unknown; "unknown" when none is known. */
static const char *total_cost(const struct report_total *t, char *buf, size_t len)
{
	char usd[COST_USD_TEXT_MAX];

	if (!t->calls)
		return "-";
	if (t->unpriced == t->calls)
		return "unknown";
	snprintf(buf, len, "%s%s", cost_usd_text(t->nano_usd, usd), t->unpriced ? "*" : "");
	return buf;
}

static void totals_print(struct report *r)
{
	char cost[40];

	fprintf(r->out, "\nBy provider and model\n%-10s %-30s %6s %8s %6s %12s %9s %9s %16s %8s\n",
		"provider", "model", "calls", "fallback", "errors", "failed tries", "in tok",
		"out tok", "cost USD", "unpriced");
	for (size_t i = 0; i < r->providers.n; i++) {
		struct report_total *t = &r->providers.v[i];

		fprintf(r->out, "%-10s %-30s %6u %8u %6u %12u %9lld %9lld %16s %8u\n", t->name,
			t->model, t->calls, t->fallbacks, t->errors, t->failed_tries, t->tokens_in,
			t->tokens_out, total_cost(t, cost, sizeof(cost)), t->unpriced);
	}
	fprintf(r->out, "\nBy workload\n%-16s %6s %6s %8s %11s %9s %9s %16s %8s %8s\n", "workload",
		"calls", "errors", "fallback", "avg latency", "in tok", "out tok", "cost USD",
		"unpriced", "blocked");
	for (size_t i = 0; i < r->workloads.n; i++) {
		struct report_total *t = &r->workloads.v[i];

		fprintf(r->out, "%-16s %6u %6u %8u %9.1fms %9lld %9lld %16s %8u %8u\n", t->name,
			t->calls, t->errors, t->fallbacks, t->calls ? t->latency_ms / t->calls : 0,
			t->tokens_in, t->tokens_out, total_cost(t, cost, sizeof(cost)), t->unpriced,
			t->denied);
	}
	if (!r->unpriced)
		return;
	fprintf(r->out,
		"\n* cost USD sums the priced calls only: %u call%s of unknown cost left out, "
		"never counted as zero:\n",
		r->unpriced, r->unpriced == 1 ? "" : "s");
	for (size_t i = 0; i < r->n_reasons; i++)
		fprintf(r->out, "  %6u  %s\n", r->reasons[i].n, r->reasons[i].text);
}

static void report_free(struct report *r)
{
	if (r->blocked_out)
		fclose(r->blocked_out);
	if (r->circuits_out)
		fclose(r->circuits_out);
	free(r->blocked);
	free(r->circuits);
	free(r->fallbacks);
	free(r);
}

int report_print(const char **paths, size_t n, FILE *out)
{
	struct report *r = calloc(1, sizeof(*r));
	char *line = NULL;
	size_t cap = 0;

	if (!r)
		return -ENOMEM;
	r->out = out;
	r->blocked_out = open_memstream(&r->blocked, &r->blocked_len);
	r->circuits_out = open_memstream(&r->circuits, &r->circuits_len);
	for (size_t i = 0; i < n; i++) {
		FILE *f = fopen(paths[i], "r");

		if (!f) {
			int err = -errno;

			free(line);
			report_free(r);
			return err;
		}
		while (getline(&line, &cap, f) > 0)
			report_line(r, line);
		fclose(f);
	}
	if (!r->requests)
		fprintf(out, "\nNo calls recorded.\n");
	if (r->blocked_out && !fflush(r->blocked_out))
		fwrite(r->blocked, 1, r->blocked_len, out);
	fallbacks_print(r);
	if (r->circuits_out && !fflush(r->circuits_out) && r->circuits_len) {
		fprintf(out, "\nCircuit breakers: targets taken out of rotation, and back\n");
		fprintf(out, "%-19s  %-40s  %s\n", "time (UTC)", "target", "what");
		fwrite(r->circuits, 1, r->circuits_len, out);
	}
	totals_print(r);
	free(line);
	report_free(r);
	return 0;
}
