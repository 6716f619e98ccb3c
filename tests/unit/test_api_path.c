/* test_api_path.c: a provider's API root and the canonical path of a call (api_path.h): the
 * root replaced by "/v1" on the way in, "/v1" by the root on the way out, whole segments only,
 * and paths outside the root none of the provider's calls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "providers/api_path.h"
#include "unit.h"

/* URL at ROOT: api_path_canonical()'s result, and its canonical target WANT (NULL: none). */
static void check_canonical(const char *root, const char *url, int want_rc, const char *want)
{
	char *got = (char *)1;
	int rc = api_path_canonical(root, url, &got);

	if (rc != want_rc)
		UNIT_FAIL("root \"%s\", %s: got %d, expected %d", root, url, rc, want_rc);
	if (!want && got)
		UNIT_FAIL("root \"%s\", %s: got \"%s\", expected none", root, url, got);
	if (want)
		ASSERT_STREQ(got, want);
	free(got);
}

static void test_canonical_under_a_root(void)
{
	check_canonical("/openai/v1", "/openai/v1/chat/completions", 1, "/v1/chat/completions");
	check_canonical("/openai/v1", "/openai/v1/models?limit=2", 1, "/v1/models?limit=2");
	check_canonical("/inference/v1", "/inference/v1/embeddings", 1, "/v1/embeddings");
	check_canonical("/api/v1", "/api/v1/chat/completions", 1, "/v1/chat/completions");
	/* "/v1" is the canonical root: every path as it is, as before roots existed */
	check_canonical("/v1", "/v1/chat/completions", 0, NULL);
	check_canonical("/v1", "/health", 0, NULL);
}

/* Perplexity and DeepSeek serve the API with no version, and DeepSeek the /v1 form too. */
static void test_canonical_at_an_empty_root(void)
{
	check_canonical("", "/chat/completions", 1, "/v1/chat/completions");
	check_canonical("", "/chat/completions?x=1", 1, "/v1/chat/completions?x=1");
	check_canonical("", "/v1/chat/completions", 0, NULL);
	check_canonical("", "/v1", 0, NULL);
	check_canonical("", "/v1x/chat/completions", 1, "/v1/v1x/chat/completions");
}

/* What a hostile app might send to slip a call past the root. */
static void test_outside_the_root(void)
{
	/* the canonical path itself is not the provider's API there */
	check_canonical("/openai/v1", "/v1/chat/completions", -ENOENT, NULL);
	/* whole segments: a longer segment, another version, another case */
	check_canonical("/openai/v1", "/openai/v1x/chat/completions", -ENOENT, NULL);
	check_canonical("/openai/v1", "/openai/v2/chat/completions", -ENOENT, NULL);
	check_canonical("/openai/v1", "/OpenAI/v1/chat/completions", -ENOENT, NULL);
	/* encodings are not decoded: an encoded slash or letter is another path */
	check_canonical("/openai/v1", "/openai%2Fv1/chat/completions", -ENOENT, NULL);
	check_canonical("/openai/v1", "/openai/%761/chat/completions", -ENOENT, NULL);
	/* dot segments are not resolved here (the endpoint stage refuses them as sent) */
	check_canonical("/openai/v1", "/x/../openai/v1/chat/completions", -ENOENT, NULL);
	check_canonical("/openai/v1", "/openai/v1/../v1/files", 1, "/v1/../v1/files");
	/* the root alone is no call */
	check_canonical("/openai/v1", "/openai/v1", -ENOENT, NULL);
	check_canonical("/openai/v1", "/openai/v1?x", -ENOENT, NULL);
	check_canonical("/openai/v1", "/openai", -ENOENT, NULL);
}

/* URL at ROOT goes upstream as WANT. */
static void check_upstream(const char *root, const char *url, const char *want)
{
	char buf[64];

	ASSERT_OK(api_path_upstream(root, url, buf, sizeof(buf)));
	ASSERT_STREQ(buf, want);
}

static void test_upstream(void)
{
	char buf[20];

	check_upstream("/openai/v1", "/v1/chat/completions", "/openai/v1/chat/completions");
	check_upstream("", "/v1/chat/completions?a=b", "/chat/completions?a=b");
	check_upstream("", "/v1", "/");
	check_upstream("/v1", "/v1/messages", "/v1/messages");
	/* base_url's prefix in front of the API, as it has always been */
	check_upstream("/v1/proxy/v1", "/v1/messages", "/v1/proxy/v1/messages");
	/* a path outside "/v1" goes as it is; "/v1x" is outside */
	check_upstream("/openai/v1", "/v1x/models", "/v1x/models");
	ASSERT_EQ(api_path_upstream("/openai/v1", "/v1/chat/completions", buf, sizeof(buf)),
		  -ENOSPC);
}

/* In and out again: the provider gets the path the app sent. */
static void test_round_trip(void)
{
	static const char *const cases[][2] = {
	    {"/openai/v1", "/openai/v1/chat/completions"},
	    {"/inference/v1", "/inference/v1/responses?stream=true"},
	    {"", "/chat/completions"},
	};
	char buf[128], *canon;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ASSERT_EQ(api_path_canonical(cases[i][0], cases[i][1], &canon), 1);
		ASSERT_OK(api_path_upstream(cases[i][0], canon, buf, sizeof(buf)));
		ASSERT_STREQ(buf, cases[i][1]);
		free(canon);
	}
}

UNIT_MAIN(UNIT_CASE(test_canonical_under_a_root), UNIT_CASE(test_canonical_at_an_empty_root),
	  UNIT_CASE(test_outside_the_root), UNIT_CASE(test_upstream), UNIT_CASE(test_round_trip))
