/*
 * translate_req_from_gemini.c: a Gemini app's generateContent request -> an OpenAI chat
 * completions request, and through OpenAI's form (translate_req_openai.c) an Anthropic
 * Messages one: systemInstruction to a system message, contents to user / assistant messages
 * (text parts; functionCall / functionResponse parts to tool_calls and tool messages),
 * generationConfig to the sampling fields, tools and toolConfig to tools and tool_choice. The model and whether it
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
#define G2O_MAX_PENDING 128 /* functionCalls awaiting their functionResponse */

struct g2o {
	struct translate_rq *r;
	enum translate_api to;
	cJSON *calls; /* the functionCalls so far, [{id, name}], each removed once answered */
	int n_calls;  /* functionCalls so far: their ids are call_<n> unless they had one */
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

/* ---- function calling ---- */

/* Whether PARTS hold a functionCall or a functionResponse. */
static int g_has_calls(const cJSON *parts)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, parts)
	{
		if (g_member(it, "functionCall") || g_member(it, "functionResponse"))
			return 1;
	}
	return 0;
}

/* A functionCall {name, args, id} -> an OpenAI tool call appended to CALLS; its id (Gemini's,
 * else call_<n>) kept in g->calls until its functionResponse comes. */
static void g_call(struct g2o *g, const cJSON *fc, const char *path, cJSON *calls)
{
	static const char *const keys[] = {"name", "args", "id", NULL};
	const char *name = cJSON_GetStringValue(g_member(fc, "name"));
	const char *given = cJSON_GetStringValue(g_member(fc, "id"));
	const cJSON *args = g_member(fc, "args");
	struct translate_ctx *c = &g->r->c;
	char id[32], *text;
	cJSON *call, *fn, *seen;

	if (translate_rq_keys(g->r, fc, keys, path) || g_once(g->r, fc, path))
		return;
	if (!name || (args && !cJSON_IsObject(args))) {
		translate_rq_invalid(g->r, path, "expected a name and args that are an object");
		return;
	}
	if (cJSON_GetArraySize(g->calls) >= G2O_MAX_PENDING) { /* keeps matching linear */
		translate_rq_invalid(g->r, path, "more than 128 functionCalls without a response");
		return;
	}
	snprintf(id, sizeof(id), "call_%d", g->n_calls++);
	text = args ? cJSON_PrintUnformatted(args) : strdup("{}");
	call = translate_push(c, calls, cJSON_CreateObject());
	translate_add(c, call, "id", cJSON_CreateString(given ? given : id));
	translate_add(c, call, "type", cJSON_CreateString("function"));
	fn = translate_add(c, call, "function", cJSON_CreateObject());
	translate_add(c, fn, "name", cJSON_CreateString(name));
	translate_add(c, fn, "arguments", text ? cJSON_CreateString(text) : NULL);
	free(text);
	seen = translate_push(c, g->calls, cJSON_CreateObject());
	translate_add(c, seen, "id", cJSON_CreateString(given ? given : id));
	translate_add(c, seen, "name", cJSON_CreateString(name));
}

/* The id of the earliest unanswered call named NAME (or of id GIVEN), taken off g->calls. */
static char *g_answered(struct g2o *g, const char *name, const char *given)
{
	const cJSON *it;
	int i = 0;

	cJSON_ArrayForEach(it, g->calls)
	{
		const char *id = translate_str(it, "id");

		if (!strcmp(translate_str(it, "name"), name) && (!given || !strcmp(id, given))) {
			char *ret = strdup(id);

			cJSON_DeleteItemFromArray(g->calls, i);
			g->r->c.oom |= !ret;
			return ret;
		}
		i++;
	}
	return NULL;
}

/* A functionResponse {name, response, id} -> a role "tool" message answering its call; the
 * response as JSON text, or the text itself when it is Google's {"output": text}. */
static void g_response(struct g2o *g, const cJSON *fr, const char *path, cJSON *msgs)
{
	static const char *const keys[] = {"name", "response", "id", NULL};
	const char *name = cJSON_GetStringValue(g_member(fr, "name"));
	const cJSON *resp = g_member(fr, "response"), *output = g_member(resp, "output");
	struct translate_ctx *c = &g->r->c;
	char *id = NULL, *text = NULL;
	cJSON *m;

	if (translate_rq_keys(g->r, fr, keys, path) || g_once(g->r, fr, path))
		return;
	if (!name || !cJSON_IsObject(resp)) {
		translate_rq_invalid(g->r, path, "expected a name and a response object");
		return;
	}
	id = g_answered(g, name, cJSON_GetStringValue(g_member(fr, "id")));
	if (!id) {
		translate_rq_invalid(g->r, path, "no earlier functionCall it answers");
		return;
	}
	if (cJSON_IsString(output) && cJSON_GetArraySize(resp) == 1)
		text = strdup(output->valuestring);
	else
		text = cJSON_PrintUnformatted(resp);
	m = translate_push(c, msgs, cJSON_CreateObject());
	translate_add(c, m, "role", cJSON_CreateString("tool"));
	translate_add(c, m, "tool_call_id", cJSON_CreateString(id));
	translate_add(c, m, "content", text ? cJSON_CreateString(text) : NULL);
	free(text);
	free(id);
}

/* A turn with function calls or responses. Model: one assistant message, its text parts as
 * content, its functionCalls as tool_calls. User: each functionResponse a tool message, then
 * its text parts (if any) a user message. */
static void g_call_turn(struct g2o *g, const cJSON *parts, const char *path, int model,
			cJSON *msgs)
{
	struct translate_rq *r = g->r;
	cJSON *text = cJSON_CreateArray(), *calls = cJSON_CreateArray(), *m;
	char p[TRANSLATE_PATH_MAX], pp[TRANSLATE_PATH_MAX];
	const cJSON *it, *fc, *fr;
	const char *t;
	int i = 0;

	cJSON_ArrayForEach(it, parts)
	{
		translate_rq_path(p, path, NULL, i++);
		fc = g_member(it, "functionCall");
		fr = g_member(it, "functionResponse");
		if ((fc && !model) || (fr && model)) {
			translate_rq_invalid(r, p, fc ? "a functionCall in a user turn"
						      : "a functionResponse in a model turn");
		} else if (fc || fr) {
			static const char *const keys[] = {
			    "functionCall",	"function_call",     "functionResponse",
			    "function_response", "thoughtSignature", "thought_signature", NULL};

			if (translate_rq_keys(r, it, keys, p) || g_once(r, it, p))
				break;
			if (g_member(it, "thoughtSignature"))
				translate_note(&r->c, "thoughtSignature dropped");
			translate_rq_path(pp, p, fc ? "functionCall" : "functionResponse", -1);
			if (fc)
				g_call(g, fc, pp, calls);
			else
				g_response(g, fr, pp, msgs);
		} else if ((t = g_part_text(r, it, p))) {
			translate_rq_text_block(r, text, t);
		}
		if (r->c.rc)
			break;
	}
	if (!r->c.rc && (model || cJSON_GetArraySize(text))) {
		m = translate_push(&r->c, msgs, cJSON_CreateObject());
		translate_add(&r->c, m, "role", cJSON_CreateString(model ? "assistant" : "user"));
		translate_add(&r->c, m, "content",
			      cJSON_GetArraySize(text) ? text : cJSON_CreateNull());
		if (cJSON_GetArraySize(text))
			text = NULL;
		if (model) {
			translate_add(&r->c, m, "tool_calls", calls);
			calls = NULL;
		}
	}
	cJSON_Delete(text);
	cJSON_Delete(calls);
}

/* The keywords of Gemini's Schema (an OpenAPI subset) that are JSON Schema's too; "type" is
 * written in upper case there (STRING, OBJECT, ...). Any other (nullable, propertyOrdering,
 * example, ...) is refused, naming it. */
static const char *const g_schema_keys[] = {
    "type",	"format",   "title",	"description", "enum",	    "items",	 "properties",
    "required", "minItems", "maxItems", "minimum",	"maximum", "minLength", "maxLength",
    "pattern",	"anyOf",    NULL};

/* KEY's name in JSON Schema (either spelling read as Google reads it), or NULL. */
static const char *g_schema_key(const char *key)
{
	int k;

	for (k = 0; g_schema_keys[k] && !g_same_name(g_schema_keys[k], key); k++)
		;
	return g_schema_keys[k];
}

/* Gemini's Schema V (at PATH) as JSON Schema: its type in lower case, nested schemas too. */
static cJSON *g_schema(struct translate_rq *r, const cJSON *v, const char *path, int depth)
{
	char p[TRANSLATE_PATH_MAX];
	const cJSON *it, *sub;
	cJSON *out, *o;

	if (!cJSON_IsObject(v) || depth > 32) {
		translate_rq_invalid(r, path, "expected a Schema object, nested at most 32 deep");
		return NULL;
	}
	out = cJSON_CreateObject();
	cJSON_ArrayForEach(it, v)
	{
		const char *name = g_schema_key(it->string);
		int k;

		if (r->c.rc || cJSON_IsNull(it))
			continue;
		translate_rq_path(p, path, it->string, -1);
		if (!name) {
			translate_rq_refuse(r, p);
			break;
		}
		if (!strcmp(name, "type") && cJSON_IsString(it)) {
			char t[16];

			for (k = 0; it->valuestring[k] && k < 15; k++)
				t[k] = (char)tolower((unsigned char)it->valuestring[k]);
			t[k] = '\0';
			o = cJSON_CreateString(t);
		} else if (!strcmp(name, "properties")) {
			o = cJSON_CreateObject();
			cJSON_ArrayForEach(sub, it)
			{
				char q[TRANSLATE_PATH_MAX];

				translate_add(&r->c, o, sub->string,
					      g_schema(r, sub, translate_rq_path(q, p, sub->string, -1),
						       depth + 1));
			}
		} else if (!strcmp(name, "items")) {
			o = g_schema(r, it, p, depth + 1);
		} else if (!strcmp(name, "anyOf")) {
			int j = 0;

			o = cJSON_CreateArray();
			cJSON_ArrayForEach(sub, it)
			{
				char q[TRANSLATE_PATH_MAX];

				translate_push(&r->c, o,
					       g_schema(r, sub, translate_rq_path(q, p, NULL, j++),
							depth + 1));
			}
		} else {
			o = cJSON_Duplicate(it, 1);
		}
		if (!r->c.rc)
			translate_add(&r->c, out, name, o);
		else
			cJSON_Delete(o);
	}
	return out;
}


/* functionDeclarations[I] -> an OpenAI function tool: parametersJsonSchema as it is,
 * parameters (Gemini's Schema) as JSON Schema; behavior, response and the rest refused. */
static void g_declaration(struct translate_rq *r, const cJSON *d, const char *path, cJSON *tools)
{
	static const char *const keys[] = {"name",	 "description", "parameters",
					   "parametersJsonSchema", "parameters_json_schema", NULL};
	const char *name = cJSON_GetStringValue(g_member(d, "name"));
	const char *desc = cJSON_GetStringValue(g_member(d, "description"));
	const cJSON *params = g_member(d, "parameters"), *js = g_member(d, "parametersJsonSchema");
	char p[TRANSLATE_PATH_MAX];
	cJSON *fn, *schema = NULL;

	if (translate_rq_keys(r, d, keys, path) || g_once(r, d, path))
		return;
	if (!name || !*name || (params && js)) {
		translate_rq_invalid(r, path, "expected a name and at most one of parameters and "
					      "parametersJsonSchema");
		return;
	}
	if (params)
		schema = g_schema(r, params, translate_rq_path(p, path, "parameters", -1), 0);
	else if (js)
		schema = translate_dup(&r->c, js);
	fn = translate_add(&r->c, translate_push(&r->c, tools, translate_typed(&r->c, "function")),
			   "function", cJSON_CreateObject());
	translate_add(&r->c, fn, "name", cJSON_CreateString(name));
	if (desc)
		translate_add(&r->c, fn, "description", cJSON_CreateString(desc));
	if (schema)
		translate_add(&r->c, fn, "parameters", schema);
}

/* tools[]: each Tool's functionDeclarations; any other tool (googleSearch, codeExecution,
 * urlContext, ...) runs at Google and has no counterpart: refused, named. */
static void g_tools(struct translate_rq *r, const cJSON *v)
{
	static const char *const keys[] = {"functionDeclarations", "function_declarations", NULL};
	char p[TRANSLATE_PATH_MAX], pp[TRANSLATE_PATH_MAX];
	const cJSON *t, *d;
	cJSON *tools;
	int i = 0, j;

	if (!cJSON_IsArray(v)) {
		translate_rq_invalid(r, "tools", "expected an array of Tool objects");
		return;
	}
	tools = translate_add(&r->c, r->out, "tools", cJSON_CreateArray());
	cJSON_ArrayForEach(t, v)
	{
		translate_rq_path(p, "tools", NULL, i++);
		if (translate_rq_keys(r, t, keys, p) || g_once(r, t, p))
			return;
		j = 0;
		cJSON_ArrayForEach(d, g_member(t, "functionDeclarations"))
		{
			g_declaration(r, d, translate_rq_path(pp, p, "functionDeclarations", j++),
				      tools);
			if (r->c.rc)
				return;
		}
	}
}

/* toolConfig.functionCallingConfig -> tool_choice: AUTO auto, NONE none, ANY required (one
 * allowed function: that function); several allowed names and VALIDATED have none. */
static void g_tool_config(struct translate_rq *r, const cJSON *v)
{
	static const char *const keys[] = {"functionCallingConfig", "function_calling_config", NULL};
	static const char *const fkeys[] = {"mode", "allowedFunctionNames",
					    "allowed_function_names", NULL};
	const char *path = "toolConfig.functionCallingConfig";
	const cJSON *f = g_member(v, "functionCallingConfig");
	const cJSON *names = g_member(f, "allowedFunctionNames");
	const char *mode = cJSON_GetStringValue(g_member(f, "mode"));
	cJSON *choice;

	if (translate_rq_keys(r, v, keys, "toolConfig") || g_once(r, v, "toolConfig") ||
	    translate_rq_keys(r, f, fkeys, path) || g_once(r, f, path))
		return;
	if (!f)
		return;
	if (!mode || !strcmp(mode, "MODE_UNSPECIFIED") || !strcmp(mode, "AUTO") ||
	    !strcmp(mode, "NONE")) {
		if (names)
			translate_fail(&r->c, -EINVAL, "%s.allowedFunctionNames: only with mode ANY",
				       path);
		else
			translate_add(&r->c, r->out, "tool_choice",
				      cJSON_CreateString(mode && !strcmp(mode, "NONE") ? "none"
										 : "auto"));
		return;
	}
	if (strcmp(mode, "ANY")) {
		translate_fail(&r->c, -EOPNOTSUPP, "%s.mode %s has no %s counterpart", path, mode,
			       r->other);
		return;
	}
	if (cJSON_GetArraySize(names) > 1) {
		translate_fail(&r->c, -EOPNOTSUPP,
			       "%s.allowedFunctionNames: more than one has no %s counterpart", path,
			       r->other);
		return;
	}
	if (!names) {
		translate_add(&r->c, r->out, "tool_choice", cJSON_CreateString("required"));
		return;
	}
	choice = translate_add(&r->c, r->out, "tool_choice", translate_typed(&r->c, "function"));
	translate_add(&r->c, translate_add(&r->c, choice, "function", cJSON_CreateObject()), "name",
		      cJSON_CreateString(cJSON_GetStringValue(names->child) ?: ""));
}

/* A request that declares no function: no "tools" (g_tools made an empty list), and its
 * toolConfig, made a tool_choice, has nothing to choose from. */
static void g_without_functions(struct translate_rq *r)
{
	const cJSON *choice = cJSON_GetObjectItemCaseSensitive(r->out, "tool_choice");

	if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r->out, "tools")))
		return;
	cJSON_DeleteItemFromObjectCaseSensitive(r->out, "tools");
	if (!choice)
		return;
	translate_rq_choice_without_tools(r, "toolConfig.functionCallingConfig",
					  translate_rq_openai_choice_forces(choice));
	cJSON_DeleteItemFromObjectCaseSensitive(r->out, "tool_choice");
}

/* contents[I]: role user (or none) -> user, model -> assistant. */
static void g_turn(struct g2o *g, const cJSON *c, int i, cJSON *msgs)
{
	struct translate_rq *r = g->r;
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
	translate_rq_path(p, base, "parts", -1);
	if (g_has_calls(g_member(c, "parts")))
		g_call_turn(g, g_member(c, "parts"), p, who[0] == 'a', msgs);
	else
		g_message(r, msgs, who, g_content(r, g_member(c, "parts"), p));
}

static void g_contents(struct g2o *g, const cJSON *contents, cJSON *msgs)
{
	struct translate_rq *r = g->r;
	const cJSON *it, *last;
	int i = 0;

	if (!cJSON_IsArray(contents) || !cJSON_GetArraySize(contents)) {
		translate_rq_invalid(r, "contents", "expected a non-empty array");
		return;
	}
	cJSON_ArrayForEach(it, contents)
	{
		g_turn(g, it, i++, msgs);
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
		if (!translate_rq_is_count(d)) /* Anthropic's top_k is one */
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
 * tools and toolConfig (function calling); any other member (cachedContent, ...) is refused. */
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
		else if (key_is(it->string, "tools"))
			g_tools(r, it);
		else if (key_is(it->string, "toolConfig"))
			g_tool_config(r, it);
		else
			translate_rq_refuse(r, it->string);
	}
	if (!r->c.rc)
		g_without_functions(r);
	if (!r->c.rc && !g_once(r, r->in, NULL))
		g_contents(g, g_member(r->in, "contents"), msgs);
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
	g->calls = cJSON_CreateArray();
	if (r.out && g->calls)
		g_request(g, model, stream);
	else
		r.c.oom = 1;
	cJSON_Delete(g->calls);
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
