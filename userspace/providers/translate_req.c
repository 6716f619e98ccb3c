/*
 * translate_req.c: the request entry points (translate_request(), which path speaks which API)
 * and the helpers both directions share. Every top-level field goes through a table: mapped,
 * dropped with a note, or refused; a field the table does not know is refused. The directions
 * themselves are translate_req_openai.c and translate_req_anthropic.c; translate.h has the
 * mapping and the reasons.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/translate_req.h"

char *translate_rq_path(char *p, const char *base, const char *name, int i)
{
	int n;

	if (!name)
		n = snprintf(p, TRANSLATE_PATH_MAX, "%s[%d]", base, i);
	else if (i < 0)
		n = snprintf(p, TRANSLATE_PATH_MAX, "%s.%s", base, name);
	else
		n = snprintf(p, TRANSLATE_PATH_MAX, "%s.%s[%d]", base, name, i);
	if (n >= TRANSLATE_PATH_MAX)
		strcpy(p + TRANSLATE_PATH_MAX - 4, "...");
	return p;
}

int translate_rq_refuse(struct translate_rq *r, const char *path)
{
	return translate_fail(&r->c, -EOPNOTSUPP, "%s has no %s counterpart", path, r->other);
}

int translate_rq_invalid(struct translate_rq *r, const char *path, const char *what)
{
	return translate_fail(&r->c, -EINVAL, "%s: %s", path, what);
}

void translate_rq_choice_without_tools(struct translate_rq *r, const char *path, int forces)
{
	char note[TRANSLATE_PATH_MAX + 32];

	if (forces) {
		translate_rq_invalid(r, path, "a tool must be called, and the request has no tools");
		return;
	}
	snprintf(note, sizeof(note), "%s without tools dropped", path);
	translate_note(&r->c, note);
}

int translate_rq_openai_choice_forces(const cJSON *v)
{
	const char *s = cJSON_GetStringValue(v);

	return !s || (strcmp(s, "auto") && strcmp(s, "none"));
}

/* Refuses any non-null member of O that is not in ALLOWED (NULL-terminated). */
int translate_rq_keys(struct translate_rq *r, const cJSON *o, const char *const *allowed,
		      const char *path)
{
	char p[TRANSLATE_PATH_MAX];
	const cJSON *it;
	size_t i;

	if (!cJSON_IsObject(o))
		return 0; /* the caller judges the type */
	cJSON_ArrayForEach(it, o)
	{
		for (i = 0; allowed[i] && strcmp(allowed[i], it->string); i++)
			;
		if (allowed[i] || cJSON_IsNull(it))
			continue;
		translate_rq_path(p, path, it->string, -1);
		return translate_rq_refuse(r, p);
	}
	return 0;
}

void translate_rq_fields(struct translate_rq *r, const struct translate_rq_field *table)
{
	const struct translate_rq_field *f;
	const cJSON *it;

	cJSON_ArrayForEach(it, r->in)
	{
		for (f = table; f->name && strcmp(f->name, it->string); f++)
			;
		if (!f->name && !cJSON_IsNull(it)) {
			translate_rq_refuse(r, it->string);
			return;
		}
		if (f->fn && !cJSON_IsNull(it))
			f->fn(r, it, it->string);
		if (r->c.rc)
			return;
	}
}

void translate_rq_number(struct translate_rq *r, const cJSON *v, const char *key)
{
	if (!cJSON_IsNumber(v)) {
		translate_rq_invalid(r, key, "expected a number");
		return;
	}
	translate_add(&r->c, r->out, key, cJSON_CreateNumber(v->valuedouble));
}

void translate_rq_drop(struct translate_rq *r, const cJSON *v, const char *key)
{
	char note[64];

	(void)v; /* only its presence matters */
	snprintf(note, sizeof(note), "%s dropped", key);
	translate_note(&r->c, note);
}

int translate_rq_is_count(double d)
{
	return d >= 0 && d <= INT_MAX && d == (int)d;
}

void translate_rq_top_k(struct translate_rq *r, const cJSON *v, const char *key)
{
	if (!r->via_openai)
		translate_rq_refuse(r, key);
	else if (!cJSON_IsNumber(v) || !translate_rq_is_count(v->valuedouble))
		translate_rq_invalid(r, key, "expected a non-negative integer");
	else
		translate_rq_number(r, v, key);
}

void translate_rq_stream(struct translate_rq *r, const cJSON *v, const char *key)
{
	if (!cJSON_IsBool(v)) {
		translate_rq_invalid(r, key, "expected a boolean");
		return;
	}
	r->res->stream = cJSON_IsTrue(v);
	translate_add(&r->c, r->out, "stream", cJSON_CreateBool(r->res->stream));
	if (r->res->stream && r->app == TRANSLATE_ANTHROPIC_MESSAGES) { /* usage comes last */
		cJSON *o = translate_add(&r->c, r->out, "stream_options", cJSON_CreateObject());

		translate_add(&r->c, o, "include_usage", cJSON_CreateTrue());
	}
}

void translate_rq_stream_options(struct translate_rq *r, const cJSON *v, const char *key)
{
	if (!cJSON_IsObject(v)) {
		translate_rq_invalid(r, key, "expected an object");
		return;
	}
	r->res->include_usage = cJSON_IsTrue(translate_get(v, "include_usage"));
}

void translate_rq_user(struct translate_rq *r, const cJSON *v, const char *key)
{
	if (!cJSON_IsString(v)) {
		translate_rq_invalid(r, key, "expected a string");
		return;
	}
	if (!r->user || !strcmp(key, "safety_identifier"))
		r->user = v->valuestring;
}

void translate_rq_store(struct translate_rq *r, const cJSON *v, const char *key)
{
	if (cJSON_IsTrue(v))
		translate_fail(&r->c, -EOPNOTSUPP,
			       "%s: a completion answered by %s cannot be stored at OpenAI", key,
			       r->other);
}

void translate_rq_n(struct translate_rq *r, const cJSON *v, const char *key)
{
	if (!cJSON_IsNumber(v) || v->valuedouble != 1)
		translate_fail(&r->c, -EOPNOTSUPP, "%s other than 1 has no %s counterpart", key,
			       r->other);
}

void translate_rq_logprobs(struct translate_rq *r, const cJSON *v, const char *key)
{
	if (!cJSON_IsFalse(v))
		translate_rq_refuse(r, key);
}

void translate_rq_top_logprobs(struct translate_rq *r, const cJSON *v, const char *key)
{
	if (!cJSON_IsNumber(v) || v->valuedouble != 0)
		translate_rq_refuse(r, key);
}

void translate_rq_zero(struct translate_rq *r, const cJSON *v, const char *key)
{
	if (!cJSON_IsNumber(v) || v->valuedouble != 0)
		translate_rq_refuse(r, key);
}

void translate_rq_logit_bias(struct translate_rq *r, const cJSON *v, const char *key)
{
	if (!cJSON_IsObject(v) || v->child)
		translate_rq_refuse(r, key);
}

void translate_rq_modalities(struct translate_rq *r, const cJSON *v, const char *key)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, v)
	{
		if (!cJSON_IsString(it) || strcmp(it->valuestring, "text")) {
			translate_fail(&r->c, -EOPNOTSUPP, "%s other than text have no %s counterpart",
				       key, r->other);
			return;
		}
	}
}

cJSON *translate_rq_strings(struct translate_rq *r, const cJSON *v, const char *key)
{
	cJSON *seqs;
	const cJSON *it;

	if (cJSON_IsString(v)) {
		seqs = cJSON_CreateArray();
		translate_push(&r->c, seqs, cJSON_CreateString(v->valuestring));
		return seqs;
	}
	cJSON_ArrayForEach(it, v)
	{
		if (!cJSON_IsString(it))
			break;
	}
	if (!cJSON_IsArray(v) || it) {
		translate_rq_invalid(r, key, "expected a string or an array of strings");
		return NULL;
	}
	return translate_dup(&r->c, v);
}

void translate_rq_text_block(struct translate_rq *r, cJSON *blocks, const char *text)
{
	cJSON *b = translate_push(&r->c, blocks, translate_typed(&r->c, "text"));

	translate_add(&r->c, b, "text", cJSON_CreateString(text));
}

/* ---- entry points ---- */

static const char *api_name(enum translate_api api)
{
	return api == TRANSLATE_OPENAI_CHAT	   ? "OpenAI"
	       : api == TRANSLATE_ANTHROPIC_MESSAGES ? "Anthropic"
						     : "Gemini";
}

/* One direction APP -> TO, its refusals naming OTHER as the API that has no counterpart. */
static int request_run(enum translate_api app, enum translate_api to, const char *other,
		       const char *in, size_t len, const char *model, unsigned int max_default,
		       int via_openai, struct translate_req *ret)
{
	struct translate_rq r = {.res = ret, .app = app, .max_default = max_default, .other = other,
				 .via_openai = via_openai};
	cJSON *root;
	int rc;

	memset(ret, 0, sizeof(*ret));
	r.c.err = ret->error;
	r.c.errlen = sizeof(ret->error);
	r.c.notes = ret->notes;
	r.c.noteslen = sizeof(ret->notes);
	if (!r.max_default)
		r.max_default = TRANSLATE_DEFAULT_MAX_TOKENS;
	root = translate_parse_object(in, len);
	if (!root)
		return translate_fail(&r.c, -EBADMSG, "the request body is not a JSON object");
	r.in = root;
	r.out = cJSON_CreateObject();
	if (!r.out) {
		rc = -ENOMEM;
		goto out;
	}
	if (to == TRANSLATE_GEMINI_GENERATE)
		translate_rq_openai_to_gemini(&r);
	else if (app == TRANSLATE_OPENAI_CHAT)
		translate_rq_from_openai(&r, model ? model : "");
	else
		translate_rq_from_anthropic(&r, model ? model : "");
	rc = translate_status(&r.c);
	if (rc)
		goto out;
	ret->body = translate_print(r.out, &ret->len);
	if (!ret->body)
		rc = -ENOMEM;
out:
	if (rc == -ENOMEM && !ret->error[0])
		snprintf(ret->error, sizeof(ret->error), "out of memory");
	cJSON_Delete(root);
	cJSON_Delete(r.out);
	return rc;
}

/* Appends "; " and NOTE to NOTES (SIZE bytes), cut to fit. */
static void notes_append(char *notes, size_t size, const char *note)
{
	size_t len = strlen(notes);

	if (len + 2 < size) {
		memcpy(notes + len, "; ", 3);
		len += 2;
		strncat(notes + len, note, size - len - 1);
	}
}

int translate_rq_from_middle(const struct translate_req *mid, enum translate_api to,
			     const char *other, const char *model, unsigned int max_default,
			     struct translate_req *ret)
{
	int rc = request_run(TRANSLATE_OPENAI_CHAT, to, other, mid->body, mid->len, model,
			     max_default, 1, ret);

	if (mid->notes[0]) { /* the first stage's notes first, what fits of the second's after */
		char second[TRANSLATE_MSG_MAX];

		memcpy(second, ret->notes, sizeof(second));
		memcpy(ret->notes, mid->notes, sizeof(ret->notes));
		if (second[0])
			notes_append(ret->notes, sizeof(ret->notes), second);
	}
	ret->stream = mid->stream;
	ret->include_usage = 0; /* an OpenAI app's question only */
	return rc;
}

/* Anthropic -> Gemini goes through OpenAI's form: Anthropic -> OpenAI -> Gemini, each
 * refusal naming Gemini, the notes of both kept. */
static int request_via_openai(const char *in, size_t len, unsigned int max_default,
			      struct translate_req *ret)
{
	struct translate_req mid;
	int rc = request_run(TRANSLATE_ANTHROPIC_MESSAGES, TRANSLATE_OPENAI_CHAT, "Gemini", in, len,
			     "", max_default, 1, &mid);

	if (rc) {
		*ret = mid;
		return rc;
	}
	rc = translate_rq_from_middle(&mid, TRANSLATE_GEMINI_GENERATE, "Gemini", NULL, max_default,
				      ret);
	translate_req_release(&mid);
	return rc;
}

int translate_request_to(enum translate_api app, enum translate_api to, const char *in,
			 size_t len, const char *model, unsigned int max_tokens_default,
			 struct translate_req *ret)
{
	if (app == TRANSLATE_GEMINI_GENERATE && app != to) /* its path says whether it streams */
		return translate_request_from_gemini(to, in, len, model, 0, max_tokens_default,
						     ret);
	if (app == to) {
		memset(ret, 0, sizeof(*ret));
		snprintf(ret->error, sizeof(ret->error), "%s requests are not translated to %s",
			 api_name(app), api_name(to));
		return -EOPNOTSUPP;
	}
	if (to == TRANSLATE_GEMINI_GENERATE && app == TRANSLATE_ANTHROPIC_MESSAGES)
		return request_via_openai(in, len, max_tokens_default, ret);
	return request_run(app, to, api_name(to), in, len, model, max_tokens_default, 0, ret);
}

int translate_request(enum translate_api app, const char *in, size_t len, const char *model,
		      unsigned int max_tokens_default, struct translate_req *ret)
{
	return translate_request_to(app, translate_api_other(app), in, len, model,
				    max_tokens_default, ret);
}

void translate_req_release(struct translate_req *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

int translate_api_for_path(const char *path, enum translate_api *ret, char *err, size_t errlen)
{
	size_t n = strcspn(path, "?#");

	if (n == 20 && !strncmp(path, "/v1/chat/completions", 20)) {
		*ret = TRANSLATE_OPENAI_CHAT;
		return 0;
	}
	if (n == 12 && !strncmp(path, "/v1/messages", n)) {
		*ret = TRANSLATE_ANTHROPIC_MESSAGES;
		return 0;
	}
	if (n >= 13 && !strncmp(path, "/v1/responses", 13) && (n == 13 || path[13] == '/')) {
		if (err && errlen)
			snprintf(err, errlen,
				 "the Responses API is not translated: its conversation state "
				 "(previous_response_id) lives at OpenAI");
		return -EOPNOTSUPP;
	}
	if (err && errlen)
		snprintf(err, errlen, "%.*s is not a chat request", (int)(n > 64 ? 64 : n), path);
	return -ENOENT;
}

enum translate_api translate_api_other(enum translate_api api)
{
	return api == TRANSLATE_OPENAI_CHAT ? TRANSLATE_ANTHROPIC_MESSAGES : TRANSLATE_OPENAI_CHAT;
}

cJSON *translate_rq_tool_call(struct translate_rq *r, const cJSON *tc, const char *path,
			      const char **ret_id, const char **ret_name)
{
	static const char *const keys[] = {"id", "type", "function", NULL};
	static const char *const fn_keys[] = {"name", "arguments", NULL};
	const cJSON *fn = translate_get(tc, "function");
	const char *type = translate_str(tc, "type"), *id = translate_str(tc, "id");
	const char *name = translate_str(fn, "name"), *args = translate_str(fn, "arguments");
	char p[TRANSLATE_PATH_MAX];
	cJSON *v;

	translate_rq_path(p, path, "function", -1);
	if (type && strcmp(type, "function")) {
		translate_rq_refuse(r, path);
		return NULL;
	}
	if (translate_rq_keys(r, tc, keys, path) || translate_rq_keys(r, fn, fn_keys, p))
		return NULL;
	if (!id || !name || !args) {
		translate_rq_invalid(r, path, "expected id, function.name and function.arguments");
		return NULL;
	}
	v = *args ? cJSON_Parse(args) : cJSON_CreateObject(); /* "" is {} */
	if (!*args && !v) {
		r->c.oom = 1;
		return NULL;
	}
	if (!cJSON_IsObject(v)) {
		cJSON_Delete(v);
		translate_rq_invalid(r, p, "arguments: expected a JSON object");
		return NULL;
	}
	*ret_id = id;
	*ret_name = name;
	return v;
}
