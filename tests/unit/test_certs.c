/*
 * test_certs: the gateway CA and its minted leaves, checked by OpenSSL's own verifier.
 *
 * Each case makes a CA with certs_ca_init() in a fresh mkdtemp directory, reads ca.pem back
 * independently of certs.c, and verifies what certs.c mints against it: chain, hostname,
 * name constraints (a leaf outside them must fail with a constraint error, not another one),
 * and a real TLS handshake over a socketpair with a client that trusts only ca.pem.
 */
#include "unit.h"
#include "proxy/certs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static const char *const providers[] = {"openai.com", "anthropic.com"};

/* A temporary directory holding the CA in its subdirectory "ca". */
struct fixture {
	char root[64];
	char dir[96];	/* root/ca */
	char cert[128]; /* dir/ca.pem */
	char key[128];	/* dir/ca.key */
};

static int fixture_init(struct fixture *f)
{
	snprintf(f->root, sizeof(f->root), "/tmp/aigw-test-certs.XXXXXX");
	if (!mkdtemp(f->root))
		return -errno;
	snprintf(f->dir, sizeof(f->dir), "%s/ca", f->root);
	snprintf(f->cert, sizeof(f->cert), "%s/ca.pem", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/ca.key", f->dir);
	return 0;
}

/* A fixture whose CA exists, for the two provider domains. */
static int fixture_ca(struct fixture *f)
{
	int err = fixture_init(f);

	return err ? err : certs_ca_init(f->dir, providers, 2);
}

static void fixture_clean(struct fixture *f)
{
	unlink(f->cert);
	unlink(f->key);
	rmdir(f->dir);
	rmdir(f->root);
}

static X509 *read_cert(const char *path)
{
	FILE *fp = fopen(path, "r");
	X509 *x = fp ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;

	if (fp)
		fclose(fp);
	return x;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *fp = fopen(path, "r");
	EVP_PKEY *k = fp ? PEM_read_PrivateKey(fp, NULL, NULL, NULL) : NULL;

	if (fp)
		fclose(fp);
	return k;
}

/*
 * X509_verify_cert() of LEAF against a store holding only the CA at CA_PATH, as a TLS client
 * would for HOST (NULL: no hostname check). X509_V_OK or the verifier's error.
 */
static int verify_leaf(const char *ca_path, X509 *leaf, const char *host)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509 *ca = read_cert(ca_path);
	int r = -1;

	if (!store || !ctx || !ca || !X509_STORE_add_cert(store, ca) ||
	    !X509_STORE_CTX_init(ctx, store, leaf, NULL))
		goto out;
	X509_VERIFY_PARAM_set_purpose(X509_STORE_CTX_get0_param(ctx), X509_PURPOSE_SSL_SERVER);
	if (host && !X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), host, 0))
		goto out;
	r = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
	if (r == X509_V_OK && X509_STORE_CTX_get_error(ctx) != X509_V_OK)
		r = X509_STORE_CTX_get_error(ctx);
out:
	X509_free(ca);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ERR_clear_error();
	return r;
}

/* |T - WANT| <= 120 s */
static int time_near(const ASN1_TIME *t, time_t want)
{
	int days, secs;
	ASN1_TIME *w = ASN1_TIME_set(NULL, want);
	int ok =
	    w && ASN1_TIME_diff(&days, &secs, w, t) && days == 0 && secs >= -120 && secs <= 120;

	ASN1_TIME_free(w);
	return ok;
}

/* The critical flag of extension NID in X, or -1 if absent. */
static int ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	return i < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static int is_p256(EVP_PKEY *k)
{
	char group[64];
	size_t len;

	return k && EVP_PKEY_get_group_name(k, group, sizeof(group), &len) &&
	       !strcmp(group, "prime256v1");
}

/* The only dNSName of X's SAN in BUF; -1 unless the SAN holds exactly one name, a dNSName. */
static int san_single_dns(X509 *x, char *buf, size_t len)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	GENERAL_NAME *gn =
	    gens && sk_GENERAL_NAME_num(gens) == 1 ? sk_GENERAL_NAME_value(gens, 0) : NULL;
	int r = -1;

	if (gn && gn->type == GEN_DNS && ASN1_STRING_length(gn->d.dNSName) < (int)len) {
		snprintf(buf, len, "%.*s", ASN1_STRING_length(gn->d.dNSName),
			 (const char *)ASN1_STRING_get0_data(gn->d.dNSName));
		r = 0;
	}
	GENERAL_NAMES_free(gens);
	return r;
}

/* The CN of X's subject in BUF, or "". */
static void subject_cn(X509 *x, char *buf, size_t len)
{
	buf[0] = '\0';
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, (int)len);
}

static void test_ca_init_files(void)
{
	static const char *const bad[] = {"com", "co.uk", "1.2.3.4", "open ai.com", "-x.com", ""};
	struct fixture f;
	struct stat st;
	char before[4096], after[4096];
	ssize_t nb, na;
	int fd;

	ASSERT_OK(fixture_init(&f));
	ASSERT_OK(certs_ca_init(f.dir, providers, 2));
	ASSERT_OK(stat(f.dir, &st));
	ASSERT_EQ(st.st_mode & 07777, 0700);
	ASSERT_OK(stat(f.key, &st));
	ASSERT_TRUE(S_ISREG(st.st_mode));
	ASSERT_EQ(st.st_mode & 07777, 0600);
	ASSERT_OK(stat(f.cert, &st));
	ASSERT_EQ(st.st_mode & 07777, 0644);

	fd = open(f.key, O_RDONLY);
	ASSERT_TRUE(fd >= 0);
	nb = read(fd, before, sizeof(before));
	close(fd);
	ASSERT_TRUE(nb > 0);
	ASSERT_EQ(certs_ca_init(f.dir, providers, 2), -EEXIST);
	fd = open(f.key, O_RDONLY);
	ASSERT_TRUE(fd >= 0);
	na = read(fd, after, sizeof(after));
	close(fd);
	ASSERT_EQ(na, nb);
	ASSERT_TRUE(!memcmp(before, after, nb));

	/* a lone ca.pem also blocks a new CA: the pair is never split */
	ASSERT_OK(unlink(f.key));
	ASSERT_EQ(certs_ca_init(f.dir, providers, 2), -EEXIST);
	ASSERT_TRUE(access(f.key, F_OK) != 0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ASSERT_EQ(certs_ca_init(f.root, &bad[i], 1), -EINVAL);
	ASSERT_EQ(certs_ca_init(f.root, providers, 0), -EINVAL);
	fixture_clean(&f);
}

static void test_ca_extensions(void)
{
	struct fixture f;
	BASIC_CONSTRAINTS *bc = NULL;
	NAME_CONSTRAINTS *nc = NULL;
	X509 *ca = NULL;
	char cn[256];
	int crit = -1;

	ASSERT_OK(fixture_ca(&f));
	ca = read_cert(f.cert);
	ASSERT_TRUE(ca);

	bc = X509_get_ext_d2i(ca, NID_basic_constraints, &crit, NULL);
	ASSERT_TRUE(bc);
	ASSERT_EQ(crit, 1);
	ASSERT_TRUE(bc->ca);
	ASSERT_TRUE(bc->pathlen);
	ASSERT_EQ(ASN1_INTEGER_get(bc->pathlen), 0);
	BASIC_CONSTRAINTS_free(bc);

	ASSERT_EQ(X509_check_ca(ca), 1);
	ASSERT_EQ(ext_critical(ca, NID_key_usage), 1);
	ASSERT_EQ(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	ASSERT_TRUE(X509_get0_subject_key_id(ca));
	ASSERT_TRUE(is_p256(X509_get0_pubkey(ca)));
	ASSERT_EQ(X509_NAME_cmp(X509_get_subject_name(ca), X509_get_issuer_name(ca)), 0);
	subject_cn(ca, cn, sizeof(cn));
	ASSERT_TRUE(!strncmp(cn, "aigw gateway CA ", 16));
	ASSERT_TRUE(time_near(X509_get0_notBefore(ca), time(NULL) - 24 * 3600));
	ASSERT_TRUE(time_near(X509_get0_notAfter(ca), time(NULL) + 3652L * 24 * 3600));

	crit = -1;
	nc = X509_get_ext_d2i(ca, NID_name_constraints, &crit, NULL);
	ASSERT_TRUE(nc);
	ASSERT_EQ(crit, 1);
	ASSERT_EQ(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees), 2);
	for (int i = 0; i < 2; i++) {
		GENERAL_NAME *gn = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i)->base;

		ASSERT_EQ(gn->type, GEN_DNS);
		ASSERT_STREQ((const char *)ASN1_STRING_get0_data(gn->d.dNSName), providers[i]);
	}
	ASSERT_EQ(sk_GENERAL_SUBTREE_num(nc->excludedSubtrees), 2);
	for (int i = 0; i < 2; i++) {
		GENERAL_NAME *gn = sk_GENERAL_SUBTREE_value(nc->excludedSubtrees, i)->base;

		ASSERT_EQ(gn->type, GEN_IPADD);
		ASSERT_EQ(ASN1_STRING_length(gn->d.iPAddress), i ? 32 : 8);
	}
	NAME_CONSTRAINTS_free(nc);
	X509_free(ca);
	fixture_clean(&f);
}

static void test_domain_of_host(void)
{
	static const char *const refused[] = {
	    "localhost", "1.2.3.4", "::1",	    "[::1]", "",	  ".",	       "a..b",
	    "-a.com",	 "a-.com",  "bad_host.com", "co.uk", "10.0.0.1.", "openai.123"};
	char buf[256];

	ASSERT_OK(certs_domain_of_host("api.openai.com", buf, sizeof(buf)));
	ASSERT_STREQ(buf, "openai.com");
	ASSERT_OK(certs_domain_of_host("API.Anthropic.COM.", buf, sizeof(buf)));
	ASSERT_STREQ(buf, "anthropic.com");
	ASSERT_OK(certs_domain_of_host("openai.com", buf, sizeof(buf)));
	ASSERT_STREQ(buf, "openai.com");
	ASSERT_OK(certs_domain_of_host("a.b.api.mistral.ai", buf, sizeof(buf)));
	ASSERT_STREQ(buf, "mistral.ai");
	ASSERT_OK(certs_domain_of_host("api.example.co.uk", buf, sizeof(buf)));
	ASSERT_STREQ(buf, "example.co.uk");
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (certs_domain_of_host(refused[i], buf, sizeof(buf)) != -EINVAL)
			UNIT_FAIL("certs_domain_of_host(\"%s\") was not refused", refused[i]);
	ASSERT_EQ(certs_domain_of_host(NULL, buf, sizeof(buf)), -EINVAL);
	ASSERT_EQ(certs_domain_of_host("api.openai.com", buf, 10), -ENAMETOOLONG);
}

static void test_open_checks_key_mode(void)
{
	struct fixture f;
	struct certs *c = NULL;
	X509 *ca;

	ASSERT_OK(fixture_ca(&f));
	ASSERT_OK(chmod(f.key, 0640));
	ASSERT_EQ(certs_open(f.dir, &c), -EPERM);
	ASSERT_OK(chmod(f.key, 0604));
	ASSERT_EQ(certs_open(f.dir, &c), -EPERM);
	ASSERT_OK(chmod(f.key, 0600));
	ca = read_cert(f.cert);
	ASSERT_TRUE(ca);
	ASSERT_OK(certs_open(f.dir, &c));
	ASSERT_EQ(X509_cmp(certs_ca_cert(c), ca), 0);
	X509_free(ca);
	certs_free(c);
	ASSERT_EQ(certs_open(f.root, &c), -ENOENT);
	fixture_clean(&f);
}

/* The leaf of api.openai.com: chain, hostname, SAN, CN, validity, usages, AKI, key. */
static void test_leaf_verifies(void)
{
	struct fixture f;
	struct certs *c = NULL;
	STACK_OF(X509) *chain = NULL;
	SSL_CTX *ctx, *other;
	X509 *leaf, *ca;
	char buf[256];

	ASSERT_OK(fixture_ca(&f));
	ASSERT_OK(certs_open(f.dir, &c));
	ctx = certs_server_ctx(c, "api.openai.com");
	ASSERT_TRUE(ctx);
	leaf = SSL_CTX_get0_certificate(ctx);
	ASSERT_TRUE(leaf);
	ca = certs_ca_cert(c);

	ASSERT_EQ(verify_leaf(f.cert, leaf, "api.openai.com"), X509_V_OK);
	ASSERT_EQ(verify_leaf(f.cert, leaf, "API.OpenAI.com"), X509_V_OK);
	ASSERT_EQ(verify_leaf(f.cert, leaf, "api.anthropic.com"), X509_V_ERR_HOSTNAME_MISMATCH);
	ASSERT_EQ(verify_leaf(f.cert, leaf, "openai.com"), X509_V_ERR_HOSTNAME_MISMATCH);

	ASSERT_OK(san_single_dns(leaf, buf, sizeof(buf)));
	ASSERT_STREQ(buf, "api.openai.com");
	subject_cn(leaf, buf, sizeof(buf));
	ASSERT_STREQ(buf, "api.openai.com");
	ASSERT_TRUE(time_near(X509_get0_notBefore(leaf), time(NULL) - 3600));
	ASSERT_TRUE(time_near(X509_get0_notAfter(leaf), time(NULL) + 30L * 24 * 3600));
	ASSERT_EQ(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER);
	ASSERT_EQ(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
	ASSERT_EQ(ext_critical(leaf, NID_key_usage), 1);
	ASSERT_EQ(X509_check_ca(leaf), 0);
	ASSERT_EQ(ASN1_STRING_length(X509_get0_serialNumber(leaf)), 16);
	ASSERT_TRUE(X509_get0_authority_key_id(leaf));
	ASSERT_EQ(
	    ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf), X509_get0_subject_key_id(ca)),
	    0);
	ASSERT_TRUE(is_p256(X509_get0_pubkey(leaf)));
	ASSERT_EQ(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	ASSERT_TRUE(SSL_CTX_get0_chain_certs(ctx, &chain));
	ASSERT_EQ(sk_X509_num(chain), 1);
	ASSERT_EQ(X509_cmp(sk_X509_value(chain, 0), ca), 0);

	/* one leaf key for every host, one serial per leaf */
	other = certs_server_ctx(c, "api.anthropic.com");
	ASSERT_TRUE(other);
	ASSERT_EQ(
	    EVP_PKEY_eq(X509_get0_pubkey(SSL_CTX_get0_certificate(other)), X509_get0_pubkey(leaf)),
	    1);
	ASSERT_TRUE(ASN1_INTEGER_cmp(X509_get0_serialNumber(SSL_CTX_get0_certificate(other)),
				     X509_get0_serialNumber(leaf)) != 0);
	ASSERT_EQ(verify_leaf(f.cert, SSL_CTX_get0_certificate(other), "api.anthropic.com"),
		  X509_V_OK);
	certs_free(c);
	fixture_clean(&f);
}

static void test_cache(void)
{
	struct fixture f;
	struct certs *c = NULL;
	struct certs_stats st;
	SSL_CTX *a, *b;
	char host[64];

	ASSERT_OK(fixture_ca(&f));
	ASSERT_OK(certs_open(f.dir, &c));
	a = certs_server_ctx(c, "api.openai.com");
	ASSERT_TRUE(a);
	ASSERT_TRUE(certs_server_ctx(c, "api.openai.com") == a);
	ASSERT_TRUE(certs_server_ctx(c, "API.OpenAI.COM.") == a);
	certs_stats(c, &st);
	ASSERT_EQ(st.minted, 1);
	ASSERT_EQ(st.hits, 2);
	ASSERT_EQ(st.cached, 1);
	b = certs_server_ctx(c, "api.anthropic.com");
	ASSERT_TRUE(b && b != a);

	/* fill the cache; touch api.openai.com; one more host evicts the LRU, anthropic's */
	for (int i = 2; i < CERTS_CACHE_MAX; i++) {
		snprintf(host, sizeof(host), "h%d.openai.com", i);
		ASSERT_TRUE(certs_server_ctx(c, host));
	}
	certs_stats(c, &st);
	ASSERT_EQ(st.cached, CERTS_CACHE_MAX);
	ASSERT_EQ(st.evicted, 0);
	ASSERT_TRUE(certs_server_ctx(c, "api.openai.com") == a);
	ASSERT_TRUE(certs_server_ctx(c, "one-more.openai.com"));
	certs_stats(c, &st);
	ASSERT_EQ(st.cached, CERTS_CACHE_MAX);
	ASSERT_EQ(st.evicted, 1);
	ASSERT_EQ(st.minted, CERTS_CACHE_MAX + 1);
	ASSERT_TRUE(certs_server_ctx(c, "api.openai.com") == a);
	certs_stats(c, &st);
	ASSERT_EQ(st.minted, CERTS_CACHE_MAX + 1);
	ASSERT_TRUE(certs_server_ctx(c, "api.anthropic.com"));
	certs_stats(c, &st);
	ASSERT_EQ(st.minted, CERTS_CACHE_MAX + 2);
	ASSERT_EQ(st.evicted, 2);
	ASSERT_EQ(st.cached, CERTS_CACHE_MAX);
	certs_free(c);
	fixture_clean(&f);
}

/*
 * Signs, with the CA key read from ca.key, a leaf whose only name is the SAN VALUE
 * (openssl.cnf syntax, e.g. "IP:1.2.3.4"): what a thief of ca.key could make.
 */
static X509 *forge_leaf(const struct fixture *f, const char *value)
{
	EVP_PKEY *key = read_key(f->key);
	X509 *ca = read_cert(f->cert), *x = X509_new();
	X509_EXTENSION *ext = NULL;
	X509V3_CTX v3;
	int ok = key && ca && x && X509_set_version(x, X509_VERSION_3) &&
		 ASN1_INTEGER_set(X509_get_serialNumber(x), 7) &&
		 X509_set_issuer_name(x, X509_get_subject_name(ca)) &&
		 X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
		 X509_gmtime_adj(X509_getm_notAfter(x), 3600) && X509_set_pubkey(x, key);

	if (ok) {
		X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
		ext = X509V3_EXT_nconf_nid(NULL, &v3, NID_subject_alt_name, value);
		ok = ext && X509_add_ext(x, ext, -1) && X509_sign(x, key, EVP_sha256());
	}
	X509_EXTENSION_free(ext);
	EVP_PKEY_free(key);
	X509_free(ca);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* OpenSSL's verifier, not only certs_check_host(), refuses what lies outside the CA's scope. */
static void test_name_constraints_enforced(void)
{
	static const char *const outside[] = {"www.example.com", "evilopenai.com",
					      "openai.com.evil.net"};
	struct fixture f;
	struct certs *c = NULL;
	X509 *x = NULL;

	ASSERT_OK(fixture_ca(&f));
	ASSERT_OK(certs_open(f.dir, &c));

	/* control: the same forced path, inside the subtrees, verifies */
	ASSERT_OK(certs_mint_leaf(c, "deep.api.anthropic.com", &x));
	ASSERT_EQ(verify_leaf(f.cert, x, "deep.api.anthropic.com"), X509_V_OK);
	X509_free(x);

	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		int r;

		x = NULL;
		ASSERT_OK(certs_mint_leaf(c, outside[i], &x));
		r = verify_leaf(f.cert, x, NULL);
		X509_free(x);
		if (r != X509_V_ERR_PERMITTED_VIOLATION)
			UNIT_FAIL("leaf for %s: verify gave %d (%s), expected a permitted-subtree "
				  "violation",
				  outside[i], r,
				  r < 0 ? "setup" : X509_verify_cert_error_string(r));
	}
	errno = 0;
	ASSERT_TRUE(certs_server_ctx(c, "www.example.com") == NULL);
	ASSERT_EQ(errno, EPERM);
	errno = 0;
	ASSERT_TRUE(certs_server_ctx(c, "10.1.2.3") == NULL);
	ASSERT_EQ(errno, EINVAL);

	/* a stolen ca.key cannot sign for an IP address either */
	x = forge_leaf(&f, "critical,IP:1.2.3.4");
	ASSERT_TRUE(x);
	ASSERT_EQ(verify_leaf(f.cert, x, NULL), X509_V_ERR_EXCLUDED_VIOLATION);
	X509_free(x);
	x = forge_leaf(&f, "critical,IP:2001:db8::1");
	ASSERT_TRUE(x);
	ASSERT_EQ(verify_leaf(f.cert, x, NULL), X509_V_ERR_EXCLUDED_VIOLATION);
	X509_free(x);
	x = forge_leaf(&f, "critical,DNS:api.openai.com");
	ASSERT_TRUE(x);
	ASSERT_EQ(verify_leaf(f.cert, x, "api.openai.com"), X509_V_OK);
	X509_free(x);
	certs_free(c);
	fixture_clean(&f);
}

static void test_check_host(void)
{
	struct fixture f;
	struct certs *c = NULL;
	char err[1024];

	ASSERT_OK(fixture_ca(&f));
	ASSERT_OK(certs_open(f.dir, &c));
	ASSERT_OK(certs_check_host(c, "api.openai.com", err, sizeof(err)));
	ASSERT_OK(certs_check_host(c, "openai.com", err, sizeof(err)));
	ASSERT_OK(certs_check_host(c, "API.Anthropic.COM.", err, sizeof(err)));
	ASSERT_EQ(certs_check_host(c, "evilopenai.com", err, sizeof(err)), -EPERM);
	ASSERT_EQ(certs_check_host(c, "1.2.3.4", err, sizeof(err)), -EINVAL);

	err[0] = '\0';
	ASSERT_EQ(certs_check_host(c, "api.mistral.ai", err, sizeof(err)), -EPERM);
	ASSERT_CONTAINS(err, "api.mistral.ai");
	ASSERT_CONTAINS(err, "covers only openai.com, anthropic.com");
	ASSERT_CONTAINS(err, "new CA");
	ASSERT_CONTAINS(err, "aigw ca init DIR --domain openai.com --domain anthropic.com --domain "
			     "mistral.ai");
	ASSERT_EQ(certs_check_host(c, "api.mistral.ai", err, 8), -EPERM);
	ASSERT_EQ(strlen(err), 7);
	ASSERT_EQ(certs_check_host(c, "api.mistral.ai", NULL, 0), -EPERM);
	certs_free(c);
	fixture_clean(&f);
}

/* A client SSL trusting only CA_PATH, verifying HOST, offering ALPN (wire format) if set. */
static SSL *client_new(SSL_CTX **cctx, const char *ca_path, const char *host,
		       const unsigned char *alpn, unsigned alpn_len)
{
	SSL *s;

	*cctx = SSL_CTX_new(TLS_client_method());
	if (!*cctx || SSL_CTX_load_verify_locations(*cctx, ca_path, NULL) != 1)
		return NULL;
	SSL_CTX_set_verify(*cctx, SSL_VERIFY_PEER, NULL);
	s = SSL_new(*cctx);
	if (!s)
		return NULL;
	if (SSL_set1_host(s, host) != 1 || SSL_set_tlsext_host_name(s, host) != 1 ||
	    (alpn && SSL_set_alpn_protos(s, alpn, alpn_len) != 0)) {
		SSL_free(s);
		return NULL;
	}
	return s;
}

/* Drives both ends of a nonblocking socketpair to the end of the handshake: 0 or -1. */
static int handshake(SSL *cli, SSL *srv)
{
	int cdone = 0, sdone = 0;

	for (int i = 0; i < 1000 && !(cdone && sdone); i++) {
		int r;

		if (!cdone) {
			r = SSL_connect(cli);
			if (r == 1)
				cdone = 1;
			else if (SSL_get_error(cli, r) != SSL_ERROR_WANT_READ)
				return -1;
		}
		if (!sdone) {
			r = SSL_accept(srv);
			if (r == 1)
				sdone = 1;
			else if (SSL_get_error(srv, r) != SSL_ERROR_WANT_READ)
				return -1;
		}
	}
	return cdone && sdone ? 0 : -1;
}

struct tls_result {
	int handshake; /* 0 or -1 */
	long verify;   /* the client's SSL_get_verify_result() */
	char alpn[16]; /* what the client sees selected, "" for none */
	int echoed;    /* 1 if "ping" crossed the connection */
};

/* One connection: client for HOST offering ALPN against certs_server_ctx(C, SERVE). */
static int tls_run(struct certs *c, const char *ca_path, const char *serve, const char *host,
		   const unsigned char *alpn, unsigned alpn_len, struct tls_result *res)
{
	SSL_CTX *cctx = NULL, *sctx = certs_server_ctx(c, serve);
	SSL *cli = NULL, *srv = NULL;
	const unsigned char *sel;
	unsigned sel_len = 0;
	char buf[8] = "";
	int sv[2] = {-1, -1}, r = -1;

	memset(res, 0, sizeof(*res));
	res->handshake = -1;
	if (!sctx || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv))
		goto out;
	cli = client_new(&cctx, ca_path, host, alpn, alpn_len);
	srv = SSL_new(sctx);
	if (!cli || !srv || !SSL_set_fd(cli, sv[0]) || !SSL_set_fd(srv, sv[1]))
		goto out;
	res->handshake = handshake(cli, srv);
	res->verify = SSL_get_verify_result(cli);
	r = 0;
	if (res->handshake)
		goto out;
	SSL_get0_alpn_selected(cli, &sel, &sel_len);
	if (sel_len < sizeof(res->alpn))
		snprintf(res->alpn, sizeof(res->alpn), "%.*s", (int)sel_len, (const char *)sel);
	res->echoed = SSL_write(cli, "ping", 4) == 4 && SSL_read(srv, buf, sizeof(buf)) == 4 &&
		      !memcmp(buf, "ping", 4);
out:
	SSL_free(cli);
	SSL_free(srv);
	SSL_CTX_free(cctx);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	ERR_clear_error();
	return r;
}

static void test_tls_handshake(void)
{
	static const unsigned char h2_h11[] = "\x02h2\x08http/1.1", h2[] = "\x02h2",
				   h11_h2[] = "\x08http/1.1\x02h2", h11[] = "\x08http/1.1",
				   other[] = "\x06spdy/3";
	struct fixture f;
	struct certs *c = NULL;
	struct tls_result res;

	ASSERT_OK(fixture_ca(&f));
	ASSERT_OK(certs_open(f.dir, &c));

	ASSERT_OK(tls_run(c, f.cert, "api.openai.com", "api.openai.com", h2_h11, sizeof(h2_h11) - 1,
			  &res));
	ASSERT_EQ(res.handshake, 0);
	ASSERT_EQ(res.verify, X509_V_OK);
	ASSERT_STREQ(res.alpn, "h2");
	ASSERT_TRUE(res.echoed);

	/* h2 is preferred wherever the client lists it; h2 alone is served too */
	ASSERT_OK(tls_run(c, f.cert, "api.openai.com", "api.openai.com", h11_h2, sizeof(h11_h2) - 1,
			  &res));
	ASSERT_STREQ(res.alpn, "h2");
	ASSERT_OK(tls_run(c, f.cert, "api.openai.com", "api.openai.com", h2, sizeof(h2) - 1, &res));
	ASSERT_EQ(res.handshake, 0);
	ASSERT_STREQ(res.alpn, "h2");
	ASSERT_TRUE(res.echoed);

	/* http/1.1 alone gets it; a list of neither gets no ALPN, the handshake still completes */
	ASSERT_OK(tls_run(c, f.cert, "api.openai.com", "api.openai.com", h11, sizeof(h11) - 1,
			  &res));
	ASSERT_STREQ(res.alpn, "http/1.1");
	ASSERT_OK(tls_run(c, f.cert, "api.openai.com", "api.openai.com", other, sizeof(other) - 1,
			  &res));
	ASSERT_EQ(res.handshake, 0);
	ASSERT_STREQ(res.alpn, "");

	/* no ALPN offered */
	ASSERT_OK(tls_run(c, f.cert, "api.anthropic.com", "api.anthropic.com", NULL, 0, &res));
	ASSERT_EQ(res.handshake, 0);
	ASSERT_STREQ(res.alpn, "");

	/* the client's own hostname check bites: anthropic's leaf for an openai.com client */
	ASSERT_OK(tls_run(c, f.cert, "api.anthropic.com", "api.openai.com", h2_h11,
			  sizeof(h2_h11) - 1, &res));
	ASSERT_EQ(res.handshake, -1);
	ASSERT_EQ(res.verify, X509_V_ERR_HOSTNAME_MISMATCH);
	certs_free(c);
	fixture_clean(&f);
}

/* Runs certs_cli_ca_init() with stdout silenced; its exit status. */
static int cli(int argc, const char **argv)
{
	int saved, devnull, r;

	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	devnull = open("/dev/null", O_WRONLY);
	if (saved < 0 || devnull < 0)
		return -1;
	dup2(devnull, STDOUT_FILENO);
	close(devnull);
	r = certs_cli_ca_init(argc, (char **)argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	return r;
}

static void test_cli_ca_init(void)
{
	struct fixture f;
	struct certs *c = NULL;
	char err[1024];

	ASSERT_OK(fixture_init(&f));
	{
		const char *argv[] = {"ca", "init", f.dir, "--domain", "Example.ORG", NULL};
		const char *usage1[] = {"ca", "init", NULL};
		const char *usage2[] = {"ca", "frob", f.dir, NULL};

		ASSERT_EQ(cli(5, argv), 0);
		ASSERT_EQ(cli(5, argv), 1);
		ASSERT_EQ(cli(2, usage1), 2);
		ASSERT_EQ(cli(3, usage2), 2);
	}
	ASSERT_OK(certs_open(f.dir, &c));
	ASSERT_OK(certs_check_host(c, "api.example.org", err, sizeof(err)));
	ASSERT_EQ(certs_check_host(c, "api.openai.com", err, sizeof(err)), -EPERM);
	ASSERT_CONTAINS(err, "covers only example.org;");
	certs_free(c);
	fixture_clean(&f);

	/* no --domain: the two default providers */
	ASSERT_OK(fixture_init(&f));
	{
		const char *argv[] = {"ca", "init", f.dir, NULL};

		ASSERT_EQ(cli(3, argv), 0);
	}
	ASSERT_OK(certs_open(f.dir, &c));
	ASSERT_OK(certs_check_host(c, "api.openai.com", err, sizeof(err)));
	ASSERT_OK(certs_check_host(c, "api.anthropic.com", err, sizeof(err)));
	certs_free(c);
	fixture_clean(&f);
}

UNIT_MAIN(UNIT_CASE(test_ca_init_files), UNIT_CASE(test_ca_extensions),
	  UNIT_CASE(test_domain_of_host), UNIT_CASE(test_open_checks_key_mode),
	  UNIT_CASE(test_leaf_verifies), UNIT_CASE(test_cache),
	  UNIT_CASE(test_name_constraints_enforced), UNIT_CASE(test_check_host),
	  UNIT_CASE(test_tls_handshake), UNIT_CASE(test_cli_ca_init))
