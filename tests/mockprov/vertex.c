// SPDX-License-Identifier: MIT
/*
 * mockprov vertex: Google Cloud's side of Vertex AI as a gateway meets it.
 *
 * POST /token is the OAuth token endpoint of a service account (--gcp-sa FILE, its key file):
 * the form's grant_type must be the JWT bearer grant, the assertion a JWT signed RS256 by the
 * account's key, with iss = client_email, scope cloud-platform, an aud, iat now and exp at
 * most an hour on. It issues "ya29.mock..." tokens that expire after --gcp-token-ttl seconds
 * (3600), optionally after --gcp-token-delay-ms (to hold an exchange in flight).
 *
 * /v1/projects/P/locations/L/publishers/anthropic/models/M:rawPredict and :streamRawPredict
 * answer as Anthropic's Messages API does, for a current token in Authorization: Bearer only,
 * a body with "anthropic_version": "vertex-2023-10-16" and no "model" (the path names it).
 * /v1/ (or /v1beta1/, @google/genai's) .../publishers/google/models/M:generateContent,
 * :streamGenerateContent (?alt=sse or not) and :countTokens answer as the Gemini API does
 * (gemini.c), for a current token only.
 *
 * Issued tokens are shared by the worker threads behind one mutex.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "mock.h"

#define VERTEX_TOKENS 512
#define VERTEX_GRANT "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define VERTEX_SCOPE "https://www.googleapis.com/auth/cloud-platform"

static struct {
	pthread_mutex_t lock;
	char email[256];
	EVP_PKEY *pub;
	struct issued {
		char token[64];
		long long expires_ms; /* monotonic */
	} tokens[VERTEX_TOKENS];
	unsigned next;
} vx = {.lock = PTHREAD_MUTEX_INITIALIZER};

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vertex_load_sa(const char *path)
{
	FILE *f = fopen(path, "re");
	char buf[16384];
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	cJSON *root;
	const char *email, *pem;
	BIO *bio;

	if (f)
		fclose(f);
	buf[n] = 0;
	root = cJSON_Parse(buf);
	email = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "client_email"));
	pem = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "private_key"));
	bio = pem ? BIO_new_mem_buf(pem, -1) : NULL;
	vx.pub = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (email)
		snprintf(vx.email, sizeof(vx.email), "%s", email);
	cJSON_Delete(root);
	if (!vx.pub || !email) {
		fprintf(stderr, "mockprov: --gcp-sa %s: not a service-account key file\n", path);
		return -1;
	}
	return 0;
}

/* The JSON of base64url part S (LEN bytes), or NULL. */
static cJSON *jwt_json(const char *s, size_t len)
{
	unsigned char *raw = malloc(len * 3 / 4 + 4);
	long n = raw ? base64_decode(s, len, raw) : -1;
	cJSON *j = n >= 0 ? cJSON_ParseWithLength((const char *)raw, n) : NULL;

	free(raw);
	return j;
}

static int jwt_signature_ok(const char *jwt, size_t signed_len, const char *sig, size_t sig_len)
{
	unsigned char raw[1024];
	long n = sig_len * 3 / 4 + 4 <= sizeof(raw) ? base64_decode(sig, sig_len, raw) : -1;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = n > 0 && md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, vx.pub) == 1 &&
		 EVP_DigestVerify(md, raw, n, (const unsigned char *)jwt, signed_len) == 1;

	EVP_MD_CTX_free(md);
	return ok;
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const char *str(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));

	return s ? s : "";
}

/* NULL when the claims of JWT are what Google's token endpoint takes, else what is wrong. */
static const char *jwt_problem(const char *jwt)
{
	const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	cJSON *h = NULL, *c = NULL;
	const char *why = NULL;
	double now = (double)time(NULL), iat, exp;

	if (!d2 || strchr(d2 + 1, '.'))
		return "assertion is not a JWT";
	h = jwt_json(jwt, d1 - jwt);
	c = jwt_json(d1 + 1, d2 - d1 - 1);
	iat = num(c, "iat");
	exp = num(c, "exp");
	if (!h || !c || strcmp(str(h, "alg"), "RS256"))
		why = "JWT header must name alg RS256";
	else if (!jwt_signature_ok(jwt, d2 - jwt, d2 + 1, strlen(d2 + 1)))
		why = "Invalid JWT Signature.";
	else if (strcmp(str(c, "iss"), vx.email))
		why = "iss is not the service account";
	else if (strcmp(str(c, "scope"), VERTEX_SCOPE))
		why = "scope is not cloud-platform";
	else if (!*str(c, "aud"))
		why = "aud missing";
	else if (iat < now - 300 || iat > now + 300 || exp <= now || exp - iat > 3600)
		why = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
		      "reasonable timeframe.";
	cJSON_Delete(h);
	cJSON_Delete(c);
	return why;
}

static void oauth_reply(struct call *c, int status, const char *json)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add(b, json, strlen(json));
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Content-Type",
			  "application/json; charset=utf-8");
	evhttp_send_reply(c->req, status, status_reason(status), b);
	reqlog_status(c->log_seq, status);
	evbuffer_free(b);
}

static void token_issue(struct call *c)
{
	unsigned char rnd[16];
	char tok[64], json[256];

	RAND_bytes(rnd, sizeof(rnd));
	snprintf(tok, sizeof(tok), "ya29.mock.");
	for (int i = 0; i < 16; i++)
		snprintf(tok + 10 + 2 * i, 3, "%02x", rnd[i]);
	pthread_mutex_lock(&vx.lock);
	snprintf(vx.tokens[vx.next % VERTEX_TOKENS].token, sizeof(tok), "%s", tok);
	vx.tokens[vx.next % VERTEX_TOKENS].expires_ms = mono_ms() + g_cfg.gcp_token_ttl * 1000LL;
	vx.next++;
	pthread_mutex_unlock(&vx.lock);
	snprintf(json, sizeof(json),
		 "{\"access_token\":\"%s\",\"expires_in\":%d,\"token_type\":\"Bearer\"}", tok,
		 g_cfg.gcp_token_ttl);
	oauth_reply(c, 200, json);
}

int vertex_token(struct call *c)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
	size_t len = evbuffer_get_length(in);
	char *form = strndup((const char *)evbuffer_pullup(in, -1), len), json[512];
	struct evkeyvalq kv = {0};
	const char *grant, *jwt, *why;

	if (!c->token_delayed && g_cfg.gcp_token_delay_ms) {
		free(form);
		c->token_delayed = 1;
		return call_wait(c, WAIT_SLOW, g_cfg.gcp_token_delay_ms);
	}
	TAILQ_INIT(&kv);
	if (!form || evhttp_parse_query_str(form, &kv)) {
		oauth_reply(c, 400, "{\"error\":\"invalid_request\"}");
		goto out;
	}
	grant = evhttp_find_header(&kv, "grant_type");
	jwt = evhttp_find_header(&kv, "assertion");
	if (!grant || strcmp(grant, VERTEX_GRANT)) {
		oauth_reply(c, 400, "{\"error\":\"unsupported_grant_type\","
				    "\"error_description\":\"Invalid grant_type\"}");
		goto out;
	}
	why = !vx.pub ? "no service account configured (--gcp-sa)"
	      : jwt   ? jwt_problem(jwt)
		      : "assertion missing";
	if (why) {
		snprintf(json, sizeof(json),
			 "{\"error\":\"invalid_grant\",\"error_description\":\"%s\"}", why);
		oauth_reply(c, 400, json);
		goto out;
	}
	token_issue(c);
out:
	evhttp_clear_headers(&kv);
	free(form);
	return CALL_DONE;
}

/* Whether the request carries a token this mock issued that has not expired. */
static int bearer_current(struct call *c)
{
	const char *auth = hdr(c, "authorization");
	long long now = mono_ms();
	int ok = 0;

	if (!auth || strncmp(auth, "Bearer ", 7))
		return 0;
	pthread_mutex_lock(&vx.lock);
	for (unsigned i = 0; i < VERTEX_TOKENS && !ok; i++)
		ok = vx.tokens[i].token[0] && !strcmp(vx.tokens[i].token, auth + 7) &&
		     vx.tokens[i].expires_ms > now;
	pthread_mutex_unlock(&vx.lock);
	return ok;
}

/* The model and method of a rawPredict path, into MODEL; 1 for streamRawPredict, 0 for
 * rawPredict, -1 for neither. */
static int raw_predict_path(const char *path, char *model, size_t size)
{
	const char *m = strstr(path, "/publishers/anthropic/models/"), *colon;

	if (strncmp(path, "/v1/projects/", 13) || !m)
		return -1;
	m += strlen("/publishers/anthropic/models/");
	colon = strchr(m, ':');
	if (!colon || colon == m || (size_t)(colon - m) >= size || strchr(m, '/'))
		return -1;
	snprintf(model, size, "%.*s", (int)(colon - m), m);
	if (!strcmp(colon, ":rawPredict"))
		return 0;
	return !strcmp(colon, ":streamRawPredict") ? 1 : -1;
}

static const struct route raw_predict_route = {"", PROV_ANTHROPIC, vertex_raw_predict,
					       EVHTTP_REQ_POST, 1};
static const struct route token_route = {"/token", PROV_NONE, vertex_token, EVHTTP_REQ_POST, 1};

/* A Gemini model's call: routed as the Gemini API's call of that model and method. */
static int gemini_path(struct call *c, const char *path)
{
	static const char pub[] = "/publishers/google/models/";
	const char *m = strstr(path, pub);
	char buf[256];

	if ((strncmp(path, "/v1/projects/", 13) && strncmp(path, "/v1beta1/projects/", 18)) || !m)
		return 0;
	m += strlen(pub);
	if (strchr(m, '/') ||
	    (size_t)snprintf(buf, sizeof(buf), "/v1beta/models/%s", m) >= sizeof(buf))
		return 0;
	return gemini_route(c, buf);
}

static const struct route gemini_predict_route = {"", PROV_GEMINI, vertex_gemini,
						  EVHTTP_REQ_POST, 1};

int vertex_route(struct call *c, const char *path)
{
	char model[128];

	if (path && gemini_path(c, path)) {
		c->route = &gemini_predict_route;
		return 1;
	}

	if (path && !strcmp(path, "/token")) {
		c->route = &token_route;
		c->prov = PROV_NONE;
		return 1;
	}
	if (!path || raw_predict_path(path, model, sizeof(model)) < 0)
		return 0;
	c->route = &raw_predict_route;
	c->prov = PROV_ANTHROPIC;
	return 1;
}

int vertex_raw_predict(struct call *c)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(c->req));
	char model[128];
	int stream = raw_predict_path(path, model, sizeof(model));
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(c->body, "anthropic_version");
	cJSON *m;

	if (!bearer_current(c)) {
		reply_error(c, 401, "authentication_error",
			    "Request had invalid authentication credentials. Expected OAuth 2 "
			    "access token.",
			    NULL, NULL);
		return CALL_DONE;
	}
	if (!cJSON_IsObject(c->body) || cJSON_GetObjectItemCaseSensitive(c->body, "model")) {
		reply_error(c, 400, "invalid_request_error",
			    "model: Extra inputs are not permitted (the path names the model)", NULL,
			    NULL);
		return CALL_DONE;
	}
	if (!cJSON_IsString(ver) || strcmp(ver->valuestring, "vertex-2023-10-16")) {
		reply_error(c, 400, "invalid_request_error",
			    "anthropic_version: must be \"vertex-2023-10-16\"", NULL, NULL);
		return CALL_DONE;
	}
	m = cJSON_AddStringToObject(c->body, "model", model); /* what the answer names */
	c->model = m ? m->valuestring : NULL;
	c->stream = c->stream || stream == 1;
	return anthropic_messages(c);
}

int vertex_gemini(struct call *c)
{
	if (!bearer_current(c)) {
		reply_error(c, 401, "UNAUTHENTICATED",
			    "Request had invalid authentication credentials. Expected OAuth 2 "
			    "access token, login cookie or other valid authentication credential.",
			    NULL, NULL);
		return CALL_DONE;
	}
	return gemini_answer(c);
}
