/*
 * policy: loads the gateway's JSON policy file and validates all of it (see policy.h).
 *
 * Owns the schema. Each JSON object the policy has (the top level, "capture", "audit", "ca",
 * "tls", "proxy" and its "timeouts", "routing" and its "breaker", "api", "state", "admin", a
 * provider, a model's target, a workload, its "match", "allow", "limits" and "budget", a team,
 * an AI service) is a table of fields: key, whether it is required, the check that parses the
 * value into struct policy, and what a good value looks like. A new key is a new row. Anything
 * not in a table is an error, as is a key given twice.
 *
 * cJSON keeps no positions, so each problem finds its own again with json_locate, from the path
 * of member and element indexes the walk keeps, and is printed as
 * "NAME:LINE:COL: json.path: what is wrong; expected what". The walk goes on after a problem,
 * so that one run shows them all; a policy with any problem is freed, never returned.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "capture.h"
#include "guard/guard.h"
#include "policy/json_locate.h"
#include "proxy/gcp_token.h"
#include "policy/policy.h"
#include "providers/azure.h"

#define PATH_DEPTH 8	      /* the schema nests 4 deep */
#define GOT_MAX 48	      /* bytes of a bad value quoted back in a message */
#define GOT_BUF (GOT_MAX + 4) /* and "..." */
#define FILE_MAX (16u << 20)  /* a policy is a few kB; refuse anything absurd */

#define DEFAULT_LISTEN_PORT 15001
#define DEFAULT_TLS_PORT 443
#define DEFAULT_EXEMPT_MARK 0x41494757u /* "AIGW" */
#define DEFAULT_RESOLVE_MIN_S 5
#define DEFAULT_RESOLVE_MAX_S 300
#define DEFAULT_CA_DIR "/var/lib/aigw/ca"
#define DEFAULT_MAX_REQUEST_BODY (32u << 20)
#define DEFAULT_MAX_REQUEST_JSON_VALUES 1000000
#define DEFAULT_BUFFER_BYTES (1ull << 30) /* proxy.limits.buffer_bytes: 1 GiB */
#define DEFAULT_CONNECT_MS 5000
#define DEFAULT_TLS_HANDSHAKE_MS 10000
#define DEFAULT_FIRST_BYTE_MS 600000
#define DEFAULT_IDLE_MS 300000
#define DEFAULT_CLIENT_IDLE_MS 120000
#define DEFAULT_PASSTHROUGH_IDLE_MS 300000
#define DEFAULT_AUDIT_KEEP 10
#define DEFAULT_CHECKPOINT_RECORDS 1000
#define DEFAULT_CHECKPOINT_S 60
#define DEFAULT_CHECKPOINT_KEY "audit-checkpoint.key" /* in ca.dir, beside the CA's key */
#define DEFAULT_CHECKPOINT_SUFFIX "-checkpoints"      /* after audit.path; never a LOG.N sibling */
#define DEFAULT_BASE_PORT 443 /* https */
#define DEFAULT_BREAKER_FAILURES 5
#define DEFAULT_BREAKER_OPEN_MS 30000

#define CA_DOMAINS_MAX 64	/* permitted subtrees a CA may carry (CERTS_DOMAINS_MAX) */
#define AI_DOMAINS_MAX 64	/* DNS names of one AI service */
#define TIMEOUT_MS_MAX 86400000 /* a day */
#define MODEL_NAME_MAX 127	/* a logical model name, or a provider's model name */
#define MODEL_TARGETS_MAX 16
#define API_KEY_MIN 16 /* a gateway key, in printable ASCII characters */
#define API_KEY_MAX 256
#define API_KEY_HASHED "sha256:" /* then the key's SHA-256 in 64 lowercase hex digits */
#define SHA256_HEX (SHA256_DIGEST_LENGTH * 2)
#define GLOBS_MAX 256	/* patterns in one allow list, endpoints too */
#define GLOB_MAX 255	/* characters in one */
#define REGION_MAX 64
#define NANO_PER_USD 1000000000LL
#define BUDGET_USD_MAX 1000000000LL /* a budget of more than a billion dollars is a typo */
#define DEFAULT_STATE_PATH "/var/lib/aigw/state.db"
/* rotate_bytes: any size_t a double holds exactly */
#define ROTATE_BYTES_MAX ((long long)(SIZE_MAX < (1ull << 53) ? SIZE_MAX : (1ull << 53)))

#define EXPECT_ADDRESS "an IPv4 or IPv6 address or CIDR, like \"10.0.0.0/8\" or \"2001:db8::/32\""
#define EXPECT_HOST "a DNS host name, like \"api.openai.com\""
#define EXPECT_DOMAIN "a DNS name of two labels or more, like \"openai.com\""
#define EXPECT_BASE_URL                                                                            \
	"\"https://HOST[:PORT][/PREFIX]\" (or http:// for a self-hosted server), like "           \
	"\"https://llm.example.com:8443/openai\""
#define EXPECT_TARGETS                                                                             \
	"an array of 1..16 targets, like [{\"provider\": \"openai\", \"model\": \"gpt-4o\"}]"
#define EXPECT_API_KEY                                                                             \
	"a gateway key: a string of 16..256 printable ASCII characters, no spaces, or "          \
	"\"sha256:\" and the key's SHA-256 in 64 lowercase hex digits"
#define EXPECT_DEPLOYMENT "a model name of 1..127 characters, like \"gpt-4o-mini\""
#define EXPECT_GLOB "a glob of 1..255 characters, like \"gpt-4o*\""
#define EXPECT_ENDPOINT                                                                            \
	"\"METHOD /path-glob\" with METHOD one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS "  \
	"or *, like \"POST /v1/chat/completions\""
#define EXPECT_USD "a number of US dollars above 0, at most 1000000000, like 5 or 100.5"

struct path_elem {
	const char *key; /* object member name, or NULL for an array element */
	size_t index;	 /* position among the container's members or elements */
};

/* The state of one load. */
struct ctx {
	const char *name; /* for messages */
	const char *text;
	size_t len;
	FILE *errs; /* or NULL */
	unsigned problems;
	bool oom;
	struct policy *p;		   /* being filled; freed unless nothing went wrong */
	const cJSON *root;		   /* the whole file, for checks that look elsewhere */
	const cJSON *providers;		   /* the "providers" object, for duplicate hosts */
	struct path_elem path[PATH_DEPTH]; /* where the walk is */
	size_t depth;
};

struct field;
typedef void check_fn(struct ctx *c, const cJSON *v, const struct field *f, void *base);

/* What walk_object() saw of an object, for the schema's finish(). */
struct members {
	const cJSON *obj;
	const struct schema *schema;
	uint64_t seen; /* bit i: fields[i] is in the object */
	uint64_t bad;  /* bit i: fields[i] had a problem */
};

struct schema {
	const struct field *fields;
	size_t n_fields;
	/* After the members: checks across fields and defaults that depend on others. */
	void (*finish)(struct ctx *c, const struct members *m, void *base);
};

struct field {
	const char *key;
	bool required;
	check_fn *check;
	size_t off;		  /* of the value in the base the object fills */
	size_t size;		  /* of an integer */
	long long min, max;	  /* of an integer */
	const struct schema *sub; /* the object's, or each element's, schema */
	const char *expect;	  /* what a good value is, for messages */
};

enum at { AT_VALUE, AT_KEY };

/* ---- the path, positions, messages ---- */

static void path_push(struct ctx *c, const char *key, size_t index)
{
	assert(c->depth < PATH_DEPTH);
	c->path[c->depth].key = key;
	c->path[c->depth].index = index;
	c->depth++;
}

static void path_pop(struct ctx *c)
{
	c->depth--;
}

/* The index of OBJ's first member named KEY (there is one). */
static size_t member_index(const cJSON *obj, const char *key)
{
	size_t i = 0;
	const cJSON *v;

	for (v = obj->child; v; v = v->next) {
		if (v->string && strcmp(v->string, key) == 0)
			break;
		i++;
	}
	return i;
}

static void path_push_member(struct ctx *c, const cJSON *obj, const char *key)
{
	path_push(c, key, member_index(obj, key));
}

/* STEPS[0..N) are the first N of the walk's path; STEPS has room for one more. */
static size_t path_steps(const struct ctx *c, size_t n, struct json_locate_step *steps)
{
	for (size_t i = 0; i < n; i++) {
		steps[i].key = NULL;
		steps[i].index = c->path[i].index;
	}
	return n;
}

static int locate_current(const struct ctx *c, struct json_locate_pos *pos)
{
	struct json_locate_step steps[PATH_DEPTH];

	return json_locate(c->text, c->len, steps, path_steps(c, c->depth, steps), pos);
}

static void line_col(const struct ctx *c, size_t off, unsigned *line, unsigned *col)
{
	json_locate_line_col(c->text, c->len, off, line, col);
}

static void put_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = *s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < ' ')
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static bool is_plain_key(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '_' && *s != '-')
			return false;
	}
	return true;
}

/* "capture.mode", "workloads[1].match.cgroup", "providers[\"a.b\"]", or "top level". */
static void put_path(const struct ctx *c)
{
	if (!c->depth)
		fputs("top level", c->errs);
	for (size_t i = 0; i < c->depth; i++) {
		const struct path_elem *e = &c->path[i];

		if (!e->key) {
			fprintf(c->errs, "[%zu]", e->index);
		} else if (is_plain_key(e->key)) {
			fprintf(c->errs, "%s%s", i ? "." : "", e->key);
		} else {
			fputc('[', c->errs);
			put_quoted(c->errs, e->key);
			fputc(']', c->errs);
		}
	}
}

static void problem(struct ctx *c, enum at at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports a problem with the value (or key) at the current path. */
static void problem(struct ctx *c, enum at at, const char *fmt, ...)
{
	struct json_locate_pos pos = {0};
	unsigned line, col;
	va_list ap;

	c->problems++;
	if (!c->errs)
		return;
	locate_current(c, &pos);
	line_col(c, at == AT_KEY && pos.key != JSON_LOCATE_NONE ? pos.key : pos.value, &line, &col);
	fprintf(c->errs, "%s:%u:%u: ", c->name, line, col);
	put_path(c);
	fputs(": ", c->errs);
	va_start(ap, fmt);
	vfprintf(c->errs, fmt, ap);
	va_end(ap);
	fputc('\n', c->errs);
}

/* The current value as the file spells it, shortened to GOT_MAX bytes, into BUF[GOT_BUF]. */
static const char *got(const struct ctx *c, char *buf)
{
	struct json_locate_pos pos;
	size_t n, k;

	if (locate_current(c, &pos) < 0)
		return "?";
	n = pos.end - pos.value;
	if (n > GOT_MAX) {
		n = GOT_MAX;
		while (n && ((unsigned char)c->text[pos.value + n] & 0xc0) == 0x80)
			n--; /* not in the middle of a UTF-8 character */
	}
	for (k = 0; k < n; k++) {
		unsigned char ch = c->text[pos.value + k];

		buf[k] = ch < ' ' ? '?' : ch;
	}
	strcpy(buf + k, n < pos.end - pos.value ? "..." : "");
	return buf;
}

static const char *type_name(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "string";
	if (cJSON_IsNumber(v))
		return "number";
	if (cJSON_IsBool(v))
		return "boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "array";
	return "object";
}

static void wrong_type(struct ctx *c, const cJSON *v, const char *expect)
{
	char raw[GOT_BUF];

	if (cJSON_IsObject(v) || cJSON_IsArray(v))
		problem(c, AT_VALUE, "got an %s; expected %s", type_name(v), expect);
	else if (cJSON_IsNull(v))
		problem(c, AT_VALUE, "got null; expected %s", expect);
	else
		problem(c, AT_VALUE, "got %s %s; expected %s", type_name(v), got(c, raw), expect);
}

/* "got VALUE, WHY; expected EXPECT" (WHY may be NULL). */
static void bad_value(struct ctx *c, const char *why, const char *expect)
{
	char raw[GOT_BUF];

	problem(c, AT_VALUE, "got %s%s%s; expected %s", got(c, raw), why ? ", " : "",
		why ? why : "", expect);
}

/* ---- values ---- */

static void *field_ptr(void *base, const struct field *f)
{
	return (char *)base + f->off;
}

/* V's string, or NULL after reporting that V is no string. */
static const char *want_string(struct ctx *c, const cJSON *v, const char *expect)
{
	if (cJSON_IsString(v) && v->valuestring)
		return v->valuestring;
	wrong_type(c, v, expect);
	return NULL;
}

static void set_string(struct ctx *c, char **dst, const char *s)
{
	char *copy = strdup(s);

	if (!copy) {
		c->oom = true;
		return;
	}
	free(*dst);
	*dst = copy;
}

/* Lowercases S in place (ASCII: DNS names are compared without case). */
static char *ascii_lower(char *s)
{
	for (char *q = s; *q; q++)
		*q = *q >= 'A' && *q <= 'Z' ? *q - 'A' + 'a' : *q;
	return s;
}

/* Calloc for an array of V's size (at least one element), or NULL with c->oom set. */
static void *alloc_for(struct ctx *c, const cJSON *v, size_t size)
{
	int n = cJSON_GetArraySize(v);
	void *a = calloc(n > 0 ? n : 1, size);

	if (!a)
		c->oom = true;
	return a;
}

static void check_string(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	const char *s = want_string(c, v, f->expect);

	if (s)
		set_string(c, field_ptr(base, f), s);
}

static void check_nonempty(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	const char *s = want_string(c, v, f->expect);

	if (s && !*s)
		bad_value(c, NULL, f->expect);
	else if (s)
		set_string(c, field_ptr(base, f), s);
}

static void store_uint(void *dst, size_t size, unsigned long long v)
{
	if (size == sizeof(uint16_t))
		*(uint16_t *)dst = v;
	else if (size == sizeof(uint32_t))
		*(uint32_t *)dst = v;
	else
		*(uint64_t *)dst = v;
}

static void check_uint(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	double d;

	if (!cJSON_IsNumber(v)) {
		wrong_type(c, v, f->expect);
		return;
	}
	d = v->valuedouble;
	/* The range first: converting an out-of-range double is undefined. */
	if (!(d >= (double)f->min && d <= (double)f->max) || d != (double)(long long)d) {
		bad_value(c, NULL, f->expect);
		return;
	}
	store_uint(field_ptr(base, f), f->size, (unsigned long long)d);
}

static void check_bool(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	if (!cJSON_IsBool(v)) {
		wrong_type(c, v, f->expect);
		return;
	}
	*(int *)field_ptr(base, f) = cJSON_IsTrue(v);
}

/* One of two words, stored as the enum value 0 (ZERO) or 1 (ONE) in the int-sized field. */
static void check_choice(struct ctx *c, const cJSON *v, const struct field *f, void *base,
			 const char *zero, const char *one)
{
	int *choice = field_ptr(base, f);
	const char *s = want_string(c, v, f->expect);

	if (!s)
		return;
	if (strcmp(s, zero) == 0)
		*choice = 0;
	else if (strcmp(s, one) == 0)
		*choice = 1;
	else
		bad_value(c, NULL, f->expect);
}

static void check_mode(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	_Static_assert(POLICY_CAPTURE_ENFORCE == 0 && POLICY_CAPTURE_OBSERVE == 1, "order");
	check_choice(c, v, f, base, "enforce", "observe");
}

static void check_non_tls(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	_Static_assert(POLICY_NON_TLS_CLOSE == 0 && POLICY_NON_TLS_PASSTHROUGH == 1, "order");
	check_choice(c, v, f, base, "close", "passthrough");
}

static void check_unsanctioned_ai(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	_Static_assert(POLICY_UNSANCTIONED_AI_RECORD == 0 && POLICY_UNSANCTIONED_AI_DENY == 1,
		       "order");
	check_choice(c, v, f, base, "record", "deny");
}

static void check_scope(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	_Static_assert(POLICY_SCOPE_TLS == 0 && POLICY_SCOPE_PROVIDERS == 1, "order");
	check_choice(c, v, f, base, "tls", "providers");
}

static void check_fronting(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	_Static_assert(POLICY_FRONTING_DENY == 0 && POLICY_FRONTING_PASSTHROUGH == 1, "order");
	check_choice(c, v, f, base, "deny", "passthrough");
}

static void check_audit_on_failure(struct ctx *c, const cJSON *v, const struct field *f,
				   void *base)
{
	_Static_assert(POLICY_AUDIT_BLOCK == 0 && POLICY_AUDIT_CONTINUE == 1, "order");
	check_choice(c, v, f, base, "block", "continue");
}

static void check_audit_durability(struct ctx *c, const cJSON *v, const struct field *f,
				   void *base)
{
	_Static_assert(POLICY_AUDIT_BATCHED == 0 && POLICY_AUDIT_STRICT == 1, "order");
	check_choice(c, v, f, base, "batched", "strict");
}

/* What is wrong with a cgroup path, or NULL. */
static const char *cgroup_problem(const char *s)
{
	size_t n = strlen(s);

	if (s[0] != '/')
		return "not starting with \"/\"";
	if (strstr(s, "//"))
		return "with an empty component \"//\"";
	if (n > 1 && s[n - 1] == '/')
		return "ending in \"/\"";
	if (strstr(s, "/./") || strstr(s, "/../") || (n >= 2 && strcmp(s + n - 2, "/.") == 0) ||
	    (n >= 3 && strcmp(s + n - 3, "/..") == 0))
		return "with a \".\" or \"..\" component";
	return NULL;
}

static void check_cgroup(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	const char *s = want_string(c, v, f->expect), *why;

	if (!s)
		return;
	why = cgroup_problem(s);
	if (why)
		bad_value(c, why, f->expect);
	else
		set_string(c, field_ptr(base, f), s);
}

/* A decimal port 1..65535, digits only. */
static bool parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	*port = v;
	return true;
}

/* Splits "ADDR:PORT" (V6: "[ADDR]:PORT") into HOST[SIZE] and *PORT; returns what is wrong. */
static const char *split_host_port(const char *s, bool v6, char *host, size_t size, uint16_t *port)
{
	const char *end;

	if (v6) {
		end = s[0] == '[' ? strstr(s, "]:") : NULL;
		if (!end)
			return "not \"[ADDRESS]:PORT\"";
		s++;
	} else {
		end = strrchr(s, ':');
		if (!end)
			return "not \"ADDRESS:PORT\"";
	}
	if ((size_t)(end - s) >= size)
		return v6 ? "not an IPv6 address" : "not an IPv4 address";
	memcpy(host, s, end - s);
	host[end - s] = '\0';
	if (!parse_port(end + (v6 ? 2 : 1), port))
		return "the port is not 1..65535";
	return NULL;
}

/*
 * "ADDR:PORT", an IPv4 address, or with V6 "[ADDR]:PORT", an IPv6 one, into *SS and *LEN;
 * with LOOPBACK only a loopback address will do. Returns what is wrong, or NULL.
 */
static const char *parse_listen(const char *s, bool v6, bool loopback, struct sockaddr_storage *ss,
				socklen_t *len)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	char host[INET6_ADDRSTRLEN];
	const char *why;
	uint16_t port;

	why = split_host_port(s, v6, host, sizeof(host), &port);
	if (why)
		return why;
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return "not an IPv6 address";
		if (loopback && !IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return "not the loopback address";
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
	} else {
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return "not an IPv4 address";
		if (loopback && (ntohl(sin->sin_addr.s_addr) >> 24) != IN_LOOPBACKNET)
			return "not a loopback address";
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
	}
	return NULL;
}

/* capture.listen and listen6: a loopback address, into the sockaddr_in or _in6 at F. */
static void check_loopback(struct ctx *c, const cJSON *v, const struct field *f, void *base,
			   bool v6)
{
	const char *s = want_string(c, v, f->expect), *why;
	struct sockaddr_storage ss;
	socklen_t len;

	if (!s)
		return;
	why = parse_listen(s, v6, true, &ss, &len);
	if (why)
		bad_value(c, why, f->expect);
	else
		memcpy(field_ptr(base, f), &ss, len);
}

static void check_listen4(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	check_loopback(c, v, f, base, false);
}

static void check_listen6(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	check_loopback(c, v, f, base, true);
}

/* A listen address of any family and address (it may serve other hosts) into *SS, *LEN;
 * false after a problem. */
static bool check_any_listen(struct ctx *c, const cJSON *v, const struct field *f,
			     struct sockaddr_storage *ss, socklen_t *len)
{
	const char *s = want_string(c, v, f->expect), *why;

	if (!s)
		return false;
	why = parse_listen(s, s[0] == '[', false, ss, len);
	if (why)
		bad_value(c, why, f->expect);
	return !why;
}

/* api.listen: the explicit endpoint. */
static void check_api_listen(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy *p = base;

	if (!check_any_listen(c, v, f, &p->api.listen, &p->api.listen_len))
		return;
	p->api.enabled = 1;
	p->api.has_listen = 1;
}

/* admin.listen: metrics, health and the dashboard. */
static void check_admin_listen(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy *p = base;

	if (check_any_listen(c, v, f, &p->admin.listen, &p->admin.listen_len))
		p->admin.has_listen = 1;
}

/* ---- objects ---- */

static void walk_object(struct ctx *c, const cJSON *obj, const struct schema *s, const char *expect,
			void *base);

static const struct field *find_field(const struct schema *s, const char *key)
{
	for (size_t i = 0; i < s->n_fields; i++) {
		if (strcmp(s->fields[i].key, key) == 0)
			return &s->fields[i];
	}
	return NULL;
}

/*
 * Appends NAME, the I-th of N, to the list in BUF[SIZE] (*LEN bytes so far, may pass SIZE
 * and then nothing more is written): "\"a\"", "\"a\" or \"b\"", "one of \"a\", \"b\", or \"c\"".
 */
static void list_append(char *buf, size_t size, size_t *len, size_t i, size_t n, const char *name)
{
	const char *sep = !i	      ? (n > 2 ? "one of " : "")
			  : i + 1 < n ? ", "
			  : n > 2     ? ", or "
				      : " or ";

	if (*len < size)
		*len += snprintf(buf + *len, size - *len, "%s\"%s\"", sep, name);
}

static void unknown_key(struct ctx *c, const struct schema *s)
{
	char keys[512] = "";
	size_t n = 0;

	for (size_t i = 0; i < s->n_fields; i++)
		list_append(keys, sizeof(keys), &n, i, s->n_fields, s->fields[i].key);
	problem(c, AT_KEY, "unknown key; expected %s", keys);
}

/* Reports the current member, named KEY, as a second one of that name. */
static void duplicate_key(struct ctx *c, const char *key)
{
	struct json_locate_step steps[PATH_DEPTH];
	struct json_locate_pos pos = {0};
	size_t n = path_steps(c, c->depth - 1, steps);
	unsigned line, col;

	steps[n].key = key;
	steps[n].index = 0;
	json_locate(c->text, c->len, steps, n + 1, &pos);
	line_col(c, pos.key, &line, &col);
	problem(c, AT_KEY, "duplicate key, first at %u:%u; expected each key once", line, col);
}

static void walk_member(struct ctx *c, const cJSON *v, struct members *m, void *base)
{
	const char *key = v->string ? v->string : "";
	const struct field *f = find_field(m->schema, key);
	unsigned before = c->problems;
	uint64_t bit;

	if (!f) {
		unknown_key(c, m->schema);
		return;
	}
	bit = 1ull << (f - m->schema->fields);
	if (m->seen & bit) {
		duplicate_key(c, key);
		return;
	}
	m->seen |= bit;
	f->check(c, v, f, base);
	if (c->problems != before)
		m->bad |= bit;
}

static void report_missing(struct ctx *c, const struct members *m)
{
	for (size_t i = 0; i < m->schema->n_fields; i++) {
		const struct field *f = &m->schema->fields[i];

		if (f->required && !(m->seen & (1ull << i)))
			problem(c, AT_VALUE, "missing key \"%s\"; expected \"%s\": %s", f->key,
				f->key, f->expect);
	}
}

/* Checks OBJ (at the current path) against S, filling BASE. */
static void walk_object(struct ctx *c, const cJSON *obj, const struct schema *s, const char *expect,
			void *base)
{
	struct members m = {.obj = obj, .schema = s};
	const cJSON *v;
	size_t i = 0;

	assert(s->n_fields <= 64);
	if (!cJSON_IsObject(obj)) {
		wrong_type(c, obj, expect);
		return;
	}
	for (v = obj->child; v; v = v->next) {
		path_push(c, v->string ? v->string : "", i++);
		walk_member(c, v, &m, base);
		path_pop(c);
	}
	report_missing(c, &m);
	if (s->finish)
		s->finish(c, &m, base);
}

/* Whether key KEY of M's object had no problem (or is absent); *PRESENT says if it is there. */
static bool member_ok(const struct members *m, const char *key, bool *present)
{
	const struct field *f = find_field(m->schema, key);
	uint64_t bit = 1ull << (f - m->schema->fields);

	*present = m->seen & bit;
	return !(m->bad & bit);
}

static void check_object(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	walk_object(c, v, f->sub, f->expect, field_ptr(base, f));
}

/* Each element of the array V, with the current path at it. */
static void for_each_element(struct ctx *c, const cJSON *v, void *arg,
			     void (*fn)(struct ctx *c, const cJSON *e, void *arg))
{
	const cJSON *e;
	size_t i = 0;

	for (e = v->child; e; e = e->next) {
		path_push(c, NULL, i++);
		fn(c, e, arg);
		path_pop(c);
	}
}

#define EXPECT_TLS_PORTS "an array of 1..8 distinct ports 1..65535, like [443, 8443]"

static bool tls_port_listed(const struct policy *p, uint16_t port)
{
	for (size_t i = 0; i < p->capture.n_tls_ports; i++)
		if (p->capture.tls_ports[i] == port)
			return true;
	return false;
}

static void check_tls_port_elem(struct ctx *c, const cJSON *e, void *arg)
{
	struct policy *p = arg;
	char raw[GOT_BUF];
	double d;

	if (!cJSON_IsNumber(e)) {
		wrong_type(c, e, "a port 1..65535");
		return;
	}
	d = e->valuedouble;
	/* The range first: converting an out-of-range double is undefined. */
	if (!(d >= 1 && d <= 65535) || d != (double)(int)d) {
		bad_value(c, NULL, "a port 1..65535");
		return;
	}
	if (tls_port_listed(p, (uint16_t)d)) {
		problem(c, AT_VALUE, "got %s, given twice; expected each port once", got(c, raw));
		return;
	}
	p->capture.tls_ports[p->capture.n_tls_ports++] = (uint16_t)d;
}

static void check_tls_ports(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy *p = base;
	int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;

	if (n < 1 || n > POLICY_TLS_PORTS_MAX) {
		wrong_type(c, v, f->expect);
		return;
	}
	p->capture.n_tls_ports = 0;
	for_each_element(c, v, p, check_tls_port_elem);
}

/*
 * The ports scope "tls" redirects: tls_ports and tls_port. Without tls_port, it is the
 * first of tls_ports; without tls_ports, they are [443] and tls_port. At most 8 in all.
 */
static void tls_ports_finish(struct ctx *c, const struct members *m, struct policy *p)
{
	bool port_given, ports_given;

	if (!member_ok(m, "tls_port", &port_given) || !member_ok(m, "tls_ports", &ports_given))
		return;
	if (ports_given && !port_given)
		p->capture.tls_port = p->capture.tls_ports[0];
	if (tls_port_listed(p, p->capture.tls_port))
		return;
	if (p->capture.n_tls_ports < POLICY_TLS_PORTS_MAX) {
		p->capture.tls_ports[p->capture.n_tls_ports++] = p->capture.tls_port;
		return;
	}
	path_push_member(c, m->obj, "tls_ports");
	problem(c, AT_VALUE,
		"got %d ports without tls_port %u; expected at most %d with tls_port (add it to "
		"them, or leave one out)",
		POLICY_TLS_PORTS_MAX, p->capture.tls_port, POLICY_TLS_PORTS_MAX);
	path_pop(c);
}

static void capture_finish(struct ctx *c, const struct members *m, void *base)
{
	struct policy *p = base;
	bool listen6_given, min_given, max_given;
	char raw[GOT_BUF];

	tls_ports_finish(c, m, p);
	member_ok(m, "listen6", &listen6_given);
	if (!listen6_given)
		p->capture.listen6.sin6_port = p->capture.listen4.sin_port;
	if (!member_ok(m, "resolve_min_s", &min_given) ||
	    !member_ok(m, "resolve_max_s", &max_given))
		return;
	if (p->capture.resolve_max_s >= p->capture.resolve_min_s)
		return;
	path_push_member(c, m->obj, max_given ? "resolve_max_s" : "resolve_min_s");
	if (max_given)
		problem(c, AT_VALUE, "got %s; expected at least resolve_min_s (%u)", got(c, raw),
			p->capture.resolve_min_s);
	else
		problem(c, AT_VALUE, "got %s; expected at most resolve_max_s (%u, the default)",
			got(c, raw), p->capture.resolve_max_s);
	path_pop(c);
}

/* ---- providers ---- */

static bool provider_name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= '0' && *s <= '9') && *s != '_' &&
		    *s != '-')
			return false;
	}
	return true;
}

/* Whether member E is the first of its name in object OBJ. */
static bool member_first(const cJSON *obj, const cJSON *e)
{
	for (const cJSON *x = obj->child; x && x != e; x = x->next) {
		if (strcmp(x->string, e->string) == 0)
			return false;
	}
	return true;
}

/* What is wrong with a DNS host name, or NULL. */
static const char *host_problem(const char *s)
{
	size_t label = 0;
	const char *q;

	if (strlen(s) > 253)
		return "longer than 253 characters";
	for (q = s;; q++) {
		if (*q == '.' || !*q) {
			if (!label)
				return "with an empty label";
			if (q[-1] == '-')
				return "with a label ending in '-'";
			if (!*q)
				return NULL;
			label = 0;
			continue;
		}
		if (!(*q >= 'a' && *q <= 'z') && !(*q >= 'A' && *q <= 'Z') &&
		    !(*q >= '0' && *q <= '9') && *q != '-')
			return "with a character other than letters, digits, '-' and '.'";
		if (*q == '-' && !label)
			return "with a label starting with '-'";
		if (++label > 63)
			return "with a label longer than 63 characters";
	}
}

/*
 * The first host equal to HOST (case-insensitive) before element E in the providers walked so
 * far, as its provider's name and its line:col. Providers with a bad or repeated name are not
 * walked, so not looked at.
 */
static const char *earlier_host(const struct ctx *c, const cJSON *e, const char *host,
				unsigned *line, unsigned *col)
{
	struct json_locate_step steps[4] = {{NULL, c->path[0].index}};
	struct json_locate_pos pos = {0};
	const cJSON *prov, *hosts, *h;
	size_t i = 0;

	for (prov = c->providers->child; prov; prov = prov->next) {
		steps[1].index = i++;
		hosts = cJSON_GetObjectItemCaseSensitive(prov, "hosts");
		if (!provider_name_ok(prov->string) || !member_first(c->providers, prov) ||
		    !cJSON_IsArray(hosts))
			continue;
		steps[2].index = member_index(prov, "hosts");
		steps[3].index = 0;
		for (h = hosts->child; h; h = h->next) {
			if (h == e)
				return NULL;
			if (cJSON_IsString(h) && strcasecmp(h->valuestring, host) == 0) {
				json_locate(c->text, c->len, steps, 4, &pos);
				line_col(c, pos.value, line, col);
				return prov->string;
			}
			steps[3].index++;
		}
	}
	return NULL;
}

/* What is wrong with S as a DNS name, or NULL; IF_IP when S is an IP address. */
static const char *name_problem(const char *s, const char *if_ip)
{
	unsigned char a[16];

	if (!*s)
		return "an empty name";
	if (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1)
		return if_ip;
	return host_problem(s);
}

static void check_host(struct ctx *c, const cJSON *e, void *arg)
{
	struct policy_provider *pr = arg;
	const char *s = want_string(c, e, EXPECT_HOST), *why, *owner;
	unsigned line, col;
	char msg[128];

	if (!s)
		return;
	why = name_problem(s, "an IP address (those go in \"addresses\")");
	if (why) {
		bad_value(c, why, EXPECT_HOST);
		return;
	}
	owner = earlier_host(c, e, s, &line, &col);
	if (owner) {
		snprintf(msg, sizeof(msg), "already a host of provider \"%s\" at %u:%u", owner,
			 line, col);
		bad_value(c, msg, "each host in one provider, once");
		return;
	}
	pr->hosts[pr->n_hosts] = strdup(s);
	if (pr->hosts[pr->n_hosts])
		pr->n_hosts++;
	else
		c->oom = true;
}

static void check_hosts(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy_provider *pr = base;

	if (!cJSON_IsArray(v)) {
		wrong_type(c, v, f->expect);
		return;
	}
	pr->hosts = alloc_for(c, v, sizeof(*pr->hosts));
	if (pr->hosts)
		for_each_element(c, v, pr, check_host);
}

/* "ADDR" or "ADDR/LEN" into *OUT, host bits as given; returns what is wrong, or NULL. */
static const char *parse_cidr(const char *s, struct policy_cidr *out)
{
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	char host[INET6_ADDRSTRLEN];
	unsigned max, len = 0;

	memset(out, 0, sizeof(*out));
	if (n >= sizeof(host))
		return "not an IP address";
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, host, out->addr) == 1)
		out->family = AF_INET6;
	else
		return "not an IP address";
	max = out->family == AF_INET ? 32 : 128;
	if (slash) {
		const char *d = slash + 1;

		for (; *d >= '0' && *d <= '9' && len <= max; d++)
			len = len * 10 + (*d - '0');
		if (d == slash + 1 || *d || len > max)
			return max == 32 ? "the prefix length is not 0..32"
					 : "the prefix length is not 0..128";
	}
	out->prefixlen = slash ? len : max;
	return NULL;
}

/* Zeroes the host bits of CIDR; returns whether there were any. */
static bool cidr_mask(struct policy_cidr *cidr)
{
	bool had = false;

	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = i * 8 >= cidr->prefixlen ? 0 : cidr->prefixlen - i * 8;
		uint8_t keep = bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);

		had |= (cidr->addr[i] & ~keep) != 0;
		cidr->addr[i] &= keep;
	}
	return had;
}

/* ::ffff:a.b.c.d/LEN (LEN >= 96) is the IPv4 prefix a.b.c.d/(LEN - 96). */
static void cidr_unmap(struct policy_cidr *cidr)
{
	static const uint8_t prefix[12] = {[10] = 0xff, [11] = 0xff};

	if (cidr->family != AF_INET6 || cidr->prefixlen < 96 || memcmp(cidr->addr, prefix, 12))
		return;
	cidr->family = AF_INET;
	memmove(cidr->addr, cidr->addr + 12, 4);
	memset(cidr->addr + 4, 0, 12);
	cidr->prefixlen -= 96;
}

static void check_address(struct ctx *c, const cJSON *e, void *arg)
{
	struct policy_provider *pr = arg;
	const char *s = want_string(c, e, EXPECT_ADDRESS), *why;
	struct policy_cidr cidr, net;
	char text[INET6_ADDRSTRLEN], expect[INET6_ADDRSTRLEN + 8];

	if (!s)
		return;
	why = parse_cidr(s, &cidr);
	if (why) {
		bad_value(c, why, EXPECT_ADDRESS);
		return;
	}
	net = cidr;
	if (cidr_mask(&net)) {
		inet_ntop(net.family, net.addr, text, sizeof(text));
		snprintf(expect, sizeof(expect), "\"%s/%u\"", text, net.prefixlen);
		bad_value(c, "which has host bits set", expect);
		return;
	}
	cidr_unmap(&cidr);
	pr->cidrs[pr->n_cidrs++] = cidr;
}

static void check_addresses(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy_provider *pr = base;

	if (!cJSON_IsArray(v)) {
		wrong_type(c, v, f->expect);
		return;
	}
	pr->cidrs = alloc_for(c, v, sizeof(*pr->cidrs));
	if (pr->cidrs)
		for_each_element(c, v, pr, check_address);
}

static void check_api(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	enum policy_api *api = field_ptr(base, f);
	const char *s = want_string(c, v, f->expect);

	if (!s)
		return;
	if (strcmp(s, "openai") == 0)
		*api = POLICY_API_OPENAI;
	else if (strcmp(s, "anthropic") == 0)
		*api = POLICY_API_ANTHROPIC;
	else if (strcmp(s, "azure_openai") == 0) /* OpenAI's wire format at Azure's doors */
		*api = POLICY_API_OPENAI, ((struct policy_provider *)base)->azure = 1;
	else if (strcmp(s, "vertex") == 0)
		*api = POLICY_API_VERTEX;
	else if (strcmp(s, "gemini") == 0)
		*api = POLICY_API_GEMINI;
	else if (strcmp(s, "bedrock") == 0)
		*api = POLICY_API_BEDROCK;
	else
		bad_value(c, NULL, f->expect);
}

static const char *model_name_problem(const char *s);

/* One member of "deployments": a deployment name and the model it runs. */
static void check_deployment(struct ctx *c, const cJSON *e, struct policy_provider *pr)
{
	const char *model = want_string(c, e, EXPECT_DEPLOYMENT), *why;

	if (!model)
		return;
	why = azure_deployment_name_problem(e->string);
	if (why) {
		problem(c, AT_KEY, "%s; expected a deployment name of 1..64 letters, digits, '-', "
			"'_' or '.'", why);
		return;
	}
	why = model_name_problem(model);
	if (why) {
		bad_value(c, why, EXPECT_DEPLOYMENT);
		return;
	}
	pr->deployment_names[pr->n_deployments] = strdup(e->string);
	pr->deployment_models[pr->n_deployments] = strdup(model);
	if (!pr->deployment_names[pr->n_deployments] || !pr->deployment_models[pr->n_deployments])
		c->oom = true;
	pr->n_deployments++;
}

static void check_deployments(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy_provider *pr = base;
	size_t i = 0;

	if (!cJSON_IsObject(v)) {
		wrong_type(c, v, f->expect);
		return;
	}
	pr->deployment_names = alloc_for(c, v, sizeof(char *));
	pr->deployment_models = alloc_for(c, v, sizeof(char *));
	if (!pr->deployment_names || !pr->deployment_models)
		return;
	for (const cJSON *e = v->child; e; e = e->next) {
		path_push(c, e->string, i++);
		if (member_first(v, e))
			check_deployment(c, e, pr);
		else
			duplicate_key(c, e->string);
		path_pop(c);
	}
}

/*
 * Splits "https://HOST[:PORT][/PREFIX]" (or http://) into HOST[HOST_SIZE] (lowercased), *TLS,
 * *PORT (443, or 80 for http, when absent) and the PREFIX, S[*PREFIX_OFF] on for *PREFIX_LEN
 * bytes, trailing '/'s dropped. Returns what is wrong, or NULL. Whether HOST is one of the
 * provider's is provider_finish's.
 */
static const char *parse_base_url(const char *s, char *host, size_t host_size, int *tls,
				  uint16_t *port, size_t *prefix_off, size_t *prefix_len)
{
	const char *auth, *colon, *path, *why;
	char digits[8];
	size_t n;

	*tls = strncasecmp(s, "https://", 8) == 0;
	if (!*tls && strncasecmp(s, "http://", 7) != 0)
		return "not an https:// or http:// URL";
	/* the prefix goes into request lines as it is: nothing that could end or split one */
	for (const char *q = s; *q; q++) {
		if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
			return "with a space, a control or a non-ASCII character";
	}
	if (strpbrk(s, "?#"))
		return "with a query or a fragment";
	auth = s + (*tls ? 8 : 7);
	path = auth + strcspn(auth, "/");
	if (memchr(auth, '@', path - auth))
		return "with user info";
	colon = memchr(auth, ':', path - auth);
	n = (colon ? colon : path) - auth;
	if (!n)
		return "with no host";
	if (n >= host_size)
		return "with a host longer than 253 characters";
	memcpy(host, auth, n);
	host[n] = '\0';
	why = name_problem(host, "with an IP address for a host (it must be one of \"hosts\")");
	if (why)
		return why;
	ascii_lower(host);
	*port = *tls ? DEFAULT_BASE_PORT : 80;
	if (colon) {
		n = path - colon - 1;
		if (n >= sizeof(digits))
			return "the port is not 1..65535";
		memcpy(digits, colon + 1, n);
		digits[n] = '\0';
		if (!parse_port(digits, port))
			return "the port is not 1..65535";
	}
	n = strlen(path);
	while (n && path[n - 1] == '/')
		n--;
	*prefix_off = path - s;
	*prefix_len = n;
	return NULL;
}

static void check_base_url(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy_provider *pr = base;
	const char *s = want_string(c, v, f->expect), *why;
	size_t off, len;
	char host[254]; /* a DNS name is at most 253 characters */
	uint16_t port;
	char *prefix;
	int tls;

	if (!s)
		return;
	why = parse_base_url(s, host, sizeof(host), &tls, &port, &off, &len);
	if (why) {
		bad_value(c, why, f->expect);
		return;
	}
	prefix = strndup(s + off, len);
	if (!prefix) {
		c->oom = true;
		return;
	}
	free(pr->base_prefix);
	pr->base_prefix = prefix;
	pr->base_port = port;
	pr->base_plain = !tls;
	set_string(c, &pr->base_host, host);
}

/* Why "api_root" S (trailing '/'s dropped: LEN bytes) is not one, or NULL: whole segments of
 * unreserved characters, none of them "." or "..", so that it is compared with request paths
 * byte for byte (api_path.h) and means to the provider what it means to us. */
static const char *api_root_problem(const char *s, size_t len)
{
	if (len && s[0] != '/')
		return "it must start with \"/\"";
	if (len > 256)
		return "longer than 256 characters";
	for (size_t i = 0; i < len; i++) {
		size_t seg = strcspn(s + i + 1, "/");

		if (s[i] != '/')
			continue;
		if (i + 1 + seg > len)
			seg = len - i - 1;
		if (!seg)
			return "with an empty segment";
		if ((seg == 1 && s[i + 1] == '.') || (seg == 2 && !strncmp(s + i + 1, "..", 2)))
			return "with a dot segment";
		for (size_t j = i + 1; j < i + 1 + seg; j++)
			if (!isalnum((unsigned char)s[j]) && !strchr("-._~", s[j]))
				return "with a character other than letters, digits, '-', '.', '_' "
				       "and '~' in a segment";
	}
	return NULL;
}

static void check_api_root(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy_provider *pr = base;
	const char *s = want_string(c, v, f->expect), *why;
	size_t n;

	if (!s)
		return;
	n = strlen(s);
	while (n && s[n - 1] == '/')
		n--;
	why = api_root_problem(s, n);
	if (why) {
		bad_value(c, why, f->expect);
		return;
	}
	free(pr->api_root);
	pr->api_root = strndup(s, n);
	if (!pr->api_root)
		c->oom = true;
}

/* The API root base_url implies: its path when that ends in the version ("/openai/v1", as
 * the providers' SDKs write their base URLs), else the path with "/v1" after it (a prefix in
 * front of the API, as base_url has always meant). */
static void api_root_default(struct ctx *c, struct policy_provider *pr)
{
	const char *p = pr->base_prefix ? pr->base_prefix : "";
	size_t n = strlen(p);
	bool versioned = n >= 3 && !strcmp(p + n - 3, "/v1");

	if (asprintf(&pr->api_root, "%s%s", p, versioned ? "" : "/v1") < 0) {
		pr->api_root = NULL;
		c->oom = true;
	}
}

static bool provider_has_host(const struct policy_provider *pr, const char *host)
{
	for (size_t i = 0; i < pr->n_hosts; i++) {
		if (strcasecmp(pr->hosts[i], host) == 0)
			return true;
	}
	return false;
}

/* A Vertex provider's key file is read now: a file that is missing or is no service-account
 * key is this policy's error, not the first call's. */
static void provider_vertex_finish(struct ctx *c, const struct members *m,
				   struct policy_provider *pr)
{
	bool given;
	struct gcp_sa *sa = NULL;
	char why[400];

	if (pr->api != POLICY_API_VERTEX) {
		if (pr->credentials_file || pr->token_url || pr->project)
			problem(c, AT_VALUE, "credentials_file, token_url and project are for "
					     "\"api\": \"vertex\" only");
		return;
	}
	if (!member_ok(m, "credentials_file", &given) || !pr->credentials_file)
		return;
	if (gcp_sa_load(pr->credentials_file, &sa, why, sizeof(why))) {
		path_push_member(c, m->obj, "credentials_file");
		problem(c, AT_VALUE, "credentials_file: %s", why);
		path_pop(c);
	}
	gcp_sa_free(sa);
}

static void provider_finish(struct ctx *c, const struct members *m, void *base)
{
	struct policy_provider *pr = base;
	bool hosts_ok, url_ok, url_given, given, deployments_ok, deployments_given;

	hosts_ok = member_ok(m, "hosts", &given);
	url_ok = member_ok(m, "base_url", &url_given);
	/* The gateway dials base_url's host by the addresses that resolving "hosts" gives, and
	 * trusts it as a provider's: a host outside them would be neither. */
	if (hosts_ok && url_ok && url_given && pr->base_host &&
	    !provider_has_host(pr, pr->base_host)) {
		path_push_member(c, m->obj, "base_url");
		problem(c, AT_VALUE,
			"base_url host \"%s\" is not in this provider's hosts; add it there so it "
			"is resolved and captured",
			pr->base_host);
		path_pop(c);
	}
	deployments_ok = member_ok(m, "deployments", &deployments_given);
	if (pr->azure && deployments_ok && !pr->n_deployments)
		problem(c, AT_VALUE,
			"an azure_openai provider with no deployments; expected \"deployments\": "
			"{\"DEPLOYMENT\": \"MODEL\"}, the model each of its deployments runs");
	if (!pr->azure && deployments_given) {
		path_push_member(c, m->obj, "deployments");
		problem(c, AT_KEY, "only a provider with \"api\": \"azure_openai\" has deployments");
		path_pop(c);
	}
	if (!pr->api_root && pr->azure)
		set_string(c, &pr->api_root, AZURE_API_ROOT);
	if (!pr->api_root)
		api_root_default(c, pr);
	if (pr->has_aws && pr->api != POLICY_API_BEDROCK)
		problem(c, AT_VALUE,
			"\"aws\" is only for \"api\": \"bedrock\"; remove it or set the api");
	if (!url_given && pr->n_hosts) {
		set_string(c, &pr->base_host, pr->hosts[0]);
		if (pr->base_host)
			ascii_lower(pr->base_host);
	}
	provider_vertex_finish(c, m, pr);
	if (!hosts_ok || !member_ok(m, "addresses", &given))
		return;
	if (!pr->n_hosts && !pr->n_cidrs)
		problem(c, AT_VALUE,
			"no hosts and no addresses; expected at least one in \"hosts\" "
			"or \"addresses\"");
}

/* One member of "providers", with the current path at it. */
static void check_provider(struct ctx *c, const cJSON *e, const struct schema *s)
{
	struct policy_provider *pr;

	if (!provider_name_ok(e->string)) {
		problem(c, AT_KEY,
			"bad provider name; expected lowercase letters, digits, '_' and "
			"'-' ([a-z0-9_-]+)");
		return;
	}
	if (!member_first(c->providers, e)) {
		duplicate_key(c, e->string);
		return;
	}
	pr = &c->p->providers[c->p->n_providers++];
	set_string(c, &pr->name, e->string);
	/* the defaults the members may replace; base_host's is provider_finish's */
	pr->api = strcmp(e->string, "anthropic") == 0 ? POLICY_API_ANTHROPIC : POLICY_API_OPENAI;
	pr->base_port = DEFAULT_BASE_PORT;
	set_string(c, &pr->base_prefix, "");
	walk_object(c, e, s, "an object with \"hosts\" and/or \"addresses\"", pr);
}

static void check_providers(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	const cJSON *e;
	size_t i = 0;

	(void)base; /* the providers go in c->p */
	if (!cJSON_IsObject(v)) {
		wrong_type(c, v, f->expect);
		return;
	}
	if (!v->child) {
		problem(c, AT_VALUE, "got an empty object; expected at least one provider");
		return;
	}
	c->p->providers = alloc_for(c, v, sizeof(*c->p->providers));
	if (!c->p->providers)
		return;
	c->providers = v;
	for (e = v->child; e; e = e->next) {
		path_push(c, e->string, i++);
		check_provider(c, e, f->sub);
		path_pop(c);
	}
}

/* ---- models ---- */

/* What is wrong with S as a model name, logical or a provider's, or NULL. */
static const char *model_name_problem(const char *s)
{
	if (!*s)
		return "an empty name";
	if (strlen(s) > MODEL_NAME_MAX)
		return "a name longer than 127 characters";
	return NULL;
}

static void check_model_name(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	const char *s = want_string(c, v, f->expect), *why;

	if (!s)
		return;
	why = model_name_problem(s);
	if (why)
		bad_value(c, why, f->expect);
	else
		set_string(c, field_ptr(base, f), s);
}

/*
 * The providers a target may name are the members of the "providers" object that
 * check_providers() keeps: a good name, the first of it. Looking in the object rather than in
 * policy.providers lets "models" come before "providers" in the file.
 */
static const cJSON *providers_object(const struct ctx *c)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, "providers");

	return cJSON_IsObject(v) && v->child ? v : NULL; /* else reported where it is */
}

static bool provider_kept(const cJSON *providers, const cJSON *e)
{
	return provider_name_ok(e->string) && member_first(providers, e);
}

/* T's provider_idx from its provider's name, with the current path at "provider". */
static void resolve_provider(struct ctx *c, struct policy_target *t)
{
	const cJSON *providers = providers_object(c), *e;
	size_t idx = 0, i = 0, len = 0;
	char names[512] = "";

	if (!providers || !t->provider)
		return;
	for (e = providers->child; e; e = e->next) {
		if (strcmp(e->string, t->provider) == 0) {
			t->provider_idx = idx;
			return; /* a bad provider name is reported at the provider */
		}
		idx += provider_kept(providers, e);
	}
	for (e = providers->child; e; e = e->next) {
		if (provider_kept(providers, e))
			list_append(names, sizeof(names), &len, i++, idx, e->string);
	}
	bad_value(c, "not a key of \"providers\"", names);
}

/* Whether the "deployments" object DEPS has a deployment called NAME (*AS_KEY: what it runs)
 * and whether one runs a model called NAME. */
static bool deployments_name(const cJSON *deps, const char *name, const char **as_key,
			     bool *as_model)
{
	*as_key = NULL;
	*as_model = false;
	for (const cJSON *d = deps->child; d; d = d->next) {
		if (!strcmp(d->string, name))
			*as_key = cJSON_GetStringValue(d);
		*as_model |= cJSON_IsString(d) && !strcmp(d->valuestring, name);
	}
	return *as_key || *as_model;
}

/* A target on an azure_openai provider names one of its deployments, or a model one runs:
 * anything else would have nowhere to go. With the current path at "model". */
static void check_azure_target(struct ctx *c, const struct policy_target *t)
{
	const cJSON *providers = providers_object(c), *pv, *deps;
	const char *runs;
	bool as_model;
	char why[300];

	pv = providers ? cJSON_GetObjectItemCaseSensitive(providers, t->provider) : NULL;
	if (!pv || !t->model ||
	    strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pv, "api")) ?: "",
		   "azure_openai"))
		return;
	deps = cJSON_GetObjectItemCaseSensitive(pv, "deployments");
	if (!cJSON_IsObject(deps))
		return;
	if (!deployments_name(deps, t->model, &runs, &as_model)) {
		bad_value(c, "neither a deployment of that provider nor a model one of them runs",
			  "a key or a value of the provider's \"deployments\"");
	} else if (runs && as_model && strcmp(runs, t->model)) {
		snprintf(why, sizeof(why),
			 "ambiguous: the deployment of that name runs %s, and another deployment "
			 "runs %s",
			 runs, t->model);
		bad_value(c, why, "the name of the deployment meant");
	}
}

static void target_finish(struct ctx *c, const struct members *m, void *base)
{
	bool given;

	if (!member_ok(m, "provider", &given) || !given)
		return;
	path_push_member(c, m->obj, "provider");
	resolve_provider(c, base);
	path_pop(c);
	if (!member_ok(m, "model", &given) || !given)
		return;
	path_push_member(c, m->obj, "model");
	check_azure_target(c, base);
	path_pop(c);
}

/* One member of "models", with the current path at it. */
static void check_model(struct ctx *c, const cJSON *models, const cJSON *e, const struct schema *s)
{
	const char *why = model_name_problem(e->string);
	struct policy_model *m;
	const cJSON *t;
	int n;

	if (why) {
		problem(c, AT_KEY, "%s; expected a model name of 1..127 characters", why);
		return;
	}
	if (!member_first(models, e)) {
		duplicate_key(c, e->string);
		return;
	}
	m = &c->p->models[c->p->n_models++];
	set_string(c, &m->name, e->string);
	if (!cJSON_IsArray(e)) {
		wrong_type(c, e, EXPECT_TARGETS);
		return;
	}
	n = cJSON_GetArraySize(e);
	if (n == 0) {
		problem(c, AT_VALUE, "got an empty array; expected %s", EXPECT_TARGETS);
		return;
	}
	if (n > MODEL_TARGETS_MAX) {
		problem(c, AT_VALUE, "got %d targets; expected at most %d", n, MODEL_TARGETS_MAX);
		return;
	}
	m->targets = alloc_for(c, e, sizeof(*m->targets));
	if (!m->targets)
		return;
	for (t = e->child; t; t = t->next) {
		path_push(c, NULL, m->n_targets);
		walk_object(c, t, s, "a target object with \"provider\" and \"model\"",
			    &m->targets[m->n_targets++]);
		path_pop(c);
	}
}

/* An object of named entries (models, teams): *ARR gets room for each, EACH checks one. */
static void check_named_entries(struct ctx *c, const cJSON *v, const struct field *f,
				void **arr, size_t size,
				void (*each)(struct ctx *c, const cJSON *obj, const cJSON *e,
					     const struct schema *s))
{
	size_t i = 0;

	if (!cJSON_IsObject(v)) {
		wrong_type(c, v, f->expect);
		return;
	}
	*arr = alloc_for(c, v, size);
	if (!*arr)
		return;
	for (const cJSON *e = v->child; e; e = e->next) {
		path_push(c, e->string, i++);
		each(c, v, e, f->sub);
		path_pop(c);
	}
}

static void check_models(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	(void)base; /* the models go in c->p */
	check_named_entries(c, v, f, (void **)&c->p->models, sizeof(*c->p->models), check_model);
}

/* ---- workloads ---- */

/*
 * Gateway keys are secrets: no message about one quotes it, or any value where one should
 * be, as the rest of the schema does with a bad value.
 */
static void secret_wrong_type(struct ctx *c, const cJSON *v, const char *expect)
{
	problem(c, AT_VALUE, "got a value of type %s (not shown); expected %s", type_name(v),
		expect);
}

/* KEY[0..LEN)'s SHA-256 as 64 lowercase hex digits and a NUL, into HEX. */
static void api_key_sha256_hex(const char *key, size_t len, char hex[SHA256_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)key, len, md);
	for (size_t i = 0; i < sizeof(md); i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0xf];
	}
	hex[SHA256_HEX] = '\0';
	OPENSSL_cleanse(md, sizeof(md));
}

static bool api_key_hashed(const char *s)
{
	return strncmp(s, API_KEY_HASHED, strlen(API_KEY_HASHED)) == 0;
}

/*
 * What S stands for, as the hex SHA-256 of the key, into HEX: the same for a key in clear and
 * its "sha256:" form, so that one key cannot be given twice by writing it both ways.
 */
static void api_key_identity(const char *s, char hex[SHA256_HEX + 1])
{
	if (api_key_hashed(s))
		snprintf(hex, SHA256_HEX + 1, "%s", s + strlen(API_KEY_HASHED));
	else
		api_key_sha256_hex(s, strlen(s), hex);
}

/*
 * The first key standing for the same key as S (see api_key_identity) before element E in the
 * workloads walked so far, at its line:col; false when there is none. Workloads are walked in
 * file order, all of them.
 */
static bool earlier_api_key(const struct ctx *c, const cJSON *e, const char *s, unsigned *line,
			    unsigned *col)
{
	const cJSON *workloads = cJSON_GetObjectItemCaseSensitive(c->root, "workloads");
	struct json_locate_step steps[4] = {{NULL, c->path[0].index}};
	struct json_locate_pos pos = {0};
	char want[SHA256_HEX + 1], have[SHA256_HEX + 1];
	const cJSON *w, *keys, *k;
	bool found = false;

	api_key_identity(s, want);
	steps[1].index = 0;
	for (w = workloads->child; w && !found; w = w->next, steps[1].index++) {
		keys = cJSON_GetObjectItemCaseSensitive(w, "api_keys");
		if (!cJSON_IsArray(keys))
			continue;
		steps[2].index = member_index(w, "api_keys");
		steps[3].index = 0;
		for (k = keys->child; k; k = k->next, steps[3].index++) {
			if (k == e)
				goto out;
			if (!cJSON_IsString(k))
				continue;
			api_key_identity(k->valuestring, have);
			if (strcmp(have, want) == 0) {
				json_locate(c->text, c->len, steps, 4, &pos);
				line_col(c, pos.value, line, col);
				found = true;
				break;
			}
		}
	}
out:
	OPENSSL_cleanse(want, sizeof(want));
	OPENSSL_cleanse(have, sizeof(have));
	return found;
}

/* What is wrong with S as a gateway key or its "sha256:" form, or NULL. Never quotes S. */
static const char *api_key_problem(const char *s, char *why, size_t size)
{
	size_t n = strlen(s);
	const char *hex = s + strlen(API_KEY_HASHED);

	if (api_key_hashed(s)) {
		if (strlen(hex) != SHA256_HEX || strspn(hex, "0123456789abcdef") != SHA256_HEX)
			return "got a \"sha256:\" key whose rest is not 64 lowercase hex digits";
		return NULL;
	}
	if (n < API_KEY_MIN || n > API_KEY_MAX) {
		snprintf(why, size, "got a key of %zu characters", n);
		return why;
	}
	for (const char *q = s; *q; q++) {
		if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
			return "got a key with a space, a control or a non-ASCII character";
	}
	return NULL;
}

static void check_api_key(struct ctx *c, const cJSON *e, void *arg)
{
	struct policy_workload *w = arg;
	const char *s = cJSON_IsString(e) ? e->valuestring : NULL, *why;
	unsigned line, col;
	char buf[64];

	if (!s) {
		secret_wrong_type(c, e, EXPECT_API_KEY);
		return;
	}
	why = api_key_problem(s, buf, sizeof(buf));
	if (why) {
		problem(c, AT_VALUE, "%s (not shown); expected %s", why, EXPECT_API_KEY);
		return;
	}
	/* one key, one workload: else who called would depend on the order of the list */
	if (earlier_api_key(c, e, s, &line, &col)) {
		problem(c, AT_VALUE,
			"got a key already given at %u:%u (not shown); expected each gateway key "
			"once, in one workload",
			line, col);
		return;
	}
	w->api_keys[w->n_api_keys] = strdup(s);
	if (w->api_keys[w->n_api_keys])
		w->n_api_keys++;
	else
		c->oom = true;
}

static void check_api_keys(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy_workload *w = base;

	if (!cJSON_IsArray(v)) {
		secret_wrong_type(c, v, f->expect);
		return;
	}
	w->api_keys = alloc_for(c, v, sizeof(*w->api_keys));
	if (w->api_keys)
		for_each_element(c, v, w, check_api_key);
}

static void check_workload(struct ctx *c, const cJSON *e, void *arg)
{
	const struct schema *s = arg;
	struct policy_workload *w = &c->p->workloads[c->p->n_workloads++];

	/* the defaults the members may replace: a control is enforced unless it says not */
	w->allow.enforce = 1;
	w->limits.enforce = 1;
	w->budget.enforce = 1;
	w->team_idx = SIZE_MAX; /* root_finish's, once "teams" is read wherever it is */
	walk_object(c, e, s, "a workload object", w);
}

/*
 * Workload names key the limit and budget counters (govstate), so two workloads of one name
 * would share them. The earlier ones are in c->p->workloads, by their index in the array.
 */
static void check_workload_name(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	const cJSON *workloads = cJSON_GetObjectItemCaseSensitive(c->root, "workloads");
	struct json_locate_step steps[3] = {{NULL, c->path[0].index}};
	struct json_locate_pos pos = {0};
	size_t self = c->path[1].index;
	unsigned line, col;
	char msg[128];

	check_nonempty(c, v, f, base);
	if (!((struct policy_workload *)base)->name)
		return;
	for (size_t i = 0; i < self; i++) {
		const char *name = c->p->workloads[i].name;

		if (!name || strcmp(name, v->valuestring) != 0)
			continue;
		steps[1].index = i;
		steps[2].index = member_index(cJSON_GetArrayItem(workloads, i), "name");
		json_locate(c->text, c->len, steps, 3, &pos);
		line_col(c, pos.value, &line, &col);
		snprintf(msg, sizeof(msg), "already the name of workloads[%zu] at %u:%u", i, line,
			 col);
		bad_value(c, msg, "each workload name once");
		return;
	}
}

static void check_workloads(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	(void)base; /* the workloads go in c->p */
	if (!cJSON_IsArray(v)) {
		wrong_type(c, v, f->expect);
		return;
	}
	c->p->workloads = alloc_for(c, v, sizeof(*c->p->workloads));
	if (c->p->workloads)
		for_each_element(c, v, (void *)f->sub, check_workload);
}

/* ---- governance: allow lists, limits, budgets, teams ---- */

/*
 * Whether the string at the current path is written with a "\u0000" escape: cJSON ends the
 * string there, so the rest of what was written would silently not be matched.
 */
static bool raw_has_nul(const struct ctx *c)
{
	struct json_locate_pos pos;

	if (locate_current(c, &pos) < 0)
		return false;
	for (size_t i = pos.value; i + 1 < pos.end; i++) {
		if (c->text[i] != '\\')
			continue;
		if (c->text[i + 1] == 'u' && i + 6 <= pos.end && !memcmp(c->text + i + 2, "0000", 4))
			return true;
		i++; /* the escaped character is not the start of another escape */
	}
	return false;
}

/*
 * What is wrong with S as an fnmatch() pattern, or NULL. fnmatch has no compile step and takes
 * anything; these are what it would take as something its author did not mean: a trailing
 * '\\' (never matches) and an unclosed '[' (matched as itself).
 */
static const char *glob_problem(const char *s)
{
	size_t n = strlen(s);

	if (!n)
		return "an empty pattern";
	if (n > GLOB_MAX)
		return "longer than 255 characters";
	for (const char *q = s; *q; q++) {
		if ((unsigned char)*q < ' ' || *q == 0x7f)
			return "with a control character";
	}
	for (const char *q = s; *q; q++) {
		if (*q == '\\') {
			if (!q[1])
				return "ending in a lone '\\'";
			q++;
		} else if (*q == '[') {
			const char *end = q + 1;

			if (*end == '!' || *end == '^')
				end++;
			if (*end == ']')
				end++; /* a ']' first is a member, not the end */
			end = strchr(end, ']');
			if (!end)
				return "with a '[' that is never closed";
			q = end;
		}
	}
	return NULL;
}

static void check_glob(struct ctx *c, const cJSON *e, void *arg)
{
	struct policy_globs *g = arg;
	const char *s = want_string(c, e, EXPECT_GLOB), *why;

	if (!s)
		return;
	why = raw_has_nul(c) ? "with a NUL character" : glob_problem(s);
	if (why) {
		bad_value(c, why, EXPECT_GLOB);
		return;
	}
	g->globs[g->n] = strdup(s);
	if (g->globs[g->n])
		g->n++;
	else
		c->oom = true;
}

/* Whether V is an array of at most GLOBS_MAX elements (WHAT); else reports it. */
static bool want_list(struct ctx *c, const cJSON *v, const char *expect, const char *what)
{
	int n;

	if (!cJSON_IsArray(v)) {
		wrong_type(c, v, expect);
		return false;
	}
	n = cJSON_GetArraySize(v);
	if (n > GLOBS_MAX) {
		problem(c, AT_VALUE, "got %d %s; expected at most %d", n, what, GLOBS_MAX);
		return false;
	}
	return true;
}

static void check_globs(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy_globs *g = field_ptr(base, f);

	if (!want_list(c, v, f->expect, "patterns"))
		return;
	g->given = 1; /* even empty: an empty list allows nothing */
	g->globs = alloc_for(c, v, sizeof(*g->globs));
	if (g->globs)
		for_each_element(c, v, g, check_glob);
}

/* "METHOD /path-glob" into *EP (path_glob pointing into S); returns what is wrong, or NULL. */
static const char *parse_endpoint(const char *s, struct policy_endpoint *ep, const char **path)
{
	static const char *const methods[] = {"GET",	"POST", "PUT",	   "PATCH",
					      "DELETE", "HEAD", "OPTIONS", "*"};
	const char *space = strchr(s, ' '), *seg, *why;
	size_t n = space ? (size_t)(space - s) : 0, i;

	if (!space)
		return "with no space between the method and the path";
	if (!n || n >= sizeof(ep->method))
		return "with no known method";
	for (i = 0; i < n; i++)
		ep->method[i] = s[i] >= 'a' && s[i] <= 'z' ? s[i] - 'a' + 'A' : s[i];
	ep->method[n] = '\0';
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strcmp(ep->method, methods[i]) == 0)
			break;
	}
	if (i == sizeof(methods) / sizeof(methods[0]))
		return "with no known method";
	*path = space + 1;
	if (**path != '/')
		return "with a path not starting with \"/\" after one space";
	if (strpbrk(*path, " \t"))
		return "with a space in the path";
	if (strchr(*path, '?'))
		return "with a query (\"?\"); the path is matched without its query";
	if (strstr(*path, "//"))
		return "with an empty path segment \"//\"";
	/* a ".." segment would match a path no server takes for what it says */
	for (seg = *path; seg; seg = strchr(seg + 1, '/')) {
		if (strncmp(seg, "/..", 3) == 0 && (seg[3] == '/' || !seg[3]))
			return "with a \"..\" segment";
	}
	why = glob_problem(*path);
	return why;
}

static void check_endpoint(struct ctx *c, const cJSON *e, void *arg)
{
	struct policy_allow *a = arg;
	struct policy_endpoint *ep = &a->endpoints[a->n_endpoints];
	const char *s = want_string(c, e, EXPECT_ENDPOINT), *why, *path = NULL;

	if (!s)
		return;
	why = raw_has_nul(c) ? "with a NUL character" : parse_endpoint(s, ep, &path);
	if (why) {
		bad_value(c, why, EXPECT_ENDPOINT);
		return;
	}
	ep->path_glob = strdup(path);
	if (ep->path_glob)
		a->n_endpoints++;
	else
		c->oom = true;
}

static void check_endpoints(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy_allow *a = base;

	if (!want_list(c, v, f->expect, "endpoints"))
		return;
	a->endpoints_given = 1;
	a->endpoints = alloc_for(c, v, sizeof(*a->endpoints));
	if (a->endpoints)
		for_each_element(c, v, a, check_endpoint);
}

static void check_region(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	const char *s = want_string(c, v, f->expect), *why = NULL;
	size_t n;

	if (!s)
		return;
	n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
	if (!*s)
		why = "an empty name";
	else if (strlen(s) > REGION_MAX)
		why = "longer than 64 characters";
	else if (s[n] || raw_has_nul(c))
		why = "with a character other than letters, digits, '.', '_' and '-'";
	if (why)
		bad_value(c, why, f->expect);
	else
		set_string(c, field_ptr(base, f), s);
}

static void limits_finish(struct ctx *c, const struct members *m, void *base)
{
	static const char *const keys[] = {"requests_per_minute", "tokens_per_minute",
					   "concurrent", "connections", "buffer_bytes"};
	bool given;

	(void)base;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!member_ok(m, keys[i], &given) || given)
			return; /* a bad one is reported where it is */
	}
	problem(c, AT_VALUE,
			"got no limit; expected at least one of \"requests_per_minute\", "
			"\"tokens_per_minute\", \"concurrent\", \"connections\" or \"buffer_bytes\"");
}

/*
 * The JSON number TEXT[0..LEN) in nano-units (x 1e9), exactly: from the digits as written,
 * not from cJSON's double, which holds neither 0.1 nor 0.000000001. Returns what is wrong, or
 * NULL and *RET (above 0, at most BUDGET_USD_MAX units).
 *
 * A digit's place is the power of ten it stands for (exponent included); the value is in range
 * and a whole number of nanos when every non-zero digit sits in places -9..9, which is at most
 * 19 digits, so the sum fits a uint64 with room to spare before the final bound.
 */
static const char *parse_nano(const char *text, size_t len, int64_t *ret)
{
	const char *end = text + len, *q = text, *int_start, *int_end, *frac_start, *frac_end;
	long exp = 0, place, lead = LONG_MIN, last = LONG_MAX;
	bool neg = false, exp_neg = false;
	uint64_t nano = 0;

	if (q < end && *q == '-') {
		neg = true;
		q++;
	}
	int_start = q;
	while (q < end && *q >= '0' && *q <= '9')
		q++;
	int_end = frac_start = frac_end = q;
	if (q < end && *q == '.') {
		frac_start = ++q;
		while (q < end && *q >= '0' && *q <= '9')
			q++;
		frac_end = q;
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < end && (*q == '+' || *q == '-'))
			exp_neg = *q++ == '-';
		for (; q < end && *q >= '0' && *q <= '9'; q++)
			exp = exp < 1000000 ? exp * 10 + (*q - '0') : exp; /* far out is far out */
		if (exp_neg)
			exp = -exp;
	}
	if (q != end || int_start == int_end)
		return "not a plain number";
	/* the places of the first and the last non-zero digit */
	for (const char *d = int_start; d < frac_end; d++) {
		if (d == int_end)
			d = frac_start;
		if (d == frac_end)
			break;
		place = (d < int_end ? (long)(int_end - d) - 1 : -(long)(d - frac_start) - 1) + exp;
		if (*d != '0') {
			lead = lead == LONG_MIN ? place : lead;
			last = place;
		}
	}
	if (lead == LONG_MIN || neg)
		return "not above 0";
	if (lead > 9)
		return "more than 1000000000";
	if (last < -9)
		return "with more than 9 decimal places";
	for (const char *d = int_start; d < frac_end; d++) {
		if (d == int_end)
			d = frac_start;
		if (d == frac_end)
			break;
		place = (d < int_end ? (long)(int_end - d) - 1 : -(long)(d - frac_start) - 1) + exp;
		if (place >= -9 && place <= 9) {
			uint64_t unit = 1;

			for (long k = -9; k < place; k++)
				unit *= 10;
			nano += (uint64_t)(*d - '0') * unit;
		}
	}
	if (nano > (uint64_t)BUDGET_USD_MAX * NANO_PER_USD)
		return "more than 1000000000";
	*ret = (int64_t)nano;
	return NULL;
}

static void check_usd(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct json_locate_pos pos;
	const char *why;

	if (!cJSON_IsNumber(v)) {
		wrong_type(c, v, f->expect);
		return;
	}
	if (locate_current(c, &pos) < 0) {
		bad_value(c, "not found in the text", f->expect);
		return;
	}
	why = parse_nano(c->text + pos.value, pos.end - pos.value, field_ptr(base, f));
	if (why)
		bad_value(c, why, f->expect);
}

static void check_fraction(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	if (!cJSON_IsNumber(v)) {
		wrong_type(c, v, f->expect);
		return;
	}
	if (!(v->valuedouble > 0 && v->valuedouble <= 1)) {
		bad_value(c, NULL, f->expect);
		return;
	}
	*(double *)field_ptr(base, f) = v->valuedouble;
}

static void check_budget(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy_budget *b = field_ptr(base, f);

	b->given = 1;
	walk_object(c, v, f->sub, f->expect, b);
}

static void budget_finish(struct ctx *c, const struct members *m, void *base)
{
	bool day, month;

	(void)base;
	if (member_ok(m, "usd_per_day", &day) && member_ok(m, "usd_per_month", &month) && !day &&
	    !month)
		problem(c, AT_VALUE,
			"got no amount; expected \"usd_per_day\", \"usd_per_month\" or both");
}

/* ERR without the "guardrails.NAME." it starts with (the message's path says it already). */
static const char *guard_err_after_path(const char *err, const char *name)
{
	size_t n = strlen("guardrails."), len = strlen(name);

	if (!strncmp(err, "guardrails.", n) && !strncmp(err + n, name, len) &&
	    err[n + len] == '.')
		return err + n + len + 1;
	return err;
}

/* One member of "guardrails": a profile, compiled now (guard_profile_parse() says what is
 * wrong with it, naming the key). */
static void check_guardrail(struct ctx *c, const cJSON *all, const cJSON *e,
			    const struct schema *s)
{
	struct policy_guardrails *g;
	char err[512] = "";

	(void)s;
	if (!*e->string) {
		problem(c, AT_KEY, "an empty profile name; expected a non-empty string");
		return;
	}
	if (!member_first(all, e)) {
		duplicate_key(c, e->string);
		return;
	}
	if (!cJSON_IsObject(e)) {
		wrong_type(c, e, "an object with \"request\", \"response\" and/or \"patterns\"");
		return;
	}
	g = &c->p->guardrails[c->p->n_guardrails++];
	set_string(c, &g->name, e->string);
	if (guard_profile_parse(e->string, e, &g->profile, err, sizeof(err)) == -ENOMEM)
		c->oom = true;
	else if (!g->profile)
		problem(c, AT_VALUE, "%s", guard_err_after_path(err, e->string));
}

static void check_guardrails(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	(void)base; /* the profiles go in c->p */
	check_named_entries(c, v, f, (void **)&c->p->guardrails, sizeof(*c->p->guardrails),
			    check_guardrail);
}

/* A workload's "guardrails": the name of a profile of the top level's "guardrails". */
static void check_guardrails_name(struct ctx *c, const cJSON *v, const struct field *f,
				  void *base)
{
	const cJSON *all = cJSON_GetObjectItemCaseSensitive(c->root, "guardrails");

	check_nonempty(c, v, f, base);
	if (!((struct policy_workload *)base)->guardrails)
		return;
	if (!cJSON_GetObjectItemCaseSensitive(all, v->valuestring))
		bad_value(c, "no profile of that name in \"guardrails\"",
			  "the name of a profile of the top-level \"guardrails\"");
}

/* One member of "teams", with the current path at it. */
static void check_team(struct ctx *c, const cJSON *teams, const cJSON *e, const struct schema *s)
{
	struct policy_team *t;

	if (!*e->string) {
		problem(c, AT_KEY, "an empty team name; expected a non-empty string");
		return;
	}
	if (!member_first(teams, e)) {
		duplicate_key(c, e->string);
		return;
	}
	t = &c->p->teams[c->p->n_teams++];
	set_string(c, &t->name, e->string);
	t->budget.enforce = 1;
	walk_object(c, e, s, "an object with \"budget\"", t);
}

static void check_teams(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	(void)base; /* the teams go in c->p */
	check_named_entries(c, v, f, (void **)&c->p->teams, sizeof(*c->p->teams), check_team);
}

/* The checkpoint key beside the CA's, the checkpoint file beside the log, unless given. */
static void checkpoint_defaults(struct ctx *c, struct policy *p)
{
	char **key = &p->audit.checkpoint.key, **path = &p->audit.checkpoint.path;

	if (!*key && p->ca.dir && asprintf(key, "%s/" DEFAULT_CHECKPOINT_KEY, p->ca.dir) < 0) {
		*key = NULL;
		c->oom = true;
	}
	if (!*path && p->audit.path &&
	    asprintf(path, "%s" DEFAULT_CHECKPOINT_SUFFIX, p->audit.path) < 0) {
		*path = NULL;
		c->oom = true;
	}
}

static uint16_t sockaddr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

/*
 * Under scope "tls" every captured connection to a TLS port goes to the proxy, whatever its
 * address: the gateway's own listeners must not be on one, or captured apps dialling them
 * (the explicit endpoint, the admin API) would land on the capture proxy, and the proxy's
 * listener on itself. Reported at tls_ports (or tls_port, as given).
 */
static void tls_ports_apart_from_listeners(struct ctx *c, const struct members *m,
					   const struct policy *p)
{
	const cJSON *cap = cJSON_GetObjectItemCaseSensitive(m->obj, "capture");
	struct {
		const char *name;
		uint16_t port;
	} own[] = {
	    {"capture.listen", ntohs(p->capture.listen4.sin_port)},
	    {"capture.listen6", ntohs(p->capture.listen6.sin6_port)},
	    {"api.listen", p->api.has_listen ? sockaddr_port(&p->api.listen) : 0},
	    {"admin.listen", p->admin.has_listen ? sockaddr_port(&p->admin.listen) : 0},
	};
	const char *key;

	if (p->capture.scope != POLICY_SCOPE_TLS || !cJSON_IsObject(cap))
		return;
	key = cJSON_GetObjectItemCaseSensitive(cap, "tls_ports")  ? "tls_ports"
	      : cJSON_GetObjectItemCaseSensitive(cap, "tls_port") ? "tls_port"
								  : NULL; /* 443 */
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		if (!own[i].port || !tls_port_listed(p, own[i].port))
			continue;
		path_push_member(c, m->obj, "capture");
		if (key)
			path_push_member(c, cap, key);
		problem(
		    c, AT_VALUE,
		    "port %u is also %s's: under scope \"tls\" captured connections to it would "
		    "go to the capture proxy; expected TLS ports apart from the gateway's own "
		    "listeners",
		    own[i].port, own[i].name);
		if (key)
			path_pop(c);
		path_pop(c);
		return;
	}
}

/*
 * A workload's team is found once the whole file is read, "teams" may come after "workloads".
 * A team with no entry in "teams" is fine: it names a group in records, with no budget.
 */
static void root_finish(struct ctx *c, const struct members *m, void *base)
{
	struct policy *p = base;

	checkpoint_defaults(c, p);
	tls_ports_apart_from_listeners(c, m, p);
	for (size_t i = 0; i < p->n_workloads; i++) {
		struct policy_workload *w = &p->workloads[i];

		for (size_t j = 0; w->guardrails && j < p->n_guardrails; j++)
			if (!strcmp(p->guardrails[j].name, w->guardrails))
				w->guard = p->guardrails[j].profile;
		w->team_idx = SIZE_MAX;
		for (size_t j = 0; w->team && j < p->n_teams; j++) {
			if (p->teams[j].name && strcmp(p->teams[j].name, w->team) == 0) {
				w->team_idx = j;
				break;
			}
		}
	}
}

/* ---- the CA ---- */

/* Checks the DNS name E and appends it, lowercased, to LIST[*N] (room for it allocated). */
static void add_domain(struct ctx *c, const cJSON *e, char **list, size_t *n)
{
	const char *s = want_string(c, e, EXPECT_DOMAIN), *why;
	char *copy;

	if (!s)
		return;
	why = name_problem(s, "an IP address");
	if (!why && !strchr(s, '.'))
		why = "a single label";
	if (why) {
		bad_value(c, why, EXPECT_DOMAIN);
		return;
	}
	copy = strdup(s);
	if (!copy) {
		c->oom = true;
		return;
	}
	list[(*n)++] = ascii_lower(copy);
}

static void check_domain(struct ctx *c, const cJSON *e, void *arg)
{
	struct policy *p = arg;

	add_domain(c, e, p->ca.domains, &p->ca.n_domains);
}

static void check_domains(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy *p = base;
	int n;

	if (!cJSON_IsArray(v)) {
		wrong_type(c, v, f->expect);
		return;
	}
	n = cJSON_GetArraySize(v);
	if (n == 0) {
		problem(c, AT_VALUE,
			"got an empty array; expected at least one DNS name (or no \"domains\", "
			"to derive them from the providers' hosts)");
		return;
	}
	if (n > CA_DOMAINS_MAX) {
		problem(c, AT_VALUE, "got %d names; expected at most %d", n, CA_DOMAINS_MAX);
		return;
	}
	p->ca.domains = alloc_for(c, v, sizeof(*p->ca.domains));
	if (p->ca.domains)
		for_each_element(c, v, p, check_domain);
}

/* ---- the AI service catalogue ---- */

static void check_ai_domain(struct ctx *c, const cJSON *e, void *arg)
{
	struct policy_ai_service *svc = arg;

	add_domain(c, e, svc->domains, &svc->n_domains);
}

static void check_ai_domains(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy_ai_service *svc = base;
	int n;

	if (!cJSON_IsArray(v)) {
		wrong_type(c, v, f->expect);
		return;
	}
	n = cJSON_GetArraySize(v);
	if (n == 0 || n > AI_DOMAINS_MAX) {
		problem(c, AT_VALUE, "got %d names; expected 1..%d", n, AI_DOMAINS_MAX);
		return;
	}
	svc->domains = alloc_for(c, v, sizeof(*svc->domains));
	if (svc->domains)
		for_each_element(c, v, svc, check_ai_domain);
}

static void check_ai_service(struct ctx *c, const cJSON *e, void *arg)
{
	const struct schema *s = arg;

	walk_object(c, e, s, "an AI service object",
		    &c->p->ai_services[c->p->n_ai_services++]);
}

static void check_ai_services(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	(void)base; /* the services go in c->p */
	if (!cJSON_IsArray(v)) {
		wrong_type(c, v, f->expect);
		return;
	}
	c->p->ai_services = alloc_for(c, v, sizeof(*c->p->ai_services));
	if (c->p->ai_services)
		for_each_element(c, v, (void *)f->sub, check_ai_service);
}

/* ---- the schema ---- */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define REQUIRED true
#define OPTIONAL false
#define CAPTURE(member) offsetof(struct policy, capture.member)
#define FIELD(k, req, fn, offset, exp)                                                             \
	{                                                                                          \
		.key = k, .required = req, .check = fn, .off = offset, .expect = exp               \
	}
#define NESTED(k, req, fn, schema, exp)                                                            \
	{                                                                                          \
		.key = k, .required = req, .check = fn, .sub = &(schema), .expect = exp            \
	}
/* An object or a list in MEMBER of TYPE, filling the struct there, like a workload's "allow". */
#define NESTED_IN(type, k, req, fn, schema, member, exp)                                           \
	{                                                                                          \
		.key = k, .required = req, .check = fn, .off = offsetof(type, member),             \
		.sub = &(schema), .expect = exp                                                    \
	}
/* An optional integer LO..HI in MEMBER of TYPE, like struct policy_target's weight. */
#define UINT_IN(type, k, member, lo, hi, exp)                                                      \
	{                                                                                          \
		.key = k, .check = check_uint, .off = offsetof(type, member),                      \
		.size = sizeof(((type *)0)->member), .min = lo, .max = hi, .expect = exp           \
	}
/* The same in struct policy, like capture.tls_port. */
#define UINT_FIELD(k, member, lo, hi, exp) UINT_IN(struct policy, k, member, lo, hi, exp)

static const struct field capture_fields[] = {
    FIELD("cgroup", REQUIRED, check_cgroup, CAPTURE(cgroup),
	  "a cgroup path like \"/apps\", relative to the cgroup2 mount"),
    FIELD("listen", OPTIONAL, check_listen4, CAPTURE(listen4),
	  "\"IPv4:PORT\" on loopback, like \"127.0.0.1:15001\""),
    FIELD("listen6", OPTIONAL, check_listen6, CAPTURE(listen6),
	  "\"[IPv6]:PORT\" on loopback, like \"[::1]:15001\""),
    FIELD("mode", OPTIONAL, check_mode, CAPTURE(mode), "\"enforce\" or \"observe\""),
    UINT_FIELD("tls_port", capture.tls_port, 1, 65535, "an integer 1..65535"),
    FIELD("scope", OPTIONAL, check_scope, CAPTURE(scope), "\"tls\" or \"providers\""),
    FIELD("tls_ports", OPTIONAL, check_tls_ports, 0, EXPECT_TLS_PORTS),
    UINT_FIELD("exempt_mark", capture.exempt_mark, 1, UINT32_MAX, "an integer 1..4294967295"),
    UINT_FIELD("resolve_min_s", capture.resolve_min_s, 1, UINT32_MAX, "an integer >= 1 (seconds)"),
    UINT_FIELD("resolve_max_s", capture.resolve_max_s, 1, UINT32_MAX, "an integer >= 1 (seconds)"),
    FIELD("destroy_preexisting", OPTIONAL, check_bool, CAPTURE(destroy_preexisting),
	  "true or false"),
    FIELD("unsanctioned_ai", OPTIONAL, check_unsanctioned_ai, CAPTURE(unsanctioned_ai),
	  "\"record\" or \"deny\""),
    FIELD("fronting", OPTIONAL, check_fronting, CAPTURE(fronting), "\"deny\" or \"passthrough\""),
    FIELD("netns_listeners", OPTIONAL, check_bool, CAPTURE(netns_listeners), "true or false"),
    UINT_FIELD("netns_max", capture.netns_max, 1, AIGW_NETNS_MAX,
	       "an integer 1..1024 (network namespaces, aigw's own included)"),
};
static const struct schema capture_schema = {capture_fields, ARRAY_SIZE(capture_fields),
					     capture_finish};

static const struct field checkpoint_fields[] = {
    UINT_FIELD("every_records", audit.checkpoint.every_records, 0, UINT32_MAX,
	       "an integer >= 0 (records; 0 checkpoints not by count)"),
    UINT_FIELD("every_s", audit.checkpoint.every_s, 0, 86400,
	       "an integer 0..86400 (seconds; 0 checkpoints not by time)"),
    FIELD("key", OPTIONAL, check_nonempty, offsetof(struct policy, audit.checkpoint.key),
	  "a non-empty file path (the Ed25519 key, made on first run)"),
    FIELD("path", OPTIONAL, check_nonempty, offsetof(struct policy, audit.checkpoint.path),
	  "a non-empty file path (ideally on another disk)"),
};
static const struct schema checkpoint_schema = {checkpoint_fields, ARRAY_SIZE(checkpoint_fields),
						NULL};

static const struct field audit_fields[] = {
    FIELD("path", REQUIRED, check_nonempty, offsetof(struct policy, audit.path),
	  "a non-empty file path"),
    UINT_FIELD("rotate_bytes", audit.rotate_bytes, 0, ROTATE_BYTES_MAX,
	       "an integer >= 0 (bytes; 0 never rotates)"),
    UINT_FIELD("keep", audit.keep, 0, 1000, "an integer 0..1000 (rotated files kept)"),
    FIELD("on_failure", OPTIONAL, check_audit_on_failure, offsetof(struct policy, audit.on_failure),
	  "\"block\" or \"continue\""),
    FIELD("durability", OPTIONAL, check_audit_durability,
	  offsetof(struct policy, audit.durability), "\"batched\" or \"strict\""),
    NESTED("checkpoint", OPTIONAL, check_object, checkpoint_schema,
	   "an object with \"every_records\", \"every_s\", \"key\" and/or \"path\""),
};
static const struct schema audit_schema = {audit_fields, ARRAY_SIZE(audit_fields), NULL};

static const struct field ca_fields[] = {
    FIELD("dir", OPTIONAL, check_nonempty, offsetof(struct policy, ca.dir),
	  "a non-empty directory path"),
    FIELD("domains", OPTIONAL, check_domains, 0,
	  "an array of DNS names, like [\"openai.com\", \"anthropic.com\"]"),
};
static const struct schema ca_schema = {ca_fields, ARRAY_SIZE(ca_fields), NULL};

static const struct field tls_fields[] = {
    FIELD("upstream_ca", OPTIONAL, check_nonempty, offsetof(struct policy, tls.upstream_ca),
	  "a non-empty path to a PEM CA bundle"),
};
static const struct schema tls_schema = {tls_fields, ARRAY_SIZE(tls_fields), NULL};

#define EXPECT_TIMEOUT "an integer 1..86400000 (milliseconds)"
static const struct field timeouts_fields[] = {
    UINT_FIELD("connect_ms", proxy.connect_timeout_ms, 1, TIMEOUT_MS_MAX, EXPECT_TIMEOUT),
    UINT_FIELD("tls_handshake_ms", proxy.tls_handshake_timeout_ms, 1, TIMEOUT_MS_MAX,
	       EXPECT_TIMEOUT),
    UINT_FIELD("first_byte_ms", proxy.first_byte_timeout_ms, 1, TIMEOUT_MS_MAX, EXPECT_TIMEOUT),
    UINT_FIELD("idle_ms", proxy.idle_timeout_ms, 1, TIMEOUT_MS_MAX, EXPECT_TIMEOUT),
    UINT_FIELD("client_idle_ms", proxy.client_idle_timeout_ms, 1, TIMEOUT_MS_MAX, EXPECT_TIMEOUT),
    UINT_FIELD("passthrough_idle_ms", proxy.passthrough_idle_timeout_ms, 1, TIMEOUT_MS_MAX,
	       EXPECT_TIMEOUT),
};
static const struct schema timeouts_schema = {timeouts_fields, ARRAY_SIZE(timeouts_fields), NULL};

static const struct field proxy_limits_fields[] = {
    UINT_FIELD("buffer_bytes", proxy.buffer_bytes, 1048576, 1099511627776LL,
	       "an integer 1048576..1099511627776 (bytes)"),
};
static const struct schema proxy_limits_schema = {proxy_limits_fields,
						  ARRAY_SIZE(proxy_limits_fields), NULL};

static void check_status(struct ctx *c, const cJSON *e, void *arg)
{
	struct policy *p = arg;
	double d = cJSON_IsNumber(e) ? e->valuedouble : 0;

	/* The range first: converting an out-of-range double to int is undefined. */
	if (!(d >= 400 && d <= 599) || d != (double)(int)d) {
		wrong_type(c, e, "an HTTP status 400..599");
		return;
	}
	if (p->routing.n_retry_statuses < 16)
		p->routing.retry_statuses[p->routing.n_retry_statuses++] = (int)d;
}

static void check_statuses(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy *p = base;

	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > 16) {
		wrong_type(c, v, f->expect);
		return;
	}
	p->routing.n_retry_statuses = 0;
	for_each_element(c, v, p, check_status);
}

static const struct field breaker_fields[] = {
    UINT_FIELD("failures", routing.breaker_failures, 1, 1000,
	       "an integer 1..1000 (failed attempts in a row)"),
    UINT_FIELD("open_ms", routing.breaker_open_ms, 100, 3600000,
	       "an integer 100..3600000 (milliseconds)"),
};
static const struct schema breaker_schema = {breaker_fields, ARRAY_SIZE(breaker_fields), NULL};

static const struct field routing_fields[] = {
    UINT_FIELD("retries", routing.retries, 0, 10, "an integer 0..10"),
    FIELD("retry_statuses", OPTIONAL, check_statuses, 0,
	  "an array of at most 16 HTTP statuses 400..599"),
    UINT_FIELD("backoff_ms", routing.backoff_ms, 1, 60000, "an integer 1..60000 (milliseconds)"),
    UINT_FIELD("backoff_max_ms", routing.backoff_max_ms, 1, 600000,
	       "an integer 1..600000 (milliseconds)"),
    NESTED("breaker", OPTIONAL, check_object, breaker_schema,
	   "an object with \"failures\" and/or \"open_ms\""),
};
static const struct schema routing_schema = {routing_fields, ARRAY_SIZE(routing_fields), NULL};

static const struct field proxy_fields[] = {
    FIELD("non_tls", OPTIONAL, check_non_tls, offsetof(struct policy, proxy.non_tls),
	  "\"close\" or \"passthrough\""),
    UINT_FIELD("max_request_body", proxy.max_request_body, 1024, 1073741824,
	       "an integer 1024..1073741824 (bytes)"),
    UINT_FIELD("max_request_json_values", proxy.max_request_json_values, 1000, 16777216,
	       "an integer 1000..16777216 (values: objects, arrays, strings, numbers, ...)"),
    NESTED("timeouts", OPTIONAL, check_object, timeouts_schema, "an object of timeouts"),
    UINT_FIELD("workers", proxy.workers, 1, 64,
	       "an integer 1..64 (event loops; absent: one per online CPU)"),
    NESTED("limits", OPTIONAL, check_object, proxy_limits_schema,
	   "an object with \"buffer_bytes\""),
};
static const struct schema proxy_schema = {proxy_fields, ARRAY_SIZE(proxy_fields), NULL};

/* These fill a provider's struct policy_aws. */
static const struct field aws_fields[] = {
    FIELD("region", REQUIRED, check_region, offsetof(struct policy_aws, region),
	  "an AWS region, like \"us-east-1\""),
    FIELD("access_key_id_env", REQUIRED, check_nonempty,
	  offsetof(struct policy_aws, access_key_id_env),
	  "the name of an environment variable holding the gateway's AWS access key id"),
    FIELD("secret_access_key_env", REQUIRED, check_nonempty,
	  offsetof(struct policy_aws, secret_access_key_env),
	  "the name of an environment variable holding the gateway's AWS secret access key"),
    FIELD("session_token_env", OPTIONAL, check_nonempty,
	  offsetof(struct policy_aws, session_token_env),
	  "the name of an environment variable holding an AWS session token"),
};
static const struct schema aws_schema = {aws_fields, ARRAY_SIZE(aws_fields), NULL};

/* "aws": the object, and the provider marked as having it. */
static void check_aws(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy_provider *pr = base;

	pr->has_aws = 1;
	check_object(c, v, f, base);
}

/* These fill a struct policy_provider. */
static const struct field provider_fields[] = {
    FIELD("hosts", OPTIONAL, check_hosts, 0, "an array of DNS host names"),
    FIELD("addresses", OPTIONAL, check_addresses, 0, "an array of IP addresses or CIDRs"),
    FIELD("key_env", OPTIONAL, check_nonempty, offsetof(struct policy_provider, key_env),
	  "the name of an environment variable holding the gateway's key"),
    FIELD("key_file", OPTIONAL, check_nonempty, offsetof(struct policy_provider, key_file),
	  "the path of a file holding the gateway's key"),
    FIELD("api", OPTIONAL, check_api, offsetof(struct policy_provider, api),
	  "\"openai\", \"anthropic\", \"azure_openai\", \"vertex\", \"gemini\" or \"bedrock\""),
    FIELD("credentials_file", OPTIONAL, check_nonempty,
	  offsetof(struct policy_provider, credentials_file),
	  "the path of a Google service-account key file (JSON)"),
    FIELD("token_url", OPTIONAL, check_nonempty, offsetof(struct policy_provider, token_url),
	  "the URL of the OAuth token endpoint, like \"https://oauth2.googleapis.com/token\""),
    FIELD("project", OPTIONAL, check_nonempty, offsetof(struct policy_provider, project),
	  "a Google Cloud project id"),
    FIELD("base_url", OPTIONAL, check_base_url, 0, EXPECT_BASE_URL),
    FIELD("api_root", OPTIONAL, check_api_root, 0,
	  "a path like \"/openai/v1\" (or \"\"), where the provider serves what OpenAI serves "
	  "under /v1"),
    FIELD("region", OPTIONAL, check_region, offsetof(struct policy_provider, region),
	  "1..64 letters, digits, '.', '_' or '-', like \"eu\" or \"us-east-1\""),
    FIELD("deployments", OPTIONAL, check_deployments, 0,
	  "an object {\"DEPLOYMENT\": \"MODEL\"}: the model each Azure deployment runs"),
    FIELD("token_file", OPTIONAL, check_nonempty, offsetof(struct policy_provider, token_file),
	  "the path of a file holding an Entra ID access token"),
    NESTED_IN(struct policy_provider, "aws", OPTIONAL, check_aws, aws_schema, aws,
	      "an object with \"region\", \"access_key_id_env\", \"secret_access_key_env\" "
	      "and optionally \"session_token_env\""),
};
static const struct schema provider_schema = {provider_fields, ARRAY_SIZE(provider_fields),
					      provider_finish};

/* These fill a struct policy_target. */
static const struct field target_fields[] = {
    FIELD("provider", REQUIRED, check_nonempty, offsetof(struct policy_target, provider),
	  "the name of a provider, a key of \"providers\""),
    FIELD("model", REQUIRED, check_model_name, offsetof(struct policy_target, model),
	  "the provider's name of the model, 1..127 characters"),
    UINT_IN(struct policy_target, "weight", weight, 1, 1000, "an integer 1..1000"),
};
static const struct schema target_schema = {target_fields, ARRAY_SIZE(target_fields),
					    target_finish};

/* api.socket: a UNIX socket path, absolute, that fits in sockaddr_un. */
static void check_api_socket(struct ctx *c, const cJSON *v, const struct field *f, void *base)
{
	struct policy *p = base;
	const char *s = want_string(c, v, f->expect);

	if (!s)
		return;
	if (s[0] != '/' || strlen(s) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		bad_value(c, s[0] != '/' ? "not an absolute path" : "too long", f->expect);
		return;
	}
	p->api.socket = strdup(s);
	if (!p->api.socket)
		c->oom = true;
	p->api.enabled = 1;
}

static void api_finish(struct ctx *c, const struct members *m, void *base)
{
	bool listen, sock;

	if (member_ok(m, "listen", &listen) && member_ok(m, "socket", &sock) && !listen && !sock)
		problem(c, AT_VALUE, "got neither \"listen\" nor \"socket\"; expected one of them "
				     "or both");
}

static const struct field api_fields[] = {
    FIELD("listen", OPTIONAL, check_api_listen, 0,
	  "\"IPv4:PORT\" or \"[IPv6]:PORT\", like \"127.0.0.1:8080\" or \"[::1]:8080\""),
    FIELD("socket", OPTIONAL, check_api_socket, 0,
	  "an absolute path for a UNIX socket, shorter than 108 bytes"),
};
static const struct schema api_schema = {api_fields, ARRAY_SIZE(api_fields), api_finish};

/* These, and a workload's, fill a struct policy_workload. */
static const struct field match_fields[] = {
    FIELD("cgroup", REQUIRED, check_nonempty, offsetof(struct policy_workload, cgroup_glob),
	  "a non-empty cgroup path glob, like \"/apps/*\""),
};
static const struct schema match_schema = {match_fields, ARRAY_SIZE(match_fields), NULL};

/* "allow", "limits" and "budget" fill their own structs, a workload's or a team's member. */
static const struct field allow_fields[] = {
    FIELD("models", OPTIONAL, check_globs, offsetof(struct policy_allow, models),
	  "an array of model name globs, like [\"gpt-4o*\"]"),
    FIELD("providers", OPTIONAL, check_globs, offsetof(struct policy_allow, providers),
	  "an array of provider name globs, like [\"openai\"]"),
    FIELD("regions", OPTIONAL, check_globs, offsetof(struct policy_allow, regions),
	  "an array of region globs, like [\"eu*\"]"),
    FIELD("endpoints", OPTIONAL, check_endpoints, 0,
	  "an array of \"METHOD /path-glob\", like [\"POST /v1/chat/completions\"]"),
    FIELD("enforce", OPTIONAL, check_bool, offsetof(struct policy_allow, enforce),
	  "true or false"),
};
static const struct schema allow_schema = {allow_fields, ARRAY_SIZE(allow_fields), NULL};

static const struct field limits_fields[] = {
    UINT_IN(struct policy_limits, "requests_per_minute", requests_per_minute, 1, 10000000,
	    "an integer 1..10000000"),
    UINT_IN(struct policy_limits, "tokens_per_minute", tokens_per_minute, 1, 1000000000000LL,
	    "an integer 1..1000000000000 (input and output tokens)"),
    UINT_IN(struct policy_limits, "concurrent", concurrent, 1, 1000000,
	    "an integer 1..1000000 (calls in flight)"),
    UINT_IN(struct policy_limits, "connections", connections, 1, 1000000,
	    "an integer 1..1000000 (open client connections)"),
    UINT_IN(struct policy_limits, "buffer_bytes", buffer_bytes, 1024, 1099511627776LL,
	    "an integer 1024..1099511627776 (bytes held at once)"),
    FIELD("enforce", OPTIONAL, check_bool, offsetof(struct policy_limits, enforce),
	  "true or false"),
};
static const struct schema limits_schema = {limits_fields, ARRAY_SIZE(limits_fields),
					    limits_finish};

static const struct field budget_fields[] = {
    FIELD("usd_per_day", OPTIONAL, check_usd, offsetof(struct policy_budget, nano_per_day),
	  EXPECT_USD),
    FIELD("usd_per_month", OPTIONAL, check_usd, offsetof(struct policy_budget, nano_per_month),
	  EXPECT_USD),
    FIELD("warn_at", OPTIONAL, check_fraction, offsetof(struct policy_budget, warn_at),
	  "a fraction of the budget above 0, at most 1, like 0.8"),
    FIELD("cap_max_tokens", OPTIONAL, check_bool, offsetof(struct policy_budget, cap_max_tokens),
	  "true or false"),
    FIELD("enforce", OPTIONAL, check_bool, offsetof(struct policy_budget, enforce),
	  "true or false"),
};
static const struct schema budget_schema = {budget_fields, ARRAY_SIZE(budget_fields),
					    budget_finish};

static const struct field team_fields[] = {
    NESTED_IN(struct policy_team, "budget", REQUIRED, check_budget, budget_schema, budget,
	      "an object with \"usd_per_day\" and/or \"usd_per_month\""),
};
static const struct schema team_schema = {team_fields, ARRAY_SIZE(team_fields), NULL};

static const struct field state_fields[] = {
    FIELD("path", OPTIONAL, check_nonempty, offsetof(struct policy, state.path),
	  "a non-empty file path"),
};
static const struct schema state_schema = {state_fields, ARRAY_SIZE(state_fields), NULL};

static const struct field ledger_fields[] = {
    FIELD("path", OPTIONAL, check_nonempty, offsetof(struct policy, ledger.path),
	  "a non-empty file path"),
};
static const struct schema ledger_schema = {ledger_fields, ARRAY_SIZE(ledger_fields), NULL};
static const struct field admin_fields[] = {
    FIELD("listen", REQUIRED, check_admin_listen, 0,
	  "\"IPv4:PORT\" or \"[IPv6]:PORT\", like \"127.0.0.1:9464\""),
    FIELD("token_file", OPTIONAL, check_nonempty, offsetof(struct policy, admin.token_file),
	  "the path of a file holding the bearer token callers off loopback present"),
};
static const struct schema admin_schema = {admin_fields, ARRAY_SIZE(admin_fields), NULL};

static const struct field workload_fields[] = {
    FIELD("name", REQUIRED, check_workload_name, offsetof(struct policy_workload, name),
	  "a non-empty string"),
    FIELD("team", OPTIONAL, check_string, offsetof(struct policy_workload, team), "a string"),
    FIELD("own_keys", OPTIONAL, check_bool, offsetof(struct policy_workload, own_keys),
	  "true or false"),
    NESTED("match", REQUIRED, check_object, match_schema, "an object with \"cgroup\""),
    FIELD("api_keys", OPTIONAL, check_api_keys, 0, "an array of gateway keys"),
    NESTED_IN(struct policy_workload, "allow", OPTIONAL, check_object, allow_schema, allow,
	      "an object of what the workload may use"),
    NESTED_IN(struct policy_workload, "limits", OPTIONAL, check_object, limits_schema, limits,
	      "an object of limits"),
    NESTED_IN(struct policy_workload, "budget", OPTIONAL, check_budget, budget_schema, budget,
	      "an object with \"usd_per_day\" and/or \"usd_per_month\""),
    FIELD("guardrails", OPTIONAL, check_guardrails_name,
	  offsetof(struct policy_workload, guardrails),
	  "the name of a profile of the top-level \"guardrails\""),
};
static const struct schema workload_schema = {workload_fields, ARRAY_SIZE(workload_fields), NULL};

/* These fill a struct policy_ai_service. */
static const struct field ai_service_fields[] = {
    FIELD("name", REQUIRED, check_nonempty, offsetof(struct policy_ai_service, name),
	  "the service's name, like \"Mistral AI\""),
    FIELD("domains", REQUIRED, check_ai_domains, 0,
	  "an array of 1..64 DNS names, like [\"mistral.ai\"]; each covers the names below it"),
};
static const struct schema ai_service_schema = {ai_service_fields, ARRAY_SIZE(ai_service_fields),
						NULL};
#define AI_SERVICES_FIELD(req)                                                                     \
	NESTED("ai_services", req, check_ai_services, ai_service_schema,                            \
	       "an array of AI services, like [{\"name\": \"Mistral AI\", \"domains\": "           \
	       "[\"mistral.ai\"]}]")

/* A catalogue file (policies/ai-services.json): the key alone. */
static const struct field catalogue_fields[] = {AI_SERVICES_FIELD(REQUIRED)};
static const struct schema catalogue_schema = {catalogue_fields, ARRAY_SIZE(catalogue_fields),
					       NULL};

/* "capture", "audit", "ca", "tls", "proxy", "routing", "api", "state" and "admin" fill struct
 * policy itself, as the top level does. */
static const struct field root_fields[] = {
    NESTED("capture", REQUIRED, check_object, capture_schema, "an object"),
    NESTED("audit", REQUIRED, check_object, audit_schema, "an object"),
    NESTED("providers", REQUIRED, check_providers, provider_schema,
	   "an object of providers by name"),
    NESTED("workloads", OPTIONAL, check_workloads, workload_schema, "an array of workload objects"),
    NESTED("ca", OPTIONAL, check_object, ca_schema, "an object"),
    NESTED("tls", OPTIONAL, check_object, tls_schema, "an object"),
    NESTED("proxy", OPTIONAL, check_object, proxy_schema, "an object"),
    FIELD("prices", OPTIONAL, check_nonempty, offsetof(struct policy, prices),
	  "the path of a price table (JSON)"),
    NESTED("routing", OPTIONAL, check_object, routing_schema, "an object"),
    NESTED("models", OPTIONAL, check_models, target_schema,
	   "an object of logical model names, each an array of targets"),
    NESTED("api", OPTIONAL, check_object, api_schema,
	   "an object with \"listen\", \"socket\" or both"),
    NESTED("teams", OPTIONAL, check_teams, team_schema,
	   "an object of teams by name, each with a \"budget\""),
    NESTED("state", OPTIONAL, check_object, state_schema, "an object with \"path\""),
    NESTED("ledger", OPTIONAL, check_object, ledger_schema, "an object with \"path\""),
    NESTED("admin", OPTIONAL, check_object, admin_schema,
	   "an object with \"listen\" and optionally \"token_file\""),
    AI_SERVICES_FIELD(OPTIONAL),
    FIELD("guardrails", OPTIONAL, check_guardrails, 0, "an object of guardrail profiles by name"),
};
static const struct schema root_schema = {root_fields, ARRAY_SIZE(root_fields), root_finish};

/* ---- loading ---- */

static struct policy *policy_new(const char *name)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->refs = 1;
	p->path = strdup(name);
	p->ca.dir = strdup(DEFAULT_CA_DIR);
	p->state.path = strdup(DEFAULT_STATE_PATH);
	if (!p->path || !p->ca.dir || !p->state.path) {
		free(p->path);
		free(p->ca.dir);
		free(p->state.path);
		free(p);
		return NULL;
	}
	p->capture.listen4.sin_family = AF_INET;
	p->capture.listen4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->capture.listen4.sin_port = htons(DEFAULT_LISTEN_PORT);
	p->capture.listen6.sin6_family = AF_INET6;
	p->capture.listen6.sin6_addr = in6addr_loopback;
	p->capture.listen6.sin6_port = htons(DEFAULT_LISTEN_PORT);
	p->capture.mode = POLICY_CAPTURE_ENFORCE;
	p->capture.tls_port = DEFAULT_TLS_PORT;
	p->capture.scope = POLICY_SCOPE_TLS;
	p->capture.tls_ports[0] = DEFAULT_TLS_PORT;
	p->capture.n_tls_ports = 1;
	p->capture.exempt_mark = DEFAULT_EXEMPT_MARK;
	p->capture.resolve_min_s = DEFAULT_RESOLVE_MIN_S;
	p->capture.resolve_max_s = DEFAULT_RESOLVE_MAX_S;
	p->capture.destroy_preexisting = 1;
	p->capture.netns_listeners = 1;
	p->capture.netns_max = AIGW_NETNS_MAX;
	p->audit.rotate_bytes = 0;
	p->audit.keep = DEFAULT_AUDIT_KEEP;
	p->audit.checkpoint.every_records = DEFAULT_CHECKPOINT_RECORDS;
	p->audit.checkpoint.every_s = DEFAULT_CHECKPOINT_S;
	p->tls.upstream_ca = NULL;
	p->proxy.non_tls = POLICY_NON_TLS_CLOSE;
	p->proxy.max_request_body = DEFAULT_MAX_REQUEST_BODY;
	p->proxy.max_request_json_values = DEFAULT_MAX_REQUEST_JSON_VALUES;
	p->proxy.buffer_bytes = DEFAULT_BUFFER_BYTES;
	p->routing.retries = 2;
	p->routing.backoff_ms = 200;
	p->routing.backoff_max_ms = 5000;
	p->routing.breaker_failures = DEFAULT_BREAKER_FAILURES;
	p->routing.breaker_open_ms = DEFAULT_BREAKER_OPEN_MS;
	{
		static const uint16_t retry[] = {429, 500, 502, 503, 504, 529};

		memcpy(p->routing.retry_statuses, retry, sizeof(retry));
		p->routing.n_retry_statuses = sizeof(retry) / sizeof(retry[0]);
	}
	p->proxy.connect_timeout_ms = DEFAULT_CONNECT_MS;
	p->proxy.tls_handshake_timeout_ms = DEFAULT_TLS_HANDSHAKE_MS;
	p->proxy.first_byte_timeout_ms = DEFAULT_FIRST_BYTE_MS;
	p->proxy.idle_timeout_ms = DEFAULT_IDLE_MS;
	p->proxy.client_idle_timeout_ms = DEFAULT_CLIENT_IDLE_MS;
	p->proxy.passthrough_idle_timeout_ms = DEFAULT_PASSTHROUGH_IDLE_MS;
	return p;
}

/* "NAME:LINE:COL: WHAT" for a problem outside any value (syntax, NUL bytes). */
static void text_problem(const struct ctx *c, size_t off, const char *what, const char *expect)
{
	char near[24];
	unsigned line, col;
	size_t n = 0;

	if (!c->errs)
		return;
	line_col(c, off, &line, &col);
	for (; off + n < c->len && n < sizeof(near) - 4 && c->text[off + n] != '\n'; n++)
		near[n] = (unsigned char)c->text[off + n] < ' ' ? '?' : c->text[off + n];
	near[n] = '\0';
	if (off + n < c->len && c->text[off + n] != '\n')
		strcat(near, "...");
	if (off >= c->len)
		fprintf(c->errs, "%s:%u:%u: %s at the end of the file; expected %s\n", c->name,
			line, col, what, expect);
	else if (memmem(c->text, c->len, "\"api_keys\"", 10))
		/* the text may be a gateway key: a broken file is not parsed enough to tell */
		fprintf(c->errs,
			"%s:%u:%u: %s (the text is not shown: the file has gateway keys); "
			"expected %s\n",
			c->name, line, col, what, expect);
	else
		fprintf(c->errs, "%s:%u:%u: %s at '%s'; expected %s\n", c->name, line, col, what,
			near, expect);
}

static int provider_name_cmp(const void *a, const void *b)
{
	return strcmp((*(struct policy_provider *const *)a)->name,
		      (*(struct policy_provider *const *)b)->name);
}

/* Sorts P's providers by name into providers_by_name: a request head names its provider, and
 * a scan of hundreds of them per request would cost more than the rest of its routing. */
static int index_providers(struct policy *p)
{
	if (!p->n_providers)
		return 0;
	p->providers_by_name = calloc(p->n_providers, sizeof(*p->providers_by_name));
	if (!p->providers_by_name)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_providers; i++)
		p->providers_by_name[i] = &p->providers[i];
	qsort(p->providers_by_name, p->n_providers, sizeof(*p->providers_by_name),
	      provider_name_cmp);
	return 0;
}

/* Parses and checks TEXT[0..LEN) (TEXT[LEN] is '\0'). */
static int load_text(const char *name, const char *text, size_t len, const struct schema *schema,
		     FILE *errs, struct policy **ret_policy)
{
	struct ctx c = {.name = name, .text = text, .len = len, .errs = errs};
	const char *nul = memchr(text, '\0', len);
	cJSON *root = NULL;
	size_t off;
	int r = -EINVAL;

	c.p = policy_new(name);
	if (!c.p)
		return -ENOMEM;
	if (nul) {
		text_problem(&c, nul - text, "NUL byte", "JSON text");
		goto out;
	}
	root = json_locate_parse(text, len, &off);
	if (!root) {
		text_problem(&c, off, "syntax error", "valid JSON");
		goto out;
	}
	c.root = root;
	walk_object(&c, root, schema, "an object", c.p);
	r = c.oom ? -ENOMEM : c.problems ? -EINVAL : index_providers(c.p);
out:
	cJSON_Delete(root);
	if (r < 0) {
		policy_free(c.p);
		return r;
	}
	*ret_policy = c.p;
	return 0;
}

int policy_load_string(const char *name, const char *text, FILE *errs, struct policy **ret_policy)
{
	return load_text(name, text, strlen(text), &root_schema, errs, ret_policy);
}

int policy_load_ai_catalogue(const char *name, const char *text, size_t len, FILE *errs,
			     struct policy **ret_catalogue)
{
	return load_text(name, text, len, &catalogue_schema, errs, ret_catalogue);
}

/* Reads all of FD into *RET (NUL-terminated, the caller frees it) and *RET_LEN. */
static int read_all(int fd, char **ret, size_t *ret_len)
{
	size_t len = 0, size = 4096;
	char *buf = malloc(size), *bigger;
	ssize_t n;

	while (buf) {
		n = read(fd, buf + len, size - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			free(buf);
			return n;
		}
		if (n == 0) {
			buf[len] = '\0';
			*ret = buf;
			*ret_len = len;
			return 0;
		}
		len += n;
		if (len + 1 < size)
			continue;
		if (size >= FILE_MAX) {
			free(buf);
			return -EFBIG;
		}
		size *= 2;
		bigger = realloc(buf, size);
		if (!bigger)
			free(buf);
		buf = bigger;
	}
	return -ENOMEM;
}

int policy_load(const char *path, FILE *errs, struct policy **ret_policy)
{
	char *text = NULL;
	size_t len = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = read_all(fd, &text, &len);
	close(fd);
	if (r < 0)
		goto out;
	r = load_text(path, text, len, &root_schema, errs, ret_policy);
	free(text);
	return r;
out:
	if (errs)
		fprintf(errs, "%s: cannot read: %s\n", path, strerror(-r));
	return r;
}

struct policy *policy_ref(struct policy *p)
{
	if (p)
		__atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
	return p;
}

const struct policy_workload *policy_workload_by_name(const struct policy *p, const char *name)
{
	for (size_t i = 0; p && name && i < p->n_workloads; i++)
		if (!strcmp(p->workloads[i].name, name))
			return &p->workloads[i];
	return NULL;
}

const struct policy_team *policy_team_by_name(const struct policy *p, const char *name)
{
	for (size_t i = 0; p && name && i < p->n_teams; i++)
		if (!strcmp(p->teams[i].name, name))
			return &p->teams[i];
	return NULL;
}

static void globs_free(struct policy_globs *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->globs[i]);
	free(g->globs);
}

void policy_free(struct policy *p)
{
	if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < p->n_providers; i++) {
		struct policy_provider *pr = &p->providers[i];

		for (size_t j = 0; j < pr->n_hosts; j++)
			free(pr->hosts[j]);
		free(pr->hosts);
		free(pr->cidrs);
		free(pr->name);
		free(pr->key_env);
		free(pr->key_file);
		free(pr->base_host);
		free(pr->base_prefix);
		free(pr->api_root);
		free(pr->region);
		for (size_t j = 0; j < pr->n_deployments; j++) {
			free(pr->deployment_names[j]);
			free(pr->deployment_models[j]);
		}
		free(pr->deployment_names);
		free(pr->deployment_models);
		free(pr->token_file);
		free(pr->credentials_file);
		free(pr->token_url);
		free(pr->project);
		free(pr->aws.region);
		free(pr->aws.access_key_id_env);
		free(pr->aws.secret_access_key_env);
		free(pr->aws.session_token_env);
	}
	free(p->providers);
	free(p->providers_by_name);
	for (size_t i = 0; i < p->n_models; i++) {
		struct policy_model *m = &p->models[i];

		for (size_t j = 0; j < m->n_targets; j++) {
			free(m->targets[j].provider);
			free(m->targets[j].model);
		}
		free(m->targets);
		free(m->name);
	}
	free(p->models);
	for (size_t i = 0; i < p->n_workloads; i++) {
		struct policy_workload *w = &p->workloads[i];

		for (size_t j = 0; j < w->n_api_keys; j++) {
			explicit_bzero(w->api_keys[j], strlen(w->api_keys[j]));
			free(w->api_keys[j]);
		}
		free(w->api_keys);
		free(w->name);
		free(w->team);
		free(w->cgroup_glob);
		free(w->guardrails);
		globs_free(&w->allow.models);
		globs_free(&w->allow.providers);
		globs_free(&w->allow.regions);
		for (size_t j = 0; j < w->allow.n_endpoints; j++)
			free(w->allow.endpoints[j].path_glob);
		free(w->allow.endpoints);
	}
	free(p->workloads);
	for (size_t i = 0; i < p->n_teams; i++)
		free(p->teams[i].name);
	free(p->teams);
	for (size_t i = 0; i < p->n_guardrails; i++) {
		free(p->guardrails[i].name);
		guard_profile_free(p->guardrails[i].profile);
	}
	free(p->guardrails);
	for (size_t i = 0; i < p->n_ai_services; i++) {
		struct policy_ai_service *svc = &p->ai_services[i];

		for (size_t j = 0; j < svc->n_domains; j++)
			free(svc->domains[j]);
		free(svc->domains);
		free(svc->name);
	}
	free(p->ai_services);
	free(p->state.path);
	free(p->ledger.path);
	free(p->admin.token_file);
	free(p->capture.cgroup);
	free(p->audit.path);
	free(p->audit.checkpoint.key);
	free(p->audit.checkpoint.path);
	free(p->api.socket);
	for (size_t i = 0; i < p->ca.n_domains; i++)
		free(p->ca.domains[i]);
	free(p->ca.domains);
	free(p->ca.dir);
	free(p->tls.upstream_ca);
	free(p->prices);
	free(p->path);
	free(p);
}

const struct policy_model *policy_model_by_name(const struct policy *p, const char *name)
{
	for (size_t i = 0; p && name && i < p->n_models; i++) {
		if (strcmp(p->models[i].name, name) == 0)
			return &p->models[i];
	}
	return NULL;
}

/*
 * Every key is compared, each in time that does not depend on where it differs from KEY, so
 * that how long a refusal takes says nothing of how close a guess was. Lengths are not secret.
 * A "sha256:" entry is compared with KEY's SHA-256, computed once.
 */
const struct policy_workload *policy_workload_by_api_key(const struct policy *p, const char *key)
{
	const struct policy_workload *found = NULL;
	size_t len = key ? strlen(key) : 0;
	char hex[SHA256_HEX + 1];

	if (!p || !key)
		return NULL;
	api_key_sha256_hex(key, len, hex);
	for (size_t i = 0; i < p->n_workloads; i++) {
		const struct policy_workload *w = &p->workloads[i];

		for (size_t j = 0; j < w->n_api_keys; j++) {
			const char *k = w->api_keys[j];

			if (api_key_hashed(k)) {
				if (CRYPTO_memcmp(k + strlen(API_KEY_HASHED), hex, SHA256_HEX) == 0)
					found = w;
			} else if (strlen(k) == len && CRYPTO_memcmp(k, key, len) == 0) {
				found = w;
			}
		}
	}
	OPENSSL_cleanse(hex, sizeof(hex));
	return found;
}

/*
 * One line to ERRS if PATH (WHAT, for a message when it cannot be looked at) lets group or
 * others at it. Returns 0, -EPERM, or -errno from stat().
 */
static int check_private_file(const char *path, const char *what, FILE *errs)
{
	struct stat st;
	mode_t loose;
	const char *how;
	int r;

	if (stat(path, &st) < 0) {
		r = -errno;
		if (r == -ENOENT) /* nothing to expose; loading its key says it is missing */
			return 0;
		if (errs)
			fprintf(errs, "%s: %s cannot be checked: %s\n", path, what, strerror(-r));
		return r;
	}
	loose = st.st_mode & 077;
	if (!loose)
		return 0;
	how = (loose & 044) && (loose & 022) ? "readable and writable"
	      : loose & 044		   ? "readable"
	      : loose & 022		   ? "writable"
					   : "executable";
	if (errs)
		fprintf(errs,
			"%s: holds a secret and is %s by group or others (mode %04o); run: "
			"chmod 600 %s\n",
			path, how, (unsigned)(st.st_mode & 07777), path);
	return -EPERM;
}

/* Every file is looked at, so that one run names them all; the first problem is returned. */
int policy_check_secret_files(const struct policy *p, FILE *errs)
{
	bool clear_key = false;
	int r = 0, k;

	for (size_t i = 0; i < p->n_workloads; i++) {
		for (size_t j = 0; j < p->workloads[i].n_api_keys; j++)
			clear_key |= !api_key_hashed(p->workloads[i].api_keys[j]);
	}
	if (clear_key) {
		k = check_private_file(p->path, "the policy file, which holds gateway keys", errs);
		r = r ? r : k;
	}
	for (size_t i = 0; i < p->n_providers; i++) {
		const char *file = p->providers[i].key_file;
		bool seen = false;
		char what[128];

		for (size_t j = 0; file && j < i; j++)
			seen |= p->providers[j].key_file && !strcmp(p->providers[j].key_file, file);
		if (!file || seen)
			continue;
		snprintf(what, sizeof(what), "the key_file of provider %s", p->providers[i].name);
		k = check_private_file(file, what, errs);
		r = r ? r : k;
	}
	for (size_t i = 0; i < p->n_providers; i++) {
		const struct policy_provider *pv = &p->providers[i];
		const char *key[2] = {"token_file", "credentials_file"};
		const char *file[2] = {pv->token_file, pv->credentials_file};
		char what[128];

		for (int j = 0; j < 2; j++) {
			if (!file[j])
				continue;
			snprintf(what, sizeof(what), "the %s of provider %s", key[j], pv->name);
			k = check_private_file(file[j], what, errs);
			r = r ? r : k;
		}
	}
	if (p->admin.token_file) {
		k = check_private_file(p->admin.token_file, "admin.token_file", errs);
		r = r ? r : k;
	}
	return r;
}

const struct policy_provider *policy_provider_by_name(const struct policy *p, const char *name)
{
	struct policy_provider key = {.name = (char *)name}, *k = &key, **found;

	if (!p || !name || !p->providers_by_name)
		return NULL;
	found = bsearch(&k, p->providers_by_name, p->n_providers, sizeof(*p->providers_by_name),
			provider_name_cmp);
	return found ? *found : NULL;
}

const struct policy_provider *policy_provider_by_host(const struct policy *p, const char *host)
{
	for (size_t i = 0; p && host && i < p->n_providers; i++) {
		const struct policy_provider *pr = &p->providers[i];

		for (size_t j = 0; j < pr->n_hosts; j++) {
			if (strcasecmp(pr->hosts[j], host) == 0)
				return pr;
		}
	}
	return NULL;
}

int policy_host_in_domains(const char *host, char *const *domains, size_t n)
{
	size_t hlen = host ? strlen(host) : 0;

	for (size_t i = 0; host && i < n; i++) {
		size_t dlen = domains[i] ? strlen(domains[i]) : 0;

		if (!dlen || dlen > hlen)
			continue;
		/* below it is a whole label or more, then '.': "evilopenai.com" and
		 * ".openai.com" are not below "openai.com" */
		if (dlen < hlen && (hlen - dlen < 2 || host[hlen - dlen - 1] != '.'))
			continue;
		if (strcasecmp(host + hlen - dlen, domains[i]) == 0)
			return 1;
	}
	return 0;
}

int policy_warn(const struct policy *p, FILE *out)
{
	int n = 0, any_key = 0;

	for (size_t i = 0; i < p->n_models; i++) {
		for (size_t j = 0; j < p->models[i].n_targets; j++) {
			const struct policy_provider *pv =
			    &p->providers[p->models[i].targets[j].provider_idx];

			if (!pv->base_host && ++n)
				fprintf(out,
					"warning: models.%s: %s has no host name, so the gateway can "
					"send it only the calls its own apps dial; give it hosts or "
					"base_url\n",
					p->models[i].name, pv->name);
			else if (!pv->key_env && !pv->key_file && !pv->credentials_file &&
				 !pv->token_file && !pv->has_aws && ++n)
				fprintf(out,
					"warning: models.%s: %s has no gateway key (key_env or "
					"key_file): calls routed to it from elsewhere will skip it\n",
					p->models[i].name, pv->name);
		}
	}
	for (size_t i = 0; i < p->n_workloads; i++)
		any_key |= p->workloads[i].n_api_keys > 0;
	if (p->api.has_listen && !any_key && ++n)
		fprintf(out, "warning: api.listen: no workload has api_keys, so every call there "
			     "is refused\n");
	for (size_t i = 0; i < p->n_teams; i++) {
		bool named = false;

		for (size_t j = 0; j < p->n_workloads; j++)
			named |= p->workloads[j].team_idx == i;
		if (!named && ++n)
			fprintf(out,
				"warning: teams.%s: no workload has \"team\": \"%s\", so its "
				"budget counts nothing\n",
				p->teams[i].name, p->teams[i].name);
	}
	return n;
}
