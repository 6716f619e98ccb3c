/*
 * keyfile: private keys on disk — created once with the exact mode, read back only when no one
 * but their owner can reach them. The gateway CA's key (proxy/certs.c) and the audit
 * checkpoint key (ledger/checkpoint.c) both live this way.
 */
#ifndef AIGW_UTIL_KEYFILE_H
#define AIGW_UTIL_KEYFILE_H

#include <stddef.h>
#include <sys/types.h>

#include <openssl/types.h>

/* Creates PATH (O_EXCL, never following a link) holding DATA, mode MODE exactly, fsync'd.
 * Returns 0 or a negative errno; on error no file is left. */
int keyfile_write_new(const char *path, mode_t mode, const void *data, size_t len);

/*
 * Reads the unencrypted PEM private key at PATH into *ret_key (caller frees with
 * EVP_PKEY_free()). Refuses (-EPERM, logged) a file group or other may access, -EINVAL what
 * is not a regular file, and returns -EBADMSG when the file holds no PEM private key (the
 * OpenSSL reason stays on the thread's error queue for the caller to report).
 */
int keyfile_load_private(const char *path, EVP_PKEY **ret_key);

#endif
