/* SPDX-License-Identifier: MIT */
/*
 * mockprov: shared declarations of the mock LLM provider.
 *
 * mockprov speaks the wire formats of OpenAI (chat completions, embeddings, responses) and
 * Anthropic (messages) over TLS and plain HTTP/1.1, so that aigw's end-to-end tests and
 * benchmarks have a deterministic upstream. A control listener switches fault modes at run time
 * and exposes a log of the last requests. Each worker thread owns one event_base; the only state
 * shared between threads (faults, request log, statistics) is behind mutexes.
 */
#ifndef MOCKPROV_MOCK_H
#define MOCKPROV_MOCK_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#define MOCK_MAX_LISTEN 8
#define MOCK_LOG_SIZE 1000
#define MOCK_LOG_BODY_MAX (64 * 1024) /* bytes of a request body kept in the log */
#define MOCK_INPUT_TOKEN_BASE 3 /* added to the word count of the prompt */
#define HANG_POLL_MS 250
#define MOCK_DET_CREATED 1700000000LL /* timestamp used with --deterministic */

enum provider {
	PROV_NONE = 0,
	PROV_OPENAI = 1,
	PROV_ANTHROPIC = 2,
	PROV_GEMINI = 3,
	PROV_BEDROCK = 4,
};

enum fault_mode {
	FAULT_NONE = 0,
	FAULT_DOWN,
	FAULT_RATELIMIT,
	FAULT_OVERLOADED,
	FAULT_SLOW,
	FAULT_RESET,
	FAULT_GARBAGE,
	FAULT_HANG,
	FAULT_BLOCKED,	/* Gemini: the prompt blocked (promptFeedback.blockReason, no candidate) */
	FAULT_FILTERED, /* Gemini: the answer blocked (a candidate, finishReason SAFETY, no content) */
	FAULT_STREAM_TOKENS,   /* OpenAI chat stream: one word, then an error event of type "tokens" */
	FAULT_STREAM_REQUESTS, /* the same, of type "requests" (a rate limit met mid-stream) */
	FAULT_STREAM_OVERLOADED, /* Anthropic stream: one delta, then event: error overloaded_error */
	FAULT__COUNT,
};

#define FAULT_MESSAGE_MAX 256

struct fault {
	enum fault_mode mode;
	int delay_ms;
	/* the error reply's message as the text of a JSON string, escapes and all (\u0000 too),
	 * written as it is; "" for the mode's own (message_json) */
	char message[FAULT_MESSAGE_MAX];
};

struct listen_spec {
	struct sockaddr_storage ss;
	int len;
};

struct mock_cfg {
	struct listen_spec tls[MOCK_MAX_LISTEN];
	int ntls;
	struct listen_spec plain[MOCK_MAX_LISTEN];
	int nplain;
	struct listen_spec control;
	int has_control;
	const char *cert;
	const char *key;
	int threads;
	int chunk_delay_ms;
	int deterministic;
	int require_auth;
	/* --api-root HOST=PATH: the OpenAI API of requests to HOST is served under PATH instead
	 * of "/v1" (Groq's "/openai/v1", Perplexity's ""), and only there */
	struct api_root {
		char host[96];
		char path[64];
	} roots[MOCK_MAX_LISTEN];
	int nroots;
	/* --azure-deployment DEPLOYMENT=MODEL: a deployment every Azure host (azure.c) serves,
	 * and the model it answers as */
	struct azure_deployment {
		char name[72];
		char model[128];
	} azure[MOCK_MAX_LISTEN];
	int nazure;
	int gcp_token_ttl;	/* --gcp-token-ttl: seconds an issued token lives (3600) */
	int gcp_token_delay_ms; /* --gcp-token-delay-ms: the token endpoint answers late */
	SSL_CTX *ssl;
};

extern struct mock_cfg g_cfg;

struct worker;

/* Argument of the data-plane request callback: which worker, and whether the listener is TLS. */
struct lctx {
	struct worker *w;
	int tls;
};

struct call;
TAILQ_HEAD(call_list, call);

struct worker {
	int id;
	struct event_base *base;
	struct evhttp *http_tls;
	struct evhttp *http_plain;
	struct evhttp *http_ctl;
	struct event *stop_ev;
	int stop_fd;
	pthread_t tid;
	struct call_list pending;
	struct lctx lc_tls;
	struct lctx lc_plain;
	uint64_t rng;
};

/* What a pending call waits for when its timer fires. */
enum call_wait {
	WAIT_NONE = 0,
	WAIT_SLOW,
	WAIT_STREAM,
	WAIT_RESET,
	WAIT_HANG,
};

#define CALL_DONE 0
#define CALL_PENDING 1

struct route;

/* One request on a data-plane listener, from arrival to its last byte. */
struct call {
	struct worker *w;
	struct evhttp_request *req;
	const struct route *route;
	enum provider prov;
	int tls;
	int gzip;
	cJSON *body;
	const char *model;
	int stream;
	int include_usage;
	/* Azure: the request's Host is an Azure resource; the deployment it named (its path's,
	 * else the body's "model"), "" when none; and what the path lacked, or NULL */
	int azure;
	char deployment[72];
	const char *azure_missing;
	struct fault fault;
	char request_id[48];
	char id[64];
	char item_id[64];
	uint64_t rng;
	long long created;
	uint64_t text_seed;
	int in_tokens;
	int out_words;
	int truncated;
	int cache_read;
	int cache_write;
	int token_delayed; /* vertex.c: the token endpoint's delay was served */
	int chunk_delay_ms;
	/* the reply text a header set (answer.c), NULL for the generated text; owned */
	char *text;
	size_t text_len;
	size_t *cuts; /* piece i of text is [cuts[i], cuts[i + 1]); owned */
	unsigned long long log_seq;
	/* pending state */
	int in_list;
	enum call_wait wait;
	struct event *timer;
	TAILQ_ENTRY(call) link;
	/* stream state: events are queued in one buffer, ev_len[i] bytes each */
	struct evbuffer *events;
	int *ev_len;
	int n_ev;
	int cap_ev;
	int next_ev;
	int reset_after;
	int started;
	int end_settled; /* the output was empty a loop turn ago: the stream may end (sse.c) */
	const char *stream_ctype; /* a stream's Content-Type, NULL: text/event-stream */
	/* Gemini: the model and the method the path names (gemini.c) */
	char path_model[128];
	int gemini_method;
};

struct route {
	const char *path;
	enum provider prov;
	int (*handle)(struct call *c);
	enum evhttp_cmd_type method;
	int own_checks; /* the handler checks auth and body itself (vertex.c) */
};

/* dispatch.c */
void dispatch_request_cb(struct evhttp_request *req, void *arg);

/* vertex.c: Vertex AI's token endpoint, Anthropic's and Google's (Gemini) models */
int vertex_load_sa(const char *path);
int vertex_route(struct call *c, const char *path); /* 1: c->route set */
int vertex_token(struct call *c);
int vertex_raw_predict(struct call *c);
int vertex_gemini(struct call *c);
void call_free(struct call *c);
int call_wait(struct call *c, enum call_wait what, int ms);
void worker_drop_pending(struct worker *w);
const char *hdr(struct call *c, const char *name);
int hdr_int(struct call *c, const char *name, int def, int min, int max);

/* azure.c */
int azure_add_deployment(const char *arg);
int azure_host(const char *host);
const char *azure_route_path(struct call *c, const char *path, char *buf, size_t size);
int azure_check(struct call *c);

/* answer.c */
int call_plan(struct call *c, int words, uint64_t seed, const cJSON *max, const cJSON *msgs);
void answer_text(struct call *c, struct evbuffer *b);
void answer_delta(struct call *c, struct evbuffer *b, int i);

/* reply.c */
void reply_headers(struct call *c, const char *content_type);
void reply_send(struct call *c, int status, const char *reason, struct evbuffer *body,
		const char *content_type);
void reply_error(struct call *c, int status, const char *type, const char *msg, const char *param,
		 const char *code);
void reply_fault(struct call *c);
/* MSG as an error body's message, or the fault's message_json in its place (down, ratelimit,
 * overloaded). */
void fault_message(const struct call *c, struct evbuffer *b, const char *msg);
void reply_garbage(struct call *c);
const char *status_reason(int status);

/* sse.c */
int sse_event(struct call *c, const char *event, struct evbuffer *data);
int sse_data(struct call *c, struct evbuffer *data);
int sse_raw(struct call *c, const char *text);
int stream_start(struct call *c);
int stream_pump(struct call *c);
int stream_reset(struct call *c);
int hang_poll(struct call *c);
void call_free_stream(struct call *c);

/* gzip.c */
int gzip_buffer(struct evbuffer *in, struct evbuffer *out);
int accepts_gzip(const char *accept_encoding);

/* text.c */
uint64_t fnv1a(uint64_t h, const void *data, size_t len);
uint64_t mix64(uint64_t x);
uint64_t rng_next(uint64_t *state);
void gen_id(char *out, size_t cap, const char *prefix, int n, uint64_t *rng);
void gen_hex(char *out, size_t cap, const char *prefix, int n, uint64_t *rng);
int count_words(const char *s, uint64_t *seed);
int count_content_words(const cJSON *node, uint64_t *seed);
const char *reply_word(uint64_t seed, int i);
void text_append(struct evbuffer *b, uint64_t seed, int n);
void word_append(struct evbuffer *b, uint64_t seed, int i, int n);
size_t utf8_len(const void *s, size_t avail);
int utf8_valid(const char *s, size_t len);
void json_chars(struct evbuffer *b, const char *s, size_t len);
void json_str(struct evbuffer *b, const char *s);
void json_str_or_null(struct evbuffer *b, const char *s);
void base64_append(struct evbuffer *b, const unsigned char *data, size_t len);
long base64_decode(const char *s, size_t len, unsigned char *out);

/* openai.c */
/* toolcall.c: the function the answer calls (the request forces one, or x-mock-tool-call),
 * NULL when none; the call as a Gemini functionCall part, returning its output tokens. */
const char *toolcall_name(struct call *c);
int toolcall_gemini_part(struct call *c, struct evbuffer *b);
/* Appends the thoughtSignature the mock issues with a call to NAME (standard base64). */
void toolcall_gemini_signature(struct evbuffer *b, const char *name);
/* The call's arguments as JSON text (the caller frees; NULL when out of memory) and its
 * output tokens. */
char *toolcall_args_text(struct call *c, int *ret_tokens);

int openai_chat(struct call *c);
int openai_embeddings(struct call *c);
int openai_responses(struct call *c);
int openai_files(struct call *c);
void openai_error_body(struct call *c, struct evbuffer *b, const char *type, const char *msg,
		       const char *param, const char *code);
void openai_headers(struct call *c, struct evkeyvalq *h);
int openai_check(struct call *c);

/* anthropic.c */
int anthropic_messages(struct call *c);
void anthropic_error_body(struct call *c, struct evbuffer *b, const char *type, const char *msg);
void anthropic_headers(struct call *c, struct evkeyvalq *h);
int anthropic_check(struct call *c);

/* gemini.c */
int gemini_route(struct call *c, const char *path);
int gemini_call(struct call *c);
int gemini_answer(struct call *c); /* gemini_call() once the caller is authenticated */
void gemini_error_body(struct evbuffer *b, int status, const char *msg);
void gemini_headers(struct call *c, struct evkeyvalq *h);
/* faults.c */
int fault_set(enum fault_mode mode, unsigned int mask, long count, int delay_ms,
	      const char *message);
void fault_clear(void);
void fault_take(enum provider prov, struct fault *out);
cJSON *fault_dump(void);
const char *fault_name(enum fault_mode mode);
int fault_parse(const char *name);

/* reqlog.c */
unsigned long long reqlog_add(struct call *c);
void reqlog_status(unsigned long long seq, int status);
void reqlog_clear(void);
int reqlog_dump(struct evbuffer *out, unsigned long long since);
void stats_reply(enum provider prov, int status);
void stats_stream(int delta);
void stats_fault(enum fault_mode mode);
cJSON *stats_dump(void);
const char *prov_name(enum provider prov);
const char *method_name(enum evhttp_cmd_type cmd);

/* bedrock.c */
int bedrock_call(struct call *c);
int bedrock_add_key(const char *arg); /* --aws-key AKID=SECRET; -1 when malformed */

/* control.c */
void control_request_cb(struct evhttp_request *req, void *arg);

/* tls.c */
int tls_init(const char *cert, const char *key, SSL_CTX **out);
struct bufferevent *tls_bevcb(struct event_base *base, void *arg);

#endif /* MOCKPROV_MOCK_H */
