/* flood: the per-second rate of individually recorded denials, and the aggregates. */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "capture/flood.h"
#include "unit.h"

#define S(n) ((uint64_t)(n) * 1000000000ull)

struct seen {
	int n;
	double count[8];
	char reason[8][48];
};

static void on_record(struct jsonw *rec, void *arg)
{
	struct seen *seen = arg;
	size_t len;
	char *text = jsonw_finish(rec, &len);
	cJSON *o = cJSON_ParseWithLength(text, len);

	if (seen->n < 8) {
		seen->count[seen->n] = cJSON_GetObjectItem(o, "aigw.count")->valuedouble;
		snprintf(seen->reason[seen->n], 48, "%s",
			 cJSON_GetObjectItem(o, "aigw.reason")->valuestring);
	}
	seen->n++;
	cJSON_Delete(o);
	free(text);
}

static void test_first_ten_a_second_then_one_count(void)
{
	struct seen seen = {0};
	struct flood *f;
	int admitted = 0;

	ASSERT_EQ(flood_new(on_record, &seen, &f), 0);
	for (int i = 0; i < 25; i++)
		admitted += flood_admit(f, "billing", "curl", "deny_port", S(5) + i);
	ASSERT_EQ(admitted, FLOOD_INDIVIDUAL_PER_S);
	/* another process, another reason: a rate of their own */
	ASSERT_EQ(flood_admit(f, "billing", "python3", "deny_port", S(5)), 1);
	ASSERT_EQ(flood_admit(f, "billing", "curl", "deny_udp_quic", S(5)), 1);
	ASSERT_EQ(seen.n, 0); /* the second is not over */
	ASSERT_EQ(flood_admit(f, "billing", "curl", "deny_port", S(6)), 1); /* a new second */
	ASSERT_EQ(seen.n, 1);
	ASSERT_EQ(seen.count[0], 15);
	ASSERT_STREQ(seen.reason[0], "deny_port");
	for (int i = 0; i < 11; i++)
		flood_admit(f, "billing", "curl", "deny_port", S(6));
	flood_tick(f, S(6) + 500); /* still in it */
	ASSERT_EQ(seen.n, 1);
	flood_tick(f, S(7));
	ASSERT_EQ(seen.n, 2);
	ASSERT_EQ(seen.count[1], 2); /* 12 in second 6, 10 of them recorded */
	flood_free(f);
	ASSERT_EQ(seen.n, 2);
}

static void test_full_table_records_everything(void)
{
	struct seen seen = {0};
	struct flood *f;
	char name[32];
	int admitted = 0;

	ASSERT_EQ(flood_new(on_record, &seen, &f), 0);
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "w%d", i);
		admitted += flood_admit(f, name, "curl", "deny_port", S(1));
	}
	ASSERT_EQ(admitted, 5000); /* each key once: under the rate, or past what the table holds */
	flood_free(f);
	ASSERT_EQ(seen.n, 0);
}

UNIT_MAIN(UNIT_CASE(test_first_ten_a_second_then_one_count),
	  UNIT_CASE(test_full_table_records_everything))
