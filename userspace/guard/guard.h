/*
 * guard/guard: the guardrails applied to one call. What the provider will read (every
 * string of the request's JSON: messages, system prompts, tool calls and results, the
 * responses API's input) is scanned and, by the profile's actions, recorded, redacted
 * ("[EMAIL_1]"), tokenized (a placeholder going out, the app's own value restored in the
 * answer) or blocked; what the app will read back (a whole answer, or a stream event by
 * event, in the app's API) is scanned the same and has its placeholders restored.
 *
 * Strings are found in the raw JSON text and only they are rewritten: every other byte of
 * a body goes as it came. A JSON escape never hides a value (strings are scanned decoded).
 *
 * A stream is re-framed: a text delta's bytes that could still become a match with the next
 * delta (at most guard_scanner_max_width() bytes, and an unfinished placeholder) are held
 * back and go out at the front of the next delta of the same channel, or before any event
 * that is not a text delta, or at the end.
 *
 * Ownership: a guard_profile is the policy snapshot's (guard_profile_parse(), freed with
 * guard_profile_free()); a guard_call is its exchange's (guard_call_new(), freed with
 * guard_call_free()) and borrows its profile, which the exchange's policy reference keeps
 * alive; a guard_stream is its exchange's and borrows its guard_call. Bodies returned
 * (ret_body) are the caller's to free().
 */
#ifndef AIGW_GUARD_GUARD_H
#define AIGW_GUARD_GUARD_H

#include <stddef.h>

#include "guard/scan.h"

struct cJSON;
struct jsonw;
struct translate_buf;

enum guard_action {
	GUARD_OFF = 0,	 /* not looked for */
	GUARD_RECORD,	 /* found and counted; the call goes on as it is */
	GUARD_REDACT,	 /* replaced by "[LABEL_N]" */
	GUARD_TOKENIZE,	 /* replaced by "[LABEL_N]" going out; restored in the answer */
	GUARD_BLOCK,	 /* the call is refused (request) or the answer withheld (response) */
};

/* The app's API, as the guardrails read its bodies and stream events. */
enum guard_api {
	GUARD_API_OPENAI_CHAT,
	GUARD_API_OPENAI_RESPONSES,
	GUARD_API_OPENAI_EMBEDDINGS,
	GUARD_API_ANTHROPIC_MESSAGES,
};

struct guard_profile;

/*
 * A profile from the policy's "guardrails": {NAME: OBJ}:
 *   "request":  {"pii": ACTION, "secrets": ACTION, "ip": ACTION, "injection": ACTION}
 *   "response": {"pii": ACTION, "secrets": ACTION, "ip": ACTION}
 *   "patterns": [{"name", "regex", "action"}]      (applied to the request)
 *   "injection_threshold": number > 0              (default 1.0: block/record above it)
 *   "enforce": false                               (nothing changed or refused: recorded
 *                                                    as "would_" + the action)
 * ACTION: "record", "redact", "tokenize" (request only), "block". "injection" takes
 * "record" or "block". Unknown keys and wrong types are errors. Returns 0, -EINVAL with ERR
 * (naming the key), or -ENOMEM.
 */
int guard_profile_parse(const char *name, const struct cJSON *obj, struct guard_profile **ret,
			char *err, size_t errlen);
void guard_profile_free(struct guard_profile *p);
const char *guard_profile_name(const struct guard_profile *p);
const char *guard_action_name(enum guard_action a);

struct guard_call;

/* Returns NULL when out of memory. */
struct guard_call *guard_call_new(const struct guard_profile *p, enum guard_api api);
void guard_call_free(struct guard_call *gc);

/*
 * The request BODY (LEN bytes, JSON) as the provider may read it. Returns 0 with *RET_BODY
 * NULL (nothing to change) or a new body (*RET_LEN bytes); -EPERM when a "block" detector
 * matched or injection scored past the threshold (guard_call_blocked_by() names it; with
 * enforce off this is recorded and 0 returned); -EINVAL when the body is not JSON; -ENOMEM,
 * -EIO (the engine failed): the caller refuses the call (fails closed).
 */
int guard_request(struct guard_call *gc, const char *body, size_t len, char **ret_body,
		  size_t *ret_len);

/*
 * The request target (path and query, as sent: URL, LEN bytes), decoded, scanned: the
 * provider reads it too. It is never rewritten, so a match to redact, tokenize or block
 * refuses the call: -EPERM as guard_request(); one to record is counted. Returns 0, -EPERM,
 * -ENOMEM, -EIO.
 */
int guard_request_target(struct guard_call *gc, const char *url, size_t len);

/* Whether any request detector matched so far. */
int guard_call_found(const struct guard_call *gc);

/* The detector that blocked (its name), or, with "enforce": false, that would have; or
 * NULL. */
const char *guard_call_blocked_by(const struct guard_call *gc);

/* Whether a detector matched in the request's top-level "model": its value must not be
 * recorded (the record says "[withheld]"). */
int guard_call_model_matched(const struct guard_call *gc);

/* Whether the answer must pass through the guardrails: placeholders to restore, or a
 * response detector switched on. When 0 the answer is not touched. */
int guard_call_reads_response(const struct guard_call *gc);
/* Whether profile P refuses what it finds ("enforce", default true). */
int guard_profile_enforced(const struct guard_profile *p);

/*
 * A whole answer (JSON, the app's API) as the app may read it: response detectors applied,
 * placeholders restored. Returns as guard_request() does (-EPERM: withhold the answer).
 */
int guard_response(struct guard_call *gc, const char *body, size_t len, char **ret_body,
		   size_t *ret_len);

struct guard_stream;

/* Returns NULL when out of memory. */
struct guard_stream *guard_stream_new(struct guard_call *gc);
void guard_stream_free(struct guard_stream *gs);

/*
 * Stream bytes (text/event-stream, the app's API, any slice) in; what the app may read out,
 * appended to OUT as whole events. Returns 0; -EPERM when a "block" detector matched in the
 * answer (the caller ends the stream with an error event; nothing of the match was
 * appended); -EMSGSIZE/-ENOMEM/-EIO: the caller ends the stream with an error event.
 */
int guard_stream_feed(struct guard_stream *gs, const char *bytes, size_t len,
		      struct translate_buf *out);

/* The stream ended: whatever is held goes out (as delta events of its channels). */
int guard_stream_finish(struct guard_stream *gs, struct translate_buf *out);

/* The units of work GS has done so far: text bytes handed to the scanner, JSON members and
 * array elements passed in lookups, channels compared. It grows in proportion to the input,
 * whatever the input (tests/unit/test_guard_work.c holds it to that). */
unsigned long long guard_stream_work(const struct guard_stream *gs);

/* The bytes GS holds now (its buffers' capacities: templates, held text, scratch, the event
 * being read). It does not grow with the number of channels a stream opens
 * (tests/unit/test_guard_work.c holds it to that). */
size_t guard_stream_held(const struct guard_stream *gs);

/*
 * "aigw.guardrails" on the call's record:
 *   {"profile": NAME, "enforce": BOOL,
 *    "request":  {DETECTOR: {"count": N, "action": ACTION}, ...},
 *    "response": {DETECTOR: {"count": N, "action": ACTION}, ...},
 *    "injection": {"score": X, "threshold": T, "signals": [NAMES], "action": ACTION},
 *    "blocked_by": DETECTOR, "restored": N}
 * Never a matched value, nor anything derived from one (no hash, no length).
 */
void guard_call_record(const struct guard_call *gc, struct jsonw *rec);

#endif
