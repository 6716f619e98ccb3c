/*
 * request_members: the top-level members of a request body the gateway decides on (routes,
 * prices, bounds a budget by), read in one walk of the parsed body: which of them it names
 * twice (refused: parsers differ on which of two counts) and the model, stream and
 * stream_options the proxy reads. One walk instead of a strcmp scan per key and a
 * cJSON_GetObjectItemCaseSensitive() per member read. request_members_scan() reads the same
 * from the text (json_locate_accepted_in() says whether cJSON takes it), so that a request no
 * stage reads the tree of is never parsed into one.
 *
 * Ownership: struct request_members points into the tree it was read from, struct
 * request_scan into the text; nothing here allocates.
 */
#ifndef AIGW_PROXY_REQUEST_MEMBERS_H
#define AIGW_PROXY_REQUEST_MEMBERS_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct request_members {
	const char *twice;   /* the first of the decisive keys (in their order) named twice */
	const cJSON *model;  /* the first member of each name, or NULL: */
	const cJSON *stream; /* cJSON_GetObjectItemCaseSensitive()'s answers */
	const cJSON *stream_options;
};

/* Reads the members of the object ROOT into *RET. */
void request_members_read(const cJSON *root, struct request_members *ret);

/*
 * The same read from TEXT (LEN bytes) without a tree, for what cJSON_ParseWithLength() would
 * make of it. Returns 0 and *RET, or -EAGAIN when only the tree can tell: the text is not one
 * value followed by blanks (cJSON may still read a value there), a member's name or the model
 * is written with an escape, or a decisive key is named twice (RET->twice is then the tree's
 * to say). With -EAGAIN, RET->object is 1 when the walk proved the text one JSON object that
 * cJSON takes (a tree of it can then fail only for want of memory), and nothing else is set.
 * RET->model points into TEXT.
 */
struct request_scan {
	int object;	     /* the text is one JSON object: nothing else below is set if not */
	const char *twice;   /* as request_members.twice; nothing else below is set if named */
	const char *model;   /* the first "model" when a string: its MODEL_LEN bytes, or NULL */
	size_t model_len;
	int stream;	     /* the first "stream" is true */
	int include_usage;   /* the first "stream_options" is an object whose first
				"include_usage" is true */
};

int request_members_scan(const char *text, size_t len, struct request_scan *ret);

/* The decisive keys, NULL-terminated, in the order twice is chosen in. */
extern const char *const request_members_decisive[];

#endif
