/*
 * test_decide.c: the capture decision (bpf/capture_decide.h) as the hooks make it, called
 * directly: cgroup sock_addr programs cannot run under BPF_PROG_RUN. The hooks themselves
 * are exercised with real sockets in tests/e2e/test_capture.py.
 */
#include <arpa/inet.h>

#include "capture.h"
#include "capture_decide.h"
#include "unit.h"

static struct aigw_config enforce_cfg(void)
{
	struct aigw_config c = {0};

	c.mode = AIGW_MODE_ENFORCE;
	c.exempt_mark = 0x41494757;
	c.tls_port = htons(443);
	c.listen4_addr = htonl(0x7f000001);
	c.listen4_port = htons(15001);
	c.listen6_port = htons(15001);
	c.generation = 1;
	return c;
}

static void test_not_provider_untouched(void)
{
	struct aigw_config c = enforce_cfg();
	struct aigw_decision d = aigw_decide(&c, 0, AIGW_PROTO_TCP, htons(443), 0, 0, 0);

	ASSERT_EQ(d.action, AIGW_ACTION_NONE);
}

static void test_tls_port_redirected(void)
{
	struct aigw_config c = enforce_cfg();
	struct aigw_decision d = aigw_decide(&c, 1, AIGW_PROTO_TCP, htons(443), 0, 0, 0);

	ASSERT_EQ(d.action, AIGW_ACTION_REDIRECT);
	ASSERT_EQ(d.reason, AIGW_REASON_PROVIDER_TLS);
}

static void test_other_port_denied(void)
{
	struct aigw_config c = enforce_cfg();
	struct aigw_decision d = aigw_decide(&c, 1, AIGW_PROTO_TCP, htons(80), 0, 0, 0);

	ASSERT_EQ(d.action, AIGW_ACTION_DENY);
	ASSERT_EQ(d.reason, AIGW_REASON_PORT);
}

static void test_udp_denied_even_on_443(void)
{
	struct aigw_config c = enforce_cfg();
	struct aigw_decision d = aigw_decide(&c, 1, AIGW_PROTO_UDP, htons(443), 0, 0, 0);

	ASSERT_EQ(d.action, AIGW_ACTION_DENY);
	ASSERT_EQ(d.reason, AIGW_REASON_UDP_CONNECT);
	d = aigw_decide(&c, 1, AIGW_PROTO_UDP, htons(443), 1, 0, 1);
	ASSERT_EQ(d.action, AIGW_ACTION_DENY);
	ASSERT_EQ(d.reason, AIGW_REASON_UDP_SENDMSG);
}

#define MARK 0x41494757
#define AIGW_CGROUP 4242ull /* the daemon's own cgroup id */
#define APP_CGROUP 5151ull

static void test_exempt_socket_passes(void)
{
	struct aigw_config c = enforce_cfg();
	struct aigw_decision d = aigw_decide(&c, 1, AIGW_PROTO_TCP, htons(443), 0, 1, 0);

	ASSERT_EQ(d.action, AIGW_ACTION_NONE);
	ASSERT_TRUE(aigw_is_exempt(MARK, AIGW_CGROUP, MARK, AIGW_CGROUP));
	/* Any other mark is just a mark. */
	ASSERT_TRUE(!aigw_is_exempt(MARK, AIGW_CGROUP, MARK - 1, AIGW_CGROUP));
}

static void test_mark_outside_aigws_cgroup_is_no_exemption(void)
{
	struct aigw_config c = enforce_cfg();
	int exempt = aigw_is_exempt(MARK, AIGW_CGROUP, MARK, APP_CGROUP);
	struct aigw_decision d;

	/* A workload with CAP_NET_RAW set the mark (Linux 5.17+): captured all the same. */
	ASSERT_TRUE(!exempt);
	d = aigw_decide(&c, 1, AIGW_PROTO_TCP, htons(443), 0, exempt, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_REDIRECT);
	d = aigw_decide(&c, 1, AIGW_PROTO_TCP, htons(80), 0, exempt, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_DENY);
	/* Nor is aigw's cgroup without the mark: only its upstream sockets carry it. */
	ASSERT_TRUE(!aigw_is_exempt(MARK, AIGW_CGROUP, 0, AIGW_CGROUP));
}

static void test_unset_mark_or_cgroup_never_exempts(void)
{
	ASSERT_TRUE(!aigw_is_exempt(0, AIGW_CGROUP, 0, AIGW_CGROUP));
	/* A loader that did not say its cgroup: no socket is exempt (cgroup ids are never 0). */
	ASSERT_TRUE(!aigw_is_exempt(MARK, 0, MARK, 0));
}

static void test_observe_changes_nothing(void)
{
	struct aigw_config c = enforce_cfg();
	struct aigw_decision d;

	c.mode = AIGW_MODE_OBSERVE;
	d = aigw_decide(&c, 1, AIGW_PROTO_TCP, htons(443), 0, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_OBSERVE);
	ASSERT_EQ(d.reason, AIGW_REASON_PROVIDER_TLS);
	d = aigw_decide(&c, 1, AIGW_PROTO_UDP, htons(443), 1, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_OBSERVE);
	ASSERT_EQ(d.reason, AIGW_REASON_UDP_SENDMSG);
}

static void test_unconfigured_fails_closed(void)
{
	struct aigw_config c = {0};
	struct aigw_decision d;

	c.mode = AIGW_MODE_OBSERVE; /* ignored until a generation is written */
	d = aigw_decide(&c, 1, AIGW_PROTO_TCP, htons(443), 0, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_DENY);
	ASSERT_EQ(d.reason, AIGW_REASON_PORT); /* tls_port 0 in an unwritten config */
}

static void test_no_v6_listener_denies(void)
{
	struct aigw_config c = enforce_cfg();
	struct aigw_decision d;

	c.listen6_port = 0;
	d = aigw_decide(&c, 1, AIGW_PROTO_TCP, htons(443), 0, 0, 1);
	ASSERT_EQ(d.action, AIGW_ACTION_DENY);
	ASSERT_EQ(d.reason, AIGW_REASON_NO_LISTENER);
	d = aigw_decide(&c, 1, AIGW_PROTO_TCP, htons(443), 0, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_REDIRECT);
}

static void test_v4mapped(void)
{
	struct in6_addr a;
	__u32 w[4];

	inet_pton(AF_INET6, "::ffff:127.0.0.2", &a);
	memcpy(w, &a, 16);
	ASSERT_TRUE(aigw_is_v4mapped(w));
	inet_pton(AF_INET6, "::1", &a);
	memcpy(w, &a, 16);
	ASSERT_TRUE(!aigw_is_v4mapped(w));
	inet_pton(AF_INET6, "64:ff9b::7f00:2", &a);
	memcpy(w, &a, 16);
	ASSERT_TRUE(!aigw_is_v4mapped(w));
}

UNIT_MAIN(UNIT_CASE(test_not_provider_untouched), UNIT_CASE(test_tls_port_redirected),
	  UNIT_CASE(test_other_port_denied), UNIT_CASE(test_udp_denied_even_on_443),
	  UNIT_CASE(test_exempt_socket_passes),
	  UNIT_CASE(test_mark_outside_aigws_cgroup_is_no_exemption),
	  UNIT_CASE(test_unset_mark_or_cgroup_never_exempts),
	  UNIT_CASE(test_observe_changes_nothing), UNIT_CASE(test_unconfigured_fails_closed),
	  UNIT_CASE(test_no_v6_listener_denies), UNIT_CASE(test_v4mapped))
