// SPDX-License-Identifier: MIT
/*
 * mockprov control API, plain HTTP on the --control listener:
 *
 *   POST /control/fault?mode=MODE[&provider=openai|anthropic|gemini][&count=N][&delay_ms=MS]
 *        MODE: none down ratelimit overloaded slow reset garbage hang, and for Gemini blocked
 *        (the prompt blocked by the safety filters) and filtered (the answer), which need
 *        provider=gemini. Without provider the fault covers both; without count it lasts
 *        until reset; delay_ms (slow) defaults to 2000. &message_json=TEXT (down, ratelimit,
 *        overloaded): the OpenAI or Anthropic error body's message is the JSON string TEXT
 *        (its text between the quotes, escapes and all: "quota\u0000exceeded"), as it is.
 *   GET  /control/fault     the fault rules in force, newest first
 *   POST /control/reset     no faults, empty request log, zeroed statistics
 *   GET  /control/requests[?since=SEQ]   the request log as JSON lines, oldest first, each with
 *                                        the request body ("body", "body_truncated")
 *   DELETE /control/requests             empties the request log (and statistics)
 *   GET  /control/stats     counters as JSON
 *   GET  /control/health    {"ok":true}
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/keyvalq_struct.h>

#include "mock.h"

#define SLOW_DEFAULT_MS 2000

static void send_json(struct evhttp_request *req, int status, cJSON *o)
{
	struct evbuffer *b = evbuffer_new();
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;

	if (!b || !s) {
		evhttp_send_error(req, 500, NULL);
		goto out;
	}
	evbuffer_add_printf(b, "%s\n", s);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/json");
	evhttp_send_reply(req, status, status_reason(status), b);
out:
	if (b)
		evbuffer_free(b);
	cJSON_free(s);
	cJSON_Delete(o);
}

static void send_msg(struct evhttp_request *req, int status, const char *key, const char *msg)
{
	cJSON *o = cJSON_CreateObject();

	if (status == 200)
		cJSON_AddBoolToObject(o, "ok", 1);
	if (key)
		cJSON_AddStringToObject(o, key, msg);
	send_json(req, status, o);
}

static long query_long(struct evkeyvalq *q, const char *name, long def)
{
	const char *v = evhttp_find_header(q, name);
	char *end;
	long n;

	if (!v)
		return def;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end)
		return -2;
	return n;
}

static int parse_mask(const char *prov, unsigned int *mask)
{
	if (!prov || !strcmp(prov, "all") || !strcmp(prov, "both"))
		*mask = 1u << PROV_OPENAI | 1u << PROV_ANTHROPIC | 1u << PROV_GEMINI;
	else if (!strcmp(prov, "openai"))
		*mask = 1u << PROV_OPENAI;
	else if (!strcmp(prov, "anthropic"))
		*mask = 1u << PROV_ANTHROPIC;
	else if (!strcmp(prov, "gemini"))
		*mask = 1u << PROV_GEMINI;
	else
		return -EINVAL;
	return 0;
}

/* Whether TEXT is the text of a JSON string between its quotes, of fewer than
 * FAULT_MESSAGE_MAX bytes. */
static int json_string_text(const char *text)
{
	char buf[FAULT_MESSAGE_MAX + 2];
	const char *end = NULL;
	size_t n = strlen(text);
	cJSON *v;
	int ok;

	if (n >= FAULT_MESSAGE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)text[i] < 0x20)
			return 0;
	snprintf(buf, sizeof(buf), "\"%s\"", text);
	v = cJSON_ParseWithLengthOpts(buf, n + 2, &end, 0);
	ok = cJSON_IsString(v) && end == buf + n + 2; /* one string, no quote inside left bare */
	cJSON_Delete(v);
	return ok;
}

/* Validates the fault query; returns NULL or what is wrong with it. */
static const char *fault_args(struct evkeyvalq *q, int *mode, unsigned int *mask, long *count,
			      long *delay)
{
	const char *name = evhttp_find_header(q, "mode");
	const char *message = evhttp_find_header(q, "message_json");

	*mode = name ? fault_parse(name) : -EINVAL;
	*count = query_long(q, "count", -1);
	*delay = query_long(q, "delay_ms", SLOW_DEFAULT_MS);
	if (*mode < 0)
		return "mode: none|down|ratelimit|overloaded|slow|reset|garbage|hang|blocked|filtered|"
		       "stream_tokens|stream_requests|stream_overloaded";
	if (parse_mask(evhttp_find_header(q, "provider"), mask))
		return "provider: openai|anthropic|gemini";
	/* only Gemini's answers have them: elsewhere the rule would be spent doing nothing */
	if ((*mode == FAULT_BLOCKED || *mode == FAULT_FILTERED) && *mask != 1u << PROV_GEMINI)
		return "provider: blocked and filtered are Gemini's faults (provider=gemini)";
	if ((*mode == FAULT_STREAM_TOKENS || *mode == FAULT_STREAM_REQUESTS) &&
	    *mask != 1u << PROV_OPENAI)
		return "provider: stream_tokens and stream_requests are OpenAI's faults "
		       "(provider=openai)";
	if (*mode == FAULT_STREAM_OVERLOADED && *mask != 1u << PROV_ANTHROPIC)
		return "provider: stream_overloaded is Anthropic's fault (provider=anthropic)";
	if (*count == 0 || *count < -1)
		return "count: a positive integer";
	if (*delay < 0 || *delay > 3600000)
		return "delay_ms: 0..3600000";
	if (message && *mode != FAULT_DOWN && *mode != FAULT_RATELIMIT && *mode != FAULT_OVERLOADED)
		return "message_json: only with down, ratelimit or overloaded";
	if (message && !json_string_text(message))
		return "message_json: the text of a JSON string between its quotes, under 256 bytes";
	return NULL;
}

static void do_fault(struct evhttp_request *req, struct evkeyvalq *q)
{
	unsigned int mask = 0;
	long count, delay;
	const char *err, *message;
	cJSON *o;
	int mode;

	err = fault_args(q, &mode, &mask, &count, &delay);
	message = evhttp_find_header(q, "message_json");
	if (!err && fault_set(mode, mask, count, (int)delay, message ? message : ""))
		err = "invalid fault";
	if (err) {
		send_msg(req, 400, "error", err);
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ok", 1);
	cJSON_AddItemToObject(o, "faults", fault_dump());
	send_json(req, 200, o);
}

static void do_requests(struct evhttp_request *req, struct evkeyvalq *q)
{
	long since = query_long(q, "since", 0);
	struct evbuffer *b;

	if (since < 0) {
		send_msg(req, 400, "error", "since: a sequence number");
		return;
	}
	b = evbuffer_new();
	if (!b) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	reqlog_dump(b, (unsigned long long)since);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/x-ndjson");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void do_get_fault(struct evhttp_request *req)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddItemToObject(o, "faults", fault_dump());
	send_json(req, 200, o);
}

static void do_reset(struct evhttp_request *req, int faults)
{
	if (faults)
		fault_clear();
	reqlog_clear();
	send_msg(req, 200, NULL, NULL);
}

static void route(struct evhttp_request *req, const char *path, struct evkeyvalq *q)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	int get = cmd == EVHTTP_REQ_GET, post = cmd == EVHTTP_REQ_POST;

	if (!strcmp(path, "/control/fault") && post)
		do_fault(req, q);
	else if (!strcmp(path, "/control/fault") && get)
		do_get_fault(req);
	else if (!strcmp(path, "/control/reset") && post)
		do_reset(req, 1);
	else if (!strcmp(path, "/control/requests") && get)
		do_requests(req, q);
	else if (!strcmp(path, "/control/requests") && cmd == EVHTTP_REQ_DELETE)
		do_reset(req, 0);
	else if (!strcmp(path, "/control/stats") && get)
		send_json(req, 200, stats_dump());
	else if (!strcmp(path, "/control/health") && get)
		send_msg(req, 200, NULL, NULL);
	else
		send_msg(req, 404, "error", "unknown control request");
}

void control_request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq q;

	if (!path) {
		evhttp_send_error(req, 400, NULL);
		return;
	}
	TAILQ_INIT(&q);
	if (query && evhttp_parse_query_str(query, &q)) {
		send_msg(req, 400, "error", "bad query string");
		return;
	}
	route(req, path, &q);
	evhttp_clear_headers(&q);
}
