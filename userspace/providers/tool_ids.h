/*
 * tool_ids: the tool call ids of a request on its way to a target that is not Gemini. A
 * conversation a Gemini target served carries Gemini's thoughtSignature inside its tool call
 * ids (call_<24>__thought__<base64url>, translate_util.h); no other provider reads it, and
 * OpenAI refuses a tool call id over 40 characters. So when such a conversation's next turn
 * goes elsewhere (a fallback, a logical name), each id is cut at TRANSLATE_SIG_MARK in the
 * call and in its result alike: the cut depends on the id alone, so a call and its result
 * still match. An edit of the text: every other byte is the app's (as request_set_model()).
 */
#ifndef AIGW_PROVIDERS_TOOL_IDS_H
#define AIGW_PROVIDERS_TOOL_IDS_H

#include <stddef.h>

#include "providers/usage.h"

/*
 * BODY (LEN bytes, JSON cJSON accepted, a request of usage API API) with its tool call ids
 * cut at TRANSLATE_SIG_MARK: OpenAI chat messages[].tool_calls[].id and messages[].
 * tool_call_id; Anthropic Messages (and Bedrock's InvokeModel, which takes Anthropic's body)
 * messages[].content[].id and .tool_use_id; Bedrock Converse messages[].content[].toolUse.
 * toolUseId and .toolResult.toolUseId. An id written with escapes is left as it is (the
 * gateway never writes one so). Returns the number of ids cut and *RET (NUL-terminated, *RET_LEN
 * bytes; the caller frees), 0 when nothing was cut (*RET NULL), or -ENOMEM.
 */
int tool_ids_strip(enum usage_api api, const char *body, size_t len, char **ret, size_t *ret_len);

#endif
