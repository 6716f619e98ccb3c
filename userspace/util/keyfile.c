/*
 * keyfile.c: writing a key file once, reading one back only if it is private. The key's bytes
 * pass through OpenSSL's secure heap on the way in and are wiped after parsing.
 */
#include "util/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "util/log.h"

#define KEYFILE_MAX 16384

int keyfile_write_new(const char *path, mode_t mode, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0600);
	const char *p = data;
	int err = 0;

	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode))
		err = -errno;
	while (!err && len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			err = -errno;
		else
			p += w, len -= w;
	}
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (err)
		unlink(path);
	return err;
}

/* Reads PATH, refusing it unless it is a regular file only its owner may access. */
static int keyfile_read(const char *path, char *buf, size_t size, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), err = 0;
	struct stat st;
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
	} else if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
	} else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		log_error("%s: mode %04o lets group or other at a private key; refusing it "
			  "(chmod 600 %s, and consider the key leaked if others read it)",
			  path, (unsigned)(st.st_mode & 07777), path);
		err = -EPERM;
	} else if (st.st_uid != geteuid()) {
		log_warn("%s: owned by uid %u, not by us (%u)", path, (unsigned)st.st_uid,
			 (unsigned)geteuid());
	}
	while (!err && (n = read(fd, buf + *len, size - *len)) != 0) {
		if (n < 0 && errno != EINTR)
			err = -errno;
		else if (n > 0 && (*len += n) == size)
			err = -EFBIG;
	}
	close(fd);
	return err;
}

/* PEM passphrase callback: our keys are never encrypted, and nobody is asked. */
static int keyfile_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

int keyfile_load_private(const char *path, EVP_PKEY **ret_key)
{
	char *buf = OPENSSL_secure_malloc(KEYFILE_MAX);
	EVP_PKEY *key = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	int err;

	if (!buf)
		return -ENOMEM;
	err = keyfile_read(path, buf, KEYFILE_MAX, &len);
	if (!err) {
		bio = BIO_new_mem_buf(buf, (int)len);
		if (bio)
			key = PEM_read_bio_PrivateKey(bio, NULL, keyfile_no_passphrase, NULL);
		err = key ? 0 : bio ? -EBADMSG : -ENOMEM;
	}
	BIO_free(bio);
	OPENSSL_secure_clear_free(buf, KEYFILE_MAX);
	if (!err)
		*ret_key = key;
	return err;
}
