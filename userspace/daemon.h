/*
 * daemon: `aigw run`. Wires the subsystems together on one libevent loop: the policy, the
 * audit log, the proxy listeners, the capture programs (loaded or taken over), the provider
 * address set, the capture event stream, the destruction of connections that predate the
 * capture, and the signals (SIGHUP reloads the policy, SIGTERM/SIGINT stop the daemon and
 * leave capture pinned and enforcing).
 */
#ifndef AIGW_DAEMON_H
#define AIGW_DAEMON_H

struct daemon_options {
	const char *policy_path;
	const char *pin_dir;
};

/* Runs until a stop signal. Returns the process exit status. */
int daemon_run(const struct daemon_options *opt);

#endif
