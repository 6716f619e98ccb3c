/*
 * acceptpause.c: the pause of a listener whose accept() ran out of descriptors.
 *
 * The error callback libevent calls gets the listener and the listener's own callback argument,
 * which for a listener bound to an evhttp is the evhttp: so the pauses are found by their
 * listener in a short list (one entry per listening socket of the process).
 *
 * An episode is a run of pauses less than ACCEPT_EPISODE_S apart; it is logged when it starts,
 * and the next one logs how many pauses the one before took.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <event2/event.h>

#include "proxy/acceptpause.h"
#include "util/log.h"
#include "util/netaddr.h"

struct accept_pause {
	struct evconnlistener *evl; /* not owned */
	struct event *resume;	    /* the timer that enables accepting again */
	unsigned long pauses;	    /* in this episode */
	struct timespec last;	    /* of the last pause: an episode ends a second after it */
	struct accept_pause *next;
};

#define ACCEPT_EPISODE_S 1

static struct accept_pause *accept_pauses;

static struct accept_pause *accept_pause_find(const struct evconnlistener *evl)
{
	struct accept_pause *p;

	for (p = accept_pauses; p && p->evl != evl; p = p->next)
		;
	return p;
}

/* The listener's address, for the log: "127.0.0.1:8080", "[::1]:8080" or a socket's path. */
static const char *accept_pause_name(const struct accept_pause *p, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct aigw_addr a;

	snprintf(buf, size, "?");
	if (getsockname(evconnlistener_get_fd(p->evl), (struct sockaddr *)&ss, &len))
		return buf;
	if (ss.ss_family == AF_UNIX)
		snprintf(buf, size, "%s", ((struct sockaddr_un *)&ss)->sun_path);
	else if (!netaddr_from_sockaddr((struct sockaddr *)&ss, &a))
		netaddr_format(&a, buf, size);
	return buf;
}

static int accept_err_is_exhaustion(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void accept_pause_resume(evutil_socket_t fd, short what, void *arg)
{
	struct accept_pause *p = arg;

	evconnlistener_enable(p->evl);
}

static int accept_pause_on_error(struct evconnlistener *evl, int err)
{
	static const struct timeval delay = {0, ACCEPT_PAUSE_MS * 1000};
	struct accept_pause *p = accept_pause_find(evl);
	struct timespec now;
	char name[128];

	if (!p || !accept_err_is_exhaustion(err))
		return 0;
	evconnlistener_disable(evl);
	evtimer_add(p->resume, &delay);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!p->pauses || now.tv_sec - p->last.tv_sec > ACCEPT_EPISODE_S) {
		log_warn("accept on %s: %s; accepting paused, retried every %d ms until "
			 "descriptors are free (the episode before: %lu pauses)",
			 accept_pause_name(p, name, sizeof(name)), strerror(err), ACCEPT_PAUSE_MS,
			 p->pauses);
		p->pauses = 0;
	}
	p->last = now;
	p->pauses++;
	return 1;
}

static void accept_pause_error(struct evconnlistener *evl, void *arg)
{
	int err = errno;

	if (!accept_pause_on_error(evl, err))
		log_warn("accept: %s", strerror(err));
}

int accept_pause_new(struct evconnlistener *evl, struct accept_pause **ret)
{
	struct accept_pause *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->resume = evtimer_new(evconnlistener_get_base(evl), accept_pause_resume, p);
	if (!p->resume) {
		free(p);
		return -ENOMEM;
	}
	p->evl = evl;
	p->next = accept_pauses;
	accept_pauses = p;
	evconnlistener_set_error_cb(evl, accept_pause_error);
	*ret = p;
	return 0;
}

void accept_pause_free(struct accept_pause *p)
{
	struct accept_pause **pp;

	if (!p)
		return;
	for (pp = &accept_pauses; *pp != p; pp = &(*pp)->next)
		;
	*pp = p->next;
	event_free(p->resume);
	free(p);
}
