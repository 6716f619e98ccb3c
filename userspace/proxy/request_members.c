/* request_members.c: one walk of a request body's top level, of its tree or of its text (see
 * request_members.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "policy/json_locate.h"
#include "proxy/request_members.h"

enum { KEY_MODEL, KEY_STREAM, KEY_STREAM_OPTIONS }; /* their places below */

#define DECISIVE_KEYS                                                                              \
	"model", "stream", "stream_options", "max_tokens", "max_completion_tokens",                \
	    "max_output_tokens", "n", "best_of"

const char *const request_members_decisive[] = {DECISIVE_KEYS, NULL};

/* What request_members_scan() locates: the decisive keys of the root, then "include_usage"
 * of the first "stream_options" (json_locate_accepted_in()'s parents). */
static const char *const scan_keys[] = {DECISIVE_KEYS, "include_usage"};
#define N_SCAN (sizeof(scan_keys) / sizeof(*scan_keys))
#define KEY_INCLUDE_USAGE (N_SCAN - 1)
static const int scan_parents[] = {-1, -1, -1, -1, -1, -1, -1, -1, KEY_STREAM_OPTIONS};
_Static_assert(sizeof(scan_parents) / sizeof(*scan_parents) == N_SCAN, "a parent per key");

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

/* ---- the same from the text, without a tree ---- */

/* Whether the string body T[I..END) is what cJSON decodes it to: no escape, and no byte below
 * ' ' (a NUL would end cJSON's C string). */
static int text_is_plain(const unsigned char *t, size_t i, size_t end)
{
	for (; i < end; i++)
		if (t[i] == '\\' || t[i] < ' ')
			return 0;
	return 1;
}

/* The value located at POS is true. */
static int text_is_true(const unsigned char *t, const struct json_locate_pos *pos)
{
	return pos->value != JSON_LOCATE_NONE && t[pos->value] == 't';
}

/*
 * One walk (json_locate_accepted_in()) accepts the text and locates the first of each decisive
 * member and stream_options' "include_usage". A name with an escape (it may decode to a
 * decisive one) or a decisive name twice (the tree says which, in the keys' order) in the
 * objects searched makes the walk "odd": those bodies, rare and mostly refused, the tree reads.
 */
int request_members_scan(const char *text, size_t len, struct request_scan *ret)
{
	const unsigned char *t = (const unsigned char *)text;
	struct json_locate_pos pos[N_SCAN];
	const struct json_locate_pos *model = &pos[KEY_MODEL];
	size_t root;
	int odd;

	*ret = (struct request_scan){0};
	/* cJSON_ParseWithLength() also takes what follows its value: those texts it decides */
	if (json_locate_accepted_in(text, len, scan_keys, scan_parents, N_SCAN, pos, &root, &odd))
		return -EAGAIN;
	if (t[root] != '{')
		return 0;
	ret->object = 1; /* from here, only memory can keep cJSON from its tree */
	if (odd)
		return -EAGAIN;
	if (model->value != JSON_LOCATE_NONE && t[model->value] == '"') {
		if (!text_is_plain(t, model->value + 1, model->end - 1)) /* the tree decodes it */
			return -EAGAIN;
		ret->model = text + model->value + 1;
		ret->model_len = model->end - model->value - 2;
	}
	ret->stream = text_is_true(t, &pos[KEY_STREAM]);
	ret->include_usage = text_is_true(t, &pos[KEY_INCLUDE_USAGE]);
	return 0;
}
