/*
 * test_request_scan: a request body read from its text (request_members_scan()) answers what
 * its tree answered (cJSON_ParseWithLength(), request_members_read()): whether it is one JSON
 * object, the key named twice, the model, stream and stream_options.include_usage; or it says
 * only the tree can tell. And the stages' readers (pipe_max_tokens_field(), the token bounds
 * limits and budgets charge, "n", stage_allow's object check) get from a tree built when first
 * asked what they got from the tree built before the stages ran. On bodies a hostile app would
 * send (trailing bytes, a byte order mark, control bytes, escapes, nesting past cJSON's limit,
 * duplicates, numbers cJSON reads loosely) and on random mutations of real ones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "policy/pipeline.h"
#include "policy/stages.h"
#include "providers/usage.h"
#include "proxy/request_members.h"
#include "unit.h"

static unsigned fast_taken;

/* The tree, built when first asked, as the proxy builds it (exchange_req_json()). */
struct lazy {
	const char *text;
	size_t len;
	cJSON *root;
	int built;
};

static const struct cJSON *lazy_get(void *arg)
{
	struct lazy *l = arg;

	if (!l->built) {
		l->built = 1;
		l->root = cJSON_ParseWithLength(l->text, l->len);
	}
	return l->root;
}

/* The tree built before the stages ran, as a pipe_req's json_get. */
static const struct cJSON *eager_get(void *eager)
{
	return eager;
}

/* What the stages read of R's body. */
struct stage_reads {
	int object;
	const char *field;
	int64_t field_value, in, out;
	double n;
};

static void stage_reads(struct pipe_req *r, int api, struct stage_reads *ret)
{
	const cJSON *json, *n;

	r->app_api = api;
	r->res.bounds_known = 0;
	ret->object = pipe_req_json_object(r);
	ASSERT_OK(pipe_max_tokens_field(r, &ret->field, &ret->field_value));
	ASSERT_OK(pipe_token_bounds(r, &ret->in, &ret->out));
	ASSERT_OK(pipe_req_json(r, &json));
	n = cJSON_GetObjectItemCaseSensitive(json, "n");
	ret->n = cJSON_IsNumber(n) ? n->valuedouble : -1;
}

/* The stages read the same of TEXT from the tree built first and from one built when asked. */
static void stages_agree(const char *text, size_t len, const cJSON *eager, int object)
{
	static const int apis[] = {USAGE_API_OPENAI_CHAT, USAGE_API_OPENAI_RESPONSES,
				   USAGE_API_OPENAI_EMBEDDINGS, USAGE_API_ANTHROPIC_MESSAGES, -1};
	struct lazy l = {text, len, NULL, 0};

	for (size_t i = 0; i < sizeof(apis) / sizeof(*apis); i++) {
		struct pipe_req before = {.body = text, .body_len = len, .json_object = !!eager,
					  .json_get = eager_get, .json_arg = (void *)eager};
		struct pipe_req after = {.body = text, .body_len = len, .json_object = object,
					 .json_get = object ? lazy_get : NULL, .json_arg = &l};
		struct stage_reads a, b;

		stage_reads(&before, apis[i], &a);
		stage_reads(&after, apis[i], &b);
		if (a.object != b.object || !a.field != !b.field ||
		    (a.field && strcmp(a.field, b.field)) || a.field_value != b.field_value ||
		    a.in != b.in || a.out != b.out || a.n != b.n)
			UNIT_FAIL("%.*s (api %d): stages read object %d/%d field %s/%s %lld/%lld "
				  "bounds %lld,%lld/%lld,%lld n %g/%g",
				  (int)len, text, apis[i], a.object, b.object, a.field ? a.field : "-",
				  b.field ? b.field : "-", (long long)a.field_value,
				  (long long)b.field_value, (long long)a.in, (long long)b.in,
				  (long long)a.out, (long long)b.out, a.n, b.n);
	}
	cJSON_Delete(l.root);
}

/* The scan of TEXT (LEN bytes) answers what the tree does, or leaves it to the tree. */
static void same_as_tree_n(const char *text, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(text, len);
	int object = cJSON_IsObject(root);
	struct request_members m;
	struct request_scan s;
	const char *model;

	if (request_members_scan(text, len, &s) == -EAGAIN) {
		cJSON_Delete(root);
		return;
	}
	fast_taken++;
	if (s.object != object) {
		UNIT_FAIL("%.*s: scan says object %d, cJSON %d", (int)len, text, s.object, object);
		goto out;
	}
	stages_agree(text, len, object ? root : NULL, s.object);
	if (!object)
		goto out;
	request_members_read(root, &m);
	if (!m.twice != !s.twice || (m.twice && strcmp(m.twice, s.twice))) {
		UNIT_FAIL("%.*s: twice %s, the tree's %s", (int)len, text, s.twice ? s.twice : "-",
			  m.twice ? m.twice : "-");
		goto out;
	}
	if (m.twice)
		goto out;
	model = cJSON_IsString(m.model) ? m.model->valuestring : NULL;
	if (!model != !s.model ||
	    (model && (strlen(model) != s.model_len || memcmp(model, s.model, s.model_len))))
		UNIT_FAIL("%.*s: model %.*s, the tree's %s", (int)len, text, (int)s.model_len,
			  s.model ? s.model : "-", model ? model : "-");
	if (s.stream != cJSON_IsTrue(m.stream))
		UNIT_FAIL("%.*s: stream %d", (int)len, text, s.stream);
	if (s.include_usage !=
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m.stream_options, "include_usage")))
		UNIT_FAIL("%.*s: include_usage %d", (int)len, text, s.include_usage);
out:
	cJSON_Delete(root);
}

static void same_as_tree(const char *text)
{
	same_as_tree_n(text, strlen(text));
}

/* A literal with NUL bytes in it, all of it. */
#define SAME_AS_TREE_BYTES(lit) same_as_tree_n(lit, sizeof(lit) - 1)

static const char bench_body[] =
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
    "{\"role\":\"user\",\"content\":\"Say hello to the benchmark.\"}],\"max_tokens\":32}";

static const char usage_body[] =
    "{\"include_usage\":false,\"model\":\"m\",\"stream\":true,"
    "\"stream_options\":{\"x\":{\"include_usage\":false},\"include_usage\":true}}";
static const char nested_usage_body[] =
    "{\"stream\":true,\"stream_options\":{\"x\":{\"include_usage\":true}},"
    "\"include_usage\":true}";

static void test_plain_bodies_are_read_without_a_tree(void)
{
	struct request_scan s;

	ASSERT_EQ(request_members_scan(bench_body, strlen(bench_body), &s), 0);
	ASSERT_TRUE(s.object && !s.twice && !s.stream && !s.include_usage);
	ASSERT_EQ(s.model_len, strlen("gpt-4o-mini"));
	ASSERT_TRUE(!memcmp(s.model, "gpt-4o-mini", s.model_len));
	/* include_usage is found in the one walk, below the first stream_options only */
	ASSERT_EQ(request_members_scan(usage_body, strlen(usage_body), &s), 0);
	ASSERT_TRUE(s.object && s.stream && s.include_usage && s.model_len == 1);
	ASSERT_EQ(request_members_scan(nested_usage_body, strlen(nested_usage_body), &s), 0);
	ASSERT_TRUE(s.object && s.stream && !s.include_usage);
	same_as_tree(bench_body);
	same_as_tree("{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
	same_as_tree("{\"stream\":true,\"stream_options\":{\"include_usage\":false,"
		     "\"include_usage\":true}}");
	same_as_tree("{\"stream_options\":{\"x\":{\"include_usage\":true}},\"stream\":true}");
	same_as_tree("{\"stream_options\":[{\"include_usage\":true}],\"stream\":true}");
	same_as_tree("{\"stream\":\"true\",\"model\":7,\"n\":3,\"max_tokens\":1e3}");
	same_as_tree("{\"messages\":[\"}\",\"]\",\"\\\"\",{\"a\":[[]]}],\"model\":\"after\"}");
	same_as_tree("{\"max_completion_tokens\":12,\"max_tokens\":9,\"best_of\":4,\"n\":2}");
	same_as_tree("{\"input\":[{\"type\":\"input_image\"}],\"max_output_tokens\":-1}");
	same_as_tree(" \t\r\n{ \"model\" : \"spaced\" , \"stream\" : true } \n");
	same_as_tree("{}");
	ASSERT_TRUE(fast_taken >= 10);
}

static void test_texts_cjson_reads_loosely(void)
{
	same_as_tree("{\"model\":\"a\"}garbage"); /* cJSON_ParseWithLength takes it */
	same_as_tree("{\"model\":\"a\"} x");
	same_as_tree("{\"model\":\"a\"}\x01");
	same_as_tree("\xef\xbb\xbf{\"model\":\"bom\"}");
	same_as_tree("\xef\xbb\xbf{}");
	same_as_tree("\x01\x02{\"model\":\"ctl\"}");
	same_as_tree("{\"n\":01,\"max_tokens\":1.,\"best_of\":-.5,\"model\":\"num\"}");
	same_as_tree("{\"n\":+1}");
	same_as_tree("{\"n\":1e}");
	same_as_tree("{\"model\":\"a\x01" "b\"}");
	same_as_tree("{\"mo\x01" "del\":\"a\",\"model\":\"b\"}");
	SAME_AS_TREE_BYTES("{\"model\":\"a\0b\"}");
	SAME_AS_TREE_BYTES("{\"model\0x\":\"a\",\"model\":\"b\"}");
	SAME_AS_TREE_BYTES("{\"model\":\"a\"}\0");
	SAME_AS_TREE_BYTES("\0{\"model\":\"a\"}");
	same_as_tree("{\"model\":\"\\u0067pt\",\"stream\":true}");
	same_as_tree("{\"mod\\u0065l\":\"x\",\"model\":\"y\"}");
	same_as_tree("{\"model\":\"\\ud800\"}");
	same_as_tree("{\"model\":\"\\q\"}");
	same_as_tree("{\"stream_options\":{\"include\\u005fusage\":true},\"stream\":true}");
	same_as_tree("{\"stream\":tru}");
	same_as_tree("{\"stream\":truex}");
	same_as_tree("{\"a\":1,}");
	same_as_tree("{,}");
	same_as_tree("{\"a\"}");
	same_as_tree("{\"model\":\"unterminated}");
	same_as_tree("{\"model\":\"a\\");
	same_as_tree("[{\"model\":\"in an array\"}]");
	same_as_tree("\"model\"");
	same_as_tree("null");
	same_as_tree("  ");
	same_as_tree("{\"model\":\"a\",\"model\":\"b\"}");
	same_as_tree("{\"n\":1,\"model\":\"a\",\"n\":2,\"model\":\"b\"}");
	same_as_tree("{\"stream\":true,\"stream\":false}");
}

static void test_nesting_past_cjsons_limit(void)
{
	size_t depths[] = {CJSON_NESTING_LIMIT - 1, CJSON_NESTING_LIMIT, CJSON_NESTING_LIMIT + 1};

	for (size_t d = 0; d < sizeof(depths) / sizeof(*depths); d++) {
		size_t n = depths[d], at = 0;
		char *text = malloc(2 * n + 64);

		ASSERT_TRUE(text != NULL);
		at += (size_t)sprintf(text, "{\"model\":\"deep\",\"x\":");
		memset(text + at, '[', n - 1);
		at += n - 1;
		memset(text + at, ']', n - 1);
		at += n - 1;
		text[at++] = '}';
		same_as_tree_n(text, at);
		free(text);
	}
}

/* Random edits of real bodies: where the scan answers, it answers what the tree does. */
static void test_mutated_bodies_agree(void)
{
	static const char *const seeds[] = {
	    bench_body,
	    "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hi \\\"there\\\"\\n\"}],\"n\":2}",
	    "{\"model\":\"o1\",\"input\":[{\"type\":\"input_image\",\"image_url\":\"x\"}],"
	    "\"max_output_tokens\":100,\"previous_response_id\":null}",
	    "{\"model\":\"claude\",\"max_tokens\":1024,\"stream\":false,\"messages\":[]}",
	};
	static const char alphabet[] = "{}[]\":,\\ tfnue0123456789.-+Emodelstream\x01\x00\xef";
	unsigned long long seed = 11;
	char text[512];

	for (int round = 0; round < 300000 && !unit_failed_current; round++) {
		const char *from = seeds[unit_rand(&seed, sizeof(seeds) / sizeof(*seeds))];
		size_t len = strlen(from);
		int edits = 1 + (int)unit_rand(&seed, 4);

		memcpy(text, from, len);
		for (int e = 0; e < edits && len > 1; e++) {
			size_t at = unit_rand(&seed, (unsigned)len);
			char ch = alphabet[unit_rand(&seed, sizeof(alphabet) - 1)];

			switch (unit_rand(&seed, 3)) {
			case 0:
				text[at] = ch;
				break;
			case 1:
				memmove(text + at, text + at + 1, len - at - 1);
				len--;
				break;
			default:
				if (len + 1 < sizeof(text)) {
					memmove(text + at + 1, text + at, len - at);
					text[at] = ch;
					len++;
				}
			}
		}
		same_as_tree_n(text, len);
	}
}

UNIT_MAIN(UNIT_CASE(test_plain_bodies_are_read_without_a_tree),
	  UNIT_CASE(test_texts_cjson_reads_loosely), UNIT_CASE(test_nesting_past_cjsons_limit),
	  UNIT_CASE(test_mutated_bodies_agree))
