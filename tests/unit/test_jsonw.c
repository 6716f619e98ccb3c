/* test_jsonw.c: records written with jsonw are the JSON cJSON reads back, escapes included,
 * and audit_write_text() chains them like any record. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "ledger/audit.h"
#include "unit.h"
#include "util/jsonw.h"

static void test_round_trip(void)
{
	struct jsonw *w = jsonw_new();
	char *text;
	size_t len;
	cJSON *v;

	jsonw_str(w, "s", "quote\" backslash\\ newline\n tab\t bell\x07 é");
	jsonw_num(w, "i", 42);
	jsonw_num(w, "neg", -7);
	jsonw_num(w, "zero", 0);
	jsonw_num(w, "big", 9007199254740991.0);
	jsonw_num(w, "f", 3.25);
	jsonw_bool(w, "t", 1);
	jsonw_bool(w, "no", 0);
	jsonw_null(w, "n");
	jsonw_str(w, "nullstr", NULL);
	jsonw_strn(w, "cut", "abcdef", 3);
	text = jsonw_finish(w, &len);
	ASSERT_TRUE(text != NULL);
	ASSERT_EQ(len, strlen(text));
	ASSERT_CONTAINS(text, "\"i\":42,");
	ASSERT_CONTAINS(text, "\"zero\":0,");
	ASSERT_CONTAINS(text, "\"neg\":-7,");
	v = cJSON_Parse(text);
	ASSERT_TRUE(v != NULL);
	ASSERT_STREQ(cJSON_GetObjectItem(v, "s")->valuestring,
		     "quote\" backslash\\ newline\n tab\t bell\x07 é");
	ASSERT_EQ(cJSON_GetObjectItem(v, "big")->valuedouble, 9007199254740991.0);
	ASSERT_EQ(cJSON_GetObjectItem(v, "neg")->valueint, -7);
	ASSERT_EQ(cJSON_GetObjectItem(v, "i")->valueint, 42);
	ASSERT_TRUE(cJSON_GetObjectItem(v, "f")->valuedouble == 3.25);
	ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(v, "t")));
	ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItem(v, "no")));
	ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(v, "n")));
	ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(v, "nullstr")));
	ASSERT_STREQ(cJSON_GetObjectItem(v, "cut")->valuestring, "abc");
	cJSON_Delete(v);
	free(text);
}

static void test_empty_and_growth(void)
{
	struct jsonw *w = jsonw_new();
	char key[16], *text;
	size_t len;
	cJSON *v;

	text = jsonw_finish(jsonw_new(), &len);
	ASSERT_STREQ(text, "{}");
	free(text);
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		jsonw_str(w, key, "a value long enough to make the buffer grow several times");
	}
	text = jsonw_finish(w, &len);
	v = cJSON_Parse(text);
	ASSERT_TRUE(v != NULL);
	ASSERT_EQ(cJSON_GetArraySize(v), 500);
	cJSON_Delete(v);
	free(text);
}

static void test_audit_write_text_chains(void)
{
	char dir[] = "/tmp/aigw-jsonw-XXXXXX", path[64], *text, *line = NULL;
	const char *paths[1] = {path};
	struct audit_log *log;
	struct jsonw *w;
	size_t len, cap = 0;
	FILE *f, *devnull;
	int n = 0;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/a.jsonl", dir);
	ASSERT_OK(audit_open(path, NULL, &log));
	for (int i = 0; i < 3; i++) {
		w = jsonw_new();
		jsonw_str(w, "time", "2026-11-27T12:00:00.000000Z");
		jsonw_num(w, "i", i);
		text = jsonw_finish(w, &len);
		ASSERT_OK(audit_write_text(log, text, len));
	}
	ASSERT_EQ(audit_write_text(log, strdup("not json"), 8), -EINVAL);
	ASSERT_OK(audit_flush(log));
	audit_close(log);
	f = fopen(path, "r");
	ASSERT_TRUE(f != NULL);
	while (getline(&line, &cap, f) > 0) {
		cJSON *v = cJSON_Parse(line);

		ASSERT_TRUE(v != NULL);
		ASSERT_EQ(cJSON_GetObjectItem(v, "i")->valueint, n);
		ASSERT_EQ(cJSON_GetObjectItem(v, "audit.seq")->valueint, n + 1);
		ASSERT_TRUE(cJSON_GetObjectItem(v, "audit.prev_sha256") != NULL);
		ASSERT_EQ(cJSON_GetObjectItem(v, "audit.chain_start") != NULL, n == 0);
		cJSON_Delete(v);
		n++;
	}
	free(line);
	fclose(f);
	ASSERT_EQ(n, 3);
	devnull = fopen("/dev/null", "w");
	ASSERT_EQ(audit_verify(paths, 1, NULL, devnull), 0);
	fclose(devnull);
	unlink(path);
	rmdir(dir);
}

UNIT_MAIN(UNIT_CASE(test_round_trip), UNIT_CASE(test_empty_and_growth),
	  UNIT_CASE(test_audit_write_text_chains))
