/*
 * acceptpause: keeps a listener from spinning when accept() fails for want of descriptors.
 *
 * libevent's listener returns after a failed accept() with the connection still queued, so the
 * listening socket stays readable and the loop would call accept() again at once, forever, while
 * the process is at RLIMIT_NOFILE (EMFILE) or the system at its file limit (ENFILE). An accept
 * pause installs the listener's error callback: on such an error it disables accepting and
 * enables it again after ACCEPT_PAUSE_MS, logging once per episode; other errors are logged.
 */
#ifndef AIGW_PROXY_ACCEPTPAUSE_H
#define AIGW_PROXY_ACCEPTPAUSE_H

#include <event2/listener.h>

#define ACCEPT_PAUSE_MS 100

struct accept_pause; /* freed by accept_pause_free(), before its listener */

/* Installs the pause as EVL's error callback. */
int accept_pause_new(struct evconnlistener *evl, struct accept_pause **ret);
void accept_pause_free(struct accept_pause *p);

#endif
