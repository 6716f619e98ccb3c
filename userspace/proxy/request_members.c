/* request_members.c: one walk of a request body's top level (see request_members.h). */
#include <stdint.h>
#include <string.h>

#include "proxy/request_members.h"

enum { KEY_MODEL, KEY_STREAM, KEY_STREAM_OPTIONS }; /* their places below */

const char *const request_members_decisive[] = {"model",
						"stream",
						"stream_options",
						"max_tokens",
						"max_completion_tokens",
						"max_output_tokens",
						"n",
						"best_of",
						NULL};

/* NAME's place among the decisive keys, or -1: a byte compared before each strcmp. */
static int decisive_index(const char *name)
{
	for (int i = 0; request_members_decisive[i]; i++)
		if (name[0] == request_members_decisive[i][0] &&
		    !strcmp(name, request_members_decisive[i]))
			return i;
	return -1;
}

void request_members_read(const cJSON *root, struct request_members *ret)
{
	const cJSON
	    *first[sizeof(request_members_decisive) / sizeof(*request_members_decisive) - 1] = {0};
	uint32_t twice = 0;

	for (const cJSON *it = root ? root->child : NULL; it; it = it->next) {
		int i = it->string ? decisive_index(it->string) : -1;

		if (i < 0)
			continue;
		if (first[i])
			twice |= 1u << i;
		else
			first[i] = it;
	}
	ret->twice = twice ? request_members_decisive[__builtin_ctz(twice)] : NULL;
	ret->model = first[KEY_MODEL];
	ret->stream = first[KEY_STREAM];
	ret->stream_options = first[KEY_STREAM_OPTIONS];
}
