/*
 * test_buffer_hold: the bytes a connection holds outside any call (struct buffer_hold) and a
 * call's answer (buffer_answer_hold) count in the daemon's and the workload's buffer_bytes in
 * credit steps taken ahead: a count never lags what is held, passes it by less than a step,
 * a cap is judged on what is really held, and a release gives every byte back.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "policy/govstate.h"
#include "policy/pipeline.h"
#include "policy/policy.h"
#include "policy/stages.h"
#include "unit.h"

#define KIB 1024ull
#define MIB (1024ull * 1024)
#define STEP (64 * KIB)

static const char *const POLICY =
    "{\"capture\": {\"cgroup\": \"/apps\"}, \"audit\": {\"path\": \"/tmp/a.log\"},"
    " \"proxy\": {\"limits\": {\"buffer_bytes\": 4194304}},"
    " \"providers\": {\"openai\": {\"hosts\": [\"api.openai.com\"], \"region\": \"us\"}},"
    " \"workloads\": ["
    "  {\"name\": \"capped\", \"match\": {\"cgroup\": \"/apps/capped\"},"
    "   \"limits\": {\"buffer_bytes\": 1048576}},"
    "  {\"name\": \"soft\", \"match\": {\"cgroup\": \"/apps/soft\"},"
    "   \"limits\": {\"buffer_bytes\": 1048576, \"enforce\": false}}"
    " ]}";

static struct policy *pol;
static struct govstate *gs;

static int world(void)
{
	if (pol)
		return 0;
	if (policy_load_string("p.json", POLICY, stderr, &pol) || govstate_open(NULL, stderr, &gs))
		return -1;
	return 0;
}

static void test_a_hold_counts_ahead_and_gives_all_back(void)
{
	struct buffer_hold h = {0};

	ASSERT_OK(world());
	ASSERT_EQ(buffer_hold_set(&h, gs, pol, "capped", 1), 0);
	ASSERT_EQ(govstate_held(gs, "buf"), 1); /* below a step: the bytes themselves */
	ASSERT_EQ(govstate_held(gs, "buf:capped"), 1);
	ASSERT_EQ(buffer_hold_set(&h, gs, pol, "capped", STEP), 0);
	ASSERT_EQ(govstate_held(gs, "buf:capped"), STEP);
	ASSERT_EQ(buffer_hold_set(&h, gs, pol, "capped", STEP + 1), 0);
	ASSERT_EQ(govstate_held(gs, "buf:capped"), 2 * STEP);
	for (uint64_t n = 4 * KIB; n <= 900 * KIB; n += 4 * KIB) {
		ASSERT_EQ(buffer_hold_set(&h, gs, pol, "capped", n), 0);
		ASSERT_TRUE(govstate_held(gs, "buf") >= n && govstate_held(gs, "buf") < n + STEP);
	}
	buffer_hold_release(&h);
	ASSERT_EQ(govstate_held(gs, "buf"), 0);
	ASSERT_EQ(govstate_held(gs, "buf:capped"), 0);
	buffer_hold_release(&h); /* twice: nothing more */
	ASSERT_EQ(govstate_held(gs, "buf"), 0);
}

/* The cap is judged on the bytes held: the credit taken ahead of them does not count. */
static void test_a_hold_is_over_past_the_cap_not_before(void)
{
	struct buffer_hold h = {0}, other = {0};

	ASSERT_OK(world());
	ASSERT_EQ(buffer_hold_set(&h, gs, pol, "capped", MIB - 100), 0);
	ASSERT_EQ(buffer_hold_set(&h, gs, pol, "capped", MIB), 0);
	ASSERT_EQ(buffer_hold_set(&h, gs, pol, "capped", MIB + 1), 1);
	ASSERT_EQ(buffer_hold_set(&h, gs, pol, "capped", MIB / 2), 0);
	/* another connection of the workload: its bytes and this one's together */
	ASSERT_EQ(buffer_hold_set(&other, gs, pol, "capped", MIB / 2 + STEP), 1);
	/* "enforce": false: served on (only the daemon's bound stops it) */
	buffer_hold_release(&other);
	ASSERT_EQ(buffer_hold_set(&other, gs, pol, "soft", 2 * MIB), 0);
	ASSERT_EQ(buffer_hold_set(&other, gs, pol, "soft", 4 * MIB), 1); /* the daemon's */
	buffer_hold_release(&other);
	buffer_hold_release(&h);
	ASSERT_EQ(govstate_held(gs, "buf"), 0);
}

/* An ended call's small answer still queued (a 413's, say) leaves the rest of a small cap to
 * the workload's next call: counted as a whole step it took all of a 64 KiB cap. */
static void test_a_small_queued_answer_leaves_the_cap_to_the_next_call(void)
{
	struct buffer_hold h = {0};
	struct pipe_req r = {0};

	ASSERT_OK(world());
	ASSERT_EQ(buffer_hold_set(&h, gs, pol, "capped", 300), 0);
	r.policy = pol;
	r.state = gs;
	r.wl = policy_workload_by_name(pol, "capped");
	snprintf(r.workload, sizeof(r.workload), "capped");
	r.content_length = MIB - 300; /* what is left of the workload's 1 MiB */
	r.max_body = 32 * MIB;
	ASSERT_EQ(stage_buffer.on_request(&r), PIPE_CONTINUE);
	ASSERT_EQ(govstate_held(gs, "buf:capped"), MIB);
	stage_buffer.on_end(&r, &(struct pipe_outcome){0});
	buffer_hold_release(&h);
	ASSERT_EQ(govstate_held(gs, "buf"), 0);
	ASSERT_EQ(govstate_held(gs, "buf:capped"), 0);
}

/* An answer read 4 KiB at a time: its count moves a step at a time, and its end gives it
 * back; past the workload's cap the proxy is told to stop. */
static void test_an_answer_counts_in_steps(void)
{
	struct pipe_req r = {0};
	int over = 0;

	ASSERT_OK(world());
	r.policy = pol;
	r.state = gs;
	r.wl = policy_workload_by_name(pol, "capped");
	snprintf(r.workload, sizeof(r.workload), "capped");
	for (uint64_t n = 4 * KIB; n <= MIB; n += 4 * KIB) {
		over |= buffer_answer_hold(&r, n);
		ASSERT_TRUE(govstate_held(gs, "buf:capped") >= n);
		ASSERT_TRUE(govstate_held(gs, "buf:capped") < n + STEP);
	}
	ASSERT_EQ(over, 0); /* exactly the cap: not past it */
	ASSERT_EQ(buffer_answer_hold(&r, MIB + 4 * KIB), 1);
	ASSERT_EQ(buffer_answer_hold(&r, 0), 0);
	ASSERT_EQ(govstate_held(gs, "buf"), 0);
	ASSERT_EQ(govstate_held(gs, "buf:capped"), 0);
}

/* A workload name longer than a hold keeps counts under the key it was cut to, "buf:" and
 * its first 127 bytes (as snprintf "buf:%s" of the kept name wrote it), and gives it all back. */
static void test_a_long_workload_name_counts_under_its_cut_key(void)
{
	struct buffer_hold h = {0};
	char name[300], key[300];

	ASSERT_OK(world());
	memset(name, 'w', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(key, sizeof(key), "buf:%.127s", name);
	ASSERT_EQ(buffer_hold_set(&h, gs, pol, name, 100), 0);
	ASSERT_EQ(govstate_held(gs, key), 100);
	ASSERT_EQ(govstate_held(gs, "buf"), 100);
	ASSERT_EQ(buffer_hold_set(&h, gs, pol, name, 7), 0);
	ASSERT_EQ(govstate_held(gs, key), 7);
	buffer_hold_release(&h);
	ASSERT_EQ(govstate_held(gs, key), 0);
	ASSERT_EQ(govstate_held(gs, "buf"), 0);
}

/* A hold's counters are pinned: another holder taking "buf:capped" to 0 (an answer released,
 * a sub past what is held) must not free the counter under it, and the counts stay what
 * counting by name gives. */
static void test_a_pinned_counter_outlives_others_reaching_zero(void)
{
	struct buffer_hold h = {0};

	ASSERT_OK(world());
	ASSERT_EQ(buffer_hold_set(&h, gs, pol, "capped", 1), 0);
	govstate_held_add(gs, "buf:capped", 5);
	ASSERT_EQ(govstate_held_sub(gs, "buf:capped", 100), 0); /* not below 0 */
	ASSERT_EQ(govstate_held_sub(gs, "buf", 100), 0);
	ASSERT_EQ(buffer_hold_set(&h, gs, pol, "capped", 3), 0);
	ASSERT_EQ(govstate_held(gs, "buf:capped"), 2); /* 1 -> 3 after the counter fell to 0 */
	ASSERT_EQ(govstate_held(gs, "buf"), 2);
	ASSERT_EQ(buffer_hold_set(&h, gs, pol, "soft", 7), 0); /* re-attributed: counted anew */
	ASSERT_EQ(govstate_held(gs, "buf:capped"), 0);
	ASSERT_EQ(govstate_held(gs, "buf:soft"), 7);
	govstate_held_sub(gs, "buf:soft", 7);
	buffer_hold_release(&h);
	ASSERT_EQ(govstate_held(gs, "buf"), 0);
	ASSERT_EQ(govstate_held(gs, "buf:soft"), 0);
}

#define WORKERS 4
#define ROUNDS 20000

struct worker_run {
	struct buffer_hold h[3]; /* a worker's connections */
	uint64_t seed;
};

/* One worker's connections holding, draining, moving between workloads and ending, with calls'
 * answers counted by name in the same counters between, as the proxy's workers do at once. */
static void *worker_main(void *arg)
{
	static const char *const names[] = {"capped", "soft", "", "capped"};
	struct worker_run *w = arg;
	uint64_t x = w->seed;

	for (int i = 0; i < ROUNDS; i++) {
		struct buffer_hold *h;
		uint64_t bytes;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		h = &w->h[x % 3];
		bytes = (x >> 8) % 4 ? (x >> 16) % (3 * STEP) : 0;
		if ((x >> 40) % 16 == 0)
			buffer_hold_release(h);
		else
			buffer_hold_set(h, gs, pol, names[(x >> 44) % 4], bytes);
		govstate_held_add(gs, "buf:capped", (x >> 50) % 1000);
		govstate_held_sub(gs, "buf:capped", (x >> 50) % 1000);
	}
	return NULL;
}

/* Many workers at once: every count is the sum of the credits its holds took, none lags or
 * leaks, and all is given back at the end. */
static void test_many_workers_count_exactly(void)
{
	struct worker_run runs[WORKERS] = {0};
	pthread_t t[WORKERS];
	uint64_t total = 0, capped = 0, soft = 0;

	ASSERT_OK(world());
	for (int i = 0; i < WORKERS; i++) {
		runs[i].seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
		ASSERT_EQ(pthread_create(&t[i], NULL, worker_main, &runs[i]), 0);
	}
	for (int i = 0; i < WORKERS; i++)
		ASSERT_EQ(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < WORKERS; i++)
		for (int j = 0; j < 3; j++) {
			const struct buffer_hold *h = &runs[i].h[j];

			if (!h->state)
				continue;
			total += h->credit;
			capped += strcmp(h->workload, "capped") ? 0 : h->credit;
			soft += strcmp(h->workload, "soft") ? 0 : h->credit;
		}
	ASSERT_EQ(govstate_held(gs, "buf"), total);
	ASSERT_EQ(govstate_held(gs, "buf:capped"), capped);
	ASSERT_EQ(govstate_held(gs, "buf:soft"), soft);
	for (int i = 0; i < WORKERS; i++)
		for (int j = 0; j < 3; j++)
			buffer_hold_release(&runs[i].h[j]);
	ASSERT_EQ(govstate_held(gs, "buf"), 0);
	ASSERT_EQ(govstate_held(gs, "buf:capped"), 0);
	ASSERT_EQ(govstate_held(gs, "buf:soft"), 0);
}

UNIT_MAIN(UNIT_CASE(test_a_hold_counts_ahead_and_gives_all_back),
	  UNIT_CASE(test_a_hold_is_over_past_the_cap_not_before),
	  UNIT_CASE(test_a_small_queued_answer_leaves_the_cap_to_the_next_call),
	  UNIT_CASE(test_an_answer_counts_in_steps),
	  UNIT_CASE(test_a_long_workload_name_counts_under_its_cut_key),
	  UNIT_CASE(test_a_pinned_counter_outlives_others_reaching_zero),
	  UNIT_CASE(test_many_workers_count_exactly))
