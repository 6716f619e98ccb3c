// SPDX-License-Identifier: MIT
/*
 * mockprov replies: whole (non-streaming) responses with the provider's headers, gzip when the
 * client accepts it, and the providers' error bodies for validation failures and fault modes.
 */
#include <string.h>

#include "mock.h"

const char *status_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 529:
		return "Overloaded";
	default:
		return "Unknown";
	}
}

/* Headers every response of the call's provider carries, plus its content type. */
void reply_headers(struct call *c, const char *content_type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);

	evhttp_add_header(h, "Content-Type", content_type);
	if (g_cfg.deterministic)
		evhttp_add_header(h, "Date", "Tue, 14 Nov 2023 22:13:20 GMT");
	if (c->prov == PROV_ANTHROPIC)
		anthropic_headers(c, h);
	else if (c->prov == PROV_GEMINI)
		gemini_headers(c, h);
	else if (c->prov != PROV_BEDROCK)
		openai_headers(c, h);
}

static void finish(struct call *c, int status)
{
	stats_reply(c->prov, status);
	reqlog_status(c->log_seq, status);
}

void reply_send(struct call *c, int status, const char *reason, struct evbuffer *body,
		const char *content_type)
{
	struct evbuffer *gz = NULL;

	reply_headers(c, content_type);
	if (c->gzip && evbuffer_get_length(body)) {
		gz = evbuffer_new();
		if (gz && !gzip_buffer(body, gz)) {
			evhttp_add_header(evhttp_request_get_output_headers(c->req),
					  "Content-Encoding", "gzip");
			evhttp_add_header(evhttp_request_get_output_headers(c->req), "Vary",
					  "Accept-Encoding");
			body = gz;
		}
	}
	evhttp_send_reply(c->req, status, reason ? reason : status_reason(status), body);
	finish(c, status);
	if (gz)
		evbuffer_free(gz);
}

void fault_message(const struct call *c, struct evbuffer *b, const char *msg)
{
	if (!c->fault.message[0] || (c->fault.mode != FAULT_DOWN &&
				     c->fault.mode != FAULT_RATELIMIT &&
				     c->fault.mode != FAULT_OVERLOADED)) {
		json_str(b, msg);
		return;
	}
	evbuffer_add_printf(b, "\"%s\"", c->fault.message);
}

void reply_error(struct call *c, int status, const char *type, const char *msg, const char *param,
		 const char *code)
{
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		evhttp_send_error(c->req, 500, NULL);
		finish(c, 500);
		return;
	}
	if (c->prov == PROV_ANTHROPIC)
		anthropic_error_body(c, b, type, msg);
	else if (c->prov == PROV_GEMINI)
		gemini_error_body(b, status, msg);
	else
		openai_error_body(c, b, type, msg, param, code);
	reply_send(c, status, NULL, b, "application/json");
	evbuffer_free(b);
}

static void fault_headers(struct call *c, int retry)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);

	if (retry)
		evhttp_add_header(h, "retry-after", "1");
	evhttp_add_header(h, "x-should-retry", "true");
}

static void fault_ratelimit(struct call *c)
{
	fault_headers(c, 1);
	if (c->prov == PROV_ANTHROPIC)
		reply_error(c, 429, "rate_limit_error",
			    "Number of requests has exceeded your per-minute rate limit "
			    "(https://docs.anthropic.com/en/api/rate-limits); see the response "
			    "headers for current usage. Please try again later.",
			    NULL, NULL);
	else
		reply_error(c, 429, "requests",
			    "Rate limit reached for requests per min (RPM): Limit 10000, Used "
			    "10000, Requested 1. Please try again in 1s.",
			    NULL, "rate_limit_exceeded");
}

static void fault_unavailable(struct call *c, int overloaded)
{
	fault_headers(c, 0);
	if (c->prov == PROV_ANTHROPIC && overloaded)
		reply_error(c, 529, "overloaded_error", "Overloaded", NULL, NULL);
	else if (c->prov == PROV_ANTHROPIC)
		reply_error(c, 503, "api_error", "Service Unavailable", NULL, NULL);
	else if (overloaded)
		reply_error(c, 503, "server_error",
			    "That model is currently overloaded with other requests. You can retry "
			    "your request, or contact us through our help center at "
			    "help.openai.com if the error persists.",
			    NULL, NULL);
	else
		reply_error(c, 503, "server_error", "The server is overloaded or not ready yet.",
			    NULL, NULL);
}

/* The error replies of the fault modes down, ratelimit and overloaded. */
void reply_fault(struct call *c)
{
	switch (c->fault.mode) {
	case FAULT_RATELIMIT:
		fault_ratelimit(c);
		break;
	case FAULT_OVERLOADED:
		fault_unavailable(c, 1);
		break;
	default:
		fault_unavailable(c, 0);
	}
}

/* Fault "garbage": 200 with the expected content type and a body no parser accepts. */
void reply_garbage(struct call *c)
{
	static const char body[] =
	    "{\"id\":\"mock-garbage\",\"object\":\"chat.completion\",\"choices\""
	    ":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
	    "\"truncated <html>\x7f}}]\n";
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		evhttp_send_error(c->req, 500, NULL);
		finish(c, 500);
		return;
	}
	evbuffer_add(b, body, sizeof(body) - 1);
	reply_headers(c, c->stream ? "text/event-stream; charset=utf-8" : "application/json");
	evhttp_send_reply(c->req, 200, "OK", b);
	finish(c, 200);
	evbuffer_free(b);
}
