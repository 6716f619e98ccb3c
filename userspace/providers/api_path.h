/*
 * api_path: where a provider serves its API, and the canonical path of a call.
 *
 * OpenAI and Anthropic serve their APIs under "/v1" ("/v1/chat/completions"); OpenAI-compatible
 * clouds serve the same calls under a root of their own: Groq's "/openai/v1", Fireworks'
 * "/inference/v1", OpenRouter's "/api/v1", Perplexity's "" (no version: "/chat/completions").
 * A provider's API root (policy.h: api_root) is the path that stands for "/v1" there. The
 * gateway reads every call by its canonical path, the root replaced by "/v1" (classification,
 * usage, cost, endpoint allow-lists, records), and sends it with the provider's own.
 *
 * Roots are whole segments: "/openai/v1x/..." is not under "/openai/v1". Nothing here decodes
 * or resolves a path: a call whose path has dot segments or escapes is refused by the
 * endpoint stage on the path as sent, before its canonical form matters.
 */
#ifndef AIGW_PROVIDERS_API_PATH_H
#define AIGW_PROVIDERS_API_PATH_H

#include <stddef.h>

#define API_PATH_ROOT "/v1" /* the canonical root: OpenAI's and Anthropic's */

/*
 * The canonical form of request target URL (path and query) sent to a provider whose API root
 * is ROOT. Returns
 *   0        URL is canonical as sent (*RET NULL): ROOT is "/v1"; or ROOT is "" and URL is
 *            already under "/v1" (those providers serve both forms)
 *   1        *RET is the canonical target, ROOT replaced by "/v1" (new; the caller frees)
 *   -ENOENT  URL is outside ROOT: none of that provider's API calls (*RET NULL)
 *   -ENOMEM
 */
int api_path_canonical(const char *root, const char *url, char **ret);

/*
 * The target at which a provider whose API root is ROOT serves the canonical target URL:
 * its "/v1" replaced by ROOT; a URL outside "/v1" is sent as it is. Into BUF (SIZE bytes,
 * NUL-terminated): 0, or -ENOSPC.
 */
int api_path_upstream(const char *root, const char *url, char *buf, size_t size);

#endif
