/*
 * certs.c: the gateway CA (made by `aigw ca init`, loaded by the daemon), the leaves minted
 * from it, and the per-host LRU cache of the SSL_CTXs that serve them.
 *
 * Pieces:
 *   host_normalize()     every host and domain goes through it: lowercase LDH labels, no
 *                        trailing dot, no IP literal. The cache and the constraint check
 *                        compare normalized names only.
 *   certs_ca_init()      key, self-signed CA with name constraints, two O_EXCL files.
 *   certs_open()         loads and checks the CA, reads its permitted DNS subtrees back out of
 *                        the certificate (the certificate, not a config file, is what
 *                        verifiers enforce), makes the one leaf key.
 *   certs_mint_leaf()    signs a leaf; certs_server_ctx() wraps it in a cached SSL_CTX.
 *
 * OpenSSL failures are logged with the library's reason and the thread's error queue is
 * cleared, so no stale error confuses a later SSL_get_error() in the proxy.
 */
#include "proxy/certs.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "util/keyfile.h"
#include "util/log.h"

#define CA_LIFETIME_DAYS 3652		 /* ten years, leap days included */
#define CA_BACKDATE_S (24 * 3600)	 /* tolerate clients whose clock is a day behind */
#define LEAF_BACKDATE_S 3600		 /* and an hour for leaves */
#define LEAF_LIFETIME_S (30 * 24 * 3600) /* capped by the CA's own end */
#define SERIAL_BYTES 16
#define CN_MAX 64 /* ub-common-name: longer hosts get a SAN only */
#define CACHE_BUCKETS (2 * CERTS_CACHE_MAX) /* a power of two */
#define EC_CURVE "P-256"

struct certs_entry {
	char host[CERTS_HOST_MAX + 1];	 /* normalized */
	SSL_CTX *ctx;			 /* owned by the entry (one reference) */
	struct certs_entry *hnext;	 /* bucket chain */
	struct certs_entry *prev, *next; /* LRU list, most recently used first */
};

struct certs {
	X509 *ca;	    /* owned */
	EVP_PKEY *ca_key;   /* owned */
	EVP_PKEY *leaf_key; /* owned; the public key of every leaf */
	time_t ca_end;	    /* the CA's notAfter */
	char **domains;	    /* owned, and each string: the CA's permitted DNS subtrees */
	size_t n_domains;
	struct certs_entry *buckets[CACHE_BUCKETS]; /* entries owned through the LRU list */
	struct certs_entry *lru_head, *lru_tail;
	struct certs_stats st;
};

/* Logs WHAT with OpenSSL's reasons, empties the error queue, returns -EIO. */
static int ldh_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
}

static char ascii_lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

/*
 * Lowercases HOST into BUF without its trailing dot. Returns the number of labels, or -EINVAL
 * for what is no DNS name (IP literals included: ':' is no LDH character, and no top-level
 * label is all digits), -ENAMETOOLONG if BUF is short.
 */
static int host_normalize(const char *host, char *buf, size_t len)
{
	size_t n = host ? strlen(host) : 0, label = 0;
	int labels = 1, digits = 1;

	if (n && host[n - 1] == '.')
		n--;
	if (!n || n > CERTS_HOST_MAX)
		return -EINVAL;
	if (n >= len)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < n; i++) {
		char ch = ascii_lower(host[i]);

		buf[i] = ch;
		if (ch == '.') {
			if (!label || buf[i - 1] == '-')
				return -EINVAL;
			labels++;
			label = 0;
			digits = 1;
			continue;
		}
		if (!ldh_char(ch) || (ch == '-' && !label) || ++label > 63)
			return -EINVAL;
		digits &= ch >= '0' && ch <= '9';
	}
	if (!label || buf[n - 1] == '-' || digits)
		return -EINVAL;
	buf[n] = '\0';
	return labels;
}

/*
 * How many trailing labels of NAME (normalized) a registrant controls at least: 2, or 3 when
 * the last two look like a country's generic second level ("co.uk", "com.au"). A heuristic,
 * not the Public Suffix List: it only keeps the common cases from constraining a CA to a
 * whole public suffix.
 */
static int registrable_labels(const char *name)
{
	static const char *const generic[] = {"co", "com", "net", "org", "gov", "edu", "ac"};
	const char *tld = strrchr(name, '.'), *sld;
	size_t sld_len;

	if (!tld || strlen(tld + 1) != 2)
		return 2;
	for (sld = tld; sld > name && sld[-1] != '.'; sld--)
		;
	sld_len = tld - sld;
	for (size_t i = 0; i < sizeof(generic) / sizeof(generic[0]); i++)
		if (strlen(generic[i]) == sld_len && !strncmp(sld, generic[i], sld_len))
			return 3;
	return 2;
}

int certs_domain_of_host(const char *host, char *buf, size_t len)
{
	char name[CERTS_HOST_MAX + 1];
	const char *p;
	int labels = host_normalize(host, name, sizeof(name)), keep;

	if (labels < 0)
		return labels;
	keep = registrable_labels(name);
	if (labels < keep)
		return -EINVAL;
	p = name + strlen(name);
	for (int dots = 0; p > name; p--)
		if (p[-1] == '.' && ++dots == keep)
			break;
	if (strlen(p) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, p);
	return 0;
}

/* 1 if DOMAIN's subtree holds HOST (both normalized): OpenSSL's rule for DNS constraints. */
static int domain_covers(const char *domain, const char *host)
{
	size_t d = strlen(domain), h = strlen(host);

	if (h < d || strcmp(host + h - d, domain))
		return 0;
	return h == d || host[h - d - 1] == '.' || domain[0] == '.';
}

/* Normalizes DOMAIN into NAME if a CA may be constrained to it: a DNS name no wider than a
 * registrable domain. */
static int domain_normalize(const char *domain, char name[CERTS_HOST_MAX + 1])
{
	int labels = host_normalize(domain, name, CERTS_HOST_MAX + 1);

	if (labels < 2 || labels < registrable_labels(name)) {
		log_error("'%s' is not a domain a CA can be constrained to (a DNS name of two "
			  "labels or more, no public suffix such as co.uk, no IP address)",
			  domain ? domain : "(null)");
		return -EINVAL;
	}
	return 0;
}

static int set_random_serial(X509 *x)
{
	unsigned char b[SERIAL_BYTES];
	BIGNUM *bn;
	int err = -EIO;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	b[0] = (b[0] & 0x3f) | 0x40; /* positive, and all 16 bytes significant */
	bn = BN_bin2bn(b, sizeof(b), NULL);
	if (bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		err = 0;
	BN_free(bn);
	return err;
}

static int set_validity(X509 *x, time_t from, time_t to)
{
	if (!ASN1_TIME_set(X509_getm_notBefore(x), from) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), to))
		return -EIO;
	return 0;
}

/* Adds the extension NID written as in openssl.cnf (a fixed string: no user input). */
static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
	if (!ext)
		return -EIO;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -ENOMEM;
}

/* A dNSName; the caller owns it. */
static GENERAL_NAME *dns_name(const char *name)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	if (!gn || !s || !ASN1_STRING_set(s, name, (int)strlen(name))) {
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(s);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_DNS, s);
	return gn;
}

/* An iPAddress subtree of ADDR_LEN-byte addresses whose address and mask are all zero:
 * every address of that family. The caller owns it. */
static GENERAL_NAME *ip_any(size_t addr_len)
{
	static const unsigned char zero[32];
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_OCTET_STRING *s = ASN1_OCTET_STRING_new();

	if (!gn || !s || !ASN1_OCTET_STRING_set(s, zero, (int)(2 * addr_len))) {
		GENERAL_NAME_free(gn);
		ASN1_OCTET_STRING_free(s);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_IPADD, s);
	return gn;
}

/*
 * Appends a subtree of base GN (taken over, also on error) to *SK, made if NULL. *SK is a
 * STACK_OF(GENERAL_SUBTREE), spelled out so the formatter keeps the pointer declaration.
 */
static int push_subtree(struct stack_st_GENERAL_SUBTREE **sk, GENERAL_NAME *gn)
{
	GENERAL_SUBTREE *st = NULL;

	if (!gn)
		return -ENOMEM;
	if (!*sk)
		*sk = sk_GENERAL_SUBTREE_new_null();
	if (*sk)
		st = GENERAL_SUBTREE_new();
	if (!st) {
		GENERAL_NAME_free(gn);
		return -ENOMEM;
	}
	GENERAL_NAME_free(st->base);
	st->base = gn;
	if (!sk_GENERAL_SUBTREE_push(*sk, st)) {
		GENERAL_SUBTREE_free(st);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Critical Name Constraints: permitted DNS subtrees DOMAINS, and every IPv4 and IPv6 address
 * excluded. DNS-only permitted subtrees leave other name forms unconstrained (RFC 5280
 * 4.2.1.10), so without the exclusion the CA could still sign for https://<any IP>/.
 */
static int add_name_constraints(X509 *x, const char *const *domains, size_t n)
{
	NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
	int err = nc ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < n; i++)
		err = push_subtree(&nc->permittedSubtrees, dns_name(domains[i]));
	if (!err)
		err = push_subtree(&nc->excludedSubtrees, ip_any(4));
	if (!err)
		err = push_subtree(&nc->excludedSubtrees, ip_any(16));
	if (!err && !X509_add1_ext_i2d(x, NID_name_constraints, nc, 1, X509V3_ADD_DEFAULT))
		err = -ENOMEM;
	NAME_CONSTRAINTS_free(nc);
	return err;
}

/* subjectAltName dNSName=NAME; critical when the subject is empty (RFC 5280 4.2.1.6). */
static int add_san(X509 *x, const char *name, int critical)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = dns_name(name);
	int err = 0;

	if (!gens || !gn || !sk_GENERAL_NAME_push(gens, gn)) {
		GENERAL_NAME_free(gn);
		err = -ENOMEM;
	} else if (!X509_add1_ext_i2d(x, NID_subject_alt_name, gens, critical,
				      X509V3_ADD_DEFAULT)) {
		err = -ENOMEM;
	}
	GENERAL_NAMES_free(gens);
	return err;
}

static int set_cn(X509_NAME *xn, const char *cn)
{
	if (!X509_NAME_add_entry_by_NID(xn, NID_commonName, MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0))
		return -EINVAL;
	return 0;
}

/* Subject and issuer "CN=aigw gateway CA <hostname>". */
static int ca_set_name(X509 *x)
{
	char host[HOST_NAME_MAX + 1] = "", cn[CN_MAX + 1];
	static const char prefix[] = "aigw gateway CA ";
	X509_NAME *xn = X509_get_subject_name(x);

	if (gethostname(host, sizeof(host)) || !host[0])
		strcpy(host, "unknown");
	host[sizeof(host) - 1] = '\0';
	/* the CN holds 64 characters at most: the hostname is cut to fit */
	snprintf(cn, sizeof(cn), "%s%.*s", prefix, (int)(CN_MAX - sizeof(prefix) + 1), host);
	if (set_cn(xn, cn) || !X509_set_issuer_name(x, xn))
		return -EIO;
	return 0;
}

/* The self-signed CA of KEY for DOMAINS; *RET is the caller's. */
static int ca_build(EVP_PKEY *key, const char *const *domains, size_t n, X509 **ret)
{
	time_t now = time(NULL);
	X509 *x = X509_new();
	int err = -ENOMEM;

	if (!x || !X509_set_version(x, X509_VERSION_3) || !X509_set_pubkey(x, key))
		goto out;
	err = set_random_serial(x);
	if (!err)
		err = set_validity(x, now - CA_BACKDATE_S, now + CA_LIFETIME_DAYS * 24 * 3600L);
	if (!err)
		err = ca_set_name(x);
	if (!err)
		err = add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
	if (!err)
		err = add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (!err)
		err = add_ext(x, x, NID_subject_key_identifier, "hash");
	if (!err)
		err = add_name_constraints(x, domains, n);
	if (!err && !X509_sign(x, key, EVP_sha256()))
		err = -EIO;
out:
	if (err) {
		X509_free(x);
		return err;
	}
	*ret = x;
	return 0;
}

/* Creates DIR 0700 (parents 0755) if missing; an existing DIR is kept, with a warning if
 * others may write to it. */
static int make_dir(const char *dir)
{
	char path[PATH_MAX];
	size_t n = strlen(dir);
	struct stat st;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (!n || n >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, n);
	path[n] = '\0';
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	if (stat(path, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		log_warn("%s: group or other may write to it; the CA key belongs in a directory "
			 "only root controls",
			 path);
	return 0;
}

static int ca_paths(const char *dir, char *cert, char *key)
{
	if (snprintf(cert, PATH_MAX, "%s/ca.pem", dir) >= PATH_MAX ||
	    snprintf(key, PATH_MAX, "%s/ca.key", dir) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static int path_exists(const char *path)
{
	struct stat st;

	return !lstat(path, &st) || errno != ENOENT;
}

/* Writes KEY to KEY_PATH (0600) and CA to CERT_PATH (0644); neither file is left on error. */
static int ca_write(EVP_PKEY *key, X509 *ca, const char *cert_path, const char *key_path)
{
	BIO *kb = BIO_new(BIO_s_secmem()), *cb = BIO_new(BIO_s_mem());
	char *kdata, *cdata;
	long klen, clen;
	int err = -ENOMEM;

	if (!kb || !cb || !PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_X509(cb, ca))
		goto out;
	klen = BIO_get_mem_data(kb, &kdata);
	clen = BIO_get_mem_data(cb, &cdata);
	err = keyfile_write_new(key_path, 0600, kdata, klen);
	if (err)
		goto out;
	err = keyfile_write_new(cert_path, 0644, cdata, clen);
	if (err)
		unlink(key_path);
out:
	BIO_free(kb);
	BIO_free(cb);
	return err;
}

/* Makes the key and CA for DOMAINS (normalized) and writes them as new files. */
static int ca_create(const char *cert_path, const char *key_path, const char *const *domains,
		     size_t n)
{
	EVP_PKEY *key = EVP_EC_gen(EC_CURVE);
	X509 *ca = NULL;
	int err;

	if (!key)
		return log_ssl_error("ca init: generate the CA key");
	err = ca_build(key, domains, n, &ca);
	if (err) {
		log_ssl_error("ca init: build the CA certificate");
	} else {
		err = ca_write(key, ca, cert_path, key_path);
		if (err)
			log_error("ca init: write %s: %s", key_path, strerror(-err));
	}
	X509_free(ca);
	EVP_PKEY_free(key);
	return err;
}

int certs_ca_init(const char *dir, const char *const *domains, size_t n_domains)
{
	char names[CERTS_DOMAINS_MAX][CERTS_HOST_MAX + 1];
	const char *norm[CERTS_DOMAINS_MAX];
	char cert_path[PATH_MAX], key_path[PATH_MAX];
	int err;

	if (!n_domains || n_domains > CERTS_DOMAINS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n_domains; i++) {
		err = domain_normalize(domains[i], names[i]);
		if (err)
			return err;
		norm[i] = names[i];
	}
	err = ca_paths(dir, cert_path, key_path);
	if (!err)
		err = make_dir(dir);
	if (err)
		return err;
	if (path_exists(cert_path) || path_exists(key_path))
		return -EEXIST;
	return ca_create(cert_path, key_path, norm, n_domains);
}

static int load_ca_key(struct certs *c, const char *path)
{
	int err = keyfile_load_private(path, &c->ca_key);

	return err == -EBADMSG ? log_ssl_error(path) : err;
}

static int load_ca_cert(struct certs *c, const char *path)
{
	FILE *f = fopen(path, "re");
	struct tm tm;

	if (!f)
		return -errno;
	c->ca = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!c->ca)
		return log_ssl_error(path);
	if (!ASN1_TIME_to_tm(X509_get0_notAfter(c->ca), &tm))
		return log_ssl_error(path);
	c->ca_end = timegm(&tm);
	return 0;
}

/* Copies the CA's permitted dNSName subtrees into c->domains; the CA must have some. */
static int load_domains(struct certs *c)
{
	NAME_CONSTRAINTS *nc = X509_get_ext_d2i(c->ca, NID_name_constraints, NULL, NULL);
	int n = nc ? sk_GENERAL_SUBTREE_num(nc->permittedSubtrees) : 0, err = 0;

	if (n > 0)
		c->domains = calloc(n, sizeof(*c->domains));
	for (int i = 0; c->domains && i < n && !err; i++) {
		GENERAL_NAME *gn = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i)->base;
		char name[CERTS_HOST_MAX + 1];
		const unsigned char *d;
		int len;

		if (gn->type != GEN_DNS)
			continue;
		d = ASN1_STRING_get0_data(gn->d.dNSName);
		len = ASN1_STRING_length(gn->d.dNSName);
		if (len <= 0 || len > CERTS_HOST_MAX || memchr(d, '\0', len))
			continue;
		memcpy(name, d, len);
		name[len] = '\0';
		if (host_normalize(name, name, sizeof(name)) < 0)
			continue;
		c->domains[c->n_domains] = strdup(name);
		if (!c->domains[c->n_domains++])
			err = -ENOMEM;
	}
	NAME_CONSTRAINTS_free(nc);
	if (n > 0 && !c->domains)
		return -ENOMEM;
	if (!err && !c->n_domains)
		err = -EINVAL;
	return err;
}

/* The CA must be a CA, match its key, carry an SKI (leaves' AKI) and DNS constraints. */
static int check_ca(struct certs *c, const char *cert_path)
{
	int err;

	if (X509_check_private_key(c->ca, c->ca_key) != 1) {
		log_ssl_error(cert_path);
		log_error("%s: ca.key is not this CA's key", cert_path);
		return -EINVAL;
	}
	if (X509_check_ca(c->ca) != 1 || !X509_get0_subject_key_id(c->ca)) {
		log_error("%s: not a CA certificate with a subject key identifier", cert_path);
		return -EINVAL;
	}
	err = load_domains(c);
	if (err == -EINVAL)
		log_error("%s: the CA has no DNS name constraints; aigw only uses a CA limited to "
			  "the provider domains (make one with `aigw ca init`)",
			  cert_path);
	if (!err && c->ca_end <= time(NULL))
		log_warn("%s: the CA has expired; no leaf can be minted until a new one is made",
			 cert_path);
	return err;
}

int certs_open(const char *dir, struct certs **ret)
{
	char cert_path[PATH_MAX], key_path[PATH_MAX];
	struct certs *c;
	int err = ca_paths(dir, cert_path, key_path);

	if (err)
		return err;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	err = load_ca_cert(c, cert_path);
	if (!err)
		err = load_ca_key(c, key_path);
	if (!err)
		err = check_ca(c, cert_path);
	if (!err) {
		c->leaf_key = EVP_EC_gen(EC_CURVE);
		if (!c->leaf_key)
			err = log_ssl_error("generate the leaf key");
	}
	if (err) {
		ERR_clear_error();
		certs_free(c);
		return err;
	}
	*ret = c;
	return 0;
}

/* snprintf at BUF + *POS, advancing *POS; output past LEN is cut. */
static void appendf(char *buf, size_t len, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void appendf(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*pos >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos += n;
}

/* Why NAME (normalized) may not be served, and the `aigw ca init` that would allow it. */
static void explain_refusal(const struct certs *c, const char *name, char *buf, size_t len)
{
	char want[CERTS_HOST_MAX + 1];
	size_t pos = 0;

	appendf(buf, len, &pos, "%s is outside the gateway CA's name constraints: it covers only ",
		name);
	for (size_t i = 0; i < c->n_domains; i++)
		appendf(buf, len, &pos, "%s%s", i ? ", " : "", c->domains[i]);
	appendf(buf, len, &pos, "; a new CA is needed: aigw ca init DIR");
	for (size_t i = 0; i < c->n_domains; i++)
		appendf(buf, len, &pos, " --domain %s", c->domains[i]);
	if (!certs_domain_of_host(name, want, sizeof(want)))
		appendf(buf, len, &pos, " --domain %s", want);
	appendf(buf, len, &pos, ", then have every workload trust it (deploy/trust-ca.sh)");
}

int certs_check_host(const struct certs *c, const char *host, char *errbuf, size_t len)
{
	char name[CERTS_HOST_MAX + 1];

	if (host_normalize(host, name, sizeof(name)) < 0) {
		if (len)
			snprintf(errbuf, len,
				 "'%s' is not a DNS name (IP literals are never served)",
				 host ? host : "(null)");
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n_domains; i++)
		if (domain_covers(c->domains[i], name))
			return 0;
	if (len)
		explain_refusal(c, name, errbuf, len);
	return -EPERM;
}

/* Everything of leaf X but the signature, for NAME (normalized), valid FROM..TO. */
static int leaf_fill(struct certs *c, X509 *x, const char *name, time_t from, time_t to)
{
	int long_name = strlen(name) > CN_MAX, err;

	if (!X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(c->ca)) ||
	    !X509_set_pubkey(x, c->leaf_key))
		return -ENOMEM;
	err = set_random_serial(x);
	if (!err)
		err = set_validity(x, from, to);
	if (!err && !long_name)
		err = set_cn(X509_get_subject_name(x), name);
	if (!err)
		err = add_san(x, name, long_name);
	if (!err)
		err = add_ext(x, c->ca, NID_basic_constraints, "critical,CA:FALSE");
	if (!err)
		err = add_ext(x, c->ca, NID_key_usage, "critical,digitalSignature");
	if (!err)
		err = add_ext(x, c->ca, NID_ext_key_usage, "serverAuth");
	if (!err)
		err = add_ext(x, c->ca, NID_authority_key_identifier, "keyid:always");
	return err;
}

int certs_mint_leaf(struct certs *c, const char *host, X509 **ret)
{
	char name[CERTS_HOST_MAX + 1];
	time_t now = time(NULL), end = now + LEAF_LIFETIME_S;
	X509 *x;
	int err;

	if (host_normalize(host, name, sizeof(name)) < 0)
		return -EINVAL;
	if (c->ca_end <= now) {
		log_error("mint %s: the gateway CA has expired; make a new one (aigw ca init)",
			  name);
		return -EKEYEXPIRED;
	}
	if (end > c->ca_end)
		end = c->ca_end;
	x = X509_new();
	if (!x)
		return -ENOMEM;
	err = leaf_fill(c, x, name, now - LEAF_BACKDATE_S, end);
	if (!err && !X509_sign(x, c->ca_key, EVP_sha256()))
		err = -EIO;
	if (err) {
		log_ssl_error(name);
		X509_free(x);
		return err;
	}
	c->st.minted++;
	*ret = x;
	return 0;
}

/*
 * ALPN: the proxy speaks HTTP/2 (http2.c) and HTTP/1.1 to captured clients: "h2" when the
 * client offers it, wherever in its list, else "http/1.1". The upstream stays HTTP/1.1
 * either way. A client whose list has neither gets no ALPN at all, not the
 * no_application_protocol alert RFC 7301 suggests: with no ALPN, HTTP/1.1 is what TLS on 443
 * means, so such a client fails, if it does, at the HTTP layer where the proxy sees and can
 * log the attempt, instead of in an opaque handshake failure.
 */
static int alpn_offered(const unsigned char *in, unsigned int inlen, const char *want,
			const unsigned char **out, unsigned char *outlen)
{
	size_t wlen = strlen(want);
	unsigned int i = 0;

	while (i < inlen) {
		unsigned int n = in[i++];

		if (n > inlen - i)
			break;
		if (n == wlen && !memcmp(in + i, want, n)) {
			*out = in + i;
			*outlen = (unsigned char)n;
			return 1;
		}
		i += n;
	}
	return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	if (alpn_offered(in, inlen, "h2", out, outlen) ||
	    alpn_offered(in, inlen, "http/1.1", out, outlen))
		return SSL_TLSEXT_ERR_OK;
	return SSL_TLSEXT_ERR_NOACK;
}

/* The server SSL_CTX for LEAF; the caller owns it. */
static SSL_CTX *server_ctx_new(struct certs *c, X509 *leaf)
{
	SSL_CTX *ctx = SSL_CTX_new_ex(NULL, NULL, TLS_server_method());

	if (!ctx)
		return NULL;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate(ctx, leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, c->leaf_key) != 1 ||
	    SSL_CTX_add1_chain_cert(ctx, c->ca) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* an idle connection holds none */
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return ctx;
}

static size_t host_bucket(const char *name)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h & (CACHE_BUCKETS - 1);
}

static void lru_unlink(struct certs *c, struct certs_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->lru_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->lru_tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct certs *c, struct certs_entry *e)
{
	e->next = c->lru_head;
	if (c->lru_head)
		c->lru_head->prev = e;
	else
		c->lru_tail = e;
	c->lru_head = e;
}

static struct certs_entry *cache_find(struct certs *c, const char *name)
{
	struct certs_entry *e = c->buckets[host_bucket(name)];

	while (e && strcmp(e->host, name))
		e = e->hnext;
	return e;
}

/* Drops the least recently used entry; SSLs made from its SSL_CTX keep their reference. */
static void cache_evict(struct certs *c)
{
	struct certs_entry *e = c->lru_tail, **pp;

	for (pp = &c->buckets[host_bucket(e->host)]; *pp != e; pp = &(*pp)->hnext)
		;
	*pp = e->hnext;
	lru_unlink(c, e);
	SSL_CTX_free(e->ctx);
	free(e);
	c->st.cached--;
	c->st.evicted++;
}

/* Caches CTX (taking it over on success) under NAME, evicting if full. */
static int cache_insert(struct certs *c, const char *name, SSL_CTX *ctx)
{
	struct certs_entry *e = calloc(1, sizeof(*e));
	size_t b = host_bucket(name);

	if (!e)
		return -ENOMEM;
	if (c->st.cached >= CERTS_CACHE_MAX)
		cache_evict(c);
	strcpy(e->host, name);
	e->ctx = ctx;
	e->hnext = c->buckets[b];
	c->buckets[b] = e;
	lru_push_front(c, e);
	c->st.cached++;
	return 0;
}

/* Mints and caches the SSL_CTX for NAME (normalized, not cached yet); -errno on failure. */
static int server_ctx_add(struct certs *c, const char *name, SSL_CTX **ret)
{
	char why[1024];
	SSL_CTX *ctx;
	X509 *leaf;
	int err = certs_check_host(c, name, why, sizeof(why));

	if (err) {
		log_warn("%s", why);
		return err;
	}
	err = certs_mint_leaf(c, name, &leaf);
	if (err)
		return err;
	ctx = server_ctx_new(c, leaf);
	X509_free(leaf);
	if (!ctx)
		return log_ssl_error(name);
	err = cache_insert(c, name, ctx);
	if (err) {
		SSL_CTX_free(ctx);
		return err;
	}
	log_debug("minted a leaf for %s", name);
	*ret = ctx;
	return 0;
}

SSL_CTX *certs_server_ctx(struct certs *c, const char *host)
{
	char name[CERTS_HOST_MAX + 1];
	struct certs_entry *e;
	SSL_CTX *ctx = NULL;
	int err;

	if (host_normalize(host, name, sizeof(name)) < 0) {
		errno = EINVAL;
		return NULL;
	}
	e = cache_find(c, name);
	if (e) {
		lru_unlink(c, e);
		lru_push_front(c, e);
		c->st.hits++;
		return e->ctx;
	}
	err = server_ctx_add(c, name, &ctx);
	if (err) {
		errno = -err;
		return NULL;
	}
	return ctx;
}

X509 *certs_ca_cert(const struct certs *c)
{
	return c->ca;
}

void certs_stats(const struct certs *c, struct certs_stats *st)
{
	*st = c->st;
}

void certs_free(struct certs *c)
{
	if (!c)
		return;
	while (c->lru_tail)
		cache_evict(c);
	for (size_t i = 0; i < c->n_domains; i++)
		free(c->domains[i]);
	free(c->domains);
	EVP_PKEY_free(c->leaf_key);
	EVP_PKEY_free(c->ca_key);
	X509_free(c->ca);
	free(c);
}

static void cli_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: aigw ca init DIR [--domain DOMAIN ...]\n"
	    "  makes DIR/ca.pem and DIR/ca.key: a CA that can sign only for the DOMAINs and\n"
	    "  their subdomains (default: openai.com, anthropic.com). Usual DIR: " CERTS_DIR_DEFAULT
	    "\n");
}

/* "AB:CD:..." of the certificate at PATH, or "?" if it cannot be read. */
static void cli_fingerprint(const char *path, char *buf, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	BIO *bio = BIO_new_file(path, "r");
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	size_t pos = 0;

	snprintf(buf, len, "?");
	if (x && X509_digest(x, EVP_sha256(), md, &n))
		for (unsigned int i = 0; i < n; i++)
			appendf(buf, len, &pos, "%s%02X", i ? ":" : "", md[i]);
	X509_free(x);
	BIO_free(bio);
	ERR_clear_error();
}

static void cli_report(const char *dir, const char *const *domains, size_t n)
{
	char abs[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], fp[3 * EVP_MAX_MD_SIZE + 1];

	if (!realpath(dir, abs))
		snprintf(abs, sizeof(abs), "%s", dir);
	if (ca_paths(abs, cert, key))
		return;
	cli_fingerprint(cert, fp, sizeof(fp));
	printf("created %s  (the CA certificate: what workloads trust)\n", cert);
	printf("created %s  (its private key, mode 0600: keep it root-only, never copy it)\n", key);
	printf("the CA can sign only for:");
	for (size_t i = 0; i < n; i++)
		printf(" %s%s", domains[i], i + 1 < n ? "," : "");
	printf(" (and their subdomains; never IP addresses)\n");
	printf("SHA-256 fingerprint: %s\n\n", fp);
	printf("trust it system-wide (Debian/Ubuntu):  sudo deploy/trust-ca.sh %s\n", cert);
	printf("that script also prints what each runtime needs: SSL_CERT_FILE (OpenSSL, Python\n"
	       "ssl/httpx), REQUESTS_CA_BUNDLE (Python requests), NODE_EXTRA_CA_CERTS (Node.js);\n"
	       "see deploy/README.md. Containers with their own trust store need it too.\n");
}

int certs_cli_ca_init(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"domain", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	static const char *const defaults[] = {"openai.com", "anthropic.com"};
	const char *domains[CERTS_DOMAINS_MAX];
	size_t n = 0;
	int ch, err;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			if (n == CERTS_DOMAINS_MAX) {
				fprintf(stderr, "aigw ca init: at most %d domains\n",
					CERTS_DOMAINS_MAX);
				return 2;
			}
			domains[n++] = optarg;
			break;
		case 'h':
			cli_usage(stdout);
			return 0;
		default:
			cli_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2 || strcmp(argv[optind], "init")) {
		cli_usage(stderr);
		return 2;
	}
	if (!n)
		for (; n < sizeof(defaults) / sizeof(defaults[0]); n++)
			domains[n] = defaults[n];
	err = certs_ca_init(argv[optind + 1], domains, n);
	if (err == -EEXIST) {
		fprintf(stderr,
			"aigw ca init: %s already holds ca.pem or ca.key; refusing to replace a CA "
			"(remove both first if you mean to: every workload must then trust the new "
			"one)\n",
			argv[optind + 1]);
		return 1;
	}
	if (err) {
		fprintf(stderr, "aigw ca init: %s: %s\n", argv[optind + 1], strerror(-err));
		return 1;
	}
	cli_report(argv[optind + 1], domains, n);
	return 0;
}
