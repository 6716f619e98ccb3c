/*
 * test_request_members: the one walk of a request body's top level answers what the strcmp
 * scan per decisive key and cJSON_GetObjectItemCaseSensitive() answered: the same key named
 * twice (the first in the keys' order, not the body's), the same model, stream and
 * stream_options, on bodies a hostile app would send: duplicates in any order, names that
 * share a prefix or a first byte with a decisive key, escaped names, a NUL in a name, nested
 * members of the same names, and random bodies.
 */
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "proxy/request_members.h"
#include "unit.h"

/* The reader request_members_read() replaced, as it was. */
static const char *ref_twice(const cJSON *root)
{
	for (const char *const *keys = request_members_decisive; *keys; keys++) {
		int n = 0;

		for (const cJSON *it = root->child; it; it = it->next)
			n += it->string && !strcmp(it->string, *keys);
		if (n > 1)
			return *keys;
	}
	return NULL;
}

static void same_as_before(const char *body)
{
	cJSON *root = cJSON_Parse(body);
	struct request_members m;
	const char *want;

	ASSERT_TRUE(cJSON_IsObject(root));
	request_members_read(root, &m);
	want = ref_twice(root);
	if (!want != !m.twice || (want && strcmp(want, m.twice)))
		UNIT_FAIL("%s: twice %s, before %s", body, m.twice ? m.twice : "(none)",
			  want ? want : "(none)");
	if (!want) { /* a body with a key twice is refused: nothing else of it is read */
		ASSERT_TRUE(m.model == cJSON_GetObjectItemCaseSensitive(root, "model"));
		ASSERT_TRUE(m.stream == cJSON_GetObjectItemCaseSensitive(root, "stream"));
		ASSERT_TRUE(m.stream_options ==
			    cJSON_GetObjectItemCaseSensitive(root, "stream_options"));
	}
	cJSON_Delete(root);
}

static void test_twice_is_the_first_key_in_the_keys_order(void)
{
	struct request_members m;
	cJSON *root = cJSON_Parse("{\"best_of\":1,\"n\":1,\"n\":2,\"model\":\"a\",\"best_of\":2,"
				  "\"model\":\"b\"}");

	request_members_read(root, &m);
	ASSERT_STREQ(m.twice, "model");
	cJSON_Delete(root);
	same_as_before("{\"best_of\":1,\"n\":1,\"n\":2,\"best_of\":2}");
	same_as_before("{\"max_output_tokens\":1,\"stream\":true,\"max_output_tokens\":2}");
	same_as_before("{\"stream_options\":{},\"stream\":false,\"stream_options\":1}");
	same_as_before("{\"stream\":true,\"stream\":false}");
	same_as_before("{\"max_tokens\":1,\"max_completion_tokens\":1,\"max_tokens\":1}");
}

static void test_near_names_are_not_decisive(void)
{
	same_as_before("{\"models\":\"x\",\"models\":\"y\",\"mode\":1,\"mode\":2,\"model\":\"m\"}");
	same_as_before("{\"stream_option\":1,\"stream_option\":2,\"streams\":1,\"streams\":3}");
	same_as_before("{\"n2\":1,\"n2\":2,\"\":1,\"\":2,\"N\":1,\"N\":2,\"Model\":1,\"Model\":2}");
	same_as_before(
	    "{\"best\":1,\"best\":2,\"max\":1,\"max\":2,\"m\":1,\"m\":2,\"s\":1,\"s\":2}");
}

static void test_escaped_and_nul_names_count_as_decoded(void)
{
	same_as_before("{\"model\":\"a\",\"mod\\u0065l\":\"b\"}");
	same_as_before("{\"\\u006e\":1,\"n\":2}");
	same_as_before("{\"model\\u0000x\":\"a\",\"model\":\"b\"}");
	same_as_before("{\"model\\u0000x\":\"a\",\"stream\":true}");
}

static void test_nested_members_do_not_count(void)
{
	same_as_before("{\"model\":\"a\",\"messages\":[{\"model\":\"b\",\"model\":\"c\"}],"
		       "\"stream_options\":{\"stream\":1,\"stream\":2,\"include_usage\":true}}");
	same_as_before("{}");
	same_as_before("{\"model\":null,\"stream\":\"true\",\"stream_options\":[]}");
}

/* Random bodies of decisive and near names: the walk and the scan never differ. */
static void test_random_bodies_agree(void)
{
	/* besides the decisive keys (request_members_decisive[], 8 of them) */
	static const char *const near[] = {"models", "mode", "stream_o", "", "nn", "b",
					   "messages", "mod\\u0065l", "temperature"};
	const unsigned nd = 8, nn = nd + sizeof(near) / sizeof(*near);
	unsigned long long seed = 7;
	char body[4096];

	for (int round = 0; round < 20000 && !unit_failed_current; round++) {
		int members = (int)unit_rand(&seed, 12), at = 0;

		at += snprintf(body + at, sizeof(body) - at, "{");
		for (int i = 0; i < members; i++) {
			unsigned k = unit_rand(&seed, nn);

			at += snprintf(body + at, sizeof(body) - at, "%s\"%s\":%d", i ? "," : "",
				       k < nd ? request_members_decisive[k] : near[k - nd], i);
		}
		snprintf(body + at, sizeof(body) - at, "}");
		same_as_before(body);
	}
}

UNIT_MAIN(UNIT_CASE(test_twice_is_the_first_key_in_the_keys_order),
	  UNIT_CASE(test_near_names_are_not_decisive),
	  UNIT_CASE(test_escaped_and_nul_names_count_as_decoded),
	  UNIT_CASE(test_nested_members_do_not_count), UNIT_CASE(test_random_bodies_agree))
