/*
 * translate_req_from_gemini.c: a Gemini app's generateContent request -> an OpenAI chat
 * completions request, and through OpenAI's form (translate_req_openai.c) an Anthropic
 * Messages one: systemInstruction to a system message, contents to user / assistant messages
 * (text parts only), generationConfig to the sampling fields. The model and whether it
 * streams are the app's path's, so the caller says them. Anything else is refused naming the
 * field; translate.h has the mapping and the reasons.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/translate_req.h"

#define G2O_MAX_STOP 4 /* OpenAI's limit on stop sequences (Gemini takes 5) */

struct g2o {
	struct translate_rq *r;
	enum translate_api to;
};

/* Whether KEY is NAME (lowerCamelCase) or its snake_case form, as Google's JSON takes both. */
static int key_is(const char *key, const char *name)
{
	if (!strcmp(key, name))
		return 1;
	for (; *name; name++, key++) {
		if (isupper((unsigned char)*name)) {
			if (*key++ != '_' || *key != tolower((unsigned char)*name))
				return 0;
		} else if (*key != *name) {
			return 0;
		}
	}
	return !*key;
}

/* The first member of O named NAME (either form); NULL when absent or null. */
static const cJSON *g_member(const cJSON *o, const char *name)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, o)
	{
		if (it->string && key_is(it->string, name) && !cJSON_IsNull(it))
			return it;
	}
	return NULL;
}

/* Whether member names A and B are one name (lowerCamelCase or snake_case, either form). */
static int g_same_name(const char *a, const char *b)
{
	for (;; a++, b++) {
		int ca = *a == '_' && a[1] ? toupper((unsigned char)*++a) : *a;
		int cb = *b == '_' && b[1] ? toupper((unsigned char)*++b) : *b;

		if (ca != cb)
			return 0;
		if (!ca)
			return 1;
	}
}

/*
 * Refuses object O (at PATH; NULL: the top level) when it names a member twice, in either
 * form: the translation reads the first, so a second would be lost in silence. Called once O's
 * members are known ones, so at most one past their number are compared before a repeat is
 * found.
 */
static int g_once(struct translate_rq *r, const cJSON *o, const char *path)
{
	char p[TRANSLATE_PATH_MAX];
	const cJSON *it, *prev;

	cJSON_ArrayForEach(it, o)
	{
		for (prev = o->child; prev != it; prev = prev->next) {
			if (cJSON_IsNull(it) || cJSON_IsNull(prev) ||
			    !g_same_name(prev->string, it->string))
				continue;
			if (path)
				translate_rq_path(p, path, it->string, -1);
			else
				snprintf(p, sizeof(p), "%s", it->string);
			return translate_rq_invalid(r, p, "given twice (a member's name, in either "
							  "form, comes once)");
		}
	}
	return 0;
}

/* One part's text; any other kind of part is refused naming it. */
static const char *g_part_text(struct translate_rq *r, const cJSON *part, const char *path)
{
	static const char *const allowed[] = {"text", "thoughtSignature", "thought_signature", NULL};
	char p[TRANSLATE_PATH_MAX];
	const cJSON *text = g_member(part, "text");

	if (!cJSON_IsObject(part)) {
		translate_rq_invalid(r, path, "expected an object");
		return NULL;
	}
	/* "thought" (a thought part) too: refused as every other member */
	if (translate_rq_keys(r, part, allowed, path) || g_once(r, part, path))
		return NULL;
	if (!cJSON_IsString(text)) {
		translate_rq_invalid(r, translate_rq_path(p, path, "text", -1), "expected a string");
		return NULL;
	}
	if (g_member(part, "thoughtSignature"))
		translate_note(&r->c, "thoughtSignature dropped");
	return text->valuestring;
}

/* The text parts of PARTS as OpenAI content: one string for one part, else text parts. */
static cJSON *g_content(struct translate_rq *r, const cJSON *parts, const char *path)
{
	char p[TRANSLATE_PATH_MAX];
	const cJSON *it;
	cJSON *blocks;
	const char *t;
	int i = 0;

	if (!cJSON_IsArray(parts) || !cJSON_GetArraySize(parts)) {
		translate_rq_invalid(r, path, "expected a non-empty array of parts");
		return NULL;
	}
	if (cJSON_GetArraySize(parts) == 1) {
		t = g_part_text(r, parts->child, translate_rq_path(p, path, NULL, 0));
		return t ? cJSON_CreateString(t) : NULL;
	}
	blocks = cJSON_CreateArray();
	cJSON_ArrayForEach(it, parts)
	{
		t = g_part_text(r, it, translate_rq_path(p, path, NULL, i++));
		if (!t)
			break;
		translate_rq_text_block(r, blocks, t);
	}
	if (r->c.rc) {
		cJSON_Delete(blocks);
		return NULL;
	}
	return blocks;
}

static void g_message(struct translate_rq *r, cJSON *msgs, const char *role, cJSON *content)
{
	cJSON *m;

	if (!content)
		return;
	m = translate_push(&r->c, msgs, cJSON_CreateObject());
	translate_add(&r->c, m, "role", cJSON_CreateString(role));
	translate_add(&r->c, m, "content", content);
}

static void g_system(struct translate_rq *r, const cJSON *si, cJSON *msgs)
{
	static const char *const allowed[] = {"parts", "role", NULL};

	if (!cJSON_IsObject(si)) {
		translate_rq_invalid(r, "systemInstruction", "expected a Content object");
		return;
	}
	if (translate_rq_keys(r, si, allowed, "systemInstruction") ||
	    g_once(r, si, "systemInstruction"))
		return;
	g_message(r, msgs, "system",
		  g_content(r, g_member(si, "parts"), "systemInstruction.parts"));
}

/* contents[I]: role user (or none) -> user, model -> assistant. */
static void g_turn(struct translate_rq *r, const cJSON *c, int i, cJSON *msgs)
{
	static const char *const allowed[] = {"parts", "role", NULL};
	const cJSON *role = g_member(c, "role");
	char p[TRANSLATE_PATH_MAX], base[TRANSLATE_PATH_MAX];
	const char *who = "user";

	translate_rq_path(base, "contents", NULL, i);
	if (!cJSON_IsObject(c)) {
		translate_rq_invalid(r, base, "expected a Content object");
		return;
	}
	if (translate_rq_keys(r, c, allowed, base) || g_once(r, c, base))
		return;
	if (role && (!cJSON_IsString(role) ||
		     (strcmp(role->valuestring, "user") && strcmp(role->valuestring, "model")))) {
		translate_rq_invalid(r, translate_rq_path(p, base, "role", -1),
				     "expected \"user\" or \"model\"");
		return;
	}
	if (role && !strcmp(role->valuestring, "model"))
		who = "assistant";
	g_message(r, msgs, who, g_content(r, g_member(c, "parts"), translate_rq_path(p, base,
										   "parts", -1)));
}

static void g_contents(struct translate_rq *r, const cJSON *contents, cJSON *msgs)
{
	const cJSON *it, *last;
	int i = 0;

	if (!cJSON_IsArray(contents) || !cJSON_GetArraySize(contents)) {
		translate_rq_invalid(r, "contents", "expected a non-empty array");
		return;
	}
	cJSON_ArrayForEach(it, contents)
	{
		g_turn(r, it, i++, msgs);
		if (r->c.rc)
			return;
	}
	last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
	if (last && !strcmp(translate_str(last, "role") ?: "", "assistant"))
		translate_fail(&r->c, -EOPNOTSUPP,
			       "contents[%d]: a final model turn (a prefill to continue) has no "
			       "%s counterpart",
			       i - 1, r->other);
}

/* ---- generationConfig ---- */

static int g_num(struct translate_rq *r, const cJSON *v, const char *path, double *ret)
{
	if (!cJSON_IsNumber(v))
		return translate_rq_invalid(r, path, "expected a number");
	*ret = v->valuedouble;
	return 0;
}

static void g_copy_num(struct translate_rq *r, const cJSON *v, const char *path,
		       const char *key)
{
	double d = 0;

	if (!g_num(r, v, path, &d))
		translate_add(&r->c, r->out, key, cJSON_CreateNumber(d));
}

static void g_stop(struct g2o *g, const cJSON *v, const char *path)
{
	struct translate_rq *r = g->r;
	cJSON *seqs = translate_rq_strings(r, v, path);

	if (seqs && g->to == TRANSLATE_OPENAI_CHAT && cJSON_GetArraySize(seqs) > G2O_MAX_STOP) {
		cJSON_Delete(seqs);
		translate_fail(&r->c, -EOPNOTSUPP, "%s: more than %d have no %s counterpart", path,
			       G2O_MAX_STOP, r->other);
		return;
	}
	if (seqs)
		translate_add(&r->c, r->out, "stop", seqs);
}

static void g_mime(struct translate_rq *r, const cJSON *v, const char *path)
{
	if (!cJSON_IsString(v) || strcmp(v->valuestring, "text/plain"))
		translate_fail(&r->c, -EOPNOTSUPP,
			       "%s: a format other than text/plain has no %s counterpart", path,
			       r->other);
}

/* One generationConfig member, or refused. */
static void g_config_member(struct g2o *g, const cJSON *v)
{
	struct translate_rq *r = g->r;
	char p[TRANSLATE_PATH_MAX];
	double d = 0;

	translate_rq_path(p, "generationConfig", v->string, -1);
	if (key_is(v->string, "maxOutputTokens"))
		g_copy_num(r, v, p, "max_completion_tokens");
	else if (key_is(v->string, "temperature"))
		g_copy_num(r, v, p, "temperature");
	else if (key_is(v->string, "topP"))
		g_copy_num(r, v, p, "top_p");
	else if (key_is(v->string, "seed"))
		g_copy_num(r, v, p, "seed");
	else if (key_is(v->string, "presencePenalty"))
		g_copy_num(r, v, p, "presence_penalty");
	else if (key_is(v->string, "frequencyPenalty"))
		g_copy_num(r, v, p, "frequency_penalty");
	else if (key_is(v->string, "stopSequences"))
		g_stop(g, v, p);
	else if (key_is(v->string, "responseMimeType"))
		g_mime(r, v, p);
	else if (key_is(v->string, "candidateCount")) {
		if (!g_num(r, v, p, &d) && d != 1)
			translate_fail(&r->c, -EOPNOTSUPP, "%s other than 1 has no %s counterpart",
				       p, r->other);
	} else if (key_is(v->string, "topK") && g->to == TRANSLATE_ANTHROPIC_MESSAGES) {
		if (g_num(r, v, p, &d))
			return;
		if (d < 0 || d != (int)d) /* Anthropic's top_k is one */
			translate_rq_invalid(r, p, "expected a non-negative integer");
		else /* in OpenAI's form on to Anthropic (via_openai) */
			translate_add(&r->c, r->out, "top_k", cJSON_CreateNumber(d));
	} else {
		translate_rq_refuse(r, p);
	}
}

static void g_config(struct g2o *g, const cJSON *cfg)
{
	const cJSON *it;

	if (!cJSON_IsObject(cfg)) {
		translate_rq_invalid(g->r, "generationConfig", "expected an object");
		return;
	}
	cJSON_ArrayForEach(it, cfg)
	{
		if (!cJSON_IsNull(it))
			g_config_member(g, it);
		if (g->r->c.rc)
			return;
	}
	g_once(g->r, cfg, "generationConfig");
}

/*
 * safetySettings: thresholds of Gemini's own content filters. One that only relaxes them
 * (BLOCK_NONE, OFF) asks nothing the target would not do (its own filters stay): dropped,
 * noted. One that blocks more would be silently lost: refused.
 */
static void g_safety(struct translate_rq *r, const cJSON *v)
{
	char p[TRANSLATE_PATH_MAX];
	const cJSON *it, *th;
	int i = 0;

	if (!cJSON_IsArray(v)) {
		translate_rq_invalid(r, "safetySettings", "expected an array");
		return;
	}
	cJSON_ArrayForEach(it, v)
	{
		th = g_member(it, "threshold");
		if (!cJSON_IsString(th) ||
		    (strcmp(th->valuestring, "BLOCK_NONE") && strcmp(th->valuestring, "OFF"))) {
			translate_rq_path(p, "safetySettings", NULL, i);
			translate_fail(&r->c, -EOPNOTSUPP,
				       "%s: a blocking threshold has no %s counterpart", p,
				       r->other);
			return;
		}
		i++;
	}
	translate_note(&r->c, "safetySettings (none blocking) dropped");
}

/* The top level: contents, systemInstruction, generationConfig, safetySettings; any other
 * member (tools, toolConfig, cachedContent, ...) is refused. */
static void g_request(struct g2o *g, const char *model, int stream)
{
	struct translate_rq *r = g->r;
	const cJSON *it;
	cJSON *msgs;

	translate_add(&r->c, r->out, "model", cJSON_CreateString(model ? model : ""));
	msgs = translate_add(&r->c, r->out, "messages", cJSON_CreateArray());
	if (!msgs)
		return;
	if (g_member(r->in, "systemInstruction"))
		g_system(r, g_member(r->in, "systemInstruction"), msgs);
	cJSON_ArrayForEach(it, r->in)
	{
		if (r->c.rc || cJSON_IsNull(it))
			continue;
		if (key_is(it->string, "systemInstruction") || key_is(it->string, "contents"))
			continue;
		if (key_is(it->string, "generationConfig"))
			g_config(g, it);
		else if (key_is(it->string, "safetySettings"))
			g_safety(r, it);
		else
			translate_rq_refuse(r, it->string);
	}
	if (!r->c.rc && !g_once(r, r->in, NULL))
		g_contents(r, g_member(r->in, "contents"), msgs);
	if (stream) { /* usage comes in a last chunk only when asked for */
		cJSON *o;

		translate_add(&r->c, r->out, "stream", cJSON_CreateTrue());
		o = translate_add(&r->c, r->out, "stream_options", cJSON_CreateObject());
		if (o)
			translate_add(&r->c, o, "include_usage", cJSON_CreateTrue());
	}
}

/* ---- entry point ---- */

/* Gemini -> OpenAI's form into *RET; refusals name OTHER. */
static int g2o_run(struct g2o *g, const char *other, const char *in, size_t len,
		   const char *model, int stream, struct translate_req *ret)
{
	struct translate_rq r = {.res = ret, .app = TRANSLATE_GEMINI_GENERATE, .other = other};
	int rc;

	memset(ret, 0, sizeof(*ret));
	g->r = &r;
	r.c.err = ret->error;
	r.c.errlen = sizeof(ret->error);
	r.c.notes = ret->notes;
	r.c.noteslen = sizeof(ret->notes);
	r.in = translate_parse_object(in, len);
	if (!r.in)
		return translate_fail(&r.c, -EBADMSG, "the request body is not a JSON object");
	r.out = cJSON_CreateObject();
	if (r.out)
		g_request(g, model, stream);
	rc = r.out ? translate_status(&r.c) : -ENOMEM;
	if (!rc && !(ret->body = translate_print(r.out, &ret->len)))
		rc = -ENOMEM;
	if (rc == -ENOMEM && !ret->error[0])
		snprintf(ret->error, sizeof(ret->error), "out of memory");
	ret->stream = stream;
	cJSON_Delete((cJSON *)r.in);
	cJSON_Delete(r.out);
	return rc;
}

int translate_request_from_gemini(enum translate_api to, const char *in, size_t len,
				  const char *model, int stream, unsigned int max_tokens_default,
				  struct translate_req *ret)
{
	struct g2o g = {.to = to};
	struct translate_req mid;
	int rc;

	if (to != TRANSLATE_OPENAI_CHAT && to != TRANSLATE_ANTHROPIC_MESSAGES) {
		memset(ret, 0, sizeof(*ret));
		snprintf(ret->error, sizeof(ret->error),
			 "Gemini requests are translated to OpenAI or Anthropic only");
		return -EOPNOTSUPP;
	}
	if (to == TRANSLATE_OPENAI_CHAT)
		return g2o_run(&g, "OpenAI", in, len, model, stream, ret);
	rc = g2o_run(&g, "Anthropic", in, len, model, stream, &mid);
	if (rc) {
		*ret = mid;
		return rc;
	}
	rc = translate_rq_from_middle(&mid, TRANSLATE_ANTHROPIC_MESSAGES, "Anthropic", model,
				      max_tokens_default, ret);
	translate_req_release(&mid);
	return rc;
}
