/* test_azure.c: Azure OpenAI's paths and deployments (providers/azure.h): a deployments call read
 * as its canonical /v1 path and its deployment, anything else under /openai/deployments/ no
 * call; Azure AI Foundry's /models/chat/completions and /models/embeddings read as
 * OpenAI's, any other /models/ path no call; deployment names checked; a route target's
 * deployment found by name, else by the model it runs; the credential header. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "providers/azure.h"
#include "unit.h"

/* URL: azure_canonical()'s result WANT_RC, its canonical target WANT and deployment DEP. */
static void check_canonical(const char *url, int want_rc, const char *want, const char *dep)
{
	char deployment[AZURE_DEPLOYMENT_MAX + 1], *got = (char *)1;
	int rc = azure_canonical(url, &got, deployment);

	if (rc != want_rc)
		UNIT_FAIL("%s: got %d, expected %d", url, rc, want_rc);
	if (!want && got)
		UNIT_FAIL("%s: got \"%s\", expected none", url, got);
	if (want)
		ASSERT_STREQ(got, want);
	ASSERT_STREQ(deployment, dep);
	free(got);
}

static void test_deployments_paths(void)
{
	check_canonical("/openai/deployments/chat-mini/chat/completions?api-version=2024-10-21", 1,
			"/v1/chat/completions", "chat-mini");
	check_canonical("/openai/deployments/embed/embeddings", 1, "/v1/embeddings", "embed");
	check_canonical("/openai/deployments/a.b_c-1/completions?x=1&api-version=v", 1,
			"/v1/completions", "a.b_c-1");
	/* not a deployments call: left to the API root (/openai/v1) */
	check_canonical("/openai/v1/chat/completions", 0, NULL, "");
	check_canonical("/openai/deploymentsX/a/chat/completions", 0, NULL, "");
}

/* Under /openai/deployments/ but no deployment's call: refused, never read as another path. */
static void test_bad_deployments_paths(void)
{
	static const char *const bad[] = {
	    "/openai/deployments/",
	    "/openai/deployments//chat/completions",
	    "/openai/deployments/chat-mini",
	    "/openai/deployments/chat-mini/",
	    "/openai/deployments/chat-mini/?api-version=1",
	    "/openai/deployments/chat-mini?api-version=1",
	    "/openai/deployments/../v1/chat/completions",
	    "/openai/deployments/./chat/completions",
	    "/openai/deployments/chat%2Dmini/chat/completions",
	    ("/openai/deployments/a-name-of-sixty-five-characters-is-longer-than-azure-allows-00000"
	     "/chat/completions"),
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_canonical(bad[i], -EINVAL, NULL, "");
}

/* Azure AI Foundry's model inference API: two of OpenAI's calls under /models, the deployment
 * in the body; nothing else under /models/ is a call (the gateway's key never goes with it). */
static void test_foundry_paths(void)
{
	static const char *const bad[] = {
	    "/models/",
	    "/models/info?api-version=2024-05-01-preview",
	    "/models/images/embeddings?api-version=2024-05-01-preview",
	    "/models/chat/completions/",
	    "/models/chat/completions/../../openai/v1/chat/completions",
	    "/models/chat%2Fcompletions",
	    "/models/embeddingsX",
	    "/models/chat",
	};

	check_canonical("/models/chat/completions?api-version=2024-05-01-preview", 1,
			"/v1/chat/completions", "");
	check_canonical("/models/embeddings?api-version=2024-05-01-preview", 1, "/v1/embeddings",
			"");
	check_canonical("/models/chat/completions", 1, "/v1/chat/completions", "");
	/* not Foundry's: left to the API root */
	check_canonical("/models", 0, NULL, "");
	check_canonical("/modelsX/chat/completions", 0, NULL, "");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_canonical(bad[i], -EINVAL, NULL, "");
}

static void test_deployment_names(void)
{
	ASSERT_TRUE(azure_deployment_name_problem("gpt-4o-mini") == NULL);
	ASSERT_STREQ(azure_deployment_name_problem(""), "an empty name");
	ASSERT_STREQ(azure_deployment_name_problem(".."), "a dot segment");
	ASSERT_STREQ(azure_deployment_name_problem("a/b"),
		     "a character other than letters, digits, '-', '_' and '.'");
	ASSERT_STREQ(azure_deployment_name_problem("a b"),
		     "a character other than letters, digits, '-', '_' and '.'");
}

static void test_target_deployment(void)
{
	char *names[] = {"chat-mini", "chat", "gpt-4o-mini"};
	char *models[] = {"gpt-4o-mini", "gpt-4o", "gpt-4o"};
	struct policy_provider pr = {.azure = 1, .deployment_names = names,
				     .deployment_models = models, .n_deployments = 3};

	ASSERT_STREQ(azure_deployment_model(&pr, "chat"), "gpt-4o");
	ASSERT_TRUE(azure_deployment_model(&pr, "rogue") == NULL);
	/* a deployment by its name first, else the first that runs the model */
	ASSERT_STREQ(azure_target_deployment(&pr, "chat"), "chat");
	ASSERT_STREQ(azure_target_deployment(&pr, "gpt-4o"), "chat");
	ASSERT_STREQ(azure_target_deployment(&pr, "gpt-4o-mini"), "gpt-4o-mini");
	ASSERT_TRUE(azure_target_deployment(&pr, "gpt-5") == NULL);
}

static void test_credential_header(void)
{
	struct policy_provider pr = {.azure = 1};
	const char *name, *prefix;

	azure_credential_header(&pr, &name, &prefix);
	ASSERT_STREQ(name, "api-key");
	ASSERT_STREQ(prefix, "");
	pr.token_file = "/run/token";
	azure_credential_header(&pr, &name, &prefix);
	ASSERT_STREQ(name, "Authorization");
	ASSERT_STREQ(prefix, "Bearer ");
}

UNIT_MAIN(UNIT_CASE(test_deployments_paths), UNIT_CASE(test_bad_deployments_paths),
	  UNIT_CASE(test_foundry_paths), UNIT_CASE(test_deployment_names),
	  UNIT_CASE(test_target_deployment), UNIT_CASE(test_credential_header))
