// SPDX-License-Identifier: MIT
/*
 * mockprov faults: the fault rules set through the control listener.
 *
 * A rule has a mode, the providers it covers (a mask of 1 << enum provider) and how many more
 * requests it applies to (-1: until reset). Setting a rule for some providers takes those
 * providers away from older rules; mode "none" only does that. A request of provider P takes the
 * newest rule covering P and uses up one of its count; a rule set for both providers with a count
 * shares that count between them. All worker threads share the rules, behind one mutex.
 */
#include <errno.h>
#include <string.h>

#include "mock.h"

#define MAX_RULES 4

struct fault_rule {
	enum fault_mode mode;
	unsigned int mask;
	long remaining;
	int delay_ms;
	char message[FAULT_MESSAGE_MAX]; /* struct fault's */
};

static const char *const mode_names[FAULT__COUNT] = {
    [FAULT_NONE] = "none",	     [FAULT_DOWN] = "down",
    [FAULT_RATELIMIT] = "ratelimit", [FAULT_OVERLOADED] = "overloaded",
    [FAULT_SLOW] = "slow",	     [FAULT_RESET] = "reset",
    [FAULT_GARBAGE] = "garbage",     [FAULT_HANG] = "hang",
    [FAULT_BLOCKED] = "blocked",     [FAULT_FILTERED] = "filtered",
    [FAULT_STREAM_TOKENS] = "stream_tokens", [FAULT_STREAM_REQUESTS] = "stream_requests",
    [FAULT_STREAM_OVERLOADED] = "stream_overloaded",
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct fault_rule rules[MAX_RULES]; /* newest first */
static int nrules;

const char *fault_name(enum fault_mode mode)
{
	if ((unsigned int)mode >= FAULT__COUNT)
		return "?";
	return mode_names[mode];
}

int fault_parse(const char *name)
{
	int i;

	for (i = 0; i < FAULT__COUNT; i++)
		if (!strcmp(name, mode_names[i]))
			return i;
	return -EINVAL;
}

static void rule_remove(int i)
{
	memmove(&rules[i], &rules[i + 1], (nrules - i - 1) * sizeof(rules[0]));
	nrules--;
}

/* Takes the providers in mask away from every rule; rules left with none are dropped. */
static void uncover(unsigned int mask)
{
	int i = 0;

	while (i < nrules) {
		rules[i].mask &= ~mask;
		if (!rules[i].mask)
			rule_remove(i);
		else
			i++;
	}
}

int fault_set(enum fault_mode mode, unsigned int mask, long count, int delay_ms,
	      const char *message)
{
	if ((unsigned int)mode >= FAULT__COUNT || !mask || count == 0 ||
	    strlen(message) >= FAULT_MESSAGE_MAX)
		return -EINVAL;
	pthread_mutex_lock(&lock);
	uncover(mask);
	if (mode != FAULT_NONE) {
		if (nrules == MAX_RULES)
			nrules--;
		memmove(&rules[1], &rules[0], nrules * sizeof(rules[0]));
		rules[0] = (struct fault_rule){
		    .mode = mode, .mask = mask, .remaining = count, .delay_ms = delay_ms};
		strcpy(rules[0].message, message);
		nrules++;
	}
	pthread_mutex_unlock(&lock);
	return 0;
}

void fault_clear(void)
{
	pthread_mutex_lock(&lock);
	nrules = 0;
	pthread_mutex_unlock(&lock);
}

void fault_take(enum provider prov, struct fault *out)
{
	unsigned int bit = 1u << prov;
	int i;

	out->mode = FAULT_NONE;
	out->delay_ms = 0;
	out->message[0] = '\0';
	pthread_mutex_lock(&lock);
	for (i = 0; i < nrules; i++) {
		if (!(rules[i].mask & bit))
			continue;
		out->mode = rules[i].mode;
		out->delay_ms = rules[i].delay_ms;
		strcpy(out->message, rules[i].message);
		if (rules[i].remaining > 0 && --rules[i].remaining == 0)
			rule_remove(i);
		break;
	}
	pthread_mutex_unlock(&lock);
	if (out->mode != FAULT_NONE)
		stats_fault(out->mode);
}

cJSON *fault_dump(void)
{
	cJSON *arr = cJSON_CreateArray();
	int i;

	if (!arr)
		return NULL;
	pthread_mutex_lock(&lock);
	for (i = 0; i < nrules; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON *provs = cJSON_CreateArray();

		if (!o || !provs) {
			cJSON_Delete(o);
			cJSON_Delete(provs);
			break;
		}
		cJSON_AddStringToObject(o, "mode", fault_name(rules[i].mode));
		if (rules[i].mask & (1u << PROV_OPENAI))
			cJSON_AddItemToArray(provs, cJSON_CreateString("openai"));
		if (rules[i].mask & (1u << PROV_ANTHROPIC))
			cJSON_AddItemToArray(provs, cJSON_CreateString("anthropic"));
		if (rules[i].mask & (1u << PROV_GEMINI))
			cJSON_AddItemToArray(provs, cJSON_CreateString("gemini"));
		cJSON_AddItemToObject(o, "providers", provs);
		cJSON_AddNumberToObject(o, "remaining", rules[i].remaining);
		cJSON_AddNumberToObject(o, "delay_ms", rules[i].delay_ms);
		if (rules[i].message[0])
			cJSON_AddStringToObject(o, "message_json", rules[i].message);
		cJSON_AddItemToArray(arr, o);
	}
	pthread_mutex_unlock(&lock);
	return arr;
}
