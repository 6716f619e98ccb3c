/*
 * gemini_two_stage.c: see gemini_two_stage.h. The relay between the stages is the one
 * translate_stream.c had: every whole "data: ...\n\n" event of the first stage's output fed to
 * the second until that one ends; the first stage's result returned unless the second fails
 * worse.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gemini_two_stage.h"

struct gemini_two_stage {
	struct translate_stream *openai; /* Anthropic events -> OpenAI chunks */
	struct translate_stream *gemini; /* OpenAI chunks -> the Gemini app's events */
	struct translate_buf mid;	 /* the first stage's output, not yet relayed */
};

struct gemini_two_stage *gemini_two_stage_new(const char *model)
{
	struct gemini_two_stage *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->openai = translate_stream_new_from(TRANSLATE_OPENAI_CHAT, TRANSLATE_ANTHROPIC_MESSAGES,
					      1, model);
	t->gemini = translate_stream_new_from(TRANSLATE_GEMINI_GENERATE, TRANSLATE_OPENAI_CHAT, 0,
					      model);
	if (!t->openai || !t->gemini) {
		gemini_two_stage_free(t);
		return NULL;
	}
	return t;
}

static int relay(struct gemini_two_stage *t, int rc, struct translate_buf *out)
{
	const char *p = t->mid.data, *end = p ? p + t->mid.len : NULL, *stop;
	int r = 0;

	while (p && p < end && !translate_stream_ended(t->gemini) && (stop = strstr(p, "\n\n"))) {
		if ((size_t)(stop - p) >= 6 && !memcmp(p, "data: ", 6))
			r = translate_stream_feed(t->gemini, NULL, p + 6, (size_t)(stop - p) - 6,
						  out);
		if (r == -ENOMEM)
			break;
		p = stop + 2;
	}
	t->mid.len = 0;
	return r == -ENOMEM ? r : rc ? rc : r;
}

int gemini_two_stage_feed(struct gemini_two_stage *t, const char *event, const char *data,
			  size_t len, struct translate_buf *out)
{
	if (translate_stream_ended(t->gemini))
		return 0;
	return relay(t, translate_stream_feed(t->openai, event, data, len, &t->mid), out);
}

int gemini_two_stage_finish(struct gemini_two_stage *t, struct translate_buf *out)
{
	int rc;

	if (translate_stream_ended(t->gemini))
		return 0;
	rc = relay(t, translate_stream_finish(t->openai, &t->mid), out);
	if (rc != -ENOMEM && !translate_stream_ended(t->gemini))
		rc = translate_stream_finish(t->gemini, out);
	return rc;
}

int gemini_two_stage_ended(const struct gemini_two_stage *t)
{
	return translate_stream_ended(t->gemini);
}

void gemini_two_stage_free(struct gemini_two_stage *t)
{
	if (!t)
		return;
	translate_stream_free(t->openai);
	translate_stream_free(t->gemini);
	translate_buf_free(&t->mid);
	free(t);
}

/* Cuts LEN bytes at P out of B, which stays NUL-terminated. */
static void cut(struct translate_buf *b, char *p, size_t len)
{
	memmove(p, p + len, b->len - (size_t)(p - b->data) - len + 1);
	b->len -= len;
}

void gemini_two_stage_mask_error(struct translate_buf *b)
{
	static const char head[] = "data: {\"error\":{", status[] = ",\"status\":\"";
	char *e = NULL, *p, *q;

	for (p = b->data; p && (p = memmem(p, b->len - (size_t)(p - b->data), head,
					   sizeof(head) - 1)); p++)
		e = p;
	if (!e)
		return;
	p = e + sizeof(head) - 1;
	if (strncmp(p, "\"code\":", 7) || !(q = memchr(p, ',', b->len - (size_t)(p - b->data))))
		return;
	cut(b, p, (size_t)(q + 1 - p)); /* "code":N, */
	p = memmem(e, b->len - (size_t)(e - b->data), status, sizeof(status) - 1);
	q = p ? memchr(p + sizeof(status) - 1, '"', b->len - (size_t)(p + sizeof(status) - 1 - b->data))
	      : NULL;
	if (q)
		cut(b, p, (size_t)(q + 1 - p)); /* ,"status":"NAME" */
	p = strstr(e, "\"message\":\"");
	for (q = p ? p + 11 : NULL; q && *q && *q != '"'; q += *q == '\\' ? 2 : 1)
		if (!strncmp(q, "\\u0000", 6))
			break;
	if (q && *q == '\\') { /* the message's rest, up to its closing quote */
		for (p = q; *p && *p != '"'; p += *p == '\\' ? 2 : 1)
			;
		cut(b, q, (size_t)(p - q));
	}
}
