/*
 * checkpoint: signed checkpoints of the audit chain — the key, the signature, the JSON line
 * every copy of a checkpoint is, and the system journal as one of the places it goes.
 *
 * A checkpoint says "the chain's record seq N hashes to HEAD" (and, when the writer knows it,
 * "its seq 1 hashes to GENESIS"), with the time, the log file's name and the signing key's
 * id, signed with Ed25519. The audit writer (ledger/audit.c) appends it to the log itself as
 * a record, to a checkpoint file meant for another disk, and to the journal. Whoever cuts or
 * rewrites the log cannot fix the copies held elsewhere, nor sign new ones without the key.
 *
 * One line, the same everywhere (the log adds its chain fields to it):
 *   {"time":"…","event.name":"audit.checkpoint","audit.checkpoint.seq":N,
 *    "audit.checkpoint.head_sha256":"…","audit.checkpoint.genesis_sha256":"…" (if known),
 *    "audit.checkpoint.file":"audit.jsonl","audit.checkpoint.key_id":"…",
 *    "audit.checkpoint.sig_ed25519":"base64"}
 * The signature covers the text checkpoint_message() builds from those fields, not the JSON
 * bytes, so any JSON writer or reader will do.
 */
#ifndef AIGW_LEDGER_CHECKPOINT_H
#define AIGW_LEDGER_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/types.h>

#define CHECKPOINT_EVENT "audit.checkpoint"
#define CHECKPOINT_HEX_LEN 64
#define CHECKPOINT_KEY_ID_LEN 16 /* hex digits of SHA-256 of the public key (DER) */
#define CHECKPOINT_FILE_MAX 256
/* The systemd journal's native socket (systemd.journal-fields(7), sd_journal_send()). */
#define CHECKPOINT_JOURNAL_SOCKET "/run/systemd/journal/socket"
#define CHECKPOINT_JOURNAL_IDENT "aigw-audit"

struct checkpoint {
	uint64_t seq;				/* the last record it covers */
	char head[CHECKPOINT_HEX_LEN + 1];	/* SHA-256 (hex) of that record's line */
	char genesis[CHECKPOINT_HEX_LEN + 1];	/* of seq 1's line; "" when not known */
	char time[40];				/* RFC 3339 UTC, when it was signed */
	char file[CHECKPOINT_FILE_MAX];		/* the log file's name (no directory) */
	char key_id[CHECKPOINT_KEY_ID_LEN + 1]; /* which key signed it */
	char sig[96];				/* base64 of the 64-byte Ed25519 signature */
};

/*
 * Loads the Ed25519 private key at PATH into *ret_key (caller frees with EVP_PKEY_free()), or
 * creates it when missing: PATH mode 0600 (its folder 0700 if that is missing too) and the
 * public key beside it as PATH.pub (0644, PEM), which `aigw audit verify --pubkey` takes.
 * PATH.pub is written again when it is missing. Returns 0 or a negative errno, logged.
 */
int checkpoint_key_open(const char *path, EVP_PKEY **ret_key);

/* Loads the PEM public key at PATH (an Ed25519 one) into *ret_key. Returns 0 or -errno. */
int checkpoint_pubkey_load(const char *path, EVP_PKEY **ret_key);

/* Fills CP's key_id and sig from its other fields. Returns 0 or -EIO. */
int checkpoint_sign(EVP_PKEY *key, struct checkpoint *cp);

/*
 * Checks CP's signature with the public key PUB. Returns 0, -EKEYREJECTED when CP names
 * another key than PUB, or -EBADMSG when the signature does not verify.
 */
int checkpoint_check(EVP_PKEY *pub, const struct checkpoint *cp);

/* The key id of PUB into OUT. Returns 0 or -EIO. */
int checkpoint_key_id(EVP_PKEY *pub, char out[CHECKPOINT_KEY_ID_LEN + 1]);

/* CP as its JSON line (no newline), malloc'd; NULL with errno set. */
char *checkpoint_to_json(const struct checkpoint *cp);

/* Whether O is a checkpoint record (its event.name says so), well-formed or not. */
bool checkpoint_is_record(const cJSON *o);

/* Reads a checkpoint back from O. Returns 0, or -EBADMSG when a field is missing or bad. */
int checkpoint_from_json(const cJSON *o, struct checkpoint *cp);

/*
 * The journal: opens a datagram socket connected to SOCKET_PATH (NULL: the journal's own).
 * Returns the fd, or a negative errno when no journal listens there (that is fine: the
 * caller says so once and goes on without it).
 */
int checkpoint_journal_open(const char *socket_path);

/* Sends the checkpoint line JSON of CP as one journal entry (MESSAGE=JSON, plus fields). */
int checkpoint_journal_send(int fd, const char *json, const struct checkpoint *cp);

#endif
