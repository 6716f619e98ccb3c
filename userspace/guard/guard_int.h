/*
 * guard/guard_int.h: what guard.c (profiles, calls, whole bodies) shares with stream.c (the
 * re-framer): the profile and call structs, and the steps both run on a text. Internal to
 * guard/.
 */
#ifndef AIGW_GUARD_GUARD_INT_H
#define AIGW_GUARD_GUARD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "guard/guard.h"
#include "guard/jsontext.h"
#include "providers/translate.h"

#define GUARD_PLACEHOLDER_MAX 48 /* "[" LABEL "_" N "]": a label is at most 40 bytes */

struct guard_pattern {
	char *name, *regex; /* owned */
	enum guard_action action;
};

struct guard_profile {
	char *name; /* owned */
	enum guard_action req[GUARD_CAT_COUNT], resp[GUARD_CAT_COUNT];
	struct guard_pattern *patterns; /* owned, N_PATTERNS */
	size_t n_patterns;
	double threshold;	     /* injection score that triggers req[GUARD_CAT_INJECTION] */
	enum guard_action unscanned; /* GUARD_BLOCK: a call carrying what cannot be read is
					refused; else GUARD_RECORD */
	int enforce;
	struct guard_scanner *req_scan, *resp_scan; /* owned; NULL: nothing to look for */
};

/* A placeholder the call handed out, and the value it stands for. */
struct guard_value {
	const char *label; /* the detector's label (the profile's scanner owns it) */
	unsigned n;	   /* the N of "[LABEL_N]", per label from 1 */
	char *value;	   /* owned, LEN bytes */
	size_t len;
	int tokenized; /* restored in the answer (a request "tokenize") */
};

struct guard_call {
	const struct guard_profile *p; /* borrowed */
	enum guard_api api;
	unsigned *req_count, *resp_count; /* per detector of each scanner; owned */
	uint32_t signals;		  /* injection detectors seen in the request */
	double score;			  /* their weights summed */
	const char *blocked_by;		  /* a detector name (a scanner owns it) or "injection" */
	size_t unscanned, restored, n_tokenized;
	int model_matched; /* a detector matched in the request's top-level "model" */
	const char *body;  /* the request being walked (guard_request()), borrowed */
	size_t body_len;
	unsigned char *payload; /* a base64 payload decoded; owned, PAYLOAD_CAP bytes */
	size_t payload_cap;
	struct guard_value *values; /* owned, N_VALUES */
	size_t n_values, cap_values;
	/* Two open-addressing indexes of VALUES (slot: index + 1, 0 empty; N_SLOTS a power of
	 * two, at least twice N_VALUES): by label and value, by label and N. A body with a
	 * million distinct values costs a million lookups, not a million squared. Owned. */
	uint32_t *by_value, *by_name;
	size_t n_slots;
	unsigned *label_next; /* per label seen, the next N: LABELS[i] for LABEL_NEXT[i] */
	const char **labels;
	size_t n_labels;
	struct guard_match *m; /* scan results; owned, M_MAX */
	size_t m_max;
	struct translate_buf work; /* a string being rewritten */
	/* A text as a model reads it (guard/fold.h) and, per byte, where it came from: scratch
	 * of guard_scan_all(), owned. */
	struct translate_buf fold;
	uint32_t *fold_map;
	size_t fold_map_cap;
};

/* Whether a string of a body is left alone: the top-level "model" of an answer (a request's
 * is scanned by guard_request(), never rewritten), or a base64 payload: a
 * long string of base64 bytes under "data", "signature" or "encrypted_content", or a long
 * "data:" URL (counted in gc->unscanned). */
int guard_string_skipped(struct guard_call *gc, const struct jsontext_string *s);

/* Scans TEXT with S into gc->m; *RET_N matches (all of them: the array grows). A text a
 * model would read otherwise than its bytes (guard/fold.h) is scanned as the model reads it
 * and the matches are given in TEXT's offsets, covering the characters folded away inside
 * them; its injection signals are those of both readings. */
int guard_scan_all(struct guard_call *gc, struct guard_scanner *s, const char *text, size_t len,
		   size_t *ret_n, struct guard_scan_result *ret_res);

/*
 * Appends TEXT [FROM, TO) to OUT as the app may read it: the response matches M (N of them,
 * offsets in TEXT, all inside [FROM, TO)) counted and redacted, the call's placeholders
 * elsewhere restored. Returns 0, -EPERM (a "block" detector, enforced: gc->blocked_by set and
 * nothing appended), -ENOMEM.
 */
int guard_answer_span(struct guard_call *gc, const char *text, size_t from, size_t to,
		      const struct guard_match *m, size_t n, struct translate_buf *out);

/* One string of a JSON answer as the app may read it (replaced through JT when it changes). */
int guard_answer_string(struct guard_call *gc, struct jsontext *jt,
			const struct jsontext_string *s);

/* Every string of the JSON TEXT as the app may read it (guard_response()'s work): 0 with *RET
 * NULL when nothing changed. */
int guard_answer_json(struct guard_call *gc, const char *text, size_t len, char **ret,
		      size_t *ret_len);

/* Whether the call handed out placeholders to restore. */
static inline int guard_call_has_tokens(const struct guard_call *gc)
{
	return gc->n_tokenized > 0;
}

#endif
