/*
 * test_clienthello.c: the ClientHello parser (userspace/proxy/clienthello.c) on real
 * ClientHellos generated here by OpenSSL through memory BIOs, on the same split into several
 * records, cut short at every length, corrupted, and on hand-built edge cases.
 */
#include "unit.h"
#include "proxy/clienthello.h"

#include <errno.h>
#include <stdint.h>

#include <openssl/ssl.h>

#define BUF_MAX 20000

struct gen {
	const char *sni;      /* NULL: no server_name */
	const char *alpn[16]; /* NULL-terminated; empty: no ALPN */
	int max_version;      /* 0: OpenSSL's default (TLS 1.3) */
};

/* The ClientHello OpenSSL's client sends for G, into OUT; 0 if OpenSSL refused. */
static size_t openssl_hello(const struct gen *g, uint8_t *out, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	unsigned char alpn[256];
	size_t alpn_len = 0;
	SSL *ssl = NULL;
	BIO *rbio, *wbio;
	int n = 0;

	if (!ctx || (g->max_version && !SSL_CTX_set_max_proto_version(ctx, g->max_version)))
		goto out;
	ssl = SSL_new(ctx);
	rbio = BIO_new(BIO_s_mem());
	wbio = BIO_new(BIO_s_mem());
	if (!ssl || !rbio || !wbio) {
		BIO_free(rbio);
		BIO_free(wbio);
		goto out;
	}
	SSL_set_bio(ssl, rbio, wbio);
	if (g->sni && !SSL_set_tlsext_host_name(ssl, g->sni))
		goto out;
	for (size_t i = 0; g->alpn[i]; i++) {
		size_t l = strlen(g->alpn[i]);

		alpn[alpn_len++] = (unsigned char)l;
		memcpy(alpn + alpn_len, g->alpn[i], l);
		alpn_len += l;
	}
	if (alpn_len && SSL_set_alpn_protos(ssl, alpn, (unsigned)alpn_len) != 0)
		goto out;
	if (SSL_connect(ssl) != -1 || SSL_get_error(ssl, -1) != SSL_ERROR_WANT_READ)
		goto out; /* it must be waiting for the ServerHello */
	n = BIO_read(wbio, out, (int)cap);
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return n > 0 ? (size_t)n : 0;
}

/* Rewrites the single-record ClientHello IN (N bytes) as records of FRAG payload bytes. */
static size_t rerecord(const uint8_t *in, size_t n, size_t frag, uint8_t *out)
{
	size_t o = 0;

	for (size_t i = 5; i < n; i += frag) {
		size_t k = n - i < frag ? n - i : frag;

		out[o++] = 0x16;
		out[o++] = 0x03;
		out[o++] = 0x01;
		out[o++] = k >> 8;
		out[o++] = k & 0xff;
		memcpy(out + o, in + i, k);
		o += k;
	}
	return o;
}

/* Hand-built messages. */
struct bytes {
	uint8_t b[BUF_MAX];
	size_t n;
};

static void put(struct bytes *o, const void *p, size_t n)
{
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void put8(struct bytes *o, unsigned v)
{
	o->b[o->n++] = v & 0xff;
}

static void put16(struct bytes *o, unsigned v)
{
	put8(o, v >> 8);
	put8(o, v);
}

static void put24(struct bytes *o, unsigned v)
{
	put8(o, v >> 16);
	put16(o, v);
}

static void put_ext(struct bytes *o, unsigned type, const void *data, size_t n)
{
	put16(o, type);
	put16(o, n);
	put(o, data, n);
}

/* A server_name extension body naming NAME (N bytes) as one host_name. */
static void put_sni(struct bytes *o, const char *name, size_t n)
{
	struct bytes e = {.n = 0};

	put16(&e, n + 3);
	put8(&e, 0);
	put16(&e, n);
	put(&e, name, n);
	put_ext(o, 0, e.b, e.n);
}

/*
 * A one-record TLS 1.2-style ClientHello with a session id of SID_LEN bytes, N_COMP compression
 * methods, and around EXTS; no extensions block at all if EXTS is NULL.
 */
static size_t build_hello_ex(uint8_t *out, size_t sid_len, size_t n_comp, const struct bytes *exts)
{
	static const uint8_t zeros[256];
	struct bytes body = {.n = 0}, rec = {.n = 0};

	put16(&body, 0x0303);
	put(&body, zeros, 32); /* random */
	put8(&body, sid_len);
	put(&body, zeros, sid_len);
	put16(&body, 2); /* cipher suites */
	put16(&body, 0x002f);
	put8(&body, n_comp);
	put(&body, zeros, n_comp);
	if (exts) {
		put16(&body, exts->n);
		put(&body, exts->b, exts->n);
	}
	put8(&rec, 0x16);
	put16(&rec, 0x0301);
	put16(&rec, body.n + 4);
	put8(&rec, 1);
	put24(&rec, body.n);
	put(&rec, body.b, body.n);
	memcpy(out, rec.b, rec.n);
	return rec.n;
}

static size_t build_hello(uint8_t *out, const struct bytes *exts)
{
	return build_hello_ex(out, 0, 1, exts);
}

/* Offsets in a one-record ClientHello (as OpenSSL sends): of the length fields we corrupt. */
struct layout {
	size_t sid, ciphers, comp, exts; /* each at its length field */
	size_t sni;			 /* at the server_name extension's type; 0 if none */
	size_t alpn;			 /* likewise for ALPN */
};

static void find_layout(const uint8_t *b, size_t n, struct layout *l)
{
	size_t p;

	memset(l, 0, sizeof(*l));
	l->sid = 5 + 4 + 2 + 32;
	l->ciphers = l->sid + 1 + b[l->sid];
	l->comp = l->ciphers + 2 + (b[l->ciphers] << 8 | b[l->ciphers + 1]);
	l->exts = l->comp + 1 + b[l->comp];
	for (p = l->exts + 2; p + 4 <= n; p += 4 + (b[p + 2] << 8 | b[p + 3])) {
		unsigned type = b[p] << 8 | b[p + 1];

		if (type == 0)
			l->sni = p;
		if (type == 16)
			l->alpn = p;
	}
}

static void add16(uint8_t *p, int d)
{
	unsigned v = (p[0] << 8 | p[1]) + d;

	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static int is_documented(int r)
{
	return r == 0 || r == -EAGAIN || r == -EPROTO || r == -EBADMSG || r == -EMSGSIZE;
}

static int all_zero(const struct clienthello *ch)
{
	static const struct clienthello zero;

	return !memcmp(ch, &zero, sizeof(*ch));
}

/* Parses a copy of exactly N bytes, so that ASan sees any read past them. */
static int parse_exact(const uint8_t *b, size_t n, struct clienthello *ch)
{
	uint8_t *copy = malloc(n ? n : 1);
	int r;

	if (!copy)
		abort();
	memcpy(copy, b, n);
	r = clienthello_parse(copy, n, ch);
	free(copy);
	return r;
}

/* Every proper prefix of B is -EAGAIN with *RET zero, the whole of it 0. */
static void check_prefixes(const uint8_t *b, size_t n)
{
	struct clienthello ch;

	for (size_t i = 0; i < n; i++) {
		int r = parse_exact(b, i, &ch);

		if (r != -EAGAIN || !all_zero(&ch))
			UNIT_FAIL("prefix of %zu of %zu bytes: got %d, expected -EAGAIN", i, n, r);
	}
	ASSERT_EQ(parse_exact(b, n, &ch), 0);
}

static void check_same(const struct clienthello *a, const struct clienthello *b)
{
	ASSERT_STREQ(a->sni, b->sni);
	ASSERT_EQ(a->has_sni, b->has_sni);
	ASSERT_EQ(a->n_alpn, b->n_alpn);
	for (int i = 0; i < a->n_alpn; i++)
		ASSERT_STREQ(a->alpn[i], b->alpn[i]);
	ASSERT_EQ(a->offers_h2, b->offers_h2);
	ASSERT_EQ(a->offers_http11, b->offers_http11);
	ASSERT_EQ(a->legacy_version, b->legacy_version);
	ASSERT_EQ(a->tls13_offered, b->tls13_offered);
	ASSERT_EQ(a->ech, b->ech);
}

static uint8_t hello[BUF_MAX], other[BUF_MAX];

static void test_sni_and_alpn(void)
{
	struct gen g = {.sni = "api.openai.com", .alpn = {"h2", "http/1.1"}};
	size_t n = openssl_hello(&g, hello, sizeof(hello));
	struct clienthello ch;

	ASSERT_TRUE(n > 0);
	ASSERT_EQ(clienthello_parse(hello, n, &ch), 0);
	ASSERT_EQ(ch.has_sni, 1);
	ASSERT_STREQ(ch.sni, "api.openai.com");
	ASSERT_EQ(ch.n_alpn, 2);
	ASSERT_STREQ(ch.alpn[0], "h2");
	ASSERT_STREQ(ch.alpn[1], "http/1.1");
	ASSERT_EQ(ch.offers_h2, 1);
	ASSERT_EQ(ch.offers_http11, 1);
	ASSERT_EQ(ch.legacy_version, 0x0303);
	ASSERT_EQ(ch.tls13_offered, 1);
}

static void test_sni_only(void)
{
	struct gen g = {.sni = "api.anthropic.com"};
	size_t n = openssl_hello(&g, hello, sizeof(hello));
	struct clienthello ch;

	ASSERT_TRUE(n > 0);
	ASSERT_EQ(clienthello_parse(hello, n, &ch), 0);
	ASSERT_EQ(ch.has_sni, 1);
	ASSERT_STREQ(ch.sni, "api.anthropic.com");
	ASSERT_EQ(ch.n_alpn, 0);
	ASSERT_EQ(ch.offers_h2, 0);
	ASSERT_EQ(ch.offers_http11, 0);
	ASSERT_EQ(ch.tls13_offered, 1);
}

static void test_no_sni(void)
{
	struct gen g = {.alpn = {"http/1.1"}};
	size_t n = openssl_hello(&g, hello, sizeof(hello));
	struct clienthello ch;

	ASSERT_TRUE(n > 0);
	ASSERT_EQ(clienthello_parse(hello, n, &ch), 0);
	ASSERT_EQ(ch.has_sni, 0);
	ASSERT_STREQ(ch.sni, "");
	ASSERT_EQ(ch.n_alpn, 1);
	ASSERT_STREQ(ch.alpn[0], "http/1.1");
	ASSERT_EQ(ch.offers_h2, 0);
	ASSERT_EQ(ch.offers_http11, 1);
}

static void test_tls12_only(void)
{
	struct gen g = {.sni = "api.openai.com", .alpn = {"h2"}, .max_version = TLS1_2_VERSION};
	size_t n = openssl_hello(&g, hello, sizeof(hello));
	struct clienthello ch;

	ASSERT_TRUE(n > 0);
	ASSERT_EQ(clienthello_parse(hello, n, &ch), 0);
	ASSERT_STREQ(ch.sni, "api.openai.com");
	ASSERT_EQ(ch.legacy_version, 0x0303);
	ASSERT_EQ(ch.tls13_offered, 0);
	ASSERT_EQ(ch.offers_h2, 1);
}

/* NAME of N characters: labels of 63 'a'..'z' letters, the last one shorter. */
static void long_name(char *name, size_t n)
{
	for (size_t i = 0; i < n; i++)
		name[i] = i % 64 == 63 ? '.' : 'a' + (i / 64) % 26;
	name[n] = '\0';
}

static void test_long_sni(void)
{
	struct gen g = {.alpn = {"h2"}};
	char name[300], dotted[302];
	struct clienthello ch;
	size_t n;

	long_name(name, 253);
	g.sni = name;
	n = openssl_hello(&g, hello, sizeof(hello));
	ASSERT_TRUE(n > 0);
	ASSERT_EQ(clienthello_parse(hello, n, &ch), 0);
	ASSERT_EQ(strlen(ch.sni), 253);
	ASSERT_STREQ(ch.sni, name);

	/* 253 and the trailing dot, which goes */
	snprintf(dotted, sizeof(dotted), "%s.", name);
	g.sni = dotted;
	n = openssl_hello(&g, hello, sizeof(hello));
	ASSERT_TRUE(n > 0);
	ASSERT_EQ(clienthello_parse(hello, n, &ch), 0);
	ASSERT_STREQ(ch.sni, name);

	/* 254 without a dot, 255 with one */
	long_name(name, 254);
	g.sni = name;
	n = openssl_hello(&g, hello, sizeof(hello));
	ASSERT_TRUE(n > 0);
	ASSERT_EQ(clienthello_parse(hello, n, &ch), -EBADMSG);
	ASSERT_TRUE(all_zero(&ch));
	snprintf(dotted, sizeof(dotted), "%s.", name);
	n = openssl_hello(&g, hello, sizeof(hello));
	ASSERT_TRUE(n > 0);
	ASSERT_EQ(clienthello_parse(hello, n, &ch), -EBADMSG);

	/* a 64-character label */
	memset(name, 'x', 64);
	strcpy(name + 64, ".example.com");
	g.sni = name;
	n = openssl_hello(&g, hello, sizeof(hello));
	ASSERT_TRUE(n > 0);
	ASSERT_EQ(clienthello_parse(hello, n, &ch), -EBADMSG);
	name[1] = '.'; /* x.<62 x>.example.com */
	n = openssl_hello(&g, hello, sizeof(hello));
	ASSERT_EQ(clienthello_parse(hello, n, &ch), 0);
}

static void test_sni_lower_cased_trailing_dot(void)
{
	struct gen g = {.sni = "API.Anthropic.COM."};
	size_t n = openssl_hello(&g, hello, sizeof(hello));
	struct clienthello ch;

	ASSERT_TRUE(n > 0);
	ASSERT_EQ(clienthello_parse(hello, n, &ch), 0);
	ASSERT_STREQ(ch.sni, "api.anthropic.com");
}

static void test_sni_invalid(void)
{
	static const char *const bad[] = {
	    "bad_host.example",
	    "bad host.example",
	    "a..b",
	    ".example.com",
	    ".",
	    "..",
	    "a/b",
	    "a:443",
	    "caf\xc3\xa9.example",
	    "x%00y",
	};
	struct gen g = {.alpn = {"h2"}};
	struct clienthello ch;
	struct layout l;
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		g.sni = bad[i];
		n = openssl_hello(&g, hello, sizeof(hello));
		ASSERT_TRUE(n > 0);
		if (clienthello_parse(hello, n, &ch) != -EBADMSG)
			UNIT_FAIL("SNI \"%s\" was not refused", bad[i]);
	}
	/* a NUL inside the name: "api.openai.com\0.evil" read as C string is a provider host */
	g.sni = "api.openai.com.evil";
	n = openssl_hello(&g, hello, sizeof(hello));
	find_layout(hello, n, &l);
	ASSERT_TRUE(l.sni > 0);
	ASSERT_EQ(memcmp(hello + l.sni + 9, "api.openai.com.", 15), 0);
	hello[l.sni + 9 + 14] = '\0';
	ASSERT_EQ(clienthello_parse(hello, n, &ch), -EBADMSG);
	ASSERT_TRUE(all_zero(&ch));
}

static void test_prefixes_are_eagain(void)
{
	struct gen gens[] = {
	    {.sni = "api.openai.com", .alpn = {"h2", "http/1.1"}},
	    {.max_version = TLS1_2_VERSION},
	};
	struct bytes none = {.n = 0};

	for (size_t i = 0; i < sizeof(gens) / sizeof(gens[0]); i++) {
		size_t n = openssl_hello(&gens[i], hello, sizeof(hello));

		ASSERT_TRUE(n > 0);
		check_prefixes(hello, n);
		if (unit_failed_current)
			return;
	}
	check_prefixes(hello, build_hello(hello, NULL));  /* no extensions block */
	check_prefixes(hello, build_hello(hello, &none)); /* an empty one */
}

static void test_bytes_after_hello_ignored(void)
{
	static const uint8_t ccs[] = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01};
	struct gen g = {.sni = "api.openai.com"};
	size_t n = openssl_hello(&g, hello, sizeof(hello));
	struct clienthello ch;

	ASSERT_TRUE(n > 0);
	memcpy(hello + n, ccs, sizeof(ccs));
	ASSERT_EQ(clienthello_parse(hello, n + sizeof(ccs), &ch), 0);
	ASSERT_STREQ(ch.sni, "api.openai.com");
	memcpy(hello + n, "GET / HTTP/1.1\r\n", 16);
	ASSERT_EQ(clienthello_parse(hello, n + 16, &ch), 0);
}

static void test_several_records(void)
{
	static const size_t frags[] = {1, 2, 3, 7, 100, 255};
	struct gen g = {.sni = "api.openai.com", .alpn = {"h2", "http/1.1"}};
	size_t n = openssl_hello(&g, hello, sizeof(hello));
	struct clienthello whole, split;

	ASSERT_TRUE(n > 0);
	ASSERT_EQ(clienthello_parse(hello, n, &whole), 0);
	for (size_t i = 0; i < sizeof(frags) / sizeof(frags[0]); i++) {
		size_t m = rerecord(hello, n, frags[i], other);

		ASSERT_EQ(clienthello_parse(other, m, &split), 0);
		check_same(&whole, &split);
		check_prefixes(other, m);
		if (unit_failed_current)
			return;
	}
	/* an empty handshake record first (RFC 8446 5.1 forbids them) */
	memcpy(other, "\x16\x03\x01\x00\x00", 5);
	memcpy(other + 5, hello, n);
	ASSERT_EQ(parse_exact(other, n + 5, &split), -EBADMSG);
	/* another record type in the middle: an alert after the first fragment */
	rerecord(hello, n, 100, other);
	other[5 + 100] = 0x15;
	ASSERT_EQ(parse_exact(other, n + 5, &split), -EBADMSG);
}

static void test_not_tls(void)
{
	static const char *const text[] = {"GET / HTTP/1.1\r\n",   "SSH-2.0-",
					   "\x80\x2e\x01\x03\x01", "\x16\x02",
					   "\x16\x04\x01\x00\x10", "\x17\x03\x03"};
	uint32_t x = 0x2545f491;
	struct clienthello ch;

	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
		ASSERT_EQ(parse_exact((const uint8_t *)text[i], strlen(text[i]), &ch), -EPROTO);
	/* a handshake record of random bytes that is not a ClientHello */
	for (unsigned type = 0; type < 256; type++) {
		if (type == 1)
			continue;
		for (size_t i = 0; i < 64; i++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			hello[i] = x;
		}
		memcpy(hello, "\x16\x03\x01\x00\x3b", 5);
		hello[5] = type;
		ASSERT_EQ(parse_exact(hello, 64, &ch), -EPROTO);
		ASSERT_EQ(parse_exact(hello, 6, &ch), -EPROTO);
	}
	ASSERT_EQ(parse_exact((const uint8_t *)"\x16", 1, &ch), -EAGAIN);
	ASSERT_EQ(parse_exact((const uint8_t *)"\x16\x03\x01\x02\x00", 5, &ch), -EAGAIN);
}

/* Parses HELLO (N bytes) after F changed it, expecting WANT. */
#define EXPECT_CORRUPT(f, want)                                                                    \
	do {                                                                                       \
		memcpy(other, hello, n);                                                           \
		f;                                                                                 \
		ASSERT_EQ(parse_exact(other, n, &ch), want);                                       \
		ASSERT_TRUE(all_zero(&ch));                                                        \
	} while (0)

static void test_corrupt_lengths(void)
{
	struct gen g = {.sni = "api.openai.com", .alpn = {"h2", "http/1.1"}};
	size_t n = openssl_hello(&g, hello, sizeof(hello));
	struct clienthello ch;
	struct layout l;

	ASSERT_TRUE(n > 0);
	find_layout(hello, n, &l);
	ASSERT_TRUE(l.sni && l.alpn);
	EXPECT_CORRUPT(add16(other + 3, 1), -EBADMSG);	/* record longer than the message */
	EXPECT_CORRUPT(add16(other + 7, -1), -EBADMSG); /* message shorter than the record */
	EXPECT_CORRUPT(add16(other + 7, 1), -EBADMSG);	/* ... longer than its contents */
	EXPECT_CORRUPT(other[l.sid] = 33, -EBADMSG);	/* session id over 32 */
	EXPECT_CORRUPT(other[l.sid] = 0xff, -EBADMSG);
	EXPECT_CORRUPT(add16(other + l.ciphers, -1), -EBADMSG); /* odd cipher suites */
	EXPECT_CORRUPT(add16(other + l.ciphers, 0x4000), -EBADMSG);
	EXPECT_CORRUPT(memset(other + l.ciphers, 0, 2), -EBADMSG);
	EXPECT_CORRUPT(other[l.comp] = 0, -EBADMSG);
	EXPECT_CORRUPT(add16(other + l.exts, 1), -EBADMSG);
	EXPECT_CORRUPT(add16(other + l.exts, -1), -EBADMSG);
	EXPECT_CORRUPT(add16(other + l.sni + 2, 1), -EBADMSG); /* server_name ext length */
	EXPECT_CORRUPT(add16(other + l.sni + 4, 1), -EBADMSG); /* server name list */
	EXPECT_CORRUPT(add16(other + l.sni + 4, -1), -EBADMSG);
	EXPECT_CORRUPT(add16(other + l.sni + 7, 1), -EBADMSG); /* host name */
	EXPECT_CORRUPT(add16(other + l.sni + 7, -1), -EBADMSG);
	EXPECT_CORRUPT(memset(other + l.sni + 7, 0xff, 2), -EBADMSG);
	EXPECT_CORRUPT(other[l.sni + 6] = 1, -EBADMSG);		/* name type */
	EXPECT_CORRUPT(add16(other + l.alpn + 4, 1), -EBADMSG); /* protocol list */
	EXPECT_CORRUPT(other[l.alpn + 6] = 0, -EBADMSG);	/* empty protocol name */
	EXPECT_CORRUPT(other[l.alpn + 6] = 0xff, -EBADMSG);
	EXPECT_CORRUPT(memset(other + 3, 0, 2), -EBADMSG);	    /* empty record */
	EXPECT_CORRUPT(memcpy(other + 3, "\x40\x01", 2), -EBADMSG); /* record over 2^14 */
	EXPECT_CORRUPT(other[9] = 2, -EBADMSG);			    /* client_version 2.x */
}

/* Every byte changed a few ways: a documented result, zero on error, and no ASan report. */
static void test_corruption_never_crashes(void)
{
	static const uint8_t flips[] = {0x01, 0x80, 0xff, 0x10};
	struct gen g = {.sni = "api.openai.com", .alpn = {"h2", "http/1.1"}};
	size_t n = openssl_hello(&g, hello, sizeof(hello));
	struct clienthello ch;
	size_t m = rerecord(hello, n, 37, other);
	static uint8_t frag[BUF_MAX];

	ASSERT_TRUE(n > 0);
	memcpy(frag, other, m);
	for (int pass = 0; pass < 2; pass++) {
		const uint8_t *src = pass ? frag : hello;
		size_t len = pass ? m : n;

		for (size_t i = 0; i < len; i++) {
			for (size_t f = 0; f < sizeof(flips); f++) {
				int r;

				memcpy(other, src, len);
				other[i] ^= flips[f];
				r = parse_exact(other, len, &ch);
				ASSERT_TRUE(is_documented(r));
				ASSERT_TRUE(r == 0 || all_zero(&ch));
				ASSERT_TRUE(memchr(ch.sni, 0, sizeof(ch.sni)) != NULL);
				r = parse_exact(other, i + 1, &ch);
				ASSERT_TRUE(is_documented(r));
			}
		}
	}
}

static void test_duplicates_refused(void)
{
	static const uint8_t alpn[] = {0x00, 0x03, 0x02, 'h', '2'};
	static const uint8_t versions[] = {0x02, 0x03, 0x04};
	struct bytes e = {.n = 0};
	struct clienthello ch;
	size_t n;

	put_sni(&e, "api.openai.com", 14);
	put_sni(&e, "other.example", 13);
	n = build_hello(hello, &e);
	ASSERT_EQ(parse_exact(hello, n, &ch), -EBADMSG);

	e.n = 0;
	put_ext(&e, 16, alpn, sizeof(alpn));
	put_ext(&e, 16, alpn, sizeof(alpn));
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);

	e.n = 0;
	put_ext(&e, 43, versions, sizeof(versions));
	put_ext(&e, 43, versions, sizeof(versions));
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);

	/* two host_name entries in one server_name list */
	e.n = 0;
	{
		struct bytes s = {.n = 0};

		put16(&s, 2 * 3 + 14 + 13);
		put8(&s, 0);
		put16(&s, 14);
		put(&s, "api.openai.com", 14);
		put8(&s, 0);
		put16(&s, 13);
		put(&s, "other.example", 13);
		put_ext(&e, 0, s.b, s.n);
	}
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);

	/* unknown extensions may repeat: not ours to judge */
	e.n = 0;
	put_ext(&e, 0x0a0a, "", 0);
	put_ext(&e, 0x0a0a, "", 0);
	put_sni(&e, "api.openai.com", 14);
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), 0);
	ASSERT_STREQ(ch.sni, "api.openai.com");
}

/* Lengths that are consistent but out of the ranges the RFCs give. */
static void test_field_ranges(void)
{
	static const uint8_t alpn_empty[] = {0x00, 0x00};
	static const uint8_t alpn_empty_name[] = {0x00, 0x04, 0x00, 0x02, 'h', '2'};
	static const uint8_t alpn_ok[] = {0x00, 0x03, 0x02, 'h', '2'};
	struct bytes e = {.n = 0};
	struct clienthello ch;
	char name[301];

	ASSERT_EQ(parse_exact(hello, build_hello_ex(hello, 32, 1, NULL), &ch), 0);
	ASSERT_EQ(parse_exact(hello, build_hello_ex(hello, 33, 1, NULL), &ch), -EBADMSG);
	ASSERT_EQ(parse_exact(hello, build_hello_ex(hello, 0, 0, NULL), &ch), -EBADMSG);
	ASSERT_EQ(parse_exact(hello, build_hello_ex(hello, 0, 2, NULL), &ch), 0);

	put_ext(&e, 16, alpn_ok, sizeof(alpn_ok));
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), 0);
	e.n = 0;
	put_ext(&e, 16, alpn_empty, sizeof(alpn_empty));
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);
	e.n = 0;
	put_ext(&e, 16, alpn_empty_name, sizeof(alpn_empty_name));
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);
	e.n = 0;
	put_ext(&e, 0, "", 0); /* an empty server_name is a server's answer, not a request */
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);

	/* host names longer than OpenSSL lets us send */
	for (size_t len = 255; len <= 300; len += 45) {
		long_name(name, len);
		e.n = 0;
		put_sni(&e, name, len);
		ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);
	}
	e.n = 0;
	put_sni(&e, "", 0);
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);
}

static void test_alpn_list_kept_short(void)
{
	struct gen g = {.sni = "api.openai.com",
			.alpn = {"p1", "0123456789012345678901234567890123456789", "p2", "p3", "p4",
				 "p5", "p6", "p7", "p8", "p9", "h2", "http/1.1"}};
	size_t n = openssl_hello(&g, hello, sizeof(hello));
	struct clienthello ch;
	struct bytes e = {.n = 0};
	static const uint8_t grease[] = {0x00, 0x0b, 0x02, 0x0a, 0x0a, 0x02, 'h',
					 '2',  0x04, 'a',  0x00, 'b',  'c'};

	ASSERT_TRUE(n > 0);
	ASSERT_EQ(clienthello_parse(hello, n, &ch), 0);
	ASSERT_EQ(ch.n_alpn, 8);
	ASSERT_STREQ(ch.alpn[0], "p1");
	ASSERT_STREQ(ch.alpn[1], "p2"); /* the 40-character name is left out */
	ASSERT_STREQ(ch.alpn[7], "p8");
	ASSERT_EQ(ch.offers_h2, 1); /* past the ones kept */
	ASSERT_EQ(ch.offers_http11, 1);

	/* binary names (GREASE, a NUL) count for nothing but do not make it malformed */
	put_ext(&e, 16, grease, sizeof(grease));
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), 0);
	ASSERT_EQ(ch.n_alpn, 1);
	ASSERT_STREQ(ch.alpn[0], "h2");
	ASSERT_EQ(ch.offers_h2, 1);
}

static void test_supported_versions(void)
{
	static const uint8_t v13[] = {0x04, 0x0a, 0x0a, 0x03, 0x04};
	static const uint8_t v12[] = {0x04, 0x03, 0x03, 0x03, 0x02};
	static const uint8_t odd[] = {0x03, 0x03, 0x04, 0x03};
	static const uint8_t empty[] = {0x00};
	struct bytes e = {.n = 0};
	struct clienthello ch;

	put_ext(&e, 43, v13, sizeof(v13));
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), 0);
	ASSERT_EQ(ch.tls13_offered, 1);
	ASSERT_EQ(ch.has_sni, 0);
	e.n = 0;
	put_ext(&e, 43, v12, sizeof(v12));
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), 0);
	ASSERT_EQ(ch.tls13_offered, 0);
	e.n = 0;
	put_ext(&e, 43, odd, sizeof(odd));
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);
	e.n = 0;
	put_ext(&e, 43, empty, sizeof(empty));
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);
}

/* The whole ClientHello, record headers included, must end within CLIENTHELLO_MAX_PEEK. */
static void test_size_limit(void)
{
	static uint8_t pad[BUF_MAX];
	struct bytes e = {.n = 0};
	struct clienthello ch;
	size_t n, base;

	base = build_hello(hello, &e);
	/* padding, then a server_name of 4 + 5 + 14 bytes: to the limit exactly */
	put_ext(&e, 21, pad, CLIENTHELLO_MAX_PEEK - base - 4 - (4 + 5 + 14));
	put_sni(&e, "api.openai.com", 14);
	n = build_hello(hello, &e);
	ASSERT_EQ(n, CLIENTHELLO_MAX_PEEK);
	ASSERT_EQ(parse_exact(hello, n, &ch), 0);
	ASSERT_STREQ(ch.sni, "api.openai.com");

	e.n = 0;
	put_ext(&e, 21, pad, CLIENTHELLO_MAX_PEEK - base - 4 - (4 + 5 + 14) + 1);
	put_sni(&e, "api.openai.com", 14);
	n = build_hello(hello, &e);
	ASSERT_EQ(parse_exact(hello, n, &ch), -EMSGSIZE);
	ASSERT_EQ(parse_exact(hello, 9, &ch), -EMSGSIZE); /* known from the headers */

	/* the same ClientHello, 16384 bytes in one record, no longer fits in two */
	e.n = 0;
	put_ext(&e, 21, pad, CLIENTHELLO_MAX_PEEK - base - 4 - (4 + 5 + 14));
	put_sni(&e, "api.openai.com", 14);
	n = build_hello(hello, &e);
	ASSERT_EQ(parse_exact(other, rerecord(hello, n, 10000, other), &ch), -EMSGSIZE);
	/* in records of 4000: known once the header of the fifth record is in */
	ASSERT_EQ(parse_exact(other, rerecord(hello, n, 4000, other), &ch), -EMSGSIZE);
	ASSERT_EQ(parse_exact(other, 4 * 4005 + 5, &ch), -EMSGSIZE);
	ASSERT_EQ(parse_exact(other, 4 * 4005 + 4, &ch), -EAGAIN);
}

static void test_trailing_bytes_in_record(void)
{
	struct gen g = {.sni = "api.openai.com"};
	size_t n = openssl_hello(&g, hello, sizeof(hello));
	struct clienthello ch;

	ASSERT_TRUE(n > 0);
	hello[n] = 0x01; /* a second handshake message starting in the same record */
	add16(hello + 3, 1);
	ASSERT_EQ(parse_exact(hello, n + 1, &ch), -EBADMSG);
	ASSERT_EQ(parse_exact(hello, 10, &ch), -EBADMSG); /* known from the headers */
}

/* An ECHClientHello of type outer: cipher suite, config id, ENC_LEN bytes of enc, PAYLOAD_LEN
 * bytes of payload, then EXTRA stray bytes. */
static void put_ech_outer(struct bytes *o, size_t enc_len, size_t payload_len, size_t extra)
{
	static const uint8_t junk[512] = {0x5a};
	struct bytes e = {.n = 0};

	put8(&e, 0);	   /* outer */
	put16(&e, 0x0001); /* HKDF-SHA256 */
	put16(&e, 0x0001); /* AES-128-GCM */
	put8(&e, 0x42);	   /* config_id */
	put16(&e, enc_len);
	put(&e, junk, enc_len);
	put16(&e, payload_len);
	put(&e, junk, payload_len);
	put(&e, junk, extra);
	put_ext(o, 0xfe0d, e.b, e.n);
}

static void test_ech(void)
{
	static const uint8_t inner[] = {0x01};
	struct bytes e = {.n = 0};
	struct clienthello ch;
	size_t n;

	/* none: a plain hello */
	put_sni(&e, "api.openai.com", 14);
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), 0);
	ASSERT_EQ(ch.ech, CLIENTHELLO_ECH_NONE);

	/* outer, with the public name in the SNI: both read, every prefix asks for more */
	e.n = 0;
	put_sni(&e, "cloudflare-ech.com", 18);
	put_ech_outer(&e, 32, 200, 0);
	n = build_hello(hello, &e);
	ASSERT_EQ(parse_exact(hello, n, &ch), 0);
	ASSERT_EQ(ch.ech, CLIENTHELLO_ECH_OUTER);
	ASSERT_STREQ(ch.sni, "cloudflare-ech.com");
	check_prefixes(hello, n);

	/* outer without SNI, an empty enc (a HelloRetryRequest's second hello has none) */
	e.n = 0;
	put_ech_outer(&e, 0, 1, 0);
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), 0);
	ASSERT_EQ(ch.ech, CLIENTHELLO_ECH_OUTER);
	ASSERT_EQ(ch.has_sni, 0);

	/* the inner marker, in clear */
	e.n = 0;
	put_ext(&e, 0xfe0d, inner, sizeof(inner));
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), 0);
	ASSERT_EQ(ch.ech, CLIENTHELLO_ECH_INNER);

	/* malformed: an empty payload, bytes after it, an unknown type, an empty extension,
	 * bytes after the inner marker, an enc that runs past the extension, two of them */
	e.n = 0;
	put_ech_outer(&e, 32, 0, 0);
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);
	ASSERT_TRUE(all_zero(&ch));
	e.n = 0;
	put_ech_outer(&e, 32, 10, 1);
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);
	e.n = 0;
	put_ext(&e, 0xfe0d, (const uint8_t[]){0x02}, 1);
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);
	e.n = 0;
	put_ext(&e, 0xfe0d, "", 0);
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);
	e.n = 0;
	put_ext(&e, 0xfe0d, (const uint8_t[]){0x01, 0x00}, 2);
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);
	e.n = 0;
	put_ext(&e, 0xfe0d, (const uint8_t[]){0x00, 0, 1, 0, 1, 0x42, 0x00, 0x09, 1, 2}, 10);
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);
	e.n = 0;
	put_ech_outer(&e, 32, 10, 0);
	put_ech_outer(&e, 32, 10, 0);
	ASSERT_EQ(parse_exact(hello, build_hello(hello, &e), &ch), -EBADMSG);
}

UNIT_MAIN(UNIT_CASE(test_sni_and_alpn), UNIT_CASE(test_sni_only), UNIT_CASE(test_no_sni),
	  UNIT_CASE(test_tls12_only), UNIT_CASE(test_long_sni),
	  UNIT_CASE(test_sni_lower_cased_trailing_dot), UNIT_CASE(test_sni_invalid),
	  UNIT_CASE(test_prefixes_are_eagain), UNIT_CASE(test_bytes_after_hello_ignored),
	  UNIT_CASE(test_several_records), UNIT_CASE(test_not_tls), UNIT_CASE(test_corrupt_lengths),
	  UNIT_CASE(test_corruption_never_crashes), UNIT_CASE(test_duplicates_refused),
	  UNIT_CASE(test_field_ranges), UNIT_CASE(test_alpn_list_kept_short),
	  UNIT_CASE(test_supported_versions), UNIT_CASE(test_size_limit),
	  UNIT_CASE(test_trailing_bytes_in_record), UNIT_CASE(test_ech))
