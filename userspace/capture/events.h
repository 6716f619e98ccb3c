/*
 * events: the capture ring buffer, drained on the daemon's event loop, and the one JSON
 * shape of a capture event (redirect, deny, observe) that ends up in the audit log.
 * The ring buffer is pinned: what the programs record while no daemon runs is read by the
 * next one.
 */
#ifndef AIGW_CAPTURE_EVENTS_H
#define AIGW_CAPTURE_EVENTS_H

#include <event2/event.h>

#include "capture.h"
#include "util/jsonw.h"
#include "capture/cgroups.h"
#include "policy/policy.h"

typedef void (*capture_event_fn)(const struct aigw_event *ev, void *arg);

struct capture_events; /* freed by capture_events_stop() */

int capture_events_start(struct event_base *base, int ringbuf_fd, capture_event_fn fn, void *arg,
			 struct capture_events **ret_events);

/* Consumes whatever is in the ring now (used at shutdown so nothing is left unread). */
void capture_events_drain(struct capture_events *ce);

void capture_events_stop(struct capture_events *ce);

/* The audit record of EV; the caller owns it (jsonw_finish() or jsonw_free()). */
struct jsonw *capture_event_to_json(const struct aigw_event *ev, struct cgroups *cg,
			     const struct policy *p);

/* Names for the enums, as written in records. */
const char *capture_action_name(unsigned action);
const char *capture_reason_name(unsigned reason);

/* "2026-11-27T12:00:00.123456Z" for a bpf_ktime_get_boot_ns() value. */
void capture_boot_ns_to_rfc3339(uint64_t boot_ns, char *buf, size_t len);

#endif
