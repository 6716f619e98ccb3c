// SPDX-License-Identifier: MIT
/*
 * mockprov dispatch: the data-plane request callback.
 *
 * Every request becomes a struct call: routed by path to a provider endpoint, its JSON body
 * parsed once, its ids made (from the body's hash with --deterministic, else random), logged,
 * and given the fault that applies to it. Then it is either answered at once or becomes pending
 * on its worker: waiting on its timer to answer late (slow), to send its next stream event, to
 * reset its connection, or forever (hang). A pending call whose client went away is noticed
 * when its timer fires (libevent detaches the request from a connection that failed; a hung
 * call polls its socket) and freed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mock.h"

static const struct route routes[] = {
    {"/v1/chat/completions", PROV_OPENAI, openai_chat, EVHTTP_REQ_POST, 0},
    {"/v1/embeddings", PROV_OPENAI, openai_embeddings, EVHTTP_REQ_POST, 0},
    {"/v1/responses", PROV_OPENAI, openai_responses, EVHTTP_REQ_POST, 0},
    {"/v1/messages", PROV_ANTHROPIC, anthropic_messages, EVHTTP_REQ_POST, 0},
    {"/v1/files", PROV_OPENAI, openai_files, EVHTTP_REQ_GET, 0},
};

/* Every Gemini call (gemini_route() reads the model and the method from the path). */
static const struct route gemini = {"/v1beta/models/", PROV_GEMINI, gemini_call,
				    EVHTTP_REQ_POST, 0};
/* Bedrock's runtime: every /model/{modelId}/{operation} (bedrock.c reads the operation). */
static const struct route bedrock_route = {"/model/", PROV_BEDROCK, bedrock_call,
					   EVHTTP_REQ_POST, 0};

const char *hdr(struct call *c, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(c->req), name);
}

int hdr_int(struct call *c, const char *name, int def, int min, int max)
{
	const char *v = hdr(c, name);
	char *end;
	long n;

	if (!v)
		return def;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v)
		return def;
	return n < min ? min : n > max ? max : n;
}

void call_free(struct call *c)
{
	if (c->in_list)
		TAILQ_REMOVE(&c->w->pending, c, link);
	if (c->timer)
		event_free(c->timer);
	if (c->started)
		stats_stream(-1);
	call_free_stream(c);
	free(c->text);
	free(c->cuts);
	cJSON_Delete(c->body);
	free(c);
}

static int call_process(struct call *c);

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct call *c = arg;
	int ret = CALL_DONE;

	if (!evhttp_request_get_connection(c->req)) {
		/* the client is gone: libevent left the request to us */
		evhttp_request_free(c->req);
		call_free(c);
		return;
	}
	switch (c->wait) {
	case WAIT_SLOW:
		ret = call_process(c);
		break;
	case WAIT_STREAM:
		ret = stream_pump(c);
		break;
	case WAIT_RESET:
		ret = stream_reset(c);
		break;
	case WAIT_HANG:
		ret = hang_poll(c);
		break;
	default:
		break;
	}
	if (ret == CALL_DONE)
		call_free(c);
}

/* Makes c pending on its worker until its timer fires in ms. Returns CALL_PENDING. */
int call_wait(struct call *c, enum call_wait what, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (!c->timer)
		c->timer = evtimer_new(c->w->base, timer_cb, c);
	if (!c->in_list) {
		TAILQ_INSERT_TAIL(&c->w->pending, c, link);
		c->in_list = 1;
	}
	c->wait = what;
	/* without a timer the call stays pending until shutdown */
	if (c->timer)
		evtimer_add(c->timer, &tv);
	return CALL_PENDING;
}

/* Frees the pending calls of a stopped worker; evhttp_free() frees their requests. */
void worker_drop_pending(struct worker *w)
{
	struct call *c;

	while ((c = TAILQ_FIRST(&w->pending)) != NULL) {
		if (c->req && !evhttp_request_get_connection(c->req))
			evhttp_request_free(c->req);
		call_free(c);
	}
}

/* The API root configured for the request's Host (its port aside), or NULL: "/v1". */
static const char *api_root_of(struct call *c)
{
	const char *host = hdr(c, "host");
	size_t n = host ? strcspn(host, ":") : 0;

	for (int i = 0; host && i < g_cfg.nroots; i++)
		if (strlen(g_cfg.roots[i].host) == n && !strncasecmp(host, g_cfg.roots[i].host, n))
			return g_cfg.roots[i].path;
	return NULL;
}

/* PATH as the routes name it: a host's API root made "/v1"; a path outside it is none of
 * that host's (NULL). */
static const char *route_path(struct call *c, const char *path, char *buf, size_t size)
{
	const char *root = api_root_of(c);
	size_t n = root ? strlen(root) : 0;

	if (!root || !path)
		return path;
	if (strncmp(path, root, n) || path[n] != '/')
		return NULL;
	snprintf(buf, size, "/v1%s", path + n);
	return buf;
}

static void call_route(struct call *c)
{
	char buf[256];
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(c->req));
	size_t i;

	if (path && !strncmp(path, "/model/", 7)) {
		c->route = &bedrock_route;
		c->prov = PROV_BEDROCK;
		return;
	}
	if (path && gemini_route(c, path)) {
		c->route = &gemini;
		return;
	}
	if (vertex_route(c, path))
		return;
	path = c->azure ? azure_route_path(c, path, buf, sizeof(buf))
			: route_path(c, path, buf, sizeof(buf));

	for (i = 0; path && i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!strcmp(path, routes[i].path)) {
			c->route = &routes[i];
			c->prov = routes[i].prov;
			return;
		}
	}
	c->prov = hdr(c, "anthropic-version") || hdr(c, "x-api-key") ? PROV_ANTHROPIC : PROV_OPENAI;
}

static void call_parse(struct call *c)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
	size_t len = evbuffer_get_length(in);
	const char *data = (const char *)evbuffer_pullup(in, -1);
	const char *uri = evhttp_request_get_uri(c->req);
	const cJSON *opts;

	/* the seed of the ids with --deterministic */
	c->rng = fnv1a(fnv1a(0, uri, strlen(uri)), data ? data : "", data ? len : 0);
	if (!len)
		return;
	c->body = cJSON_ParseWithLength(data, len);
	if (!cJSON_IsObject(c->body))
		return;
	c->model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c->body, "model"));
	c->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->body, "stream"));
	opts = cJSON_GetObjectItemCaseSensitive(c->body, "stream_options");
	c->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(opts, "include_usage"));
}

static void call_ids(struct call *c)
{
	if (!g_cfg.deterministic)
		c->rng = rng_next(&c->w->rng);
	if (c->prov == PROV_ANTHROPIC)
		gen_id(c->request_id, sizeof(c->request_id), "req_011C", 20, &c->rng);
	else
		gen_hex(c->request_id, sizeof(c->request_id), "req_", 32, &c->rng);
	c->created = g_cfg.deterministic ? MOCK_DET_CREATED : (long long)time(NULL);
}

static int call_bad_route(struct call *c)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(c->req));
	const char *method = method_name(evhttp_request_get_command(c->req));
	char msg[256];

	if (c->route) {
		snprintf(msg, sizeof(msg), "Invalid method for URL (%s %s)", method, path);
		reply_error(c, 405, "invalid_request_error", msg, NULL, NULL);
	} else if (c->prov == PROV_ANTHROPIC) {
		reply_error(c, 404, "not_found_error", "Not Found", NULL, NULL);
	} else {
		snprintf(msg, sizeof(msg), "Invalid URL (%s %s)", method, path ? path : "/");
		reply_error(c, 404, "invalid_request_error", msg, NULL, NULL);
	}
	return CALL_DONE;
}

/* Validates and answers c as the provider would, fault aside. */
static int call_process(struct call *c)
{
	enum evhttp_cmd_type method;
	int bad;

	if (!c->route)
		return call_bad_route(c);
	method = c->route->method;
	if (evhttp_request_get_command(c->req) != method)
		return call_bad_route(c);
	if (method == EVHTTP_REQ_GET || c->route->own_checks) /* no body to check */
		return c->route->handle(c);
	if (c->prov == PROV_BEDROCK) /* its SigV4 is checked there */
		return c->route->handle(c);
	bad = c->prov == PROV_ANTHROPIC ? anthropic_check(c)
	      : c->prov == PROV_GEMINI	  ? 0 /* gemini_call() checks */
	      : c->azure		  ? azure_check(c)
					  : openai_check(c);
	if (bad)
		return CALL_DONE;
	return c->route->handle(c);
}

static int call_start(struct call *c)
{
	switch (c->fault.mode) {
	case FAULT_DOWN:
	case FAULT_RATELIMIT:
	case FAULT_OVERLOADED:
		reply_fault(c);
		return CALL_DONE;
	case FAULT_GARBAGE:
		reply_garbage(c);
		return CALL_DONE;
	case FAULT_HANG:
		return call_wait(c, WAIT_HANG, HANG_POLL_MS);
	case FAULT_SLOW:
		return call_wait(c, WAIT_SLOW, c->fault.delay_ms);
	case FAULT_RESET:
		if (!c->stream)
			return call_wait(c, WAIT_RESET, 0);
		return call_process(c);
	default:
		return call_process(c);
	}
}

/*
 * libevent calls back a request a second time, without its URI, when its connection fails in a
 * way that asks for an error reply. Forget the call that owns it, then answer.
 */
static void orphan_cb(struct worker *w, struct evhttp_request *req)
{
	struct call *c;

	for (c = TAILQ_FIRST(&w->pending); c; c = TAILQ_NEXT(c, link)) {
		if (c->req == req) {
			call_free(c);
			break;
		}
	}
	evhttp_send_error(req, 400, NULL);
}

void dispatch_request_cb(struct evhttp_request *req, void *arg)
{
	struct lctx *lc = arg;
	struct call *c;

	if (!evhttp_request_get_uri(req)) {
		orphan_cb(lc->w, req);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	c->w = lc->w;
	c->req = req;
	c->tls = lc->tls;
	c->reset_after = -1;
	c->azure = azure_host(hdr(c, "host"));
	call_route(c);
	call_parse(c);
	if (c->prov == PROV_GEMINI) { /* the path names the model and the stream */
		c->model = c->path_model;
		c->stream = c->gemini_method == 1;
	}
	call_ids(c);
	c->gzip = accepts_gzip(hdr(c, "accept-encoding"));
	c->chunk_delay_ms = hdr_int(c, "x-mock-chunk-delay-ms", g_cfg.chunk_delay_ms, 0, 600000);
	if (c->route)
		fault_take(c->prov, &c->fault);
	c->log_seq = reqlog_add(c);
	if (call_start(c) == CALL_DONE)
		call_free(c);
}
