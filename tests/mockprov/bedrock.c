// SPDX-License-Identifier: MIT
/*
 * mockprov Bedrock: the AWS Bedrock runtime's POST /model/{modelId}/converse, /converse-stream,
 * /invoke and /invoke-with-response-stream, answered as Bedrock answers: Converse JSON with
 * "usage" {inputTokens, outputTokens, totalTokens}; ConverseStream in AWS event-stream framing
 * (messageStart, contentBlockDelta per word, contentBlockStop, messageStop, metadata with the
 * usage); InvokeModel with an Anthropic body (anthropic_version "bedrock-2023-05-31" required,
 * no "model") and the X-Amzn-Bedrock-*-Token-Count headers; InvokeModelWithResponseStream as
 * "chunk" events of base64 Anthropic events, the last with amazon-bedrock-invocationMetrics.
 * InvokeModel of a Meta Llama model ({"prompt"}) answers Llama's body with its own counts, of a
 * Mistral model Mistral's, which states none (the count headers do).
 *
 * Every call must carry a valid SigV4 signature (service "bedrock") by a key given with
 * --aws-key AKID=SECRET: this file verifies it with its own code, written apart from the
 * gateway's (userspace/providers/sigv4.c) and checked against botocore's signer by
 * tests/e2e/test_bedrock.py, so that the two cannot share a bug unnoticed. A bad one is a 403
 * InvalidSignatureException / UnrecognizedClientException, as AWS answers.
 *
 * x-mock-bedrock-corrupt: N flips a byte of the Nth stream message's payload (its CRC then
 * fails), for the gateway's handling of a corrupt frame.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "mock.h"

#define BEDROCK_MAX_KEYS 8

static struct {
	char id[64], secret[128];
} aws_keys[BEDROCK_MAX_KEYS];
static int n_aws_keys;

int bedrock_add_key(const char *arg)
{
	const char *eq = strchr(arg, '=');

	if (!eq || eq == arg || n_aws_keys == BEDROCK_MAX_KEYS ||
	    (size_t)(eq - arg) >= sizeof(aws_keys[0].id) || strlen(eq + 1) >= sizeof(aws_keys[0].secret))
		return -1;
	snprintf(aws_keys[n_aws_keys].id, sizeof(aws_keys[0].id), "%.*s", (int)(eq - arg), arg);
	snprintf(aws_keys[n_aws_keys].secret, sizeof(aws_keys[0].secret), "%s", eq + 1);
	n_aws_keys++;
	return 0;
}

static void bedrock_error(struct call *c, int status, const char *type, const char *msg)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add_printf(b, "{\"message\":");
	json_str(b, msg);
	evbuffer_add(b, "}", 1);
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "x-amzn-ErrorType", type);
	reply_send(c, status, NULL, b, "application/json");
	evbuffer_free(b);
}

/* ---- SigV4, verified from the request as it arrived ---- */

static void hex(const unsigned char *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* Appends S[0..N) with every byte but A-Za-z0-9-_.~ (and '/' when SLASH) as %XX. */
static void uri_encode(struct evbuffer *b, const char *s, size_t n, int slash)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (isalnum(ch) || strchr("-_.~", ch) || (slash && ch == '/'))
			evbuffer_add(b, &ch, 1);
		else
			evbuffer_add_printf(b, "%%%02X", ch);
	}
}

/* The value of "NAME=" in the Authorization header A, up to ',' or the end. */
static int auth_part(const char *a, const char *name, char *out, size_t size)
{
	const char *p = strstr(a, name), *end;

	if (!p)
		return -1;
	p += strlen(name);
	end = p + strcspn(p, ", ");
	if ((size_t)(end - p) >= size)
		return -1;
	memcpy(out, p, end - p);
	out[end - p] = 0;
	return 0;
}

static const char *secret_of(const char *id)
{
	for (int i = 0; i < n_aws_keys; i++)
		if (!strcmp(aws_keys[i].id, id))
			return aws_keys[i].secret;
	return NULL;
}

static void mac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int n = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n);
}

/* The canonical request of C for SIGNED (the header names, ';'-separated) into B. */
static int canonical(struct call *c, const char *signed_h, const char *payload, struct evbuffer *b)
{
	const char *uri = evhttp_request_get_uri(c->req), *q = strchr(uri, '?');
	char names[512], *save = NULL, *name;

	evbuffer_add_printf(b, "%s\n", method_name(evhttp_request_get_command(c->req)));
	uri_encode(b, uri, q ? (size_t)(q - uri) : strlen(uri), 1);
	evbuffer_add(b, "\n", 1);
	if (q && q[1]) /* Bedrock's runtime calls take no query: only one pair is handled */
		evbuffer_add(b, q + 1, strlen(q + 1));
	evbuffer_add(b, "\n", 1);
	snprintf(names, sizeof(names), "%s", signed_h);
	for (name = strtok_r(names, ";", &save); name; name = strtok_r(NULL, ";", &save)) {
		const char *v = hdr(c, name);

		if (!v)
			return -1;
		while (*v == ' ')
			v++;
		evbuffer_add_printf(b, "%s:%s\n", name, v);
	}
	evbuffer_add_printf(b, "\n%s\n%s", signed_h, payload);
	return 0;
}

/* 0: a valid signature by a known key; else the 403 was sent. */
static int bedrock_verify(struct call *c)
{
	const char *auth = hdr(c, "authorization"), *date = hdr(c, "x-amz-date"), *secret;
	struct evbuffer *in = evhttp_request_get_input_buffer(c->req), *cr = evbuffer_new();
	char cred[256], signed_h[512], sig[80], scope[128], key0[160], sts[512], want[65];
	char payload[65], cr_hash[65], *id, *rest;
	unsigned char d[32], k[32];
	const char *sent_hash = hdr(c, "x-amz-content-sha256");
	int bad = 1;

	if (!auth || !date || strncmp(auth, "AWS4-HMAC-SHA256 ", 17) ||
	    auth_part(auth, "Credential=", cred, sizeof(cred)) ||
	    auth_part(auth, "SignedHeaders=", signed_h, sizeof(signed_h)) ||
	    auth_part(auth, "Signature=", sig, sizeof(sig)) || !strstr(signed_h, "host")) {
		bedrock_error(c, 403, "MissingAuthenticationTokenException",
			      "Missing Authentication Token");
		goto out;
	}
	id = cred;
	rest = strchr(cred, '/');
	if (!rest || !(secret = secret_of((*rest = 0, id)))) {
		bedrock_error(c, 403, "UnrecognizedClientException",
			      "The security token included in the request is invalid.");
		goto out;
	}
	snprintf(scope, sizeof(scope), "%s", rest + 1); /* date/region/service/aws4_request */
	SHA256(evbuffer_pullup(in, -1), evbuffer_get_length(in), d);
	hex(d, 32, payload);
	if ((sent_hash && strcmp(sent_hash, payload)) || canonical(c, signed_h, payload, cr))
		goto mismatch;
	SHA256(evbuffer_pullup(cr, -1), evbuffer_get_length(cr), d);
	hex(d, 32, cr_hash);
	snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", date, scope, cr_hash);
	snprintf(key0, sizeof(key0), "AWS4%s", secret);
	{
		char part[128], *s2 = NULL, *p;
		const void *kk = key0;
		size_t kl = strlen(key0);

		snprintf(part, sizeof(part), "%s", scope);
		for (p = strtok_r(part, "/", &s2); p; p = strtok_r(NULL, "/", &s2)) {
			mac(kk, kl, p, k);
			kk = k;
			kl = 32;
		}
	}
	mac(k, 32, sts, d);
	hex(d, 32, want);
	if (strcmp(want, sig))
		goto mismatch;
	bad = 0;
	goto out;
mismatch:
	bedrock_error(c, 403, "InvalidSignatureException",
		      "The request signature we calculated does not match the signature you "
		      "provided. Check your AWS Secret Access Key and signing method.");
out:
	evbuffer_free(cr);
	return bad;
}

/* ---- answers ---- */

static void frame(struct evbuffer *out, const char *const *names, const char *const *values,
		  int n, const char *payload, size_t plen, int corrupt)
{
	unsigned char pre[12], hb[1024], crc[4];
	size_t hl = 0, total;
	uint32_t v;
	struct evbuffer *m = evbuffer_new();

	for (int i = 0; i < n; i++) {
		size_t nl = strlen(names[i]), vl = strlen(values[i]);

		hb[hl++] = (unsigned char)nl;
		memcpy(hb + hl, names[i], nl);
		hl += nl;
		hb[hl++] = 7;
		hb[hl++] = (unsigned char)(vl >> 8);
		hb[hl++] = (unsigned char)vl;
		memcpy(hb + hl, values[i], vl);
		hl += vl;
	}
	total = 16 + hl + plen;
	for (int i = 0; i < 4; i++) {
		pre[i] = (unsigned char)(total >> (24 - 8 * i));
		pre[4 + i] = (unsigned char)(hl >> (24 - 8 * i));
	}
	v = (uint32_t)crc32(0, pre, 8);
	for (int i = 0; i < 4; i++)
		pre[8 + i] = (unsigned char)(v >> (24 - 8 * i));
	evbuffer_add(m, pre, 12);
	evbuffer_add(m, hb, hl);
	evbuffer_add(m, payload, plen);
	v = (uint32_t)crc32(0, evbuffer_pullup(m, -1), (uInt)evbuffer_get_length(m));
	for (int i = 0; i < 4; i++)
		crc[i] = (unsigned char)(v >> (24 - 8 * i));
	evbuffer_add(m, crc, 4);
	if (corrupt && plen)
		evbuffer_pullup(m, -1)[12 + hl] ^= 0x20;
	evbuffer_add_buffer(out, m);
	evbuffer_free(m);
}

static void event(struct evbuffer *out, const char *type, struct evbuffer *json, int corrupt)
{
	static const char *const names[] = {":event-type", ":content-type", ":message-type"};
	const char *values[] = {type, "application/json", "event"};

	frame(out, names, values, 3, (const char *)evbuffer_pullup(json, -1),
	      evbuffer_get_length(json), corrupt);
	evbuffer_drain(json, evbuffer_get_length(json));
}

/* A chunk of InvokeModelWithResponseStream: {"bytes": base64 of JSON}. */
static void chunk(struct evbuffer *out, struct evbuffer *json, int corrupt)
{
	struct evbuffer *p = evbuffer_new();

	evbuffer_add(p, "{\"bytes\":\"", 10);
	base64_append(p, evbuffer_pullup(json, -1), evbuffer_get_length(json));
	evbuffer_add(p, "\",\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0\"}", 62);
	evbuffer_drain(json, evbuffer_get_length(json));
	event(out, "chunk", p, corrupt);
	evbuffer_free(p);
}

static void converse_stream(struct call *c, int in, int words, int corrupt, struct evbuffer *out)
{
	struct evbuffer *j = evbuffer_new();
	int n = 0;

	evbuffer_add_printf(j, "{\"p\":\"abcd\",\"role\":\"assistant\"}");
	event(out, "messageStart", j, ++n == corrupt);
	for (int i = 0; i < words; i++) {
		evbuffer_add_printf(j, "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"");
		word_append(j, c->rng, i, words);
		evbuffer_add_printf(j, "\"},\"p\":\"abcdefgh\"}");
		event(out, "contentBlockDelta", j, ++n == corrupt);
	}
	evbuffer_add_printf(j, "{\"contentBlockIndex\":0,\"p\":\"abc\"}");
	event(out, "contentBlockStop", j, ++n == corrupt);
	evbuffer_add_printf(j, "{\"p\":\"abcdef\",\"stopReason\":\"end_turn\"}");
	event(out, "messageStop", j, ++n == corrupt);
	evbuffer_add_printf(j, "{\"metrics\":{\"latencyMs\":12},\"p\":\"abc\",\"usage\":"
			       "{\"inputTokens\":%d,\"outputTokens\":%d,\"totalTokens\":%d}}",
			    in, words, in + words);
	event(out, "metadata", j, ++n == corrupt);
	evbuffer_free(j);
}

static void invoke_stream(struct call *c, const char *model, int in, int words, int corrupt,
			  struct evbuffer *out)
{
	struct evbuffer *j = evbuffer_new();
	int n = 0;

	evbuffer_add_printf(j, "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_bdrk_%s\","
			       "\"type\":\"message\",\"role\":\"assistant\",\"model\":",
			    c->request_id);
	json_str(j, model);
	evbuffer_add_printf(j, ",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":%d,"
			       "\"output_tokens\":1}}}",
			    in);
	chunk(out, j, ++n == corrupt);
	evbuffer_add_printf(j, "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
			       "{\"type\":\"text\",\"text\":\"\"}}");
	chunk(out, j, ++n == corrupt);
	for (int i = 0; i < words; i++) {
		evbuffer_add_printf(j, "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
				       "{\"type\":\"text_delta\",\"text\":\"");
		word_append(j, c->rng, i, words);
		evbuffer_add_printf(j, "\"}}");
		chunk(out, j, ++n == corrupt);
	}
	evbuffer_add_printf(j, "{\"type\":\"content_block_stop\",\"index\":0}");
	chunk(out, j, ++n == corrupt);
	evbuffer_add_printf(j, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
			       "\"stop_sequence\":null},\"usage\":{\"output_tokens\":%d}}",
			    words);
	chunk(out, j, ++n == corrupt);
	evbuffer_add_printf(j, "{\"type\":\"message_stop\",\"amazon-bedrock-invocationMetrics\":"
			       "{\"inputTokenCount\":%d,\"outputTokenCount\":%d,"
			       "\"invocationLatency\":20,\"firstByteLatency\":5}}",
			    in, words);
	chunk(out, j, ++n == corrupt);
	evbuffer_free(j);
}

static void converse_body(struct call *c, int in, int words, struct evbuffer *b)
{
	evbuffer_add_printf(b, "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":"
			       "[{\"text\":\"");
	text_append(b, c->rng, words);
	evbuffer_add_printf(b, "\"}]}},\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":%d,"
			       "\"outputTokens\":%d,\"totalTokens\":%d},\"metrics\":"
			       "{\"latencyMs\":12}}",
			    in, words, in + words);
}

static void count_headers(struct call *c, int in, int words)
{
	char num[16];

	snprintf(num, sizeof(num), "%d", in);
	evhttp_add_header(evhttp_request_get_output_headers(c->req),
			  "X-Amzn-Bedrock-Input-Token-Count", num);
	snprintf(num, sizeof(num), "%d", words);
	evhttp_add_header(evhttp_request_get_output_headers(c->req),
			  "X-Amzn-Bedrock-Output-Token-Count", num);
}

static void invoke_body(struct call *c, const char *model, int in, int words,
			struct evbuffer *b)
{
	evbuffer_add_printf(b, "{\"id\":\"msg_bdrk_%s\",\"type\":\"message\",\"role\":\"assistant\","
			       "\"model\":",
			    c->request_id);
	json_str(b, model);
	evbuffer_add_printf(b, ",\"content\":[{\"type\":\"text\",\"text\":\"");
	text_append(b, c->rng, words);
	evbuffer_add_printf(b, "\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
			       "\"usage\":{\"input_tokens\":%d,\"output_tokens\":%d}}",
			    in, words);
	count_headers(c, in, words);
}

/* InvokeModel of another family ({"prompt": ...}): Meta Llama's body with its own counts,
 * Mistral's with none (only the count headers say them). 1: answered; 0: not such a call. */
static int other_family_invoke(struct call *c, const char *model, int words)
{
	const char *prompt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c->body, "prompt"));
	int llama = strstr(model, "meta.llama") != NULL, in;
	struct evbuffer *b;

	if (!llama && !strstr(model, "mistral."))
		return 0;
	if (!prompt) {
		bedrock_error(c, 400, "ValidationException", "Malformed input request: prompt");
		return 1;
	}
	in = count_words(prompt, NULL) + MOCK_INPUT_TOKEN_BASE;
	b = evbuffer_new();
	evbuffer_add_printf(b, llama ? "{\"generation\":\"" : "{\"outputs\":[{\"text\":\"");
	text_append(b, c->rng, words);
	if (llama)
		evbuffer_add_printf(b, "\",\"prompt_token_count\":%d,\"generation_token_count\":%d,"
				       "\"stop_reason\":\"stop\"}", in, words);
	else
		evbuffer_add_printf(b, "\",\"stop_reason\":\"stop\"}]}");
	count_headers(c, in, words);
	reply_send(c, 200, NULL, b, "application/json");
	evbuffer_free(b);
	return 1;
}

/* The path's model id, percent-decoded once as Bedrock does ("...-v1%3A0" is "...-v1:0"). */
static int model_id(const char *id, size_t len, char *out, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned int v;

		if (n + 1 >= size)
			return -1;
		if (id[i] != '%') {
			out[n++] = id[i];
			continue;
		}
		if (i + 2 >= len || !isxdigit((unsigned char)id[i + 1]) ||
		    !isxdigit((unsigned char)id[i + 2]) ||
		    sscanf(id + i + 1, "%2x", &v) != 1)
			return -1;
		out[n++] = (char)v;
		i += 2;
	}
	out[n] = 0;
	return 0;
}

int bedrock_call(struct call *c)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(c->req));
	const char *op = strrchr(path, '/'), *id = path + 7;
	int words = hdr_int(c, "x-mock-reply-words", 5, 0, 1000);
	int corrupt = hdr_int(c, "x-mock-bedrock-corrupt", 0, 0, 100000), in, invoke, stream;
	char model[256];
	uint64_t seed = 0;
	struct evbuffer *b;

	if (bedrock_verify(c))
		return CALL_DONE;
	if (!cJSON_IsObject(c->body) || !op || op == id - 1) {
		bedrock_error(c, 400, "ValidationException", "Malformed input request");
		return CALL_DONE;
	}
	invoke = !strncmp(op, "/invoke", 7);
	stream = !strcmp(op, "/converse-stream") || !strcmp(op, "/invoke-with-response-stream");
	if (model_id(id, (size_t)(op - id), model, sizeof(model))) {
		bedrock_error(c, 400, "ValidationException", "Malformed model identifier");
		return CALL_DONE;
	}
	if (invoke && !stream && other_family_invoke(c, model, words))
		return CALL_DONE;
	if (invoke && (cJSON_GetObjectItemCaseSensitive(c->body, "model") ||
		       !cJSON_GetObjectItemCaseSensitive(c->body, "anthropic_version"))) {
		bedrock_error(c, 400, "ValidationException",
			      "Malformed input request: anthropic_version required, extraneous "
			      "key [model] is not permitted");
		return CALL_DONE;
	}
	in = count_content_words(cJSON_GetObjectItemCaseSensitive(c->body, "messages"), &seed) +
	     MOCK_INPUT_TOKEN_BASE;
	b = evbuffer_new();
	if (stream && invoke)
		invoke_stream(c, model, in, words, corrupt, b);
	else if (stream)
		converse_stream(c, in, words, corrupt, b);
	else if (invoke)
		invoke_body(c, model, in, words, b);
	else
		converse_body(c, in, words, b);
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "x-amzn-RequestId",
			  c->request_id);
	reply_send(c, 200, NULL, b, stream ? "application/vnd.amazon.eventstream"
					   : "application/json");
	evbuffer_free(b);
	return CALL_DONE;
}
