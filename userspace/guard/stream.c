/*
 * guard/stream: the guardrails on a streamed answer (text/event-stream in the app's API). It
 * owns the re-framing: events are read with the SSE parser, and the text deltas of each
 * channel (an OpenAI chat choice's content, refusal or one tool call's arguments; an
 * Anthropic content block; a responses API item's part) are joined, scanned, and released
 * only up to where no match can still grow into the next delta. What is held goes out at the
 * front of the channel's next delta, or before any other event, or at the end.
 *
 * The release point of a channel's text T (the bytes held, then the delta, decoded) is
 * |T| - W, W = the response scanner's widest match: a match starting before it is whole
 * already, so one that straddles it is released whole (redacted), and nothing later is. When
 * the call has placeholders to restore, an unfinished "[" in the last GUARD_PLACEHOLDER_MAX
 * bytes is held too, and the point never falls inside a UTF-8 sequence. So plain text is held
 * at most W (+3) bytes, and never more than W + GUARD_PLACEHOLDER_MAX + W.
 *
 * Each event goes out re-serialised ("event: X" when it had a name, then its data lines),
 * its delta string replaced by the released text and every other byte of its data kept;
 * other strings of a delta event and every string of any other JSON event are handled whole
 * (guard_answer_string()). Held text is flushed as a copy of the channel's last delta event
 * (for OpenAI chat, a minimal chunk made from it: a copy would repeat the role, the tool
 * call's id and name, which the SDKs' accumulators would concatenate).
 *
 * Memory: a channel's template keeps its event without the delta string (the text was
 * released or is held), so big text costs the scratch of the event being read (its data, the
 * channel's text, what is released) however many channels carry it. What is left is the
 * envelope, small from any real provider; an upstream that makes the templates of a stream
 * pass GUARD_TEMPLATES_MAX (big members beside the deltas, repeated on up to
 * GUARD_MAX_CHANNELS channels) fails the stream with -EMSGSIZE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "guard/guard_int.h"
#include "providers/sse.h"
#include "providers/translate_util.h"

#define GUARD_MAX_CHANNELS 64
#define CHANNEL_KEY_MAX 128
#define CONTEXT_MAX 16 /* released bytes kept before the held ones, for the scanner's \b */
#define GUARD_TEMPLATES_MAX (1u << 20) /* bytes the templates of a stream's channels may take */

struct channel {
	char key[CHANNEL_KEY_MAX];
	char ctx[CONTEXT_MAX]; /* the last bytes released, as they came */
	size_t ctx_len;
	struct translate_buf held; /* decoded text not released yet */
	char *tmpl_event;	   /* the template's SSE event name (owned), or NULL */
	struct translate_buf tmpl; /* the template's data: the last delta event, less its delta
				      string (quotes included) */
	size_t tmpl_at;		   /* where that string was */
};

/* A choice of the chat chunk being walked, as its delta strings need it. */
struct chat_choice {
	double index;	       /* its "index", else its position */
	int finished;	       /* it has a "finish_reason" */
	size_t tc_first, tc_n; /* its delta's tool calls' indexes: tc_index[tc_first...] */
};

struct guard_stream {
	struct guard_call *gc; /* borrowed */
	struct sse_parser sse;
	struct translate_buf *out; /* the caller's, during guard_stream_feed() */
	size_t hold;		   /* W */
	struct channel *ch;	   /* owned: ch_cap of them, grown as channels open */
	size_t n_ch, ch_cap;
	struct translate_buf text, rel, data; /* scratch: a channel's text, released, an event */
	unsigned long long work; /* guard_stream_work(): text bytes scanned, members, channels */
	size_t tmpl_bytes;	 /* the channels' templates take (template_bytes()) */
	/* The event being walked, read once (chat_read_choices()): struct chat_choice and double
	 * items, scratch like the buffers above. */
	struct translate_buf choices, tc_index;
};

/* What one event is, for the walk that rewrites it. */
struct event_ctx {
	struct guard_stream *gs;
	const struct sse_event *ev;
	const cJSON *json;	   /* the parsed data */
	size_t n_choices;	   /* chat: gs->choices read from it */
	char key[CHANNEL_KEY_MAX]; /* Anthropic, responses: the channel of its delta string */
	const char *field;	   /* Anthropic: the member of "delta" that holds its text */
	int deltas;		   /* delta strings met */
	int released;		   /* of which with text released */
};

static int on_event(void *arg, const struct sse_event *ev);

struct guard_stream *guard_stream_new(struct guard_call *gc)
{
	struct guard_stream *gs = calloc(1, sizeof(*gs));

	if (!gs)
		return NULL;
	gs->gc = gc;
	gs->hold = gc->p->resp_scan ? guard_scanner_max_width(gc->p->resp_scan) : 0;
	sse_init(&gs->sse, 0, on_event, gs);
	return gs;
}

void guard_stream_free(struct guard_stream *gs)
{
	if (!gs)
		return;
	for (size_t i = 0; i < gs->n_ch; i++) {
		translate_buf_free(&gs->ch[i].held);
		translate_buf_free(&gs->ch[i].tmpl);
		free(gs->ch[i].tmpl_event);
	}
	free(gs->ch);
	sse_free(&gs->sse);
	translate_buf_free(&gs->text);
	translate_buf_free(&gs->rel);
	translate_buf_free(&gs->data);
	translate_buf_free(&gs->choices);
	translate_buf_free(&gs->tc_index);
	free(gs);
}

/* -------- output -------- */

/* "event: TYPE\n" (when TYPE), one "data: " line per line of DATA, a blank line. */
static int emit(struct guard_stream *gs, const char *type, const char *data, size_t len)
{
	struct translate_buf *b = gs->out;
	size_t old = b->len, i = 0;
	int rc = 0;

	if (type)
		rc = translate_buf_add(b, "event: ", 7) ||
		     translate_buf_add(b, type, strlen(type)) || translate_buf_add(b, "\n", 1);
	do {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - data) : len;

		rc = rc || translate_buf_add(b, "data: ", 6) ||
		     translate_buf_add(b, data + i, end - i) || translate_buf_add(b, "\n", 1);
		i = end + 1;
	} while (i <= len && !rc);
	rc = rc || translate_buf_add(b, "\n", 1);
	if (rc) {
		b->len = old;
		return -ENOMEM;
	}
	return 0;
}

/* -------- channels -------- */

/* Room for more channels: most streams have one, so they are not all allocated up front (a
 * stream's 64 were 14 KB zeroed per call). Moves them: a struct channel * taken before does
 * not survive the call. */
static int channels_grow(struct guard_stream *gs)
{
	size_t cap = gs->ch_cap ? 2 * gs->ch_cap : 2;
	struct channel *ch;

	cap = cap < GUARD_MAX_CHANNELS ? cap : GUARD_MAX_CHANNELS;
	ch = realloc(gs->ch, cap * sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	memset(ch + gs->ch_cap, 0, (cap - gs->ch_cap) * sizeof(*ch));
	gs->ch = ch;
	gs->ch_cap = cap;
	return 0;
}

static struct channel *channel_get(struct guard_stream *gs, const char *key, int *ret_err)
{
	struct channel *c;

	for (size_t i = 0; i < gs->n_ch; i++) {
		gs->work++;
		if (!strcmp(gs->ch[i].key, key))
			return &gs->ch[i];
	}
	if (gs->n_ch == GUARD_MAX_CHANNELS) {
		*ret_err = -EMSGSIZE;
		return NULL;
	}
	if (gs->n_ch == gs->ch_cap && (*ret_err = channels_grow(gs)))
		return NULL;
	c = &gs->ch[gs->n_ch++];
	snprintf(c->key, sizeof(c->key), "%s", key);
	return c;
}

static size_t last_unclosed_bracket(const char *t, size_t from, size_t len)
{
	for (size_t i = len; i > from; i--) {
		if (t[i - 1] == ']')
			return len;
		if (t[i - 1] == '[')
			return i - 1;
	}
	return len;
}

/* The match of M (N) that CUT falls strictly inside, or NULL. */
static const struct guard_match *straddling(const struct guard_match *m, size_t n, size_t cut)
{
	for (size_t i = 0; i < n && m[i].start < cut; i++) {
		if (m[i].end > cut)
			return &m[i];
	}
	return NULL;
}

/* Where the text T (LEN bytes; the channel's context ends at BASE) is released up to. */
static size_t release_point(struct guard_stream *gs, const char *t, size_t base, size_t len,
			    const struct guard_match *m, size_t n)
{
	size_t cut = len - base > gs->hold ? len - gs->hold : base, b;
	const struct guard_match *s = straddling(m, n, cut);

	if (s) /* it began more than W bytes before the end: it is whole */
		cut = s->end;
	if (guard_call_has_tokens(gs->gc)) {
		b = len - base > GUARD_PLACEHOLDER_MAX ? len - GUARD_PLACEHOLDER_MAX : base;
		b = last_unclosed_bracket(t, b, len);
		cut = b < cut ? b : cut;
	}
	while (cut > base && cut < len && ((unsigned char)t[cut] & 0xc0) == 0x80)
		cut--;
	s = straddling(m, n, cut);
	if (s)
		cut = s->start > base ? s->start : base;
	return cut;
}

/*
 * Appends DELTA (LEN bytes, decoded) to channel C's text and puts in gs->rel what may go out
 * now (everything when FINAL), redacted and restored.
 */
static int channel_release(struct guard_stream *gs, struct channel *c, const char *delta,
			   size_t len, int final)
{
	struct guard_call *gc = gs->gc;
	struct translate_buf *t = &gs->text;
	size_t n = 0, base = c->ctx_len, cut, first = 0, k;
	int rc;

	t->len = 0;
	gs->rel.len = 0;
	if (translate_buf_add(t, c->ctx, c->ctx_len) ||
	    (c->held.len && translate_buf_add(t, c->held.data, c->held.len)) ||
	    translate_buf_add(t, delta, len))
		return -ENOMEM;
	if (t->len == base)
		return translate_buf_add(&gs->rel, "", 0);
	gs->work += t->len;
	if (gc->p->resp_scan) {
		rc = guard_scan_all(gc, gc->p->resp_scan, t->data, t->len, &n, NULL);
		if (rc)
			return rc;
	}
	/* Matches that began in the context were dealt with when it was released. */
	while (first < n && gc->m[first].start < base)
		first++;
	cut = final ? t->len : release_point(gs, t->data, base, t->len, gc->m + first, n - first);
	for (k = first; k < n && gc->m[k].end <= cut; k++)
		;
	rc = guard_answer_span(gc, t->data, base, cut, gc->m + first, k - first, &gs->rel);
	if (rc)
		return rc;
	if (!gs->rel.data && translate_buf_add(&gs->rel, "", 0))
		return -ENOMEM;
	c->ctx_len = cut < CONTEXT_MAX ? cut : CONTEXT_MAX;
	memcpy(c->ctx, t->data + cut - c->ctx_len, c->ctx_len);
	c->held.len = 0;
	if (t->len - cut > 2 * gs->hold + GUARD_PLACEHOLDER_MAX + 4)
		return -EMSGSIZE; /* cannot happen: see the top comment */
	return translate_buf_add(&c->held, t->data + cut, t->len - cut);
}

/* Channel C's held text, out as a copy of its template, finally. */
static int channel_flush(struct guard_stream *gs, struct channel *c)
{
	struct translate_buf *d = &gs->data;
	int rc;

	if (!c->held.len)
		return 0;
	rc = channel_release(gs, c, "", 0, 1);
	if (rc)
		return rc;
	d->len = 0;
	if (translate_buf_add(d, c->tmpl.data, c->tmpl_at) ||
	    jsontext_encode(d, gs->rel.data, gs->rel.len) ||
	    translate_buf_add(d, c->tmpl.data + c->tmpl_at, c->tmpl.len - c->tmpl_at))
		return -ENOMEM;
	return emit(gs, c->tmpl_event, d->data, d->len);
}

/* Flushes the channels whose key starts with PREFIX (NULL: all). */
static int flush_channels(struct guard_stream *gs, const char *prefix)
{
	int rc = 0;

	for (size_t i = 0; i < gs->n_ch && !rc; i++) {
		if (!prefix || !strncmp(gs->ch[i].key, prefix, strlen(prefix)))
			rc = channel_flush(gs, &gs->ch[i]);
	}
	return rc;
}

/* -------- templates -------- */

static int find_span(void *arg, struct jsontext *jt, const struct jsontext_string *s)
{
	size_t *span = arg;

	if (!s->is_key && s->len == 0 && !span[1]) { /* the one empty string of the template */
		span[0] = s->raw_start;
		span[1] = s->raw_end;
	}
	return 0;
}

static size_t template_bytes(const struct channel *c)
{
	return c->tmpl.cap + (c->tmpl_event ? strlen(c->tmpl_event) + 1 : 0);
}

/*
 * Channel C's template: event EVENT, DATA (LEN bytes) less its delta string [START, END).
 * A buffer far bigger than the template is given back, so a channel keeps what its last
 * template needs, not what its biggest did. -EMSGSIZE: the stream's templates passed
 * GUARD_TEMPLATES_MAX (it ends; its buffers go with it).
 */
static int set_template(struct guard_stream *gs, struct channel *c, const char *event,
			const char *data, size_t len, size_t start, size_t end)
{
	size_t keep = len - (end - start);
	int rc = 0;

	gs->tmpl_bytes -= template_bytes(c);
	free(c->tmpl_event);
	c->tmpl_event = NULL;
	c->tmpl.len = 0;
	if (c->tmpl.cap > 4096 && c->tmpl.cap / 2 > keep)
		translate_buf_free(&c->tmpl);
	if ((event && !(c->tmpl_event = strdup(event))) ||
	    translate_buf_add(&c->tmpl, data, start) ||
	    translate_buf_add(&c->tmpl, data + end, len - end))
		rc = -ENOMEM;
	c->tmpl_at = start;
	gs->tmpl_bytes += template_bytes(c);
	return rc ? rc : gs->tmpl_bytes > GUARD_TEMPLATES_MAX ? -EMSGSIZE : 0;
}

/*
 * For OpenAI chat: a chunk with the top-level members of CHUNK but "choices" and "usage", and
 * one choice INDEX whose delta is only the text: content or refusal (FIELD), or the arguments
 * of tool call TOOL_INDEX (FIELD "tool_calls").
 */
static int chat_template(struct guard_stream *gs, struct channel *c, const char *event,
			 const cJSON *chunk, double index, const char *field, double tool_index)
{
	cJSON *t = cJSON_CreateObject(), *choices, *choice, *delta, *tc, *fn;
	const cJSON *v;
	size_t span[2] = {0, 0}, len;
	char *text = NULL;
	int rc = -ENOMEM;

	if (!t)
		return -ENOMEM;
	cJSON_ArrayForEach(v, chunk)
	{
		if (strcmp(v->string, "choices") && strcmp(v->string, "usage") &&
		    !cJSON_AddItemToObject(t, v->string, cJSON_Duplicate(v, 1)))
			goto out;
	}
	choices = cJSON_AddArrayToObject(t, "choices");
	choice = cJSON_CreateObject();
	if (!choices || !choice || !cJSON_AddItemToArray(choices, choice) ||
	    !cJSON_AddNumberToObject(choice, "index", index) ||
	    !(delta = cJSON_AddObjectToObject(choice, "delta")) ||
	    !cJSON_AddNullToObject(choice, "finish_reason"))
		goto out;
	if (strcmp(field, "tool_calls")) {
		if (!cJSON_AddStringToObject(delta, field, ""))
			goto out;
	} else {
		v = cJSON_AddArrayToObject(delta, "tool_calls");
		tc = cJSON_CreateObject();
		if (!v || !tc || !cJSON_AddItemToArray((cJSON *)v, tc) ||
		    !cJSON_AddNumberToObject(tc, "index", tool_index) ||
		    !(fn = cJSON_AddObjectToObject(tc, "function")) ||
		    !cJSON_AddStringToObject(fn, "arguments", ""))
			goto out;
	}
	text = cJSON_PrintUnformatted(t);
	if (!text)
		goto out;
	len = strlen(text);
	/* Every other string of the chunk is a member the copy kept; only one may be empty. */
	rc = jsontext_walk(text, len, find_span, span, NULL, NULL);
	if (!rc)
		rc = span[1] ? set_template(gs, c, event, text, len, span[0], span[1]) : -EIO;
out:
	free(text);
	cJSON_Delete(t);
	return rc;
}

/* -------- events -------- */

/* O's first member KEY (cJSON_GetObjectItemCaseSensitive()), each member passed counted. */
static const cJSON *member(struct guard_stream *gs, const cJSON *o, const char *key)
{
	const cJSON *v;

	for (v = o ? o->child : NULL; v && v->string; v = v->next) {
		gs->work++;
		if (!strcmp(v->string, key))
			return v;
	}
	return NULL;
}

static double number_or(struct guard_stream *gs, const cJSON *o, const char *key, double dflt)
{
	const cJSON *v = member(gs, o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *string_or(struct guard_stream *gs, const cJSON *o, const char *key,
			     const char *dflt)
{
	const char *s = cJSON_GetStringValue(member(gs, o, key));

	return s ? s : dflt;
}

static int present(struct guard_stream *gs, const cJSON *o, const char *key)
{
	const cJSON *v = member(gs, o, key);

	return v && !cJSON_IsNull(v);
}

/* A delta string found by the walk: its channel KEY; FINAL when its event ends it. */
static int delta_string(struct event_ctx *e, struct jsontext *jt, const struct jsontext_string *s,
			const char *key, int final)
{
	struct guard_stream *gs = e->gs;
	int rc = 0;
	struct channel *c = channel_get(gs, key, &rc);

	if (!c)
		return rc;
	rc = channel_release(gs, c, s->text, s->len, final);
	if (rc)
		return rc;
	e->deltas++;
	e->released += gs->rel.len > 0;
	if (gs->gc->api != GUARD_API_OPENAI_CHAT)
		rc = set_template(gs, c, e->ev->type, e->ev->data, e->ev->data_len, s->raw_start,
				  s->raw_end);
	if (rc)
		return rc;
	if (gs->rel.len == s->len && !memcmp(gs->rel.data, s->text, s->len))
		return 0;
	return jsontext_replace(jt, gs->rel.data, gs->rel.len);
}

/* choices[K].delta.content / .refusal / .tool_calls[M].function.arguments */
static int chat_string(struct event_ctx *e, struct jsontext *jt, const struct jsontext_string *s)
{
	const struct chat_choice *choice = NULL;
	const char *field;
	char key[CHANNEL_KEY_MAX];
	double index, tool_index = 0;
	size_t k = s->path[1].index, m;
	struct channel *c;
	int rc = 0, tool = s->depth == 7;

	if (s->is_key || (s->depth != 4 && !tool) || !jsontext_step_is(s, 0, "choices") ||
	    !s->path[1].is_index || !jsontext_step_is(s, 2, "delta"))
		return 1;
	field = s->path[3].key;
	if (tool ? !(jsontext_step_is(s, 3, "tool_calls") && s->path[4].is_index &&
		     jsontext_step_is(s, 5, "function") && jsontext_step_is(s, 6, "arguments"))
		 : !(jsontext_step_is(s, 3, "content") || jsontext_step_is(s, 3, "refusal")))
		return 1;
	if (k < e->n_choices)
		choice = (const struct chat_choice *)e->gs->choices.data + k;
	index = choice ? choice->index : (double)k;
	if (tool) {
		m = s->path[4].index;
		tool_index = choice && m < choice->tc_n
				 ? ((const double *)e->gs->tc_index.data)[choice->tc_first + m]
				 : (double)m;
	}
	snprintf(key, sizeof(key), "c:%.0f:%s:%.0f", index, field, tool_index);
	c = channel_get(e->gs, key, &rc);
	if (!c)
		return rc;
	if (!c->tmpl.len) {
		rc = chat_template(e->gs, c, e->ev->type, e->json, index, field, tool_index);
		if (rc)
			return rc;
	}
	return delta_string(e, jt, s, key, choice && choice->finished);
}

static const char *const responses_deltas[] = {
    "response.output_text.delta",
    "response.refusal.delta",
    "response.function_call_arguments.delta",
    "response.reasoning_summary_text.delta",
    "response.reasoning_text.delta",
    NULL,
};

/* Whether the event is one of the responses API's text deltas. */
static int responses_is_delta(struct guard_stream *gs, const cJSON *j)
{
	const char *type = string_or(gs, j, "type", "");

	for (size_t i = 0; responses_deltas[i]; i++) {
		if (!strcmp(type, responses_deltas[i]))
			return 1;
	}
	return 0;
}

static int anthropic_is_delta(struct guard_stream *gs, const cJSON *j)
{
	const char *dt = string_or(gs, member(gs, j, "delta"), "type", "");

	return !strcmp(string_or(gs, j, "type", ""), "content_block_delta") &&
	       (!strcmp(dt, "text_delta") || !strcmp(dt, "input_json_delta") ||
		!strcmp(dt, "thinking_delta"));
}

/* The channel of S when it is the delta string of a text delta event, or 1. */
static int other_api_string(struct event_ctx *e, struct jsontext *jt,
			    const struct jsontext_string *s)
{
	if (s->is_key)
		return 1;
	if (e->gs->gc->api == GUARD_API_ANTHROPIC_MESSAGES) {
		if (s->depth != 2 || !jsontext_step_is(s, 0, "delta") ||
		    !jsontext_step_is(s, 1, e->field))
			return 1;
	} else if (s->depth != 1 || !jsontext_step_is(s, 0, "delta")) {
		return 1;
	}
	return delta_string(e, jt, s, e->key, 0);
}

static int event_string(void *arg, struct jsontext *jt, const struct jsontext_string *s)
{
	struct event_ctx *e = arg;
	int rc;

	rc = e->gs->gc->api == GUARD_API_OPENAI_CHAT ? chat_string(e, jt, s)
						     : other_api_string(e, jt, s);
	return rc == 1 ? guard_answer_string(e->gs->gc, jt, s) : rc;
}

/* Whether an event's text deltas may be dropped when none has text to release. */
static int chat_carries_more(struct guard_stream *gs, const cJSON *j)
{
	const cJSON *choice, *v, *tc, *f, *tcs;

	if (present(gs, j, "usage"))
		return 1;
	cJSON_ArrayForEach(choice, cJSON_GetObjectItemCaseSensitive(j, "choices"))
	{
		cJSON_ArrayForEach(v, choice)
		{
			if (strcmp(v->string, "index") && strcmp(v->string, "delta") &&
			    !cJSON_IsNull(v))
				return 1;
		}
		cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(choice, "delta"))
		{
			if (strcmp(v->string, "content") && strcmp(v->string, "tool_calls") &&
			    strcmp(v->string, "refusal") && !cJSON_IsNull(v))
				return 1;
		}
		tcs = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(choice, "delta"), "tool_calls");
		if (!cJSON_IsArray(tcs))
			continue;
		cJSON_ArrayForEach(tc, tcs)
		{
			cJSON_ArrayForEach(f, tc)
			{
				if (strcmp(f->string ? f->string : "", "index") &&
				    strcmp(f->string ? f->string : "", "function"))
					return 1;
			}
			cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(tc, "function"))
			{
				if (strcmp(f->string ? f->string : "", "arguments"))
					return 1;
			}
		}
	}
	return 0;
}

static int may_drop(const struct event_ctx *e)
{
	const cJSON *lp;

	if (!e->deltas || e->released)
		return 0;
	switch (e->gs->gc->api) {
	case GUARD_API_OPENAI_CHAT:
		return !chat_carries_more(e->gs, e->json);
	case GUARD_API_OPENAI_RESPONSES:
		lp = cJSON_GetObjectItemCaseSensitive(e->json, "logprobs");
		return !cJSON_GetArraySize(lp);
	default:
		return 1;
	}
}

/* Before a chat chunk: the channels of its choices that it finishes, not in it. */
static int chat_flush_finished(struct guard_stream *gs, const cJSON *j)
{
	const cJSON *choice;
	char prefix[64];
	int rc = 0, k = 0;

	cJSON_ArrayForEach(choice, cJSON_GetObjectItemCaseSensitive(j, "choices"))
	{
		double index = number_or(gs, choice, "index", k++);

		if (!present(gs, choice, "finish_reason"))
			continue;
		snprintf(prefix, sizeof(prefix), "c:%.0f:", index);
		rc = flush_channels(gs, prefix);
		if (rc)
			return rc;
	}
	return 0;
}

/* Whether event J is a text delta event of the call's API (0: any other event). */
static int is_delta_event(struct guard_stream *gs, const cJSON *j)
{
	switch (gs->gc->api) {
	case GUARD_API_OPENAI_CHAT:
		return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "choices")) > 0;
	case GUARD_API_ANTHROPIC_MESSAGES:
		return anthropic_is_delta(gs, j);
	case GUARD_API_OPENAI_RESPONSES:
		return responses_is_delta(gs, j);
	default:
		return 0;
	}
}

/* Chat: each choice of the chunk by position, into gs->choices and gs->tc_index. */
static int chat_read_choices(struct event_ctx *e)
{
	struct guard_stream *gs = e->gs;
	const cJSON *choices = member(gs, e->json, "choices"), *v, *tcs, *tc;
	struct chat_choice ch;
	double index;

	gs->choices.len = gs->tc_index.len = 0;
	for (v = choices ? choices->child : NULL; v; v = v->next, e->n_choices++) {
		ch.index = number_or(gs, v, "index", (double)e->n_choices);
		ch.finished = present(gs, v, "finish_reason");
		ch.tc_first = gs->tc_index.len / sizeof(index);
		tcs = member(gs, member(gs, v, "delta"), "tool_calls");
		for (ch.tc_n = 0, tc = tcs ? tcs->child : NULL; tc; tc = tc->next, ch.tc_n++) {
			index = number_or(gs, tc, "index", (double)ch.tc_n);
			if (translate_buf_add(&gs->tc_index, (const char *)&index, sizeof(index)))
				return -ENOMEM;
		}
		gs->work += ch.tc_n + 1;
		if (translate_buf_add(&gs->choices, (const char *)&ch, sizeof(ch)))
			return -ENOMEM;
	}
	return 0;
}

/*
 * What the strings of delta event E need to know of it, read once before the walk: looked
 * up per string, an event of N strings passed its N members N times (57 s of CPU for a
 * crafted 1 MB event). Chat: its choices (chat_read_choices()); Anthropic: the channel and
 * the member of "delta" with the text; responses: the channel.
 */
static int event_read(struct event_ctx *e)
{
	struct guard_stream *gs = e->gs;
	const cJSON *j = e->json;
	const char *dt;

	switch (gs->gc->api) {
	case GUARD_API_OPENAI_CHAT:
		return chat_read_choices(e);
	case GUARD_API_ANTHROPIC_MESSAGES:
		dt = string_or(gs, member(gs, j, "delta"), "type", "");
		e->field = !strcmp(dt, "text_delta")	     ? "text"
			   : !strcmp(dt, "input_json_delta") ? "partial_json"
							     : "thinking";
		snprintf(e->key, sizeof(e->key), "a:%.0f", number_or(gs, j, "index", 0));
		return 0;
	default:
		snprintf(e->key, sizeof(e->key), "r:%.80s:%.0f:%.0f:%.0f",
			 string_or(gs, j, "item_id", ""), number_or(gs, j, "output_index", 0),
			 number_or(gs, j, "content_index", 0),
			 number_or(gs, j, "summary_index", 0));
		return 0;
	}
}

/* Data that is not JSON ("[DONE]"): scanned as one text. */
static int raw_event(struct guard_stream *gs, const struct sse_event *ev)
{
	struct guard_call *gc = gs->gc;
	size_t n = 0;
	int rc = flush_channels(gs, NULL);

	gs->work += ev->data_len;
	if (!rc && gc->p->resp_scan)
		rc = guard_scan_all(gc, gc->p->resp_scan, ev->data, ev->data_len, &n, NULL);
	gs->rel.len = 0;
	if (!rc)
		rc = guard_answer_span(gc, ev->data, 0, ev->data_len, gc->m, n, &gs->rel);
	if (rc)
		return rc;
	return emit(gs, ev->type, gs->rel.data ? gs->rel.data : "", gs->rel.len);
}

static int json_event(struct guard_stream *gs, const struct sse_event *ev, const cJSON *j)
{
	struct event_ctx e = {.gs = gs, .ev = ev, .json = j};
	char *out = NULL;
	size_t len = 0;
	int rc, delta = j && is_delta_event(gs, j);

	if (!delta)
		rc = flush_channels(gs, NULL);
	else
		rc = gs->gc->api == GUARD_API_OPENAI_CHAT ? chat_flush_finished(gs, j) : 0;
	if (!rc && delta)
		rc = event_read(&e);
	if (rc)
		return rc;
	if (delta)
		rc = jsontext_walk(ev->data, ev->data_len, event_string, &e, &out, &len);
	else
		rc = guard_answer_json(gs->gc, ev->data, ev->data_len, &out, &len);
	if (!rc && !(delta && may_drop(&e)))
		rc =
		    out ? emit(gs, ev->type, out, len) : emit(gs, ev->type, ev->data, ev->data_len);
	free(out);
	return rc;
}

static int on_event(void *arg, const struct sse_event *ev)
{
	struct guard_stream *gs = arg;
	cJSON *j;
	int rc;

	if (jsontext_walk(ev->data, ev->data_len, NULL, NULL, NULL, NULL))
		return raw_event(gs, ev);
	j = cJSON_ParseWithLength(ev->data, ev->data_len);
	rc = json_event(gs, ev, j);
	cJSON_Delete(j);
	return rc;
}

int guard_stream_feed(struct guard_stream *gs, const char *bytes, size_t len,
		      struct translate_buf *out)
{
	int rc;

	gs->out = out;
	rc = sse_feed(&gs->sse, bytes, len);
	gs->out = NULL;
	return rc;
}

unsigned long long guard_stream_work(const struct guard_stream *gs)
{
	return gs->work;
}

size_t guard_stream_held(const struct guard_stream *gs)
{
	size_t n = sizeof(*gs) + gs->ch_cap * sizeof(*gs->ch);

	for (size_t i = 0; i < gs->n_ch; i++)
		n += gs->ch[i].held.cap;
	n += gs->tmpl_bytes + gs->text.cap + gs->rel.cap + gs->data.cap;
	n += gs->choices.cap + gs->tc_index.cap;
	return n + gs->sse.data.cap + gs->sse.type.cap + gs->sse.id.cap + gs->sse.last_id.cap;
}

int guard_stream_finish(struct guard_stream *gs, struct translate_buf *out)
{
	int rc;

	if (gs->sse.err)
		return gs->sse.err;
	gs->out = out;
	rc = flush_channels(gs, NULL);
	gs->out = NULL;
	return rc;
}
