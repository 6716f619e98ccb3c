/*
 * response.c: the provider's answer on its way to the app. A second http-parser reads it
 * (a simple answer whole in its first read: resp_head.c, with the same callbacks); its
 * callbacks write to the client as the answer arrives.
 *
 * On the answer's head its mode is picked once (enum response_mode, http1_int.h), and the
 * body (on_resp_body), its end (response_complete) and a broken stream
 * (stream_end_with_error) each go the mode's way, one function per mode:
 *   RESPONSE_PASS            as it comes (pass_body)
 *   RESPONSE_JSON            held whole, checked, read for usage, sent with its length
 *   RESPONSE_JSON_TRANSLATED the other API's answer or error held whole and rewritten
 *   RESPONSE_SSE             read event by event for usage, passed on a whole event at a
 *                            time, so the usage chunk the app did not ask for can be left
 *                            out and a broken stream can end with an error event
 *   RESPONSE_SSE_TRANSLATED  the other API's stream rewritten event by event
 *   RESPONSE_DISCARD         a status the policy retries: a small body read and dropped
 *                            (the connection is kept), then the next attempt
 * Held answers that outgrow what can be held become RESPONSE_PASS (a JSON answer past
 * HTTP1_JSON_MAX, an event past the SSE parser's limit); translated ones are refused then.
 * A body that is not what its head declared (garbage) ends with a 502 before the app has a
 * head, and is cut after. Backpressure: reading from the provider stops while the client is
 * behind, or while what the answer holds (held, or queued for the client) puts its workload's
 * or the daemon's buffer_bytes past its limit (policy/stage_buffer.c); an answer that must be
 * held whole and passes it ends with buffer_limit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <http_parser.h>
#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "guard/guard.h"
#include "proxy/body.h"
#include "proxy/http1_int.h"
#include "proxy/resp_head.h"
#include "providers/bedrock.h"
#include "ledger/cost.h"
#include "util/decimal.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/strcopy.h"

/* ---- the response: provider -> client ---- */

static struct exchange *rp_exchange(http_parser *rp)
{
	return rp->data;
}

static int on_resp_status(http_parser *rp, const char *at, size_t len)
{
	return evbuffer_add(rp_exchange(rp)->reason, at, len);
}

static int on_resp_header_field(http_parser *rp, const char *at, size_t len)
{
	return headers_piece(&rp_exchange(rp)->resp, 0, at, len);
}

static int on_resp_header_value(http_parser *rp, const char *at, size_t len)
{
	return headers_piece(&rp_exchange(rp)->resp, 1, at, len);
}

static int body_allowed(const struct exchange *ex)
{
	return strcmp(ex->method, "HEAD") && ex->status != 204 && ex->status != 304;
}

/* The gateway's key answered: what names the gateway's account at the provider (its
 * organisation and project ids, a cookie it set) is not the app's to see. */
static void drop_account_headers(struct headers *h)
{
	static const char *const names[] = {"openai-organization", "openai-project",
					    "anthropic-organization-id", "set-cookie", NULL};

	for (const char *const *n = names; *n; n++)
		headers_drop(h, *n);
}

/* The response head as the client gets it: hop-by-hop fields gone, our framing. Built in
 * one piece and added to the client's output at once. */
static void write_response_head(struct exchange *ex, long long known_len)
{
	struct session *s = ex->s;
	struct evbuffer *out = bufferevent_get_output(s->client);
	size_t before = evbuffer_get_length(out);
	const char *reason = (const char *)evbuffer_pullup(ex->reason, -1);
	const char *id;
	struct head_buf head;

	head_begin(&head, out);
	if (ex->xlate || ex->bedrock_door) { /* the other provider's headers say nothing true */
		int sse = ex->resp_mode == RESPONSE_SSE_TRANSLATED ||
			  (ex->bedrock_door && ex->resp_mode == RESPONSE_EVENTSTREAM);
		const char *phrase = reason_phrase(ex->status);

		head_status_line(&head, ex->status, phrase, strlen(phrase));
		head_field(&head, "Content-Type", NULL,
			   sse ? "text/event-stream; charset=utf-8" : "application/json");
		if (sse)
			head_put(&head, "Cache-Control: no-cache\r\n", 25);
	} else {
		head_status_line(&head, ex->status, reason ? reason : "",
				 reason ? evbuffer_get_length(ex->reason) : 0);
		if (ex->credential && !strcmp(ex->credential, "gateway"))
			drop_account_headers(&ex->resp);
		head_fields(&head, &ex->resp);
	}
	if (!body_allowed(ex)) {
		const char *cl = headers_find(&ex->resp, HDR_CONTENT_LENGTH);

		if (cl && !strcmp(ex->method, "HEAD"))
			head_field(&head, "Content-Length", NULL, cl);
	} else if (known_len >= 0) {
		head_field_u64(&head, "Content-Length", (unsigned long long)known_len);
	} else if (!ex->resp_chunked && ex->resp_content_length != ULLONG_MAX &&
		   !response_is_stream(ex) && ex->resp_mode != RESPONSE_EVENTSTREAM) {
		/* a stream's length may change: the usage chunk left out, an error event added */
		head_field_u64(&head, "Content-Length", ex->resp_content_length);
	} else if (s->p.http_major == 1 && s->p.http_minor >= 1) {
		head_put(&head, "Transfer-Encoding: chunked\r\n", 28);
		ex->chunked_out = 1;
	} else {
		ex->client_keepalive = 0; /* an HTTP/1.0 client: the end of the body is the close */
	}
	if (!ex->client_keepalive)
		head_put(&head, "Connection: close\r\n", 19);
	head_put(&head, "x-aigw-request-id: ", 19);
	head_put(&head, ex->id, strlen(ex->id));
	head_put(&head, "\r\n\r\n", 4);
	head_flush(&head);
	ex->resp_wire_bytes += evbuffer_get_length(out) - before;
	ex->head_sent = 1;
	clock_gettime(CLOCK_MONOTONIC, &ex->t_first);
	id = headers_find(&ex->resp, HDR_X_REQUEST_ID);
	if (!id)
		id = headers_find(&ex->resp, HDR_REQUEST_ID);
	if (id)
		str_copy(ex->provider_request_id, sizeof(ex->provider_request_id), id);
}

/* Forgets what the failed attempt's answer left behind. */
void response_reset(struct exchange *ex)
{
	headers_reset(&ex->resp);
	evbuffer_drain(ex->reason, evbuffer_get_length(ex->reason));
	if (ex->resp_buf)
		evbuffer_free(ex->resp_buf);
	if (ex->held)
		evbuffer_free(ex->held);
	if (response_is_stream(ex))
		sse_free(&ex->sse);
	eventstream_free(ex);
	translate_stream_free(ex->ts);
	translate_buf_free(&ex->ts_out);
	ex->ts = NULL;
	ex->resp_buf = ex->held = NULL;
	ex->resp_mode = RESPONSE_PASS;
	ex->garbage = 0;
	ex->status = ex->resp_complete = ex->got_upstream_bytes = ex->up_idle_due = 0;
	ex->resp_body_bytes = ex->resp_wire_bytes = 0;
	ex->usage_found = ex->drop_set = 0;
	ex->fed = ex->forwarded = 0;
	guard_stream_free(ex->gs);
	ex->gs = NULL;
	ex->guard_err = ex->buffer_over = 0;
	ex->resp_model[0] = 0;
	buffer_answer_hold(&ex->pr, 0); /* nothing of it reached the app */
}

int response_hold_update(struct exchange *ex)
{
	uint64_t n = evbuffer_get_length(bufferevent_get_output(ex->s->client));

	if (ex->resp_buf)
		n += evbuffer_get_length(ex->resp_buf);
	if (ex->held)
		n += evbuffer_get_length(ex->held);
	return buffer_answer_hold(&ex->pr, n);
}

int response_throttled(struct exchange *ex)
{
	size_t queued = evbuffer_get_length(bufferevent_get_output(ex->s->client));
	int over = response_hold_update(ex);

	return queued >= HTTP1_HIGH_WATER || (over && queued);
}

static int on_sse_event(void *arg, const struct sse_event *ev);
static int on_sse_event_translated(void *arg, const struct sse_event *ev);

/* Whether the answer passes through the call's guardrails (guard/guard.h): placeholders to
 * restore, or detectors on what the app reads back. */
static int guarded(const struct exchange *ex)
{
	return ex->pr.guard && guard_call_reads_response(ex->pr.guard);
}

/* The guardrails stop the answer: reading stops, and guard_fail() tells the app. */
static int guard_stop(struct exchange *ex, int err)
{
	ex->guard_err = err;
	http_parser_pause(&ex->rp, 1);
	return 0;
}

/* RESPONSE_SSE, RESPONSE_SSE_TRANSLATED: a stream read event by event, for usage, for
 * translation, and so that only whole events reach the app (a failure can then end its
 * stream with an error event). */
static int stream_start(struct exchange *ex, enum response_mode mode)
{
	int translated = mode == RESPONSE_SSE_TRANSLATED;

	if (translated) {
		if (!ex->ts &&
		    !(ex->ts = translate_stream_new_from(ex->app->translate, ex->up_adapter->translate,
						      ex->include_usage, NULL)))
			return -1;
	} else if (!ex->held && !(ex->held = evbuffer_new())) {
		return -1;
	}
	if (guarded(ex) && !ex->gs && !(ex->gs = guard_stream_new(ex->pr.guard)))
		return -1;
	sse_init(&ex->sse, 0, translated ? on_sse_event_translated : on_sse_event, ex);
	usage_stream_init(&ex->us, ex->up_api,
			  ex->suppress_usage ? USAGE_STREAM_SUPPRESS_USAGE_CHUNK : 0);
	ex->resp_mode = mode;
	return 0;
}

/*
 * RESPONSE_DISCARD: an answer whose status asks for another attempt. Its body is never the
 * app's: a small one of known length is read and dropped, so the connection goes back to
 * the pool (the next call there need not connect again); for any other the parser stops at
 * the head and the connection is closed.
 */
static int discard_start(struct exchange *ex, http_parser *rp)
{
	struct timeval tv = {0, HTTP1_DISCARD_MS * 1000};

	ex->resp_mode = RESPONSE_DISCARD;
	if (!(rp->flags & F_CHUNKED) && rp->content_length <= HTTP1_DISCARD_MAX &&
	    body_allowed(ex)) {
		clock_gettime(CLOCK_MONOTONIC, &ex->t_discard);
		ex->up_idle_due = 0; /* these instead */
		bufferevent_set_timeouts(ex->up->bev, &tv, &tv);
		return 0;
	}
	http_parser_pause(rp, 1);
	return 0;
}

/* RESPONSE_JSON, RESPONSE_JSON_TRANSLATED: the body is held whole. Without memory for it,
 * the answer passes as it comes. */
static int json_start(struct exchange *ex, enum response_mode mode)
{
	ex->resp_buf = session_evbuffer(ex->s);
	ex->resp_mode = ex->resp_buf ? mode : RESPONSE_PASS;
	return 0;
}

/* Whether the answer's head declares an event stream. */
static int resp_declares_sse(const struct exchange *ex)
{
	const char *ctype = headers_find(&ex->resp, HDR_CONTENT_TYPE);

	return ctype && headers_value_has(ctype, "text/event-stream");
}

/*
 * The mode of an answer that is the app's and has a body. A 2xx stream of an API the
 * gateway reads is read event by event; any answer from a target of the other API is read
 * whole (it is rewritten before it goes); a 2xx JSON answer to a call that did not ask for
 * a stream is checked whole; anything else passes as it comes.
 */
static enum response_mode response_mode_pick(const struct exchange *ex)
{
	const char *ctype = headers_find(&ex->resp, HDR_CONTENT_TYPE);
	int ok = ex->status / 100 == 2;

	if (ok && resp_declares_sse(ex) && ex->up_api >= 0)
		return ex->xlate ? RESPONSE_SSE_TRANSLATED : RESPONSE_SSE;
	if (ok && (!ex->xlate || ex->bedrock_door) && bedrock_api_op(ex->up_api) >= 0 && ctype &&
	    headers_value_has(ctype, "application/vnd.amazon.eventstream"))
		return RESPONSE_EVENTSTREAM;
	if (ex->xlate)
		return RESPONSE_JSON_TRANSLATED;
	if (ok && !ex->stream && ((ctype && headers_value_has(ctype, "json")) || guarded(ex)))
		return RESPONSE_JSON; /* an answer the guardrails read must be JSON */
	return RESPONSE_PASS;
}

/* ---- RESPONSE_EVENTSTREAM: Bedrock's binary streams ---- */

static void forward_body(struct exchange *ex, const void *at, size_t len);
static void head_if_pending(struct exchange *ex);
static void stream_emit(struct exchange *ex, const char *p, size_t n);
static void stream_emit_end(struct exchange *ex);

void eventstream_free(struct exchange *ex)
{
	if (!ex->bs)
		return;
	bedrock_stream_free(ex->bs);
	free(ex->bs);
	ex->bs = NULL;
}

/* A whole message, both CRCs checked: the app's, as it came or (an app served through the
 * Bedrock door) as the Anthropic event its chunk carries, translated for an OpenAI app, and
 * read by the call's guardrails. */
static void eventstream_forward(void *arg, const uint8_t *msg, size_t len)
{
	struct exchange *ex = arg;
	struct evstream_msg m;
	struct evbuffer *sse;

	head_if_pending(ex);
	if (!ex->bedrock_door) {
		forward_body(ex, msg, len);
		return;
	}
	if (evstream_parse(msg, len, len, &m) <= 0 || !(sse = evbuffer_new()))
		return;
	bedrock_door_chunk(ex, &m, sse);
	stream_emit(ex, (const char *)evbuffer_pullup(sse, -1), evbuffer_get_length(sse));
	evbuffer_free(sse);
}

static int eventstream_start(struct exchange *ex)
{
	if (!ex->bs && !(ex->bs = calloc(1, sizeof(*ex->bs))))
		return -1;
	/* the app's API from the upstream's (Anthropic's, through Bedrock's door); a pair the
	 * translator has no stream for fails the answer (a 502 and its record), as out of memory */
	if (ex->xlate && !ex->ts &&
	    !(ex->ts = translate_stream_new_from(ex->app->translate, ex->up_adapter->translate,
						 ex->include_usage, NULL)))
		return -1;
	if (ex->bedrock_door && guarded(ex) && !ex->gs && !(ex->gs = guard_stream_new(ex->pr.guard)))
		return -1;
	bedrock_stream_init(ex->bs, (enum bedrock_op)bedrock_api_op(ex->up_api));
	ex->bs->forward = eventstream_forward;
	ex->bs->forward_arg = ex;
	usage_stream_init(&ex->us, ex->up_api, 0);
	ex->resp_mode = RESPONSE_EVENTSTREAM;
	return 0;
}

/* A translated stream's end, as the translator closes it for the app (its error event when
 * the Anthropic events had not ended it). */
static void eventstream_translated_end(struct exchange *ex)
{
	translate_stream_finish(ex->ts, &ex->ts_out);
	stream_emit(ex, ex->ts_out.data, ex->ts_out.len);
	ex->ts_out.len = 0;
}

/* The app gets an exception message in place of what could not be read (a translated stream:
 * the translator's error event), and the stream ends there; the record says why. */
static void eventstream_fail(struct exchange *ex, const char *why)
{
	char text[200];
	size_t len;
	char *frame = NULL;

	snprintf(text, sizeof(text), "aigw: the provider's event stream %s", why);
	head_if_pending(ex);
	if (ex->ts)
		eventstream_translated_end(ex);
	else if (ex->bedrock_door)
		frame = ex->app->error_event(ex->api, text, &len);
	else
		frame = ex->up_adapter->error_event(ex->up_api, text, &len);
	if (frame)
		forward_body(ex, frame, len);
	free(frame);
	ex->stream_error_sent = 1;
	if (ex->us.end == USAGE_END_NONE) {
		ex->us.end = USAGE_END_ERROR;
		snprintf(ex->us.error_type, sizeof(ex->us.error_type), "%s", "bad_event_stream");
	}
}

static int eventstream_body(struct exchange *ex, const char *at, size_t len)
{
	int err;

	if (ex->us.end == USAGE_END_ERROR) /* failed: the rest is dropped */
		return 0;
	err = bedrock_stream_feed(ex->bs, at, len);
	if (err)
		eventstream_fail(ex, err == -EMSGSIZE ? "has a message past the size limit"
				     : err == -ENOMEM ? "could not be held (out of memory)"
						      : "has a frame whose CRC does not match");
	return 0;
}

static void stream_set_error(struct exchange *ex, const char *why)
{
	ex->us.end = USAGE_END_ERROR;
	snprintf(ex->us.error_type, sizeof(ex->us.error_type), "%s", why);
}

/* The body's end: the usage, or why there is none. */
static void eventstream_complete(struct exchange *ex)
{
	int err;

	head_if_pending(ex);
	if (ex->us.end == USAGE_END_ERROR)
		return;
	if (ex->ts && !ex->bs->parser.err && !evstream_pending(&ex->bs->parser) &&
	    !ex->bs->exception)
		eventstream_translated_end(ex);
	stream_emit_end(ex);
	err = bedrock_stream_end(ex->bs, &ex->usage);
	ex->usage_found = !err;
	if (err == -EPIPE)
		eventstream_fail(ex, "was cut short");
	else if (err == -EPROTO && ex->bedrock_door) /* the app reads only its own events */
		eventstream_fail(ex, ex->bs->error);
	else if (err == -EPROTO)
		stream_set_error(ex, ex->bs->error);
	else
		ex->us.end = USAGE_END_OK;
}

/* Sets the answer up for MODE; -1 (the parser's error) without memory for a stream. */
static int response_start(struct exchange *ex, enum response_mode mode)
{
	switch (mode) {
	case RESPONSE_SSE:
	case RESPONSE_SSE_TRANSLATED:
		return stream_start(ex, mode);
	case RESPONSE_JSON:
	case RESPONSE_JSON_TRANSLATED:
		return json_start(ex, mode);
	case RESPONSE_EVENTSTREAM:
		return eventstream_start(ex);
	case RESPONSE_PASS:
	case RESPONSE_DISCARD: /* picked before, by its status: discard_start() */
		break;
	}
	return 0;
}

static int on_resp_headers_complete(http_parser *rp)
{
	struct exchange *ex = rp_exchange(rp);

	headers_complete(&ex->resp);
	ex->status = rp->status_code;
	if (ex->status / 100 == 1) {
		/* An interim response (100 Continue): not forwarded, the final one follows. */
		headers_reset(&ex->resp);
		evbuffer_drain(ex->reason, evbuffer_get_length(ex->reason));
		return 0;
	}
	ex->up_idle_due = 1;
	/* The provider answered: its breaker hears how first, so that a failure which opens it
	 * ends the retries here (and, with no target left, the answer goes to the app). */
	if (ex->target && (ex->status >= 500 || ex->status == 429)) {
		target_failed(ex);
	} else if (ex->target) {
		target_breaker_note(ex, route_target_done(ex->routes, ex->target, 1));
		ex->probe = 0;
	}
	if (status_retried(ex, ex->status)) {
		ex->retry_after_ms = headers_retry_after_ms(&ex->resp);
		if (can_retry(ex) || can_fall_back(ex))
			return discard_start(ex, rp);
	}
	ex->resp_chunked = !!(rp->flags & F_CHUNKED);
	ex->resp_content_length = rp->content_length;
	if (!body_allowed(ex)) { /* RESPONSE_PASS, with nothing to pass */
		write_response_head(ex, -1);
		return 1; /* no body follows */
	}
	return response_start(ex, response_mode_pick(ex));
}

static void forward_body(struct exchange *ex, const void *at, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(ex->s->client);
	size_t before = evbuffer_get_length(out);

	if (!len)
		return;
	if (ex->chunked_out)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add(out, at, len);
	if (ex->chunked_out)
		evbuffer_add(out, "\r\n", 2);
	ex->resp_body_bytes += len;
	ex->resp_wire_bytes += evbuffer_get_length(out) - before;
}

/* The app's head, when it does not have it yet: it goes with the first bytes of the body
 * (a stream's first event), which are checked first. */
static void head_if_pending(struct exchange *ex)
{
	if (!ex->head_sent)
		write_response_head(ex, -1);
}

/* The body is not what its head declared: reading stops, and the app gets a 502
 * (garbage_fail). */
static int body_refuse(struct exchange *ex)
{
	ex->garbage = 1;
	http_parser_pause(&ex->rp, 1);
	return 0;
}

/* RESPONSE_PASS: each slice goes as it comes. A 2xx declared as an event stream (of an API
 * the gateway does not read) must start like one, as in the stream modes. */
static int pass_body(struct exchange *ex, const char *at, size_t len)
{
	if (!ex->head_sent) {
		if (ex->status / 100 == 2 && resp_declares_sse(ex) && !body_looks_like_sse(at, len))
			return body_refuse(ex);
		write_response_head(ex, -1);
	}
	forward_body(ex, at, len);
	return 0;
}

/* An answer that must be held whole passed buffer_bytes: reading stops, and buffer_fail()
 * ends the call. */
static int buffer_stop(struct exchange *ex)
{
	ex->buffer_over = 1;
	http_parser_pause(&ex->rp, 1);
	return 0;
}

/* RESPONSE_JSON: held whole, up to HTTP1_JSON_MAX and within buffer_bytes; past that it
 * streams like any other, unless the guardrails must read it whole. */
static int json_body(struct exchange *ex, const char *at, size_t len)
{
	size_t n = evbuffer_get_length(ex->resp_buf);
	int over = 0;

	if (n + len <= HTTP1_JSON_MAX) {
		if (evbuffer_add(ex->resp_buf, at, len))
			return -1;
		if (!(over = response_hold_update(ex)))
			return 0;
		len = 0; /* in resp_buf now */
		n = evbuffer_get_length(ex->resp_buf);
	}
	if (guarded(ex)) /* what cannot be scanned does not reach the app */
		return over ? buffer_stop(ex) : guard_stop(ex, -EMSGSIZE);
	ex->resp_mode = RESPONSE_PASS;
	write_response_head(ex, -1);
	forward_body(ex, evbuffer_pullup(ex->resp_buf, -1), n);
	evbuffer_drain(ex->resp_buf, n);
	return pass_body(ex, at, len);
}

/* RESPONSE_JSON_TRANSLATED: held whole, up to HTTP1_JSON_MAX; past that refused, as the
 * other API's bytes can never reach the app as they are. */
static int json_translated_body(struct exchange *ex, const char *at, size_t len)
{
	if (evbuffer_get_length(ex->resp_buf) + len > HTTP1_JSON_MAX)
		return body_refuse(ex);
	if (evbuffer_add(ex->resp_buf, at, len))
		return -1;
	return response_hold_update(ex) ? buffer_stop(ex) : 0;
}

/* Stream bytes for the app (whole events): P, N as they are, or OUT as the guardrails
 * rewrote them with their verdict ERR (a non-zero one stops the answer). */
static void stream_forward(struct exchange *ex, const char *p, size_t n)
{
	if (!n)
		return;
	head_if_pending(ex);
	forward_body(ex, p, n);
}

static void stream_guarded(struct exchange *ex, struct translate_buf *out, int err)
{
	stream_forward(ex, out->data, out->len);
	translate_buf_free(out);
	if (err)
		guard_stop(ex, err);
}

/* Stream bytes (whole events) for the app, through its guardrails when it has them. */
static void stream_emit(struct exchange *ex, const char *p, size_t n)
{
	struct translate_buf out = {0};

	if (!ex->gs)
		stream_forward(ex, p, n);
	else if (!ex->guard_err)
		stream_guarded(ex, &out, guard_stream_feed(ex->gs, p, n, &out));
}

/* What the guardrails still hold of a stream that ended, for the app. */
static void stream_emit_end(struct exchange *ex)
{
	struct translate_buf out = {0};

	if (ex->gs && !ex->guard_err)
		stream_guarded(ex, &out, guard_stream_finish(ex->gs, &out));
}

static void forward_translated(struct exchange *ex, struct translate_buf *b)
{
	stream_emit(ex, b->data, b->len);
	b->len = 0;
}

/* RESPONSE_SSE: an event read for usage; the usage chunk the app did not ask for is noted,
 * to be left out. */
static int on_sse_event(void *arg, const struct sse_event *ev)
{
	struct exchange *ex = arg;

	if (usage_stream_event(&ex->us, ev->type, ev->data, ev->data_len) == USAGE_EVENT_DROP &&
	    !ex->drop_set) {
		ex->drop_start = ev->start;
		ex->drop_end = ev->end;
		ex->drop_set = 1;
	}
	return 0;
}

/* RESPONSE_SSE_TRANSLATED: an event read for usage, and passed on in the app's API. */
static int on_sse_event_translated(void *arg, const struct sse_event *ev)
{
	struct exchange *ex = arg;
	int err;

	usage_stream_event(&ex->us, ev->type, ev->data, ev->data_len);
	err = translate_stream_feed(ex->ts, ev->type, ev->data, ev->data_len, &ex->ts_out);
	forward_translated(ex, &ex->ts_out);
	return err == -ENOMEM ? err : 0;
}

/*
 * Passes on the held stream bytes up to offset UPTO, leaving out the usage chunk. A chunk
 * that begins the stream leaves a blank line (no event) in its place: otherwise the bytes
 * after it would begin the app's stream, and a byte order mark there, part of a line for
 * the provider's stream, would be skipped by the app's parser, and the line read anew.
 */
static void held_forward(struct exchange *ex, uint64_t upto)
{
	while (ex->forwarded < upto) {
		uint64_t end = upto;
		size_t n;

		if (ex->drop_set && ex->forwarded >= ex->drop_start &&
		    ex->forwarded < ex->drop_end) {
			if (!ex->forwarded) /* see held_forward() */
				stream_emit(ex, "\n", 1);
			n = (ex->drop_end < upto ? ex->drop_end : upto) - ex->forwarded;
			evbuffer_drain(ex->held, n);
			ex->forwarded += n;
			continue;
		}
		if (ex->drop_set && ex->drop_start > ex->forwarded && ex->drop_start < end)
			end = ex->drop_start;
		n = end - ex->forwarded;
		stream_emit(ex, (const char *)evbuffer_pullup(ex->held, n), n);
		evbuffer_drain(ex->held, n);
		ex->forwarded += n;
	}
}

/* RESPONSE_SSE: a slice read for usage as it passes. Bytes wait until they are known to be
 * whole events, so the usage chunk can be left out and a failure never leaves the app half
 * an event. An event past the parser's limit ends that: all is passed on, and the rest of
 * the answer passes as it comes. */
static int sse_body(struct exchange *ex, const char *at, size_t len)
{
	uint64_t upto;
	int err;

	if (!ex->fed && !body_looks_like_sse(at, len)) /* an HTML page, say */
		return body_refuse(ex);
	evbuffer_add(ex->held, at, len);
	ex->fed += len;
	err = sse_feed(&ex->sse, at, len);
	upto = err ? ex->fed : sse_committed(&ex->sse);
	if (ex->forwarded < upto)
		head_if_pending(ex);
	held_forward(ex, upto);
	if (err && ex->gs) /* an event too large to scan does not reach the app */
		return guard_stop(ex, err);
	if (err) {
		sse_free(&ex->sse);
		ex->resp_mode = RESPONSE_PASS;
	}
	return 0;
}

/* RESPONSE_SSE_TRANSLATED: a slice parsed; its events go out translated, from
 * on_sse_event_translated. A stream that cannot be read cannot be translated: refused. */
static int sse_translated_body(struct exchange *ex, const char *at, size_t len)
{
	if (!ex->fed && !body_looks_like_sse(at, len))
		return body_refuse(ex);
	ex->fed += len;
	if (sse_feed(&ex->sse, at, len))
		return body_refuse(ex);
	return 0;
}

static int on_resp_body(http_parser *rp, const char *at, size_t len)
{
	struct exchange *ex = rp_exchange(rp);

	switch (ex->resp_mode) {
	case RESPONSE_PASS:
		return pass_body(ex, at, len);
	case RESPONSE_JSON:
		return json_body(ex, at, len);
	case RESPONSE_JSON_TRANSLATED:
		return json_translated_body(ex, at, len);
	case RESPONSE_SSE:
		return sse_body(ex, at, len);
	case RESPONSE_SSE_TRANSLATED:
		return sse_translated_body(ex, at, len);
	case RESPONSE_EVENTSTREAM:
		return eventstream_body(ex, at, len);
	case RESPONSE_DISCARD:
		return 0;
	}
	return 0;
}

/* A whole answer (or error) of the other API, in place of the buffered one, in the app's. */
static int buffered_translate(struct exchange *ex, const char *plain, size_t len)
{
	enum translate_api app = ex->app->translate;
	char *out = NULL, err[TRANSLATE_MSG_MAX];
	size_t out_len;
	int rc, status = ex->status;

	if (ex->status / 100 == 2)
		rc = translate_response_from(app, ex->up_adapter->translate, plain, len, NULL, &out,
					     &out_len, err, sizeof(err));
	else
		rc = translate_error(app, ex->status, plain, len, &status, &out, &out_len);
	if (rc) {
		snprintf(ex->error, sizeof(ex->error), "%s's answer could not be translated: %s",
			 ex->up_provider, ex->status / 100 == 2 ? err : strerror(-rc));
		return rc;
	}
	ex->status = status;
	evbuffer_drain(ex->resp_buf, evbuffer_get_length(ex->resp_buf));
	evbuffer_add(ex->resp_buf, out, out_len);
	free(out);
	return 0;
}

/* A held 2xx's usage, read where the API is one we read; the body is parsed once, here.
 * Returns usage_from_body()'s 0, -ENOENT (no usage in it), or -errno (not readable). */
static int held_usage(struct exchange *ex, const char *plain, size_t len)
{
	int rc = ex->up_api >= 0 && ex->status / 100 == 2
		     ? usage_from_body(ex->up_api, plain, len, &ex->usage, ex->resp_model,
				       sizeof(ex->resp_model))
		     : -EBADMSG;

	/* a Bedrock family whose body states no usage: AWS's count headers do */
	if ((rc == -ENOENT || rc == -EBADMSG) && ex->status / 100 == 2 &&
	    ex->up_api == USAGE_API_BEDROCK_INVOKE)
		rc = bedrock_invoke_usage(plain, len,
					  headers_get(&ex->resp, "x-amzn-bedrock-input-token-count"),
					  headers_get(&ex->resp, "x-amzn-bedrock-output-token-count"),
					  &ex->usage);
	ex->usage_found = rc == 0;
	if (bedrock_api_op(ex->up_api) >= 0) /* AWS bills the model id of the path */
		ex->resp_model[0] = 0;
	return rc;
}

/* RESPONSE_JSON, whole: whether it is JSON, read through its Content-Encoding (one we
 * cannot read is given the benefit of the doubt). */
/* The held answer as the gateway reads it: decoded from its Content-Encoding (body_decode()). */
static int held_decode(struct exchange *ex, char **ret_plain, size_t *ret_len)
{
	size_t len = evbuffer_get_length(ex->resp_buf);

	return body_decode(headers_find(&ex->resp, HDR_CONTENT_ENCODING),
			   evbuffer_pullup(ex->resp_buf, -1), len, HTTP1_JSON_MAX * 4, ret_plain,
			   ret_len);
}

static int json_complete(struct exchange *ex)
{
	size_t plain_len;
	char *plain;
	int rc, ok;

	rc = held_decode(ex, &plain, &plain_len);
	if (rc == -EOPNOTSUPP)
		return 1;
	if (rc)
		return 0;
	/* Only what the usage reader could not read is checked apart. */
	rc = held_usage(ex, plain, plain_len);
	ok = rc == 0 || rc == -ENOENT || body_is_json(plain, plain_len);
	free(plain);
	return ok;
}

/* RESPONSE_JSON_TRANSLATED, whole: read for usage and rewritten in the app's API. An error
 * of the other API is translated whatever it is (a proxy's HTML page, say); a result must be
 * JSON. */
static int json_translated_complete(struct exchange *ex)
{
	size_t plain_len;
	char *plain;
	int rc, ok;

	rc = held_decode(ex, &plain, &plain_len);
	if (rc)
		return 0;
	rc = held_usage(ex, plain, plain_len);
	ok = rc == 0 || rc == -ENOENT || body_is_json(plain, plain_len) || ex->status / 100 != 2;
	if (ok)
		ok = !buffered_translate(ex, plain, plain_len);
	free(plain);
	return ok;
}

/*
 * A held 2xx answer as the app may read it (guard_response()): placeholders restored,
 * response detectors applied. The held body is replaced by what they return, unencoded.
 */
static int guard_answer(struct exchange *ex)
{
	size_t plain_len, out_len = 0, n = evbuffer_get_length(ex->resp_buf);
	char *plain = NULL, *out = NULL;
	int err;

	if (ex->xlate) /* the translation is the app's body already, never encoded */
		err = body_decode(NULL, evbuffer_pullup(ex->resp_buf, -1), n, HTTP1_JSON_MAX * 4,
				  &plain, &plain_len);
	else
		err = held_decode(ex, &plain, &plain_len);
	if (err)
		goto out;
	err = guard_response(ex->pr.guard, plain, plain_len, &out, &out_len);
	if (err)
		goto out;
	evbuffer_drain(ex->resp_buf, n);
	err = out ? evbuffer_add(ex->resp_buf, out, out_len)
		  : evbuffer_add(ex->resp_buf, plain, plain_len);
	err = err ? -ENOMEM : 0;
	headers_drop(&ex->resp, "content-encoding");
out:
	free(plain);
	free(out);
	return err;
}

/* At least the bytes write_response_head() writes: the provider's fields (names and values
 * with their NULs in the arena, each written with ": " and CRLF), its reason, and the lines
 * of our own (status, framing, Connection, x-aigw-request-id: well under RESPONSE_HEAD_OWN). */
#define RESPONSE_HEAD_OWN 512

static size_t response_head_bound(const struct exchange *ex)
{
	return ex->resp.len + 4 * (size_t)ex->resp.n + evbuffer_get_length(ex->reason) +
	       RESPONSE_HEAD_OWN;
}

/* A held answer, checked (and rewritten), goes with its length. Head and body are written
 * into one chain of the client's output made large enough first: one allocation, not one per
 * append, and nothing for on_resp_message_complete()'s pullup to copy. */
static void json_send(struct exchange *ex)
{
	size_t n = evbuffer_get_length(ex->resp_buf);

	evbuffer_expand(bufferevent_get_output(ex->s->client), n + response_head_bound(ex));
	write_response_head(ex, n);
	forward_body(ex, evbuffer_pullup(ex->resp_buf, -1), n);
}

/* A stream's end: its usage, as the events told it. */
static void stream_usage(struct exchange *ex)
{
	ex->usage = ex->us.usage;
	ex->usage_found = (ex->us.usage.known & USAGE_KNOWN_ALL) == USAGE_KNOWN_ALL;
	str_copy(ex->resp_model, sizeof(ex->resp_model), ex->us.model);
}

/* The answer's body came whole: what its mode still holds goes to the app. Returns 0, or -1
 * when the body turned out not to be what its head declared. */
static int response_complete(struct exchange *ex)
{
	struct translate_buf out = {0};
	int err;

	switch (ex->resp_mode) {
	case RESPONSE_PASS:
		head_if_pending(ex); /* an empty body */
		break;
	case RESPONSE_JSON:
	case RESPONSE_JSON_TRANSLATED:
		if (!(ex->resp_mode == RESPONSE_JSON ? json_complete(ex)
						     : json_translated_complete(ex)))
			return -1;
		if (guarded(ex) && ex->status / 100 == 2 && (err = guard_answer(ex)))
			return guard_stop(ex, err);
		json_send(ex);
		break;
	case RESPONSE_SSE:
		head_if_pending(ex);
		held_forward(ex, ex->fed); /* a last partial event, as it came */
		stream_emit_end(ex);
		stream_usage(ex);
		break;
	case RESPONSE_SSE_TRANSLATED:
		translate_stream_finish(ex->ts, &out);
		forward_translated(ex, &out);
		translate_buf_free(&out);
		stream_emit_end(ex);
		head_if_pending(ex);
		stream_usage(ex);
		break;
	case RESPONSE_EVENTSTREAM:
		eventstream_complete(ex);
		break;
	case RESPONSE_DISCARD: /* nothing of it is the app's */
		break;
	}
	return 0;
}

static int on_resp_message_complete(http_parser *rp)
{
	struct exchange *ex = rp_exchange(rp);
	struct evbuffer *out = bufferevent_get_output(ex->s->client);

	if (ex->status / 100 == 1)
		return 0; /* the interim response ended; the parser reads the next one */
	if (ex->resp_mode == RESPONSE_DISCARD) { /* read whole: its connection can serve again */
		ex->resp_complete = 1;
		ex->up_keepalive = http_should_keep_alive(rp);
		http_parser_pause(rp, 1);
		return 0;
	}
	if (response_complete(ex))
		return body_refuse(ex);
	if (ex->guard_err) /* guard_fail() ends it */
		return 0;
	if (ex->chunked_out) {
		evbuffer_add(out, "0\r\n\r\n", 5);
		ex->resp_wire_bytes += 5;
	}
	ex->resp_complete = 1;
	ex->up_keepalive = http_should_keep_alive(rp);
	/* A small answer leaves in one TLS record and one segment. */
	if (evbuffer_get_length(out) <= 16384)
		evbuffer_pullup(out, -1);
	http_parser_pause(rp, 1);
	return 0;
}

static const http_parser_settings resp_settings = {
    .on_status = on_resp_status,
    .on_header_field = on_resp_header_field,
    .on_header_value = on_resp_header_value,
    .on_headers_complete = on_resp_headers_complete,
    .on_body = on_resp_body,
    .on_message_complete = on_resp_message_complete,
};

/* An error event in the app's API, framed as its stream frames events. */
static void stream_error_event(struct exchange *ex, const char *msg, struct evbuffer *out)
{
	size_t len;
	char *event = ex->app->error_event(ex->api, msg, &len);

	if (!event)
		return;
	evbuffer_add(out, event, len);
	free(event);
}

/*
 * A stream the provider broke after the app had its first events: the app gets an error
 * event in its own API after the last whole event, and a properly ended body, so its SDK
 * raises a clear error instead of a connection reset. Returns 1 when it was so ended
 * (flush before closing), 0 when the body can only be cut.
 */
int stream_end_with_error(struct exchange *ex, const char *msg)
{
	struct translate_buf out = {0};
	struct evbuffer *ev;
	char text[700];

	if (ex->resp_mode == RESPONSE_EVENTSTREAM && !ex->resp_complete) {
		eventstream_fail(ex, msg);
		if (ex->chunked_out) {
			evbuffer_add(bufferevent_get_output(ex->s->client), "0\r\n\r\n", 5);
			ex->resp_wire_bytes += 5;
		}
		return 1;
	}
	if (!response_is_stream(ex) || ex->resp_complete || !(ev = evbuffer_new()))
		return 0;
	if (ex->resp_mode == RESPONSE_SSE_TRANSLATED) { /* the translator ends it its own way */
		translate_stream_finish(ex->ts, &out);
		if (out.len)
			evbuffer_add(ev, out.data, out.len);
		translate_buf_free(&out);
	} else {
		evbuffer_drain(ex->held, evbuffer_get_length(ex->held)); /* half an event */
		snprintf(text, sizeof(text), "aigw: %s", msg);
		stream_error_event(ex, text, ev);
	}
	/* Nothing appended: the translated stream had already ended whole for the app. */
	ex->stream_error_sent = evbuffer_get_length(ev) > 0;
	forward_body(ex, evbuffer_pullup(ev, -1), evbuffer_get_length(ev));
	evbuffer_free(ev);
	if (ex->chunked_out) {
		evbuffer_add(bufferevent_get_output(ex->s->client), "0\r\n\r\n", 5);
		ex->resp_wire_bytes += 5;
	}
	return 1;
}

/* Whether the parser stopped: the answer ended, its body was refused, or a retried answer
 * is not read past its head. */
static int resp_parser_stopped(const struct exchange *ex)
{
	return HTTP_PARSER_ERRNO(&ex->rp) == HPE_PAUSED;
}

/* Whether a retried answer's body is taking longer than HTTP1_DISCARD_MS in all (the read
 * timeout alone would wait that long per byte). */
static int discard_late(const struct exchange *ex)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ms_between(&ex->t_discard, &now) > HTTP1_DISCARD_MS;
}

/* Another attempt after an answer whose status asks for one. */
static void retry_answered(struct exchange *ex)
{
	char why[64];
	int status = ex->status;

	snprintf(why, sizeof(why), "the provider answered %d", status);
	if (!exchange_retry(ex, status, why)) /* the next targets could not take it */
		exchange_fail(ex, OUTCOME_NO_TARGET,
			      status == 429 || status / 100 == 5 ? status : 502, why);
}

/* The guardrails stopped the answer: a match to block (the app gets a 403, or its stream an
 * error event), or an answer they could not read (502). The provider's connection is not
 * kept: the rest of the answer was not read. */
static void guard_fail(struct exchange *ex)
{
	const char *by = guard_call_blocked_by(ex->pr.guard);
	char msg[300];

	if (ex->guard_err == -EPERM)
		snprintf(msg, sizeof(msg), "the answer was withheld: guardrail \"%s\" matched in it",
			 by ? by : "?");
	else
		snprintf(msg, sizeof(msg), "the guardrails could not read the answer: %s",
			 ex->guard_err == -EMSGSIZE ? "too large to scan" : strerror(-ex->guard_err));
	ex->up_keepalive = 0;
	ex->resp_complete = 0;
	exchange_fail(ex, ex->guard_err == -EPERM ? OUTCOME_DENIED : OUTCOME_UPSTREAM_BAD_RESPONSE,
		      ex->guard_err == -EPERM ? 403 : 502, msg);
}

/* An answer that must be held whole (checked by the guardrails, or translated) passed its
 * workload's or the daemon's buffer_bytes: the app gets the refusal, the record buffer_limit.
 * The provider's connection is not kept: the rest of the answer was not read. */
static void buffer_fail(struct exchange *ex)
{
	buffer_answer_refuse(&ex->pr);
	ex->up_keepalive = 0;
	ex->resp_complete = 0;
	exchange_refuse(ex);
}

/* An answer whose body is not what its Content-Type says: a 502 (a provider's 200 may have
 * been billed: it is not tried again). */
static void garbage_fail(struct exchange *ex)
{
	char msg[400];

	snprintf(msg, sizeof(msg), "%s answered %d with a body that is not the %s it declared",
		 ex->up_host, ex->status, resp_declares_sse(ex) ? "event stream" : "JSON");
	ex->status = 0;
	exchange_fail(ex, OUTCOME_UPSTREAM_BAD_RESPONSE, 502, msg);
}

/* A read of the answer parsed: the first by the fast path when the answer is simple and
 * whole in it (resp_head.h), the rest by http_parser. Returns the bytes used. */
static size_t resp_parse(struct exchange *ex, const char *at, size_t len)
{
	int first = !ex->got_upstream_bytes;
	size_t used;

	ex->got_upstream_bytes = 1;
	if (first && resp_head_execute(&ex->rp, &resp_settings, at, len, !strcmp(ex->method, "HEAD"),
				       &used))
		return used;
	return http_parser_execute(&ex->rp, &resp_settings, at, len);
}

/*
 * The provider's head came in the read just parsed: from now on its connection waits idle_ms
 * for each read or write, not first_byte_ms. Armed here rather than on the head, in the same
 * callback (no wait on the loop between), since an answer whole in its first read, the usual
 * small one, ends the call at once and its connection goes back to the pool, which arms its
 * own, or is closed: the read event re-armed with idle_ms was re-armed again at once.
 */
static void up_idle_arm(struct exchange *ex)
{
	unsigned ms = ex->s->cfg->idle_ms;
	struct timeval idle = {ms / 1000, (ms % 1000) * 1000};

	ex->up_idle_due = 0;
	if (!ex->resp_complete)
		bufferevent_set_timeouts(ex->up->bev, &idle, &idle);
}

void on_up_read(struct bufferevent *bev, void *arg)
{
	struct exchange *ex = arg;
	struct session *s = ex->s;
	struct evbuffer *in = bufferevent_get_input(bev);

	session_enter(s);
	while (evbuffer_get_length(in) && !resp_parser_stopped(ex)) {
		struct evbuffer_iovec v;
		size_t used;

		evbuffer_peek(in, -1, NULL, &v, 1);
		used = resp_parse(ex, v.iov_base, v.iov_len);
		evbuffer_drain(in, used);
		if (HTTP_PARSER_ERRNO(&ex->rp) != HPE_OK &&
		    HTTP_PARSER_ERRNO(&ex->rp) != HPE_PAUSED) {
			char msg[600];

			snprintf(msg, sizeof(msg), "malformed response from %s: %s", ex->up_host,
				 http_errno_description(HTTP_PARSER_ERRNO(&ex->rp)));
			exchange_fail(ex, OUTCOME_UPSTREAM_BAD_RESPONSE, 502, msg);
			session_leave(s);
			return;
		}
	}
	if (ex->up_idle_due)
		up_idle_arm(ex);
	if (ex->resp_mode == RESPONSE_DISCARD) {
		if (!resp_parser_stopped(ex) && !discard_late(ex))
			goto out;	/* the rest of its small body is on its way */
		if (!ex->resp_complete) /* not read, or too slowly: the connection is not kept */
			ex->up_keepalive = 0;
		retry_answered(ex);
	} else if (ex->garbage) {
		garbage_fail(ex);
	} else if (ex->guard_err) {
		guard_fail(ex);
	} else if (ex->buffer_over) {
		buffer_fail(ex);
	} else if (ex->resp_complete) {
		int keepalive = ex->client_keepalive;

		exchange_finish(ex, OUTCOME_OK);
		if (!s->dead && keepalive)
			session_resume(s); /* the next request may already be buffered */
		else if (!s->dead)
			session_close(s, OUTCOME_OK, 1);
	} else if (response_throttled(ex)) {
		bufferevent_disable(bev, EV_READ); /* resumed by on_client_write */
	}
out:
	session_leave(s);
}

void on_up_event(struct bufferevent *bev, short what, void *arg)
{
	struct exchange *ex = arg;
	struct session *s = ex->s;
	char msg[600];
	int answered;

	session_enter(s);
	if (ex->resp_mode == RESPONSE_DISCARD) { /* its body did not come whole: not kept */
		ex->resp_complete = ex->up_keepalive = 0;
		retry_answered(ex);
		goto out;
	}
	if (what & BEV_EVENT_EOF) {
		/* A body delimited by the close ends here. */
		http_parser_execute(&ex->rp, &resp_settings, NULL, 0);
		if (ex->garbage) {
			garbage_fail(ex);
			goto out;
		}
		if (ex->guard_err) {
			guard_fail(ex);
			goto out;
		}
		if (ex->buffer_over) {
			buffer_fail(ex);
			goto out;
		}
		if (ex->resp_complete) {
			ex->up_keepalive = 0;
			exchange_finish(ex, OUTCOME_OK);
			session_close(s, OUTCOME_OK, 1);
			goto out;
		}
	}
	/* Once the provider's head came, the request may have been processed (and billed): it is
	 * not sent again, even if the app has seen nothing yet. */
	answered = ex->status != 0;
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(msg, sizeof(msg), "%s %s within %u ms", ex->up_host,
			 answered ? "stopped in the middle of its answer: nothing more"
				  : "did not answer",
			 answered ? s->cfg->idle_ms : s->cfg->first_byte_ms);
	else
		snprintf(msg, sizeof(msg), "%s closed the connection %s", ex->up_host,
			 answered ? "in the middle of the response" : "before answering");
	if (!answered && exchange_retry(ex, 0, msg))
		goto out;
	if (what & BEV_EVENT_TIMEOUT)
		exchange_fail(ex, OUTCOME_UPSTREAM_TIMEOUT, 504, msg);
	else
		exchange_fail(ex, OUTCOME_UPSTREAM_RESET, 502, msg);
out:
	session_leave(s);
}
