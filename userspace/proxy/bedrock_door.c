/*
 * bedrock_door.c: an Anthropic Messages call served by Claude on Bedrock, the same model behind
 * another door (the operator's move when Anthropic is down); an OpenAI chat completion comes
 * through it too, translated into Anthropic's Messages first (exchange.c), its answer and
 * events translated back (response.c). The body stays the app's but for
 * what Bedrock's InvokeModel wants otherwise: no "model" (the path names it) and no "stream"
 * (the path says it), and "anthropic_version": "bedrock-2023-05-31". It goes to
 * /model/{modelId}/invoke, or /invoke-with-response-stream, whose event stream is decoded back
 * into the Anthropic server-sent events the app asked for (response.c: each chunk's bytes are
 * the event, as Anthropic sends it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "proxy/http1_int.h"
#include "providers/bedrock.h"
#include "util/hex.h"

#define BEDROCK_ANTHROPIC_VERSION "bedrock-2023-05-31"

int bedrock_door_usable(const struct exchange *ex, const struct route_target *t)
{
	return t->api == POLICY_API_BEDROCK && ex->app &&
	       ex->api == USAGE_API_ANTHROPIC_MESSAGES;
}

/* "/model/" + MODEL percent-encoded as one segment + OP, into BUF. */
static int invoke_path(const char *model, int stream, char *buf, size_t size)
{
	size_t o = 0;
	int n = snprintf(buf, size, "/model/");

	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	o = (size_t)n;
	for (const unsigned char *p = (const unsigned char *)model; *p; p++) {
		int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || strchr("-._~", *p);

		if (o + 4 >= size)
			return -ENOSPC;
		if (plain) {
			buf[o++] = (char)*p;
		} else {
			hex_percent(*p, buf + o);
			o += 3;
		}
	}
	n = snprintf(buf + o, size - o, "%s", stream ? "/invoke-with-response-stream" : "/invoke");
	return n < 0 || (size_t)n >= size - o ? -ENOSPC : 0;
}

int bedrock_door_prepare(struct exchange *ex, const char *model, char *why, size_t whylen)
{
	struct evbuffer *from = ex->up_body ? ex->up_body : ex->body; /* translated, or the app's */
	cJSON *root = cJSON_ParseWithLength((const char *)evbuffer_pullup(from, -1),
					    evbuffer_get_length(from));
	char path[512], *text = NULL;
	int err = -EBADMSG;

	if (!cJSON_IsObject(root)) {
		snprintf(why, whylen, "the request is not a JSON object");
		goto out;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(root, "model");
	cJSON_DeleteItemFromObjectCaseSensitive(root, "stream");
	if (!cJSON_GetObjectItemCaseSensitive(root, "anthropic_version") &&
	    !cJSON_AddStringToObject(root, "anthropic_version", BEDROCK_ANTHROPIC_VERSION)) {
		err = -ENOMEM;
		goto out;
	}
	err = invoke_path(model, ex->stream, path, sizeof(path));
	if (err) {
		snprintf(why, whylen, "the model id %s is too long for Bedrock's path", model);
		err = -EINVAL;
		goto out;
	}
	text = cJSON_PrintUnformatted(root);
	if (!text || !(ex->up_path = strdup(path))) {
		free(text);
		err = -ENOMEM;
		goto out;
	}
	err = exchange_up_body_set(ex, text, strlen(text));
	ex->up_api = ex->stream ? USAGE_API_BEDROCK_INVOKE_STREAM : USAGE_API_BEDROCK_INVOKE;
	ex->bedrock_door = 1;
out:
	cJSON_Delete(root);
	return err;
}

/* One chunk of the invoke stream, as the Anthropic event it carries, framed as SSE; for an
 * app of the other API (ex->xlate), that event translated (ex->ts). */
void bedrock_door_chunk(struct exchange *ex, const struct evstream_msg *m, struct evbuffer *out)
{
	size_t len = 0;
	unsigned char *bytes = bedrock_chunk_event(m->payload, m->payload_len, &len);
	cJSON *ev = bytes ? cJSON_ParseWithLength((const char *)bytes, len) : NULL;
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "type"));

	if (!type)
		goto out;
	if (ex->xlate) {
		translate_stream_feed(ex->ts, type, (const char *)bytes, len, &ex->ts_out);
		evbuffer_add(out, ex->ts_out.data, ex->ts_out.len);
		ex->ts_out.len = 0;
		goto out;
	}
	evbuffer_add_printf(out, "event: %s\ndata: ", type);
	evbuffer_add(out, bytes, len);
	evbuffer_add(out, "\n\n", 2);
out:
	free(bytes);
	cJSON_Delete(ev);
}
