/*
 * request_members: the top-level members of a request body the gateway decides on (routes,
 * prices, bounds a budget by), read in one walk of the parsed body: which of them it names
 * twice (refused: parsers differ on which of two counts) and the model, stream and
 * stream_options the proxy reads. One walk instead of a strcmp scan per key and a
 * cJSON_GetObjectItemCaseSensitive() per member read.
 *
 * Ownership: struct request_members points into the tree it was read from; nothing here
 * allocates.
 */
#ifndef AIGW_PROXY_REQUEST_MEMBERS_H
#define AIGW_PROXY_REQUEST_MEMBERS_H

#include <cjson/cJSON.h>

struct request_members {
	const char *twice;   /* the first of the decisive keys (in their order) named twice */
	const cJSON *model;  /* the first member of each name, or NULL: */
	const cJSON *stream; /* cJSON_GetObjectItemCaseSensitive()'s answers */
	const cJSON *stream_options;
};

/* Reads the members of the object ROOT into *RET. */
void request_members_read(const cJSON *root, struct request_members *ret);

/* The decisive keys, NULL-terminated, in the order twice is chosen in. */
extern const char *const request_members_decisive[];

#endif
