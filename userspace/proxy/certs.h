/*
 * certs: the gateway's CA and the leaf certificates minted from it for intercepted hosts.
 *
 * The CA (DIR/ca.pem, DIR/ca.key) is made once by `aigw ca init` and trusted by the workloads.
 * It is name-constrained to the provider domains it was made for, so a leaked ca.key can
 * impersonate nothing else. The daemon loads it with certs_open() and asks certs_server_ctx()
 * for the SSL_CTX that serves a captured client: a leaf for that host, minted once and cached.
 * Leaves exist only in memory; one ECDSA P-256 leaf key, made at certs_open(), signs for all.
 *
 * Not thread-safe: one struct certs per thread, or a lock around every call.
 */
#ifndef AIGW_PROXY_CERTS_H
#define AIGW_PROXY_CERTS_H

#include <stddef.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define CERTS_DIR_DEFAULT "/var/lib/aigw/ca" /* the policy's default ca.dir */
#define CERTS_CACHE_MAX 1024 /* hosts whose SSL_CTX is kept; the least recently used goes */
#define CERTS_DOMAINS_MAX 64 /* permitted subtrees a CA may carry */
#define CERTS_HOST_MAX 253   /* longest DNS name, without a trailing dot */

struct certs;

/* What a struct certs has done since certs_open(), for status output and tests. */
struct certs_stats {
	unsigned long minted; /* leaves signed (cache misses that succeeded) */
	unsigned long hits;   /* certs_server_ctx() answered from the cache */
	unsigned long evicted;
	size_t cached; /* hosts in the cache now */
};

/*
 * Creates DIR/ca.pem (0644) and DIR/ca.key (0600), DIR itself 0700 if missing. Refuses with
 * -EEXIST if either file exists. The CA: ECDSA P-256, CN "aigw gateway CA <hostname>",
 * basicConstraints critical CA:TRUE pathlen:0, keyUsage critical keyCertSign,cRLSign, SKI,
 * and critical Name Constraints permitting exactly the DNS subtrees DOMAINS (each a lowercase
 * name of two labels or more) and excluding every IPv4 and IPv6 address. Valid for 10 years
 * from a day ago. 0, -EINVAL for a bad domain, or another -errno.
 */
int certs_ca_init(const char *dir, const char *const *domains, size_t n_domains);

/*
 * The domain to constrain for a provider HOST: its last two labels, lowercased
 * ("api.openai.com" -> "openai.com"), or three when the second-to-last is a generic second
 * level under a two-letter country code ("api.foo.co.uk" -> "foo.co.uk", never "co.uk").
 * -EINVAL for IP literals and names that are not DNS names of two labels or more,
 * -ENAMETOOLONG when BUF is short.
 */
int certs_domain_of_host(const char *host, char *buf, size_t len);

/*
 * Loads DIR/ca.pem and DIR/ca.key and makes the leaf key. Refuses (-EPERM) a ca.key that
 * group or other may access, and (-EINVAL) a CA without DNS name constraints or whose key
 * does not match. On success *RET is the caller's, freed with certs_free().
 */
int certs_open(const char *dir, struct certs **ret);

/*
 * 0 if HOST is within the CA's permitted subtrees. -EPERM otherwise, and -EINVAL for a name
 * that is no DNS name; then ERRBUF (if LEN > 0) says which domains the CA covers and the
 * `aigw ca init` that would make one covering HOST.
 */
int certs_check_host(const struct certs *c, const char *host, char *errbuf, size_t len);

/*
 * The SSL_CTX that serves HOST (case-insensitive, trailing dot ignored) to a captured client:
 * the minted leaf and the CA as its chain, TLS 1.2 at least, ALPN "http/1.1" only. Minted on
 * the first call for a host and cached; the cache holds CERTS_CACHE_MAX hosts and evicts the
 * least recently used. The pointer is borrowed from the cache: valid until the next
 * certs_server_ctx() call (which may evict it) or certs_free(). SSL_new() and
 * SSL_set_SSL_CTX() take their own reference, so use it at once or SSL_CTX_up_ref() it.
 * NULL with errno set: EPERM (HOST outside the name constraints; logged), EINVAL (no DNS
 * name), EKEYEXPIRED (the CA has expired), ENOMEM/EIO.
 */
SSL_CTX *certs_server_ctx(struct certs *c, const char *host);

/*
 * Mints a leaf for HOST without checking it against the name constraints (a leaf outside
 * them is still signed, and every verifier refuses it). For tests and diagnostics; the proxy
 * uses certs_server_ctx(). On success *RET is the caller's, freed with X509_free().
 */
int certs_mint_leaf(struct certs *c, const char *host, X509 **ret);

/* The loaded CA certificate; borrowed, valid until certs_free(). */
X509 *certs_ca_cert(const struct certs *c);

void certs_stats(const struct certs *c, struct certs_stats *st);

/* Frees C, its cache and every SSL_CTX in it (SSLs still holding one keep it alive). */
void certs_free(struct certs *c);

/*
 * `aigw ca init DIR [--domain D ...]` (default domains: openai.com, anthropic.com). ARGV[0] is
 * "ca", as main() passes it. Prints what it made and how to trust it. Returns the process exit
 * status: 0, 1 on failure, 2 on bad usage.
 */
int certs_cli_ca_init(int argc, char **argv);

#endif
