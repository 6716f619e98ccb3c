// SPDX-License-Identifier: MIT
/*
 * mockprov tool calls: an answer that calls a function instead of text, in each provider's
 * wire format (Gemini: a functionCall part, with a thoughtSignature as Gemini 2.5+ sends one
 * (base64 of 0xfb 0xef 0xff "mock-signature:" NAME: '+', '/' and, by NAME, padding), whole or as
 * one alt=sse chunk; OpenAI chat: message.tool_calls, streamed as a first delta
 * with id and name and the arguments in two pieces, finish_reason tool_calls; Anthropic: a
 * tool_use block, streamed as its start with input {} and input_json_delta pieces, stop_reason
 * tool_use). It comes when the request forces a call (Gemini: toolConfig functionCallingConfig
 * mode ANY, OpenAI: tool_choice required or a named function, Anthropic: tool_choice any or
 * tool): the first of allowedFunctionNames (the named function), else the first declaration,
 * with every required argument filled from its schema (the first enum value,
 * else "mock", 1 or true by type); or when the request has x-mock-tool-call: NAME (arguments:
 * x-mock-tool-args, a JSON object, default {}), for calls that reach the mock unchanged.
 * A call counts 1 + its number of arguments as output tokens.
 */
#include <stdlib.h>
#include <string.h>

#include "mock.h"

static const cJSON *member(const cJSON *o, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(o, name);
}

/* The declaration a Gemini request forces a call to, or NULL. */
static const cJSON *gemini_forced(struct call *c)
{
	const cJSON *cfg = member(member(c->body, "toolConfig"), "functionCallingConfig");
	const cJSON *decls = member(cJSON_GetArrayItem(member(c->body, "tools"), 0),
				    "functionDeclarations");
	const char *mode = cJSON_GetStringValue(member(cfg, "mode"));
	const char *name = cJSON_GetStringValue(
	    cJSON_GetArrayItem(member(cfg, "allowedFunctionNames"), 0));
	const cJSON *d;

	if (!mode || strcmp(mode, "ANY"))
		return NULL;
	cJSON_ArrayForEach(d, decls)
	{
		const char *n = cJSON_GetStringValue(member(d, "name"));

		if (n && (!name || !strcmp(n, name)))
			return d;
	}
	return NULL;
}

/* The function an OpenAI chat request forces a call to (tool_choice "required": the first
 * tool; {"type":"function","function":{"name"}}: that one), as {name, parameters}, or NULL. */
static const cJSON *openai_forced(struct call *c)
{
	const cJSON *choice = member(c->body, "tool_choice"), *t;
	const char *name = cJSON_GetStringValue(member(member(choice, "function"), "name"));

	if (!name && (!cJSON_IsString(choice) || strcmp(choice->valuestring, "required")))
		return NULL;
	cJSON_ArrayForEach(t, member(c->body, "tools"))
	{
		const cJSON *fn = member(t, "function");
		const char *n = cJSON_GetStringValue(member(fn, "name"));

		if (n && (!name || !strcmp(n, name)))
			return fn;
	}
	return NULL;
}

/* The tool an Anthropic request forces a call to (tool_choice {"type":"any"}: the first tool;
 * {"type":"tool","name"}: that one), as {name, input_schema}, or NULL. */
static const cJSON *anthropic_forced(struct call *c)
{
	const cJSON *choice = member(c->body, "tool_choice"), *t;
	const char *type = cJSON_GetStringValue(member(choice, "type"));
	const char *name = cJSON_GetStringValue(member(choice, "name"));

	if (!type || (strcmp(type, "any") && (strcmp(type, "tool") || !name)))
		return NULL;
	cJSON_ArrayForEach(t, member(c->body, "tools"))
	{
		const char *n = cJSON_GetStringValue(member(t, "name"));

		if (n && (strcmp(type, "tool") || !strcmp(n, name)))
			return t;
	}
	return NULL;
}

static const cJSON *forced(struct call *c)
{
	if (c->prov == PROV_GEMINI)
		return gemini_forced(c);
	if (c->prov == PROV_ANTHROPIC)
		return anthropic_forced(c);
	return c->prov == PROV_OPENAI ? openai_forced(c) : NULL;
}

const char *toolcall_name(struct call *c)
{
	const char *name = hdr(c, "x-mock-tool-call");

	if (name && *name)
		return name;
	return cJSON_GetStringValue(member(forced(c), "name"));
}

/* A value for an argument of schema PROP. */
static cJSON *arg_value(const cJSON *prop)
{
	const char *type = cJSON_GetStringValue(member(prop, "type"));
	const cJSON *first = cJSON_GetArrayItem(member(prop, "enum"), 0);

	if (first)
		return cJSON_Duplicate(first, 1);
	if (type && (!strcmp(type, "integer") || !strcmp(type, "number")))
		return cJSON_CreateNumber(1);
	if (type && !strcmp(type, "boolean"))
		return cJSON_CreateTrue();
	return cJSON_CreateString("mock");
}

/* The required arguments of the parameters SCHEMA, each a value of its type. */
static cJSON *args_from_schema(const cJSON *schema)
{
	cJSON *args = cJSON_CreateObject();
	const cJSON *req;

	cJSON_ArrayForEach(req, member(schema, "required"))
	{
		const char *name = cJSON_GetStringValue(req);

		if (name && !member(args, name))
			cJSON_AddItemToObject(args, name,
					      arg_value(member(member(schema, "properties"), name)));
	}
	return args;
}

/* The call's arguments: the header's object, or those a forced call's schema requires. */
static cJSON *toolcall_args(struct call *c)
{
	const char *text = hdr(c, "x-mock-tool-args");
	const cJSON *decl;
	cJSON *args;

	if (hdr(c, "x-mock-tool-call")) {
		args = text ? cJSON_Parse(text) : NULL;
		if (cJSON_IsObject(args))
			return args;
		cJSON_Delete(args);
		return cJSON_CreateObject();
	}
	decl = forced(c);
	if (member(decl, "input_schema"))
		return args_from_schema(member(decl, "input_schema"));
	return args_from_schema(member(decl, "parametersJsonSchema")
				    ? member(decl, "parametersJsonSchema")
				    : member(decl, "parameters"));
}

char *toolcall_args_text(struct call *c, int *ret_tokens)
{
	cJSON *args = toolcall_args(c);
	char *text = args ? cJSON_PrintUnformatted(args) : NULL;

	*ret_tokens = 1 + cJSON_GetArraySize(args);
	cJSON_Delete(args);
	return text;
}

void toolcall_gemini_signature(struct evbuffer *b, const char *name)
{
	static const char head[] = "\xfb\xef\xffmock-signature:";
	size_t n = sizeof(head) - 1, len = n + strlen(name);
	unsigned char *data = malloc(len);

	if (!data)
		return;
	memcpy(data, head, n);
	memcpy(data + n, name, len - n);
	base64_append(b, data, len);
	free(data);
}

int toolcall_gemini_part(struct call *c, struct evbuffer *b)
{
	int tokens;
	char *args = toolcall_args_text(c, &tokens);

	evbuffer_add_printf(b, "{\"functionCall\": {\"name\": ");
	json_str(b, toolcall_name(c));
	evbuffer_add_printf(b, ", \"args\": %s}, \"thoughtSignature\": \"", args ? args : "{}");
	toolcall_gemini_signature(b, toolcall_name(c));
	evbuffer_add_printf(b, "\"}");
	free(args);
	return tokens;
}
