/*
 * resp_head.h: the fast path for the head of a provider's answer (resp_head.c).
 *
 * resp_head_execute() stands in for the first http_parser_execute() of an answer when the
 * whole answer is simple and already in DATA: it calls SETTINGS' callbacks on RP as
 * http_parser would, in the same order, with the same bytes, and leaves RP's public fields
 * (status_code, http_major/minor, flags, content_length, upgrade, http_errno) as they would
 * be. Anything else it declines before touching RP or calling anything, and the caller hands
 * the same bytes to http_parser_execute().
 *
 * The caller's contract: RP is freshly initialised for HTTP_RESPONSE (nothing fed to it yet),
 * and once a callback pauses RP it is never resumed (response.c pauses at each message's end
 * and at every stop). RP's private parse state is left at the start of a response, which is
 * where http_parser leaves it after a message; after a pause mid-answer it is not.
 */
#ifndef AIGW_PROXY_RESP_HEAD_H
#define AIGW_PROXY_RESP_HEAD_H

#include <stddef.h>
#include <http_parser.h>

/* 1 when the answer at DATA (LEN bytes) was taken: *RET_USED is what http_parser_execute()
 * would have returned. 0 when declined: RP untouched, no callback called. HEAD_REQUEST: the
 * answer is to a HEAD (it has no body, whatever it declares: declined). */
int resp_head_execute(http_parser *rp, const http_parser_settings *settings, const char *data,
		      size_t len, int head_request, size_t *ret_used);

#endif
