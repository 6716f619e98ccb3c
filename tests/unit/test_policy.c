/*
 * test_policy: the policy loader (userspace/policy/policy.c) and the JSON position finder it
 * reports with (json_locate.c): values and defaults of good policies, and the exact
 * "NAME:LINE:COL: path: problem; expected ..." lines for bad ones.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "policy/json_locate.h"
#include "policy/policy.h"

/* The rest of a minimal valid policy, after a "capture" member on line 2. */
#define REST                                                                                       \
	"  \"audit\": {\"path\": \"/a\"},\n"                                                       \
	"  \"providers\": {\"x\": {\"hosts\": [\"h.example\"]}}\n"                                 \
	"}\n"

static const char FULL[] =
    "{\n"
    "  \"capture\": {\n"
    "    \"cgroup\": \"/apps/prod\",\n"
    "    \"listen\": \"127.0.0.2:16001\",\n"
    "    \"listen6\": \"[::1]:16002\",\n"
    "    \"mode\": \"observe\",\n"
    "    \"tls_port\": 8443,\n"
    "    \"exempt_mark\": 4294967295,\n"
    "    \"resolve_min_s\": 10,\n"
    "    \"resolve_max_s\": 600,\n"
    "    \"destroy_preexisting\": false\n"
    "  },\n"
    "  \"audit\": { \"path\": \"/var/log/aigw/audit.jsonl\", \"rotate_bytes\": 104857600,\n"
    "             \"keep\": 0, \"on_failure\": \"continue\", \"durability\": \"strict\",\n"
    "             \"checkpoint\": { \"every_records\": 50, \"every_s\": 0,\n"
    "                             \"key\": \"/etc/aigw/cp.key\", \"path\": \"/mnt/far/cp\" } },\n"
    "  \"ca\": { \"dir\": \"/etc/aigw/ca\", \"domains\": [\"OpenAI.com\", \"anthropic.com\"] },\n"
    "  \"tls\": { \"upstream_ca\": \"/etc/ssl/providers.pem\" },\n"
    "  \"proxy\": {\n"
    "    \"non_tls\": \"passthrough\",\n"
    "    \"max_request_body\": 1073741824,\n"
    "    \"max_request_json_values\": 16777216,\n"
    "    \"timeouts\": { \"connect_ms\": 1, \"tls_handshake_ms\": 2000, \"first_byte_ms\": 3000,\n"
    "                  \"idle_ms\": 4000, \"client_idle_ms\": 86400000,\n"
    "                  \"passthrough_idle_ms\": 7000 }\n"
    "  },\n"
    "  \"providers\": {\n"
    "    \"openai\": { \"hosts\": [\"api.openai.com\"],\n"
    "                \"addresses\": [\"10.0.0.0/8\", \"2001:db8::/32\"] },\n"
    "    \"anthropic\": { \"hosts\": [\"api.anthropic.com\", \"Claude.AI\"] }\n"
    "  },\n"
    "  \"workloads\": [\n"
    "    { \"name\": \"checkout\", \"team\": \"payments\",\n"
    "      \"match\": { \"cgroup\": \"/apps/prod/checkout*\" } },\n"
    "    { \"name\": \"batch\", \"match\": { \"cgroup\": \"/apps/prod/batch/*\" } }\n"
    "  ]\n"
    "}\n";

/* The messages of the last load(), freed by the next. */
static char *errs;

/* Loads TEXT as "p.json", messages into errs. */
static int load(const char *text, struct policy **p)
{
	size_t size;
	FILE *f;
	int r;

	free(errs);
	errs = NULL;
	f = open_memstream(&errs, &size);
	if (!f)
		return -errno;
	r = policy_load_string("p.json", text, f, p);
	fclose(f);
	return r;
}

/* Loads TEXT, which must fail with -EINVAL and no policy; returns the messages. */
static const char *load_bad(const char *text)
{
	struct policy *p = NULL;
	int r = load(text, &p);

	if (r != -EINVAL || p) {
		fprintf(stderr, "  load: got %d, policy %p; expected -EINVAL and none\n", r,
			(void *)p);
		policy_free(p);
		return "(the load did not fail)";
	}
	return errs;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static const char *ip4(const void *addr, char *buf)
{
	return inet_ntop(AF_INET, addr, buf, INET6_ADDRSTRLEN);
}

static const char *ip6(const void *addr, char *buf)
{
	return inet_ntop(AF_INET6, addr, buf, INET6_ADDRSTRLEN);
}

static void test_full_policy(void)
{
	struct policy *p = NULL;
	const struct policy_provider *pr;
	char buf[INET6_ADDRSTRLEN];

	ASSERT_OK(load(FULL, &p));
	ASSERT_STREQ(errs, "");
	ASSERT_STREQ(p->path, "p.json");
	ASSERT_STREQ(p->capture.cgroup, "/apps/prod");
	ASSERT_EQ(p->capture.listen4.sin_family, AF_INET);
	ASSERT_STREQ(ip4(&p->capture.listen4.sin_addr, buf), "127.0.0.2");
	ASSERT_EQ(ntohs(p->capture.listen4.sin_port), 16001);
	ASSERT_EQ(p->capture.listen6.sin6_family, AF_INET6);
	ASSERT_STREQ(ip6(&p->capture.listen6.sin6_addr, buf), "::1");
	ASSERT_EQ(ntohs(p->capture.listen6.sin6_port), 16002);
	ASSERT_EQ(p->capture.mode, POLICY_CAPTURE_OBSERVE);
	ASSERT_EQ(p->capture.tls_port, 8443);
	ASSERT_EQ(p->capture.exempt_mark, 4294967295u);
	ASSERT_EQ(p->capture.resolve_min_s, 10);
	ASSERT_EQ(p->capture.resolve_max_s, 600);
	ASSERT_EQ(p->capture.destroy_preexisting, 0);
	ASSERT_STREQ(p->audit.path, "/var/log/aigw/audit.jsonl");
	ASSERT_EQ(p->audit.rotate_bytes, 104857600);
	ASSERT_EQ(p->audit.keep, 0);
	ASSERT_EQ(p->audit.on_failure, POLICY_AUDIT_CONTINUE);
	ASSERT_EQ(p->audit.durability, POLICY_AUDIT_STRICT);
	ASSERT_EQ(p->audit.checkpoint.every_records, 50);
	ASSERT_EQ(p->audit.checkpoint.every_s, 0);
	ASSERT_STREQ(p->audit.checkpoint.key, "/etc/aigw/cp.key");
	ASSERT_STREQ(p->audit.checkpoint.path, "/mnt/far/cp");
	ASSERT_STREQ(p->ca.dir, "/etc/aigw/ca");
	ASSERT_EQ(p->ca.n_domains, 2);
	ASSERT_STREQ(p->ca.domains[0], "openai.com"); /* lowercased */
	ASSERT_STREQ(p->ca.domains[1], "anthropic.com");
	ASSERT_STREQ(p->tls.upstream_ca, "/etc/ssl/providers.pem");
	ASSERT_EQ(p->proxy.non_tls, POLICY_NON_TLS_PASSTHROUGH);
	ASSERT_EQ(p->proxy.max_request_body, 1073741824);
	ASSERT_EQ(p->proxy.max_request_json_values, 16777216);
	ASSERT_EQ(p->proxy.connect_timeout_ms, 1);
	ASSERT_EQ(p->proxy.tls_handshake_timeout_ms, 2000);
	ASSERT_EQ(p->proxy.first_byte_timeout_ms, 3000);
	ASSERT_EQ(p->proxy.idle_timeout_ms, 4000);
	ASSERT_EQ(p->proxy.client_idle_timeout_ms, 86400000);
	ASSERT_EQ(p->proxy.passthrough_idle_timeout_ms, 7000);

	ASSERT_EQ(p->n_providers, 2);
	pr = &p->providers[0];
	ASSERT_STREQ(pr->name, "openai");
	ASSERT_EQ(pr->api, POLICY_API_OPENAI);
	ASSERT_STREQ(pr->base_host, "api.openai.com");
	ASSERT_EQ(pr->base_port, 443);
	ASSERT_STREQ(pr->base_prefix, "");
	ASSERT_EQ(pr->n_hosts, 1);
	ASSERT_STREQ(pr->hosts[0], "api.openai.com");
	ASSERT_EQ(pr->n_cidrs, 2);
	ASSERT_EQ(pr->cidrs[0].family, AF_INET);
	ASSERT_STREQ(ip4(pr->cidrs[0].addr, buf), "10.0.0.0");
	ASSERT_EQ(pr->cidrs[0].prefixlen, 8);
	ASSERT_EQ(pr->cidrs[1].family, AF_INET6);
	ASSERT_STREQ(ip6(pr->cidrs[1].addr, buf), "2001:db8::");
	ASSERT_EQ(pr->cidrs[1].prefixlen, 32);
	pr = &p->providers[1];
	ASSERT_STREQ(pr->name, "anthropic");
	ASSERT_EQ(pr->api, POLICY_API_ANTHROPIC); /* by its name */
	ASSERT_STREQ(pr->base_host, "api.anthropic.com");
	ASSERT_EQ(pr->n_hosts, 2);
	ASSERT_STREQ(pr->hosts[1], "Claude.AI");
	ASSERT_EQ(pr->n_cidrs, 0);

	ASSERT_EQ(p->n_workloads, 2);
	ASSERT_STREQ(p->workloads[0].name, "checkout");
	ASSERT_STREQ(p->workloads[0].team, "payments");
	ASSERT_STREQ(p->workloads[0].cgroup_glob, "/apps/prod/checkout*");
	ASSERT_STREQ(p->workloads[1].name, "batch");
	ASSERT_TRUE(p->workloads[1].team == NULL);
	ASSERT_STREQ(p->workloads[1].cgroup_glob, "/apps/prod/batch/*");

	ASSERT_TRUE(policy_provider_by_host(p, "API.OpenAI.com") == &p->providers[0]);
	ASSERT_TRUE(policy_provider_by_host(p, "claude.ai") == &p->providers[1]);
	ASSERT_TRUE(policy_provider_by_host(p, "example.com") == NULL);
	ASSERT_TRUE(policy_provider_by_host(p, "api.openai.co") == NULL);
	policy_free(p);
}

static void test_defaults(void)
{
	struct policy *p = NULL;
	char buf[INET6_ADDRSTRLEN];

	ASSERT_OK(load("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n" REST, &p));
	ASSERT_STREQ(errs, "");
	ASSERT_STREQ(ip4(&p->capture.listen4.sin_addr, buf), "127.0.0.1");
	ASSERT_EQ(ntohs(p->capture.listen4.sin_port), 15001);
	ASSERT_STREQ(ip6(&p->capture.listen6.sin6_addr, buf), "::1");
	ASSERT_EQ(ntohs(p->capture.listen6.sin6_port), 15001);
	ASSERT_EQ(p->capture.mode, POLICY_CAPTURE_ENFORCE);
	ASSERT_EQ(p->capture.tls_port, 443);
	ASSERT_EQ(p->capture.scope, POLICY_SCOPE_TLS);
	ASSERT_EQ(p->capture.n_tls_ports, 1);
	ASSERT_EQ(p->capture.tls_ports[0], 443);
	ASSERT_EQ(p->capture.exempt_mark, 0x41494757);
	ASSERT_EQ(p->capture.resolve_min_s, 5);
	ASSERT_EQ(p->capture.resolve_max_s, 300);
	ASSERT_EQ(p->capture.destroy_preexisting, 1);
	ASSERT_EQ(p->n_workloads, 0);
	ASSERT_TRUE(p->workloads == NULL);
	ASSERT_EQ(p->audit.rotate_bytes, 0);
	ASSERT_EQ(p->audit.keep, 10);
	ASSERT_EQ(p->audit.on_failure, POLICY_AUDIT_BLOCK);
	ASSERT_EQ(p->audit.durability, POLICY_AUDIT_BATCHED);
	/* checkpoints: the key beside the CA's, the file beside the log */
	ASSERT_EQ(p->audit.checkpoint.every_records, 1000);
	ASSERT_EQ(p->audit.checkpoint.every_s, 60);
	ASSERT_STREQ(p->audit.checkpoint.key, "/var/lib/aigw/ca/audit-checkpoint.key");
	ASSERT_STREQ(p->audit.checkpoint.path, "/a-checkpoints");
	ASSERT_STREQ(p->ca.dir, "/var/lib/aigw/ca");
	ASSERT_TRUE(p->ca.domains == NULL);
	ASSERT_EQ(p->ca.n_domains, 0);
	ASSERT_TRUE(p->tls.upstream_ca == NULL);
	ASSERT_EQ(p->proxy.non_tls, POLICY_NON_TLS_CLOSE);
	ASSERT_EQ(p->proxy.max_request_body, 32 << 20);
	ASSERT_EQ(p->proxy.max_request_json_values, 1000000);
	ASSERT_EQ(p->proxy.connect_timeout_ms, 5000);
	ASSERT_EQ(p->proxy.tls_handshake_timeout_ms, 10000);
	ASSERT_EQ(p->proxy.first_byte_timeout_ms, 600000);
	ASSERT_EQ(p->proxy.idle_timeout_ms, 300000);
	ASSERT_EQ(p->proxy.client_idle_timeout_ms, 120000);
	ASSERT_EQ(p->proxy.passthrough_idle_timeout_ms, 300000);
	ASSERT_EQ(p->routing.breaker_failures, 5);
	ASSERT_EQ(p->routing.breaker_open_ms, 30000);
	ASSERT_EQ(p->n_models, 0);
	ASSERT_TRUE(p->models == NULL);
	ASSERT_EQ(p->api.enabled, 0);
	ASSERT_EQ(p->api.listen_len, 0);
	policy_free(p);

	/* empty objects: the same defaults */
	ASSERT_OK(load("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
		       "  \"ca\": {}, \"tls\": {}, \"proxy\": {\"timeouts\": {}},\n" REST,
		       &p));
	ASSERT_STREQ(errs, "");
	ASSERT_STREQ(p->ca.dir, "/var/lib/aigw/ca");
	ASSERT_TRUE(p->ca.domains == NULL);
	ASSERT_TRUE(p->tls.upstream_ca == NULL);
	ASSERT_EQ(p->proxy.max_request_body, 32 << 20);
	ASSERT_EQ(p->proxy.idle_timeout_ms, 300000);
	ASSERT_EQ(p->audit.keep, 10);
	policy_free(p);

	/* listen6 takes listen's port when it is not given */
	ASSERT_OK(load(
	    "{\n  \"capture\": {\"cgroup\": \"/\", \"listen\": \"127.0.0.1:9000\"},\n" REST, &p));
	ASSERT_EQ(ntohs(p->capture.listen4.sin_port), 9000);
	ASSERT_EQ(ntohs(p->capture.listen6.sin6_port), 9000);
	ASSERT_STREQ(p->capture.cgroup, "/");
	policy_free(p);
}

static void test_syntax_error(void)
{
	/* missing ',' after "/apps": cJSON stops at the next key */
	ASSERT_STREQ(load_bad("{\n"
			      "  \"capture\": {\n"
			      "    \"cgroup\": \"/apps\"\n"
			      "    \"mode\": \"observe\"\n"
			      "  }\n"
			      "}\n"),
		     "p.json:4:5: syntax error at '\"mode\": \"observe\"'; expected valid JSON\n");
	/* a trailing ',' in an object points at the '}' */
	ASSERT_STREQ(load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\",},\n" REST),
		     "p.json:2:33: syntax error at '},'; expected valid JSON\n");
	ASSERT_STREQ(load_bad("{\n  \"capture\": {\n"),
		     "p.json:3:1: syntax error at the end of the file; expected valid JSON\n");
	ASSERT_STREQ(load_bad(""), "p.json:1:1: syntax error at the end of the file; expected "
				   "valid JSON\n");
}

static void test_wrong_type(void)
{
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", \"tls_port\": \"443\"},\n" REST),
	    "p.json:2:46: capture.tls_port: got string \"443\"; expected an integer "
	    "1..65535\n");
	ASSERT_STREQ(load_bad("{\n  \"capture\": [],\n" REST),
		     "p.json:2:14: capture: got an array; expected an object\n");
	ASSERT_STREQ(load_bad("[]"), "p.json:1:1: top level: got an array; expected an object\n");
	ASSERT_STREQ(
	    load_bad(
		"{\n  \"capture\": {\"cgroup\": \"/apps\", \"destroy_preexisting\": 1},\n" REST),
	    "p.json:2:57: capture.destroy_preexisting: got number 1; expected true or false\n");
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": null},\n" REST),
	    "p.json:2:25: capture.cgroup: got null; expected a cgroup path like \"/apps\", "
	    "relative to the cgroup2 mount\n");
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", \"tls_port\": 70000},\n" REST),
	    "p.json:2:46: capture.tls_port: got 70000; expected an integer 1..65535\n");
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", \"tls_port\": 44.5},\n" REST),
	    "p.json:2:46: capture.tls_port: got 44.5; expected an integer 1..65535\n");
}

/* Loads "capture": {"cgroup": "/apps", CAPTURE} with the rest of a minimal policy. */
static int load_capture(const char *capture, struct policy **ret)
{
	char text[1024];

	snprintf(text, sizeof(text), "{\n  \"capture\": {\"cgroup\": \"/apps\", %s},\n" REST,
		 capture);
	return load(text, ret);
}

static void test_capture_scope_and_tls_ports(void)
{
	struct policy *p = NULL;

	ASSERT_OK(load_capture("\"scope\": \"providers\"", &p));
	ASSERT_EQ(p->capture.scope, POLICY_SCOPE_PROVIDERS);
	policy_free(p);
	/* tls_port given alone joins the default [443]. */
	ASSERT_OK(load_capture("\"tls_port\": 8443", &p));
	ASSERT_EQ(p->capture.scope, POLICY_SCOPE_TLS);
	ASSERT_EQ(p->capture.n_tls_ports, 2);
	ASSERT_EQ(p->capture.tls_ports[0], 443);
	ASSERT_EQ(p->capture.tls_ports[1], 8443);
	policy_free(p);
	/* tls_ports alone: tls_port is their first. */
	ASSERT_OK(load_capture("\"tls_ports\": [8443, 443]", &p));
	ASSERT_EQ(p->capture.tls_port, 8443);
	ASSERT_EQ(p->capture.n_tls_ports, 2);
	policy_free(p);
	/* Both: tls_port added when tls_ports leaves it out. */
	ASSERT_OK(load_capture("\"tls_port\": 9443, \"tls_ports\": [443, 8443]", &p));
	ASSERT_EQ(p->capture.tls_port, 9443);
	ASSERT_EQ(p->capture.n_tls_ports, 3);
	ASSERT_EQ(p->capture.tls_ports[2], 9443);
	policy_free(p);
	ASSERT_OK(load_capture("\"tls_ports\": [1, 2, 3, 4, 5, 6, 7, 65535]", &p));
	ASSERT_EQ(p->capture.n_tls_ports, 8);
	ASSERT_EQ(p->capture.tls_port, 1);
	policy_free(p);
}

static void test_bad_capture_scope_and_tls_ports(void)
{
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", \"scope\": \"all\"},\n" REST),
	    "p.json:2:43: capture.scope: got \"all\"; expected \"tls\" or \"providers\"\n");
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", \"tls_ports\": 443},\n" REST),
	    "p.json:2:47: capture.tls_ports: got number 443; expected an array of 1..8 distinct "
	    "ports 1..65535, like [443, 8443]\n");
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", \"tls_ports\": []},\n" REST),
	    "p.json:2:47: capture.tls_ports: got an array; expected an array of 1..8 distinct "
	    "ports 1..65535, like [443, 8443]\n");
	ASSERT_STREQ(load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", "
			      "\"tls_ports\": [1, 2, 3, 4, 5, 6, 7, 8, 9]},\n" REST),
		     "p.json:2:47: capture.tls_ports: got an array; expected an array of 1..8 "
		     "distinct ports 1..65535, like [443, 8443]\n");
	/* Each element at its own line and column. */
	ASSERT_STREQ(load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", "
			      "\"tls_ports\": [443,\n    0, \"8443\", 70000, 44.5, 443]},\n" REST),
		     "p.json:3:5: capture.tls_ports[1]: got 0; expected a port 1..65535\n"
		     "p.json:3:8: capture.tls_ports[2]: got string \"8443\"; expected a port "
		     "1..65535\n"
		     "p.json:3:16: capture.tls_ports[3]: got 70000; expected a port 1..65535\n"
		     "p.json:3:23: capture.tls_ports[4]: got 44.5; expected a port 1..65535\n"
		     "p.json:3:29: capture.tls_ports[5]: got 443, given twice; expected each port "
		     "once\n");
	ASSERT_STREQ(load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", \"tls_port\": 9,\n"
			      "    \"tls_ports\": [1, 2, 3, 4, 5, 6, 7, 8]},\n" REST),
		     "p.json:3:18: capture.tls_ports: got 8 ports without tls_port 9; expected at "
		     "most 8 with tls_port (add it to them, or leave one out)\n");
	/* The gateway's own listeners are not TLS ports under scope "tls"... */
	ASSERT_STREQ(load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", "
			      "\"listen\": \"127.0.0.1:8443\", \"tls_ports\": [443, 8443]},\n" REST),
		     "p.json:2:75: capture.tls_ports: port 8443 is also capture.listen's: under "
		     "scope \"tls\" captured connections to it would go to the capture proxy; "
		     "expected TLS ports apart from the gateway's own listeners\n");
	/* ... and may be under "providers", where only provider addresses are redirected. */
	ASSERT_STREQ(load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", \"scope\": \"providers\", "
			      "\"listen\": \"127.0.0.1:8443\", \"tls_ports\": [443, 8443]},\n"
			      "  \"mode\": 1,\n" REST),
		     "p.json:3:3: mode: unknown key; expected one of \"capture\", \"audit\", "
		     "\"providers\", \"workloads\", \"ca\", \"tls\", \"proxy\", \"prices\", "
		     "\"routing\", \"models\", \"api\", \"teams\", \"state\", \"ledger\", "
		     "\"admin\", \"ai_services\", or \"guardrails\"\n");
}

static void test_unknown_key(void)
{
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", \"mdoe\": \"observe\"},\n" REST),
	    "p.json:2:34: capture.mdoe: unknown key; expected one of \"cgroup\", "
	    "\"listen\", \"listen6\", \"mode\", \"tls_port\", \"scope\", \"tls_ports\", "
	    "\"exempt_mark\", \"resolve_min_s\", \"resolve_max_s\", \"destroy_preexisting\", "
		     "\"unsanctioned_ai\", \"fronting\", \"netns_listeners\", or \"netns_max\"\n");
	ASSERT_STREQ(load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\"}, \"Audit\": 1,\n" REST),
		     "p.json:2:35: Audit: unknown key; expected one of \"capture\", \"audit\", "
		     "\"providers\", \"workloads\", \"ca\", \"tls\", \"proxy\", \"prices\", "
		     "\"routing\", \"models\", \"api\", \"teams\", \"state\", \"ledger\", \"admin\", "
		     "\"ai_services\", or \"guardrails\"\n");
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
		     "  \"audit\": {\"path\": \"/a\"},\n"
		     "  \"providers\": {\"x\": {\"hosts\": [\"h.example\"], \"ports\": []}}\n"
		     "}\n"),
	    "p.json:4:47: providers.x.ports: unknown key; expected one of \"hosts\", "
	    "\"addresses\", \"key_env\", \"key_file\", \"api\", \"credentials_file\", "
	    "\"token_url\", \"project\", \"base_url\", \"api_root\", \"region\", "
	    "\"deployments\", \"token_file\", or \"aws\"\n");
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
		     "  \"audit\": {\"path\": \"/a\"},\n"
		     "  \"providers\": {\"x\": {\"hosts\": [\"h.example\"]}},\n"
		     "  \"workloads\": [{\"name\": \"w\", \"match\": {\"cgroup\": \"/w\"}, "
		     "\"keys\": []}],\n"
		     "  \"routing\": {\"brake\": {}}\n"
		     "}\n"),
	    "p.json:5:58: workloads[0].keys: unknown key; expected one of \"name\", \"team\", "
	    "\"own_keys\", \"match\", \"api_keys\", \"allow\", \"limits\", \"budget\", "
		     "or \"guardrails\"\n"
	    "p.json:6:15: routing.brake: unknown key; expected one of \"retries\", "
	    "\"retry_statuses\", \"backoff_ms\", \"backoff_max_ms\", or \"breaker\"\n");
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", \"cgroup\": \"/b\"},\n" REST),
	    "p.json:2:34: capture.cgroup: duplicate key, first at 2:15; expected each key "
	    "once\n");
}

static void test_bad_mode(void)
{
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", \"mode\": \"enfroce\"},\n" REST),
	    "p.json:2:42: capture.mode: got \"enfroce\"; expected \"enforce\" or "
	    "\"observe\"\n");
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", \"mode\": 1},\n" REST),
	    "p.json:2:42: capture.mode: got number 1; expected \"enforce\" or \"observe\"\n");
}

static void test_bad_cidr(void)
{
	const char *e = load_bad(
	    "{\n"
	    "  \"capture\": {\"cgroup\": \"/apps\"},\n"
	    "  \"audit\": {\"path\": \"/a\"},\n"
	    "  \"providers\": {\n"
	    "    \"x\": {\"addresses\": [\"10.0.0.1/8\", \"10.0.0.0/33\", \"2001:db8::1/32\"]},\n"
	    "    \"y\": {\"addresses\": [\"10.0.0/8\"]}\n"
	    "  }\n"
	    "}\n");

	ASSERT_STREQ(
	    e, "p.json:5:25: providers.x.addresses[0]: got \"10.0.0.1/8\", which has host "
	       "bits set; expected \"10.0.0.0/8\"\n"
	       "p.json:5:39: providers.x.addresses[1]: got \"10.0.0.0/33\", the prefix "
	       "length is not 0..32; expected an IPv4 or IPv6 address or CIDR, like "
	       "\"10.0.0.0/8\" or \"2001:db8::/32\"\n"
	       "p.json:5:54: providers.x.addresses[2]: got \"2001:db8::1/32\", which has host "
	       "bits set; expected \"2001:db8::/32\"\n"
	       "p.json:6:25: providers.y.addresses[0]: got \"10.0.0/8\", not an IP address; "
	       "expected an IPv4 or IPv6 address or CIDR, like \"10.0.0.0/8\" or "
	       "\"2001:db8::/32\"\n");
}

static void test_bad_listen(void)
{
	ASSERT_STREQ(load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", \"listen\": "
			      "\"10.1.2.3:15001\"},\n" REST),
		     "p.json:2:44: capture.listen: got \"10.1.2.3:15001\", not a loopback address; "
		     "expected \"IPv4:PORT\" on loopback, like \"127.0.0.1:15001\"\n");
	ASSERT_CONTAINS(
	    load_bad(
		"{\n  \"capture\": {\"cgroup\": \"/apps\", \"listen\": \"127.0.0.1:0\"},\n" REST),
	    "p.json:2:44: capture.listen: got \"127.0.0.1:0\", the port is not 1..65535;");
	ASSERT_CONTAINS(
	    load_bad(
		"{\n  \"capture\": {\"cgroup\": \"/apps\", \"listen\": \"localhost:80\"},\n" REST),
	    "p.json:2:44: capture.listen: got \"localhost:80\", not an IPv4 address;");
	ASSERT_STREQ(
	    load_bad(
		"{\n  \"capture\": {\"cgroup\": \"/apps\", \"listen6\": \"[::]:15001\"},\n" REST),
	    "p.json:2:45: capture.listen6: got \"[::]:15001\", not the loopback address; "
	    "expected \"[IPv6]:PORT\" on loopback, like \"[::1]:15001\"\n");
}

static void test_missing_key(void)
{
	ASSERT_STREQ(
	    load_bad("{\n"
		     "  \"capture\": {\"listen\": \"127.0.0.1:15001\"},\n"
		     "  \"providers\": {\"x\": {\"hosts\": [\"h.example\"]}}\n"
		     "}\n"),
	    "p.json:2:14: capture: missing key \"cgroup\"; expected \"cgroup\": a cgroup "
	    "path like \"/apps\", relative to the cgroup2 mount\n"
	    "p.json:1:1: top level: missing key \"audit\"; expected \"audit\": an object\n");
	ASSERT_STREQ(load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
			      "  \"audit\": {\"path\": \"/a\"},\n"
			      "  \"providers\": {\"x\": {\"hosts\": [\"h.example\"]}},\n"
			      "  \"workloads\": [{\"name\": \"w\"}]\n"
			      "}\n"),
		     "p.json:5:17: workloads[0]: missing key \"match\"; expected \"match\": an "
		     "object with \"cgroup\"\n");
}

static void test_duplicate_host(void)
{
	ASSERT_STREQ(
	    load_bad("{\n"
		     "  \"capture\": {\"cgroup\": \"/apps\"},\n"
		     "  \"audit\": {\"path\": \"/a\"},\n"
		     "  \"providers\": {\n"
		     "    \"openai\": {\"hosts\": [\"api.openai.com\"]},\n"
		     "    \"other\": {\"hosts\": [\"API.OpenAI.com\"]}\n"
		     "  }\n"
		     "}\n"),
	    "p.json:6:25: providers.other.hosts[0]: got \"API.OpenAI.com\", already a host "
	    "of provider \"openai\" at 5:26; expected each host in one provider, once\n");
}

static void test_bad_providers(void)
{
	const char *e =
	    load_bad("{\n"
		     "  \"capture\": {\"cgroup\": \"/apps\"},\n"
		     "  \"audit\": {\"path\": \"/a\"},\n"
		     "  \"providers\": {\n"
		     "    \"Open.AI\": {\"hosts\": [\"a.example\"]},\n"
		     "    \"none\": {\"hosts\": []},\n"
		     "    \"h\": {\"hosts\": [\"-a.example\", \"a..b\", \"192.0.2.1\", \"\"]},\n"
		     "    \"none\": {}\n"
		     "  }\n"
		     "}\n");

	ASSERT_CONTAINS(e, "p.json:5:5: providers[\"Open.AI\"]: bad provider name; expected");
	ASSERT_CONTAINS(e, "p.json:6:13: providers.none: no hosts and no addresses; expected");
	ASSERT_CONTAINS(e, "p.json:7:21: providers.h.hosts[0]: got \"-a.example\", with a label "
			   "starting with '-'; expected a DNS host name");
	ASSERT_CONTAINS(e, "p.json:7:35: providers.h.hosts[1]: got \"a..b\", with an empty label;");
	ASSERT_CONTAINS(e, "p.json:7:43: providers.h.hosts[2]: got \"192.0.2.1\", an IP address");
	ASSERT_CONTAINS(e, "p.json:7:56: providers.h.hosts[3]: got \"\", an empty name;");
	ASSERT_CONTAINS(e, "p.json:8:5: providers.none: duplicate key, first at 6:5;");
	ASSERT_EQ(count_lines(e), 7);
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
		     "  \"audit\": {\"path\": \"/a\"},\n"
		     "  \"providers\": {}\n"
		     "}\n"),
	    "p.json:4:16: providers: got an empty object; expected at least one provider\n");
}

static void test_bad_cgroup_and_resolve(void)
{
	static const char *const bad[] = {"apps",      "/apps/",   "/apps//x",
					  "/apps/./x", "/apps/..", ""};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];

		snprintf(text, sizeof(text), "{\n  \"capture\": {\"cgroup\": \"%s\"},\n" REST,
			 bad[i]);
		ASSERT_CONTAINS(load_bad(text), "p.json:2:25: capture.cgroup: got \"");
	}
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/a\", \"resolve_min_s\": 600},\n" REST),
	    "p.json:2:48: capture.resolve_min_s: got 600; expected at most resolve_max_s (300, "
	    "the default)\n");
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/a\", \"resolve_max_s\": 4},\n" REST),
	    "p.json:2:48: capture.resolve_max_s: got 4; expected at least resolve_min_s "
	    "(5)\n");
}

static void test_several_errors(void)
{
	const char *e =
	    load_bad("{\n"
		     "  \"capture\": {\"mode\": \"enfroce\", \"tls_port\": \"443\"},\n"
		     "  \"audti\": {\"path\": \"/a\"},\n"
		     "  \"providers\": {\"x\": {\"addresses\": [\"10.0.0.1/8\"]}},\n"
		     "  \"workloads\": [{\"name\": \"w\", \"match\": {\"cgroup\": 3}}]\n"
		     "}\n");

	ASSERT_CONTAINS(e, "p.json:2:23: capture.mode: got \"enfroce\";");
	ASSERT_CONTAINS(e, "p.json:2:46: capture.tls_port: got string \"443\";");
	ASSERT_CONTAINS(e, "p.json:2:14: capture: missing key \"cgroup\";");
	ASSERT_CONTAINS(e, "p.json:3:3: audti: unknown key;");
	ASSERT_CONTAINS(e, "p.json:4:37: providers.x.addresses[0]: got \"10.0.0.1/8\", which has");
	ASSERT_CONTAINS(e, "p.json:5:51: workloads[0].match.cgroup: got number 3; expected");
	ASSERT_CONTAINS(e, "p.json:1:1: top level: missing key \"audit\";");
	ASSERT_EQ(count_lines(e), 7);

	/* no sink: the same verdict */
	ASSERT_EQ(policy_load_string("p.json", "{\"capture\": 1}", NULL, &(struct policy *){NULL}),
		  -EINVAL);
}

static void test_v4_mapped(void)
{
	struct policy *p = NULL;
	const struct policy_provider *pr;
	char buf[INET6_ADDRSTRLEN];

	ASSERT_OK(load("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
		       "  \"audit\": {\"path\": \"/a\"},\n"
		       "  \"providers\": {\"x\": {\"addresses\": [\"::ffff:192.0.2.0/120\", "
		       "\"::FFFF:198.51.100.7\", \"::ffff:0.0.0.0/96\", \"::fffe:0:0/95\"]}}\n"
		       "}\n",
		       &p));
	pr = &p->providers[0];
	ASSERT_EQ(pr->n_cidrs, 4);
	ASSERT_EQ(pr->cidrs[0].family, AF_INET);
	ASSERT_STREQ(ip4(pr->cidrs[0].addr, buf), "192.0.2.0");
	ASSERT_EQ(pr->cidrs[0].prefixlen, 24);
	ASSERT_EQ(pr->cidrs[1].family, AF_INET);
	ASSERT_STREQ(ip4(pr->cidrs[1].addr, buf), "198.51.100.7");
	ASSERT_EQ(pr->cidrs[1].prefixlen, 32);
	ASSERT_EQ(pr->cidrs[1].addr[4], 0);
	ASSERT_EQ(pr->cidrs[2].family, AF_INET);
	ASSERT_EQ(pr->cidrs[2].prefixlen, 0);
	/* shorter than /96 covers more than IPv4: it stays IPv6 */
	ASSERT_EQ(pr->cidrs[3].family, AF_INET6);
	ASSERT_EQ(pr->cidrs[3].prefixlen, 95);
	policy_free(p);
}

static void test_load_file(void)
{
	char path[] = "/tmp/test_policy.XXXXXX";
	struct policy *p = NULL, sentinel, *kept = &sentinel;
	size_t size;
	FILE *f;
	int fd, r;

	fd = mkstemp(path);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(write(fd, FULL, sizeof(FULL) - 1), (long)sizeof(FULL) - 1);
	r = policy_load(path, stderr, &p);
	ASSERT_EQ(ftruncate(fd, 0), 0);
	ASSERT_EQ(pwrite(fd, "{\"a\":\0}", 7, 0), 7);
	close(fd);
	ASSERT_OK(r);
	ASSERT_STREQ(p->path, path);
	ASSERT_EQ(p->n_providers, 2);
	policy_free(p);

	/* a NUL byte; a failed load leaves *ret_policy alone */
	free(errs);
	f = open_memstream(&errs, &size);
	ASSERT_EQ(policy_load(path, f, &kept), -EINVAL);
	fclose(f);
	unlink(path);
	ASSERT_TRUE(kept == &sentinel);
	ASSERT_CONTAINS(errs, ":1:6: NUL byte at '?}'; expected JSON text\n");

	free(errs);
	f = open_memstream(&errs, &size);
	ASSERT_EQ(policy_load(path, f, &kept), -ENOENT);
	fclose(f);
	ASSERT_CONTAINS(errs, ": cannot read: No such file or directory\n");
	ASSERT_TRUE(kept == &sentinel);
}

static void test_free_null(void)
{
	policy_free(NULL);
	ASSERT_TRUE(policy_provider_by_host(NULL, "api.openai.com") == NULL);
	ASSERT_TRUE(policy_model_by_name(NULL, "fast") == NULL);
	ASSERT_TRUE(policy_workload_by_api_key(NULL, "gw-key-0123456789abcdef") == NULL);
}

static void test_json_locate(void)
{
	static const char t[] = "{\"a\": {\"b\\u0021\": [1, \"x\\\"]\", {\"c\": true}],\n"
				"  \"\xc3\xa9\": -1.5e3}, \"a\": null}";
	struct json_locate_step path[] = {{"a", 0}, {"b!", 0}, {NULL, 2}, {"c", 0}};
	struct json_locate_pos pos;
	unsigned line, col;

	ASSERT_OK(json_locate(t, sizeof(t) - 1, path, 4, &pos));
	ASSERT_EQ(pos.value, strstr(t, "true") - t);
	ASSERT_EQ(pos.end, pos.value + 4);
	ASSERT_EQ(pos.key, strstr(t, "\"c\"") - t);

	path[1] = (struct json_locate_step){"\xc3\xa9", 0};
	ASSERT_OK(json_locate(t, sizeof(t) - 1, path, 2, &pos));
	ASSERT_EQ(pos.value, strstr(t, "-1.5e3") - t);
	ASSERT_EQ(pos.end, pos.value + 6);
	json_locate_line_col(t, sizeof(t) - 1, pos.value, &line, &col);
	ASSERT_EQ(line, 2);
	ASSERT_EQ(col, 8); /* "é" is one column */

	/* by index, the second "a" */
	path[0] = (struct json_locate_step){NULL, 1};
	ASSERT_OK(json_locate(t, sizeof(t) - 1, path, 1, &pos));
	ASSERT_EQ(pos.value, strstr(t, "null") - t);
	ASSERT_EQ(pos.key, strrchr(t, ',') - t + 2);

	path[0] = (struct json_locate_step){"ab", 0}; /* not "a", a prefix of it */
	ASSERT_OK(json_locate("{\"a\": 1, \"ab\": 2}", 17, path, 1, &pos));
	ASSERT_EQ(pos.value, 15);
	path[0] = (struct json_locate_step){"zz", 0};
	ASSERT_EQ(json_locate(t, sizeof(t) - 1, path, 1, &pos), -ENOENT);
	path[0] = (struct json_locate_step){NULL, 2};
	ASSERT_EQ(json_locate(t, sizeof(t) - 1, path, 1, &pos), -ENOENT);
	path[0] = (struct json_locate_step){NULL, 0};
	ASSERT_EQ(json_locate("[1, 2", 5, path, 1, &pos), 0);
	path[0] = (struct json_locate_step){NULL, 5};
	ASSERT_EQ(json_locate("[1, 2", 5, path, 1, &pos), -EINVAL);
	ASSERT_EQ(json_locate("\"abc", 4, NULL, 0, &pos), -EINVAL);
}

static size_t cjson_nodes(const cJSON *v)
{
	size_t n = v ? 1 : 0;

	for (const cJSON *c = v ? v->child : NULL; c; c = c->next)
		n += cjson_nodes(c);
	return n;
}

/* At least cJSON's node count, whatever strings hold; no further than MAX + 1. */
static void test_json_count_values(void)
{
	static const char *const texts[] = {
	    "0", "[]", "{}", "[0,0,0]", "{\"a\":[1,{}],\"b\":\"x\"}", "[[[[]]]]",
	    "{\"s\":\"[,{\\\",]}\",\"t\":[\"\\\\\",\",\"]}", "  [ 1 , 2 ]  ",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		cJSON *v = cJSON_Parse(texts[i]);
		size_t nodes = cjson_nodes(v);

		ASSERT_TRUE(v != NULL);
		ASSERT_TRUE(json_locate_count_values(texts[i], strlen(texts[i]), 100) >= nodes);
		ASSERT_TRUE(json_locate_count_values(texts[i], strlen(texts[i]), 100) <= nodes + 1);
		ASSERT_TRUE(nodes <= json_values_at_most(strlen(texts[i])));
		cJSON_Delete(v);
	}
	/* the densest texts meet the bound exactly: uncounted bodies cannot pass it */
	ASSERT_EQ(json_values_at_most(strlen("[0,0,0]")), 4);
	ASSERT_EQ(json_values_at_most(strlen("[[[[]]]]")), 4);
	ASSERT_EQ(json_values_at_most(1), 1);
	ASSERT_EQ(json_locate_count_values("{\"s\":\"[,{\\\",]}\"}", 16, 100), 2);
	ASSERT_EQ(json_locate_count_values("[0,0,0,0,0,0,0,0]", 17, 3), 4); /* stops at MAX + 1 */
	ASSERT_EQ(json_locate_count_values("\"abc\\", 5, 100), 1); /* cut inside an escape */
	ASSERT_EQ(json_locate_count_values("", 0, 100), 1);
}

/* REL in the repository this file was compiled in. make compiles "tests/unit/test_policy.c"
 * from the repository root and runs the tests there; an absolute __FILE__ works from anywhere. */
static const char *repo_path(const char *rel, char *buf, size_t size)
{
	const char *self = __FILE__, *tests = strstr(self, "tests/unit/");
	int root = tests ? (int)(tests - self) : 0;

	snprintf(buf, size, "%.*s%s", root, self, rel);
	return buf;
}

static void test_examples(void)
{
	static const char *const files[] = {"policies/examples/observe.json",
					    "policies/examples/static-cidrs.json"};
	struct policy *p;
	char path[4096];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		p = NULL;
		ASSERT_OK(policy_load(repo_path(files[i], path, sizeof(path)), stderr, &p));
		ASSERT_STREQ(p->capture.cgroup, "/apps");
		ASSERT_STREQ(p->audit.path, "/var/log/aigw/audit.jsonl");
		ASSERT_EQ(p->capture.mode,
			  i == 0 ? POLICY_CAPTURE_OBSERVE : POLICY_CAPTURE_ENFORCE);
		for (size_t j = 0; i == 1 && j < p->n_providers; j++)
			ASSERT_EQ(p->providers[j].n_hosts, 0);
		policy_free(p);
	}
	/* the gateway example: every feature of routing, with nothing to warn about */
	p = NULL;
	ASSERT_OK(policy_load(repo_path("policies/examples/gateway.json", path, sizeof(path)),
			      stderr, &p));
	ASSERT_EQ(p->n_models, 4);
	ASSERT_EQ(p->providers[2].base_plain, 1);
	ASSERT_EQ(p->providers[2].base_port, 8000);
	ASSERT_STREQ(p->api.socket, "/run/aigw/api.sock");
	/* governance: the billing key is only hashed there, so the file may be world-readable */
	ASSERT_TRUE(policy_workload_by_api_key(p, "aigw-billing-7f3c9a2e51d84b06") ==
		    &p->workloads[0]);
	ASSERT_EQ(p->workloads[0].team_idx, 0);
	ASSERT_EQ(p->workloads[0].budget.nano_per_day, 50000000000LL);
	ASSERT_EQ(p->teams[0].budget.nano_per_month, 1500000000000LL);
	ASSERT_STREQ(p->providers[0].region, "us");
	ASSERT_EQ(policy_warn(p, stderr), 0);
	policy_free(p);
}

/* A minimal valid policy up to line 4; line 5 is the test's, then "}". */
#define HEAD                                                                                       \
	"{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"                                             \
	"  \"audit\": {\"path\": \"/a\"},\n"                                                       \
	"  \"providers\": {\"x\": {\"hosts\": [\"h.example\"]}},\n"

static void test_bad_audit_on_failure(void)
{
	ASSERT_STREQ(load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
			      "  \"audit\": {\"path\": \"/a\", \"on_failure\": \"drop\"},\n"
			      "  \"providers\": {\"x\": {\"hosts\": [\"h.example\"]}}\n}\n"),
		     "p.json:3:41: audit.on_failure: got \"drop\"; expected \"block\" or "
		     "\"continue\"\n");
	ASSERT_STREQ(load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
			      "  \"audit\": {\"path\": \"/a\", \"durability\": \"fsync\"},\n"
			      "  \"providers\": {\"x\": {\"hosts\": [\"h.example\"]}}\n}\n"),
		     "p.json:3:41: audit.durability: got \"fsync\"; expected \"batched\" or "
		     "\"strict\"\n");
}

static void test_bad_proxy(void)
{
	const char *e;

	ASSERT_STREQ(load_bad(HEAD "  \"proxy\": {\"non_tls\": \"drop\"}\n}\n"),
		     "p.json:5:24: proxy.non_tls: got \"drop\"; expected \"close\" or "
		     "\"passthrough\"\n");
	ASSERT_STREQ(load_bad(HEAD "  \"proxy\": {\"non_tls\": false}\n}\n"),
		     "p.json:5:24: proxy.non_tls: got boolean false; expected \"close\" or "
		     "\"passthrough\"\n");
	ASSERT_STREQ(load_bad(HEAD "  \"proxy\": {\"max_request_body\": 1023}\n}\n"),
		     "p.json:5:33: proxy.max_request_body: got 1023; expected an integer "
		     "1024..1073741824 (bytes)\n");
	ASSERT_STREQ(load_bad(HEAD "  \"proxy\": {\"max_request_body\": 1073741825}\n}\n"),
		     "p.json:5:33: proxy.max_request_body: got 1073741825; expected an integer "
		     "1024..1073741824 (bytes)\n");
	ASSERT_STREQ(load_bad(HEAD "  \"proxy\": {\"max_request_body\": \"32M\"}\n}\n"),
		     "p.json:5:33: proxy.max_request_body: got string \"32M\"; expected an "
		     "integer 1024..1073741824 (bytes)\n");
	ASSERT_STREQ(load_bad(HEAD "  \"proxy\": {\"max_request_json_values\": 999}\n}\n"),
		     "p.json:5:40: proxy.max_request_json_values: got 999; expected an integer "
		     "1000..16777216 (values: objects, arrays, strings, numbers, ...)\n");
	ASSERT_STREQ(load_bad(HEAD "  \"proxy\": {\"max_request_json_values\": 16777217}\n}\n"),
		     "p.json:5:40: proxy.max_request_json_values: got 16777217; expected an "
		     "integer 1000..16777216 (values: objects, arrays, strings, numbers, ...)\n");
	ASSERT_STREQ(load_bad(HEAD "  \"proxy\": {\"timeout\": {}}\n}\n"),
		     "p.json:5:13: proxy.timeout: unknown key; expected one of \"non_tls\", "
		     "\"max_request_body\", \"max_request_json_values\", \"timeouts\", "
		     "\"workers\", or \"limits\"\n");
	ASSERT_STREQ(load_bad(HEAD "  \"proxy\": {\"workers\": 0}\n}\n"),
		     "p.json:5:24: proxy.workers: got 0; expected an integer 1..64 (event loops; "
		     "absent: one per online CPU)\n");
	ASSERT_STREQ(load_bad(HEAD "  \"proxy\": {\"workers\": 65}\n}\n"),
		     "p.json:5:24: proxy.workers: got 65; expected an integer 1..64 (event loops; "
		     "absent: one per online CPU)\n");
	ASSERT_STREQ(load_bad(HEAD "  \"proxy\": {\"workers\": 1.5}\n}\n"),
		     "p.json:5:24: proxy.workers: got 1.5; expected an integer 1..64 (event loops; "
		     "absent: one per online CPU)\n");
	ASSERT_STREQ(load_bad(HEAD "  \"proxy\": {\"limits\": {\"buffer_bytes\": 1048575}}\n}\n"),
		     "p.json:5:40: proxy.limits.buffer_bytes: got 1048575; expected an integer "
		     "1048576..1099511627776 (bytes)\n");
	ASSERT_STREQ(load_bad(HEAD "  \"proxy\": {\"limits\": {\"buffer\": 1}}\n}\n"),
		     "p.json:5:24: proxy.limits.buffer: unknown key; expected "
		     "\"buffer_bytes\"\n");
	ASSERT_STREQ(load_bad(HEAD "  \"proxy\": {\"timeouts\": 5000}\n}\n"),
		     "p.json:5:25: proxy.timeouts: got number 5000; expected an object of "
		     "timeouts\n");
	ASSERT_STREQ(load_bad(HEAD "  \"proxy\": 1\n}\n"),
		     "p.json:5:12: proxy: got number 1; expected an object\n");

	e = load_bad(HEAD "  \"proxy\": {\"timeouts\": {\n"
			  "    \"connect_ms\": 0, \"tls_handshake_ms\": 86400001,\n"
			  "    \"first_byte_ms\": 1.5, \"idle_ms\": -1, \"read_ms\": 1,\n"
			  "    \"client_idle_ms\": null, \"connect_ms\": 9}}\n}\n");
	ASSERT_STREQ(
	    e, "p.json:6:19: proxy.timeouts.connect_ms: got 0; expected an integer 1..86400000 "
	       "(milliseconds)\n"
	       "p.json:6:42: proxy.timeouts.tls_handshake_ms: got 86400001; expected an integer "
	       "1..86400000 (milliseconds)\n"
	       "p.json:7:22: proxy.timeouts.first_byte_ms: got 1.5; expected an integer "
	       "1..86400000 (milliseconds)\n"
	       "p.json:7:38: proxy.timeouts.idle_ms: got -1; expected an integer 1..86400000 "
	       "(milliseconds)\n"
	       "p.json:7:42: proxy.timeouts.read_ms: unknown key; expected one of "
	       "\"connect_ms\", \"tls_handshake_ms\", \"first_byte_ms\", \"idle_ms\", "
	       "\"client_idle_ms\", or \"passthrough_idle_ms\"\n"
	       "p.json:8:23: proxy.timeouts.client_idle_ms: got null; expected an integer "
	       "1..86400000 (milliseconds)\n"
	       "p.json:8:29: proxy.timeouts.connect_ms: duplicate key, first at 6:5; expected "
	       "each key once\n");
}

static void test_bad_ca_tls(void)
{
	char text[4096];
	const char *e;
	size_t n;

	ASSERT_STREQ(load_bad(HEAD "  \"ca\": {\"dir\": \"\"}\n}\n"),
		     "p.json:5:17: ca.dir: got \"\"; expected a non-empty directory path\n");
	ASSERT_STREQ(load_bad(HEAD "  \"ca\": {\"dir\": [\"/ca\"]}\n}\n"),
		     "p.json:5:17: ca.dir: got an array; expected a non-empty directory path\n");
	ASSERT_STREQ(load_bad(HEAD "  \"ca\": {\"domains\": \"openai.com\"}\n}\n"),
		     "p.json:5:21: ca.domains: got string \"openai.com\"; expected an array of "
		     "DNS names, like [\"openai.com\", \"anthropic.com\"]\n");
	ASSERT_STREQ(load_bad(HEAD "  \"ca\": {\"domains\": []}\n}\n"),
		     "p.json:5:21: ca.domains: got an empty array; expected at least one DNS name "
		     "(or no \"domains\", to derive them from the providers' hosts)\n");
	ASSERT_STREQ(load_bad(HEAD "  \"ca\": {\"key\": \"/k\"}\n}\n"),
		     "p.json:5:10: ca.key: unknown key; expected \"dir\" or \"domains\"\n");

	e = load_bad(HEAD "  \"ca\": {\"domains\": [\"com\", \"192.0.2.1\", "
			  "\"evil_.com\", 3, \"\", \"a.-b.com\", \"ok.example\"]}\n}\n");
	ASSERT_STREQ(
	    e, "p.json:5:22: ca.domains[0]: got \"com\", a single label; expected a DNS name "
	       "of two labels or more, like \"openai.com\"\n"
	       "p.json:5:29: ca.domains[1]: got \"192.0.2.1\", an IP address; expected a DNS "
	       "name of two labels or more, like \"openai.com\"\n"
	       "p.json:5:42: ca.domains[2]: got \"evil_.com\", with a character other than "
	       "letters, digits, '-' and '.'; expected a DNS name of two labels or more, like "
	       "\"openai.com\"\n"
	       "p.json:5:55: ca.domains[3]: got number 3; expected a DNS name of two labels or "
	       "more, like \"openai.com\"\n"
	       "p.json:5:58: ca.domains[4]: got \"\", an empty name; expected a DNS name of two "
	       "labels or more, like \"openai.com\"\n"
	       "p.json:5:62: ca.domains[5]: got \"a.-b.com\", with a label starting with '-'; "
	       "expected a DNS name of two labels or more, like \"openai.com\"\n");

	/* at most 64 domains */
	n = snprintf(text, sizeof(text), HEAD "  \"ca\": {\"domains\": [");
	for (int i = 0; i < 65; i++)
		n += snprintf(text + n, sizeof(text) - n, "%s\"d%d.example\"", i ? ", " : "", i);
	snprintf(text + n, sizeof(text) - n, "]}\n}\n");
	ASSERT_STREQ(load_bad(text),
		     "p.json:5:21: ca.domains: got 65 names; expected at most 64\n");

	ASSERT_STREQ(load_bad(HEAD "  \"tls\": {\"upstream_ca\": \"\"}\n}\n"),
		     "p.json:5:26: tls.upstream_ca: got \"\"; expected a non-empty path to a PEM "
		     "CA bundle\n");
	ASSERT_STREQ(load_bad(HEAD "  \"tls\": {\"upstream_ca\": null}\n}\n"),
		     "p.json:5:26: tls.upstream_ca: got null; expected a non-empty path to a PEM "
		     "CA bundle\n");
	ASSERT_STREQ(load_bad(HEAD "  \"tls\": {\"verify\": false}\n}\n"),
		     "p.json:5:11: tls.verify: unknown key; expected \"upstream_ca\"\n");
	ASSERT_STREQ(load_bad(HEAD "  \"tls\": \"/ca.pem\"\n}\n"),
		     "p.json:5:10: tls: got string \"/ca.pem\"; expected an object\n");
}

static void test_bad_audit_rotation(void)
{
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
		     "  \"audit\": {\"path\": \"/a\", \"rotate_bytes\": -1, \"keep\": 1001},\n"
		     "  \"providers\": {\"x\": {\"hosts\": [\"h.example\"]}}\n}\n"),
	    "p.json:3:43: audit.rotate_bytes: got -1; expected an integer >= 0 (bytes; 0 "
	    "never rotates)\n"
	    "p.json:3:55: audit.keep: got 1001; expected an integer 0..1000 (rotated "
	    "files kept)\n");
	ASSERT_STREQ(
	    load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
		     "  \"audit\": {\"path\": \"/a\", \"rotate_bytes\": \"1G\", \"kept\": 2},\n"
		     "  \"providers\": {\"x\": {\"hosts\": [\"h.example\"]}}\n}\n"),
	    "p.json:3:43: audit.rotate_bytes: got string \"1G\"; expected an integer >= 0 "
	    "(bytes; 0 never rotates)\n"
	    "p.json:3:49: audit.kept: unknown key; expected one of \"path\", "
	    "\"rotate_bytes\", \"keep\", \"on_failure\", \"durability\", or \"checkpoint\"\n");
	ASSERT_CONTAINS(load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
				 "  \"audit\": {\"path\": \"/a\", \"rotate_bytes\": 1e300},\n"
				 "  \"providers\": {\"x\": {\"hosts\": [\"h.example\"]}}\n}\n"),
			"p.json:3:43: audit.rotate_bytes: got 1e300; expected an integer >= 0");
}

/* The models test's policy: "models" before the "providers" it names. */
static const char MODELS[] =
    "{\n"
    "  \"capture\": {\"cgroup\": \"/apps\"},\n"
    "  \"audit\": {\"path\": \"/a\"},\n"
    "  \"models\": {\n"
    "    \"fast\": [{\"provider\": \"b\", \"model\": \"m-1\", \"weight\": 3},\n"
    "             {\"model\": \"m-2\", \"provider\": \"a\", \"weight\": 1000}],\n"
    "    \"gpt-4o\": [{\"provider\": \"a\", \"model\": \"gpt-4o\"}]\n"
    "  },\n"
    "  \"providers\": {\"a\": {\"hosts\": [\"a.example\"]}, \"b\": {\"hosts\": [\"b.example\"]}}\n"
    "}\n";

static void test_models(void)
{
	const struct policy_model *m;
	struct policy *p = NULL;

	ASSERT_OK(load(MODELS, &p));
	ASSERT_STREQ(errs, "");
	ASSERT_EQ(p->n_models, 2);
	m = &p->models[0];
	ASSERT_STREQ(m->name, "fast");
	ASSERT_EQ(m->n_targets, 2);
	ASSERT_STREQ(m->targets[0].provider, "b");
	ASSERT_EQ(m->targets[0].provider_idx, 1);
	ASSERT_STREQ(m->targets[0].model, "m-1");
	ASSERT_EQ(m->targets[0].weight, 3);
	ASSERT_STREQ(m->targets[1].provider, "a");
	ASSERT_EQ(m->targets[1].provider_idx, 0);
	ASSERT_STREQ(m->targets[1].model, "m-2");
	ASSERT_EQ(m->targets[1].weight, 1000);
	m = &p->models[1];
	ASSERT_STREQ(m->name, "gpt-4o");
	ASSERT_EQ(m->n_targets, 1);
	ASSERT_EQ(m->targets[0].provider_idx, 0);
	ASSERT_EQ(m->targets[0].weight, 0); /* absent */

	ASSERT_TRUE(policy_model_by_name(p, "fast") == &p->models[0]);
	ASSERT_TRUE(policy_model_by_name(p, "gpt-4o") == &p->models[1]);
	ASSERT_TRUE(policy_model_by_name(p, "FAST") == NULL); /* case-sensitive */
	ASSERT_TRUE(policy_model_by_name(p, "fas") == NULL);
	ASSERT_TRUE(policy_model_by_name(p, "m-1") == NULL); /* a target's, not a name */
	ASSERT_TRUE(policy_model_by_name(p, NULL) == NULL);
	policy_free(p);

	ASSERT_OK(load(HEAD "  \"models\": {}\n}\n", &p));
	ASSERT_EQ(p->n_models, 0);
	ASSERT_TRUE(policy_model_by_name(p, "fast") == NULL);
	policy_free(p);
}

static void test_bad_models(void)
{
	char text[4096], name[129];
	struct policy *p = NULL;
	const char *e;
	size_t n;

	ASSERT_STREQ(
	    load_bad(HEAD "  \"models\": {\"m\": [{\"provider\": \"y\", \"model\": \"m1\"}]}\n}\n"),
	    "p.json:5:33: models.m[0].provider: got \"y\", not a key of \"providers\"; "
	    "expected \"x\"\n");
	ASSERT_STREQ(load_bad(HEAD "  \"models\": {\"m\": []}\n}\n"),
		     "p.json:5:19: models.m: got an empty array; expected an array of 1..16 "
		     "targets, like [{\"provider\": \"openai\", \"model\": \"gpt-4o\"}]\n");
	ASSERT_STREQ(load_bad(HEAD "  \"models\": {\"m\": \"x/m1\"}\n}\n"),
		     "p.json:5:19: models.m: got string \"x/m1\"; expected an array of 1..16 "
		     "targets, like [{\"provider\": \"openai\", \"model\": \"gpt-4o\"}]\n");
	ASSERT_STREQ(load_bad(HEAD "  \"models\": [\"m\"]\n}\n"),
		     "p.json:5:13: models: got an array; expected an object of logical model "
		     "names, each an array of targets\n");

	/* providers after models: the unknown one is still found, and the known ones listed;
	 * a provider with a bad name is reported there, not again at the target */
	e = load_bad("{\n"
		     "  \"capture\": {\"cgroup\": \"/apps\"},\n"
		     "  \"audit\": {\"path\": \"/a\"},\n"
		     "  \"models\": {\"m\": [{\"model\": \"m1\", \"provider\": \"opanai\"}, "
		     "{\"provider\": \"Bad\", \"model\": \"m2\"}]},\n"
		     "  \"providers\": {\"openai\": {\"hosts\": [\"a.example\"]},\n"
		     "    \"Bad\": {\"hosts\": [\"b.example\"]}, \"anthropic\": {\"hosts\": "
		     "[\"c.example\"]},\n"
		     "    \"local\": {\"hosts\": [\"d.example\"]}}\n"
		     "}\n");
	ASSERT_CONTAINS(e, "p.json:4:48: models.m[0].provider: got \"opanai\", not a key of "
			   "\"providers\"; expected one of \"openai\", \"anthropic\", or "
			   "\"local\"\n");
	ASSERT_CONTAINS(e, "p.json:6:5: providers.Bad: bad provider name;");
	ASSERT_EQ(count_lines(e), 2);

	/* every problem of the targets, each at its place */
	e = load_bad(
	    HEAD "  \"models\": {\"\": [{\"provider\": \"x\", \"model\": \"a\"}],\n"
		 "    \"m\": [{\"provider\": \"x\"}, {\"provider\": \"x\", \"model\": \"\", "
		 "\"weight\": 0},\n"
		 "          {\"provider\": \"\", \"model\": \"b\", \"weight\": 1001, \"w\": 1}],\n"
		 "    \"m\": [{\"provider\": \"x\", \"model\": \"c\"}]}\n}\n");
	ASSERT_STREQ(
	    e, "p.json:5:14: models[\"\"]: an empty name; expected a model name of 1..127 "
	       "characters\n"
	       "p.json:6:11: models.m[0]: missing key \"model\"; expected \"model\": the "
	       "provider's name of the model, 1..127 characters\n"
	       "p.json:6:57: models.m[1].model: got \"\", an empty name; expected the provider's "
	       "name of the model, 1..127 characters\n"
	       "p.json:6:71: models.m[1].weight: got 0; expected an integer 1..1000\n"
	       "p.json:7:24: models.m[2].provider: got \"\"; expected the name of a provider, a "
	       "key of \"providers\"\n"
	       "p.json:7:52: models.m[2].weight: got 1001; expected an integer 1..1000\n"
	       "p.json:7:58: models.m[2].w: unknown key; expected one of \"provider\", "
	       "\"model\", or \"weight\"\n"
	       "p.json:8:5: models.m: duplicate key, first at 6:5; expected each key once\n");

	/* names and model names up to 127 characters; at most 16 targets */
	memset(name, 'n', 128);
	name[128] = '\0';
	snprintf(text, sizeof(text),
		 HEAD "  \"models\": {\"%.127s\": [{\"provider\": \"x\", \"model\": \"%.127s\"}],\n"
		      "    \"%s\": [{\"provider\": \"x\", \"model\": \"%s\"}]}\n}\n",
		 name, name, name, name);
	e = load_bad(text);
	ASSERT_CONTAINS(e, "p.json:6:5: models.nnnnnnnn");
	ASSERT_CONTAINS(e, ": a name longer than 127 characters; expected a model name of 1..127 "
			   "characters\n");
	ASSERT_EQ(count_lines(e), 1); /* the one name that is too long; the model is not walked */
	for (int targets = 16; targets <= 17; targets++) {
		n = snprintf(text, sizeof(text), HEAD "  \"models\": {\"m\": [");
		for (int i = 0; i < targets; i++)
			n += snprintf(text + n, sizeof(text) - n,
				      "%s{\"provider\": \"x\", \"model\": \"m%d\"}", i ? ", " : "",
				      i);
		snprintf(text + n, sizeof(text) - n, "]}\n}\n");
		if (targets == 17) {
			ASSERT_STREQ(
			    load_bad(text),
			    "p.json:5:19: models.m: got 17 targets; expected at most 16\n");
		} else {
			ASSERT_OK(load(text, &p));
			ASSERT_EQ(p->models[0].n_targets, 16);
			ASSERT_STREQ(p->models[0].targets[15].model, "m15");
			policy_free(p);
		}
	}
}

static void test_base_url(void)
{
	const struct policy_provider *pr;
	struct policy *p = NULL;

	ASSERT_OK(
	    load("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
		 "  \"audit\": {\"path\": \"/a\"},\n"
		 "  \"providers\": {\n"
		 "    \"anthropic\": {\"hosts\": [\"API.Anthropic.com\"], \"api\": \"openai\"},\n"
		 "    \"local\": {\"hosts\": [\"a.example\", \"LLM.Example.com\"], \"api\": "
		 "\"anthropic\",\n"
		 "              \"base_url\": \"https://llm.EXAMPLE.com:8443/v1/proxy//\"},\n"
		 "    \"early\": {\"base_url\": \"HTTPS://E.example/\", \"hosts\": "
		 "[\"e.example\"]},\n"
		 "    \"bare\": {\"addresses\": [\"10.0.0.0/8\"]}\n"
		 "  }\n}\n",
		 &p));
	ASSERT_STREQ(errs, "");
	ASSERT_EQ(p->n_providers, 4);
	pr = &p->providers[0];
	ASSERT_EQ(pr->api, POLICY_API_OPENAI); /* given, over the name's default */
	ASSERT_STREQ(pr->base_host, "api.anthropic.com");
	ASSERT_EQ(pr->base_port, 443);
	ASSERT_STREQ(pr->base_prefix, "");
	pr = &p->providers[1];
	ASSERT_EQ(pr->api, POLICY_API_ANTHROPIC);
	ASSERT_STREQ(pr->base_host, "llm.example.com");
	ASSERT_EQ(pr->base_port, 8443);
	ASSERT_STREQ(pr->base_prefix, "/v1/proxy");
	ASSERT_STREQ(pr->hosts[1], "LLM.Example.com"); /* the hosts stay as written */
	pr = &p->providers[2];
	ASSERT_EQ(pr->api, POLICY_API_OPENAI);
	ASSERT_STREQ(pr->base_host, "e.example"); /* base_url before hosts is fine */
	ASSERT_EQ(pr->base_port, 443);
	ASSERT_STREQ(pr->base_prefix, "");
	pr = &p->providers[3];
	ASSERT_TRUE(pr->base_host == NULL);
	ASSERT_STREQ(pr->base_prefix, "");
	policy_free(p);
}

/* A policy whose provider "x" has hosts ["h.example"] and then MEMBERS, from 4:47. */
#define PROVIDER_X(members)                                                                        \
	"{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"                                             \
	"  \"audit\": {\"path\": \"/a\"},\n"                                                       \
	"  \"providers\": {\"x\": {\"hosts\": [\"h.example\"], " members "}}\n}\n"
#define EXPECT_URL                                                                                 \
	"expected \"https://HOST[:PORT][/PREFIX]\" (or http:// for a self-hosted server), like "   \
	"\"https://llm.example.com:8443/openai\"\n"

/* Provider x's member KEY (8 characters, as "base_url") with the string VALUE is refused with
 * one problem: got VALUE, WHY. */
static void expect_provider_x_problem(const char *key, const char *value, const char *why)
{
	char text[512], want[512];

	snprintf(text, sizeof(text), PROVIDER_X("\"%s\": \"%s\""), key, value);
	snprintf(want, sizeof(want), "p.json:4:59: providers.x.%s: got \"%s\", %s; ", key, value,
		 why);
	ASSERT_CONTAINS(load_bad(text), want);
	ASSERT_EQ(count_lines(errs), 1);
}

static void test_bad_base_url(void)
{
	static const struct {
		const char *url, *why;
	} bad[] = {
	    {"ftp://h.example", "not an https:// or http:// URL"},
	    {"h.example", "not an https:// or http:// URL"},
	    {"http://", "with no host"},
	    {"http://h.example:0", "the port is not 1..65535"},
	    {"https://", "with no host"},
	    {"https://:443/v1", "with no host"},
	    {"https://h.example:0", "the port is not 1..65535"},
	    {"https://h.example:65536", "the port is not 1..65535"},
	    {"https://h.example:", "the port is not 1..65535"},
	    {"https://h.example:44x/", "the port is not 1..65535"},
	    {"https://h.example/v1?key=1", "with a query or a fragment"},
	    {"https://h.example#top", "with a query or a fragment"},
	    {"https://h.example/a b", "with a space, a control or a non-ASCII character"},
	    {"https://h.example/a\\r\\nX: 1", "with a space, a control or a non-ASCII character"},
	    {"https://u:p@h.example", "with user info"},
	    {"https://192.0.2.1", "with an IP address for a host (it must be one of \"hosts\")"},
	    {"https://h_x.example", "with a character other than letters, digits, '-' and '.'"},
	};

	ASSERT_STREQ(load_bad(PROVIDER_X("\"base_url\": \"https://other.example:8443\"")),
		     "p.json:4:59: providers.x.base_url: base_url host \"other.example\" is not "
		     "in this provider's hosts; add it there so it is resolved and captured\n");
	/* a provider with only addresses has no host a base_url could name */
	ASSERT_STREQ(load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
			      "  \"audit\": {\"path\": \"/a\"},\n"
			      "  \"providers\": {\"x\": {\"addresses\": [\"10.0.0.0/8\"], "
			      "\"base_url\": \"https://h.example\"}}\n}\n"),
		     "p.json:4:64: providers.x.base_url: base_url host \"h.example\" is not in "
		     "this provider's hosts; add it there so it is resolved and captured\n");
	ASSERT_STREQ(load_bad(PROVIDER_X("\"base_url\": 443")),
		     "p.json:4:59: providers.x.base_url: got number 443; " EXPECT_URL);
	ASSERT_STREQ(load_bad(PROVIDER_X("\"api\": \"palm\"")),
		     "p.json:4:54: providers.x.api: got \"palm\"; expected \"openai\", "
		     "\"anthropic\", \"azure_openai\", \"vertex\", \"gemini\" or \"bedrock\"\n");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_provider_x_problem("base_url", bad[i].url, bad[i].why);
}

/* "api": "bedrock" takes "aws" with its region and credential variables; "aws" elsewhere,
 * or without a required member, is refused with what is wrong. */
static void test_policy_bedrock_aws(void)
{
	struct policy *p = NULL;
	const struct policy_provider *pv;
	const char *ok = PROVIDER_X("\"api\": \"bedrock\", \"aws\": {\"region\": \"us-east-1\", "
				    "\"access_key_id_env\": \"A\", \"secret_access_key_env\": \"S\", "
				    "\"session_token_env\": \"T\"}");

	ASSERT_OK(policy_load_string("p.json", ok, stderr, &p));
	pv = policy_provider_by_name(p, "x");
	ASSERT_TRUE(pv && pv->api == POLICY_API_BEDROCK && pv->has_aws);
	ASSERT_STREQ(pv->aws.region, "us-east-1");
	ASSERT_STREQ(pv->aws.access_key_id_env, "A");
	ASSERT_STREQ(pv->aws.secret_access_key_env, "S");
	ASSERT_STREQ(pv->aws.session_token_env, "T");
	policy_free(p);
	ASSERT_OK(policy_load_string("p.json", PROVIDER_X("\"api\": \"bedrock\""), stderr, &p));
	ASSERT_TRUE(!policy_provider_by_name(p, "x")->has_aws); /* the app's signature goes */
	policy_free(p);
	ASSERT_CONTAINS(load_bad(PROVIDER_X("\"aws\": {\"region\": \"us-east-1\", "
					    "\"access_key_id_env\": \"A\", "
					    "\"secret_access_key_env\": \"S\"}")),
			"\"aws\" is only for \"api\": \"bedrock\"");
	ASSERT_CONTAINS(load_bad(PROVIDER_X("\"api\": \"bedrock\", \"aws\": {\"region\": "
					    "\"us-east-1\", \"access_key_id_env\": \"A\"}")),
			"secret_access_key_env");
}

static void test_policy_warn(void)
{
	struct policy *p = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	ASSERT_OK(load(PROVIDER_X("\"key_env\": \"X_KEY\"") "", &p));
	out = open_memstream(&text, &len);
	ASSERT_EQ(policy_warn(p, out), 0); /* nothing routed, no endpoint: nothing to say */
	fclose(out);
	ASSERT_STREQ(text, "");
	free(text);
	policy_free(p);

	ASSERT_OK(load("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
		       "  \"audit\": {\"path\": \"/a\"},\n"
		       "  \"providers\": {\"x\": {\"hosts\": [\"h.example\"]}, "
		       "\"y\": {\"addresses\": [\"10.0.0.1\"]}, "
		       "\"z\": {\"hosts\": [\"z.example\"], \"key_file\": \"/k\"}, "
		       "\"w\": {\"hosts\": [\"bedrock-runtime.us-east-1.amazonaws.com\"], "
		       "\"api\": \"bedrock\", \"aws\": {\"region\": \"us-east-1\", "
		       "\"access_key_id_env\": \"W_ID\", \"secret_access_key_env\": \"W_KEY\"}}},\n"
		       "  \"models\": {\"m\": [{\"provider\": \"x\", \"model\": \"a\"}, "
		       "{\"provider\": \"y\", \"model\": \"b\"}, "
		       "{\"provider\": \"z\", \"model\": \"c\"}, "
		       "{\"provider\": \"w\", \"model\": \"d\"}]},\n"
		       "  \"api\": {\"listen\": \"127.0.0.1:8080\"}\n}\n",
		       &p));
	out = open_memstream(&text, &len);
	ASSERT_EQ(policy_warn(p, out), 3); /* w's AWS keys are its gateway key */
	fclose(out);
	ASSERT_STREQ(text, "warning: models.m: x has no gateway key (key_env or key_file): calls "
			   "routed to it from elsewhere will skip it\n"
			   "warning: models.m: y has no host name, so the gateway can send it only "
			   "the calls its own apps dial; give it hosts or base_url\n"
			   "warning: api.listen: no workload has api_keys, so every call there is "
			   "refused\n");
	free(text);
	policy_free(p);
}

static void test_plain_base_url(void)
{
	struct policy *p = NULL;

	ASSERT_OK(load(PROVIDER_X("\"base_url\": \"http://H.example/v1/\""), &p));
	ASSERT_STREQ(p->providers[0].base_host, "h.example");
	ASSERT_EQ(p->providers[0].base_plain, 1);
	ASSERT_EQ(p->providers[0].base_port, 80);
	ASSERT_STREQ(p->providers[0].base_prefix, "/v1");
	policy_free(p);
	ASSERT_OK(load(PROVIDER_X("\"base_url\": \"http://h.example:8000\""), &p));
	ASSERT_EQ(p->providers[0].base_port, 8000);
	policy_free(p);
	ASSERT_OK(load(PROVIDER_X("\"base_url\": \"HTTPS://h.example\""), &p));
	ASSERT_EQ(p->providers[0].base_plain, 0);
	ASSERT_EQ(p->providers[0].base_port, 443);
	policy_free(p);
}

/* base_url gives the API root: its path + "/v1", or the path itself when it ends in the
 * version as the providers' SDK base URLs do; "api_root" says it outright. */
static void test_api_root(void)
{
	static const struct {
		const char *members, *root;
	} cases[] = {
	    {"\"api\": \"openai\"", "/v1"},
	    {"\"base_url\": \"https://h.example\"", "/v1"},
	    {"\"base_url\": \"https://h.example/v1/\"", "/v1"},
	    {"\"base_url\": \"https://h.example/openai/v1\"", "/openai/v1"},
	    {"\"base_url\": \"https://h.example/openai\"", "/openai/v1"},
	    {"\"base_url\": \"https://h.example/v1/proxy\"", "/v1/proxy/v1"},
	    {"\"base_url\": \"https://h.example/x/v10\"", "/x/v10/v1"},
	    {"\"base_url\": \"https://h.example\", \"api_root\": \"\"", ""},
	    {"\"api_root\": \"/\", \"base_url\": \"https://h.example/v1\"", ""},
	    {"\"api_root\": \"/inference/v1/\"", "/inference/v1"},
	};
	static const struct {
		const char *root, *why;
	} bad[] = {
	    {"v1", "it must start with \"/\""},
	    {"/a//v1", "with an empty segment"},
	    {"/a/../v1", "with a dot segment"},
	    {"/./v1", "with a dot segment"},
	    {"/a%2Fb", "with a character other than letters, digits, '-', '.', '_' and '~' in a "
		       "segment"},
	    {"/a?b", "with a character other than letters, digits, '-', '.', '_' and '~' in a "
		     "segment"},
	};
	struct policy *p = NULL;
	char text[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), PROVIDER_X("%s"), cases[i].members);
		ASSERT_OK(load(text, &p));
		ASSERT_STREQ(p->providers[0].api_root, cases[i].root);
		policy_free(p);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_provider_x_problem("api_root", bad[i].root, bad[i].why);
	ASSERT_CONTAINS(errs, "; expected a path like \"/openai/v1\" (or \"\"), where the provider "
			      "serves what OpenAI serves under /v1\n");
}

static void test_breaker(void)
{
	struct policy *p = NULL;

	ASSERT_OK(load(HEAD "  \"routing\": {\"breaker\": {}}\n}\n", &p));
	ASSERT_EQ(p->routing.breaker_failures, 5);
	ASSERT_EQ(p->routing.breaker_open_ms, 30000);
	policy_free(p);
	ASSERT_OK(load(HEAD "  \"routing\": {\"retries\": 0}\n}\n", &p));
	ASSERT_EQ(p->routing.breaker_failures, 5);
	ASSERT_EQ(p->routing.breaker_open_ms, 30000);
	policy_free(p);
	ASSERT_OK(load(
	    HEAD "  \"routing\": {\"breaker\": {\"failures\": 1, \"open_ms\": 3600000}}\n}\n", &p));
	ASSERT_EQ(p->routing.breaker_failures, 1);
	ASSERT_EQ(p->routing.breaker_open_ms, 3600000);
	policy_free(p);
	ASSERT_OK(load(
	    HEAD "  \"routing\": {\"breaker\": {\"failures\": 1000, \"open_ms\": 100}}\n}\n", &p));
	ASSERT_EQ(p->routing.breaker_failures, 1000);
	ASSERT_EQ(p->routing.breaker_open_ms, 100);
	policy_free(p);

	ASSERT_STREQ(
	    load_bad(HEAD "  \"routing\": {\"breaker\": {\"failures\": 0, \"open_ms\": 99, "
			  "\"half_open\": 1}}\n}\n"),
	    "p.json:5:39: routing.breaker.failures: got 0; expected an integer 1..1000 (failed "
	    "attempts in a row)\n"
	    "p.json:5:53: routing.breaker.open_ms: got 99; expected an integer 100..3600000 "
	    "(milliseconds)\n"
	    "p.json:5:57: routing.breaker.half_open: unknown key; expected \"failures\" or "
	    "\"open_ms\"\n");
	ASSERT_STREQ(
	    load_bad(
		HEAD
		"  \"routing\": {\"breaker\": {\"failures\": 1001, \"open_ms\": 3600001}}\n}\n"),
	    "p.json:5:39: routing.breaker.failures: got 1001; expected an integer 1..1000 "
	    "(failed attempts in a row)\n"
	    "p.json:5:56: routing.breaker.open_ms: got 3600001; expected an integer "
	    "100..3600000 (milliseconds)\n");
	ASSERT_STREQ(load_bad(HEAD "  \"routing\": {\"breaker\": true}\n}\n"),
		     "p.json:5:26: routing.breaker: got boolean true; expected an object with "
		     "\"failures\" and/or \"open_ms\"\n");
}

/* Statuses are whole numbers 400..599; one far out of int's range (or infinite, as cJSON reads
 * 1e999) is refused like any other, not converted first. */
static void test_retry_statuses(void)
{
#define EXPECT "an HTTP status 400..599\n"
	struct policy *p = NULL;

	ASSERT_OK(load(HEAD "  \"routing\": {\"retry_statuses\": [400, 429, 599]}\n}\n", &p));
	ASSERT_EQ(p->routing.n_retry_statuses, 3);
	ASSERT_EQ(p->routing.retry_statuses[0], 400);
	ASSERT_EQ(p->routing.retry_statuses[1], 429);
	ASSERT_EQ(p->routing.retry_statuses[2], 599);
	policy_free(p);

	ASSERT_STREQ(load_bad(HEAD "  \"routing\": {\"retry_statuses\": [1e300, -1e300, 1e999, "
				   "-1e999, 429.5, 399, 600, -429]}\n}\n"),
		     "p.json:5:34: routing.retry_statuses[0]: got number 1e300; expected " EXPECT
		     "p.json:5:41: routing.retry_statuses[1]: got number -1e300; expected " EXPECT
		     "p.json:5:49: routing.retry_statuses[2]: got number 1e999; expected " EXPECT
		     "p.json:5:56: routing.retry_statuses[3]: got number -1e999; expected " EXPECT
		     "p.json:5:64: routing.retry_statuses[4]: got number 429.5; expected " EXPECT
		     "p.json:5:71: routing.retry_statuses[5]: got number 399; expected " EXPECT
		     "p.json:5:76: routing.retry_statuses[6]: got number 600; expected " EXPECT
		     "p.json:5:81: routing.retry_statuses[7]: got number -429; expected " EXPECT);
#undef EXPECT
}

static void test_api_listen(void)
{
	const struct sockaddr_in6 *sin6;
	const struct sockaddr_in *sin;
	struct policy *p = NULL;
	char buf[INET6_ADDRSTRLEN];

	ASSERT_OK(load(HEAD "  \"api\": {\"listen\": \"0.0.0.0:8080\"}\n}\n", &p));
	ASSERT_EQ(p->api.enabled, 1);
	ASSERT_EQ(p->api.listen_len, sizeof(struct sockaddr_in));
	sin = (const struct sockaddr_in *)&p->api.listen;
	ASSERT_EQ(sin->sin_family, AF_INET);
	ASSERT_STREQ(ip4(&sin->sin_addr, buf), "0.0.0.0"); /* need not be loopback */
	ASSERT_EQ(ntohs(sin->sin_port), 8080);
	policy_free(p);

	ASSERT_OK(load(HEAD "  \"api\": {\"listen\": \"[::1]:9090\"}\n}\n", &p));
	ASSERT_EQ(p->api.enabled, 1);
	ASSERT_EQ(p->api.listen_len, sizeof(struct sockaddr_in6));
	sin6 = (const struct sockaddr_in6 *)&p->api.listen;
	ASSERT_EQ(sin6->sin6_family, AF_INET6);
	ASSERT_STREQ(ip6(&sin6->sin6_addr, buf), "::1");
	ASSERT_EQ(ntohs(sin6->sin6_port), 9090);
	policy_free(p);

	ASSERT_STREQ(load_bad(HEAD "  \"api\": {\"listen\": \"localhost:8080\"}\n}\n"),
		     "p.json:5:21: api.listen: got \"localhost:8080\", not an IPv4 address; "
		     "expected \"IPv4:PORT\" or \"[IPv6]:PORT\", like \"127.0.0.1:8080\" or "
		     "\"[::1]:8080\"\n");
	ASSERT_CONTAINS(load_bad(HEAD "  \"api\": {\"listen\": \"::1:8080\"}\n}\n"),
			"p.json:5:21: api.listen: got \"::1:8080\", not an IPv4 address;");
	ASSERT_CONTAINS(load_bad(HEAD "  \"api\": {\"listen\": \"[::g]:8080\"}\n}\n"),
			"p.json:5:21: api.listen: got \"[::g]:8080\", not an IPv6 address;");
	ASSERT_CONTAINS(load_bad(HEAD "  \"api\": {\"listen\": \"[::1]:65536\"}\n}\n"),
			"p.json:5:21: api.listen: got \"[::1]:65536\", the port is not 1..65535;");
	ASSERT_CONTAINS(load_bad(HEAD "  \"api\": {\"listen\": \"[::1]\"}\n}\n"),
			"p.json:5:21: api.listen: got \"[::1]\", not \"[ADDRESS]:PORT\";");
	ASSERT_STREQ(load_bad(HEAD "  \"api\": {}\n}\n"),
		     "p.json:5:10: api: got neither \"listen\" nor \"socket\"; expected one of "
		     "them or both\n");
	ASSERT_STREQ(load_bad(HEAD "  \"api\": {\"listen\": \"127.0.0.1:1\", \"keys\": []}\n}\n"),
		     "p.json:5:36: api.keys: unknown key; expected \"listen\" or \"socket\"\n");
	ASSERT_STREQ(load_bad(HEAD "  \"api\": \"127.0.0.1:8080\"\n}\n"),
		     "p.json:5:10: api: got string \"127.0.0.1:8080\"; expected an object with "
		     "\"listen\", \"socket\" or both\n");
}

static void test_api_socket(void)
{
	struct policy *p = NULL;

	ASSERT_OK(load(HEAD "  \"api\": {\"socket\": \"/run/aigw/api.sock\"}\n}\n", &p));
	ASSERT_EQ(p->api.enabled, 1);
	ASSERT_EQ(p->api.has_listen, 0);
	ASSERT_STREQ(p->api.socket, "/run/aigw/api.sock");
	policy_free(p);
	ASSERT_OK(
	    load(HEAD "  \"api\": {\"socket\": \"/s\", \"listen\": \"127.0.0.1:1\"}\n}\n", &p));
	ASSERT_EQ(p->api.has_listen, 1);
	ASSERT_STREQ(p->api.socket, "/s");
	policy_free(p);
	ASSERT_CONTAINS(load_bad(HEAD "  \"api\": {\"socket\": \"run/api.sock\"}\n}\n"),
			"api.socket: got \"run/api.sock\", not an absolute path;");
	ASSERT_CONTAINS(load_bad(HEAD
				 "  \"api\": {\"socket\": \"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				 "aaaaaaaaaaaaaaaaaaaaaaa\"}\n}\n"),
			"too long; expected an absolute path for a UNIX socket");
}

#define KEY_A "gw-key-aaaaaaaaaaaaaaaa"
#define KEY_B "gw-key-bbbbbbbbbbbbbbbb"
#define KEY_C "gw-key-cccccccccccccccc"

static void test_api_keys(void)
{
	char longest[257];
	struct policy *p = NULL;

	memset(longest, '~', 256);
	longest[256] = '\0';
	longest[0] = '!';
	ASSERT_OK(load(HEAD
		       "  \"workloads\": [\n"
		       "    {\"name\": \"a\", \"match\": {\"cgroup\": \"/a\"}, \"api_keys\": "
		       "[\"" KEY_A "\", \"" KEY_B "\"]},\n"
		       "    {\"name\": \"b\", \"match\": {\"cgroup\": \"/b\"}, \"api_keys\": "
		       "[\"" KEY_C "\", \"0123456789abcdef\"]},\n"
		       "    {\"name\": \"c\", \"match\": {\"cgroup\": \"/c\"}, \"api_keys\": []},\n"
		       "    {\"name\": \"d\", \"match\": {\"cgroup\": \"/d\"}}\n"
		       "  ]\n}\n",
		       &p));
	ASSERT_STREQ(errs, "");
	ASSERT_EQ(p->n_workloads, 4);
	ASSERT_EQ(p->workloads[0].n_api_keys, 2);
	ASSERT_STREQ(p->workloads[0].api_keys[0], KEY_A);
	ASSERT_STREQ(p->workloads[0].api_keys[1], KEY_B);
	ASSERT_EQ(p->workloads[1].n_api_keys, 2);
	ASSERT_STREQ(p->workloads[1].api_keys[1], "0123456789abcdef"); /* 16: the shortest */
	ASSERT_EQ(p->workloads[2].n_api_keys, 0);
	ASSERT_EQ(p->workloads[3].n_api_keys, 0);
	ASSERT_TRUE(p->workloads[3].api_keys == NULL);

	ASSERT_TRUE(policy_workload_by_api_key(p, KEY_A) == &p->workloads[0]);
	ASSERT_TRUE(policy_workload_by_api_key(p, KEY_B) == &p->workloads[0]);
	ASSERT_TRUE(policy_workload_by_api_key(p, KEY_C) == &p->workloads[1]);
	ASSERT_TRUE(policy_workload_by_api_key(p, "0123456789abcdef") == &p->workloads[1]);
	ASSERT_TRUE(policy_workload_by_api_key(p, "gw-key-cccccccccccccccd") == NULL);
	ASSERT_TRUE(policy_workload_by_api_key(p, "gw-key-cccccccccccccc") == NULL); /* prefix */
	ASSERT_TRUE(policy_workload_by_api_key(p, KEY_C "c") == NULL);
	ASSERT_TRUE(policy_workload_by_api_key(p, "GW-KEY-CCCCCCCCCCCCCCCC") == NULL);
	ASSERT_TRUE(policy_workload_by_api_key(p, "") == NULL);
	ASSERT_TRUE(policy_workload_by_api_key(p, NULL) == NULL);
	policy_free(p);

	/* 256 characters, the longest */
	{
		char text[1024];

		snprintf(text, sizeof(text),
			 HEAD
			 "  \"workloads\": [{\"name\": \"a\", \"match\": {\"cgroup\": \"/a\"}, "
			 "\"api_keys\": [\"%s\"]}]\n}\n",
			 longest);
		ASSERT_OK(load(text, &p));
		ASSERT_TRUE(policy_workload_by_api_key(p, longest) == &p->workloads[0]);
		policy_free(p);
	}
}

#define EXPECT_EP                                                                                  \
	"\"METHOD /path-glob\" with METHOD one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS "  \
	"or *, like \"POST /v1/chat/completions\""
#define EXPECT_KEY                                                                                 \
	"a gateway key: a string of 16..256 printable ASCII characters, no spaces, or "          \
	"\"sha256:\" and the key's SHA-256 in 64 lowercase hex digits"

/* A secret that must not appear in any message. */
#define SECRET "sk-gw-SECRET-0123456789"

static void test_bad_api_keys(void)
{
	char text[1024], longer[258];
	const char *e;

	/* the same key twice, in two workloads and in one: the second is refused, unquoted */
	e = load_bad(
	    HEAD "  \"workloads\": [\n"
		 "    {\"name\": \"a\", \"match\": {\"cgroup\": \"/a\"}, \"api_keys\": [\"" SECRET
		 "\"]},\n"
		 "    {\"name\": \"b\", \"match\": {\"cgroup\": \"/b\"}, \"api_keys\": "
		 "[\"sk-gw-other-0123456789\", \"" SECRET "\"]},\n"
		 "    {\"name\": \"c\", \"match\": {\"cgroup\": \"/c\"}, \"api_keys\": "
		 "[\"sk-gw-third-0123456789\", \"sk-gw-third-0123456789\"]}\n"
		 "  ]\n}\n");
	ASSERT_STREQ(e, "p.json:7:85: workloads[1].api_keys[1]: got a key already given at 6:59 "
			"(not shown); expected each gateway key once, in one workload\n"
			"p.json:8:85: workloads[2].api_keys[1]: got a key already given at 8:59 "
			"(not shown); expected each gateway key once, in one workload\n");
	ASSERT_TRUE(strstr(e, "SECRET") == NULL);
	ASSERT_TRUE(strstr(e, "third") == NULL);

	/* bad keys: never quoted either */
	memset(longer, 'k', 257);
	longer[257] = '\0';
	snprintf(text, sizeof(text),
		 HEAD "  \"workloads\": [{\"name\": \"a\", \"match\": {\"cgroup\": \"/a\"},\n"
		      "    \"api_keys\": [\"SECRET-short\", \"" SECRET " x\", \"" SECRET
		      "\\n\", 12345678901234567, \"%s\"]}]\n}\n",
		 longer);
	e = load_bad(text);
	ASSERT_STREQ(e,
		     "p.json:6:18: workloads[0].api_keys[0]: got a key of 12 characters (not "
		     "shown); expected " EXPECT_KEY "\n"
		     "p.json:6:34: workloads[0].api_keys[1]: got a key with a space, a control or "
		     "a non-ASCII character (not shown); expected " EXPECT_KEY "\n"
		     "p.json:6:63: workloads[0].api_keys[2]: got a key with a space, a control or "
		     "a non-ASCII character (not shown); expected " EXPECT_KEY "\n"
		     "p.json:6:92: workloads[0].api_keys[3]: got a value of type number (not "
		     "shown); expected " EXPECT_KEY "\n"
		     "p.json:6:111: workloads[0].api_keys[4]: got a key of 257 characters (not "
		     "shown); expected " EXPECT_KEY "\n");
	ASSERT_TRUE(strstr(e, "SECRET") == NULL);
	ASSERT_TRUE(strstr(e, "12345678901234567") == NULL);

	/* a file that does not parse is not quoted when it has gateway keys */
	e = load_bad(HEAD "  \"workloads\": [{\"name\": \"a\", \"match\": {\"cgroup\": \"/a\"},\n"
			  "    \"api_keys\": [\"" SECRET "]}]\n}\n");
	ASSERT_STREQ(e, "p.json:6:19: syntax error (the text is not shown: the file has gateway "
			"keys); expected valid JSON\n");

	/* a key where the array should be */
	e = load_bad(HEAD "  \"workloads\": [{\"name\": \"a\", \"match\": {\"cgroup\": \"/a\"}, "
			  "\"api_keys\": \"" SECRET "\"}]\n}\n");
	ASSERT_STREQ(e, "p.json:5:70: workloads[0].api_keys: got a value of type string (not "
			"shown); expected an array of gateway keys\n");
}

/* A workload on line 5 of HEAD-based policies, with MEMBERS after its "match". */
#define GOV(members)                                                                               \
	HEAD "  \"workloads\": [{\"name\": \"w\", \"match\": {\"cgroup\": \"/w\"}, " members "}]\n}\n"

static void test_governance(void)
{
	struct policy *p = NULL;
	const struct policy_workload *w;

	ASSERT_OK(load("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
		       "  \"audit\": {\"path\": \"/a\"},\n"
		       "  \"providers\": {\"openai\": {\"hosts\": [\"h.example\"], \"region\": "
		       "\"us-east-1\"}},\n"
		       "  \"workloads\": [\n"
		       "    { \"name\": \"billing\", \"team\": \"finance\", \"match\": {\"cgroup\": "
		       "\"/b\"},\n"
		       "      \"allow\": { \"models\": [\"gpt-4o*\", \"fast-*\"], \"providers\": "
		       "[\"openai\"],\n"
		       "                 \"regions\": [\"eu\", \"us\"], \"endpoints\": [\"POST "
		       "/v1/chat/completions\",\n"
		       "                 \"get /v1/models/*\", \"* /v1/files\"], \"enforce\": false "
		       "},\n"
		       "      \"limits\": { \"requests_per_minute\": 60, \"tokens_per_minute\": "
		       "1000000000000,\n"
		       "                  \"concurrent\": 4, \"connections\": 8, "
		       "\"buffer_bytes\": 1099511627776, \"enforce\": false },\n"
		       "      \"budget\": { \"usd_per_day\": 5, \"usd_per_month\": 100.5, "
		       "\"warn_at\": 0.8,\n"
		       "                  \"cap_max_tokens\": true, \"enforce\": false } },\n"
		       "    { \"name\": \"batch\", \"team\": \"ops\", \"match\": {\"cgroup\": \"/c\"},\n"
		       "      \"allow\": { \"models\": [] }, \"limits\": { \"concurrent\": 1 },\n"
		       "      \"budget\": { \"usd_per_month\": 0.000000001 } }\n"
		       "  ],\n"
		       "  \"teams\": { \"finance\": { \"budget\": { \"usd_per_month\": 1e3 } } },\n"
		       "  \"state\": { \"path\": \"/tmp/s.db\" }\n"
		       "}\n",
		       &p));
	ASSERT_STREQ(errs, "");
	ASSERT_STREQ(p->providers[0].region, "us-east-1");
	ASSERT_STREQ(p->state.path, "/tmp/s.db");
	ASSERT_EQ(p->n_teams, 1);
	ASSERT_STREQ(p->teams[0].name, "finance");
	ASSERT_EQ(p->teams[0].budget.given, 1);
	ASSERT_EQ(p->teams[0].budget.nano_per_month, 1000000000000LL);
	ASSERT_EQ(p->teams[0].budget.nano_per_day, 0);
	ASSERT_EQ(p->teams[0].budget.enforce, 1);
	ASSERT_TRUE(policy_team_by_name(p, "finance") == &p->teams[0]);
	ASSERT_TRUE(policy_team_by_name(p, "ops") == NULL);

	w = policy_workload_by_name(p, "billing");
	ASSERT_TRUE(w == &p->workloads[0]);
	ASSERT_EQ(w->team_idx, 0);
	ASSERT_EQ(w->allow.models.given, 1);
	ASSERT_EQ(w->allow.models.n, 2);
	ASSERT_STREQ(w->allow.models.globs[0], "gpt-4o*");
	ASSERT_STREQ(w->allow.models.globs[1], "fast-*");
	ASSERT_EQ(w->allow.providers.n, 1);
	ASSERT_STREQ(w->allow.providers.globs[0], "openai");
	ASSERT_EQ(w->allow.regions.n, 2);
	ASSERT_STREQ(w->allow.regions.globs[1], "us");
	ASSERT_EQ(w->allow.endpoints_given, 1);
	ASSERT_EQ(w->allow.n_endpoints, 3);
	ASSERT_STREQ(w->allow.endpoints[0].method, "POST");
	ASSERT_STREQ(w->allow.endpoints[0].path_glob, "/v1/chat/completions");
	ASSERT_STREQ(w->allow.endpoints[1].method, "GET"); /* upper-cased */
	ASSERT_STREQ(w->allow.endpoints[1].path_glob, "/v1/models/*");
	ASSERT_STREQ(w->allow.endpoints[2].method, "*");
	ASSERT_STREQ(w->allow.endpoints[2].path_glob, "/v1/files");
	ASSERT_EQ(w->allow.enforce, 0);
	ASSERT_EQ(w->limits.requests_per_minute, 60);
	ASSERT_EQ(w->limits.tokens_per_minute, 1000000000000LL);
	ASSERT_EQ(w->limits.concurrent, 4);
	ASSERT_EQ(w->limits.connections, 8);
	ASSERT_EQ(w->limits.buffer_bytes, 1099511627776ULL);
	ASSERT_EQ(w->limits.enforce, 0);
	ASSERT_EQ(w->budget.given, 1);
	ASSERT_EQ(w->budget.nano_per_day, 5000000000LL);
	ASSERT_EQ(w->budget.nano_per_month, 100500000000LL);
	ASSERT_TRUE(w->budget.warn_at == 0.8);
	ASSERT_EQ(w->budget.cap_max_tokens, 1);
	ASSERT_EQ(w->budget.enforce, 0);

	/* a team with no entry in "teams"; enforce defaults to true; an empty list is given */
	w = &p->workloads[1];
	ASSERT_EQ(w->team_idx, SIZE_MAX);
	ASSERT_EQ(w->allow.models.given, 1);
	ASSERT_EQ(w->allow.models.n, 0);
	ASSERT_EQ(w->allow.providers.given, 0);
	ASSERT_EQ(w->allow.endpoints_given, 0);
	ASSERT_EQ(w->allow.enforce, 1);
	ASSERT_EQ(w->limits.concurrent, 1);
	ASSERT_EQ(w->limits.requests_per_minute, 0);
	ASSERT_EQ(w->limits.connections, 0); /* no such limit */
	ASSERT_EQ(w->limits.enforce, 1);
	ASSERT_EQ(w->budget.nano_per_month, 1); /* 0.000000001 USD exactly */
	ASSERT_TRUE(w->budget.warn_at == 0);
	ASSERT_EQ(w->budget.cap_max_tokens, 0);
	ASSERT_EQ(w->budget.enforce, 1);
	ASSERT_EQ(policy_warn(p, stderr), 0);
	policy_free(p);

	/* none of it: defaults */
	ASSERT_OK(load(GOV("\"team\": \"t\""), &p));
	ASSERT_STREQ(p->state.path, "/var/lib/aigw/state.db");
	ASSERT_TRUE(p->providers[0].region == NULL);
	ASSERT_EQ(p->n_teams, 0);
	w = &p->workloads[0];
	ASSERT_EQ(w->team_idx, SIZE_MAX);
	ASSERT_EQ(w->allow.models.given, 0);
	ASSERT_EQ(w->allow.enforce, 1);
	ASSERT_EQ(w->limits.enforce, 1);
	ASSERT_EQ(w->budget.given, 0);
	ASSERT_EQ(w->budget.enforce, 1);
	policy_free(p);
}

/* usd_per_day's value V must load as NANO nano-dollars (or fail, NANO < 0, with WHY). */
static void check_usd_case(const char *v, long long nano, const char *why)
{
	struct policy *p = NULL;
	char text[512], want[256];

	snprintf(text, sizeof(text), GOV("\"budget\": {\"usd_per_day\": %s}"), v);
	if (nano >= 0) {
		ASSERT_OK(load(text, &p));
		ASSERT_EQ(p->workloads[0].budget.nano_per_day, nano);
		policy_free(p);
		return;
	}
	snprintf(want,
		 sizeof(want), "p.json:5:84: workloads[0].budget.usd_per_day: got %s, %s; expected a "
			       "number of US dollars above 0, at most 1000000000, like 5 or 100.5\n",
		 v, why);
	ASSERT_STREQ(load_bad(text), want);
}

static void test_budget_usd(void)
{
	check_usd_case("0.000000001", 1, NULL);
	check_usd_case("100.5", 100500000000LL, NULL);
	check_usd_case("0.1", 100000000, NULL);
	check_usd_case("1000000000", 1000000000000000000LL, NULL);
	check_usd_case("999999999.999999999", 999999999999999999LL, NULL);
	check_usd_case("1.50000000000000000000", 1500000000, NULL); /* trailing zeros */
	check_usd_case("1e-9", 1, NULL);
	check_usd_case("2.5E+3", 2500000000000LL, NULL);
	check_usd_case("0.0000000001", -1, "with more than 9 decimal places");
	check_usd_case("1.0000000001", -1, "with more than 9 decimal places");
	check_usd_case("1e-10", -1, "with more than 9 decimal places");
	check_usd_case("1000000000.5", -1, "more than 1000000000");
	check_usd_case("1e10", -1, "more than 1000000000");
	check_usd_case("1e999999999999", -1, "more than 1000000000");
	check_usd_case("0", -1, "not above 0");
	check_usd_case("-5", -1, "not above 0");
	check_usd_case("0.000", -1, "not above 0");
}

static void test_bad_governance(void)
{
	/* allow */
	ASSERT_STREQ(load_bad(GOV("\"allow\": {\"models\": [\"gpt\", \"\", 3, \"a[b\", \"x\\\\\", "
				  "\"a\\u0000b\", \"a\\tb\"]}")),
		     "p.json:5:86: workloads[0].allow.models[1]: got \"\", an empty pattern; "
		     "expected a glob of 1..255 characters, like \"gpt-4o*\"\n"
		     "p.json:5:90: workloads[0].allow.models[2]: got number 3; expected a glob of "
		     "1..255 characters, like \"gpt-4o*\"\n"
		     "p.json:5:93: workloads[0].allow.models[3]: got \"a[b\", with a '[' that is "
		     "never closed; expected a glob of 1..255 characters, like \"gpt-4o*\"\n"
		     "p.json:5:100: workloads[0].allow.models[4]: got \"x\\\\\", ending in a lone "
		     "'\\'; expected a glob of 1..255 characters, like \"gpt-4o*\"\n"
		     "p.json:5:107: workloads[0].allow.models[5]: got \"a\\u0000b\", with a NUL "
		     "character; expected a glob of 1..255 characters, like \"gpt-4o*\"\n"
		     "p.json:5:119: workloads[0].allow.models[6]: got \"a\\tb\", with a control "
		     "character; expected a glob of 1..255 characters, like \"gpt-4o*\"\n");
	ASSERT_STREQ(load_bad(GOV("\"allow\": {\"providers\": \"openai\"}")),
		     "p.json:5:81: workloads[0].allow.providers: got string \"openai\"; expected an "
		     "array of provider name globs, like [\"openai\"]\n");
	{
		char text[4096];
		size_t n = snprintf(text, sizeof(text), HEAD "  \"workloads\": [{\"name\": \"w\", "
							      "\"match\": {\"cgroup\": \"/w\"}, "
							      "\"allow\": {\"regions\": [");

		for (int i = 0; i < 257; i++)
			n += snprintf(text + n, sizeof(text) - n, "%s\"e\"", i ? "," : "");
		snprintf(text + n, sizeof(text) - n, "]}}]\n}\n");
		ASSERT_STREQ(load_bad(text), "p.json:5:79: workloads[0].allow.regions: got 257 "
					     "patterns; expected at most 256\n");
	}
	ASSERT_STREQ(
	    load_bad(GOV("\"allow\": {\"endpoints\": [\"POST/v1/x\", \"FETCH /v1/x\", \"GET  /v1\",\n"
			 "    \"GET /v1/a b\", \"GET /v1/x?y=1\", \"GET /v1//x\", \"GET /v1/../x\",\n"
			 "    \"GET v1\", \"GET /v1/..\", \"GET /v1/..x\"], \"enforce\": 1}")),
	    "p.json:5:82: workloads[0].allow.endpoints[0]: got \"POST/v1/x\", with no space "
	    "between the method and the path; expected " EXPECT_EP "\n"
	    "p.json:5:95: workloads[0].allow.endpoints[1]: got \"FETCH /v1/x\", with no known "
	    "method; expected " EXPECT_EP "\n"
	    "p.json:5:110: workloads[0].allow.endpoints[2]: got \"GET  /v1\", with a path not "
	    "starting with \"/\" after one space; expected " EXPECT_EP "\n"
	    "p.json:6:5: workloads[0].allow.endpoints[3]: got \"GET /v1/a b\", with a space in "
	    "the path; expected " EXPECT_EP "\n"
	    "p.json:6:20: workloads[0].allow.endpoints[4]: got \"GET /v1/x?y=1\", with a query "
	    "(\"?\"); the path is matched without its query; expected " EXPECT_EP "\n"
	    "p.json:6:37: workloads[0].allow.endpoints[5]: got \"GET /v1//x\", with an empty "
	    "path segment \"//\"; expected " EXPECT_EP "\n"
	    "p.json:6:51: workloads[0].allow.endpoints[6]: got \"GET /v1/../x\", with a \"..\" "
	    "segment; expected " EXPECT_EP "\n"
	    "p.json:7:5: workloads[0].allow.endpoints[7]: got \"GET v1\", with a path not "
	    "starting with \"/\" after one space; expected " EXPECT_EP "\n"
	    "p.json:7:15: workloads[0].allow.endpoints[8]: got \"GET /v1/..\", with a \"..\" "
	    "segment; expected " EXPECT_EP "\n"
	    "p.json:7:56: workloads[0].allow.enforce: got number 1; expected true or false\n");

	/* limits */
	ASSERT_STREQ(load_bad(GOV("\"limits\": {\"enforce\": true}")),
		     "p.json:5:68: workloads[0].limits: got no limit; expected at least one of "
		     "\"requests_per_minute\", \"tokens_per_minute\", \"concurrent\", "
		     "\"connections\" or \"buffer_bytes\"\n");
	ASSERT_STREQ(load_bad(GOV("\"limits\": {\"buffer_bytes\": 1023}")),
		     "p.json:5:85: workloads[0].limits.buffer_bytes: got 1023; expected an integer "
		     "1024..1099511627776 (bytes held at once)\n");
	ASSERT_STREQ(load_bad(GOV("\"limits\": {\"connections\": 0}")),
		     "p.json:5:84: workloads[0].limits.connections: got 0; expected an integer "
		     "1..1000000 (open client connections)\n");
	ASSERT_STREQ(load_bad(GOV("\"limits\": {\"connections\": \"8\"}")),
		     "p.json:5:84: workloads[0].limits.connections: got string \"8\"; expected an "
		     "integer 1..1000000 (open client connections)\n");
	ASSERT_STREQ(
	    load_bad(GOV("\"limits\": {\"requests_per_minute\": 0, \"tokens_per_minute\": "
			 "1000000000001,\n    \"concurrent\": 1.5}")),
	    "p.json:5:92: workloads[0].limits.requests_per_minute: got 0; expected an integer "
	    "1..10000000\n"
	    "p.json:5:116: workloads[0].limits.tokens_per_minute: got 1000000000001; expected an "
	    "integer 1..1000000000000 (input and output tokens)\n"
	    "p.json:6:19: workloads[0].limits.concurrent: got 1.5; expected an integer 1..1000000 "
	    "(calls in flight)\n");

	/* budget */
	ASSERT_STREQ(load_bad(GOV("\"budget\": {\"warn_at\": 0.5}")),
		     "p.json:5:68: workloads[0].budget: got no amount; expected \"usd_per_day\", "
		     "\"usd_per_month\" or both\n");
	ASSERT_STREQ(load_bad(GOV("\"budget\": {\"usd_per_day\": \"5\", \"warn_at\": 1.5, "
				  "\"cap_max_tokens\": \"yes\"}")),
		     "p.json:5:84: workloads[0].budget.usd_per_day: got string \"5\"; expected a "
		     "number of US dollars above 0, at most 1000000000, like 5 or 100.5\n"
		     "p.json:5:100: workloads[0].budget.warn_at: got 1.5; expected a fraction of "
		     "the budget above 0, at most 1, like 0.8\n"
		     "p.json:5:123: workloads[0].budget.cap_max_tokens: got string \"yes\"; "
		     "expected true or false\n");
	ASSERT_STREQ(load_bad(GOV("\"budget\": {\"usd_per_day\": 1, \"warn_at\": 0}")),
		     "p.json:5:98: workloads[0].budget.warn_at: got 0; expected a fraction of the "
		     "budget above 0, at most 1, like 0.8\n");

	/* teams, region, state */
	ASSERT_STREQ(load_bad(HEAD "  \"teams\": {\"a\": {}, \"\": {\"budget\": {\"usd_per_day\": "
				   "1}},\n"
				   "    \"b\": {\"budget\": {\"usd_per_day\": 1}}, \"b\": {}, \"c\": "
				   "[]}\n}\n"),
		     "p.json:5:18: teams.a: missing key \"budget\"; expected \"budget\": an object "
		     "with \"usd_per_day\" and/or \"usd_per_month\"\n"
		     "p.json:5:22: teams[\"\"]: an empty team name; expected a non-empty string\n"
		     "p.json:6:42: teams.b: duplicate key, first at 6:5; expected each key once\n"
		     "p.json:6:56: teams.c: got an array; expected an object with \"budget\"\n");
	ASSERT_STREQ(load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
			      "  \"audit\": {\"path\": \"/a\"},\n"
			      "  \"providers\": {\"x\": {\"hosts\": [\"h.example\"], \"region\": "
			      "\"eu west\"},\n"
			      "                \"y\": {\"hosts\": [\"i.example\"], \"region\": \"\"}},\n"
			      "  \"state\": {\"path\": \"\"}\n}\n"),
		     "p.json:4:57: providers.x.region: got \"eu west\", with a character other than "
		     "letters, digits, '.', '_' and '-'; expected 1..64 letters, digits, '.', '_' "
		     "or '-', like \"eu\" or \"us-east-1\"\n"
		     "p.json:5:57: providers.y.region: got \"\", an empty name; expected 1..64 "
		     "letters, digits, '.', '_' or '-', like \"eu\" or \"us-east-1\"\n"
		     "p.json:6:21: state.path: got \"\"; expected a non-empty file path\n");
}

static void test_workload_names_unique(void)
{
	ASSERT_STREQ(load_bad(HEAD "  \"workloads\": [\n"
				   "    {\"name\": \"a\", \"match\": {\"cgroup\": \"/a\"}},\n"
				   "    {\"name\": \"b\", \"match\": {\"cgroup\": \"/b\"}},\n"
				   "    {\"match\": {\"cgroup\": \"/c\"}, \"name\": \"a\"}\n"
				   "  ]\n}\n"),
		     "p.json:8:41: workloads[2].name: got \"a\", already the name of workloads[0] "
		     "at 6:14; expected each workload name once\n");
}

/* "guardrails": profiles compiled at load; a workload names one that exists. */
static void test_guardrails(void)
{
	struct policy *p = NULL;
	const char *e;

	ASSERT_OK(load("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
		       "  \"guardrails\": {\"std\": {\"request\": {\"pii\": \"tokenize\"}}},\n"
		       "  \"workloads\": [{\"name\": \"s\", \"match\": {\"cgroup\": \"/a/s\"},"
		       " \"guardrails\": \"std\"}],\n" REST,
		       &p));
	ASSERT_TRUE(p->n_guardrails == 1 && p->workloads[0].guard == p->guardrails[0].profile);
	ASSERT_TRUE(p->workloads[0].guard != NULL);
	policy_free(p);
	e = load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
		     "  \"workloads\": [{\"name\": \"s\", \"match\": {\"cgroup\": \"/a/s\"},"
		     " \"guardrails\": \"nope\"}],\n" REST);
	ASSERT_CONTAINS(e, "p.json:3:74: workloads[0].guardrails: got \"nope\", no profile of that");
	e = load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
		     "  \"guardrails\": {\"std\": {\"request\": {\"pii\": \"tokenise\"}}},\n" REST);
	ASSERT_CONTAINS(e, "p.json:3:25: guardrails.std: request.pii: \"tokenise\" is not an action");
	e = load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\"},\n"
		     "  \"guardrails\": {\"std\": {\"patterns\": [{\"name\": \"x\", "
		     "\"regex\": \"a(?=b)\", \"action\": \"block\"}]}},\n" REST);
	ASSERT_CONTAINS(e, "guardrails.std: ");
	ASSERT_CONTAINS(e, "patterns[x]");
}

static void test_unused_team_warning(void)
{
	struct policy *p = NULL;
	char *out = NULL;
	size_t size;
	FILE *f;

	ASSERT_OK(load(HEAD "  \"workloads\": [{\"name\": \"w\", \"team\": \"used\", \"match\": "
			    "{\"cgroup\": \"/w\"}}],\n"
			    "  \"teams\": {\"used\": {\"budget\": {\"usd_per_day\": 1}},\n"
			    "            \"idle\": {\"budget\": {\"usd_per_day\": 1}}}\n}\n",
		       &p));
	ASSERT_EQ(p->workloads[0].team_idx, 0);
	f = open_memstream(&out, &size);
	ASSERT_TRUE(f != NULL);
	ASSERT_EQ(policy_warn(p, f), 1);
	fclose(f);
	ASSERT_STREQ(out, "warning: teams.idle: no workload has \"team\": \"idle\", so its budget "
			  "counts nothing\n");
	free(out);
	policy_free(p);
}

static void test_hashed_api_keys(void)
{
	char text[1024], hash[80];
	struct policy *p = NULL;
	const char *e;
	FILE *sh;

	/* the hash the way an operator makes one */
	sh = popen("printf %s '" KEY_A "' | sha256sum", "r");
	ASSERT_TRUE(sh != NULL);
	ASSERT_TRUE(fscanf(sh, "%64s", hash + 7) == 1);
	pclose(sh);
	memcpy(hash, "sha256:", 7);

	snprintf(text, sizeof(text),
		 HEAD "  \"workloads\": [\n"
		      "    {\"name\": \"a\", \"match\": {\"cgroup\": \"/a\"}, \"api_keys\": [\"%s\"]},\n"
		      "    {\"name\": \"b\", \"match\": {\"cgroup\": \"/b\"}, \"api_keys\": [\"" KEY_B
		      "\"]}\n  ]\n}\n",
		 hash);
	ASSERT_OK(load(text, &p));
	ASSERT_STREQ(errs, "");
	ASSERT_STREQ(p->workloads[0].api_keys[0], hash);
	ASSERT_TRUE(policy_workload_by_api_key(p, KEY_A) == &p->workloads[0]);
	ASSERT_TRUE(policy_workload_by_api_key(p, KEY_B) == &p->workloads[1]);
	ASSERT_TRUE(policy_workload_by_api_key(p, KEY_C) == NULL);
	ASSERT_TRUE(policy_workload_by_api_key(p, hash) == NULL); /* the hash is not the key */
	ASSERT_TRUE(policy_workload_by_api_key(p, hash + 7) == NULL);
	ASSERT_TRUE(policy_workload_by_api_key(p, "") == NULL);
	policy_free(p);

	/* one key written both ways, in two workloads and in one: a duplicate, either order */
	snprintf(text, sizeof(text),
		 HEAD "  \"workloads\": [\n"
		      "    {\"name\": \"a\", \"match\": {\"cgroup\": \"/a\"}, \"api_keys\": [\"%s\"]},\n"
		      "    {\"name\": \"b\", \"match\": {\"cgroup\": \"/b\"}, \"api_keys\": [\"" KEY_A
		      "\", \"%s\"]}\n  ]\n}\n",
		 hash, hash);
	e = load_bad(text);
	ASSERT_STREQ(e, "p.json:7:59: workloads[1].api_keys[0]: got a key already given at 6:59 "
			"(not shown); expected each gateway key once, in one workload\n"
			"p.json:7:86: workloads[1].api_keys[1]: got a key already given at 6:59 "
			"(not shown); expected each gateway key once, in one workload\n");
	ASSERT_TRUE(strstr(e, "aaaa") == NULL);

	/* a "sha256:" that is not 64 lowercase hex digits */
	hash[10] = 'A';
	snprintf(text, sizeof(text),
		 HEAD "  \"workloads\": [{\"name\": \"a\", \"match\": {\"cgroup\": \"/a\"}, "
		      "\"api_keys\": [\"%s\", \"sha256:abc\"]}]\n}\n",
		 hash);
	ASSERT_STREQ(load_bad(text),
		     "p.json:5:71: workloads[0].api_keys[0]: got a \"sha256:\" key whose rest is "
		     "not 64 lowercase hex digits (not shown); expected " EXPECT_KEY "\n"
		     "p.json:5:146: workloads[0].api_keys[1]: got a \"sha256:\" key whose rest is "
		     "not 64 lowercase hex digits (not shown); expected " EXPECT_KEY "\n");
}

/* Writes TEXT to a new temporary file of MODE; its path into PATH[32]. */
static int temp_file(char *path, const char *text, mode_t mode)
{
	int fd;

	strcpy(path, "/tmp/test_policy.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fchmod(fd, mode) < 0) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

/* Loads the policy TEXT from a file of MODE and runs policy_check_secret_files() on it. */
static int check_secrets(const char *text, mode_t mode, char **ret_out)
{
	char path[32], *out = NULL;
	struct policy *p = NULL;
	size_t size;
	FILE *f;
	int r;

	r = temp_file(path, text, mode);
	if (r < 0)
		return r;
	r = policy_load(path, stderr, &p);
	if (r == 0) {
		f = open_memstream(&out, &size);
		r = policy_check_secret_files(p, f);
		fclose(f);
		policy_free(p);
	}
	unlink(path);
	/* the temporary name in messages, made fixed */
	for (char *q = out; q && (q = strstr(q, path));)
		memcpy(q, "/tmp/test_policy.POLICY", 23);
	*ret_out = out;
	return r;
}

static void test_secret_files(void)
{
	char key_file[32], text[1024], want[512], *out = NULL, hash[80];
	FILE *sh;

	/* a policy holding a clear key must be private; a hashed one need not */
	snprintf(text, sizeof(text),
		 GOV("\"api_keys\": [\"" KEY_A "\"]"));
	ASSERT_EQ(check_secrets(text, 0644, &out), -EPERM);
	ASSERT_STREQ(out, "/tmp/test_policy.POLICY: holds a secret and is readable by group or "
			  "others (mode 0644); run: chmod 600 /tmp/test_policy.POLICY\n");
	free(out);
	ASSERT_EQ(check_secrets(text, 0620, &out), -EPERM);
	ASSERT_CONTAINS(out, "is writable by group or others (mode 0620)");
	free(out);
	ASSERT_EQ(check_secrets(text, 0666, &out), -EPERM);
	ASSERT_CONTAINS(out, "is readable and writable by group or others (mode 0666)");
	free(out);
	ASSERT_EQ(check_secrets(text, 0600, &out), 0);
	ASSERT_STREQ(out, "");
	free(out);
	ASSERT_EQ(check_secrets(text, 0400, &out), 0);
	free(out);

	sh = popen("printf %s '" KEY_A "' | sha256sum", "r");
	ASSERT_TRUE(sh != NULL);
	ASSERT_TRUE(fscanf(sh, "%64s", hash + 7) == 1);
	pclose(sh);
	memcpy(hash, "sha256:", 7);
	snprintf(text, sizeof(text), GOV("\"api_keys\": [\"%s\"]"), hash);
	ASSERT_EQ(check_secrets(text, 0644, &out), 0);
	ASSERT_STREQ(out, "");
	free(out);
	ASSERT_EQ(check_secrets(GOV("\"own_keys\": true"), 0644, &out), 0); /* no key at all */
	free(out);

	/* a provider's key_file, named twice: one line */
	ASSERT_OK(temp_file(key_file, "sk-provider\n", 0640));
	snprintf(text, sizeof(text),
		 "{\n  \"capture\": {\"cgroup\": \"/apps\"},\n  \"audit\": {\"path\": \"/a\"},\n"
		 "  \"providers\": {\"x\": {\"hosts\": [\"h.example\"], \"key_file\": \"%s\"},\n"
		 "                \"y\": {\"hosts\": [\"i.example\"], \"key_file\": \"%s\"}}\n}\n",
		 key_file, key_file);
	ASSERT_EQ(check_secrets(text, 0644, &out), -EPERM);
	snprintf(want, sizeof(want),
		 "%s: holds a secret and is readable by group or others (mode 0640); run: "
		 "chmod 600 %s\n",
		 key_file, key_file);
	ASSERT_STREQ(out, want);
	free(out);
	ASSERT_EQ(chmod(key_file, 0600), 0);
	ASSERT_EQ(check_secrets(text, 0644, &out), 0);
	ASSERT_STREQ(out, "");
	free(out);

	/* a key_file that is not there exposes nothing (loading its key says it is missing:
	 * a policy is checked on machines that do not hold the keys) */
	unlink(key_file);
	ASSERT_EQ(check_secrets(text, 0600, &out), 0);
	ASSERT_STREQ(out, "");
	free(out);
}

static void test_admin(void)
{
	const struct sockaddr_in *sin;
	char tok[32], text[1024], want[512], *out = NULL;
	struct policy *p = NULL;

	ASSERT_OK(load(HEAD "  \"admin\": {\"listen\": \"127.0.0.1:9464\"}\n}\n", &p));
	ASSERT_EQ(p->admin.has_listen, 1);
	ASSERT_EQ(p->admin.listen_len, sizeof(struct sockaddr_in));
	sin = (const struct sockaddr_in *)&p->admin.listen;
	ASSERT_EQ(ntohs(sin->sin_port), 9464);
	ASSERT_TRUE(p->admin.token_file == NULL);
	policy_free(p);
	ASSERT_OK(load(HEAD "  \"state\": {}\n}\n", &p));
	ASSERT_EQ(p->admin.has_listen, 0); /* absent: off */
	policy_free(p);
	ASSERT_STREQ(load_bad(HEAD "  \"admin\": {\"token_file\": \"/t\"}\n}\n"),
		     "p.json:5:12: admin: missing key \"listen\"; expected \"listen\": "
		     "\"IPv4:PORT\" or \"[IPv6]:PORT\", like \"127.0.0.1:9464\"\n");
	ASSERT_CONTAINS(load_bad(HEAD "  \"admin\": {\"listen\": \"any:9464\"}\n}\n"),
			"admin.listen: got \"any:9464\", not an IPv4 address;");

	/* the token file is a secret: private, or refused */
	ASSERT_OK(temp_file(tok, "s3cret-token\n", 0644));
	snprintf(text, sizeof(text),
		 HEAD "  \"admin\": {\"listen\": \"0.0.0.0:9464\", \"token_file\": \"%s\"}\n}\n",
		 tok);
	ASSERT_EQ(check_secrets(text, 0644, &out), -EPERM);
	snprintf(want, sizeof(want),
		 "%s: holds a secret and is readable by group or others (mode 0644); run: "
		 "chmod 600 %s\n",
		 tok, tok);
	ASSERT_STREQ(out, want);
	free(out);
	ASSERT_EQ(chmod(tok, 0600), 0);
	ASSERT_EQ(check_secrets(text, 0644, &out), 0);
	ASSERT_STREQ(out, "");
	free(out);
	unlink(tok);
}

static void test_host_in_domains(void)
{
	char *domains[] = {"openai.com", "Anthropic.COM", ""};

	ASSERT_EQ(policy_host_in_domains("openai.com", domains, 3), 1);
	ASSERT_EQ(policy_host_in_domains("api.openai.com", domains, 3), 1);
	ASSERT_EQ(policy_host_in_domains("a.b.OpenAI.Com", domains, 3), 1);
	ASSERT_EQ(policy_host_in_domains("api.anthropic.com", domains, 3), 1);
	ASSERT_EQ(policy_host_in_domains("evilopenai.com", domains, 3), 0);
	ASSERT_EQ(policy_host_in_domains("openai.com.evil.example", domains, 3), 0);
	ASSERT_EQ(policy_host_in_domains("openai.co", domains, 3), 0);
	ASSERT_EQ(policy_host_in_domains("penai.com", domains, 3), 0);
	ASSERT_EQ(policy_host_in_domains("com", domains, 3), 0);
	ASSERT_EQ(policy_host_in_domains(".openai.com", domains, 3), 0);
	ASSERT_EQ(policy_host_in_domains("", domains, 3), 0); /* "" matches nothing */
	ASSERT_EQ(policy_host_in_domains("example.org", domains, 3), 0);
	ASSERT_EQ(policy_host_in_domains(NULL, domains, 3), 0);
	ASSERT_EQ(policy_host_in_domains("api.openai.com", NULL, 0), 0);
	ASSERT_EQ(policy_host_in_domains("api.anthropic.com", domains, 1), 0); /* only N */
}

static void test_capture_ai_and_fronting(void)
{
	struct policy *p = NULL;

	ASSERT_OK(load(HEAD "  \"workloads\": []\n}\n", &p));
	ASSERT_EQ(p->capture.unsanctioned_ai, POLICY_UNSANCTIONED_AI_RECORD);
	ASSERT_EQ(p->capture.fronting, POLICY_FRONTING_DENY);
	ASSERT_EQ(p->n_ai_services, 0);
	policy_free(p);
	p = NULL;
	ASSERT_OK(load("{\n  \"capture\": {\"cgroup\": \"/apps\", \"unsanctioned_ai\": \"deny\", "
		       "\"fronting\": \"passthrough\"},\n" REST,
		       &p));
	ASSERT_EQ(p->capture.unsanctioned_ai, POLICY_UNSANCTIONED_AI_DENY);
	ASSERT_EQ(p->capture.fronting, POLICY_FRONTING_PASSTHROUGH);
	policy_free(p);
	ASSERT_STREQ(load_bad("{\n  \"capture\": {\"cgroup\": \"/apps\", \"unsanctioned_ai\": "
			      "\"block\", \"fronting\": true},\n" REST),
		     "p.json:2:53: capture.unsanctioned_ai: got \"block\"; expected \"record\" "
		     "or \"deny\"\n"
		     "p.json:2:74: capture.fronting: got boolean true; expected \"deny\" or "
		     "\"passthrough\"\n");
}

static void test_ai_services(void)
{
	struct policy *p = NULL;
	char *const *d;

	ASSERT_OK(load(HEAD "  \"ai_services\": [{\"name\": \"Shadow LLM\", \"domains\": "
			    "[\"LLM.example.test\", \"shadow.example\"]}]\n}\n",
		       &p));
	ASSERT_EQ(p->n_ai_services, 1);
	ASSERT_STREQ(p->ai_services[0].name, "Shadow LLM");
	ASSERT_EQ(p->ai_services[0].n_domains, 2);
	d = p->ai_services[0].domains;
	ASSERT_STREQ(d[0], "llm.example.test"); /* lowercased */
	ASSERT_TRUE(policy_host_in_domains("chat.llm.example.test", d, 2));
	ASSERT_TRUE(!policy_host_in_domains("evilllm.example.test", d, 2));
	policy_free(p);

	ASSERT_STREQ(load_bad(HEAD "  \"ai_services\": {\"name\": \"x\"}\n}\n"),
		     "p.json:5:18: ai_services: got an object; expected an array of AI services, "
		     "like [{\"name\": \"Mistral AI\", \"domains\": [\"mistral.ai\"]}]\n");
	ASSERT_STREQ(
	    load_bad(HEAD "  \"ai_services\": [{\"name\": \"\", \"domains\": []},\n"
			  "    {\"domains\": [\"ai\", \"192.0.2.1\"], \"url\": 1}]\n}\n"),
	    "p.json:5:28: ai_services[0].name: got \"\"; expected the service's name, like "
	    "\"Mistral AI\"\n"
	    "p.json:5:43: ai_services[0].domains: got 0 names; expected 1..64\n"
	    "p.json:6:18: ai_services[1].domains[0]: got \"ai\", a single label; expected a DNS "
	    "name of two labels or more, like \"openai.com\"\n"
	    "p.json:6:24: ai_services[1].domains[1]: got \"192.0.2.1\", an IP address; expected "
	    "a DNS name of two labels or more, like \"openai.com\"\n"
	    "p.json:6:38: ai_services[1].url: unknown key; expected \"name\" or \"domains\"\n"
	    "p.json:6:5: ai_services[1]: missing key \"name\"; expected \"name\": the service's "
	    "name, like \"Mistral AI\"\n");
}

static void test_ai_catalogue(void)
{
	static const char text[] = "{\"ai_services\": [{\"name\": \"A\", \"domains\": [\"a.ai\"]}]}";
	struct policy *p = NULL;
	size_t size;
	FILE *f;

	ASSERT_OK(policy_load_ai_catalogue("c.json", text, sizeof(text) - 1, NULL, &p));
	ASSERT_EQ(p->n_ai_services, 1);
	ASSERT_STREQ(p->ai_services[0].domains[0], "a.ai");
	policy_free(p);
	p = NULL;
	/* a catalogue is the key alone: not a policy */
	free(errs);
	errs = NULL;
	f = open_memstream(&errs, &size);
	ASSERT_EQ(policy_load_ai_catalogue("c.json", "{\"capture\": {}}", 15, f, &p), -EINVAL);
	fclose(f);
	ASSERT_TRUE(p == NULL);
	ASSERT_STREQ(errs, "c.json:1:2: capture: unknown key; expected \"ai_services\"\n"
			   "c.json:1:1: top level: missing key \"ai_services\"; expected "
			   "\"ai_services\": an array of AI services, like [{\"name\": \"Mistral AI\", \"domains\": [\"mistral.ai\"]}]\n");
}

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* The fastest of 20 rounds of 2000 lookups of NAME, in ns a lookup. */
static double lookup_ns(const struct policy *p, const char *name)
{
	double best = 1e30;

	for (int round = 0; round < 20; round++) {
		double t0 = now_ns();
		size_t found = 0;

		for (int i = 0; i < 2000; i++)
			found += policy_provider_by_name(p, name) != NULL;
		best = fmin(best, (now_ns() - t0) / (double)found);
	}
	return best;
}

/* A request head names its provider: with 500 of them the lookup is an index built at load,
 * as quick for the provider last in the file as for the first (a scan took ~100 times as
 * long for the last). */
static void test_provider_by_name_scales(void)
{
	enum { N = 500 };
	char *text = malloc(N * 64 + 128), *at = text, name[16];
	struct policy *p = NULL;
	double first, last;
	int r;

	ASSERT_TRUE(text);
	at += sprintf(at, "{\"capture\": {\"cgroup\": \"/apps\"}, \"audit\": {\"path\": \"/a\"}, "
			   "\"providers\": {");
	for (int i = 0; i < N; i++)
		at += sprintf(at, "%s\"p%03d\": {\"hosts\": [\"h%03d.example\"]}", i ? ", " : "",
			      i, i);
	strcpy(at, "}}");
	r = load(text, &p);
	free(text);
	if (r)
		fprintf(stderr, "%s", errs);
	ASSERT_OK(r);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "p%03d", i);
		ASSERT_TRUE(policy_provider_by_name(p, name) == &p->providers[i]);
	}
	ASSERT_TRUE(policy_provider_by_name(p, "p500") == NULL);
	ASSERT_TRUE(policy_provider_by_name(p, "") == NULL);
	ASSERT_TRUE(policy_provider_by_name(NULL, "p000") == NULL);
	first = lookup_ns(p, "p000");
	last = lookup_ns(p, "p499");
	fprintf(stderr, "  provider_by_name, 500 providers: first %.0f ns, last %.0f ns\n",
		first, last);
	policy_free(p);
	ASSERT_TRUE(last < 4 * first + 50);
}

UNIT_MAIN(UNIT_CASE(test_provider_by_name_scales), UNIT_CASE(test_full_policy), UNIT_CASE(test_capture_ai_and_fronting),
	  UNIT_CASE(test_capture_scope_and_tls_ports),
	  UNIT_CASE(test_bad_capture_scope_and_tls_ports),
	  UNIT_CASE(test_ai_services), UNIT_CASE(test_ai_catalogue), UNIT_CASE(test_defaults), UNIT_CASE(test_syntax_error),
	  UNIT_CASE(test_wrong_type), UNIT_CASE(test_unknown_key), UNIT_CASE(test_bad_mode),
	  UNIT_CASE(test_bad_cidr), UNIT_CASE(test_bad_listen), UNIT_CASE(test_missing_key),
	  UNIT_CASE(test_duplicate_host), UNIT_CASE(test_bad_providers),
	  UNIT_CASE(test_bad_cgroup_and_resolve), UNIT_CASE(test_several_errors),
	  UNIT_CASE(test_v4_mapped), UNIT_CASE(test_load_file), UNIT_CASE(test_free_null),
	  UNIT_CASE(test_json_locate), UNIT_CASE(test_json_count_values),
	  UNIT_CASE(test_examples), UNIT_CASE(test_bad_proxy),
	  UNIT_CASE(test_bad_audit_on_failure),
	  UNIT_CASE(test_bad_ca_tls), UNIT_CASE(test_bad_audit_rotation),
	  UNIT_CASE(test_host_in_domains), UNIT_CASE(test_models), UNIT_CASE(test_bad_models),
	  UNIT_CASE(test_base_url), UNIT_CASE(test_bad_base_url), UNIT_CASE(test_plain_base_url),
	  UNIT_CASE(test_api_root),
	  UNIT_CASE(test_policy_bedrock_aws),
	  UNIT_CASE(test_policy_warn), UNIT_CASE(test_breaker), UNIT_CASE(test_retry_statuses),
	  UNIT_CASE(test_api_listen), UNIT_CASE(test_api_socket), UNIT_CASE(test_api_keys),
	  UNIT_CASE(test_bad_api_keys), UNIT_CASE(test_governance), UNIT_CASE(test_budget_usd),
	  UNIT_CASE(test_bad_governance), UNIT_CASE(test_workload_names_unique),
	  UNIT_CASE(test_guardrails), UNIT_CASE(test_unused_team_warning),
	  UNIT_CASE(test_hashed_api_keys), UNIT_CASE(test_secret_files), UNIT_CASE(test_admin))
