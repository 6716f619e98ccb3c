/*
 * policy: the gateway's configuration, loaded from one JSON file and validated whole.
 *
 * policy_load() parses the file with cJSON and checks every key against what aigw knows;
 * each problem is reported as "FILE:LINE:COL: what is wrong; what was expected", all of them,
 * not just the first. A policy that has any problem is refused whole: the daemon keeps the
 * one it runs (see daemon.c for reload).
 *
 * Ownership: policy_load() returns a policy the caller frees with policy_free(); every string
 * and array inside it is owned by the policy.
 */
#ifndef AIGW_POLICY_H
#define AIGW_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct guard_profile;

/* The API families aigw speaks on both sides. */
enum policy_api {
	POLICY_API_OPENAI = 0,	  /* /v1/chat/completions, /v1/responses, /v1/embeddings */
	POLICY_API_ANTHROPIC = 1, /* /v1/messages */
	POLICY_API_VERTEX = 2,	  /* Vertex AI publisher models (providers/vertex.h) */
	POLICY_API_GEMINI = 3,	  /* /v1beta/models/{model}:generateContent, ... */
	POLICY_API_BEDROCK = 4,	  /* AWS Bedrock runtime: /model/{id}/converse, /invoke, ... */
	POLICY_API_N		  /* how many there are */
};

enum policy_capture_mode {
	POLICY_CAPTURE_ENFORCE = 0, /* redirect provider TLS, deny the rest (default) */
	POLICY_CAPTURE_OBSERVE =
	    1, /* attach, record every provider-bound attempt, change nothing */
};

/* "proxy": { "non_tls": ... }: what the proxy does with a captured connection that is not TLS. */
enum policy_non_tls {
	POLICY_NON_TLS_CLOSE = 0,	/* close it (default) */
	POLICY_NON_TLS_PASSTHROUGH = 1, /* splice it to its original destination, untouched */
};

/* "audit": { "on_failure": ... }: what calls do while an audit record cannot be written. */
enum policy_audit_on_failure {
	POLICY_AUDIT_BLOCK = 0,	   /* new calls get 503 until writing works again (default) */
	POLICY_AUDIT_CONTINUE = 1, /* calls go on unrecorded; the failure is logged */
};

/* "audit": { "durability": ... }: when an answer's last bytes may leave. */
enum policy_audit_durability {
	POLICY_AUDIT_BATCHED = 0, /* at once; records reach the disk within the writer's
				     fdatasync period, about a second (default) */
	POLICY_AUDIT_STRICT = 1,  /* only once the call's record is fdatasync'd (group commit) */
};

/* "capture": { "unsanctioned_ai": ... }: a TLS connection to an AI service of the catalogue
 * (policies/ai-services.json and "ai_services") that is not one of the providers. */
enum policy_unsanctioned_ai {
	POLICY_UNSANCTIONED_AI_RECORD = 0, /* splice it through, its record names the service */
	POLICY_UNSANCTIONED_AI_DENY = 1,   /* close it, recorded */
};

/* "capture": { "fronting": ... }: a TLS connection to a provider address that does not name a
 * provider host (no SNI, an Encrypted ClientHello, or another name): it could carry a call
 * to the provider that the proxy cannot see. */
/* "capture.scope": which TCP connections the proxy sees. */
enum policy_capture_scope {
	POLICY_SCOPE_TLS = 0, /* any address on a TLS port: the ClientHello decides (default) */
	POLICY_SCOPE_PROVIDERS = 1, /* provider addresses on tls_port only */
};

#define POLICY_TLS_PORTS_MAX 8 /* capture.tls_ports with tls_port (AIGW_TLS_PORTS_MAX) */

enum policy_fronting {
	POLICY_FRONTING_DENY = 0,	 /* close it, recorded (default) */
	POLICY_FRONTING_PASSTHROUGH = 1, /* splice it through, recorded as fronting */
};

/* "ai_services": [ { "name": ..., "domains": [...] } ]: an AI service the catalogue adds. */
struct policy_ai_service {
	char *name;	/* "name": what records call it, e.g. "Mistral AI" */
	char **domains; /* "domains": DNS names, lowercased; each covers the names below it */
	size_t n_domains;
};

/* An IPv4 or IPv6 prefix; IPv4 is stored in addr[0..3]. */
struct policy_cidr {
	int family;	   /* AF_INET or AF_INET6 */
	uint8_t addr[16];  /* network byte order, host bits zeroed */
	uint8_t prefixlen; /* 0..32 or 0..128 */
};

struct policy_provider {
	char *name;   /* the key under "providers", e.g. "openai" */
	char **hosts; /* "hosts": DNS names, resolved and re-resolved on TTL */
	size_t n_hosts;
	struct policy_cidr *cidrs; /* "addresses": static IPs / CIDRs */
	size_t n_cidrs;
	char *key_env;  /* "key_env": variable holding the gateway's key for it, or NULL */
	char *key_file; /* "key_file": file holding it, or NULL (the key is never in the policy) */
	/* "api": "openai" | "anthropic" | "azure_openai" | "vertex" | "gemini": the API family it
	 * speaks (default: "anthropic" for a provider named anthropic, else "openai", which
	 * covers OpenAI-compatible servers) */
	enum policy_api api;
	/* "base_url": "https://HOST[:PORT][/PREFIX]", where the gateway sends calls it routes
	 * to this provider itself (a fallback, a logical name). HOST must be one of "hosts".
	 * Default: https://hosts[0]. NULL host when the provider has no hosts and no base_url
	 * (it can then only be reached by apps that dial it). */
	char *base_host;   /* lowercased, or NULL */
	uint16_t base_port;  /* host order (443; 80 for http://) */
	int base_plain;	     /* "http://": plain HTTP, for a self-hosted server on a network the
				operator trusts (the gateway's key, if any, goes in clear) */
	char *base_prefix; /* "" or "/PREFIX" without a trailing slash, as base_url gives it */
	/* "api_root": where it serves what OpenAI and Anthropic serve under "/v1"
	 * (providers/api_path.h): "/openai/v1" for Groq, "" for Perplexity. Default: base_url's
	 * path when its last segment is "v1" (as the providers' SDK base URLs are written),
	 * else that path + "/v1". Never NULL once loaded. */
	char *api_root;
	char *region;	   /* "region": e.g. "eu", "us-east-1"; NULL when not given */
	/* "api": "azure_openai": Azure OpenAI (providers/azure.h). Its wire format is OpenAI's,
	 * so api is POLICY_API_OPENAI and this is set; api_root defaults to "/openai/v1". */
	int azure;
	/* "deployments": {"DEPLOYMENT": "MODEL"}: the model each deployment runs (routing,
	 * allow-lists and prices read the model); in file order, both arrays n_deployments */
	char **deployment_names, **deployment_models;
	size_t n_deployments;
	/* "token_file": a file holding an Entra ID access token, sent as a bearer token instead
	 * of a key in api-key; re-read when it changes (proxy/keys.h), or NULL */
	char *token_file;
	/* Vertex ("api": "vertex"): "credentials_file", a service-account key file (JSON) the
	 * gateway mints OAuth tokens with; "token_url", where it exchanges them (default: the
	 * file's token_uri); "project", the Google Cloud project whose paths calls routed here
	 * take (with "region" as the location: "global" or e.g. "us-east5"). */
	char *credentials_file, *token_url, *project;
	/* "aws": {"region", "access_key_id_env", "secret_access_key_env", "session_token_env"}:
	 * the gateway's AWS credentials (the variables that hold them) and the region it signs
	 * for; only with "api": "bedrock". Without it a Bedrock call goes with the app's own
	 * signature, as a provider without key_env goes with the app's key. */
	struct policy_aws {
		char *region;		     /* "us-east-1" */
		char *access_key_id_env;     /* required */
		char *secret_access_key_env; /* required */
		char *session_token_env;     /* NULL: long-term keys */
	} aws;
	int has_aws;
};

/* One target of a logical model name. */
struct policy_target {
	char *provider;	     /* "provider": a key of "providers" (checked) */
	size_t provider_idx; /* its index in policy.providers */
	char *model;	     /* "model": the provider's own model name */
	unsigned weight;     /* "weight": 1..1000; 0 when absent */
};

/* "models": { NAME: [ target, ... ] }: a name apps ask for, and where it goes, in order. */
struct policy_model {
	char *name; /* the key; may also be a real model's name (gives it a fallback chain) */
	struct policy_target *targets; /* 1..16 of them */
	size_t n_targets;
};

/* A list of shell globs (fnmatch with FNM_PATHNAME: "*" never crosses "/"). */
struct policy_globs {
	char **globs;
	size_t n;
	int given; /* the key was present (an empty list allows nothing) */
};

/* "METHOD /path-glob", e.g. "POST /v1/chat/completions", "GET /v1/models/ANY" (globs). */
struct policy_endpoint {
	char method[16]; /* upper case; "*" for any */
	char *path_glob; /* starts with "/"; matched on the path without its query */
};

/* "allow": what a workload may use. An absent list allows everything of its kind, except
 * endpoints: absent, only the inference endpoints go with the gateway's key. */
struct policy_allow {
	struct policy_globs models;    /* "models": logical names as asked, targets as routed */
	struct policy_globs providers; /* "providers": names under "providers" */
	struct policy_globs regions;   /* "regions": providers' "region" values */
	struct policy_endpoint *endpoints; /* "endpoints" */
	size_t n_endpoints;
	int endpoints_given;
	int enforce; /* "enforce": false records would_deny and denies nothing (default true) */
};

/* "limits": per workload; 0 means no such limit. */
struct policy_limits {
	unsigned requests_per_minute; /* "requests_per_minute": 1..10000000 */
	uint64_t tokens_per_minute;   /* "tokens_per_minute": input + output, 1..1e12 */
	unsigned concurrent;	      /* "concurrent": calls in flight, 1..1000000 */
	unsigned connections;	      /* "connections": open client connections, 1..1000000 */
	uint64_t buffer_bytes; /* "buffer_bytes": request bodies held at once, 1024..2^40 */
	int enforce;		      /* "enforce" (default true) */
};

/* "budget": of a workload or a team, in nano-dollars (USD x 1e9); 0: no such budget. */
struct policy_budget {
	int given;		/* the key was present */
	int64_t nano_per_day;	/* "usd_per_day": > 0, at most 1e9 USD, UTC day */
	int64_t nano_per_month; /* "usd_per_month": UTC calendar month */
	double warn_at;		/* "warn_at": 0 < f <= 1; 0 when absent (no warning) */
	int cap_max_tokens;	/* "cap_max_tokens": lower max_tokens to fit what is left */
	int enforce;		/* "enforce" (default true) */
};

/* "teams": { NAME: { "budget": {...} } } */
struct policy_team {
	char *name;
	struct policy_budget budget;
};

/* "guardrails": { NAME: PROFILE }: what a call may carry out and read back (guard/guard.h) */
struct policy_guardrails {
	char *name;
	struct guard_profile *profile; /* compiled: its scanners */
};

struct policy_workload {
	char *name;	   /* "name" (required) */
	char *team;	   /* "team" or NULL */
	char *cgroup_glob; /* "match": { "cgroup": GLOB } (see cgroups_workload()) */
	int own_keys;      /* "own_keys": its own provider keys go through (default: replaced) */
	/* "api_keys": gateway keys this workload presents at the explicit endpoint (each 16..256
	 * printable ASCII characters, no spaces, or "sha256:" and the key's SHA-256 in 64
	 * lowercase hex digits, kept as written; one key once across all workloads, either way) */
	char **api_keys;
	size_t n_api_keys;
	struct policy_allow allow;   /* "allow" */
	struct policy_limits limits; /* "limits" */
	struct policy_budget budget; /* "budget" */
	size_t team_idx;	     /* index of "team" in policy.teams, or SIZE_MAX */
	char *guardrails;	     /* "guardrails": a profile's name, or NULL (not scanned) */
	const struct guard_profile *guard; /* that profile (policy.guardrails'), or NULL */
};

struct policy {
	char *path; /* the file it was loaded from */
	int refs;   /* policy_ref() / policy_free(); 1 when loaded */

	struct {
		char *cgroup;		    /* "cgroup": relative to the cgroup2 mount, "/apps" */
		struct sockaddr_in listen4; /* "listen": "127.0.0.1:15001" */
		struct sockaddr_in6
		    listen6; /* "listen6": "[::1]:15001" (default: ::1, same port) */
		enum policy_capture_mode mode; /* "mode": "enforce" | "observe" */
		uint16_t tls_port;	       /* "tls_port": provider port redirected (443) */
		enum policy_capture_scope scope; /* "scope": "tls" | "providers" */
		/* "tls_ports": scope "tls" redirects these from any address; tls_port always among
		 * them (added if not given; tls_port defaults to the first); host order, [443] */
		uint16_t tls_ports[POLICY_TLS_PORTS_MAX];
		size_t n_tls_ports;
		uint32_t exempt_mark;	       /* "exempt_mark": SO_MARK of aigw's own sockets */
		unsigned resolve_min_s;	       /* "resolve_min_s": floor on a DNS TTL (5) */
		unsigned resolve_max_s;	 /* "resolve_max_s": ceiling, and /etc/hosts period (300) */
		int destroy_preexisting; /* "destroy_preexisting": bool (true) */
		int netns_listeners; /* "netns_listeners": listen in the captured tree's other
					network namespaces (true); false: their redirects stay
					denied */
		unsigned netns_max; /* "netns_max": namespaces served at most, aigw's own
				       included (1024, the map's size) */
		enum policy_unsanctioned_ai unsanctioned_ai; /* "record" | "deny" */
		enum policy_fronting fronting;		     /* "deny" | "passthrough" */
	} capture;

	struct {
		char *path;	     /* "path": the JSON-lines audit log */
		size_t rotate_bytes; /* "rotate_bytes": rotate past this size; 0 never does (0) */
		unsigned keep;	     /* "keep": rotated files kept, 0..1000 (10) */
		enum policy_audit_on_failure on_failure; /* "on_failure": "block" | "continue" */
		enum policy_audit_durability durability; /* "durability": "batched" | "strict" */
		/* "checkpoint": signed checkpoints of the chain (ledger/checkpoint.h) */
		struct {
			unsigned every_records; /* "every_records": after this many records; 0:
						   not by count (1000) */
			unsigned every_s;	/* "every_s": after this many seconds with records;
						   0: not by time (60) */
			char *key;  /* "key": the Ed25519 key, made on first run; PATH.pub beside it
				       ("CA_DIR/audit-checkpoint.key") */
			char *path; /* "path": the checkpoint file, meant for another disk
				       ("AUDIT_PATH-checkpoints") */
		} checkpoint;
	} audit;

	struct {
		char *dir; /* "dir": holds ca.pem and ca.key ("/var/lib/aigw/ca") */
		/* "domains": the CA's permitted DNS subtrees, lowercased; NULL and 0 when absent,
		 * and the daemon derives them from the providers' hosts */
		char **domains;
		size_t n_domains;
	} ca;

	struct {
		char *upstream_ca; /* "upstream_ca": PEM bundle that verifies providers, or NULL
				      for the system trust store */
	} tls;

	struct {
		enum policy_non_tls non_tls; /* "non_tls": "close" | "passthrough" */
		size_t max_request_body;     /* "max_request_body": bytes, 1 KiB..1 GiB (32 MiB) */
		/* "max_request_json_values": values a JSON request body may hold, 1000..16M
		 * (1M); a tree costs ~80 bytes a value, so this bounds what parsing one costs */
		size_t max_request_json_values;
		/* "limits": {"buffer_bytes"}: bytes of requests and answers the gateway holds
		 * at once, all workloads together, 1 MiB..1 TiB (1 GiB) */
		uint64_t buffer_bytes;
		/* "timeouts": { ... }, each 1..86400000 ms; the key, what it bounds (default) */
		unsigned connect_timeout_ms;	   /* "connect_ms": connect to a provider (5000) */
		unsigned tls_handshake_timeout_ms; /* "tls_handshake_ms": a handshake (10000) */
		unsigned first_byte_timeout_ms;	   /* "first_byte_ms": to a response (600000) */
		unsigned idle_timeout_ms;	   /* "idle_ms": provider side silent (300000) */
		unsigned client_idle_timeout_ms;   /* "client_idle_ms": client silent (120000) */
		/* "passthrough_idle_ms": a passed-through connection silent both ways (300000) */
		unsigned passthrough_idle_timeout_ms;
		/* "workers": event loops serving intercepted connections, 1..64; 0 when absent
		 * (one per online CPU). A reload that changes it takes effect at restart. */
		unsigned workers;
	} proxy;

	struct policy_provider *providers; /* "providers": object, in file order */
	size_t n_providers;
	/* the same providers sorted by name, for policy_provider_by_name() (built at load) */
	struct policy_provider **providers_by_name;

	char *prices; /* "prices": a price table replacing the shipped one, or NULL */

	/* "ai_services": AI services added to the shipped catalogue, in file order */
	struct policy_ai_service *ai_services;
	size_t n_ai_services;

	struct {
		unsigned retries;        /* "retries": attempts after the first (2) */
		uint16_t retry_statuses[16]; /* "retry_statuses": answers retried (429, 5xx, 529) */
		size_t n_retry_statuses;
		unsigned backoff_ms;     /* "backoff_ms": the first wait, doubled each time (200) */
		unsigned backoff_max_ms; /* "backoff_max_ms": no wait longer; a longer
					  * retry-after is not waited for (5000) */
		/* "breaker": { "failures": N, "open_ms": MS }: a target whose last N attempts
		 * failed is not sent to for MS, then one call probes it */
		unsigned breaker_failures; /* "failures": 1..1000 (5) */
		unsigned breaker_open_ms;  /* "open_ms": 100..3600000 (30000) */
	} routing;

	struct policy_model *models; /* "models": object, in file order */
	size_t n_models;

	struct {
		int enabled;	/* "api" present, with "listen" or "socket" or both */
		int has_listen; /* "listen" given */
		/* "listen": "127.0.0.1:8080" or "[::1]:8080": the explicit endpoint (plain HTTP) */
		struct sockaddr_storage listen;
		socklen_t listen_len;
		/* "socket": "/run/aigw/api.sock": the same on a UNIX socket, where a caller is
		 * named by its cgroup (SO_PEERCRED) and needs no gateway key; or NULL */
		char *socket;
	} api;

	struct policy_workload *workloads; /* "workloads": array, first match wins */
	size_t n_workloads;

	struct policy_team *teams; /* "teams": object, in file order */
	size_t n_teams;

	struct policy_guardrails *guardrails; /* "guardrails": object, in file order */
	size_t n_guardrails;

	struct {
		/* "path": the SQLite database of limits and budget state (WAL);
		 * default "/var/lib/aigw/state.db" */
		char *path;
	} state;

	struct {
		/* "path": the SQLite cost ledger (WAL), a row per call and per shadow-AI
		 * connection; NULL (the default): no ledger */
		char *path;
	} ledger;

	struct {
		int has_listen; /* "admin" present, with "listen" */
		/* "listen": "127.0.0.1:9464": /metrics, /healthz, the dashboard (plain HTTP) */
		struct sockaddr_storage listen;
		socklen_t listen_len;
		/* "token_file": a private file holding the bearer token a peer off loopback must
		 * present; or NULL (then only loopback peers are served) */
		char *token_file;
	} admin;
};

/*
 * Loads and validates PATH. On success returns 0 and *ret_policy. On failure returns
 * -EINVAL (or -errno when the file cannot be read) and writes every problem, one per line,
 * "PATH:LINE:COL: message", to ERRS (which may be NULL).
 */
int policy_load(const char *path, FILE *errs, struct policy **ret_policy);

/* Same, from a string in memory; NAME is used in messages in place of a path. */
int policy_load_string(const char *name, const char *text, FILE *errs, struct policy **ret_policy);

/*
 * Loads an AI service catalogue, {"ai_services": [...]}, validated as the policy's own
 * "ai_services" key is: TEXT[0..LEN) (TEXT[LEN] is '\0'), NAME in messages. On success
 * *RET_CATALOGUE is a policy with only ai_services set (free it with policy_free()).
 */
int policy_load_ai_catalogue(const char *name, const char *text, size_t len, FILE *errs,
			     struct policy **ret_catalogue);

/*
 * Writes to OUT, one line each ("warning: ..."), what is valid in P but will likely not work
 * as its author meant: a logical name's target the gateway cannot reach or has no key for,
 * an explicit endpoint no workload holds a key for, a team no workload names. Returns how many.
 */
int policy_warn(const struct policy *p, FILE *out);

/* The logical model NAME (case-sensitive), or NULL. */
const struct policy_model *policy_model_by_name(const struct policy *p, const char *name);

/* The workload holding gateway key KEY (constant-time compare per key), or NULL. */
const struct policy_workload *policy_workload_by_api_key(const struct policy *p, const char *key);

/* Takes a reference (an exchange in flight keeps the policy it started under). */
struct policy *policy_ref(struct policy *p);

/* Drops a reference, freeing the policy with the last; NULL is fine. */
void policy_free(struct policy *p);

/* The workload named NAME, or NULL. */
const struct policy_workload *policy_workload_by_name(const struct policy *p, const char *name);

/* The team named NAME, or NULL. */
const struct policy_team *policy_team_by_name(const struct policy *p, const char *name);

/*
 * The files of P that hold secrets must be private: the policy file itself when it holds a
 * gateway key in clear (not "sha256:HEX"), and every provider's key_file. Writes one line
 * per file readable or writable by group or others to ERRS ("PATH: holds a secret and is
 * readable by group or others (mode 0644); run: chmod 600 PATH") and returns -EPERM, else 0.
 * A file that cannot be stat()ed is named too, and gives -errno. All files are looked at; the
 * first problem is returned.
 */
int policy_check_secret_files(const struct policy *p, FILE *errs);

/* The provider named NAME, or NULL. */
const struct policy_provider *policy_provider_by_name(const struct policy *p, const char *name);

/* The provider whose host list contains HOST (case-insensitive), or NULL. */
const struct policy_provider *policy_provider_by_host(const struct policy *p, const char *host);

/*
 * 1 if HOST is one of DOMAINS[0..N) or a name below one (case-insensitive, whole labels:
 * "api.openai.com" and "openai.com" are in "openai.com", "evilopenai.com" is not), else 0.
 * A NULL HOST, and an empty domain, match nothing.
 */
int policy_host_in_domains(const char *host, char *const *domains, size_t n);

#endif
