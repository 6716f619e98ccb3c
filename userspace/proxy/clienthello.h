/*
 * clienthello: the TLS ClientHello at the start of a captured connection, parsed from the bytes
 * peeked (recv MSG_PEEK) before any is consumed, so the proxy can choose to terminate TLS (SNI
 * is a provider host), splice the bytes through untouched, refuse it (a name that is not the
 * one the server will read: no SNI or an Encrypted ClientHello to a provider's address), or
 * apply the non-TLS policy.
 *
 * Strict, allocation-free, no recursion, never reads past LEN. The ClientHello may span several
 * TLS records (legal though rare); it is reassembled as long as it fits CLIENTHELLO_MAX_PEEK.
 */
#ifndef AIGW_PROXY_CLIENTHELLO_H
#define AIGW_PROXY_CLIENTHELLO_H

#include <stddef.h>
#include <stdint.h>

/*
 * The most bytes a caller needs to peek: a ClientHello whose records (headers included) do not
 * end within this many bytes is refused with -EMSGSIZE.
 */
#define CLIENTHELLO_MAX_PEEK 16384

#define CLIENTHELLO_MAX_ALPN 8

/* What the encrypted_client_hello extension (0xfe0d) says, if it is there. */
enum clienthello_ech {
	CLIENTHELLO_ECH_NONE = 0,
	CLIENTHELLO_ECH_OUTER = 1, /* a ClientHelloOuter: the real hello is encrypted inside (or
				      GREASE, which looks the same); the SNI is a public name */
	CLIENTHELLO_ECH_INNER = 2, /* the "inner" marker, which belongs only inside the encrypted
				      hello: seen in clear, the client is not speaking to us */
};

struct clienthello {
	char sni[256]; /* server_name host_name, NUL-terminated, lower-cased, no trailing dot */
	int has_sni;   /* 1 if the server_name extension named a host; else sni is "" */
	/*
	 * The ALPN protocols offered, in order. Only the first CLIENTHELLO_MAX_ALPN are kept, and
	 * only names of 1..31 printable ASCII characters (GREASE and other binary or long names
	 * are left out); offers_h2 and offers_http11 look at the whole list.
	 */
	char alpn[CLIENTHELLO_MAX_ALPN][32];
	int n_alpn;
	int offers_h2, offers_http11;
	uint16_t legacy_version; /* the ClientHello's client_version, e.g. 0x0303 */
	int tls13_offered;	 /* supported_versions lists 0x0304 */
	enum clienthello_ech ech;
};

/*
 * Parses the ClientHello at the start of BUF. Returns
 *   0          a complete ClientHello was parsed into *RET (bytes after it are not looked at);
 *   -EAGAIN    the LEN bytes are a valid prefix of a ClientHello: peek more and call again;
 *   -EPROTO    not TLS: the first byte is not 0x16 (handshake), the record version is not 3.x,
 *              or the first handshake message is not a ClientHello (SSLv2 hellos included);
 *   -EBADMSG   TLS but malformed: inconsistent lengths, a duplicated extension we read, an
 *              SNI that is not a valid host name, bytes after the ClientHello in its record, ...
 *   -EMSGSIZE  the ClientHello does not end within CLIENTHELLO_MAX_PEEK bytes.
 * On any return but 0, *RET is all zero.
 */
int clienthello_parse(const uint8_t *buf, size_t len, struct clienthello *ret);

#endif
