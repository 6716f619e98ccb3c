/*
 * stages: the policy stages the pipeline walks (policy/pipeline.c lists their order), and
 * what several of them share. Each stage is one file, policy/stage_NAME.c.
 */
#ifndef AIGW_POLICY_STAGES_H
#define AIGW_POLICY_STAGES_H

#include <stdint.h>

#include "policy/pipeline.h"

extern const struct stage stage_host;	     /* Host names the TLS server name */
extern const struct stage stage_audit;	     /* audit.on_failure: no call unrecorded */
extern const struct stage stage_attribution; /* a captured call names its workload */
extern const struct stage stage_body_limit;  /* proxy.max_request_body */
extern const struct stage stage_explicit_key;   /* the explicit endpoint: the caller's key */
extern const struct stage stage_buffer;	     /* limits.buffer_bytes: request bodies held */
extern const struct stage stage_explicit_paths; /* ... and the paths it serves */
extern const struct stage stage_endpoints;   /* allow.endpoints, canonical paths */
extern const struct stage stage_route;	     /* a logical name's route */
extern const struct stage stage_allow;	     /* allow.models, .providers, .regions */
extern const struct stage stage_guard;	     /* guardrails: what a call carries out */
extern const struct stage stage_limits;	     /* limits.* */
extern const struct stage stage_budget;	     /* budget of the workload and its team */

/* Whether S matches one of G's globs (fnmatch, FNM_PATHNAME). An absent list matches. */
int pipe_globs_match(const struct policy_globs *g, const char *s);

/* The tokens a call can use at most (policy/estimate.c): input from the body's bytes plus
 * each image's worst cost, output from its max tokens field or the model's ceiling. */
#define PIPE_IMAGE_TOKENS 8000	     /* no provider bills one image above this today */
#define PIPE_OUTPUT_CEILING 128000   /* the largest output any priced model allows */
int pipe_token_bounds(struct pipe_req *r, int64_t *ret_input, int64_t *ret_output);

/* The name of the max tokens field of R's API (NULL: it has none) and its value in the body
 * (0: absent). Both read the body's tree: 0, or -ENOMEM when it could not be built
 * (pipe_req_json()); the caller refuses the call. */
int pipe_max_tokens_field(const struct pipe_req *r, const char **ret_field, int64_t *ret_value);

#endif
