/*
 * test_ai_services: the AI service catalogue (userspace/policy/ai_services.c): the shipped
 * policies/ai-services.json is valid and big enough, names match by whole labels, and a
 * policy's "ai_services" is looked at before the shipped ones.
 */
#include <string.h>

#include "unit.h"
#include "policy/ai_services.h"
#include "policy/policy.h"

static void test_builtin_is_valid(void)
{
	struct policy *cat = NULL;

	ASSERT_OK(ai_services_load_builtin(stderr, &cat));
	ASSERT_TRUE(cat->n_ai_services >= 60);
	for (size_t i = 0; i < cat->n_ai_services; i++) {
		ASSERT_TRUE(cat->ai_services[i].name[0] != '\0');
		ASSERT_TRUE(cat->ai_services[i].n_domains >= 1);
		for (size_t j = 0; j < i; j++) /* each name once: records are counted by it */
			ASSERT_TRUE(strcmp(cat->ai_services[i].name, cat->ai_services[j].name));
	}
	policy_free(cat);
}

static void test_builtin_matches(void)
{
	static const struct {
		const char *host, *service; /* NULL: no AI service */
	} cases[] = {
	    {"api.mistral.ai", "Mistral AI"},
	    {"mistral.ai", "Mistral AI"},
	    {"evilmistral.ai", NULL}, /* whole labels only */
	    {"mistral.ai.example.com", NULL},
	    {"chatgpt.com", "OpenAI"},
	    {"api.anthropic.com", "Anthropic"},
	    {"generativelanguage.googleapis.com", "Google Gemini"},
	    {"storage.googleapis.com", NULL},
	    {"us-central1-aiplatform.googleapis.com", "Google Vertex AI"},
	    {"myres.openai.azure.com", "Azure OpenAI"},
	    {"bedrock-runtime.eu-central-1.amazonaws.com", "AWS Bedrock"},
	    {"s3.eu-central-1.amazonaws.com", NULL},
	    {"api.groq.com", "Groq"},
	    {"api.x.ai", "xAI"},
	    {"api.together.xyz", "Together AI"},
	    {"api-inference.huggingface.co", "Hugging Face Inference"},
	    {"huggingface.co", NULL}, /* the hub: downloads, not inference */
	    {"copilot-proxy.githubusercontent.com", "GitHub Copilot"},
	    {"raw.githubusercontent.com", NULL},
	    {"api.deepl.com", "DeepL"},
	    {"www.example.com", NULL},
	    {"", NULL},
	};
	struct policy *cat = NULL;

	ASSERT_OK(ai_services_load_builtin(stderr, &cat));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = ai_services_match(NULL, cat, cases[i].host);

		if (!cases[i].service && got)
			UNIT_FAIL("%s: got %s; expected no AI service", cases[i].host, got);
		if (cases[i].service && (!got || strcmp(got, cases[i].service)))
			UNIT_FAIL("%s: got %s; expected %s", cases[i].host, got ? got : "none",
				  cases[i].service);
	}
	ASSERT_TRUE(ai_services_match(NULL, cat, NULL) == NULL);
	policy_free(cat);
}

static void test_policy_adds_first(void)
{
	static const char text[] =
	    "{\"capture\": {\"cgroup\": \"/apps\"}, \"audit\": {\"path\": \"/a\"},\n"
	    " \"providers\": {\"x\": {\"hosts\": [\"h.example\"]}},\n"
	    " \"ai_services\": [{\"name\": \"In-house LLM\", \"domains\": "
	    "[\"llm.corp.example\"]},\n"
	    "                 {\"name\": \"Mistral (EU contract)\", \"domains\": "
	    "[\"mistral.ai\"]}]}\n";
	struct policy *cat = NULL, *p = NULL;

	ASSERT_OK(ai_services_load_builtin(stderr, &cat));
	ASSERT_OK(policy_load_string("p.json", text, stderr, &p));
	ASSERT_STREQ(ai_services_match(p, cat, "chat.llm.corp.example"), "In-house LLM");
	ASSERT_STREQ(ai_services_match(p, cat, "api.mistral.ai"), "Mistral (EU contract)");
	ASSERT_STREQ(ai_services_match(p, cat, "api.cohere.com"), "Cohere");
	ASSERT_STREQ(ai_services_match(p, NULL, "chat.llm.corp.example"), "In-house LLM");
	ASSERT_TRUE(ai_services_match(p, NULL, "api.cohere.com") == NULL);
	policy_free(p);
	policy_free(cat);
}

UNIT_MAIN(UNIT_CASE(test_builtin_is_valid), UNIT_CASE(test_builtin_matches),
	  UNIT_CASE(test_policy_adds_first))
