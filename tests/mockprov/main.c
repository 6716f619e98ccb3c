// SPDX-License-Identifier: MIT
/*
 * mockprov: a mock OpenAI + Anthropic upstream for aigw's end-to-end tests and benchmarks.
 *
 *   mockprov --listen ADDR:PORT [--listen ...] --cert FILE --key FILE
 *            [--plain-listen ADDR:PORT ...] [--control ADDR:PORT] [--threads N]
 *            [--chunk-delay-ms MS] [--deterministic] [--require-auth]
 *            [--api-root HOST=PATH ...]
 *
 * --listen serves HTTPS (HTTP/1.1, ALPN http/1.1), --plain-listen plain HTTP, --control the
 * control API (control.c). Addresses are loopback only: 127.0.0.0/8 or [::1]. Port 0 picks a
 * free port; the bound addresses are printed on stdout as "mockprov: tls|plain|control ADDR"
 * followed by "mockprov: ready". With --threads N each of N workers runs its own event_base
 * with its own SO_REUSEPORT sockets on the same addresses; the control listener lives on
 * worker 0, which also handles SIGINT/SIGTERM and stops the others through their eventfds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <event2/listener.h>

#include "mock.h"

#define MAX_THREADS 64
#define HTTP_TIMEOUT_S 300
#define MAX_BODY (64 << 20)

struct mock_cfg g_cfg = {.threads = 1, .gcp_token_ttl = 3600};

static struct worker *workers;

static void usage(FILE *f)
{
	fprintf(f, "usage: mockprov --listen ADDR:PORT [--listen ...] --cert FILE --key FILE\n"
		   "                [--plain-listen ADDR:PORT ...] [--control ADDR:PORT]\n"
		   "                [--threads N] [--chunk-delay-ms MS] [--deterministic]\n"
		   "                [--require-auth] [--api-root HOST=PATH ...]\n"
		   "                [--azure-deployment DEPLOYMENT=MODEL ...]\n"
		   "                [--gcp-sa KEYFILE] [--gcp-token-ttl S] [--gcp-token-delay-ms MS]\n"
		   "                [--aws-key AKID=SECRET ...]\n"
		   "ADDR is loopback only: 127.0.0.0/8 or [::1]; port 0 picks a free port.\n");
}

static int is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return 0;
}

static int parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || end == s || *end || n < min || n > max) {
		fprintf(stderr, "mockprov: %s is not a number in %d..%d\n", s, min, max);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

/* "A.B.C.D:PORT" or "[V6]:PORT" into ls; port 0 is allowed (pick a free port). */
static int split_addr(const char *s, struct listen_spec *ls)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ls->ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ls->ss;
	const char *colon = strrchr(s, ':');
	char host[64];
	int port;
	size_t n;

	if (!colon || parse_int(colon + 1, 0, 65535, &port))
		return -EINVAL;
	n = colon - s;
	if (s[0] == '[' && n >= 2 && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	memset(&ls->ss, 0, sizeof(ls->ss));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		ls->len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		ls->len = sizeof(*s6);
	} else {
		return -EINVAL;
	}
	return 0;
}

static int parse_addr(const char *s, struct listen_spec *ls)
{
	if (split_addr(s, ls)) {
		fprintf(stderr, "mockprov: bad address %s (want ADDR:PORT or [::1]:PORT)\n", s);
		return -EINVAL;
	}
	if (!is_loopback(&ls->ss)) {
		fprintf(stderr, "mockprov: %s is not a loopback address\n", s);
		return -EINVAL;
	}
	return 0;
}

static int add_listen(struct listen_spec *arr, int *n, const char *s)
{
	if (*n == MOCK_MAX_LISTEN) {
		fprintf(stderr, "mockprov: at most %d listeners of a kind\n", MOCK_MAX_LISTEN);
		return -E2BIG;
	}
	return parse_addr(s, &arr[(*n)++]);
}

static const struct option long_opts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"plain-listen", required_argument, NULL, 'p'},
    {"control", required_argument, NULL, 'c'},
    {"cert", required_argument, NULL, 'C'},
    {"key", required_argument, NULL, 'K'},
    {"threads", required_argument, NULL, 't'},
    {"chunk-delay-ms", required_argument, NULL, 'd'},
    {"deterministic", no_argument, NULL, 'D'},
    {"require-auth", no_argument, NULL, 'A'},
    {"api-root", required_argument, NULL, 'R'},
    {"azure-deployment", required_argument, NULL, 'Z'},
    {"gcp-sa", required_argument, NULL, 'G'},
    {"gcp-token-ttl", required_argument, NULL, 'T'},
    {"gcp-token-delay-ms", required_argument, NULL, 'W'},
    {"aws-key", required_argument, NULL, 'S'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* "HOST=PATH": PATH "" or "/..." without a trailing '/'. */
static int add_api_root(const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct api_root *r = &g_cfg.roots[g_cfg.nroots];

	if (!eq || eq == arg || g_cfg.nroots == MOCK_MAX_LISTEN ||
	    (size_t)(eq - arg) >= sizeof(r->host) || strlen(eq + 1) >= sizeof(r->path) ||
	    (eq[1] && eq[1] != '/')) {
		fprintf(stderr, "mockprov: --api-root HOST=PATH, PATH \"\" or \"/...\"\n");
		return -EINVAL;
	}
	snprintf(r->host, sizeof(r->host), "%.*s", (int)(eq - arg), arg);
	snprintf(r->path, sizeof(r->path), "%s", eq + 1);
	g_cfg.nroots++;
	return 0;
}

static int parse_opt(int opt, const char *arg)
{
	switch (opt) {
	case 'l':
		return add_listen(g_cfg.tls, &g_cfg.ntls, arg);
	case 'p':
		return add_listen(g_cfg.plain, &g_cfg.nplain, arg);
	case 'c':
		g_cfg.has_control = 1;
		return parse_addr(arg, &g_cfg.control);
	case 'C':
		g_cfg.cert = arg;
		return 0;
	case 'K':
		g_cfg.key = arg;
		return 0;
	case 't':
		return parse_int(arg, 1, MAX_THREADS, &g_cfg.threads);
	case 'd':
		return parse_int(arg, 0, 600000, &g_cfg.chunk_delay_ms);
	case 'D':
		g_cfg.deterministic = 1;
		return 0;
	case 'A':
		g_cfg.require_auth = 1;
		return 0;
	case 'R':
		return add_api_root(arg);
	case 'Z':
		return azure_add_deployment(arg);
	case 'G':
		return vertex_load_sa(arg);
	case 'T':
		return parse_int(arg, 1, 86400, &g_cfg.gcp_token_ttl);
	case 'W':
		return parse_int(arg, 0, 600000, &g_cfg.gcp_token_delay_ms);
	case 'S':
		if (bedrock_add_key(arg)) {
			fprintf(stderr, "mockprov: --aws-key AKID=SECRET\n");
			return -EINVAL;
		}
		return 0;
	case 'h':
		usage(stdout);
		exit(0);
	default:
		return -EINVAL;
	}
}

static int parse_args(int argc, char **argv)
{
	int opt;

	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1)
		if (parse_opt(opt, optarg))
			return -EINVAL;
	if (optind != argc || (!g_cfg.ntls && !g_cfg.nplain)) {
		fprintf(stderr, "mockprov: need --listen or --plain-listen\n");
		return -EINVAL;
	}
	if (g_cfg.ntls && (!g_cfg.cert || !g_cfg.key)) {
		fprintf(stderr, "mockprov: --listen needs --cert and --key\n");
		return -EINVAL;
	}
	return 0;
}

static void format_addr(const struct listen_spec *ls, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ls->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ls->ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(out, cap, "[%s]:%d", ip, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ls->ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(out, cap, "%s:%d", ip, ntohs(s4->sin_port));
	}
}

/* Binds ls on w (resolving port 0 into ls) and hands the socket to http. */
static int bind_one(struct evhttp *http, struct worker *w, struct listen_spec *ls, int reuseport)
{
	unsigned int flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
	struct evconnlistener *lev;
	socklen_t len = sizeof(ls->ss);
	char name[80];
	int one = 1;

	if (reuseport)
		flags |= LEV_OPT_REUSEABLE_PORT;
	lev = evconnlistener_new_bind(w->base, NULL, NULL, flags, 1024, (struct sockaddr *)&ls->ss,
				      ls->len);
	if (!lev) {
		format_addr(ls, name, sizeof(name));
		fprintf(stderr, "mockprov: cannot listen on %s: %s\n", name, strerror(errno));
		return -errno ? -errno : -EADDRINUSE;
	}
	setsockopt(evconnlistener_get_fd(lev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&ls->ss, &len);
	if (!evhttp_bind_listener(http, lev)) {
		evconnlistener_free(lev);
		return -ENOMEM;
	}
	return 0;
}

static struct evhttp *http_new(struct worker *w, void (*cb)(struct evhttp_request *, void *),
			       void *arg)
{
	struct evhttp *http = evhttp_new(w->base);

	if (!http)
		return NULL;
	evhttp_set_gencb(http, cb, arg);
	evhttp_set_timeout(http, HTTP_TIMEOUT_S);
	evhttp_set_max_body_size(http, MAX_BODY);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
					     EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
					     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	return http;
}

static int bind_all(struct evhttp *http, struct worker *w, struct listen_spec *specs, int n)
{
	int i, err;

	for (i = 0; i < n; i++) {
		err = bind_one(http, w, &specs[i], 1);
		if (err)
			return err;
	}
	return 0;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	event_base_loopbreak(w->base);
}

static int worker_http(struct worker *w)
{
	w->lc_tls = (struct lctx){.w = w, .tls = 1};
	w->lc_plain = (struct lctx){.w = w, .tls = 0};
	if (g_cfg.ntls) {
		w->http_tls = http_new(w, dispatch_request_cb, &w->lc_tls);
		if (!w->http_tls)
			return -ENOMEM;
		evhttp_set_bevcb(w->http_tls, tls_bevcb, NULL);
		if (bind_all(w->http_tls, w, g_cfg.tls, g_cfg.ntls))
			return -EADDRINUSE;
	}
	if (g_cfg.nplain) {
		w->http_plain = http_new(w, dispatch_request_cb, &w->lc_plain);
		if (!w->http_plain || bind_all(w->http_plain, w, g_cfg.plain, g_cfg.nplain))
			return -EADDRINUSE;
	}
	if (w->id == 0 && g_cfg.has_control) {
		w->http_ctl = http_new(w, control_request_cb, w);
		if (!w->http_ctl || bind_one(w->http_ctl, w, &g_cfg.control, 0))
			return -EADDRINUSE;
	}
	return 0;
}

static int worker_init(struct worker *w, int id)
{
	w->id = id;
	w->stop_fd = -1;
	TAILQ_INIT(&w->pending);
	if (getrandom(&w->rng, sizeof(w->rng), 0) != sizeof(w->rng))
		w->rng = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 16;
	w->rng ^= (uint64_t)id << 56;
	w->base = event_base_new();
	if (!w->base)
		return -ENOMEM;
	w->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->stop_fd < 0)
		return -errno;
	w->stop_ev = event_new(w->base, w->stop_fd, EV_READ, stop_cb, w);
	if (!w->stop_ev || event_add(w->stop_ev, NULL))
		return -ENOMEM;
	return worker_http(w);
}

static void worker_fini(struct worker *w)
{
	worker_drop_pending(w);
	if (w->http_tls)
		evhttp_free(w->http_tls);
	if (w->http_plain)
		evhttp_free(w->http_plain);
	if (w->http_ctl)
		evhttp_free(w->http_ctl);
	if (w->stop_ev)
		event_free(w->stop_ev);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	if (w->base)
		event_base_free(w->base);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	uint64_t one = 1;
	int i;

	for (i = 1; i < g_cfg.threads; i++)
		if (workers[i].stop_fd >= 0 && write(workers[i].stop_fd, &one, sizeof(one)) < 0)
			perror("mockprov: stop worker");
	event_base_loopbreak(workers[0].base);
}

static void print_listeners(void)
{
	char name[80];
	int i;

	for (i = 0; i < g_cfg.ntls; i++) {
		format_addr(&g_cfg.tls[i], name, sizeof(name));
		printf("mockprov: tls %s\n", name);
	}
	for (i = 0; i < g_cfg.nplain; i++) {
		format_addr(&g_cfg.plain[i], name, sizeof(name));
		printf("mockprov: plain %s\n", name);
	}
	if (g_cfg.has_control) {
		format_addr(&g_cfg.control, name, sizeof(name));
		printf("mockprov: control %s\n", name);
	}
}

static int start_workers(int *started)
{
	int i, err;

	for (i = 0; i < g_cfg.threads; i++) {
		err = worker_init(&workers[i], i);
		if (err)
			return err;
		if (i == 0)
			print_listeners();
	}
	for (i = 1; i < g_cfg.threads; i++) {
		err = -pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]);
		if (err)
			return err;
		(*started)++;
	}
	return 0;
}

static int run(void)
{
	struct event *sigint = NULL, *sigterm = NULL;
	int i, started = 0, err;

	err = start_workers(&started);
	if (err)
		goto out;
	sigint = evsignal_new(workers[0].base, SIGINT, signal_cb, NULL);
	sigterm = evsignal_new(workers[0].base, SIGTERM, signal_cb, NULL);
	if (!sigint || !sigterm || evsignal_add(sigint, NULL) || evsignal_add(sigterm, NULL)) {
		err = -ENOMEM;
		goto out;
	}
	printf("mockprov: ready\n");
	fflush(stdout);
	event_base_dispatch(workers[0].base);
out:
	if (err)
		signal_cb(SIGTERM, 0, NULL);
	for (i = 1; i <= started; i++)
		pthread_join(workers[i].tid, NULL);
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	for (i = 0; i < g_cfg.threads; i++)
		worker_fini(&workers[i]);
	return err;
}

int main(int argc, char **argv)
{
	int i, err;

	signal(SIGPIPE, SIG_IGN);
	if (parse_args(argc, argv)) {
		usage(stderr);
		return 2;
	}
	if (g_cfg.ntls && tls_init(g_cfg.cert, g_cfg.key, &g_cfg.ssl))
		return 1;
	workers = calloc(g_cfg.threads, sizeof(*workers));
	if (!workers)
		return 1;
	for (i = 0; i < g_cfg.threads; i++)
		workers[i].stop_fd = -1;
	err = run();
	free(workers);
	if (g_cfg.ssl)
		SSL_CTX_free(g_cfg.ssl);
	libevent_global_shutdown();
	return err ? 1 : 0;
}
