/*
 * translate_req_gemini.c: an OpenAI chat completions request -> a Gemini generateContent
 * request: system/developer messages to systemInstruction, user and assistant turns to
 * contents (roles "user" and "model", text parts), the sampling fields to generationConfig.
 * The model and whether it streams are the path's, not the body's. Text and function calling
 * are translated (tools to functionDeclarations, tool_choice to toolConfig, tool calls and
 * results to functionCall / functionResponse parts); images, audio and files are refused
 * (see translate.h). JSON
 * mode becomes responseMimeType, a JSON schema responseJsonSchema when Gemini reads all of it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/translate_req.h"

struct o2g {
	struct translate_rq *r;
	cJSON *system;	 /* systemInstruction's parts */
	cJSON *contents; /* the turns */
	cJSON *parts;	 /* the last turn's parts */
	const char *role; /* the last turn's role */
	const cJSON *calls; /* the last assistant message's tool_calls, which tool messages answer */
};

/* Tool calls one assistant message may make: the tool messages answering them are matched
 * against that message's calls, so a bound keeps a hostile request's cost linear. */
#define G_MAX_TOOL_CALLS 128

#define G_TEXT_(x) #x
#define G_TEXT(x) G_TEXT_(x) /* a number macro's value as a string literal */

/* A field the translation to Gemini leaves out on purpose: refused, naming it and WHAT. */
static void g_untranslated(struct translate_rq *r, const char *path, const char *what)
{
	translate_fail(&r->c, -EOPNOTSUPP, "%s: %s not translated to Gemini", path, what);
}

/* generationConfig, made when the first of its fields comes. */
static cJSON *g_config(struct translate_rq *r)
{
	cJSON *cfg = cJSON_GetObjectItemCaseSensitive(r->out, "generationConfig");

	return cfg ? cfg : translate_add(&r->c, r->out, "generationConfig", cJSON_CreateObject());
}

static void g_number(struct translate_rq *r, const cJSON *v, const char *key, const char *name)
{
	if (!cJSON_IsNumber(v)) {
		translate_rq_invalid(r, key, "expected a number");
		return;
	}
	translate_add(&r->c, g_config(r), name, cJSON_CreateNumber(v->valuedouble));
}

static void g_temperature(struct translate_rq *r, const cJSON *v, const char *key)
{
	g_number(r, v, key, "temperature"); /* 0..2 at both */
}

static void g_top_p(struct translate_rq *r, const cJSON *v, const char *key)
{
	g_number(r, v, key, "topP");
}

/* An Anthropic app's top_k, carried in OpenAI's form (translate_req.c); an OpenAI app has
 * none. */
static void g_top_k(struct translate_rq *r, const cJSON *v, const char *key)
{
	if (r->via_openai)
		g_number(r, v, key, "topK");
	else
		translate_rq_refuse(r, key);
}

static void g_seed(struct translate_rq *r, const cJSON *v, const char *key)
{
	g_number(r, v, key, "seed");
}

static void g_stop(struct translate_rq *r, const cJSON *v, const char *key)
{
	cJSON *seqs = translate_rq_strings(r, v, key);

	if (seqs)
		translate_add(&r->c, g_config(r), "stopSequences", seqs);
}

static void g_stream(struct translate_rq *r, const cJSON *v, const char *key)
{
	if (!cJSON_IsBool(v))
		translate_rq_invalid(r, key, "expected a boolean");
	else
		r->res->stream = cJSON_IsTrue(v); /* the path says it: streamGenerateContent */
}

/* The JSON Schema keywords Gemini's responseJsonSchema reads (Google's GenerationConfig
 * reference: "only the following properties are supported"); any other would be ignored
 * there, so the schema would not hold: refused. */
static const char *const g_schema_keys[] = {
    "$id",	   "$defs",    "$ref",	     "$anchor",	 "type",     "format",
    "title",	   "description", "enum",    "items",	 "prefixItems", "minItems",
    "maxItems",	   "minimum",  "maximum",    "anyOf",	 "oneOf",    "properties",
    "additionalProperties", "required", "propertyOrdering", NULL};

static void g_schema(struct translate_rq *r, const cJSON *v, const char *path, int depth);

/* Each member of object V (properties, $defs: names -> schemas) a schema. */
static void g_schema_members(struct translate_rq *r, const cJSON *v, const char *path,
			     int depth)
{
	char p[TRANSLATE_PATH_MAX];
	const cJSON *it;

	if (!cJSON_IsObject(v)) {
		translate_rq_invalid(r, path, "expected an object of schemas");
		return;
	}
	cJSON_ArrayForEach(it, v)
	{
		if (r->c.rc)
			return;
		g_schema(r, it, translate_rq_path(p, path, it->string, -1), depth + 1);
	}
}

/* Each element of array V (anyOf, oneOf, prefixItems) a schema. */
static void g_schema_elements(struct translate_rq *r, const cJSON *v, const char *path,
			      int depth)
{
	char p[TRANSLATE_PATH_MAX];
	const cJSON *it;
	int i = 0;

	if (!cJSON_IsArray(v)) {
		translate_rq_invalid(r, path, "expected an array of schemas");
		return;
	}
	cJSON_ArrayForEach(it, v)
	{
		if (r->c.rc)
			return;
		g_schema(r, it, translate_rq_path(p, path, NULL, i++), depth + 1);
	}
}

/* Whether schema V (at PATH) uses only what responseJsonSchema reads; a keyword it does not
 * is refused, naming it. */
static void g_schema(struct translate_rq *r, const cJSON *v, const char *path, int depth)
{
	char p[TRANSLATE_PATH_MAX];
	const cJSON *it;

	if (cJSON_IsBool(v))
		return;
	if (!cJSON_IsObject(v) || depth > 32) {
		translate_rq_invalid(r, path, "expected a schema (an object), nested at most 32 deep");
		return;
	}
	if (translate_rq_keys(r, v, g_schema_keys, path))
		return;
	cJSON_ArrayForEach(it, v)
	{
		translate_rq_path(p, path, it->string, -1);
		if (!strcmp(it->string, "properties") || !strcmp(it->string, "$defs"))
			g_schema_members(r, it, p, depth);
		else if (!strcmp(it->string, "anyOf") || !strcmp(it->string, "oneOf") ||
			 !strcmp(it->string, "prefixItems"))
			g_schema_elements(r, it, p, depth);
		else if (!strcmp(it->string, "items") || !strcmp(it->string, "additionalProperties"))
			g_schema(r, it, p, depth + 1);
		if (r->c.rc)
			return;
	}
}

/* json_schema {name, schema, strict}: the schema as responseJsonSchema (JSON Schema as it
 * is); the name only labels it (dropped, noted); a description would tell the model more
 * and Gemini has no place for it: refused. */
static void g_json_schema(struct translate_rq *r, const cJSON *js, cJSON *cfg)
{
	static const char *const keys[] = {"name", "schema", "strict", NULL};
	const char *path = "response_format.json_schema";
	const cJSON *schema = translate_get(js, "schema");

	if (!cJSON_IsObject(js) || !cJSON_IsObject(schema)) {
		translate_rq_invalid(r, path, "expected an object with a schema");
		return;
	}
	if (translate_rq_keys(r, js, keys, path))
		return;
	g_schema(r, schema, "response_format.json_schema.schema", 0);
	if (r->c.rc)
		return;
	if (translate_get(js, "name"))
		translate_note(&r->c, "response_format.json_schema.name dropped");
	translate_add(&r->c, cfg, "responseJsonSchema", translate_dup(&r->c, schema));
}

/* text: Gemini's default; json_object: responseMimeType application/json; json_schema: that
 * and responseJsonSchema. */
static void g_response_format(struct translate_rq *r, const cJSON *v, const char *key)
{
	static const char *const keys[] = {"type", "json_schema", NULL};
	const char *type = translate_str(v, "type");
	cJSON *cfg;

	if (!type) {
		translate_rq_invalid(r, key, "expected an object with a type");
		return;
	}
	if (!strcmp(type, "text"))
		return;
	if (strcmp(type, "json_object") && strcmp(type, "json_schema")) {
		g_untranslated(r, key, "a format other than text or JSON is");
		return;
	}
	if (translate_rq_keys(r, v, keys, key))
		return;
	cfg = g_config(r);
	translate_add(&r->c, cfg, "responseMimeType", cJSON_CreateString("application/json"));
	if (!strcmp(type, "json_schema"))
		g_json_schema(r, translate_get(v, "json_schema"), cfg);
}

/* tools[i]: a function {name, description, parameters} -> a functionDeclaration, the
 * parameters as parametersJsonSchema (JSON Schema, checked as responseJsonSchema is: a keyword
 * Gemini does not read is refused); strict:true promises an adherence Gemini does not. */
static void g_function(struct translate_rq *r, const cJSON *t, const char *path, cJSON *decls)
{
	static const char *const tool_keys[] = {"type", "function", NULL};
	static const char *const fn_keys[] = {"name", "description", "parameters", "strict", NULL};
	const cJSON *fn = translate_get(t, "function"), *params = translate_get(fn, "parameters");
	const char *type = translate_str(t, "type"), *name = translate_str(fn, "name");
	const char *desc = translate_str(fn, "description");
	char p[TRANSLATE_PATH_MAX], pp[TRANSLATE_PATH_MAX];
	cJSON *d;

	if (!type || strcmp(type, "function")) {
		g_untranslated(r, path, "a tool other than a function is");
		return;
	}
	translate_rq_path(p, path, "function", -1);
	if (translate_rq_keys(r, t, tool_keys, path) || translate_rq_keys(r, fn, fn_keys, p))
		return;
	if (!name || !*name) {
		translate_rq_invalid(r, p, "expected an object with a name");
		return;
	}
	if (cJSON_IsTrue(translate_get(fn, "strict"))) {
		g_untranslated(r, translate_rq_path(pp, p, "strict", -1), "strict adherence is");
		return;
	}
	if (params)
		g_schema(r, params, translate_rq_path(pp, p, "parameters", -1), 0);
	if (r->c.rc)
		return;
	d = translate_push(&r->c, decls, cJSON_CreateObject());
	translate_add(&r->c, d, "name", cJSON_CreateString(name));
	if (desc)
		translate_add(&r->c, d, "description", cJSON_CreateString(desc));
	if (params)
		translate_add(&r->c, d, "parametersJsonSchema", translate_dup(&r->c, params));
}

/* tools: one Gemini tool holding every functionDeclaration. */
static void g_tools(struct translate_rq *r, const cJSON *v, const char *key)
{
	char p[TRANSLATE_PATH_MAX];
	cJSON *decls, *tool;
	const cJSON *it;
	int i = 0;

	if (!cJSON_IsArray(v)) {
		translate_rq_invalid(r, key, "expected an array");
		return;
	}
	if (!cJSON_GetArraySize(v))
		return;
	tool = translate_push(&r->c, translate_add(&r->c, r->out, "tools", cJSON_CreateArray()),
			      cJSON_CreateObject());
	decls = translate_add(&r->c, tool, "functionDeclarations", cJSON_CreateArray());
	cJSON_ArrayForEach(it, v)
	{
		g_function(r, it, translate_rq_path(p, key, NULL, i++), decls);
		if (r->c.rc)
			return;
	}
}

/* tool_choice -> toolConfig.functionCallingConfig: none NONE, auto AUTO, required ANY, one
 * named function ANY with allowedFunctionNames [it]; allowed_tools and custom tools have no
 * Gemini counterpart. Without tools there is no function to choose from. */
static void g_tool_choice(struct translate_rq *r, const cJSON *v, const char *key)
{
	static const char *const modes[][2] = {{"none", "NONE"}, {"auto", "AUTO"},
					       {"required", "ANY"}};
	const char *type = translate_str(v, "type"), *mode = NULL;
	const char *name = translate_str(translate_get(v, "function"), "name");
	cJSON *cfg;
	size_t i;

	for (i = 0; cJSON_IsString(v) && i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(v->valuestring, modes[i][0]))
			mode = modes[i][1];
	if (!mode && (!type || strcmp(type, "function") || !name)) {
		g_untranslated(r, key, "a choice other than none, auto, required or one function is");
		return;
	}
	if (!cJSON_GetArraySize(translate_get(r->in, "tools"))) {
		translate_rq_choice_without_tools(r, key, translate_rq_openai_choice_forces(v));
		return;
	}
	cfg = translate_add(&r->c, translate_add(&r->c, r->out, "toolConfig", cJSON_CreateObject()),
			    "functionCallingConfig", cJSON_CreateObject());
	translate_add(&r->c, cfg, "mode", cJSON_CreateString(mode ? mode : "ANY"));
	if (!mode)
		translate_push(&r->c,
			       translate_add(&r->c, cfg, "allowedFunctionNames", cJSON_CreateArray()),
			       cJSON_CreateString(name));
}

/* Gemini may call several functions in one turn and has no switch against it: true (OpenAI's
 * default) asks for nothing; false has no counterpart. */
static void g_parallel_tool_calls(struct translate_rq *r, const cJSON *v, const char *key)
{
	if (!cJSON_IsBool(v))
		translate_rq_invalid(r, key, "expected a boolean");
	else if (cJSON_IsFalse(v))
		g_untranslated(r, key, "one call at a time is");
}

static const struct translate_rq_field o2g_fields[] = {
    {"model", NULL}, /* the path's */
    {"messages", NULL},
    {"max_tokens", NULL},
    {"max_completion_tokens", NULL},
    {"temperature", g_temperature},
    {"top_p", g_top_p},
    {"top_k", g_top_k},
    {"stop", g_stop},
    {"seed", g_seed},
    {"stream", g_stream},
    {"tools", g_tools},
    {"tool_choice", g_tool_choice},
    {"parallel_tool_calls", g_parallel_tool_calls},
    {"user", translate_rq_drop},
    {"safety_identifier", translate_rq_drop},
    {"response_format", g_response_format},
    TRANSLATE_RQ_OPENAI_SHARED_FIELDS,
    {NULL, NULL},
};

/* {"text": TEXT} appended to PARTS. */
static void g_text_part(struct translate_rq *r, cJSON *parts, const char *text)
{
	cJSON *p = translate_push(&r->c, parts, cJSON_CreateObject());

	translate_add(&r->c, p, "text", cJSON_CreateString(text));
}

/* The parts of the turn of ROLE: the last one's when it has that role (Gemini takes turns
 * in alternation; two messages in a row of one role become one turn). */
static cJSON *g_turn(struct o2g *o, const char *role)
{
	struct translate_ctx *c = &o->r->c;
	cJSON *turn;

	if (o->parts && !strcmp(o->role, role))
		return o->parts;
	turn = translate_push(c, o->contents, cJSON_CreateObject());
	translate_add(c, turn, "role", cJSON_CreateString(role));
	o->parts = translate_add(c, turn, "parts", cJSON_CreateArray());
	o->role = role;
	return o->parts;
}

/* A message's CONTENT (a string, or text parts; REFUSAL_OK: refusal parts too) into PARTS. */
static void g_content(struct o2g *o, const cJSON *content, const char *path, int refusal_ok,
		      cJSON *parts)
{
	static const char *const keys[] = {"type", "text", "refusal", NULL};
	char p[TRANSLATE_PATH_MAX];
	const cJSON *it;
	const char *type, *text;
	int i = 0;

	if (cJSON_IsString(content)) {
		if (*content->valuestring)
			g_text_part(o->r, parts, content->valuestring);
		return;
	}
	if (!cJSON_IsArray(content)) {
		translate_rq_invalid(o->r, path, "content: expected a string or an array");
		return;
	}
	cJSON_ArrayForEach(it, content)
	{
		translate_rq_path(p, path, "content", i++);
		type = translate_str(it, "type");
		if (!type) {
			translate_rq_invalid(o->r, p, "expected a content part");
			return;
		}
		if (strcmp(type, "text") && (!refusal_ok || strcmp(type, "refusal"))) {
			g_untranslated(o->r, p, "only text is"); /* image_url, input_audio, file */
			return;
		}
		text = translate_str(it, type);
		if (!text) {
			translate_rq_invalid(o->r, p, "expected a text part");
			return;
		}
		if (translate_rq_keys(o->r, it, keys, p))
			return;
		if (*text)
			g_text_part(o->r, parts, text);
	}
}

/* The thoughtSignature the id of the call at PATH carries (translate_util.h) on PART. */
static void g_signature(struct o2g *o, const char *id, const char *path, cJSON *part)
{
	char p[TRANSLATE_PATH_MAX], *sig;
	int rc = translate_sig_from_id(id, &sig);

	if (rc == -EINVAL)
		translate_rq_invalid(o->r, translate_rq_path(p, path, "id", -1),
				     "after " TRANSLATE_SIG_MARK
				     ", a thought signature (base64url, "
				     "at most " G_TEXT(TRANSLATE_SIG_MAX) " characters)");
	o->r->c.oom |= rc == -ENOMEM;
	if (sig)
		translate_add(&o->r->c, part, "thoughtSignature", cJSON_CreateString(sig));
	free(sig);
}

/* An assistant message's tool_calls -> functionCall parts {name, args} of the model's turn:
 * the arguments (JSON text) as the object they are, and the thoughtSignature an id carries
 * back on its part. Gemini's own call ids are optional and the next turn's functionResponse
 * is matched by name and order: the ids are not sent. */
static void g_tool_calls(struct o2g *o, const cJSON *calls, const char *path)
{
	char p[TRANSLATE_PATH_MAX];
	const char *id, *name;
	const cJSON *it;
	cJSON *part, *call, *args;
	int i = 0;

	if (!cJSON_IsArray(calls) || cJSON_GetArraySize(calls) > G_MAX_TOOL_CALLS) {
		translate_rq_invalid(o->r, path, "tool_calls: expected an array of at most 128");
		return;
	}
	o->calls = calls;
	cJSON_ArrayForEach(it, calls)
	{
		translate_rq_path(p, path, "tool_calls", i++);
		args = translate_rq_tool_call(o->r, it, p, &id, &name);
		if (!args)
			return;
		part = translate_push(&o->r->c, g_turn(o, "model"), cJSON_CreateObject());
		call = translate_add(&o->r->c, part, "functionCall", cJSON_CreateObject());
		translate_add(&o->r->c, call, "name", cJSON_CreateString(name));
		translate_add(&o->r->c, call, "args", args);
		g_signature(o, id, p, part);
		if (o->r->c.rc)
			return;
	}
}

/* The name of the function whose call ID the last assistant message made (the tool messages
 * answering it follow it); NULL if none. */
static const char *g_call_name(const cJSON *calls, const char *id)
{
	const cJSON *call;

	cJSON_ArrayForEach(call, calls)
	{
		const char *cid = translate_str(call, "id");

		if (cid && !strcmp(cid, id))
			return translate_str(translate_get(call, "function"), "name");
	}
	return NULL;
}

/* A role "tool" message -> a functionResponse part of a user turn, named as its call was; the
 * content (text) is the response when it is a JSON object, else Google's {"output": text}. */
static void g_tool_result(struct o2g *o, const cJSON *m, const char *path)
{
	static const char *const keys[] = {"role", "content", "tool_call_id", NULL};
	const char *id = translate_str(m, "tool_call_id"), *name;
	cJSON *text = cJSON_CreateArray(), *part, *resp, *obj = NULL;
	struct translate_buf joined = {0};
	const cJSON *t;

	if (translate_rq_keys(o->r, m, keys, path))
		goto out;
	name = id ? g_call_name(o->calls, id) : NULL;
	if (!name) {
		translate_rq_invalid(o->r, path, "tool_call_id: expected the id of an earlier call");
		goto out;
	}
	g_content(o, translate_get(m, "content"), path, 0, text);
	cJSON_ArrayForEach(t, text)
	{
		const char *s = translate_str(t, "text");

		o->r->c.oom |= !!translate_buf_add(&joined, s, strlen(s));
	}
	if (o->r->c.rc)
		goto out;
	obj = translate_parse_object(joined.data ? joined.data : "", joined.len);
	if (!obj) {
		obj = cJSON_CreateObject();
		translate_add(&o->r->c, obj, "output",
			      cJSON_CreateString(joined.data ? joined.data : ""));
	}
	part = translate_push(&o->r->c, g_turn(o, "user"), cJSON_CreateObject());
	resp = translate_add(&o->r->c, part, "functionResponse", cJSON_CreateObject());
	translate_add(&o->r->c, resp, "name", cJSON_CreateString(name));
	translate_add(&o->r->c, resp, "response", obj);
out:
	translate_buf_free(&joined);
	cJSON_Delete(text);
}

static void g_message(struct o2g *o, const cJSON *m, int i)
{
	static const char *const keys[] = {"role",	  "content",	"refusal",
					   "annotations", "tool_calls", NULL};
	const char *role = translate_str(m, "role"), *refusal = translate_str(m, "refusal");
	char path[TRANSLATE_PATH_MAX];
	int assistant;

	translate_rq_path(path, "messages", NULL, i);
	if (!role) {
		translate_rq_invalid(o->r, path, "role: expected a string");
		return;
	}
	if (!strcmp(role, "tool")) {
		g_tool_result(o, m, path);
		return;
	}
	if (!strcmp(role, "function")) { /* the legacy functions API */
		g_untranslated(o->r, path, "a function message is");
		return;
	}
	if (translate_rq_keys(o->r, m, keys, path))
		return;
	assistant = !strcmp(role, "assistant");
	if (!strcmp(role, "system") || !strcmp(role, "developer")) {
		g_content(o, translate_get(m, "content"), path, 0, o->system);
	} else if (assistant || !strcmp(role, "user")) {
		if (cJSON_GetArraySize(translate_get(m, "annotations")))
			translate_note(&o->r->c, "assistant annotations dropped");
		if (!assistant || !translate_get(m, "tool_calls") || translate_get(m, "content"))
			g_content(o, translate_get(m, "content"), path, assistant,
				  g_turn(o, assistant ? "model" : "user"));
		if (assistant && refusal && *refusal)
			g_text_part(o->r, o->parts, refusal);
		if (assistant && translate_get(m, "tool_calls") && !o->r->c.rc)
			g_tool_calls(o, translate_get(m, "tool_calls"), path);
	} else {
		translate_rq_refuse(o->r, path);
	}
}

static void g_messages(struct translate_rq *r)
{
	const cJSON *msgs = translate_get(r->in, "messages"), *it;
	struct o2g o = {.r = r};
	cJSON *sys;
	int i = 0;

	if (!cJSON_IsArray(msgs)) {
		translate_rq_invalid(r, "messages", "expected an array");
		return;
	}
	o.system = cJSON_CreateArray();
	o.contents = translate_add(&r->c, r->out, "contents", cJSON_CreateArray());
	cJSON_ArrayForEach(it, msgs)
	{
		g_message(&o, it, i++);
		if (r->c.rc)
			break;
	}
	if (!r->c.rc && o.role && !strcmp(o.role, "model"))
		translate_fail(&r->c, -EOPNOTSUPP,
			       "messages[%d]: a final assistant message has no Gemini counterpart",
			       i - 1);
	if (!cJSON_GetArraySize(o.system)) {
		cJSON_Delete(o.system);
		return;
	}
	sys = translate_add(&r->c, r->out, "systemInstruction", cJSON_CreateObject());
	translate_add(&r->c, sys, "parts", o.system);
}

static void g_max_tokens(struct translate_rq *r)
{
	const cJSON *v = translate_get(r->in, "max_completion_tokens");
	const char *key = "max_completion_tokens";

	if (!v) {
		v = translate_get(r->in, "max_tokens");
		key = "max_tokens";
	}
	if (v)
		g_number(r, v, key, "maxOutputTokens");
}

void translate_rq_openai_to_gemini(struct translate_rq *r)
{
	g_messages(r);
	if (!r->c.rc)
		translate_rq_fields(r, o2g_fields);
	if (!r->c.rc)
		g_max_tokens(r);
}
