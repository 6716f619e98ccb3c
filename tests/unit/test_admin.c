/* test_admin: who the admin endpoint serves without a token, the bearer check, and the
 * metrics' text: escaping, histograms, exact cost, the cap on label sets. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include "admin/admin.h"
#include "admin/metrics.h"
#include "unit.h"

static int peer4(const char *ip)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};

	inet_pton(AF_INET, ip, &sin.sin_addr);
	return admin_peer_is_loopback((struct sockaddr *)&sin);
}

static int peer6(const char *ip)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};

	inet_pton(AF_INET6, ip, &sin6.sin6_addr);
	return admin_peer_is_loopback((struct sockaddr *)&sin6);
}

static void test_loopback_peer(void)
{
	ASSERT_TRUE(peer4("127.0.0.1"));
	ASSERT_TRUE(peer4("127.1.2.3"));
	ASSERT_TRUE(!peer4("10.0.0.1"));
	ASSERT_TRUE(!peer4("128.0.0.1"));
	ASSERT_TRUE(!peer4("0.0.0.0"));
	ASSERT_TRUE(peer6("::1"));
	ASSERT_TRUE(peer6("::ffff:127.0.0.9"));
	ASSERT_TRUE(!peer6("::ffff:10.0.0.1"));
	ASSERT_TRUE(!peer6("fe80::1"));
	ASSERT_TRUE(!peer6("::"));
	ASSERT_TRUE(!admin_peer_is_loopback(NULL));
}

static void test_bearer(void)
{
	const char *tok = "s3cret-token";
	size_t n = strlen(tok);

	ASSERT_TRUE(admin_bearer_ok("Bearer s3cret-token", tok, n));
	ASSERT_TRUE(admin_bearer_ok("bearer  s3cret-token ", tok, n));
	ASSERT_TRUE(!admin_bearer_ok("Bearer s3cret-toke", tok, n));
	ASSERT_TRUE(!admin_bearer_ok("Bearer s3cret-token2", tok, n));
	ASSERT_TRUE(!admin_bearer_ok("Basic s3cret-token", tok, n));
	ASSERT_TRUE(!admin_bearer_ok("s3cret-token", tok, n));
	ASSERT_TRUE(!admin_bearer_ok(NULL, tok, n));
	ASSERT_TRUE(!admin_bearer_ok("Bearer ", "", 0));
}

static void test_label_escaping(void)
{
	static const char *const names[] = {"a", "b"};
	const char *values[] = {"x\\y\"z\nw", "\x1b[31m\xff\xc3\xa9"};
	char buf[128];

	metrics_format_labels(buf, sizeof(buf), names, values, 2);
	/* backslash, quote and newline escaped; ESC kept (the format allows it); a byte that is
	 * not UTF-8 replaced; UTF-8 kept */
	ASSERT_STREQ(buf, "a=\"x\\\\y\\\"z\\nw\",b=\"\x1b[31m?\xc3\xa9\"");
	ASSERT_TRUE(metrics_format_labels(buf, 8, names, values, 2) >= 8);
}

/* The label text as metrics_format_labels() wrote it before its ASCII fast path (every byte
 * decoded as UTF-8): the reference the fast path must match byte for byte. */
/* The length of the valid UTF-8 sequence at S (1..4), or 0 when it is not one. */
static size_t ref_utf8_seq(const unsigned char *s)
{
	size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
				 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
	unsigned cp;

	if (n <= 1)
		return n;
	cp = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and what is past U+10FFFF are not UTF-8 */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

static size_t ref_format_labels(char *buf, size_t size, const char *const *names,
				const char *const *values, size_t n)
{
	size_t len = 0;

#define PUT(c)                                                                                     \
	do {                                                                                       \
		if (len + 1 < size)                                                                \
			buf[len] = (c);                                                            \
		len++;                                                                             \
	} while (0)
	for (size_t i = 0; i < n; i++) {
		const unsigned char *v = (const unsigned char *)(values[i] ? values[i] : "");

		if (i)
			PUT(',');
		for (const char *k = names[i]; *k; k++)
			PUT(*k);
		PUT('=');
		PUT('"');
		while (*v) {
			size_t seq = ref_utf8_seq(v);

			if (*v == '\\' || *v == '"') {
				PUT('\\');
				PUT(*v);
			} else if (*v == '\n') {
				PUT('\\');
				PUT('n');
			} else if (!seq) {
				PUT('?'); /* not UTF-8, which the format requires */
				seq = 1;
			} else {
				for (size_t j = 0; j < seq; j++)
					PUT(v[j]);
			}
			v += seq ? seq : 1;
		}
		PUT('"');
	}
#undef PUT
	if (size)
		buf[len < size ? len : size - 1] = 0;
	return len;
}

/* Label values of random bytes (ASCII, quotes, backslashes, newlines, control bytes, valid,
 * overlong, cut and surrogate UTF-8) into buffers of every size from 0 up: the same text and
 * length as the reference. */
static void test_label_format_exact(void)
{
	static const char *const names[] = {"workload", "team", "provider", "model", "outcome"};
	static const char *const pieces[] = {"a", "Z", "-", ".", "\\", "\"", "\n", "\x1b", "\x7f",
					     "\xc3\xa9", "\xc3", "\xc0\xaf", "\xed\xa0\x80",
					     "\xf0\x9f\x98\x80", "\xf4\x90\x80\x80", "\xff", " "};
	char vals[5][64], got[160], want[160];
	const char *values[5];
	unsigned long long x = 0x2545f4914f6cdd1dULL;

	for (int round = 0; round < 20000; round++) {
		size_t n = 1 + round % 5, size = (size_t)(round % 160), gl, wl;

		for (size_t i = 0; i < n; i++) {
			size_t len = 0;

			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			for (int p = 0; p < (int)(x % 12); p++) {
				const char *piece = x % 3 ? "ab" : pieces[(x >> (p + 8)) % 17];

				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				memcpy(vals[i] + len, piece, strlen(piece));
				len += strlen(piece);
			}
			vals[i][len] = 0;
			values[i] = (size_t)(round % 97) == i ? NULL : vals[i];
		}
		memset(got, 'g', sizeof(got));
		memset(want, 'g', sizeof(want));
		gl = metrics_format_labels(got, size, names, values, n);
		wl = ref_format_labels(want, size, names, values, n);
		ASSERT_EQ(gl, wl);
		ASSERT_TRUE(!memcmp(got, want, sizeof(got)));
	}
}

static char *scrape(struct metrics *m)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *text;

	metrics_write(m, b);
	n = evbuffer_get_length(b);
	text = malloc(n + 1);
	evbuffer_remove(b, text, n);
	text[n] = 0;
	evbuffer_free(b);
	return text;
}

static void test_metrics_text(void)
{
	struct http_call_end c = {
	    .workload = "billing", .team = "finance", .provider = "openai", .model = "gpt-4o",
	    .outcome = "ok", .denied_by = "", .usage_known = 1, .input_tokens = 10,
	    .output_tokens = 300, .cost_known = 1, .cost_nano = 1500000001, .duration_s = 0.05,
	    .ttft_s = -1};
	struct metrics *m;
	char *t;

	ASSERT_OK(metrics_new(100, &m));
	metrics_call_end(m, &c);
	c.cost_nano = 2;
	c.fallback = 1;
	metrics_call_end(m, &c);
	metrics_denied(m, "deny_udp_quic");
	metrics_captured(m);
	t = scrape(m);
	ASSERT_CONTAINS(t, "# TYPE aigw_requests_total counter\n");
	ASSERT_CONTAINS(t, "aigw_requests_total{workload=\"billing\",team=\"finance\","
			   "provider=\"openai\",model=\"gpt-4o\",outcome=\"ok\"} 2\n");
	ASSERT_CONTAINS(t, "aigw_cost_usd_total{workload=\"billing\",team=\"finance\","
			   "provider=\"openai\",model=\"gpt-4o\"} 1.500000003\n");
	ASSERT_CONTAINS(t, "aigw_fallbacks_total{workload=\"billing\",team=\"finance\","
			   "provider=\"openai\",model=\"gpt-4o\"} 1\n");
	ASSERT_CONTAINS(t, "gen_ai_client_token_usage_bucket{gen_ai_token_type=\"input\","
			   "gen_ai_system=\"openai\",gen_ai_request_model=\"gpt-4o\","
			   "aigw_workload=\"billing\",aigw_team=\"finance\",le=\"16\"} 2\n");
	ASSERT_CONTAINS(t, "gen_ai_client_token_usage_bucket{gen_ai_token_type=\"output\","
			   "gen_ai_system=\"openai\",gen_ai_request_model=\"gpt-4o\","
			   "aigw_workload=\"billing\",aigw_team=\"finance\",le=\"256\"} 0\n");
	ASSERT_CONTAINS(t, "aigw_team=\"finance\",le=\"+Inf\"} 2\n");
	ASSERT_CONTAINS(t, "gen_ai_client_token_usage_sum{gen_ai_token_type=\"output\","
			   "gen_ai_system=\"openai\",gen_ai_request_model=\"gpt-4o\","
			   "aigw_workload=\"billing\",aigw_team=\"finance\"} 600\n");
	ASSERT_CONTAINS(t, "aigw_denied_total{reason=\"deny_udp_quic\"} 1\n");
	ASSERT_CONTAINS(t, "aigw_captured_connections_total 1\n");
	ASSERT_CONTAINS(t, "aigw_passthrough_total 0\n");
	ASSERT_TRUE(strstr(t, "gen_ai_server_time_to_first_token_seconds_bucket") == NULL);
	free(t);
	metrics_free(m);
}

/* Calls of two workloads that alternate (and values that differ in their last byte, or only
 * by one being a prefix of the other) each count in their own series. */
static void test_metrics_alternate(void)
{
	static const char *const workloads[] = {"billing", "billing2", "billin", "billing"};
	struct http_call_end c = {
	    .team = "finance", .provider = "openai", .model = "gpt-4o", .outcome = "ok",
	    .denied_by = "", .usage_known = 1, .input_tokens = 10, .output_tokens = 300,
	    .duration_s = 0.05, .ttft_s = -1};
	struct metrics *m;
	char want[256], *t;

	ASSERT_OK(metrics_new(100, &m));
	for (int i = 0; i < 8; i++) {
		c.workload = workloads[i % 4];
		c.outcome = i == 7 ? "ok\n" : "ok";
		metrics_call_end(m, &c);
	}
	t = scrape(m);
	for (int w = 0; w < 3; w++) {
		snprintf(want, sizeof(want),
			 "aigw_requests_total{workload=\"%s\",team=\"finance\",provider=\"openai\","
			 "model=\"gpt-4o\",outcome=\"ok\"} %d\n",
			 workloads[w], w ? 2 : 3);
		ASSERT_CONTAINS(t, want);
		snprintf(want, sizeof(want),
			 "gen_ai_client_token_usage_sum{gen_ai_token_type=\"output\",gen_ai_system="
			 "\"openai\",gen_ai_request_model=\"gpt-4o\",aigw_workload=\"%s\",aigw_team="
			 "\"finance\"} %d\n",
			 workloads[w], w ? 600 : 1200);
		ASSERT_CONTAINS(t, want);
	}
	ASSERT_CONTAINS(t, "outcome=\"ok\\n\"} 1\n");
	free(t);
	metrics_free(m);
}

static void test_metrics_cap(void)
{
	struct metrics *m;
	char reason[32];
	char *t;

	ASSERT_OK(metrics_new(5, &m));
	for (int i = 0; i < 8; i++) {
		snprintf(reason, sizeof(reason), "r%d", i);
		metrics_denied(m, reason);
	}
	metrics_denied(m, "r0"); /* an existing series still counts */
	t = scrape(m);
	ASSERT_CONTAINS(t, "aigw_denied_total{reason=\"r0\"} 2\n");
	ASSERT_CONTAINS(t, "aigw_denied_total{reason=\"r4\"} 1\n");
	ASSERT_TRUE(strstr(t, "reason=\"r5\"") == NULL);
	ASSERT_CONTAINS(t, "aigw_metrics_dropped_series_total 3\n");
	free(t);
	metrics_free(m);
}

/* The text is lent to the evbuffer and its buffer comes back for the next scrape; one still
 * held when the metrics are freed stays readable, and is freed with the evbuffer. */
static void test_metrics_text_reuse(void)
{
	struct evbuffer *held = evbuffer_new();
	struct metrics *m;
	char *a, *b, *c;
	size_t n;

	ASSERT_OK(metrics_new(100, &m));
	metrics_denied(m, "r0");
	a = scrape(m);
	b = scrape(m); /* into the buffer a's scrape gave back */
	ASSERT_STREQ(a, b);
	metrics_write(m, held);
	c = scrape(m); /* the spare is on loan to HELD: a new one */
	ASSERT_STREQ(a, c);
	metrics_free(m);
	n = evbuffer_get_length(held);
	ASSERT_EQ(n, strlen(a));
	ASSERT_TRUE(memcmp(evbuffer_pullup(held, -1), a, n) == 0);
	evbuffer_free(held);
	free(a);
	free(b);
	free(c);
}

/* The call of round X: label values that differ by a prefix, a NULL, the outcome alone. */
static struct http_call_end memo_call(uint64_t x)
{
	static const char *const workloads[] = {"billing", "bill", NULL, "billing"};
	static const char *const models[] = {"gpt-4o", "gpt-4", "gpt-4o-mini", "gpt-4o"};
	static const char *const outcomes[] = {"ok", "upstream_timeout", "ok", "denied"};
	struct http_call_end c = {
	    .workload = workloads[x % 4], .team = (x >> 2) % 3 ? "finance" : "",
	    .provider = (x >> 4) % 2 ? "openai" : "anthropic", .model = models[(x >> 5) % 4],
	    .outcome = outcomes[(x >> 7) % 4], .denied_by = "", .fallback = (x >> 9) % 3 == 0,
	    .usage_known = (x >> 11) % 4 != 0, .input_tokens = (x >> 13) % 5000,
	    .output_tokens = (x >> 20) % 900, .cost_known = (x >> 30) % 2,
	    .cost_nano = (int64_t)((x >> 31) % 100000), .duration_s = (double)((x >> 40) % 30),
	    .ttft_s = (x >> 45) % 2 ? (double)((x >> 46) % 4) : -1};

	return c;
}

/* The calls' series are found through the last call's labels (metrics_call_end): the text is
 * the one written when every call looks its series up anew (here: a call of other labels
 * between each two, whose series are made first in both, so that the order is the same). */
static void test_metrics_call_memo_exact(void)
{
	const struct http_call_end other = {
	    .workload = "zz", .team = "zz", .provider = "zz", .model = "zz", .outcome = "ok",
	    .denied_by = "", .usage_known = 1, .input_tokens = 1, .output_tokens = 1,
	    .cost_known = 1, .cost_nano = 1, .fallback = 1, .duration_s = 1, .ttft_s = 1};
	struct metrics *memo, *fresh;
	uint64_t x = 0x2545f4914f6cdd1dULL;
	int n_other = 0;
	char *a, *b;

	ASSERT_OK(metrics_new(1000, &memo));
	ASSERT_OK(metrics_new(1000, &fresh));
	metrics_call_end(memo, &other);
	metrics_call_end(fresh, &other);
	for (int i = 0; i < 3000; i++) {
		struct http_call_end c;
		int twice;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		c = memo_call(x % 7 ? x : x >> 3);
		twice = x % 5 == 0; /* the same labels again, next */
		for (int k = 0; k <= twice; k++, n_other++) {
			metrics_call_end(memo, &c);
			metrics_call_end(fresh, &other);
			metrics_call_end(fresh, &c);
		}
	}
	for (int i = 0; i < n_other; i++)
		metrics_call_end(memo, &other);
	a = scrape(memo);
	b = scrape(fresh);
	ASSERT_TRUE(a && b);
	ASSERT_STREQ(a, b);
	free(a);
	free(b);
	metrics_free(memo);
	metrics_free(fresh);
}

UNIT_MAIN(UNIT_CASE(test_loopback_peer), UNIT_CASE(test_bearer), UNIT_CASE(test_label_escaping),
	  UNIT_CASE(test_label_format_exact),
	  UNIT_CASE(test_metrics_text), UNIT_CASE(test_metrics_cap), UNIT_CASE(test_metrics_alternate),
	  UNIT_CASE(test_metrics_text_reuse), UNIT_CASE(test_metrics_call_memo_exact))
