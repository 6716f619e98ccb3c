/*
 * usage_ref.h: how usage_from_body() read a whole answer before it stopped building the
 * answer's whole tree (the reference test_usage.c and fuzz_sse hold it to): the answer parsed
 * whole by json_parse(), its "model", its adapter's usage_body() on the tree. Header-only, for
 * the tests and the fuzz harness; the daemon never calls it.
 */
#ifndef AIGW_TESTS_USAGE_REF_H
#define AIGW_TESTS_USAGE_REF_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "providers/api.h"
#include "providers/usage.h"
#include "providers/usage_int.h"

static inline int usage_ref_from_tree(enum usage_api api, const char *body, size_t len,
				      struct usage *u, char *model, size_t model_size)
{
	const struct provider_api *p = provider_api_of_usage(api);
	cJSON *root = json_parse(body, len);
	int err = -EBADMSG;

	memset(u, 0, sizeof(*u));
	copy_str(model, model_size, NULL);
	if (cJSON_IsObject(root)) {
		copy_str(model, model_size, json_str(root, "model"));
		err = p->usage_body(api, root, u);
	}
	cJSON_Delete(root);
	if (err)
		memset(u, 0, sizeof(*u));
	return err;
}

/* "" when usage_from_body() reads BODY (LEN bytes) as the tree does for every API whose
 * answers it reads whole, else which API differed (a static buffer). */
static inline const char *usage_ref_disagreement(const char *body, size_t len)
{
	static const enum usage_api apis[] = {
	    USAGE_API_OPENAI_CHAT,	  USAGE_API_OPENAI_RESPONSES, USAGE_API_OPENAI_EMBEDDINGS,
	    USAGE_API_ANTHROPIC_MESSAGES, USAGE_API_GEMINI_GENERATE,  USAGE_API_GEMINI_COUNT_TOKENS,
	    USAGE_API_GEMINI_EMBED,	  USAGE_API_BEDROCK_CONVERSE, USAGE_API_BEDROCK_INVOKE};
	static char why[64];

	for (size_t a = 0; a < sizeof(apis) / sizeof(apis[0]); a++) {
		struct usage u, ref;
		char model[16], ref_model[16]; /* small: a long model is cut the same */
		int rc = usage_from_body(apis[a], body, len, &u, model, sizeof(model));
		int ref_rc = usage_ref_from_tree(apis[a], body, len, &ref, ref_model,
						 sizeof(ref_model));

		if (rc != ref_rc || memcmp(&u, &ref, sizeof(u)) || strcmp(model, ref_model)) {
			snprintf(why, sizeof(why), "api %d: %d, the tree %d", (int)apis[a], rc, ref_rc);
			return why;
		}
	}
	return "";
}

#endif
