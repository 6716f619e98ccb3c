/*
 * test_decide.c: the capture decision (bpf/capture_decide.h) as the hooks make it, called
 * directly: cgroup sock_addr programs cannot run under BPF_PROG_RUN. The hooks themselves
 * are exercised with real sockets in tests/e2e/test_capture.py.
 */
#include <arpa/inet.h>
#include <string.h>

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
	c.scope = AIGW_SCOPE_PROVIDERS;
	return c;
}

/* Scope "tls" with tls_port 443 and tls_ports [443, 8443]. */
static struct aigw_config tls_cfg(void)
{
	struct aigw_config c = enforce_cfg();

	c.scope = AIGW_SCOPE_TLS;
	c.tls_ports[0] = htons(443);
	c.tls_ports[1] = htons(8443);
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

static void test_scope_tls_redirects_any_address_on_a_tls_port(void)
{
	struct aigw_config c = tls_cfg();
	struct aigw_decision d;

	d = aigw_decide(&c, 0, AIGW_PROTO_TCP, htons(443), 0, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_REDIRECT);
	ASSERT_EQ(d.reason, AIGW_REASON_TLS_PORT);
	d = aigw_decide(&c, 0, AIGW_PROTO_TCP, htons(8443), 0, 0, 1);
	ASSERT_EQ(d.action, AIGW_ACTION_REDIRECT);
	/* Other ports and UDP of other addresses are not ours. */
	d = aigw_decide(&c, 0, AIGW_PROTO_TCP, htons(80), 0, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_NONE);
	d = aigw_decide(&c, 0, AIGW_PROTO_UDP, htons(443), 1, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_NONE);
	/* The gateway's own sockets stay exempt. */
	d = aigw_decide(&c, 0, AIGW_PROTO_TCP, htons(443), 0, 1, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_NONE);
	/* Without a listener: refused, never let through. */
	c.listen4_port = 0;
	d = aigw_decide(&c, 0, AIGW_PROTO_TCP, htons(443), 0, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_DENY);
	ASSERT_EQ(d.reason, AIGW_REASON_NO_LISTENER);
}

static void test_scope_tls_provider_ports(void)
{
	struct aigw_config c = tls_cfg();
	struct aigw_decision d;

	d = aigw_decide(&c, 1, AIGW_PROTO_TCP, htons(8443), 0, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_REDIRECT);
	ASSERT_EQ(d.reason, AIGW_REASON_PROVIDER_TLS);
	d = aigw_decide(&c, 1, AIGW_PROTO_TCP, htons(80), 0, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_DENY);
	ASSERT_EQ(d.reason, AIGW_REASON_PORT);
	d = aigw_decide(&c, 1, AIGW_PROTO_UDP, htons(443), 0, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_DENY);
	/* tls_port counts even when tls_ports leaves it out. */
	c.tls_port = htons(9443);
	d = aigw_decide(&c, 0, AIGW_PROTO_TCP, htons(9443), 0, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_REDIRECT);
}

static void test_scope_providers_leaves_other_addresses(void)
{
	struct aigw_config c = tls_cfg();
	struct aigw_decision d;

	c.scope = AIGW_SCOPE_PROVIDERS;
	d = aigw_decide(&c, 0, AIGW_PROTO_TCP, htons(443), 0, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_NONE);
	/* tls_ports are scope "tls"'s: a provider on 8443 is denied, as before. */
	d = aigw_decide(&c, 1, AIGW_PROTO_TCP, htons(8443), 0, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_DENY);
	ASSERT_EQ(d.reason, AIGW_REASON_PORT);
}

static void test_scope_tls_observe_and_unwritten_leave_other_addresses(void)
{
	struct aigw_config c = tls_cfg();
	struct aigw_decision d;

	c.mode = AIGW_MODE_OBSERVE;
	d = aigw_decide(&c, 0, AIGW_PROTO_TCP, htons(443), 0, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_NONE);
	c = tls_cfg();
	c.generation = 0;
	d = aigw_decide(&c, 0, AIGW_PROTO_TCP, htons(443), 0, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_NONE);
	d = aigw_decide(&c, 1, AIGW_PROTO_TCP, htons(443), 0, 0, 0);
	ASSERT_EQ(d.action, AIGW_ACTION_DENY);
}

/* The form of IPv6 address TEXT, and the IPv4 address it carries in *RET_V4 (host order). */
static int form_of(const char *text, __u32 *ret_v4)
{
	struct in6_addr a;
	__u32 w[4], v4 = 0xdeadbeef;
	int form;

	if (inet_pton(AF_INET6, text, &a) != 1)
		return -1;
	memcpy(w, &a, 16);
	form = aigw_v6_embedded_v4(w, &v4);
	*ret_v4 = ntohl(v4);
	return form;
}

static void test_v4mapped(void)
{
	__u32 v4;

	ASSERT_EQ(form_of("::ffff:127.0.0.2", &v4), AIGW_V4_MAPPED);
	ASSERT_EQ(v4, 0x7f000002);
	ASSERT_EQ(form_of("::1", &v4), AIGW_V4_NONE);
	ASSERT_EQ(form_of("::", &v4), AIGW_V4_NONE);
	ASSERT_EQ(form_of("2001:db8::7f00:2", &v4), AIGW_V4_NONE);
	ASSERT_EQ(form_of("::ffff:0:7f00:2", &v4), AIGW_V4_NONE); /* SIIT, not mapped */
}

static void test_nat64_6to4_and_compat_carry_the_v4_address(void)
{
	__u32 v4;

	ASSERT_EQ(form_of("64:ff9b::127.0.0.2", &v4), AIGW_V4_NAT64);
	ASSERT_EQ(v4, 0x7f000002);
	ASSERT_EQ(form_of("64:ff9b::a0b:c0d", &v4), AIGW_V4_NAT64);
	ASSERT_EQ(v4, 0x0a0b0c0d);
	/* 6to4: the address is bits 16..47, whatever subnet and host follow. */
	ASSERT_EQ(form_of("2002:7f00:2::1", &v4), AIGW_V4_6TO4);
	ASSERT_EQ(v4, 0x7f000002);
	ASSERT_EQ(form_of("2002:a0b:c0d:ffff:1:2:3:4", &v4), AIGW_V4_6TO4);
	ASSERT_EQ(v4, 0x0a0b0c0d);
	ASSERT_EQ(form_of("::127.0.0.2", &v4), AIGW_V4_COMPAT);
	ASSERT_EQ(v4, 0x7f000002);
	/* Near misses: another NAT64 prefix (RFC 8215's local one), bits set in the suffix. */
	ASSERT_EQ(form_of("64:ff9b:1::7f00:2", &v4), AIGW_V4_NONE);
	ASSERT_EQ(form_of("64:ff9b::1:7f00:2", &v4), AIGW_V4_NONE);
	ASSERT_EQ(form_of("2003:7f00:2::1", &v4), AIGW_V4_NONE);
}

/* A flow record is claimable by the socket that made it, by cookie, and by no other. */
static void test_flow_claimable_only_by_its_socket(void)
{
	struct aigw_flow f = {.sock_cookie = 0x1234567890ull};

	ASSERT_EQ(aigw_flow_claimable(&f, 0x1234567890ull), 1);
	ASSERT_EQ(aigw_flow_claimable(&f, 0x1234567891ull), 0);
	ASSERT_EQ(aigw_flow_claimable(&f, 0x90ull), 0); /* the low 32 bits are not enough */
	ASSERT_EQ(aigw_flow_claimable(&f, 0), 0);
	f.sock_cookie = 0; /* a record without a cookie: nobody's */
	ASSERT_EQ(aigw_flow_claimable(&f, 0), 0);
}

/* IP (either family, by its form) and PORT as the hooks read them. */
static struct aigw_addr addr_of(const char *ip, int port)
{
	int v6 = strchr(ip, ':') != NULL;
	struct aigw_addr a = {.family = v6 ? AIGW_AF_INET6 : AIGW_AF_INET, .port = htons(port)};

	inet_pton(v6 ? AF_INET6 : AF_INET, ip, a.addr);
	return a;
}

/* A connect is checked as one to api.listen when it goes where that listener receives. */
static void test_api_listen_matches_its_address_only(void)
{
	static const struct {
		const char *api, *dst;
		int api_port, dst_port, match;
	} cases[] = {
	    {"127.0.0.1", "127.0.0.1", 8080, 8080, 1},
	    {"127.0.0.1", "127.0.0.1", 8080, 8081, 0},
	    {"127.0.0.1", "127.0.0.2", 8080, 8080, 0},
	    {"127.0.0.1", "::1", 8080, 8080, 0},
	    /* a wildcard listener receives every address on its port */
	    {"0.0.0.0", "10.1.2.3", 8080, 8080, 1},
	    {"0.0.0.0", "10.1.2.3", 8080, 80, 0},
	    {"::1", "::1", 8080, 8080, 1},
	    {"::1", "::2", 8080, 8080, 0},
	    {"::", "::2", 8080, 8080, 1},
	    /* every word of an IPv6 address counts, the first as the last */
	    {"fd00::1", "fd00::1", 8080, 8080, 1},
	    {"fd00::1", "fe00::1", 8080, 8080, 0},
	    {"fd00::1:0:0:1", "fd00::1", 8080, 8080, 0},
	    {"fd00::1", "::1", 8080, 8080, 0},
	};
	struct aigw_addr none = {0}, api, d;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		api = addr_of(cases[i].api, cases[i].api_port);
		d = addr_of(cases[i].dst, cases[i].dst_port);
		ASSERT_EQ(aigw_api_listen_matches(&api, &d), cases[i].match);
	}
	/* IPv4 compares its 4 bytes only, whatever follows them */
	api = addr_of("127.0.0.1", 8080);
	d = addr_of("127.0.0.1", 8080);
	memset(d.addr + 4, 0xab, 12);
	ASSERT_EQ(aigw_api_listen_matches(&api, &d), 1);
	/* only the second word differs */
	api = addr_of("fd00::1", 8080);
	d = addr_of("fd00:0:1::1", 8080);
	ASSERT_EQ(aigw_api_listen_matches(&api, &d), 0);
	/* a family neither is: compared as 16 bytes, and only with its own family */
	api.family = d.family = 7;
	memcpy(d.addr, api.addr, 16);
	ASSERT_EQ(aigw_api_listen_matches(&api, &d), 1);
	d.addr[15] ^= 1;
	ASSERT_EQ(aigw_api_listen_matches(&api, &d), 0);
	ASSERT_EQ(aigw_api_listen_matches(&none, &d), 0); /* no api.listen */
	d.family = 0;
	ASSERT_EQ(aigw_api_listen_matches(&none, &d), 0);
}

UNIT_MAIN(UNIT_CASE(test_not_provider_untouched), UNIT_CASE(test_tls_port_redirected),
	  UNIT_CASE(test_other_port_denied), UNIT_CASE(test_udp_denied_even_on_443),
	  UNIT_CASE(test_exempt_socket_passes),
	  UNIT_CASE(test_mark_outside_aigws_cgroup_is_no_exemption),
	  UNIT_CASE(test_unset_mark_or_cgroup_never_exempts),
	  UNIT_CASE(test_observe_changes_nothing), UNIT_CASE(test_unconfigured_fails_closed),
	  UNIT_CASE(test_no_v6_listener_denies),
	  UNIT_CASE(test_scope_tls_redirects_any_address_on_a_tls_port),
	  UNIT_CASE(test_scope_tls_provider_ports),
	  UNIT_CASE(test_scope_providers_leaves_other_addresses),
	  UNIT_CASE(test_scope_tls_observe_and_unwritten_leave_other_addresses),
	  UNIT_CASE(test_v4mapped), UNIT_CASE(test_nat64_6to4_and_compat_carry_the_v4_address),
	  UNIT_CASE(test_flow_claimable_only_by_its_socket),
	  UNIT_CASE(test_api_listen_matches_its_address_only))
