/*
 * audit: the tamper-evident audit log, one JSON object per line, and its verifier.
 *
 * The proxy hands each record, serialized, to audit_write_text() on its event-loop thread
 * (or a cJSON object to audit_write()); the call only appends it to an in-memory queue, a
 * bounded one when audit_options says so (see audit_write()). A writer thread owned by the
 * log takes the whole queue at once, chains every record and writes the batch with one
 * write(2). It calls fdatasync(2) at most about once a second,
 * and at once when audit_flush() or audit_close() asks.
 *
 * The chain: the writer adds to every record
 *   "time"               RFC 3339 UTC with microseconds, only when the record has no "time"
 *                        (taken at audit_write(), not when the line is written);
 *   "audit.seq"          1, 2, 3, ... across rotation and across restarts;
 *   "audit.prev_sha256"  lowercase hex SHA-256 of the previous line's bytes (without the
 *                        newline), 64 zeros for the log's very first record;
 *   "audit.chain_start"  true, on the log's very first record only (seq 1);
 *   "audit.prev_file"    on the first record of every later file: the name, when the file
 *                        was started, of the file it continues ("audit.log.1"; later
 *                        rotations move that file on to .2, .3 ...). Its prev_sha256 is
 *                        the hash of that file's last line: one chain runs through all
 *                        files, so a file that vanishes leaves a gap verify reports.
 * Keys starting with "audit." are reserved: values the caller set are replaced.
 *
 * Restart: audit_open() on an existing file reads its last complete line and continues the
 * chain from it. A trailing line without a newline (a write cut short by a crash) was never
 * a record: it is truncated away and a note (its size, never its bytes) goes to stderr. If
 * the last complete line is not an audit record, audit_open() refuses with -EBADMSG rather
 * than start a chain that could not be verified. If the file is empty or missing, the chain
 * continues from PATH.1 when that exists (a crash between rotation's rename and open).
 *
 * Rotation: before a line would take the file past rotate_bytes, PATH.k is renamed to
 * PATH.k+1 for k = keep-1 .. 1 (the old PATH.keep is replaced, i.e. dropped), PATH to
 * PATH.1, and a new PATH (mode 0640) is created. Its first record continues seq and
 * prev_sha256 from the old file and carries audit.prev_file. A single record longer than
 * rotate_bytes gets a file of its own. Directories are never created.
 *
 * Errors on disk (ENOSPC, EIO) never block audit_write(): the batch that failed is cut back
 * out of the file (ftruncate to the last good size), its records are dropped and counted on
 * stderr, the chain continues from the last record on disk so the file stays verifiable,
 * the error is returned by the next audit_flush(), and audit_failing() says so until a
 * write succeeds (the policy's audit.on_failure decides whether calls go on meanwhile). Nothing of
 * a record's content is ever written to stderr.
 *
 * Checkpoints (ledger/checkpoint.h), when audit_options gives a key: after every
 * checkpoint_every_records records, after checkpoint_every_s seconds in which records were
 * written, and at audit_close(), the writer signs the chain's head (seq and SHA-256 of the
 * last record, with seq 1's hash when it knows it) and appends the checkpoint as a record
 * ("event.name": "audit.checkpoint") right after the record it names. Once that record is
 * fdatasync'd (by the writer's next sync, within about a second), the same line is
 * appended to checkpoint_path (fdatasync'd too) and sent to the systemd journal
 * when one listens (identifier "aigw-audit"): a checkpoint is published only once the log
 * holds what it names, so a crash cannot leave one that names records the log never got.
 * Checkpoint records do not count towards every_records, nor start the every_s clock.
 *
 * Strict durability (audit_options.strict; audit.durability "strict"): the writer fdatasyncs
 * after every batch it writes (group commit: one fdatasync for all the records that queued
 * while the previous one ran), does not wait for records to gather, and after each batch
 * publishes how far records are on disk and signals audit_durable_fd(). Records are counted
 * from 1 in the order audit_write*() accepted them (the "ticket" audit_write_text_ticket()
 * returns); audit_durable() says up to which ticket every record is settled (on disk, or
 * lost) and up to which one a batch was lost. A record whose ticket is <= durable and >
 * lost is on disk. The proxy holds each answer's last bytes until its record is (http1.h).
 *
 * Ownership: audit_open() returns a log the caller ends with audit_close(). audit_write()
 * takes the record in every case, success or error; the log frees it once written.
 * Thread safety: audit_write() may be called from any number of threads; audit_flush() from
 * any thread; audit_close() once, after every writer has stopped calling.
 */
#ifndef AIGW_LEDGER_AUDIT_H
#define AIGW_LEDGER_AUDIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cjson/cJSON.h>
#include <openssl/types.h>

struct audit_options {
	size_t rotate_bytes; /* rotate before a file would exceed this; 0 = never rotate */
	unsigned keep;	     /* rotated files kept: PATH.1 .. PATH.keep (0 = delete on rotate) */
	size_t max_queued;   /* records queued and not yet written; 0 = no limit */
	size_t max_queued_bytes; /* the bytes they take in the queue; 0 = no limit */

	/* Signed checkpoints; none when checkpoint_key is NULL. */
	EVP_PKEY *checkpoint_key;    /* Ed25519 private key; the log takes its own reference */
	const char *checkpoint_path; /* a file that gets every checkpoint too, or NULL */
	unsigned checkpoint_every_records; /* 0: no checkpoint by count */
	unsigned checkpoint_every_s;	   /* 0: no checkpoint by time */
	const char *journal_socket;	   /* NULL: systemd's; "": no journal */

	bool strict; /* fdatasync after every batch and signal audit_durable_fd() (see above) */
};

struct audit_log;

/*
 * Opens (creating with mode 0640 if needed) the log at PATH, recovers the chain from it and
 * starts the writer thread. OPT may be NULL (no rotation, no queue limit). Returns 0 and
 * *ret_log, or a negative errno (-EBADMSG: the file's last line is not an audit record).
 */
int audit_open(const char *path, const struct audit_options *opt, struct audit_log **ret_log);

/*
 * Queues RECORD, which must be a cJSON object, and takes ownership of it whatever the result.
 * Never touches the disk. Returns 0, -EINVAL (NULL or not an object), -ENOBUFS (the queue is
 * at max_queued or max_queued_bytes; the record is dropped) or -ENOMEM.
 *
 * A full queue means the writer is behind (a slow or stalled disk). The records refused are
 * counted on stderr by the writer. audit_failing() says -ENOBUFS already from three quarters
 * of the bound, so that callers that refuse new calls then (audit.on_failure "block") leave
 * room for the records of calls under way.
 */
int audit_write(struct audit_log *log, cJSON *record);

/*
 * Waits until every record queued before the call is written and fdatasync'd. Returns 0, or
 * the first disk error since the previous audit_flush() (records were dropped; see above).
 */
/*
 * The same for a record already serialized: TEXT (LEN bytes) is one JSON object with a
 * "time" member and no "audit." members; its closing brace gives way to the chain fields.
 * Takes ownership of TEXT (malloc'd) in every case and frees it before it returns: the
 * queue keeps a copy in blocks of its own (ledger/audit_queue.h). Never blocks on disk I/O.
 * One more error: -EMSGSIZE, a record larger than max_queued_bytes.
 */
int audit_write_text(struct audit_log *log, char *text, size_t len);

/* The same, and on success *ret_ticket is the record's ticket (see strict durability). */
int audit_write_text_ticket(struct audit_log *log, char *text, size_t len, uint64_t *ret_ticket);

/*
 * With audit_options.strict: an eventfd (EFD_NONBLOCK) that becomes readable after each batch
 * the writer settles; the reader reads it (8 bytes) to clear it and then asks
 * audit_durable(). -1 without strict. Owned by the log, valid until audit_close().
 */
int audit_durable_fd(const struct audit_log *log);

/*
 * Every record with a ticket <= *ret_durable is settled: on disk, unless its ticket is also
 * <= *ret_lost (its batch, or one settled with it, could not be written or fdatasync'd).
 * Any thread; only meaningful with audit_options.strict.
 */
void audit_durable(const struct audit_log *log, uint64_t *ret_durable, uint64_t *ret_lost);

int audit_flush(struct audit_log *log);

/*
 * Whether records are being lost, cheap enough to ask on every call: the flag reads 0 while
 * records are written, and the negative errno of the failure (-ENOSPC, -EIO ...) from a
 * failed write or fdatasync until the next write succeeds; -ENOBUFS from the moment the queue
 * holds three quarters of its bound (max_queued or max_queued_bytes) until the writer has
 * brought it under half (a good write alone does not clear it). Read it with
 * atomic_load_explicit(..., memory_order_relaxed) from any thread. Valid until audit_close().
 * The failure itself is reported on stderr once, and so is the recovery; records refused for
 * a full queue are counted there at most once a second.
 */
const atomic_int *audit_failing(const struct audit_log *log);

/* Records accepted by audit_write() and not yet written (or dropped) by the writer: the
 * metric aigw_audit_queue_depth. Takes the log's lock for a moment; any thread. */
size_t audit_queue_depth(struct audit_log *log);

/* Flushes, stops the writer thread, closes the file and frees LOG; NULL is fine. */
void audit_close(struct audit_log *log);

/* What audit_verify() holds the chain to besides itself. */
struct audit_verify_options {
	EVP_PKEY *pubkey;	 /* checks every checkpoint's signature; NULL: none checked */
	const char *checkpoints; /* a checkpoint file (audit.checkpoint.path, or the journal's
				    entries, one per line); needs pubkey; NULL: none */
};

/*
 * Verifies the N files PATHS, oldest first (e.g. PATH.2, PATH.1, PATH), as one chain. Writes
 * to OUT (stdout if NULL) either "PATH: N records, chain intact" for each file, or the first
 * problem found as "PATH:LINE: CLASS: detail", CLASS one of "record edited", "record removed",
 * "record inserted", "records reordered", "truncated record" (last line has no newline),
 * "file missing" (a file's first record continues a file that is not the one given before
 * it) or "head removed" (the first file given continues an earlier one: the chain must be
 * given from the log's first record, the one with audit.chain_start).
 * Returns 0 if intact, 1 if a problem was reported, or a negative errno when a file cannot
 * be read (also reported on OUT).
 *
 * With OPT->pubkey (OPT may be NULL) the checkpoints are held against the chain too, and a
 * last line "checkpoints: ..." sums them up. More classes, each at "PATH:LINE: CLASS: seq N
 * ...": "forged checkpoint" (a signature that does not verify, or another key's; in the
 * checkpoint file its position is that file's line), "records rewritten" (a record's hash is
 * not the one a checkpoint signed for its seq: it or records before it were changed and the
 * chain recomputed), "head removed" (seq 1 is not the record the checkpoints' genesis names)
 * and "truncated tail" (the checkpoint file names a seq past the log's last record).
 *
 * Limits: without checkpoints, an edit of the very last record, or removal of the last
 * records, is not seen, and whoever can rewrite the whole file can recompute the chain. With
 * them, records after the last checkpoint that left the machine are still covered by the
 * chain alone: the window is audit.checkpoint.every_records / every_s.
 */
int audit_verify(const char **paths, size_t n, const struct audit_verify_options *opt, FILE *out);

/*
 * The same for the live log PATH with every rotated sibling beside it (PATH.K, highest K
 * first): the whole log as one chain, as `aigw audit verify PATH` does. A sibling missing
 * between two others is reported as "file missing" where the chain breaks.
 */
int audit_verify_log(const char *path, const struct audit_verify_options *opt, FILE *out);

/* The indexes K of the rotated siblings PATH.K beside the log PATH, highest (oldest) first:
 * *RET_K (malloc'd, NULL when none; the caller frees) and *RET_N. Returns 0 or -errno. */
int audit_rotated_siblings(const char *path, unsigned **ret_k, size_t *ret_n);

#endif
