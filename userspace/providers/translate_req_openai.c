/*
 * translate_req_openai.c: an OpenAI chat completions request -> an Anthropic messages request:
 * system/developer messages to system, tool messages to tool_result blocks in user turns,
 * tool_calls to tool_use blocks, images, tools and tool_choice, and the table of top-level
 * fields (see translate.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/translate_req.h"

struct o2a {
	struct translate_rq *r;
	cJSON *system;		/* text blocks */
	const char *sys_string; /* the first system message, when its content was a string */
	int n_system;		/* system/developer messages */
	int turns;		/* other messages seen so far */
	cJSON *msgs;
	cJSON *last; /* the last message in msgs */
};

static void o_temperature(struct translate_rq *r, const cJSON *v, const char *key)
{
	if (cJSON_IsNumber(v) && v->valuedouble > 1) {
		translate_fail(&r->c, -EOPNOTSUPP,
			       "temperature %g has no Anthropic counterpart (its range is 0..1)",
			       v->valuedouble);
		return;
	}
	translate_rq_number(r, v, key);
}

static void o_stop(struct translate_rq *r, const cJSON *v, const char *key)
{
	cJSON *seqs = translate_rq_strings(r, v, key);

	if (seqs)
		translate_add(&r->c, r->out, "stop_sequences", seqs);
}

static void o_response_format(struct translate_rq *r, const cJSON *v, const char *key)
{
	const char *type = translate_str(v, "type");

	if (!type || strcmp(type, "text")) {
		translate_fail(&r->c, -EOPNOTSUPP,
			       "%s %s has no Anthropic counterpart (no JSON mode)", key,
			       type ? type : "?");
	}
}

static const struct translate_rq_field o2a_fields[] = {
    {"model", NULL},
    {"messages", NULL},
    {"max_tokens", NULL},
    {"max_completion_tokens", NULL},
    {"tools", NULL},
    {"tool_choice", NULL},
    {"parallel_tool_calls", NULL},
    {"temperature", o_temperature},
    {"top_p", translate_rq_number},
    {"top_k", translate_rq_top_k}, /* a Gemini app's topK, carried in OpenAI's form */
    {"stop", o_stop},
    {"stream", translate_rq_stream},
    {"user", translate_rq_user},
    {"safety_identifier", translate_rq_user},
    {"seed", translate_rq_drop},
    {"response_format", o_response_format},
    TRANSLATE_RQ_OPENAI_SHARED_FIELDS,
    {NULL, NULL},
};

/* Appends a message; consecutive messages of one role become one turn (Anthropic merges them
 * anyway, and tool results must share the user turn). CONTENT is a string or blocks, owned. */
static void o2a_append(struct o2a *o, const char *role, cJSON *content)
{
	struct translate_ctx *c = &o->r->c;
	cJSON *have, *blocks, *it;

	if (!content) {
		c->oom = 1;
		return;
	}
	if (!o->last || !translate_str(o->last, "role") ||
	    strcmp(translate_str(o->last, "role"), role)) {
		o->last = translate_push(c, o->msgs, cJSON_CreateObject());
		translate_add(c, o->last, "role", cJSON_CreateString(role));
		translate_add(c, o->last, "content", content);
		return;
	}
	have = cJSON_GetObjectItemCaseSensitive(o->last, "content");
	if (cJSON_IsString(have)) {
		blocks = cJSON_CreateArray();
		if (*have->valuestring)
			translate_rq_text_block(o->r, blocks, have->valuestring);
		if (!blocks ||
		    !cJSON_ReplaceItemInObjectCaseSensitive(o->last, "content", blocks)) {
			cJSON_Delete(blocks);
			cJSON_Delete(content);
			c->oom = 1;
			return;
		}
		have = blocks;
	}
	if (cJSON_IsString(content)) {
		if (*content->valuestring)
			translate_rq_text_block(o->r, have, content->valuestring);
		cJSON_Delete(content);
		return;
	}
	while ((it = cJSON_DetachItemFromArray(content, 0)))
		translate_push(c, have, it);
	cJSON_Delete(content);
}

/* Text parts (system, developer, tool, and assistant's text/refusal parts) -> text blocks. */
static void o2a_text_parts(struct o2a *o, const cJSON *content, const char *path, cJSON *blocks)
{
	static const char *const keys[] = {"type", "text", "refusal", NULL};
	char p[TRANSLATE_PATH_MAX];
	const cJSON *it;
	const char *type, *text;
	int i = 0;

	cJSON_ArrayForEach(it, content)
	{
		translate_rq_path(p, path, "content", i++);
		type = translate_str(it, "type");
		text = translate_str(it, type && !strcmp(type, "refusal") ? "refusal" : "text");
		if (!type || (strcmp(type, "text") && strcmp(type, "refusal")) || !text) {
			if (type && strcmp(type, "text") && strcmp(type, "refusal"))
				translate_rq_refuse(o->r, p);
			else
				translate_rq_invalid(o->r, p, "expected a text part");
			return;
		}
		if (translate_rq_keys(o->r, it, keys, p))
			return;
		if (*text)
			translate_rq_text_block(o->r, blocks, text);
	}
}

static void o2a_system(struct o2a *o, const cJSON *m, const char *path)
{
	static const char *const keys[] = {"role", "content", NULL};
	const cJSON *content = translate_get(m, "content");

	if (translate_rq_keys(o->r, m, keys, path))
		return;
	if (o->turns)
		translate_note(&o->r->c, "a system message after the first turn moved to system");
	if (cJSON_IsString(content)) {
		if (!o->n_system)
			o->sys_string = content->valuestring;
		if (*content->valuestring)
			translate_rq_text_block(o->r, o->system, content->valuestring);
	} else if (cJSON_IsArray(content)) {
		o2a_text_parts(o, content, path, o->system);
	} else {
		translate_rq_invalid(o->r, path, "content: expected a string or an array");
	}
	o->n_system++;
}

/* data:image/png;base64,XXXX -> a base64 source; http(s) URL -> a url source. */
static cJSON *o2a_image_source(struct o2a *o, const char *url, const char *path)
{
	static const char *const types[] = {"image/jpeg", "image/png", "image/gif", "image/webp"};
	struct translate_ctx *c = &o->r->c;
	const char *semi, *data;
	cJSON *src;
	size_t i;

	if (!strncmp(url, "https://", 8) || !strncmp(url, "http://", 7)) {
		src = translate_typed(c, "url");
		translate_add(c, src, "url", cJSON_CreateString(url));
		return src;
	}
	semi = strncmp(url, "data:", 5) ? NULL : strchr(url, ';');
	if (!semi || strncmp(semi, ";base64,", 8)) {
		translate_rq_invalid(o->r, path, "expected an http(s) URL or a base64 data: URL");
		return NULL;
	}
	data = semi + 8;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i]) == (size_t)(semi - url - 5) &&
		    !strncmp(url + 5, types[i], semi - url - 5))
			break;
	if (i == sizeof(types) / sizeof(types[0])) {
		translate_fail(c, -EOPNOTSUPP, "%s: Anthropic takes jpeg, png, gif and webp images",
			       path);
		return NULL;
	}
	src = translate_typed(c, "base64");
	translate_add(c, src, "media_type", cJSON_CreateString(types[i]));
	translate_add(c, src, "data", cJSON_CreateString(data));
	return src;
}

static void o2a_image(struct o2a *o, const cJSON *part, const char *path, cJSON *blocks)
{
	static const char *const keys[] = {"type", "image_url", NULL};
	static const char *const url_keys[] = {"url", "detail", NULL};
	const cJSON *iu = translate_get(part, "image_url");
	const char *url = translate_str(iu, "url"), *detail = translate_str(iu, "detail");
	char p[TRANSLATE_PATH_MAX];
	cJSON *b, *src;

	translate_rq_path(p, path, "image_url", -1);
	if (translate_rq_keys(o->r, part, keys, path) || translate_rq_keys(o->r, iu, url_keys, p))
		return;
	if (!url) {
		translate_rq_invalid(o->r, p, "url: expected a string");
		return;
	}
	if (detail && strcmp(detail, "auto"))
		translate_note(&o->r->c, "image_url.detail dropped");
	src = o2a_image_source(o, url, p);
	if (!src)
		return;
	b = translate_push(&o->r->c, blocks, translate_typed(&o->r->c, "image"));
	translate_add(&o->r->c, b, "source", src);
}

static void o2a_user(struct o2a *o, const cJSON *m, const char *path)
{
	static const char *const keys[] = {"role", "content", NULL};
	static const char *const text_keys[] = {"type", "text", NULL};
	const cJSON *content = translate_get(m, "content"), *it;
	char p[TRANSLATE_PATH_MAX];
	const char *type;
	cJSON *blocks;
	int i = 0;

	if (translate_rq_keys(o->r, m, keys, path))
		return;
	if (cJSON_IsString(content)) {
		o2a_append(o, "user", cJSON_CreateString(content->valuestring));
		return;
	}
	if (!cJSON_IsArray(content)) {
		translate_rq_invalid(o->r, path, "content: expected a string or an array");
		return;
	}
	blocks = cJSON_CreateArray();
	cJSON_ArrayForEach(it, content)
	{
		translate_rq_path(p, path, "content", i++);
		type = translate_str(it, "type");
		if (type && !strcmp(type, "text") && translate_str(it, "text")) {
			if (!translate_rq_keys(o->r, it, text_keys, p) &&
			    *translate_str(it, "text"))
				translate_rq_text_block(o->r, blocks, translate_str(it, "text"));
		} else if (type && !strcmp(type, "image_url")) {
			o2a_image(o, it, p, blocks);
		} else if (type) {
			translate_rq_refuse(o->r, p); /* input_audio, file */
		} else {
			translate_rq_invalid(o->r, p, "expected a content part");
		}
		if (o->r->c.rc)
			break;
	}
	if (o->r->c.rc) {
		cJSON_Delete(blocks);
		return;
	}
	o2a_append(o, "user", blocks);
}

/* arguments (JSON text) -> input (an object). */
static void o2a_tool_call(struct o2a *o, const cJSON *tc, const char *path, cJSON *blocks)
{
	const char *id = NULL, *name = NULL;
	cJSON *b, *input = translate_rq_tool_call(o->r, tc, path, &id, &name);

	if (!input)
		return;
	b = translate_push(&o->r->c, blocks, translate_typed(&o->r->c, "tool_use"));
	translate_add(&o->r->c, b, "id", cJSON_CreateString(id));
	translate_add(&o->r->c, b, "name", cJSON_CreateString(name));
	translate_add(&o->r->c, b, "input", input);
}

static void o2a_assistant_calls(struct o2a *o, const cJSON *calls, const char *path, cJSON *blocks)
{
	char p[TRANSLATE_PATH_MAX];
	const cJSON *it;
	int i = 0;

	if (!cJSON_IsArray(calls)) {
		translate_rq_invalid(o->r, path, "tool_calls: expected an array");
		return;
	}
	cJSON_ArrayForEach(it, calls)
	{
		translate_rq_path(p, path, "tool_calls", i++);
		o2a_tool_call(o, it, p, blocks);
		if (o->r->c.rc)
			return;
	}
}

static void o2a_assistant(struct o2a *o, const cJSON *m, const char *path)
{
	static const char *const keys[] = {"role",    "content",     "tool_calls",
					   "refusal", "annotations", NULL};
	const cJSON *content = translate_get(m, "content"), *calls = translate_get(m, "tool_calls");
	const cJSON *notes = translate_get(m, "annotations");
	const char *refusal = translate_str(m, "refusal");
	cJSON *blocks;

	if (translate_rq_keys(o->r, m, keys, path))
		return;
	if (cJSON_GetArraySize(notes))
		translate_note(&o->r->c, "assistant annotations dropped");
	if (cJSON_IsString(content) && !calls && !refusal) {
		o2a_append(o, "assistant", cJSON_CreateString(content->valuestring));
		return;
	}
	blocks = cJSON_CreateArray();
	if (cJSON_IsString(content) && *content->valuestring)
		translate_rq_text_block(o->r, blocks, content->valuestring);
	else if (cJSON_IsArray(content))
		o2a_text_parts(o, content, path, blocks);
	else if (content && !cJSON_IsString(content))
		translate_rq_invalid(o->r, path, "content: expected a string, an array or null");
	if (refusal && *refusal)
		translate_rq_text_block(o->r, blocks, refusal);
	if (calls && !o->r->c.rc)
		o2a_assistant_calls(o, calls, path, blocks);
	if (o->r->c.rc) {
		cJSON_Delete(blocks);
		return;
	}
	o2a_append(o, "assistant", blocks);
}

static void o2a_tool(struct o2a *o, const cJSON *m, const char *path)
{
	static const char *const keys[] = {"role", "content", "tool_call_id", NULL};
	const cJSON *content = translate_get(m, "content");
	const char *id = translate_str(m, "tool_call_id");
	cJSON *blocks, *b, *inner;

	if (translate_rq_keys(o->r, m, keys, path))
		return;
	if (!id) {
		translate_rq_invalid(o->r, path, "tool_call_id: expected a string");
		return;
	}
	blocks = cJSON_CreateArray();
	b = translate_push(&o->r->c, blocks, translate_typed(&o->r->c, "tool_result"));
	translate_add(&o->r->c, b, "tool_use_id", cJSON_CreateString(id));
	if (cJSON_IsString(content)) {
		translate_add(&o->r->c, b, "content", cJSON_CreateString(content->valuestring));
	} else if (cJSON_IsArray(content)) {
		inner = translate_add(&o->r->c, b, "content", cJSON_CreateArray());
		o2a_text_parts(o, content, path, inner);
	} else if (content) {
		translate_rq_invalid(o->r, path, "content: expected a string or an array");
	}
	if (o->r->c.rc) {
		cJSON_Delete(blocks);
		return;
	}
	o2a_append(o, "user", blocks);
}

static void o2a_message(struct o2a *o, const cJSON *m, int i)
{
	const char *role = translate_str(m, "role");
	char path[TRANSLATE_PATH_MAX];

	translate_rq_path(path, "messages", NULL, i);
	if (!role) {
		translate_rq_invalid(o->r, path, "role: expected a string");
		return;
	}
	if (!strcmp(role, "system") || !strcmp(role, "developer")) {
		o2a_system(o, m, path);
		return;
	}
	o->turns++;
	if (!strcmp(role, "user"))
		o2a_user(o, m, path);
	else if (!strcmp(role, "assistant"))
		o2a_assistant(o, m, path);
	else if (!strcmp(role, "tool"))
		o2a_tool(o, m, path);
	else
		translate_rq_refuse(o->r, path); /* "function" (legacy) */
}

static void o2a_system_out(struct o2a *o)
{
	struct translate_ctx *c = &o->r->c;

	if (o->n_system == 1 && o->sys_string) {
		translate_add(c, o->r->out, "system", cJSON_CreateString(o->sys_string));
		cJSON_Delete(o->system);
	} else if (cJSON_GetArraySize(o->system)) {
		translate_add(c, o->r->out, "system", o->system);
	} else {
		cJSON_Delete(o->system);
	}
	o->system = NULL;
}

static void o2a_messages(struct translate_rq *r)
{
	const cJSON *msgs = translate_get(r->in, "messages"), *it, *last = NULL;
	struct o2a o = {.r = r};
	int i = 0;

	if (!cJSON_IsArray(msgs)) {
		translate_rq_invalid(r, "messages", "expected an array");
		return;
	}
	o.system = cJSON_CreateArray();
	o.msgs = cJSON_CreateArray();
	cJSON_ArrayForEach(it, msgs)
	{
		o2a_message(&o, it, i++);
		if (r->c.rc)
			break;
		last = it;
	}
	if (!r->c.rc && last && !strcmp(translate_str(last, "role"), "assistant"))
		translate_fail(&r->c, -EOPNOTSUPP,
			       "messages[%d]: a final assistant message would be continued as a "
			       "prefill by Anthropic",
			       i - 1);
	o2a_system_out(&o);
	translate_add(&r->c, r->out, "messages", o.msgs);
}

static void o2a_max_tokens(struct translate_rq *r)
{
	const cJSON *v = translate_get(r->in, "max_completion_tokens");
	const char *key = "max_completion_tokens";
	char note[80];

	if (!v) {
		v = translate_get(r->in, "max_tokens");
		key = "max_tokens";
	}
	if (v && !cJSON_IsNumber(v)) {
		translate_rq_invalid(r, key, "expected an integer");
		return;
	}
	if (v) {
		translate_add(&r->c, r->out, "max_tokens", cJSON_CreateNumber(v->valuedouble));
		return;
	}
	snprintf(note, sizeof(note), "max_tokens defaulted to %u (Anthropic requires it)",
		 r->max_default);
	translate_note(&r->c, note);
	translate_add(&r->c, r->out, "max_tokens", cJSON_CreateNumber(r->max_default));
}

static void o2a_tool_def(struct translate_rq *r, const cJSON *t, int i, cJSON *tools)
{
	static const char *const keys[] = {"type", "function", NULL};
	static const char *const fn_keys[] = {"name", "description", "parameters", "strict", NULL};
	const cJSON *fn = translate_get(t, "function"), *params = translate_get(fn, "parameters");
	const char *type = translate_str(t, "type"), *name = translate_str(fn, "name");
	const char *desc = translate_str(fn, "description");
	char path[TRANSLATE_PATH_MAX], p[TRANSLATE_PATH_MAX];
	cJSON *o, *schema;

	translate_rq_path(path, "tools", NULL, i);
	translate_rq_path(p, path, "function", -1);
	if (!type || strcmp(type, "function")) {
		translate_rq_refuse(r, path);
		return;
	}
	if (cJSON_IsTrue(translate_get(fn, "strict"))) {
		translate_rq_path(p, path, "function.strict", -1);
		translate_rq_refuse(r, p);
		return;
	}
	if (translate_rq_keys(r, t, keys, path) || translate_rq_keys(r, fn, fn_keys, p))
		return;
	if (!name || (params && !cJSON_IsObject(params))) {
		translate_rq_invalid(r, p, "expected a name and an object of parameters");
		return;
	}
	o = translate_push(&r->c, tools, cJSON_CreateObject());
	translate_add(&r->c, o, "name", cJSON_CreateString(name));
	if (desc)
		translate_add(&r->c, o, "description", cJSON_CreateString(desc));
	schema = params ? translate_dup(&r->c, params) : cJSON_CreateObject();
	if (!params) {
		translate_add(&r->c, schema, "type", cJSON_CreateString("object"));
		translate_add(&r->c, schema, "properties", cJSON_CreateObject());
	}
	translate_add(&r->c, o, "input_schema", schema);
}

static cJSON *o2a_tool_choice(struct translate_rq *r, const cJSON *v)
{
	static const char *const keys[] = {"type", "function", NULL};
	const char *s = cJSON_GetStringValue(v), *type = translate_str(v, "type"), *name;
	cJSON *o;

	if (s && (!strcmp(s, "auto") || !strcmp(s, "none")))
		return translate_typed(&r->c, s);
	if (s && !strcmp(s, "required"))
		return translate_typed(&r->c, "any");
	name = translate_str(translate_get(v, "function"), "name");
	if (type && !strcmp(type, "function") && name &&
	    !translate_rq_keys(r, v, keys, "tool_choice")) {
		o = translate_typed(&r->c, "tool");
		translate_add(&r->c, o, "name", cJSON_CreateString(name));
		return o;
	}
	if (!r->c.rc)
		translate_rq_refuse(r, "tool_choice"); /* allowed_tools, custom */
	return NULL;
}

static void o2a_tools(struct translate_rq *r)
{
	const cJSON *tools = translate_get(r->in, "tools"), *choice, *par, *it;
	cJSON *out, *tc = NULL;
	int i = 0;

	choice = translate_get(r->in, "tool_choice");
	par = translate_get(r->in, "parallel_tool_calls");
	if (tools && !cJSON_IsArray(tools)) {
		translate_rq_invalid(r, "tools", "expected an array");
		return;
	}
	if (cJSON_GetArraySize(tools)) {
		out = translate_add(&r->c, r->out, "tools", cJSON_CreateArray());
		cJSON_ArrayForEach(it, tools)
		{
			o2a_tool_def(r, it, i++, out);
		}
	}
	if (choice && !r->c.rc && !cJSON_GetArraySize(tools)) {
		cJSON_Delete(o2a_tool_choice(r, choice)); /* checked, then nothing to choose from */
		if (!r->c.rc)
			translate_rq_choice_without_tools(r, "tool_choice",
							  translate_rq_openai_choice_forces(choice));
		return;
	}
	if (choice && !r->c.rc)
		tc = translate_add(&r->c, r->out, "tool_choice", o2a_tool_choice(r, choice));
	if (!cJSON_IsFalse(par) || !cJSON_GetArraySize(tools) || r->c.rc)
		return;
	if (!tc)
		tc = translate_add(&r->c, r->out, "tool_choice", translate_typed(&r->c, "auto"));
	if (tc && strcmp(translate_str(tc, "type"), "none"))
		translate_add(&r->c, tc, "disable_parallel_tool_use", cJSON_CreateTrue());
}

void translate_rq_from_openai(struct translate_rq *r, const char *model)
{
	cJSON *meta;

	translate_add(&r->c, r->out, "model", cJSON_CreateString(model));
	o2a_max_tokens(r);
	if (!r->c.rc)
		o2a_messages(r);
	if (!r->c.rc)
		translate_rq_fields(r, o2a_fields);
	if (!r->c.rc)
		o2a_tools(r);
	if (r->user && !r->c.rc) {
		meta = translate_add(&r->c, r->out, "metadata", cJSON_CreateObject());
		translate_add(&r->c, meta, "user_id", cJSON_CreateString(r->user));
	}
}
