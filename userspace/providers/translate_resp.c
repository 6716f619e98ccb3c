/*
 * translate_resp.c: whole (non-streaming) responses and error bodies, from the provider that
 * answered into the format of the API the app spoke: content text, tool calls, stop reason,
 * usage, a new id in the app's format. See translate.h for the mapping.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/translate_gemini_app.h"
#include "providers/translate_json.h"
#include "providers/translate_util.h"

/* ---- Anthropic message -> OpenAI chat.completion ---- */

/* An OpenAI tool call {id, type, function {name, arguments}}: ARGS (NULL: none) printed as the
 * arguments' JSON text. */
static cJSON *openai_tool_call(struct translate_ctx *c, const char *id, const char *name,
			       const cJSON *args)
{
	char *text = args ? cJSON_PrintUnformatted(args) : strdup("{}");
	cJSON *call = cJSON_CreateObject(), *fn;

	translate_add(c, call, "id", cJSON_CreateString(id));
	translate_add(c, call, "type", cJSON_CreateString("function"));
	fn = translate_add(c, call, "function", cJSON_CreateObject());
	translate_add(c, fn, "name", cJSON_CreateString(name));
	translate_add(c, fn, "arguments", text ? cJSON_CreateString(text) : NULL);
	free(text);
	return call;
}

static cJSON *tool_call(struct translate_ctx *c, const cJSON *b, int i)
{
	const char *id = translate_str(b, "id"), *name = translate_str(b, "name");
	const cJSON *input = translate_get(b, "input");

	if (!id || !name || !cJSON_IsObject(input)) {
		translate_fail(c, -EINVAL, "content[%d]: a tool_use without id, name or input", i);
		return NULL;
	}
	return openai_tool_call(c, id, name, input);
}

/* MSG's role, content (TEXT when HAS_TEXT, else null; TEXT freed) and refusal (null). */
static void openai_assistant(struct translate_ctx *c, cJSON *msg, struct translate_buf *text,
			     int has_text)
{
	translate_add(c, msg, "role", cJSON_CreateString("assistant"));
	translate_add(c, msg, "content",
		      has_text ? cJSON_CreateString(text->data ? text->data : "")
			       : cJSON_CreateNull());
	translate_add(c, msg, "refusal", cJSON_CreateNull());
	translate_buf_free(text);
}

/* The assistant message: text blocks joined into content, tool_use blocks into tool_calls. */
static cJSON *openai_message(struct translate_ctx *c, const cJSON *content)
{
	cJSON *msg = cJSON_CreateObject(), *calls = cJSON_CreateArray();
	struct translate_buf text = {0};
	const cJSON *b;
	const char *type, *t;
	int i = 0, has_text = 0;

	cJSON_ArrayForEach(b, content)
	{
		type = translate_str(b, "type");
		t = translate_str(b, "text");
		if (type && !strcmp(type, "text") && t) {
			has_text = 1;
			c->oom |= !!translate_buf_add(&text, t, strlen(t));
		} else if (type && !strcmp(type, "tool_use")) {
			translate_push(c, calls, tool_call(c, b, i));
		} else if (!type ||
			   (strcmp(type, "thinking") && strcmp(type, "redacted_thinking"))) {
			translate_fail(c, -EOPNOTSUPP,
				       "content[%d]: a %s block has no OpenAI "
				       "counterpart",
				       i, type ? type : "untyped");
		}
		i++;
	}
	openai_assistant(c, msg, &text, has_text);
	if (cJSON_GetArraySize(calls))
		translate_add(c, msg, "tool_calls", calls);
	else
		cJSON_Delete(calls);
	return msg;
}

/* A chat.completion of one choice: MSG (taken), FINISH and usage U. */
static cJSON *openai_completion(struct translate_ctx *c, const char *model, cJSON *msg,
				const char *finish, const struct translate_usage *u)
{
	cJSON *out = cJSON_CreateObject(), *choices, *choice;
	char id[40];

	translate_new_id(id, sizeof(id), "chatcmpl-", 29);
	translate_add(c, out, "id", cJSON_CreateString(id));
	translate_add(c, out, "object", cJSON_CreateString("chat.completion"));
	translate_add(c, out, "created", cJSON_CreateNumber((double)time(NULL)));
	translate_add(c, out, "model", cJSON_CreateString(model ? model : ""));
	choices = translate_add(c, out, "choices", cJSON_CreateArray());
	choice = translate_push(c, choices, cJSON_CreateObject());
	translate_add(c, choice, "index", cJSON_CreateNumber(0));
	translate_add(c, choice, "message", msg);
	translate_add(c, choice, "logprobs", cJSON_CreateNull());
	translate_add(c, choice, "finish_reason", cJSON_CreateString(finish));
	translate_add(c, out, "usage", translate_usage_openai(c, u));
	return out;
}

static cJSON *to_openai(struct translate_ctx *c, const cJSON *in, const char *model)
{
	const cJSON *content = translate_get(in, "content");
	struct translate_usage u = {0};

	if (!cJSON_IsArray(content)) {
		translate_fail(c, -EINVAL, "content: expected an array of blocks");
		return cJSON_CreateObject();
	}
	translate_usage_from_anthropic(translate_get(in, "usage"), &u);
	return openai_completion(c, model, openai_message(c, content),
				 translate_finish_reason(translate_str(in, "stop_reason")), &u);
}

/* ---- Gemini GenerateContentResponse -> OpenAI chat.completion ---- */

/* A functionCall part {name, args, id?} (part I, its thoughtSignature SIG) -> an OpenAI tool
 * call: a new id carrying SIG when there is one (translate_util.h), else Gemini's id when it
 * gave one, else a new call_ id; the args printed as the arguments' JSON text. */
static cJSON *gemini_tool_call(struct translate_ctx *c, const cJSON *fc, const char *sig, int i)
{
	const char *name = translate_str(fc, "name"), *id = translate_str(fc, "id");
	const cJSON *args = translate_get(fc, "args");
	struct translate_buf signed_id = {0};
	char newid[32];
	cJSON *call;
	int rc;

	if (!name || (args && !cJSON_IsObject(args))) {
		translate_fail(c, -EINVAL,
			       "candidates[0].content.parts[%d].functionCall: no name, or args that "
			       "are not an object",
			       i);
		return NULL;
	}
	rc = sig ? translate_sig_id_put(&signed_id, sig, strlen(sig)) : -EINVAL;
	c->oom |= rc == -ENOMEM;
	if (!rc) {
		id = signed_id.data;
	} else if (!id) {
		translate_new_id(newid, sizeof(newid), "call_", 24);
		id = newid;
	}
	call = openai_tool_call(c, id, name, args);
	translate_buf_free(&signed_id);
	return call;
}

/* The assistant message of CANDIDATE (NULL: none came, the prompt was blocked): its text
 * parts joined, its functionCall parts as tool_calls (*RET_CALLS: how many); thought parts are
 * not shown (OpenAI hides reasoning), a call's thoughtSignature rides in its id; any other
 * part (inline data, code) was never asked for and is refused. */
static cJSON *gemini_message(struct translate_ctx *c, const cJSON *candidate, int *ret_calls)
{
	const cJSON *parts = translate_get(translate_get(candidate, "content"), "parts"), *p, *fc;
	cJSON *msg = cJSON_CreateObject(), *calls = cJSON_CreateArray();
	struct translate_buf text = {0};
	const char *t;
	int i = 0, has_text = 0;

	cJSON_ArrayForEach(p, parts)
	{
		t = translate_str(p, "text");
		fc = translate_get(p, "functionCall");
		if (fc) {
			translate_push(
			    c, calls,
			    gemini_tool_call(c, fc, translate_str(p, "thoughtSignature"), i));
		} else if (!t) {
			translate_fail(c, -EOPNOTSUPP,
				       "candidates[0].content.parts[%d]: a part that is not text "
				       "has no OpenAI counterpart",
				       i);
		} else if (!cJSON_IsTrue(translate_get(p, "thought"))) { /* reasoning: hidden */
			has_text = 1;
			c->oom |= !!translate_buf_add(&text, t, strlen(t));
		}
		i++;
	}
	openai_assistant(c, msg, &text, has_text);
	*ret_calls = cJSON_GetArraySize(calls);
	if (*ret_calls)
		translate_add(c, msg, "tool_calls", calls);
	else
		cJSON_Delete(calls);
	return msg;
}

static cJSON *gemini_to_openai(struct translate_ctx *c, const cJSON *in, const char *model)
{
	const cJSON *cands = translate_get(in, "candidates");
	const cJSON *cand = cJSON_GetArrayItem(cands, 0);
	struct translate_usage u = {0};
	const char *finish;
	cJSON *msg;
	int calls;

	if ((cands && !cJSON_IsArray(cands)) || (cand && !cJSON_IsObject(cand))) {
		translate_fail(c, -EINVAL, "candidates: expected an array of objects");
		return cJSON_CreateObject();
	}
	if (cJSON_GetArraySize(cands) > 1) {
		translate_fail(c, -EOPNOTSUPP, "candidates: more than one has no OpenAI counterpart");
		return cJSON_CreateObject();
	}
	/* no candidate: the prompt itself was blocked (promptFeedback.blockReason) */
	finish = cand ? translate_finish_reason_gemini(translate_str(cand, "finishReason"))
		      : "content_filter";
	translate_usage_from_gemini(translate_get(in, "usageMetadata"), &u);
	msg = gemini_message(c, cand, &calls);
	if (calls && !strcmp(finish, "stop")) /* Gemini says STOP after a call */
		finish = "tool_calls";
	return openai_completion(c, model ? model : translate_str(in, "modelVersion"), msg, finish,
				 &u);
}

/* ---- OpenAI chat.completion -> Anthropic message ---- */

static void text_block(struct translate_ctx *c, cJSON *blocks, const char *text)
{
	cJSON *b = translate_push(c, blocks, translate_typed(c, "text"));

	translate_add(c, b, "text", cJSON_CreateString(text));
}

/* Arguments text -> input object. Cut short by max tokens it may not parse: then the block
 * gets an empty input and the stop reason (max_tokens) tells the app it was cut. */
static cJSON *tool_input(struct translate_ctx *c, const char *args, int cut, int i)
{
	cJSON *v = args && *args ? cJSON_Parse(args) : cJSON_CreateObject();

	if (cJSON_IsObject(v))
		return v;
	cJSON_Delete(v);
	if (cut)
		return cJSON_CreateObject();
	translate_fail(c, -EINVAL, "tool_calls[%d]: arguments are not a JSON object", i);
	return NULL;
}

static void tool_use_blocks(struct translate_ctx *c, const cJSON *calls, int cut, cJSON *blocks)
{
	const cJSON *tc, *fn;
	const char *id, *name;
	cJSON *b, *input;
	int i = 0;

	cJSON_ArrayForEach(tc, calls)
	{
		fn = translate_get(tc, "function");
		id = translate_str(tc, "id");
		name = translate_str(fn, "name");
		if (!id || !name) {
			translate_fail(c, -EINVAL, "tool_calls[%d]: no id or function name", i);
			return;
		}
		input = tool_input(c, translate_str(fn, "arguments"), cut, i++);
		if (!input)
			return;
		b = translate_push(c, blocks, translate_typed(c, "tool_use"));
		translate_add(c, b, "id", cJSON_CreateString(id));
		translate_add(c, b, "name", cJSON_CreateString(name));
		translate_add(c, b, "input", input);
	}
}

static cJSON *to_anthropic(struct translate_ctx *c, const cJSON *in, const char *model)
{
	const cJSON *choice = cJSON_GetArrayItem(translate_get(in, "choices"), 0);
	const cJSON *msg = translate_get(choice, "message");
	const char *finish = translate_str(choice, "finish_reason");
	const char *text = translate_str(msg, "content"), *refusal = translate_str(msg, "refusal");
	const char *stop = translate_stop_reason(finish);
	struct translate_usage u = {0};
	cJSON *out = cJSON_CreateObject(), *blocks;
	char id[32];

	if (!cJSON_IsObject(msg)) {
		translate_fail(c, -EINVAL, "choices[0].message: expected an object");
		return out;
	}
	translate_new_id(id, sizeof(id), "msg_", 24);
	translate_add(c, out, "id", cJSON_CreateString(id));
	translate_add(c, out, "type", cJSON_CreateString("message"));
	translate_add(c, out, "role", cJSON_CreateString("assistant"));
	translate_add(c, out, "model", cJSON_CreateString(model ? model : ""));
	blocks = translate_add(c, out, "content", cJSON_CreateArray());
	if (text && *text)
		text_block(c, blocks, text);
	if (refusal && *refusal) {
		text_block(c, blocks, refusal);
		stop = "refusal";
	}
	tool_use_blocks(c, translate_get(msg, "tool_calls"), finish && !strcmp(finish, "length"),
			blocks);
	translate_add(c, out, "stop_reason", cJSON_CreateString(stop));
	translate_add(c, out, "stop_sequence", cJSON_CreateNull());
	translate_usage_from_openai(translate_get(in, "usage"), &u);
	translate_add(c, out, "usage", translate_usage_anthropic(c, &u));
	return out;
}

static cJSON *response_tree(struct translate_ctx *c, enum translate_api app,
			    enum translate_api from, const cJSON *root, const char *model)
{
	if (app == TRANSLATE_GEMINI_GENERATE) {
		if (from == TRANSLATE_OPENAI_CHAT)
			return translate_gemini_app_answer(c, root, model);
		translate_fail(c, -EOPNOTSUPP, "a Gemini app's answer is translated from OpenAI's");
		return NULL;
	}
	if (from == TRANSLATE_GEMINI_GENERATE) {
		if (app == TRANSLATE_OPENAI_CHAT)
			return gemini_to_openai(c, root, model);
		translate_fail(c, -EOPNOTSUPP, "a Gemini answer is translated for OpenAI apps");
		return NULL;
	}
	if (!model)
		model = translate_str(root, "model");
	return app == TRANSLATE_OPENAI_CHAT ? to_openai(c, root, model)
					    : to_anthropic(c, root, model);
}

static int response_run(enum translate_api app, enum translate_api from, const char *in,
			size_t len, const char *model, char **ret, size_t *ret_len, char *err,
			size_t errlen)
{
	struct translate_ctx c = {.err = err, .errlen = errlen};
	cJSON *root = translate_parse_object(in, len), *out;
	int rc;

	*ret = NULL;
	if (err && errlen)
		*err = '\0';
	if (!root)
		return translate_fail(&c, -EBADMSG, "the response body is not a JSON object");
	out = response_tree(&c, app, from, root, model);
	rc = translate_status(&c);
	if (!rc && !out)
		rc = -ENOMEM;
	if (!rc) {
		*ret = translate_print(out, ret_len);
		rc = *ret ? 0 : -ENOMEM;
	}
	cJSON_Delete(out);
	cJSON_Delete(root);
	return rc;
}

int translate_response_from(enum translate_api app, enum translate_api from, const char *in,
			    size_t len, const char *model, char **ret, size_t *ret_len, char *err,
			    size_t errlen)
{
	char *mid;
	size_t mid_len;
	int rc;
	int via_openai = (app == TRANSLATE_GEMINI_GENERATE && from == TRANSLATE_ANTHROPIC_MESSAGES) ||
			 (app == TRANSLATE_ANTHROPIC_MESSAGES && from == TRANSLATE_GEMINI_GENERATE);

	if (!via_openai)
		return response_run(app, from, in, len, model, ret, ret_len, err, errlen);
	/* Gemini <-> Anthropic through OpenAI's form, as the request went */
	rc = response_run(TRANSLATE_OPENAI_CHAT, from, in, len, model, &mid, &mid_len, err, errlen);
	if (rc) {
		*ret = NULL;
		return rc;
	}
	rc = response_run(app, TRANSLATE_OPENAI_CHAT, mid, mid_len, model, ret, ret_len, err,
			  errlen);
	free(mid);
	return rc;
}

int translate_response(enum translate_api app, const char *in, size_t len, const char *model,
		       char **ret, size_t *ret_len, char *err, size_t errlen)
{
	return translate_response_from(app, translate_api_other(app), in, len, model, ret,
				       ret_len, err, errlen);
}

/* ---- errors ---- */

static char *error_text(enum translate_api app, const char *type, const char *code,
			const char *message, size_t message_len, size_t *ret_len)
{
	struct translate_ctx c = {0};
	cJSON *o = translate_error_object_whole(&c, app, type, code, message, message_len);
	char *s = c.oom ? NULL : translate_print(o, ret_len);

	cJSON_Delete(o);
	return s;
}

/* The upstream error body IN's (LEN bytes) "error"."message", whole: cJSON's strings end at
 * an escaped U+0000, and "quota\u0000exceeded for X" must not reach the app as "quota". A new
 * string of *RET_LEN bytes (the caller frees), or NULL (none, or out of memory: errno). */
static char *error_message_whole(const char *in, size_t len, size_t *ret_len)
{
	enum { MESSAGE, ERROR, N };
	static const struct tj_field error_fields[] = {{"message", MESSAGE, NULL, NULL},
						       {NULL, 0, NULL, NULL}};
	static const struct tj_field fields[] = {{"error", ERROR, error_fields, NULL},
						 {NULL, 0, NULL, NULL}};
	struct tj_val v[N];

	errno = 0;
	if (translate_json_scan(NULL, in, len, fields, v, N) || v[MESSAGE].type != TJ_STRING)
		return NULL;
	return translate_json_dup_whole(&v[MESSAGE], ret_len);
}

int translate_error(enum translate_api app, int status, const char *in, size_t len, int *ret_status,
		    char **ret, size_t *ret_len)
{
	cJSON *root = translate_parse_object(in, len);
	const cJSON *e = translate_get(root, "error");
	const char *type = translate_str(e, "type");
	const char *code = translate_str(e, "code"), *mapped;
	size_t msg_len = 0;
	char fallback[64], *msg = error_message_whole(in, len, &msg_len);
	const char *text = msg;

	if (!msg && errno == ENOMEM) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	if (!msg) {
		msg_len = (size_t)snprintf(fallback, sizeof(fallback), "upstream error (HTTP %d)",
					   status);
		text = fallback;
	}
	if (app == TRANSLATE_GEMINI_GENERATE) {
		*ret = translate_gemini_app_error(status, text, msg_len, ret_status, ret_len);
	} else {
		if (app == TRANSLATE_OPENAI_CHAT)
			mapped = translate_openai_error_type(status, type, &code, ret_status);
		else
			mapped = translate_anthropic_error_type(status, type, code, ret_status);
		*ret = error_text(app, mapped, app == TRANSLATE_OPENAI_CHAT ? code : NULL, text,
				  msg_len, ret_len);
	}
	free(msg);
	cJSON_Delete(root);
	return *ret ? 0 : -ENOMEM;
}

char *translate_error_body(enum translate_api app, int status, const char *message, size_t *ret_len)
{
	const char *type, *code = NULL;
	int ignored;

	/* The type for STATUS as the app's own provider would use it; the status stays. */
	if (app == TRANSLATE_GEMINI_GENERATE)
		return translate_gemini_app_error(status, message, strlen(message), &ignored,
						  ret_len);
	if (app == TRANSLATE_OPENAI_CHAT)
		type = translate_openai_error_type(status, NULL, &code, &ignored);
	else
		type = translate_anthropic_error_type(status, NULL, NULL, &ignored);
	return error_text(app, type, code, message, strlen(message), ret_len);
}
