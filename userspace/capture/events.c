/*
 * events.c: ring buffer polling through libevent (the ring's epoll fd is readable when
 * records are waiting) and the translation of struct aigw_event into an audit record.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture/events.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/timefmt.h"

struct capture_events {
	struct ring_buffer *rb;
	struct event *ev;
	capture_event_fn fn;
	void *arg;
};

static int ring_record(void *ctx, void *data, size_t size)
{
	struct capture_events *ce = ctx;

	if (size < sizeof(struct aigw_event))
		return 0;
	ce->fn(data, ce->arg);
	return 0;
}

static void ring_readable(evutil_socket_t fd, short what, void *arg)
{
	struct capture_events *ce = arg;

	ring_buffer__consume(ce->rb);
}

int capture_events_start(struct event_base *base, int ringbuf_fd, capture_event_fn fn, void *arg,
			 struct capture_events **ret_events)
{
	struct capture_events *ce = calloc(1, sizeof(*ce));
	int err;

	if (!ce)
		return -ENOMEM;
	ce->fn = fn;
	ce->arg = arg;
	ce->rb = ring_buffer__new(ringbuf_fd, ring_record, ce, NULL);
	if (!ce->rb) {
		err = -errno;
		goto fail;
	}
	ce->ev =
	    event_new(base, ring_buffer__epoll_fd(ce->rb), EV_READ | EV_PERSIST, ring_readable, ce);
	if (!ce->ev || event_add(ce->ev, NULL)) {
		err = -ENOMEM;
		goto fail;
	}
	/* Records left by the programs while no daemon was running. */
	ring_buffer__consume(ce->rb);
	*ret_events = ce;
	return 0;
fail:
	capture_events_stop(ce);
	return err;
}

void capture_events_drain(struct capture_events *ce)
{
	if (ce)
		ring_buffer__consume(ce->rb);
}

void capture_events_stop(struct capture_events *ce)
{
	if (!ce)
		return;
	if (ce->ev)
		event_free(ce->ev);
	ring_buffer__free(ce->rb);
	free(ce);
}

const char *capture_action_name(unsigned action)
{
	switch (action) {
	case AIGW_ACTION_REDIRECT:
		return "redirect";
	case AIGW_ACTION_DENY:
		return "deny";
	case AIGW_ACTION_OBSERVE:
		return "observe";
	}
	return "none";
}

const char *capture_reason_name(unsigned reason)
{
	switch (reason) {
	case AIGW_REASON_PROVIDER_TLS:
		return "provider_tls";
	case AIGW_REASON_PORT:
		return "deny_port";
	case AIGW_REASON_UDP_CONNECT:
		return "deny_udp_quic";
	case AIGW_REASON_UDP_SENDMSG:
		return "deny_udp_sendmsg";
	case AIGW_REASON_NO_LISTENER:
		return "deny_no_listener";
	case AIGW_REASON_TLS_PORT:
		return "tls_port";
	case AIGW_REASON_LISTENER_NOT_OURS:
		return "listener_not_ours";
	case AIGW_REASON_NETNS_NO_LISTENER:
		return "netns_no_listener";
	}
	return "none";
}

static const char *hook_name(unsigned hook)
{
	static const char *const names[] = {"?", "connect4", "connect6", "sendmsg4", "sendmsg6"};

	return hook < sizeof(names) / sizeof(names[0]) ? names[hook] : "?";
}

void capture_boot_ns_to_rfc3339(uint64_t boot_ns, char *buf, size_t len)
{
	struct timespec boot, real, when;
	int64_t real_ns;

	clock_gettime(CLOCK_BOOTTIME, &boot);
	clock_gettime(CLOCK_REALTIME, &real);
	real_ns = (int64_t)real.tv_sec * 1000000000 + real.tv_nsec -
		  ((int64_t)boot.tv_sec * 1000000000 + boot.tv_nsec - (int64_t)boot_ns);
	when.tv_sec = real_ns / 1000000000;
	when.tv_nsec = real_ns % 1000000000;
	if (len >= TIMEFMT_LEN)
		timefmt_rfc3339(&when, buf);
	else if (len)
		buf[0] = 0;
}

struct jsonw *capture_event_to_json(const struct aigw_event *ev, struct cgroups *cg,
			     const struct policy *p)
{
	char buf[NETADDR_STRLEN], when[TIMEFMT_LEN];
	struct jsonw *rec = jsonw_new();

	if (!rec)
		return NULL;
	capture_boot_ns_to_rfc3339(ev->boot_ns, when, sizeof(when));
	jsonw_str(rec, "time", when);
	snprintf(buf, sizeof(buf), "capture.%s", capture_action_name(ev->action));
	jsonw_str(rec, "event.name", buf);
	jsonw_str(rec, "aigw.action", capture_action_name(ev->action));
	jsonw_str(rec, "aigw.reason", capture_reason_name(ev->reason));
	jsonw_str(rec, "aigw.hook", hook_name(ev->hook));
	jsonw_str(rec, "network.transport",
				ev->proto == AIGW_PROTO_UDP ? "udp" : "tcp");
	jsonw_str(rec, "network.type",
				ev->orig_dst.family == AIGW_AF_INET ? "ipv4" : "ipv6");
	jsonw_str(rec, "server.address",
				netaddr_format_ip(&ev->orig_dst, buf, sizeof(buf)));
	jsonw_num(rec, "server.port", ntohs(ev->orig_dst.port));
	if (p && ev->provider_id < p->n_providers)
		jsonw_str(rec, "gen_ai.system", p->providers[ev->provider_id].name);
	if (ev->action == AIGW_ACTION_REDIRECT)
		jsonw_str(rec, "aigw.redirect_to",
					netaddr_format(&ev->redirect_to, buf, sizeof(buf)));
	cgroups_attr_to_json(cg, p, &ev->attr, rec);
	jsonw_num(rec, "aigw.socket_cookie", (double)ev->sock_cookie);
	return rec;
}
