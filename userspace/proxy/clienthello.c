/*
 * clienthello: parses a TLS ClientHello from peeked bytes (RFC 8446 4.1.2, RFC 5246 7.4.1.2)
 * and the extensions the proxy decides on: server_name (RFC 6066 3), ALPN (RFC 7301 3.1),
 * supported_versions (RFC 8446 4.2.1) and encrypted_client_hello (draft-ietf-tls-esni-25 5).
 *
 * Two stages. hs_gather() walks the TLS records and yields the handshake message with the
 * record framing removed: a pointer into BUF when it lies in one record, else a copy in a
 * CLIENTHELLO_MAX_PEEK stack buffer. Then the message is read with a struct rd, which knows
 * both the bytes declared by the enclosing length field (left) and the bytes actually present
 * (avail). Running past `left` is malformed (-EBADMSG); running past `avail` only means more
 * bytes are needed (-EAGAIN). Every check uses declared lengths or bytes present, never where
 * BUF happens to end, so each proper prefix of a valid ClientHello gives -EAGAIN.
 */
#include <errno.h>
#include <string.h>

#include "proxy/clienthello.h"

#define REC_HEADER 5
#define REC_MAX_PAYLOAD 16384 /* 2^14: a larger plaintext record is a record_overflow */
#define CT_HANDSHAKE 22
#define HS_HEADER 4
#define HS_CLIENT_HELLO 1

#define EXT_SERVER_NAME 0
#define EXT_ALPN 16
#define EXT_SUPPORTED_VERSIONS 43
#define EXT_ECH 0xfe0d
#define ECH_OUTER 0
#define ECH_INNER 1
#define SNI_HOST_NAME 0
#define HOST_MAX 253 /* a DNS name in text form, without the trailing dot */
#define LABEL_MAX 63

_Static_assert(sizeof(((struct clienthello *)0)->sni) >= HOST_MAX + 2, "sni holds a dotted name");

/* A field being read: LEFT bytes declared by its length prefix, AVAIL <= LEFT of them present. */
struct rd {
	const uint8_t *p;
	size_t left;
	size_t avail;
};

/* Checks that the next N bytes belong to R and are present. */
static int rd_need(const struct rd *r, size_t n)
{
	if (n > r->left)
		return -EBADMSG; /* a field that runs past the vector that holds it */
	if (n > r->avail)
		return -EAGAIN;
	return 0;
}

static void rd_advance(struct rd *r, size_t n)
{
	r->p += n;
	r->left -= n;
	r->avail -= n;
}

/* Reads an N-byte (1..3) big-endian integer. */
static int rd_uint(struct rd *r, size_t n, unsigned *v)
{
	int err = rd_need(r, n);

	if (err)
		return err;
	*v = 0;
	for (size_t i = 0; i < n; i++)
		*v = *v << 8 | r->p[i];
	rd_advance(r, n);
	return 0;
}

/* Skips N bytes, which must be present: a successful parse has seen every byte. */
static int rd_skip(struct rd *r, size_t n)
{
	int err = rd_need(r, n);

	if (err)
		return err;
	rd_advance(r, n);
	return 0;
}

/*
 * Splits off a vector with an LEN_BYTES-byte length prefix: SUB covers its contents, R
 * continues after it. When the contents are not all present, R is left with nothing present
 * (its pointer stays within BUF), so the next read from R asks for more.
 */
static int rd_vec(struct rd *r, size_t len_bytes, struct rd *sub)
{
	unsigned n;
	size_t here;
	int err = rd_uint(r, len_bytes, &n);

	if (err)
		return err;
	if (n > r->left)
		return -EBADMSG; /* the vector claims more than its enclosing field holds */
	here = n < r->avail ? n : r->avail;
	sub->p = r->p;
	sub->left = n;
	sub->avail = here;
	r->p += here;
	r->left -= n;
	r->avail -= here;
	return 0;
}

static int is_host_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.';
}

/* Checks the labels of the NUL-terminated NAME: none empty, none longer than DNS allows. */
static int host_labels_ok(const char *name)
{
	size_t label = 0;

	for (const char *c = name;; c++) {
		if (*c == '.' || !*c) {
			if (label == 0 || label > LABEL_MAX)
				return 0;
			if (!*c)
				return 1;
			label = 0;
		} else {
			label++;
		}
	}
}

/*
 * Copies the host name in R (the whole of it) into OUT, lower-cased, without a trailing dot.
 * Characters are checked as they arrive, so a bad name is refused before it is complete.
 */
static int host_name_copy(struct rd *r, char out[256])
{
	size_t n = r->left;

	/* 253 characters plus an optional trailing dot; this also keeps OUT's NUL in bounds. */
	if (n == 0 || n > HOST_MAX + 1)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		unsigned c;
		int err = rd_uint(r, 1, &c);

		if (err)
			return err;
		/* NUL, '/', '_', spaces...: what could read as one name to us, another to a peer */
		if (!is_host_char(c))
			return -EBADMSG;
		out[i] = c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
	}
	if (out[n - 1] == '.')
		n--;
	out[n] = '\0';
	if (n > HOST_MAX || !host_labels_ok(out))
		return -EBADMSG; /* also "." alone, leading dots and ".." */
	return 0;
}

/*
 * server_name: exactly one entry, of type host_name. RFC 6066 allows one name per type and
 * defines only host_name; OpenSSL accepts nothing else. Refusing the rest means no ClientHello
 * can show us one name while the server reads another.
 */
static int parse_server_name(struct rd *ext, struct clienthello *ch)
{
	struct rd list, name;
	unsigned type;
	int err;

	err = rd_vec(ext, 2, &list);
	if (err)
		return err;
	if (ext->left)
		return -EBADMSG; /* bytes after the list */
	err = rd_uint(&list, 1, &type);
	if (err)
		return err;
	if (type != SNI_HOST_NAME)
		return -EBADMSG;
	err = rd_vec(&list, 2, &name);
	if (err)
		return err;
	if (list.left)
		return -EBADMSG; /* a second entry */
	err = host_name_copy(&name, ch->sni);
	if (err)
		return err;
	ch->has_sni = 1;
	return 0;
}

static int is_printable(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* Notes one ALPN protocol name (present in full at P). */
static void alpn_note(struct clienthello *ch, const uint8_t *p, size_t n)
{
	if (n == 2 && !memcmp(p, "h2", 2))
		ch->offers_h2 = 1;
	if (n == 8 && !memcmp(p, "http/1.1", 8))
		ch->offers_http11 = 1;
	if (ch->n_alpn >= CLIENTHELLO_MAX_ALPN || n >= sizeof(ch->alpn[0]) || !is_printable(p, n))
		return;
	memcpy(ch->alpn[ch->n_alpn], p, n);
	ch->alpn[ch->n_alpn][n] = '\0';
	ch->n_alpn++;
}

/* application_layer_protocol_negotiation: ProtocolName protocol_name_list<2..2^16-1>. */
static int parse_alpn(struct rd *ext, struct clienthello *ch)
{
	struct rd list;
	int err;

	err = rd_vec(ext, 2, &list);
	if (err)
		return err;
	if (ext->left || list.left == 0)
		return -EBADMSG; /* bytes after the list, or an empty list */
	while (list.left) {
		struct rd name;

		err = rd_vec(&list, 1, &name);
		if (err)
			return err;
		if (name.left == 0)
			return -EBADMSG; /* ProtocolName<1..2^8-1> */
		err = rd_need(&name, name.left);
		if (err)
			return err;
		alpn_note(ch, name.p, name.left);
	}
	return 0;
}

/* supported_versions in a ClientHello: ProtocolVersion versions<2..254>. */
static int parse_supported_versions(struct rd *ext, struct clienthello *ch)
{
	struct rd list;
	int err;

	err = rd_vec(ext, 1, &list);
	if (err)
		return err;
	if (ext->left || list.left < 2 || list.left % 2)
		return -EBADMSG;
	while (list.left) {
		unsigned v;

		err = rd_uint(&list, 2, &v);
		if (err)
			return err;
		if (v == 0x0304)
			ch->tls13_offered = 1;
	}
	return 0;
}

/*
 * encrypted_client_hello: ECHClientHello { type; outer: HpkeSymmetricCipherSuite (4 bytes),
 * config_id (1), enc<0..2^16-1>, payload<1..2^16-1>; inner: nothing }. The payload cannot be
 * read without the server's key, and a GREASE one (RFC 8701 style, sent by browsers to anyone)
 * looks the same by design: what we learn is only that the names we saw may not be the real
 * ones.
 */
static int parse_ech(struct rd *ext, struct clienthello *ch)
{
	struct rd enc, payload;
	unsigned type;
	int err;

	err = rd_uint(ext, 1, &type);
	if (err)
		return err;
	if (type == ECH_INNER) {
		if (ext->left)
			return -EBADMSG;
		ch->ech = CLIENTHELLO_ECH_INNER;
		return 0;
	}
	if (type != ECH_OUTER)
		return -EBADMSG;
	err = rd_skip(ext, 4 + 1); /* cipher_suite, config_id */
	if (!err)
		err = rd_vec(ext, 2, &enc);
	if (!err)
		err = rd_skip(&enc, enc.left);
	if (!err)
		err = rd_vec(ext, 2, &payload);
	if (!err)
		err = payload.left == 0 ? -EBADMSG : rd_skip(&payload, payload.left);
	if (err)
		return err;
	if (ext->left)
		return -EBADMSG; /* bytes after the payload */
	ch->ech = CLIENTHELLO_ECH_OUTER;
	return 0;
}

static int parse_extension(unsigned type, struct rd *data, struct clienthello *ch)
{
	switch (type) {
	case EXT_SERVER_NAME:
		return parse_server_name(data, ch);
	case EXT_ALPN:
		return parse_alpn(data, ch);
	case EXT_SUPPORTED_VERSIONS:
		return parse_supported_versions(data, ch);
	case EXT_ECH:
		return parse_ech(data, ch);
	default:
		return rd_skip(data, data->left);
	}
}

/* The bit that marks extension TYPE seen, for the ones we read; 0 for the others. */
static unsigned ext_bit(unsigned type)
{
	switch (type) {
	case EXT_SERVER_NAME:
		return 1;
	case EXT_ALPN:
		return 2;
	case EXT_SUPPORTED_VERSIONS:
		return 4;
	case EXT_ECH:
		return 8;
	default:
		return 0;
	}
}

static int parse_extensions(struct rd *exts, struct clienthello *ch)
{
	unsigned seen = 0;

	while (exts->left) {
		struct rd data;
		unsigned type, bit;
		int err;

		err = rd_uint(exts, 2, &type);
		if (!err)
			err = rd_vec(exts, 2, &data);
		if (err)
			return err;
		/* RFC 8446 4.2: one of each; two SNIs could steer us and the server apart */
		bit = ext_bit(type);
		if (seen & bit)
			return -EBADMSG;
		seen |= bit;
		err = parse_extension(type, &data, ch);
		if (err)
			return err;
		if (data.left)
			return -EBADMSG; /* contents short of the length: each parser checks too */
	}
	return 0;
}

/* The ClientHello body, the handshake header already read: R covers exactly the body. */
static int parse_body(struct rd *r, struct clienthello *ch)
{
	struct rd v;
	unsigned version;
	int err;

	err = rd_uint(r, 2, &version);
	if (err)
		return err;
	if (version >> 8 != 3)
		return -EBADMSG;
	ch->legacy_version = version;
	err = rd_skip(r, 32); /* random */
	if (!err)
		err = rd_vec(r, 1, &v); /* legacy_session_id<0..32> */
	if (!err)
		err = v.left > 32 ? -EBADMSG : rd_skip(&v, v.left);
	if (!err)
		err = rd_vec(r, 2, &v); /* cipher_suites<2..2^16-2>, two bytes each */
	if (!err)
		err = v.left < 2 || v.left % 2 ? -EBADMSG : rd_skip(&v, v.left);
	if (!err)
		err = rd_vec(r, 1, &v); /* legacy_compression_methods<1..2^8-1> */
	if (!err)
		err = v.left < 1 ? -EBADMSG : rd_skip(&v, v.left);
	if (err || r->left == 0) /* before TLS 1.3, the extensions may be absent altogether */
		return err;
	err = rd_vec(r, 2, &v);
	if (err)
		return err;
	if (r->left)
		return -EBADMSG; /* bytes after the extensions */
	return parse_extensions(&v, ch);
}

/* The handshake message with its record framing removed. */
struct hs_msg {
	const uint8_t *p; /* into BUF, or the scratch copy when it spans records */
	size_t got;	  /* bytes of it present */
	size_t need;	  /* bytes of it declared: header and body; 0 until the header is in */
	size_t declared;  /* sum of the lengths of the records walked */
};

/*
 * Checks the record header at P (AVAIL bytes present). FIRST: whether it opens the connection,
 * where a mismatch means "not TLS" rather than "broken TLS". The minor version is not checked:
 * RFC 8446 5.1 has it ignored, and clients send 0x0301 as often as 0x0303.
 */
static int record_header(const uint8_t *p, size_t avail, int first, size_t *rlen)
{
	int bad = first ? -EPROTO : -EBADMSG;

	if (avail >= 1 && p[0] != CT_HANDSHAKE)
		return bad; /* later: another record type in the middle of the ClientHello */
	if (avail >= 2 && p[1] != 3)
		return bad;
	if (avail < REC_HEADER)
		return -EAGAIN;
	*rlen = (size_t)p[3] << 8 | p[4];
	/* RFC 8446 5.1: no empty handshake fragments; 2^14 at most */
	if (*rlen == 0 || *rlen > REC_MAX_PAYLOAD)
		return -EBADMSG;
	return 0;
}

/* Checks the handshake header as soon as its bytes are in. */
static int hs_header(struct hs_msg *m)
{
	if (m->got >= 1 && m->p[0] != HS_CLIENT_HELLO)
		return -EPROTO; /* a client's first message is a ClientHello */
	if (m->got < HS_HEADER)
		return 0;
	if (!m->need)
		m->need = HS_HEADER + ((size_t)m->p[1] << 16 | (size_t)m->p[2] << 8 | m->p[3]);
	if (REC_HEADER + m->need > CLIENTHELLO_MAX_PEEK)
		return -EMSGSIZE; /* cannot fit even in a single record */
	/*
	 * A record that goes on after the ClientHello: either lengths that disagree or another
	 * message in the same flight, which RFC 8446 5.1 forbids before a key change.
	 */
	if (m->declared > m->need)
		return -EBADMSG;
	return 0;
}

/*
 * Appends the N payload bytes at P of a record after the first. SCRATCH holds
 * CLIENTHELLO_MAX_PEEK bytes; the caller checked the record ends within that many bytes of
 * BUF, and the payloads are smaller than the records, so the copy fits.
 */
static void hs_append(struct hs_msg *m, const uint8_t *p, size_t n, uint8_t *scratch)
{
	if (m->p != scratch) {
		memcpy(scratch, m->p, m->got);
		m->p = scratch;
	}
	memcpy(scratch + m->got, p, n);
	m->got += n;
}

/* Walks the records holding the ClientHello, as far as BUF goes. */
static int hs_gather(const uint8_t *buf, size_t len, uint8_t *scratch, struct hs_msg *m)
{
	size_t pos = 0;

	memset(m, 0, sizeof(*m));
	while (!m->need || m->got < m->need) {
		size_t rlen, n;
		int err = record_header(buf + pos, len - pos, pos == 0, &rlen);

		if (err == -EAGAIN)
			break; /* parse what we have: it may already be malformed */
		if (err)
			return err;
		if (pos + REC_HEADER + rlen > CLIENTHELLO_MAX_PEEK)
			return -EMSGSIZE; /* also bounds the copy into SCRATCH */
		m->declared += rlen;
		n = len - pos - REC_HEADER;
		if (n > rlen)
			n = rlen;
		if (pos == 0) {
			m->p = buf + REC_HEADER;
			m->got = n;
		} else {
			hs_append(m, buf + pos + REC_HEADER, n, scratch);
		}
		err = hs_header(m);
		if (err)
			return err;
		if (n < rlen)
			break; /* the rest of this record is not in yet */
		pos += REC_HEADER + rlen;
	}
	return m->need ? 0 : -EAGAIN;
}

static int parse(const uint8_t *buf, size_t len, struct clienthello *ch)
{
	uint8_t scratch[CLIENTHELLO_MAX_PEEK];
	struct hs_msg m;
	struct rd body;
	int err;

	if (!len)
		return -EAGAIN; /* and BUF may be NULL */
	err = hs_gather(buf, len, scratch, &m);
	if (err)
		return err;
	body.p = m.p + HS_HEADER;
	body.left = m.need - HS_HEADER;
	body.avail = m.got - HS_HEADER;
	err = parse_body(&body, ch);
	if (err)
		return err;
	/* parse_body() reads or skips every declared byte, so this only guards future edits */
	return m.got == m.need ? 0 : -EAGAIN;
}

int clienthello_parse(const uint8_t *buf, size_t len, struct clienthello *ret)
{
	int err;

	memset(ret, 0, sizeof(*ret));
	err = parse(buf, len, ret);
	if (err)
		memset(ret, 0, sizeof(*ret));
	return err;
}
