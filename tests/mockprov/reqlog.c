// SPDX-License-Identifier: MIT
/*
 * mockprov request log and statistics.
 *
 * The log is a ring of the last MOCK_LOG_SIZE data-plane requests with what later tests check:
 * method, path, provider, the credentials that reached the provider (authorization, x-api-key),
 * the names of all headers received,
 * anthropic-version, host, model, max_tokens, stream, the status answered, the fault applied and
 * the body as received (its first MOCK_LOG_BODY_MAX bytes, on a UTF-8 character boundary). Entries
 * are numbered from 1; GET /control/requests renders them as JSON lines. Counters for
 * GET /control/stats live here too. Both are shared by all workers, behind one mutex.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/keyvalq_struct.h>

#include "mock.h"

struct log_entry {
	unsigned long long seq;
	double ts;
	int status;
	int stream;
	int tls;
	enum provider prov;
	enum fault_mode fault;
	char method[8];
	char path[128];
	char authorization[256];
	char x_api_key[256];
	char api_key[256];    /* Azure's "api-key" header */
	char deployment[72];  /* Azure: the deployment named (path, or v1's "model") */
	char x_goog_api_key[256];
	char query[512]; /* the query string as received, "" when none */
	char header_names[512]; /* every header's name as received, lower case, ", "-joined */
	char anthropic_version[32];
	char host[96];
	char model[128];
	char request_id[48];
	long long max_tokens;
	unsigned char has_auth, has_key, has_version, has_host, has_model, has_max, has_goog;
	unsigned char has_api_key, has_deployment;
	unsigned char body_truncated; /* the request had more than body_len bytes */
	char *body;		      /* owned by the entry; NULL when empty (or out of memory) */
	size_t body_len;
};

struct stats {
	unsigned long long total;
	unsigned long long by_prov[5];
	unsigned long long by_status[600];
	unsigned long long streams;
	long long active_streams;
	unsigned long long faults[FAULT__COUNT];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_entry ring[MOCK_LOG_SIZE];
static unsigned long long next_seq = 1;
static struct stats st;

const char *prov_name(enum provider prov)
{
	switch (prov) {
	case PROV_OPENAI:
		return "openai";
	case PROV_ANTHROPIC:
		return "anthropic";
	case PROV_GEMINI:
		return "gemini";
	case PROV_BEDROCK:
		return "bedrock";
	default:
		return "other";
	}
}

static unsigned char copy(char *dst, size_t cap, const char *src)
{
	if (!src) {
		dst[0] = '\0';
		return 0;
	}
	snprintf(dst, cap, "%s", src);
	return 1;
}

/* Every value of header NAME, joined by ", " as HTTP folds them, into DST (CAP bytes): a
 * credential sent twice shows as two. 0 when there is none. */
/* The names of all headers of C, lower case, ", "-joined (cut at CAP). */
static void copy_names(char *dst, size_t cap, struct call *c)
{
	const struct evkeyval *h;
	size_t n = 0;

	dst[0] = '\0';
	TAILQ_FOREACH(h, evhttp_request_get_input_headers(c->req), next) {
		for (const char *k = h->key; *k && n + 3 < cap; k++)
			dst[n++] = (char)tolower((unsigned char)*k);
		if (TAILQ_NEXT(h, next) && n + 3 < cap) {
			dst[n++] = ',';
			dst[n++] = ' ';
		}
		dst[n] = '\0';
	}
}

static unsigned char copy_all(char *dst, size_t cap, struct call *c, const char *name)
{
	const struct evkeyval *h;
	size_t n = 0;

	dst[0] = '\0';
	TAILQ_FOREACH(h, evhttp_request_get_input_headers(c->req), next) {
		int w;

		if (strcasecmp(h->key, name))
			continue;
		w = snprintf(dst + n, cap - n, "%s%s", n ? ", " : "", h->value);
		if (w < 0 || (size_t)w >= cap - n) { /* cut: what fits is kept */
			n = cap - 1;
			break;
		}
		n += w;
	}
	return n > 0;
}

const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	default:
		return "OTHER";
	}
}

/* The output cap the request asked for, by whichever name its API gives it. */
static void fill_max_tokens(struct log_entry *e, const cJSON *body)
{
	static const char *const names[] = {"max_tokens", "max_completion_tokens",
					    "max_output_tokens"};

	e->has_max = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, names[i]);

		if (cJSON_IsNumber(v)) {
			e->max_tokens = (long long)v->valuedouble;
			e->has_max = 1;
			return;
		}
	}
}

/*
 * Copies the request body, cut to MOCK_LOG_BODY_MAX bytes. A cut never splits a UTF-8
 * character: it backs off over continuation bytes to the start of the character it would split.
 */
static void fill_body(struct log_entry *e, struct call *c)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
	size_t len = evbuffer_get_length(in), n = len;
	const unsigned char *data = evbuffer_pullup(in, -1);

	e->body = NULL;
	e->body_len = 0;
	e->body_truncated = len > MOCK_LOG_BODY_MAX;
	if (!len || !data)
		return;
	if (e->body_truncated) {
		n = MOCK_LOG_BODY_MAX;
		while (n > MOCK_LOG_BODY_MAX - 3 && (data[n] & 0xc0) == 0x80)
			n--;
	}
	e->body = malloc(n);
	if (!e->body)
		return;
	memcpy(e->body, data, n);
	e->body_len = n;
}

static void fill(struct log_entry *e, struct call *c)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(c->req));
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(c->req));
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	e->ts = ts.tv_sec + ts.tv_nsec / 1e9;
	e->status = 0;
	e->stream = c->stream;
	e->tls = c->tls;
	e->prov = c->prov;
	e->fault = c->fault.mode;
	copy(e->method, sizeof(e->method), method_name(evhttp_request_get_command(c->req)));
	copy(e->path, sizeof(e->path), path ? path : "");
	e->has_auth = copy_all(e->authorization, sizeof(e->authorization), c, "authorization");
	e->has_key = copy(e->x_api_key, sizeof(e->x_api_key), hdr(c, "x-api-key"));
	e->has_api_key = copy_all(e->api_key, sizeof(e->api_key), c, "api-key");
	e->has_deployment = c->azure && copy(e->deployment, sizeof(e->deployment),
					     c->deployment[0] ? c->deployment : c->model);
	e->has_goog = copy(e->x_goog_api_key, sizeof(e->x_goog_api_key), hdr(c, "x-goog-api-key"));
	copy(e->query, sizeof(e->query), query ? query : "");
	copy_names(e->header_names, sizeof(e->header_names), c);
	e->has_version =
	    copy(e->anthropic_version, sizeof(e->anthropic_version), hdr(c, "anthropic-version"));
	e->has_host = copy(e->host, sizeof(e->host), hdr(c, "host"));
	e->has_model = copy(e->model, sizeof(e->model), c->model);
	fill_max_tokens(e, c->body);
	copy(e->request_id, sizeof(e->request_id), c->request_id);
	fill_body(e, c);
}

unsigned long long reqlog_add(struct call *c)
{
	struct log_entry e;
	unsigned long long seq;
	char *old;

	fill(&e, c);
	pthread_mutex_lock(&lock);
	seq = next_seq++;
	e.seq = seq;
	old = ring[seq % MOCK_LOG_SIZE].body; /* the entry this one replaces */
	ring[seq % MOCK_LOG_SIZE] = e;
	st.total++;
	st.by_prov[c->prov]++;
	pthread_mutex_unlock(&lock);
	free(old);
	return seq;
}

void reqlog_status(unsigned long long seq, int status)
{
	struct log_entry *e = &ring[seq % MOCK_LOG_SIZE];

	pthread_mutex_lock(&lock);
	if (e->seq == seq)
		e->status = status;
	pthread_mutex_unlock(&lock);
}

void reqlog_clear(void)
{
	long long active;

	pthread_mutex_lock(&lock);
	active = st.active_streams; /* streams still running stay counted */
	for (size_t i = 0; i < MOCK_LOG_SIZE; i++)
		free(ring[i].body);
	memset(ring, 0, sizeof(ring));
	memset(&st, 0, sizeof(st));
	st.active_streams = active;
	pthread_mutex_unlock(&lock);
}

static void add_str(cJSON *o, const char *name, unsigned char has, const char *val)
{
	if (has)
		cJSON_AddStringToObject(o, name, val);
	else
		cJSON_AddNullToObject(o, name);
}

/* The body as a JSON string: cJSON strings end at a NUL, a body may hold one (as \u0000). */
static int add_body(cJSON *o, const struct log_entry *e)
{
	struct evbuffer *b = evbuffer_new();
	int err = -1;

	if (!b)
		return -1;
	evbuffer_add(b, "\"", 1);
	json_chars(b, e->body ? e->body : "", e->body_len);
	evbuffer_add(b, "\"", 2); /* and the NUL that ends the raw value */
	if (evbuffer_pullup(b, -1) &&
	    cJSON_AddRawToObject(o, "body", (const char *)evbuffer_pullup(b, -1)))
		err = 0;
	evbuffer_free(b);
	cJSON_AddBoolToObject(o, "body_truncated", e->body_truncated);
	return err;
}

static int entry_json(struct evbuffer *out, const struct log_entry *e)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	if (!o)
		return -1;
	cJSON_AddNumberToObject(o, "seq", (double)e->seq);
	cJSON_AddNumberToObject(o, "ts", e->ts);
	cJSON_AddStringToObject(o, "method", e->method);
	cJSON_AddStringToObject(o, "path", e->path);
	cJSON_AddStringToObject(o, "provider", prov_name(e->prov));
	add_str(o, "authorization", e->has_auth, e->authorization);
	add_str(o, "x_api_key", e->has_key, e->x_api_key);
	add_str(o, "api_key", e->has_api_key, e->api_key);
	add_str(o, "deployment", e->has_deployment, e->deployment);
	add_str(o, "x_goog_api_key", e->has_goog, e->x_goog_api_key);
	cJSON_AddStringToObject(o, "query", e->query);
	cJSON_AddStringToObject(o, "header_names", e->header_names);
	add_str(o, "anthropic_version", e->has_version, e->anthropic_version);
	add_str(o, "host", e->has_host, e->host);
	add_str(o, "model", e->has_model, e->model);
	if (e->has_max)
		cJSON_AddNumberToObject(o, "max_tokens", (double)e->max_tokens);
	else
		cJSON_AddNullToObject(o, "max_tokens");
	cJSON_AddBoolToObject(o, "stream", e->stream);
	cJSON_AddBoolToObject(o, "tls", e->tls);
	cJSON_AddNumberToObject(o, "status", e->status);
	cJSON_AddStringToObject(o, "fault", fault_name(e->fault));
	cJSON_AddStringToObject(o, "request_id", e->request_id);
	if (add_body(o, e)) {
		cJSON_Delete(o);
		return -1;
	}
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s)
		return -1;
	evbuffer_add_printf(out, "%s\n", s);
	cJSON_free(s);
	return 0;
}

/* Appends the entries after seq "since", oldest first, as JSON lines. Returns how many. */
int reqlog_dump(struct evbuffer *out, unsigned long long since)
{
	unsigned long long seq, first;
	int n = 0;

	pthread_mutex_lock(&lock);
	first = next_seq > MOCK_LOG_SIZE ? next_seq - MOCK_LOG_SIZE : 1;
	if (since + 1 > first)
		first = since + 1;
	for (seq = first; seq < next_seq; seq++) {
		const struct log_entry *e = &ring[seq % MOCK_LOG_SIZE];

		if (e->seq == seq && !entry_json(out, e))
			n++;
	}
	pthread_mutex_unlock(&lock);
	return n;
}

void stats_reply(enum provider prov, int status)
{
	pthread_mutex_lock(&lock);
	if (status >= 0 && status < 600)
		st.by_status[status]++;
	pthread_mutex_unlock(&lock);
}

void stats_stream(int delta)
{
	pthread_mutex_lock(&lock);
	if (delta > 0)
		st.streams++;
	st.active_streams += delta;
	pthread_mutex_unlock(&lock);
}

void stats_fault(enum fault_mode mode)
{
	pthread_mutex_lock(&lock);
	st.faults[mode]++;
	pthread_mutex_unlock(&lock);
}

cJSON *stats_dump(void)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *prov = cJSON_AddObjectToObject(o, "by_provider");
	cJSON *status = cJSON_AddObjectToObject(o, "by_status");
	cJSON *faults = cJSON_AddObjectToObject(o, "faults");
	char code[16];
	int i;

	if (!o || !prov || !status || !faults) {
		cJSON_Delete(o);
		return NULL;
	}
	pthread_mutex_lock(&lock);
	cJSON_AddNumberToObject(o, "requests", (double)st.total);
	cJSON_AddNumberToObject(o, "streams", (double)st.streams);
	cJSON_AddNumberToObject(o, "active_streams", (double)st.active_streams);
	for (i = 0; i < 5; i++)
		cJSON_AddNumberToObject(prov, prov_name(i), (double)st.by_prov[i]);
	for (i = 0; i < 600; i++) {
		if (!st.by_status[i])
			continue;
		snprintf(code, sizeof(code), "%d", i);
		cJSON_AddNumberToObject(status, code, (double)st.by_status[i]);
	}
	for (i = 1; i < FAULT__COUNT; i++)
		cJSON_AddNumberToObject(faults, fault_name(i), (double)st.faults[i]);
	pthread_mutex_unlock(&lock);
	return o;
}
