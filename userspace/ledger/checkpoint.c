/*
 * checkpoint.c: the checkpoint key (made on first use like the gateway CA's), Ed25519 signing
 * and checking over a fixed text form, the JSON line, and the journal's native protocol.
 *
 * The signed text is checkpoint_message(): one "name=value" per line in a fixed order, the
 * only free-form field (the file name) last, every other one checked for its shape when read
 * back, so no two checkpoints share a signed text.
 */
#include "ledger/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "util/keyfile.h"
#include "util/log.h"

#define CHECKPOINT_SIG_LEN 64		/* Ed25519 */
#define CHECKPOINT_SEQ_MAX (1ull << 53) /* as audit.seq: what a JSON double holds */
#define CHECKPOINT_MSG_MAX (512 + CHECKPOINT_FILE_MAX)

#define F_SEQ "audit.checkpoint.seq"
#define F_HEAD "audit.checkpoint.head_sha256"
#define F_GENESIS "audit.checkpoint.genesis_sha256"
#define F_FILE "audit.checkpoint.file"
#define F_KEY "audit.checkpoint.key_id"
#define F_SIG "audit.checkpoint.sig_ed25519"

/* ---- the key ---------------------------------------------------------------------------- */

/* The public half of KEY as PEM (SubjectPublicKeyInfo), malloc'd into *ret, length *ret_len. */
static int checkpoint_pub_pem(EVP_PKEY *key, char **ret, size_t *ret_len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *copy = NULL;
	long len;

	if (b && PEM_write_bio_PUBKEY(b, key)) {
		len = BIO_get_mem_data(b, &data);
		copy = malloc((size_t)len + 1);
		if (copy) {
			memcpy(copy, data, (size_t)len);
			copy[len] = '\0';
			*ret_len = (size_t)len;
		}
	}
	BIO_free(b);
	*ret = copy;
	return copy ? 0 : -ENOMEM;
}

/* Writes PATH.pub for KEY when it is missing. */
static int checkpoint_write_pub(const char *path, EVP_PKEY *key)
{
	char pub_path[PATH_MAX], *pem = NULL;
	size_t len = 0;
	int err;

	if (snprintf(pub_path, sizeof(pub_path), "%s.pub", path) >= (int)sizeof(pub_path))
		return -ENAMETOOLONG;
	if (!access(pub_path, F_OK))
		return 0;
	err = checkpoint_pub_pem(key, &pem, &len);
	if (!err)
		err = keyfile_write_new(pub_path, 0644, pem, len);
	if (err)
		log_error("audit checkpoint key: write %s: %s", pub_path, strerror(-err));
	else
		log_info("wrote the audit checkpoint public key %s (give it to `aigw audit verify "
			 "--pubkey`)",
			 pub_path);
	free(pem);
	return err;
}

/* Makes a new key at PATH (0600), in a folder made 0700 when it is missing. */
static int checkpoint_key_create(const char *path, EVP_PKEY **ret_key)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	BIO *b = BIO_new(BIO_s_secmem());
	char *dir = strdup(path), *data;
	long len;
	int err;

	if (!key || !b || !dir || !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) {
		err = log_ssl_error("audit checkpoint key: generate an Ed25519 key");
		goto out;
	}
	if (mkdir(dirname(dir), 0700) && errno != EEXIST) {
		err = -errno;
		log_error("audit checkpoint key: create the folder of %s: %s", path,
			  strerror(-err));
		goto out;
	}
	len = BIO_get_mem_data(b, &data);
	err = keyfile_write_new(path, 0600, data, (size_t)len);
	if (err) {
		log_error("audit checkpoint key: create %s: %s", path, strerror(-err));
		goto out;
	}
	log_info("created the audit checkpoint key %s (mode 0600: keep it root-only)", path);
	*ret_key = key;
	key = NULL;
out:
	EVP_PKEY_free(key);
	BIO_free(b);
	free(dir);
	return err;
}

int checkpoint_key_open(const char *path, EVP_PKEY **ret_key)
{
	EVP_PKEY *key = NULL;
	int err = keyfile_load_private(path, &key);

	if (err == -ENOENT)
		err = checkpoint_key_create(path, &key);
	else if (err == -EBADMSG)
		err = log_ssl_error(path);
	else if (err < 0 && err != -EPERM) /* keyfile said why it refused the key */
		log_error("audit checkpoint key %s: %s", path, strerror(-err));
	if (!err && EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
		log_error("%s: not an Ed25519 key; audit checkpoints are signed with Ed25519 "
			  "(move it away and a new key is made)",
			  path);
		err = -EINVAL;
	}
	if (!err)
		err = checkpoint_write_pub(path, key);
	if (err) {
		EVP_PKEY_free(key);
		return err;
	}
	*ret_key = key;
	return 0;
}

int checkpoint_pubkey_load(const char *path, EVP_PKEY **ret_key)
{
	FILE *f = fopen(path, "re");
	EVP_PKEY *key;

	if (!f)
		return -errno;
	key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	if (!key)
		return -EBADMSG;
	if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(key);
		return -EINVAL;
	}
	*ret_key = key;
	return 0;
}

int checkpoint_key_id(EVP_PKEY *pub, char out[CHECKPOINT_KEY_ID_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	int len = i2d_PUBKEY(pub, &der), ok;

	ok = len > 0 && EVP_Digest(der, (size_t)len, md, &md_len, EVP_sha256(), NULL);
	OPENSSL_free(der);
	if (!ok)
		return -EIO;
	for (size_t i = 0; i < CHECKPOINT_KEY_ID_LEN / 2; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[CHECKPOINT_KEY_ID_LEN] = '\0';
	return 0;
}

/* ---- signing ---------------------------------------------------------------------------- */

/* The text a signature covers. Returns its length. */
static int checkpoint_message(const struct checkpoint *cp, char *out, size_t size)
{
	return snprintf(out, size,
			"aigw audit checkpoint v1\nseq=%" PRIu64 "\nhead=%s\ngenesis=%s\ntime=%s\n"
			"key=%s\nfile=%s",
			cp->seq, cp->head, cp->genesis, cp->time, cp->key_id, cp->file);
}

int checkpoint_sign(EVP_PKEY *key, struct checkpoint *cp)
{
	unsigned char sig[CHECKPOINT_SIG_LEN];
	size_t sig_len = sizeof(sig);
	char msg[CHECKPOINT_MSG_MAX];
	EVP_MD_CTX *md = NULL;
	int len, err = -EIO;

	if (checkpoint_key_id(key, cp->key_id) < 0)
		goto out;
	len = checkpoint_message(cp, msg, sizeof(msg));
	if (len < 0 || (size_t)len >= sizeof(msg))
		goto out;
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)msg, (size_t)len) != 1 ||
	    sig_len != sizeof(sig))
		goto out;
	EVP_EncodeBlock((unsigned char *)cp->sig, sig, (int)sig_len);
	err = 0;
out:
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return err;
}

int checkpoint_check(EVP_PKEY *pub, const struct checkpoint *cp)
{
	unsigned char sig[CHECKPOINT_SIG_LEN + 3]; /* EVP_DecodeBlock writes whole groups */
	char msg[CHECKPOINT_MSG_MAX], id[CHECKPOINT_KEY_ID_LEN + 1];
	EVP_MD_CTX *md = NULL;
	int len, n, err = -EBADMSG;

	if (checkpoint_key_id(pub, id) < 0)
		return -EIO;
	if (strcmp(id, cp->key_id))
		return -EKEYREJECTED;
	n = strlen(cp->sig) == 88 ? EVP_DecodeBlock(sig, (const unsigned char *)cp->sig, 88) : -1;
	len = checkpoint_message(cp, msg, sizeof(msg));
	if (n != CHECKPOINT_SIG_LEN + 2 || len < 0 || (size_t)len >= sizeof(msg))
		goto out; /* 64 bytes are 88 characters ending "==", which decode to 66 */
	md = EVP_MD_CTX_new();
	if (md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) == 1 &&
	    EVP_DigestVerify(md, sig, CHECKPOINT_SIG_LEN, (const unsigned char *)msg,
			     (size_t)len) == 1)
		err = 0;
out:
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return err;
}

/* ---- the JSON line ---------------------------------------------------------------------- */

char *checkpoint_to_json(const struct checkpoint *cp)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;

	if (o && cJSON_AddStringToObject(o, "time", cp->time) &&
	    cJSON_AddStringToObject(o, "event.name", CHECKPOINT_EVENT) &&
	    cJSON_AddNumberToObject(o, F_SEQ, (double)cp->seq) &&
	    cJSON_AddStringToObject(o, F_HEAD, cp->head) &&
	    (!*cp->genesis || cJSON_AddStringToObject(o, F_GENESIS, cp->genesis)) &&
	    cJSON_AddStringToObject(o, F_FILE, cp->file) &&
	    cJSON_AddStringToObject(o, F_KEY, cp->key_id) &&
	    cJSON_AddStringToObject(o, F_SIG, cp->sig))
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		errno = ENOMEM;
	return text;
}

bool checkpoint_is_record(const cJSON *o)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "event.name"));

	return name && !strcmp(name, CHECKPOINT_EVENT);
}

static bool checkpoint_is_hex(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* Copies O's string member KEY into OUT (SIZE bytes, no newline), or fails. */
static bool checkpoint_get(const cJSON *o, const char *key, char *out, size_t size)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

	if (!s || strlen(s) >= size || strchr(s, '\n'))
		return false;
	memcpy(out, s, strlen(s) + 1);
	return true;
}

int checkpoint_from_json(const cJSON *o, struct checkpoint *cp)
{
	const cJSON *seq = cJSON_GetObjectItemCaseSensitive(o, F_SEQ);

	memset(cp, 0, sizeof(*cp));
	if (!checkpoint_is_record(o) || !cJSON_IsNumber(seq) || seq->valuedouble < 1 ||
	    seq->valuedouble >= CHECKPOINT_SEQ_MAX ||
	    seq->valuedouble != (double)(uint64_t)seq->valuedouble)
		return -EBADMSG;
	cp->seq = (uint64_t)seq->valuedouble;
	if (!checkpoint_get(o, F_HEAD, cp->head, sizeof(cp->head)) ||
	    !checkpoint_is_hex(cp->head, CHECKPOINT_HEX_LEN) ||
	    !checkpoint_get(o, "time", cp->time, sizeof(cp->time)) ||
	    !checkpoint_get(o, F_FILE, cp->file, sizeof(cp->file)) ||
	    !checkpoint_get(o, F_KEY, cp->key_id, sizeof(cp->key_id)) ||
	    !checkpoint_is_hex(cp->key_id, CHECKPOINT_KEY_ID_LEN) ||
	    !checkpoint_get(o, F_SIG, cp->sig, sizeof(cp->sig)))
		return -EBADMSG;
	if (cJSON_GetObjectItemCaseSensitive(o, F_GENESIS) &&
	    (!checkpoint_get(o, F_GENESIS, cp->genesis, sizeof(cp->genesis)) ||
	     !checkpoint_is_hex(cp->genesis, CHECKPOINT_HEX_LEN)))
		return -EBADMSG;
	return 0;
}

/* ---- the journal ------------------------------------------------------------------------ */

int checkpoint_journal_open(const char *socket_path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, err;

	socket_path = socket_path ?: CHECKPOINT_JOURNAL_SOCKET;
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int checkpoint_journal_send(int fd, const char *json, const struct checkpoint *cp)
{
	char *msg = NULL;
	int len;
	ssize_t n;

	/* The native protocol: NAME=value lines, one datagram per entry. JSON has no raw
	 * newline, so MESSAGE needs none of the protocol's binary-length form. */
	len = asprintf(&msg,
		       "MESSAGE=%s\nSYSLOG_IDENTIFIER=" CHECKPOINT_JOURNAL_IDENT "\nPRIORITY=6\n"
		       "AIGW_CHECKPOINT_SEQ=%" PRIu64 "\nAIGW_CHECKPOINT_HEAD=%s\n",
		       json, cp->seq, cp->head);
	if (len < 0)
		return -ENOMEM;
	n = send(fd, msg, (size_t)len, MSG_NOSIGNAL);
	free(msg);
	if (n < 0)
		return -errno;
	return n == len ? 0 : -EMSGSIZE;
}
