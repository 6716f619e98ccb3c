/*
 * test_report.c: `aigw report` over a small audit log written here: the calls, the blocked
 * attempts after the calls whatever their order in the log, one line per fallback (retries
 * counted, an open circuit, every target down), the totals per provider and model and per
 * workload, and a cost the records do not know flagged, never summed as zero.
 *
 * Lines are compared with their runs of spaces squeezed to one: the column widths may
 * change, the content may not.
 */
#include "unit.h"
#include "ledger/report.h"

#include <stdbool.h>
#include <unistd.h>

#define T0 "\"time\":\"2025-06-01T12:00:0"
#define REQ "\"event.name\":\"proxy.request\",\"aigw.outcome\":\"ok\",\"aigw.latency_ms\":10,"
#define BILLING "\"aigw.workload\":\"billing\",\"process.executable.name\":\"python3\","
#define SUPPORT "\"aigw.workload\":\"support\",\"process.executable.name\":\"node\","
#define MINI "\"gen_ai.system\":\"openai\",\"gen_ai.request.model\":\"gpt-4o-mini\""
#define HAIKU "\"gen_ai.system\":\"anthropic\",\"gen_ai.request.model\":\"claude-3-5-haiku-latest\""
#define ROUTED                                                                                     \
	"\"gen_ai.request.model\":\"fast-summary\",\"aigw.route\":\"fast-summary\","               \
	"\"aigw.upstream.model\":\"claude-3-5-haiku-latest\",\"gen_ai.system\":\"anthropic\","

/* The log: a refusal first, then the calls. */
static const char *const records[] = {
    "{" T0 "0.1Z\",\"event.name\":\"capture.deny\"," BILLING "\"process.pid\":7,"
    "\"gen_ai.system\":\"openai\",\"network.transport\":\"udp\",\"server.address\":"
    "\"127.77.0.21\",\"server.port\":443,\"aigw.reason\":\"deny_udp_quic\"}",
    /* direct, priced */
    "{" T0 "1.1Z\"," REQ BILLING "\"process.pid\":7," MINI ",\"http.response.status_code\":200,"
    "\"gen_ai.usage.input_tokens\":9,\"gen_ai.usage.output_tokens\":18,\"cost_usd\":0.000012,"
    "\"aigw.cost.micro_usd\":12,\"aigw.fallback\":false}",
    /* openai down: fell back, translated */
    "{" T0 "2.1Z\"," REQ BILLING "\"process.pid\":8," ROUTED "\"http.response.status_code\":200,"
    "\"gen_ai.usage.input_tokens\":10,\"gen_ai.usage.output_tokens\":20,\"cost_usd\":0.000099,"
    "\"aigw.cost.nano_usd\":99000,\"aigw.fallback\":true,\"aigw.translated\":true,"
    "\"aigw.attempts\":[{" MINI ",\"http.response.status_code\":503,\"aigw.result\":"
    "\"fell_back\",\"error.type\":\"the provider answered 503\"},{" HAIKU
    ",\"http.response.status_code\":200,\"aigw.result\":\"ok\"}]}",
    /* the circuit is open: openai skipped (the record's aigw.fallback says false) */
    "{" T0 "3.1Z\"," REQ BILLING "\"process.pid\":8," ROUTED "\"http.response.status_code\":200,"
    "\"gen_ai.usage.input_tokens\":10,\"gen_ai.usage.output_tokens\":30,\"cost_usd\":0.000130,"
    "\"aigw.fallback\":false,\"aigw.translated\":true,\"aigw.attempts\":[{" MINI
    ",\"aigw.result\":\"skipped\",\"error.type\":\"circuit open for openai/gpt-4o-mini\"},"
    "{" HAIKU ",\"http.response.status_code\":200,\"aigw.result\":\"ok\"}]}",
    /* retried twice on a connection error, then fell back */
    "{" T0 "4.1Z\"," REQ SUPPORT "\"process.pid\":9," ROUTED "\"http.response.status_code\":200,"
    "\"gen_ai.usage.input_tokens\":5,\"gen_ai.usage.output_tokens\":5,\"cost_usd\":0.000020,"
    "\"aigw.cost.micro_usd\":20,\"aigw.fallback\":true,\"aigw.translated\":true,"
    "\"aigw.attempts\":[{" MINI ",\"aigw.result\":\"retried\",\"error.type\":\"connection "
    "refused\"},{" MINI ",\"aigw.result\":\"retried\",\"error.type\":\"connection refused\"},{" MINI
    ",\"http.response.status_code\":429,\"aigw.result\":\"fell_back\"},{" HAIKU
    ",\"http.response.status_code\":200,\"aigw.result\":\"ok\"}]}",
    /* every target down: no usage, no cost */
    "{" T0 "5.1Z\",\"event.name\":\"proxy.request\",\"aigw.outcome\":\"no_target_available\","
    "\"aigw.latency_ms\":10," SUPPORT "\"process.pid\":9," ROUTED
    "\"http.response.status_code\":503,\"gen_ai.usage.input_tokens\":null,"
    "\"gen_ai.usage.output_tokens\":null,\"cost_usd\":null,\"aigw.cost.reason\":\"no usage: "
    "the call failed\",\"aigw.fallback\":true,\"aigw.attempts\":[{" MINI
    ",\"http.response.status_code\":503,\"aigw.result\":\"fell_back\"},{" HAIKU
    ",\"http.response.status_code\":503,\"aigw.result\":\"failed\"}]}",
    "not json at all",
    /* direct, tokens known, no price */
    "{" T0 "6.1Z\"," REQ SUPPORT "\"process.pid\":9,\"aigw.stream\":true," HAIKU
    ",\"http.response.status_code\":200,\"gen_ai.usage.input_tokens\":7,"
    "\"gen_ai.usage.output_tokens\":3,\"cost_usd\":null,\"aigw.cost.reason\":\"no price for "
    "anthropic/claude-3-5-haiku-latest\"}",
};

static char *report_of(const char *const *lines, size_t n)
{
	char path[] = "/tmp/aigw-test-report-XXXXXX", *text = NULL;
	const char *paths[] = {path};
	size_t len = 0;
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL, *out;

	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\n", lines[i]);
	fclose(f);
	out = open_memstream(&text, &len);
	if (!out || report_print(paths, 1, out) < 0) {
		if (out)
			fclose(out);
		free(text);
		text = NULL;
	} else {
		fclose(out);
	}
	unlink(path);
	return text;
}

/* LINE, up to its newline, into BUF: runs of spaces squeezed to one, none at the end. */
static void squeeze(const char *line, char *buf, size_t size)
{
	size_t n = 0;

	for (bool space = false; *line && *line != '\n' && n < size - 1; line++) {
		if (*line == ' ' && space)
			continue;
		space = *line == ' ';
		buf[n++] = *line;
	}
	while (n && buf[n - 1] == ' ')
		n--;
	buf[n] = 0;
}

/* The first line of TEXT from SECTION on that, squeezed, starts with KEY; "" when none. */
static const char *line_of(const char *text, const char *section, const char *key)
{
	static char buf[1024];

	for (const char *p = strstr(text, section); p && *p;
	     p = strchr(p, '\n'), p = p ? p + 1 : p) {
		squeeze(p, buf, sizeof(buf));
		if (!strncmp(buf, key, strlen(key)))
			return buf;
	}
	buf[0] = 0;
	return buf;
}

static unsigned count_lines_after(const char *text, const char *section)
{
	const char *p = strstr(text, section);
	unsigned n = 0;

	if (!p)
		return 0;
	p = strchr(p, '\n');		    /* the end of the section's title */
	p = p ? strchr(p + 1, '\n') : NULL; /* and of its header */
	while (p && p[1] && p[1] != '\n') {
		n++;
		p = strchr(p + 1, '\n');
	}
	return n;
}

/* The line of a report expected after SECTION, found by its start KEY. */
struct expect {
	const char *section, *key, *line;
};

/* Fails the running test at the first line that is not as expected. */
static void expect_lines(const char *out, const struct expect *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ASSERT_STREQ(line_of(out, e[i].section, e[i].key), e[i].line);
}

#define EXPECT_LINES(out, e) expect_lines(out, e, sizeof(e) / sizeof(e[0]))

static void test_calls_then_blocked_whatever_the_order(void)
{
	static const struct expect lines[] = {
	    {"Blocked", "billing", "billing python3[7] openai udp 127.77.0.21:443 deny_udp_quic"},
	    {"Calls", "billing python3[7]",
	     "billing python3[7] openai gpt-4o-mini 200 10.0ms no 9 18 0.000012000 ok"},
	    {"Calls", "billing python3[8]",
	     "billing python3[8] anthropic fast-summary 200 10.0ms no 10 20 0.000099000 ok "
	     "(fallback)"},
	    /* a cost and tokens the record does not have are shown as such */
	    {"Calls", "support node[9] anthropic fast-summary 503",
	     "support node[9] anthropic fast-summary 503 10.0ms no - - unknown no_target_available "
	     "(fallback)"},
	};
	char *out = report_of(records, sizeof(records) / sizeof(records[0]));
	const char *calls, *blocked;

	ASSERT_TRUE(out);
	calls = strstr(out, "\nCalls\n");
	blocked = strstr(out, "\nBlocked attempts");
	ASSERT_TRUE(calls && blocked && calls < blocked);
	ASSERT_TRUE(strstr(out, "node[9]") < blocked); /* the last call is above the refusals */
	EXPECT_LINES(out, lines);
	free(out);
}

static void test_a_line_per_fallback(void)
{
	static const struct expect lines[] = {
	    {"Fallbacks", "2025-06-01 12:00:02",
	     "2025-06-01 12:00:02 billing fast-summary openai/gpt-4o-mini (503) -> "
	     "anthropic/claude-3-5-haiku-latest yes"},
	    {"Fallbacks", "2025-06-01 12:00:03",
	     "2025-06-01 12:00:03 billing fast-summary openai/gpt-4o-mini (circuit open) -> "
	     "anthropic/claude-3-5-haiku-latest yes"},
	    {"Fallbacks", "2025-06-01 12:00:04",
	     "2025-06-01 12:00:04 support fast-summary openai/gpt-4o-mini (2x connection refused), "
	     "openai/gpt-4o-mini (429) -> anthropic/claude-3-5-haiku-latest yes"},
	    {"Fallbacks", "2025-06-01 12:00:05",
	     "2025-06-01 12:00:05 support fast-summary openai/gpt-4o-mini (503), "
	     "anthropic/claude-3-5-haiku-latest (503) -> none: the app got 503 no"},
	    /* a call that went where it was sent is no fallback */
	    {"Fallbacks", "2025-06-01 12:00:01", ""},
	};
	char *out = report_of(records, sizeof(records) / sizeof(records[0]));

	ASSERT_TRUE(out);
	ASSERT_EQ(count_lines_after(out, "Fallbacks:"), 4);
	EXPECT_LINES(out, lines);
	free(out);
}

static void test_totals_flag_unknown_costs(void)
{
	static const struct expect lines[] = {
	    /* billing: all priced (one through cost_usd alone) */
	    {"By workload", "billing", "billing 3 0 2 10.0ms 29 68 0.000241000 0 1"},
	    /* support: the known part, marked, and two calls of unknown cost */
	    {"By workload", "support", "support 3 1 2 10.0ms 12 8 0.000020000* 2 0"},
	    {"By provider", "openai", "openai gpt-4o-mini 1 0 0 5 9 18 0.000012000 0"},
	    {"By provider", "anthropic",
	     "anthropic claude-3-5-haiku-latest 5 4 1 1 32 58 0.000249000* 2"},
	    {"* cost USD", " 1 no usage", " 1 no usage: the call failed"},
	    {"* cost USD", " 1 no price", " 1 no price for anthropic/claude-3-5-haiku-latest"},
	};
	char *out = report_of(records, sizeof(records) / sizeof(records[0]));

	ASSERT_TRUE(out);
	ASSERT_CONTAINS(out, "2 calls of unknown cost left out, never counted as zero");
	EXPECT_LINES(out, lines);
	free(out);
}

static void test_all_unknown_is_unknown_not_zero(void)
{
	const char *lines[] = {records[5], records[7]};
	char *out = report_of(lines, 2);

	ASSERT_TRUE(out);
	ASSERT_STREQ(line_of(out, "By workload", "support"),
		     "support 2 1 1 10.0ms 7 3 unknown 2 0");
	ASSERT_TRUE(!strstr(out, "0.000000"));
	free(out);
}

static void test_no_fallback_no_section(void)
{
	const char *lines[] = {records[1]};
	char *out = report_of(lines, 1);

	ASSERT_TRUE(out);
	ASSERT_TRUE(!strstr(out, "Fallbacks"));
	ASSERT_TRUE(!strstr(out, "unknown cost"));
	ASSERT_STREQ(line_of(out, "By workload", "billing"),
		     "billing 1 0 0 10.0ms 9 18 0.000012000 0 0");
	free(out);
}

static void test_circuit_breakers(void)
{
	const char *lines[] = {
	    "{\"time\":\"2026-11-27T10:00:01.000Z\",\"event.name\":\"routing.circuit_open\","
	    "\"gen_ai.system\":\"openai\",\"gen_ai.request.model\":\"gpt-4o-mini\","
	    "\"aigw.breaker.failures\":5,\"aigw.breaker.open_ms\":30000}",
	    "{\"time\":\"2026-11-27T10:00:40.000Z\",\"event.name\":\"routing.circuit_closed\","
	    "\"gen_ai.system\":\"openai\",\"gen_ai.request.model\":\"gpt-4o-mini\"}",
	};
	char *out = report_of(lines, 2);

	ASSERT_TRUE(out);
	ASSERT_STREQ(line_of(out, "Circuit breakers", "2026-11-27 10:00:01"),
		     "2026-11-27 10:00:01 openai/gpt-4o-mini opened after 5 failed attempts, for "
		     "30.0 s");
	ASSERT_STREQ(line_of(out, "Circuit breakers", "2026-11-27 10:00:40"),
		     "2026-11-27 10:00:40 openai/gpt-4o-mini closed: it answered its probe");
	free(out);
	out = report_of((const char *[]){records[1]}, 1);
	ASSERT_TRUE(out && !strstr(out, "Circuit breakers"));
	free(out);
}

UNIT_MAIN(UNIT_CASE(test_circuit_breakers), UNIT_CASE(test_calls_then_blocked_whatever_the_order),
	  UNIT_CASE(test_a_line_per_fallback), UNIT_CASE(test_totals_flag_unknown_costs),
	  UNIT_CASE(test_all_unknown_is_unknown_not_zero), UNIT_CASE(test_no_fallback_no_section))
