/*
 * translate_req_anthropic.c: an Anthropic messages request -> an OpenAI chat completions
 * request: system to a system message, tool_result blocks to tool messages, tool_use blocks to
 * tool_calls, images, tools and tool_choice, and the table of top-level fields (see
 * translate.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/translate_req.h"

static void cache_note(struct translate_rq *r, const cJSON *o)
{
	if (translate_get(o, "cache_control"))
		translate_note(&r->c, "cache_control dropped");
}

static void a_stop(struct translate_rq *r, const cJSON *v, const char *key)
{
	const cJSON *it;

	if (!cJSON_IsArray(v)) {
		translate_rq_invalid(r, key, "expected an array of strings");
		return;
	}
	cJSON_ArrayForEach(it, v)
	{
		if (!cJSON_IsString(it)) {
			translate_rq_invalid(r, key, "expected an array of strings");
			return;
		}
	}
	if (cJSON_GetArraySize(v) > 4) {
		translate_fail(&r->c, -EOPNOTSUPP, "stop_sequences: OpenAI takes at most 4");
		return;
	}
	if (cJSON_GetArraySize(v))
		translate_add(&r->c, r->out, "stop", translate_dup(&r->c, v));
}

static void a_metadata(struct translate_rq *r, const cJSON *v, const char *key)
{
	static const char *const keys[] = {"user_id", NULL};
	const char *user = translate_str(v, "user_id");

	if (!cJSON_IsObject(v)) {
		translate_rq_invalid(r, key, "expected an object");
		return;
	}
	if (translate_rq_keys(r, v, keys, key))
		return;
	if (user)
		translate_add(&r->c, r->out, "user", cJSON_CreateString(user));
}

static void a_thinking(struct translate_rq *r, const cJSON *v, const char *key)
{
	const char *type = translate_str(v, "type");

	if (!type || strcmp(type, "disabled"))
		translate_rq_refuse(r, key);
}

static const struct translate_rq_field a2o_fields[] = {
    {"model", NULL},
    {"messages", NULL},
    {"max_tokens", NULL},
    {"system", NULL},
    {"tools", NULL},
    {"tool_choice", NULL},
    {"stop_sequences", a_stop},
    {"stream", translate_rq_stream},
    {"temperature", translate_rq_number},
    {"top_p", translate_rq_number},
    {"top_k", translate_rq_top_k},
    {"metadata", a_metadata},
    {"service_tier", translate_rq_drop},
    {"thinking", a_thinking},
    {NULL, NULL},
};

struct a2o {
	struct translate_rq *r;
	cJSON *msgs;
};

static cJSON *a2o_message(struct a2o *a, const char *role, cJSON *content)
{
	cJSON *m = translate_push(&a->r->c, a->msgs, cJSON_CreateObject());

	translate_add(&a->r->c, m, "role", cJSON_CreateString(role));
	translate_add(&a->r->c, m, "content", content);
	return m;
}

static cJSON *text_part(struct translate_rq *r, const char *text)
{
	cJSON *p = translate_typed(&r->c, "text");

	translate_add(&r->c, p, "text", cJSON_CreateString(text));
	return p;
}

/* Text blocks (system, tool_result content) -> text parts. */
static void a2o_text_blocks(struct translate_rq *r, const cJSON *blocks, const char *path,
			    cJSON *parts)
{
	static const char *const keys[] = {"type", "text", "cache_control", NULL};
	char p[TRANSLATE_PATH_MAX];
	const cJSON *it;
	const char *type;
	int i = 0;

	cJSON_ArrayForEach(it, blocks)
	{
		translate_rq_path(p, path, NULL, i++);
		type = translate_str(it, "type");
		if (type && strcmp(type, "text")) {
			translate_rq_refuse(r, p);
			return;
		}
		if (!translate_str(it, "text")) {
			translate_rq_invalid(r, p, "expected a text block");
			return;
		}
		if (translate_rq_keys(r, it, keys, p))
			return;
		cache_note(r, it);
		translate_push(&r->c, parts, text_part(r, translate_str(it, "text")));
	}
}

static void a2o_system(struct a2o *a)
{
	const cJSON *sys = translate_get(a->r->in, "system");
	cJSON *parts;

	if (cJSON_IsString(sys)) {
		a2o_message(a, "system", cJSON_CreateString(sys->valuestring));
		return;
	}
	if (sys && !cJSON_IsArray(sys)) {
		translate_rq_invalid(a->r, "system",
				     "expected a string or an array of text blocks");
		return;
	}
	if (!cJSON_GetArraySize(sys))
		return;
	parts = cJSON_CreateArray();
	a2o_text_blocks(a->r, sys, "system", parts);
	if (a->r->c.rc) {
		cJSON_Delete(parts);
		return;
	}
	a2o_message(a, "system", parts);
}

static cJSON *a2o_image(struct translate_rq *r, const cJSON *b, const char *path)
{
	static const char *const keys[] = {"type", "source", "cache_control", NULL};
	const cJSON *src = translate_get(b, "source");
	const char *type = translate_str(src, "type"), *mt = translate_str(src, "media_type");
	const char *data = translate_str(src, "data"), *url = translate_str(src, "url");
	cJSON *part, *iu;
	char *s = NULL;

	if (translate_rq_keys(r, b, keys, path))
		return NULL;
	cache_note(r, b);
	if (type && !strcmp(type, "base64") && mt && data) {
		if (asprintf(&s, "data:%s;base64,%s", mt, data) < 0) {
			r->c.oom = 1;
			return NULL;
		}
		url = s;
	} else if (!type || strcmp(type, "url") || !url) {
		translate_fail(&r->c, type && !strcmp(type, "file") ? -EOPNOTSUPP : -EINVAL,
			       "%s.source: expected base64 data or a url", path);
		return NULL;
	}
	part = translate_typed(&r->c, "image_url");
	iu = translate_add(&r->c, part, "image_url", cJSON_CreateObject());
	translate_add(&r->c, iu, "url", cJSON_CreateString(url));
	free(s);
	return part;
}

static void a2o_tool_result(struct a2o *a, const cJSON *b, const char *path)
{
	static const char *const keys[] = {"type",     "tool_use_id",	"content",
					   "is_error", "cache_control", NULL};
	const cJSON *content = translate_get(b, "content");
	const char *id = translate_str(b, "tool_use_id");
	char p[TRANSLATE_PATH_MAX];
	cJSON *m, *parts;

	if (translate_rq_keys(a->r, b, keys, path))
		return;
	if (cJSON_IsTrue(translate_get(b, "is_error"))) {
		translate_rq_path(p, path, "is_error", -1);
		translate_rq_refuse(a->r, p);
		return;
	}
	if (!id) {
		translate_rq_invalid(a->r, path, "tool_use_id: expected a string");
		return;
	}
	cache_note(a->r, b);
	translate_rq_path(p, path, "content", -1);
	if (content && !cJSON_IsString(content) && !cJSON_IsArray(content)) {
		translate_rq_invalid(a->r, p, "expected a string or an array");
		return;
	}
	if (cJSON_IsArray(content)) {
		parts = cJSON_CreateArray();
		a2o_text_blocks(a->r, content, p, parts); /* an image here is refused */
		if (a->r->c.rc) {
			cJSON_Delete(parts);
			return;
		}
	} else {
		parts = cJSON_CreateString(content ? content->valuestring : "");
	}
	m = translate_push(&a->r->c, a->msgs, cJSON_CreateObject());
	translate_add(&a->r->c, m, "role", cJSON_CreateString("tool"));
	translate_add(&a->r->c, m, "tool_call_id", cJSON_CreateString(id));
	translate_add(&a->r->c, m, "content", parts);
}

/* Flushes the user parts gathered so far as one user message. */
static void a2o_flush_user(struct a2o *a, cJSON **parts)
{
	if (*parts && cJSON_GetArraySize(*parts))
		a2o_message(a, "user", *parts);
	else
		cJSON_Delete(*parts);
	*parts = NULL;
}

static void a2o_user_block(struct a2o *a, const cJSON *b, const char *path, cJSON **parts)
{
	static const char *const text_keys[] = {"type", "text", "cache_control", NULL};
	const char *type = translate_str(b, "type");

	if (type && !strcmp(type, "tool_result")) {
		a2o_flush_user(a, parts);
		a2o_tool_result(a, b, path);
		return;
	}
	if (!*parts)
		*parts = cJSON_CreateArray();
	if (type && !strcmp(type, "text") && translate_str(b, "text")) {
		if (!translate_rq_keys(a->r, b, text_keys, path))
			translate_push(&a->r->c, *parts, text_part(a->r, translate_str(b, "text")));
		cache_note(a->r, b);
	} else if (type && !strcmp(type, "image")) {
		translate_push(&a->r->c, *parts, a2o_image(a->r, b, path));
	} else if (type) {
		translate_rq_refuse(a->r, path); /* document, search_result, ... */
	} else {
		translate_rq_invalid(a->r, path, "expected a content block");
	}
}

static void a2o_user(struct a2o *a, const cJSON *content, const char *path)
{
	char p[TRANSLATE_PATH_MAX];
	cJSON *parts = NULL;
	const cJSON *it;
	int i = 0;

	cJSON_ArrayForEach(it, content)
	{
		translate_rq_path(p, path, "content", i++);
		a2o_user_block(a, it, p, &parts);
		if (a->r->c.rc)
			break;
	}
	if (a->r->c.rc)
		cJSON_Delete(parts);
	else
		a2o_flush_user(a, &parts);
}

static void a2o_tool_use(struct translate_rq *r, const cJSON *b, const char *path, cJSON *calls)
{
	static const char *const keys[] = {"type", "id", "name", "input", "cache_control", NULL};
	const char *id = translate_str(b, "id"), *name = translate_str(b, "name");
	const cJSON *input = translate_get(b, "input");
	cJSON *call, *fn;
	char *args;

	if (translate_rq_keys(r, b, keys, path))
		return;
	if (!id || !name || !cJSON_IsObject(input)) {
		translate_rq_invalid(r, path, "expected id, name and an input object");
		return;
	}
	cache_note(r, b);
	args = cJSON_PrintUnformatted(input);
	call = translate_push(&r->c, calls, cJSON_CreateObject());
	translate_add(&r->c, call, "id", cJSON_CreateString(id));
	translate_add(&r->c, call, "type", cJSON_CreateString("function"));
	fn = translate_add(&r->c, call, "function", cJSON_CreateObject());
	translate_add(&r->c, fn, "name", cJSON_CreateString(name));
	translate_add(&r->c, fn, "arguments", args ? cJSON_CreateString(args) : NULL);
	free(args);
}

/* Assistant text parts -> content: null when none, a string for one, else the parts. */
static cJSON *a2o_assistant_content(cJSON *texts, int has_calls)
{
	cJSON *one;

	if (!cJSON_GetArraySize(texts)) {
		cJSON_Delete(texts);
		return has_calls ? cJSON_CreateNull() : cJSON_CreateString("");
	}
	if (cJSON_GetArraySize(texts) > 1)
		return texts;
	one = cJSON_CreateString(translate_str(texts->child, "text"));
	cJSON_Delete(texts);
	return one;
}

static void a2o_assistant_block(struct a2o *a, const cJSON *b, const char *path, cJSON *texts,
				cJSON *calls)
{
	static const char *const text_keys[] = {"type", "text", "cache_control", NULL};
	const char *type = translate_str(b, "type");

	if (type && !strcmp(type, "tool_use")) {
		a2o_tool_use(a->r, b, path, calls);
	} else if (type && !strcmp(type, "text") && translate_str(b, "text")) {
		if (cJSON_GetArraySize(calls)) {
			translate_fail(&a->r->c, -EOPNOTSUPP,
				       "%s: text after a tool_use has no OpenAI counterpart", path);
			return;
		}
		if (!translate_rq_keys(a->r, b, text_keys, path))
			translate_push(&a->r->c, texts, text_part(a->r, translate_str(b, "text")));
		cache_note(a->r, b);
	} else if (type) {
		translate_rq_refuse(a->r, path); /* thinking, server_tool_use, ... */
	} else {
		translate_rq_invalid(a->r, path, "expected a content block");
	}
}

static void a2o_assistant(struct a2o *a, const cJSON *content, const char *path)
{
	cJSON *texts = cJSON_CreateArray(), *calls = cJSON_CreateArray(), *m;
	char p[TRANSLATE_PATH_MAX];
	const cJSON *it;
	int i = 0;

	cJSON_ArrayForEach(it, content)
	{
		translate_rq_path(p, path, "content", i++);
		a2o_assistant_block(a, it, p, texts, calls);
		if (a->r->c.rc)
			break;
	}
	if (a->r->c.rc || !texts || !calls) {
		cJSON_Delete(texts);
		cJSON_Delete(calls);
		a->r->c.oom |= !a->r->c.rc;
		return;
	}
	m = a2o_message(a, "assistant", a2o_assistant_content(texts, cJSON_GetArraySize(calls)));
	if (cJSON_GetArraySize(calls))
		translate_add(&a->r->c, m, "tool_calls", calls);
	else
		cJSON_Delete(calls);
}

static void a2o_message_one(struct a2o *a, const cJSON *m, int i)
{
	static const char *const keys[] = {"role", "content", NULL};
	const char *role = translate_str(m, "role");
	const cJSON *content = translate_get(m, "content");
	char path[TRANSLATE_PATH_MAX];

	translate_rq_path(path, "messages", NULL, i);
	if (translate_rq_keys(a->r, m, keys, path))
		return;
	if (!role || (strcmp(role, "user") && strcmp(role, "assistant"))) {
		translate_rq_invalid(a->r, path, "role: expected user or assistant");
		return;
	}
	if (cJSON_IsString(content))
		a2o_message(a, role, cJSON_CreateString(content->valuestring));
	else if (!cJSON_IsArray(content))
		translate_rq_invalid(a->r, path, "content: expected a string or an array");
	else if (!strcmp(role, "user"))
		a2o_user(a, content, path);
	else
		a2o_assistant(a, content, path);
}

static void a2o_messages(struct translate_rq *r)
{
	const cJSON *msgs = translate_get(r->in, "messages"), *it, *last = NULL;
	struct a2o a = {.r = r};
	int i = 0;

	if (!cJSON_IsArray(msgs)) {
		translate_rq_invalid(r, "messages", "expected an array");
		return;
	}
	a.msgs = translate_add(&r->c, r->out, "messages", cJSON_CreateArray());
	a2o_system(&a);
	cJSON_ArrayForEach(it, msgs)
	{
		if (r->c.rc)
			return;
		a2o_message_one(&a, it, i++);
		last = it;
	}
	if (!r->c.rc && last && !strcmp(translate_str(last, "role"), "assistant"))
		translate_fail(&r->c, -EOPNOTSUPP,
			       "messages[%d]: a final assistant message (a prefill) has no OpenAI "
			       "counterpart",
			       i - 1);
}

static void a2o_tool_def(struct translate_rq *r, const cJSON *t, int i, cJSON *tools)
{
	static const char *const keys[] = {"type",	   "name",	    "description",
					   "input_schema", "cache_control", NULL};
	const char *type = translate_str(t, "type"), *name = translate_str(t, "name");
	const char *desc = translate_str(t, "description");
	const cJSON *schema = translate_get(t, "input_schema");
	char path[TRANSLATE_PATH_MAX];
	cJSON *o, *fn;

	translate_rq_path(path, "tools", NULL, i);
	if (type && strcmp(type, "custom")) {
		translate_fail(&r->c, -EOPNOTSUPP, "%s: server tool %s has no OpenAI counterpart",
			       path, type);
		return;
	}
	if (translate_rq_keys(r, t, keys, path))
		return;
	if (!name || !cJSON_IsObject(schema)) {
		translate_rq_invalid(r, path, "expected a name and an input_schema object");
		return;
	}
	cache_note(r, t);
	o = translate_push(&r->c, tools, translate_typed(&r->c, "function"));
	fn = translate_add(&r->c, o, "function", cJSON_CreateObject());
	translate_add(&r->c, fn, "name", cJSON_CreateString(name));
	if (desc)
		translate_add(&r->c, fn, "description", cJSON_CreateString(desc));
	translate_add(&r->c, fn, "parameters", translate_dup(&r->c, schema));
}

static cJSON *a2o_tool_choice(struct translate_rq *r, const cJSON *v, int *serial)
{
	static const char *const keys[] = {"type", "name", "disable_parallel_tool_use", NULL};
	const char *type = translate_str(v, "type"), *name = translate_str(v, "name");
	cJSON *o, *fn;

	if (!type || translate_rq_keys(r, v, keys, "tool_choice")) {
		if (!r->c.rc)
			translate_rq_invalid(r, "tool_choice", "expected an object with a type");
		return NULL;
	}
	*serial = cJSON_IsTrue(translate_get(v, "disable_parallel_tool_use"));
	if (!strcmp(type, "auto") || !strcmp(type, "none"))
		return cJSON_CreateString(type);
	if (!strcmp(type, "any"))
		return cJSON_CreateString("required");
	if (strcmp(type, "tool") || !name) {
		translate_rq_invalid(r, "tool_choice", "unknown type or no name");
		return NULL;
	}
	o = translate_typed(&r->c, "function");
	fn = translate_add(&r->c, o, "function", cJSON_CreateObject());
	translate_add(&r->c, fn, "name", cJSON_CreateString(name));
	return o;
}

static void a2o_tools(struct translate_rq *r)
{
	const cJSON *tools = translate_get(r->in, "tools"), *choice, *it;
	cJSON *out, *tc = NULL;
	int i = 0, serial = 0;

	choice = translate_get(r->in, "tool_choice");
	if (tools && !cJSON_IsArray(tools)) {
		translate_rq_invalid(r, "tools", "expected an array");
		return;
	}
	if (cJSON_GetArraySize(tools)) {
		out = translate_add(&r->c, r->out, "tools", cJSON_CreateArray());
		cJSON_ArrayForEach(it, tools)
		{
			a2o_tool_def(r, it, i++, out);
		}
	}
	if (choice && !r->c.rc) {
		tc = a2o_tool_choice(r, choice, &serial);
		if (tc && !cJSON_GetArraySize(tools)) { /* nothing to choose from */
			translate_rq_choice_without_tools(r, "tool_choice",
							  translate_rq_openai_choice_forces(tc));
			cJSON_Delete(tc);
		} else if (tc) {
			translate_add(&r->c, r->out, "tool_choice", tc);
		}
	}
	if (serial && cJSON_GetArraySize(tools) && !r->c.rc)
		translate_add(&r->c, r->out, "parallel_tool_calls", cJSON_CreateFalse());
}

void translate_rq_from_anthropic(struct translate_rq *r, const char *model)
{
	const cJSON *max = translate_get(r->in, "max_tokens");

	translate_add(&r->c, r->out, "model", cJSON_CreateString(model));
	if (!cJSON_IsNumber(max)) {
		translate_rq_invalid(r, "max_tokens", "required integer");
		return;
	}
	translate_add(&r->c, r->out, "max_completion_tokens", cJSON_CreateNumber(max->valuedouble));
	a2o_messages(r);
	if (!r->c.rc)
		translate_rq_fields(r, a2o_fields);
	if (!r->c.rc)
		a2o_tools(r);
}
