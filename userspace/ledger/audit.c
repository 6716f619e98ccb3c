/*
 * audit.c: the audit log's queue, writer thread, chain recovery, rotation and verifier.
 *
 * How the pieces fit (see audit.h for the file format and the guarantees):
 *   audit_write()        caller's thread: stamp the time, copy the record into log->q's
 *                        blocks (ledger/audit_queue.h) under log->lock, unless the queue is
 *                        at its bound (audit_admit()).
 *   audit_writer_main()  the writer thread: take log->q whole, leaving an empty one, then,
 *                        without the lock, stamp seq/prev/chain_start, print, hash and append
 *                        each line to log->buf; one write(2) per batch; fdatasync when due;
 *                        then give the batch's blocks back to the pool.
 *   audit_flush()        waits on log->done_cv until log->n_synced covers what it queued.
 *   audit_settle()       writer thread, strict durability only: publishes durable/lost marks
 *                        after each batch's fdatasync and signals log->durable_fd.
 *   audit_recover()      at open: last complete line of PATH (or PATH.1) -> next seq, hash.
 *   audit_rotate()       writer thread: shift PATH.k, create a new PATH.
 *   audit_checkpoint()   writer thread: signs the head, appends the checkpoint record after it;
 *                        audit_cp_publish() copies it to the checkpoint file and the journal
 *                        once the log is fdatasync'd.
 *   audit_verify()       independent of all the above: reads the files line by line with one
 *                        line of look-ahead and classifies the first break in the chain, and
 *                        holds each record to the checkpoints signed for its seq;
 *                        audit_verify_log() finds a live log's rotated files for it.
 *
 * Locking: log->lock guards q, pool, taken_bytes, the counters, err and stop. Everything else
 * in struct audit_log after "writer thread only" is touched by the writer thread alone once
 * it runs. The failing flag is atomic: the writer sets disk errors and their end, callers
 * (under the lock) set -ENOBUFS when the queue fills, and the writer clears that.
 */
#include "ledger/audit.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ledger/audit_queue.h"
#include "ledger/checkpoint.h"
#include "util/bgthread.h"
#include "util/decimal.h"
#include "util/timefmt.h"

#define AUDIT_HASH_LEN 32
#define AUDIT_HEX_LEN (2 * AUDIT_HASH_LEN)
/* Write out a batch buffer once it holds this much. It bounds the buffer (doubled as lines
 * come) to twice this, which it keeps: at 1 MiB a backlog of some 700 records grew it to 2 MiB
 * after make soak's first phase, a step in the daemon's RSS; 128 KiB is still ~90 records
 * a write(2). */
#define AUDIT_BATCH_MAX (128u << 10)
#define AUDIT_SEQ_MAX (1ull << 53) /* larger integers do not survive a JSON double */
#define AUDIT_NAME_MAX 256	   /* audit.prev_file as the verifier quotes it */

/* A checkpoint appended to the log, waiting for the fdatasync that lets it leave. */
struct audit_cp_pending {
	struct checkpoint cp;
	char *json; /* owned: its line, without the chain fields */
};

/* Where the chain stands after some line: what the next record gets. */
struct audit_chain {
	uint64_t next_seq;
	unsigned char last[AUDIT_HASH_LEN]; /* SHA-256 of that line; zeros before the first */
};

struct audit_log {
	char *path;	 /* owned */
	char *prev_name; /* owned: audit.prev_file of a new file, as a JSON string */
	struct audit_options opt;
	pthread_t thread;

	pthread_mutex_t lock;
	pthread_cond_t wake;	/* writer waits: records, a flush request, stop */
	pthread_cond_t done_cv; /* flushers wait: n_synced moved */
	struct audit_queue q;	/* records not yet taken by the writer; a cJSON record in it
				   is owned by the queue, then by the writer, which frees it */
	struct audit_qpool pool; /* the queue's blocks kept for reuse */
	uint64_t n_refused;	 /* records refused as the queue was full, not yet reported */
	size_t taken_bytes;	 /* q.bytes of the batch the writer took, until it gives it back */
	uint64_t n_queued;	/* records ever accepted by audit_write() */
	uint64_t n_processed;	/* of those, written or dropped by the writer */
	uint64_t n_synced;	/* of those, known to be on disk (or dropped) */
	uint64_t flush_want;	/* a flusher waits for n_synced >= this */
	int err;		/* first disk error since the last audit_flush() */
	bool stop;
	atomic_int failing;	/* see audit_failing() and "Locking" above */

	/* strict durability: written by the writer, read by anyone (audit_durable()) */
	int durable_fd;		      /* eventfd signalled after each settled batch; -1 */
	_Atomic uint64_t durable;     /* tickets <= this are settled (== n_synced) */
	_Atomic uint64_t lost;	      /* tickets <= this may be lost */

	/* writer thread only (and audit_open() before the thread starts) */
	int fd;			    /* PATH, O_APPEND; -1 after a failed reopen */
	uint64_t file_bytes;	    /* size of fd's file, as far as this writer wrote it */
	struct audit_chain done;    /* after the last line on disk */
	struct audit_chain pending; /* after the last line in buf */
	char *buf;		    /* owned: lines of the batch, not yet written */
	size_t len, cap;
	size_t buf_records;
	bool dirty;		   /* written since the last fdatasync */
	bool rotate_failed;	   /* do not retry rotation before the next batch */
	struct timespec last_sync; /* CLOCK_MONOTONIC */
	int last_reported;	   /* last errno printed, to print each failure once */

	/* checkpoints (writer thread only) */
	EVP_PKEY *cp_key;		 /* owned reference; NULL: no checkpoints */
	char *cp_path;			 /* owned: opt.checkpoint_path, or NULL */
	int cp_fd;			 /* cp_path, O_APPEND; -1 when none */
	int journal_fd;			 /* the journal's socket; -1 when none listens */
	uint64_t cp_since;		 /* records appended since the last checkpoint */
	struct timespec cp_last;	 /* CLOCK_MONOTONIC of the last checkpoint (or open) */
	char genesis[AUDIT_HEX_LEN + 1]; /* SHA-256 of seq 1's line; "" when not known */
	struct audit_cp_pending *cp_out; /* owned: appended, not yet published */
	size_t cp_n, cp_cap;
	int cp_reported; /* last checkpoint-sink errno printed */
};

/* ---- small helpers ---------------------------------------------------------------------- */

/* SHA-256, fetched from the provider once for the process (EVP_sha256() looks it up again at
 * every digest). Never freed: the process owns it to its end. */
static EVP_MD *audit_md;
static pthread_once_t audit_md_once = PTHREAD_ONCE_INIT;

static void audit_md_fetch(void)
{
	audit_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int audit_sha256(const void *data, size_t len, unsigned char out[AUDIT_HASH_LEN])
{
	unsigned int n = 0;

	pthread_once(&audit_md_once, audit_md_fetch);
	if (!audit_md || !EVP_Digest(data, len, out, &n, audit_md, NULL) || n != AUDIT_HASH_LEN)
		return -EIO;
	return 0;
}

static void audit_hex(const unsigned char hash[AUDIT_HASH_LEN], char out[AUDIT_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < AUDIT_HASH_LEN; i++) {
		out[2 * i] = digits[hash[i] >> 4];
		out[2 * i + 1] = digits[hash[i] & 15];
	}
	out[AUDIT_HEX_LEN] = '\0';
}

static bool audit_is_hex(const char *s)
{
	if (strlen(s) != AUDIT_HEX_LEN)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static double audit_elapsed(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) + (now.tv_nsec - since->tv_nsec) / 1e9;
}

/* A line, as far as the chain is concerned. */
struct audit_link {
	bool rec; /* an object with an integer audit.seq and a hex audit.prev_sha256 */
	bool start;    /* audit.chain_start on seq 1 after 64 zeros: the log's first record */
	bool cont;     /* audit.prev_file: the first record of a file that continues another */
	uint64_t seq;
	char prev[AUDIT_HEX_LEN + 1];
	char prev_file[AUDIT_NAME_MAX];
};

static const char audit_zeros[AUDIT_HEX_LEN + 1] =
	"0000000000000000000000000000000000000000000000000000000000000000";

static void audit_parse_link(const char *line, size_t len, struct audit_link *l)
{
	cJSON *o = cJSON_ParseWithLength(line, len);
	const cJSON *seq, *prev, *prev_file;

	memset(l, 0, sizeof(*l));
	if (!cJSON_IsObject(o))
		goto out;
	seq = cJSON_GetObjectItemCaseSensitive(o, "audit.seq");
	prev = cJSON_GetObjectItemCaseSensitive(o, "audit.prev_sha256");
	if (!cJSON_IsNumber(seq) || seq->valuedouble < 0 || seq->valuedouble >= AUDIT_SEQ_MAX ||
	    seq->valuedouble != (double)(uint64_t)seq->valuedouble)
		goto out;
	if (!cJSON_IsString(prev) || !audit_is_hex(prev->valuestring))
		goto out;
	l->rec = true;
	l->seq = (uint64_t)seq->valuedouble;
	memcpy(l->prev, prev->valuestring, sizeof(l->prev));
	/* Files written before the chain spanned files start each with audit.chain_start and
	 * a real prev_sha256: such a file does not start the chain, it continues a file. */
	l->start = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "audit.chain_start")) &&
		   l->seq == 1 && !strcmp(l->prev, audit_zeros);
	prev_file = cJSON_GetObjectItemCaseSensitive(o, "audit.prev_file");
	l->cont = cJSON_IsString(prev_file);
	if (l->cont)
		snprintf(l->prev_file, sizeof(l->prev_file), "%s", prev_file->valuestring);
out:
	cJSON_Delete(o);
}

/* ---- recovery at open ------------------------------------------------------------------- */

/* Offset of the last '\n' before END in FD, or -1 in *pos if there is none. */
static int audit_rfind_nl(int fd, off_t end, off_t *pos)
{
	char chunk[4096];

	while (end > 0) {
		size_t n = end < (off_t)sizeof(chunk) ? (size_t)end : sizeof(chunk);
		ssize_t got = pread(fd, chunk, n, end - (off_t)n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if ((size_t)got != n)
			return -EIO; /* the file shrank under us */
		for (size_t i = n; i > 0; i--) {
			if (chunk[i - 1] == '\n') {
				*pos = end - (off_t)n + (off_t)(i - 1);
				return 0;
			}
		}
		end -= (off_t)n;
	}
	*pos = -1;
	return 0;
}

static int audit_pread_all(int fd, char *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t got = pread(fd, buf, len, off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EIO;
		buf += got;
		len -= (size_t)got;
		off += got;
	}
	return 0;
}

/*
 * Sets C from the last complete line of FD (SIZE bytes) and *complete to the size up to and
 * including its newline. Leaves C alone when there is no complete line.
 */
static int audit_chain_from_fd(int fd, off_t size, const char *path, struct audit_chain *c,
			       off_t *complete)
{
	struct audit_link l;
	off_t nl, start;
	char *line = NULL;
	size_t len;
	int r;

	r = audit_rfind_nl(fd, size, &nl);
	if (r < 0 || nl < 0)
		goto out;
	*complete = nl + 1;
	r = audit_rfind_nl(fd, nl, &start);
	if (r < 0)
		goto out;
	len = (size_t)(nl - (start + 1));
	line = malloc(len + 1);
	if (!line) {
		r = -ENOMEM;
		goto out;
	}
	r = audit_pread_all(fd, line, len, start + 1);
	if (r < 0)
		goto out;
	audit_parse_link(line, len, &l);
	if (!l.rec || l.seq + 1 >= AUDIT_SEQ_MAX) {
		fprintf(stderr, "audit: %s: last line is not an audit record; not continuing it\n",
			path);
		r = -EBADMSG;
		goto out;
	}
	c->next_seq = l.seq + 1;
	r = audit_sha256(line, len, c->last);
out:
	free(line);
	return r;
}

/* PATH is empty or new: continue from PATH.1, if a rotation left one behind. */
static int audit_chain_from_rotated(struct audit_log *log, struct audit_chain *c)
{
	char *old = NULL;
	off_t complete = 0;
	struct stat st;
	int fd = -1, r = 0;

	if (!log->opt.keep)
		return 0;
	if (asprintf(&old, "%s.1", log->path) < 0)
		return -ENOMEM;
	fd = open(old, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	r = audit_chain_from_fd(fd, st.st_size, old, c, &complete);
out:
	if (fd >= 0)
		close(fd);
	free(old);
	return r;
}

/* Reads where the chain stands from log->fd, cutting off a partial last line. */
static int audit_recover(struct audit_log *log)
{
	struct audit_chain c = {.next_seq = 1};
	off_t complete = 0;
	struct stat st;
	int r;

	if (fstat(log->fd, &st) < 0)
		return -errno;
	r = audit_chain_from_fd(log->fd, st.st_size, log->path, &c, &complete);
	if (r < 0)
		return r;
	if (complete < st.st_size) {
		fprintf(stderr,
			"audit: %s: removing an incomplete last line of %lld bytes "
			"(a write was interrupted)\n",
			log->path, (long long)(st.st_size - complete));
		if (ftruncate(log->fd, complete) < 0)
			return -errno;
	}
	if (complete == 0) {
		r = audit_chain_from_rotated(log, &c);
		if (r < 0)
			return r;
	}
	log->file_bytes = (uint64_t)complete;
	log->done = c;
	log->pending = c;
	return 0;
}

/* ---- files ------------------------------------------------------------------------------ */

static void audit_sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

/* Opens PATH for appending, creating it with mode 0640; sets fd and file_bytes. */
static int audit_open_file(struct audit_log *log)
{
	int flags = O_RDWR | O_APPEND | O_CLOEXEC;
	struct stat st;
	int fd;

	fd = open(log->path, flags | O_CREAT | O_EXCL, 0640);
	if (fd >= 0) {
		if (fchmod(fd, 0640) < 0) /* whatever the umask */
			goto fail;
		audit_sync_dir(log->path);
	} else if (errno == EEXIST) {
		fd = open(log->path, flags);
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		goto fail;
	log->fd = fd;
	log->file_bytes = (uint64_t)st.st_size;
	return 0;
fail:
	close(fd);
	return -errno;
}

static void audit_report(struct audit_log *log, int err, const char *what, size_t dropped)
{
	if (err == log->last_reported)
		return;
	log->last_reported = err;
	if (dropped)
		fprintf(stderr, "audit: %s: %s: %s (%zu records dropped)\n", log->path, what,
			strerror(-err), dropped);
	else
		fprintf(stderr, "audit: %s: %s: %s\n", log->path, what, strerror(-err));
}

/*
 * Records could not be written (ERR) or, with ERR 0, were written: audit_failing() says so.
 * A full queue (-ENOBUFS, set by audit_enqueue()) is not cleared by a good write, only by
 * audit_queue_eased() once the writer has caught up.
 */
static void audit_set_failing(struct audit_log *log, int err)
{
	int was = atomic_load_explicit(&log->failing, memory_order_relaxed);

	do {
		if (!err && (!was || was == -ENOBUFS))
			return;
	} while (!atomic_compare_exchange_weak_explicit(&log->failing, &was, err,
							memory_order_relaxed,
							memory_order_relaxed));
	if (was && !err)
		fprintf(stderr, "audit: %s: records are written again\n", log->path);
}

static int audit_sync(struct audit_log *log)
{
	int r = 0;

	if (log->dirty && log->fd >= 0 && fdatasync(log->fd) < 0) {
		r = -errno;
		audit_report(log, r, "fdatasync", 0);
		audit_set_failing(log, r);
	}
	log->dirty = false;
	clock_gettime(CLOCK_MONOTONIC, &log->last_sync);
	return r;
}

/* PATH.k -> PATH.k+1 for k = keep-1 .. 1, then PATH -> PATH.1 (or unlink when keep is 0). */
static int audit_shift(struct audit_log *log)
{
	size_t size = strlen(log->path) + 16;
	char *from = malloc(size), *to = malloc(size);
	int r = 0;

	if (!from || !to) {
		r = -ENOMEM;
		goto out;
	}
	for (unsigned k = log->opt.keep; k > 1; k--) {
		snprintf(from, size, "%s.%u", log->path, k - 1);
		snprintf(to, size, "%s.%u", log->path, k);
		if (rename(from, to) < 0 && errno != ENOENT) {
			r = -errno;
			goto out;
		}
	}
	snprintf(to, size, "%s.1", log->path);
	if (log->opt.keep ? rename(log->path, to) : unlink(log->path))
		r = -errno;
out:
	free(from);
	free(to);
	return r;
}

/*
 * Closes the full file and starts a new one. If the renames fail the same file is reopened
 * and written past rotate_bytes; if the open fails fd stays -1 and the next batch retries.
 */
static int audit_rotate(struct audit_log *log)
{
	int r, err;

	err = audit_sync(log);
	close(log->fd);
	log->fd = -1;
	r = audit_shift(log);
	if (r < 0) {
		log->rotate_failed = true;
		audit_report(log, r, "rotate", 0);
		err = err ?: r;
	}
	r = audit_open_file(log);
	if (r < 0) {
		audit_report(log, r, "open after rotate", 0);
		return r;
	}
	return err;
}

/* ---- the writer ------------------------------------------------------------------------- */

static int audit_write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Forgets the checkpoints not yet published: the log may not hold what they name. */
static void audit_cp_drop(struct audit_log *log)
{
	for (size_t i = 0; i < log->cp_n; i++)
		free(log->cp_out[i].json);
	log->cp_n = 0;
}

/* Writes log->buf with one write(2); on failure cuts it back out and drops its records. */
static int audit_write_out(struct audit_log *log)
{
	int r;

	if (!log->len)
		return 0;
	r = log->fd < 0 ? -EBADF : audit_write_all(log->fd, log->buf, log->len);
	if (r < 0) {
		if (log->fd >= 0 && ftruncate(log->fd, (off_t)log->file_bytes) < 0)
			audit_report(log, -errno, "ftruncate after failed write", 0);
		audit_report(log, r, "write", log->buf_records);
		audit_set_failing(log, r);
		log->pending = log->done;
		audit_cp_drop(log);
	} else {
		log->file_bytes += log->len;
		log->done = log->pending;
		log->dirty = true;
		log->last_reported = 0;
		audit_set_failing(log, 0);
	}
	log->len = 0;
	log->buf_records = 0;
	return r;
}

static int audit_set(cJSON *rec, const char *key, cJSON *item)
{
	while (cJSON_GetObjectItemCaseSensitive(rec, key))
		cJSON_DeleteItemFromObjectCaseSensitive(rec, key);
	if (!item || !cJSON_AddItemToObject(rec, key, item)) {
		cJSON_Delete(item);
		return -ENOMEM;
	}
	return 0;
}

/*
 * What a file's first line says about where the chain comes from: audit.chain_start on the
 * log's very first record, audit.prev_file on the first record of every later file.
 */
enum audit_head { AUDIT_HEAD_NONE, AUDIT_HEAD_START, AUDIT_HEAD_CONTINUES };

/* Adds time (if missing), audit.seq, audit.prev_sha256 and what HEAD asks for. */
static int audit_stamp(struct audit_log *log, cJSON *rec, const struct timespec *when,
		       enum audit_head head)
{
	const struct audit_chain *c = &log->pending;
	char hex[AUDIT_HEX_LEN + 1], ts[TIMEFMT_LEN];
	int r;

	if (!cJSON_GetObjectItemCaseSensitive(rec, "time")) {
		timefmt_rfc3339(when, ts);
		r = audit_set(rec, "time", cJSON_CreateString(ts));
		if (r < 0)
			return r;
	}
	audit_hex(c->last, hex);
	r = audit_set(rec, "audit.seq", cJSON_CreateNumber((double)c->next_seq));
	if (!r)
		r = audit_set(rec, "audit.prev_sha256", cJSON_CreateString(hex));
	if (!r && head == AUDIT_HEAD_START)
		r = audit_set(rec, "audit.chain_start", cJSON_CreateTrue());
	if (!r && head == AUDIT_HEAD_CONTINUES)
		r = audit_set(rec, "audit.prev_file", cJSON_CreateRaw(log->prev_name));
	if (!r && head != AUDIT_HEAD_START)
		cJSON_DeleteItemFromObjectCaseSensitive(rec, "audit.chain_start");
	if (!r && head != AUDIT_HEAD_CONTINUES)
		cJSON_DeleteItemFromObjectCaseSensitive(rec, "audit.prev_file");
	return r;
}

/* Appends the N bytes of S at *P and moves *P past them. */
static void audit_put(char **p, const char *s, size_t n)
{
	memcpy(*p, s, n);
	*p += n;
}

#define AUDIT_PUT_LIT(p, lit) audit_put(p, lit, sizeof(lit) - 1)

static int audit_buf_reserve(struct audit_log *log, size_t more)
{
	size_t cap = log->cap ? log->cap : 4096;
	char *p;

	if (log->len + more <= log->cap)
		return 0;
	while (cap < log->len + more)
		cap *= 2;
	p = realloc(log->buf, cap);
	if (!p)
		return -ENOMEM;
	log->buf = p;
	log->cap = cap;
	return 0;
}

/*
 * A serialized record, printed straight into log->buf after its lines (with room for the
 * newline after it): its closing brace gives way to the chain fields, appended without a
 * format string (this runs once per record on the writer thread).
 */
static int audit_print_text(struct audit_log *log, struct audit_entry *e, enum audit_head head,
			    char **line, size_t *len)
{
	char hex[AUDIT_HEX_LEN + 1];
	size_t body = e->text_len - 1; /* without the final '}' */
	size_t prev_len = strlen(log->prev_name);
	char *p;
	int r = audit_buf_reserve(log, body + AUDIT_HEX_LEN + 96 + prev_len + 1);

	if (r < 0)
		return r;
	p = log->buf + log->len;
	*line = p;
	audit_hex(log->pending.last, hex);
	audit_put(&p, e->text, body);
	if (body > 1)
		AUDIT_PUT_LIT(&p, ",");
	AUDIT_PUT_LIT(&p, "\"audit.seq\":");
	p = decimal_put_u64(p, log->pending.next_seq);
	AUDIT_PUT_LIT(&p, ",\"audit.prev_sha256\":\"");
	audit_put(&p, hex, AUDIT_HEX_LEN);
	AUDIT_PUT_LIT(&p, "\"");
	if (head == AUDIT_HEAD_START)
		AUDIT_PUT_LIT(&p, ",\"audit.chain_start\":true");
	if (head == AUDIT_HEAD_CONTINUES) {
		AUDIT_PUT_LIT(&p, ",\"audit.prev_file\":");
		audit_put(&p, log->prev_name, prev_len);
	}
	AUDIT_PUT_LIT(&p, "}");
	*len = (size_t)(p - *line);
	return 0;
}

/*
 * Stamps and prints E's record as the next line of the current file, at *LINE: a serialized
 * record in log->buf, after its lines (*RET_OWNED NULL); a cJSON one malloc'd, *RET_OWNED too,
 * for the caller to free.
 */
static int audit_print(struct audit_log *log, struct audit_entry *e, char **line, size_t *len,
		       char **ret_owned)
{
	enum audit_head head = AUDIT_HEAD_NONE;
	int r;

	*ret_owned = NULL;
	if (log->file_bytes + log->len == 0)
		head = log->pending.next_seq == 1 ? AUDIT_HEAD_START : AUDIT_HEAD_CONTINUES;
	if (e->text)
		return audit_print_text(log, e, head, line, len);
	r = audit_stamp(log, e->rec, &e->when, head);
	if (r < 0)
		return r;
	*line = *ret_owned = cJSON_PrintUnformatted(e->rec);
	if (!*line)
		return -ENOMEM;
	*len = strlen(*line);
	return 0;
}

static bool audit_must_rotate(const struct audit_log *log, size_t line_len)
{
	uint64_t used = log->file_bytes + log->len;

	return log->opt.rotate_bytes && !log->rotate_failed && used > 0 &&
	       used + line_len + 1 > log->opt.rotate_bytes;
}

/* Chains one record onto log->buf, rotating first when the line would not fit. */
static int audit_append(struct audit_log *log, struct audit_entry *e)
{
	char *line, *owned = NULL;
	size_t len;
	int r, err = 0;

	r = audit_print(log, e, &line, &len, &owned);
	if (r < 0)
		goto out;
	if (audit_must_rotate(log, len)) {
		free(owned);
		owned = NULL;
		err = audit_write_out(log);
		r = audit_rotate(log);
		err = err ?: r;
		r = audit_print(log, e, &line, &len, &owned);
		if (r < 0)
			goto out;
	}
	if (owned) { /* a line of its own: after the buffer's */
		r = audit_buf_reserve(log, len + 1);
		if (r < 0)
			goto out;
		memcpy(log->buf + log->len, owned, len);
		line = log->buf + log->len;
	}
	r = audit_sha256(line, len, log->pending.last);
	if (r < 0)
		goto out;
	if (log->pending.next_seq == 1)
		audit_hex(log->pending.last, log->genesis);
	log->buf[log->len + len] = '\n';
	log->len += len + 1;
	log->buf_records++;
	log->pending.next_seq++;
	if (log->len >= AUDIT_BATCH_MAX)
		r = audit_write_out(log);
out:
	if (r < 0)
		audit_report(log, r, "record", 1);
	free(owned);
	return err ?: r;
}

/* ---- checkpoints ------------------------------------------------------------------------ */

static void audit_cp_report(struct audit_log *log, int err, const char *what)
{
	if (err == log->cp_reported)
		return;
	log->cp_reported = err;
	if (err)
		fprintf(stderr, "audit: checkpoint: %s: %s\n", what, strerror(-err));
}

static int audit_cp_push(struct audit_log *log, const struct checkpoint *cp, char *json)
{
	struct audit_cp_pending *v = log->cp_out;

	if (log->cp_n == log->cp_cap) {
		size_t cap = log->cp_cap ? 2 * log->cp_cap : 4;

		v = realloc(v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		log->cp_out = v;
		log->cp_cap = cap;
	}
	v[log->cp_n].cp = *cp;
	v[log->cp_n++].json = json;
	return 0;
}

/*
 * Signs the chain's head, the last record appended, and appends the checkpoint right after
 * it. What came before is written out first, so the rotation audit_append() may do cannot
 * fail a write and rewind the chain under the checkpoint's feet.
 */
static int audit_checkpoint(struct audit_log *log)
{
	const char *base = strrchr(log->path, '/') ? strrchr(log->path, '/') + 1 : log->path;
	struct audit_entry e = {0};
	struct checkpoint cp = {0};
	char *json;
	int r;

	log->cp_since = 0;
	clock_gettime(CLOCK_MONOTONIC, &log->cp_last);
	r = audit_write_out(log);
	if (r < 0 || log->pending.next_seq == 1)
		return r;
	cp.seq = log->pending.next_seq - 1;
	audit_hex(log->pending.last, cp.head);
	memcpy(cp.genesis, log->genesis, sizeof(cp.genesis));
	timefmt_now(cp.time);
	snprintf(cp.file, sizeof(cp.file), "%s", base);
	r = checkpoint_sign(log->cp_key, &cp);
	if (r < 0) {
		audit_cp_report(log, r, "sign");
		return 0; /* the records are fine; only this checkpoint is lost */
	}
	json = checkpoint_to_json(&cp);
	if (!json)
		return -ENOMEM;
	e.text = json;
	e.text_len = strlen(json);
	r = audit_append(log, &e);
	if (audit_cp_push(log, &cp, json) < 0)
		free(json);
	return r;
}

/* A checkpoint is due by time, or at the end, when records came since the last one. */
static bool audit_cp_due(const struct audit_log *log, bool stopping)
{
	if (!log->cp_key || !log->cp_since)
		return false;
	return stopping || (log->opt.checkpoint_every_s &&
			    audit_elapsed(&log->cp_last) >= (double)log->opt.checkpoint_every_s);
}

/* Copies the checkpoints the log now holds on disk to the checkpoint file and the journal. */
static void audit_cp_publish(struct audit_log *log)
{
	int r = 0;

	for (size_t i = 0; i < log->cp_n; i++) {
		const struct audit_cp_pending *p = &log->cp_out[i];

		if (log->cp_fd >= 0 && !r) {
			r = audit_write_all(log->cp_fd, p->json, strlen(p->json));
			if (!r)
				r = audit_write_all(log->cp_fd, "\n", 1);
		}
		if (log->journal_fd >= 0) {
			int jr = checkpoint_journal_send(log->journal_fd, p->json, &p->cp);

			if (jr < 0)
				audit_cp_report(log, jr, "journal");
		}
	}
	if (log->cp_fd >= 0 && !r && log->cp_n && fdatasync(log->cp_fd) < 0)
		r = -errno;
	if (r < 0)
		audit_cp_report(log, r, log->cp_path);
	else
		log->cp_reported = 0;
	audit_cp_drop(log);
}

/* Writes every record of B and frees its cJSON ones. Returns the first error, if any. */
static int audit_write_batch(struct audit_log *log, const struct audit_queue *b)
{
	struct audit_qcursor c;
	struct audit_entry *e;
	size_t dropped = 0;
	int r, err = 0;

	log->rotate_failed = false;
	if (log->fd < 0 && b->n)
		err = audit_open_file(log);
	audit_queue_first(b, &c);
	while ((e = audit_queue_next(&c))) {
		if (log->fd >= 0) {
			r = audit_append(log, e);
			err = err ?: r;
			log->cp_since += log->cp_key != NULL;
			if (log->cp_key && log->opt.checkpoint_every_records &&
			    log->cp_since >= log->opt.checkpoint_every_records) {
				r = audit_checkpoint(log);
				err = err ?: r;
			}
		} else {
			dropped++;
		}
		cJSON_Delete(e->rec);
	}
	r = audit_write_out(log);
	err = err ?: r;
	if (dropped) {
		audit_report(log, err ?: -EBADF, "no open file", dropped);
		audit_set_failing(log, err ?: -EBADF);
	}
	return err;
}

/* With log->lock held: sleeps until there is work or an fdatasync is due. */
static void audit_wait_work(struct audit_log *log)
{
	struct timespec due;

	while (!log->q.n && !log->stop && log->flush_want <= log->n_synced) {
		bool cp_wait = log->cp_key && log->cp_since && log->opt.checkpoint_every_s;

		if (!log->dirty && !cp_wait) {
			pthread_cond_wait(&log->wake, &log->lock);
			continue;
		}
		due = log->last_sync;
		due.tv_sec += 1;
		if (cp_wait &&
		    (!log->dirty ||
		     log->cp_last.tv_sec + (time_t)log->opt.checkpoint_every_s < due.tv_sec)) {
			due = log->cp_last;
			due.tv_sec += (time_t)log->opt.checkpoint_every_s;
		}
		if (pthread_cond_timedwait(&log->wake, &log->lock, &due) == ETIMEDOUT)
			return;
	}
}

#define AUDIT_GATHER_NS (5 * 1000 * 1000)

/*
 * Strict durability, with log->lock held after a batch: every record taken so far is on disk
 * or lost (strict fdatasyncs each batch, so n_synced == n_processed). ERR says the batch, or
 * the fdatasync that covered it, failed: all of it counts as lost, even records that reached
 * the disk before the failure (the proxy then never lets an answer out on a maybe).
 */
static void audit_settle(struct audit_log *log, int err)
{
	uint64_t one = 1;

	if (err)
		atomic_store_explicit(&log->lost, log->n_processed, memory_order_relaxed);
	atomic_store_explicit(&log->durable, log->n_synced, memory_order_release);
	if (write(log->durable_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		audit_report(log, -errno, "durability signal", 0);
}

/* Whether Q_N records and Q_BYTES bytes queued are past QUARTERS/4 of audit_options.max_queued
 * or max_queued_bytes (4: past the bound itself). */
static bool audit_queue_over(const struct audit_log *log, size_t q_n, size_t q_bytes,
			     unsigned quarters)
{
	typedef unsigned __int128 wide;

	return (log->opt.max_queued && (wide)4 * q_n > (wide)quarters * log->opt.max_queued) ||
	       (log->opt.max_queued_bytes &&
		(wide)4 * q_bytes > (wide)quarters * log->opt.max_queued_bytes);
}

/*
 * With log->lock held, after a batch: from three quarters of the bound audit_failing() said
 * -ENOBUFS (audit.on_failure "block" refuses new calls, so that the records of calls already
 * under way still fit); once the writer has brought the queue under half the bound, calls
 * are let in again. Returns true when it did that.
 */
static bool audit_queue_eased(struct audit_log *log)
{
	int full = -ENOBUFS;

	if (audit_queue_over(log, (size_t)(log->n_queued - log->n_processed),
			     log->q.bytes + log->taken_bytes, 2))
		return false;
	return atomic_compare_exchange_strong_explicit(&log->failing, &full, 0,
						       memory_order_relaxed, memory_order_relaxed);
}

/* Writer thread, no lock held: says on stderr how many records were refused for a full queue
 * (*REFUSED, then 0), at most once a second (*SAID) unless EASED, and that it caught up. */
static void audit_say_refused(struct audit_log *log, uint64_t *refused, struct timespec *said,
			      bool eased)
{
	if (*refused && (eased || audit_elapsed(said) >= 1.0)) {
		fprintf(stderr,
			"audit: %s: queue full, the writer is behind: %" PRIu64
			" records dropped\n",
			log->path, *refused);
		*refused = 0;
		clock_gettime(CLOCK_MONOTONIC, said);
	}
	if (eased)
		fprintf(stderr, "audit: %s: the writer caught up: records are queued again\n",
			log->path);
}

static void *audit_writer_main(void *arg)
{
	struct audit_log *log = arg;
	struct audit_queue batch;
	struct audit_qblock *excess = NULL;
	struct timespec said;
	bool stopping = false, flushing, eased;
	uint64_t refused = 0;
	size_t n;
	int err, r;

	bgthread_batch();
	clock_gettime(CLOCK_MONOTONIC, &said);
	pthread_mutex_lock(&log->lock);
	while (!stopping) {
		audit_wait_work(log);
		batch = log->q;
		log->q = (struct audit_queue){0};
		log->taken_bytes = batch.bytes;
		n = batch.n;
		stopping = log->stop;
		flushing = log->flush_want > log->n_synced;
		pthread_mutex_unlock(&log->lock);

		err = audit_write_batch(log, &batch);
		if (audit_cp_due(log, stopping)) {
			r = audit_checkpoint(log);
			err = err ?: r;
			r = audit_write_out(log);
			err = err ?: r;
		}
		if (log->dirty && (log->opt.strict || flushing || stopping ||
				   audit_elapsed(&log->last_sync) >= 1.0)) {
			r = audit_sync(log);
			err = err ?: r;
			if (r < 0)
				audit_cp_drop(log);
		}
		/* Checkpoints leave with the next fdatasync of the log (within a second), not
		 * with one of their own. */
		if (log->cp_n && !log->dirty)
			audit_cp_publish(log);

		/* Let records gather: a busy gateway then costs a wake-up per few milliseconds,
		 * not one per record (nor a futex call on the request path). */
		if (!stopping && !flushing && n && !log->opt.strict)
			nanosleep(&(struct timespec){0, AUDIT_GATHER_NS}, NULL);

		pthread_mutex_lock(&log->lock);
		audit_queue_release(&batch, &log->pool, &excess);
		log->taken_bytes = 0;
		log->n_processed += n;
		eased = audit_queue_eased(log);
		refused += log->n_refused;
		log->n_refused = 0;
		if (!log->dirty)
			log->n_synced = log->n_processed;
		if (err && !log->err)
			log->err = err;
		if (log->opt.strict && n)
			audit_settle(log, err);
		pthread_cond_broadcast(&log->done_cv);
		if (excess || eased || refused) { /* system calls and stderr without the lock */
			pthread_mutex_unlock(&log->lock);
			audit_qblocks_unmap(excess);
			excess = NULL;
			audit_say_refused(log, &refused, &said, eased || stopping);
			pthread_mutex_lock(&log->lock);
		}
	}
	pthread_mutex_unlock(&log->lock);
	return NULL;
}

/* ---- public API ------------------------------------------------------------------------- */

static void audit_free(struct audit_log *log)
{
	struct audit_qblock *excess = NULL;
	struct audit_qcursor c;
	struct audit_entry *e;

	if (log->fd >= 0)
		close(log->fd);
	audit_queue_first(&log->q, &c);
	while ((e = audit_queue_next(&c)))
		cJSON_Delete(e->rec);
	audit_queue_release(&log->q, &log->pool, &excess);
	audit_qblocks_unmap(excess);
	audit_qpool_free(&log->pool);
	free(log->buf);
	audit_cp_drop(log);
	free(log->cp_out);
	if (log->cp_fd >= 0)
		close(log->cp_fd);
	if (log->journal_fd >= 0)
		close(log->journal_fd);
	if (log->durable_fd >= 0)
		close(log->durable_fd);
	EVP_PKEY_free(log->cp_key);
	free(log->cp_path);
	free(log->prev_name);
	free(log->path);
	free(log);
}

/*
 * The name a new file's first record gives the file it continues: PATH.1 as it is called when
 * the new file starts (it moves on to PATH.2 ... with later rotations), or PATH itself with
 * keep 0, whose old file rotation deleted.
 */
static int audit_name_prev(struct audit_log *log)
{
	const char *base = strrchr(log->path, '/') ? strrchr(log->path, '/') + 1 : log->path;
	char *name = NULL;
	cJSON *s;

	if (asprintf(&name, log->opt.keep ? "%s.1" : "%s", base) < 0)
		return -ENOMEM;
	s = cJSON_CreateString(name);
	free(name);
	log->prev_name = s ? cJSON_PrintUnformatted(s) : NULL;
	cJSON_Delete(s);
	return log->prev_name ? 0 : -ENOMEM;
}

/*
 * The hash of seq 1's line when the log still holds it: the first line of the oldest file,
 * if that is the chain start. Checkpoints carry it, so a removed head shows as such.
 */
static void audit_recover_genesis(struct audit_log *log)
{
	struct audit_link l;
	unsigned char hash[AUDIT_HASH_LEN];
	unsigned *ks = NULL;
	char *oldest = NULL, *line = NULL;
	size_t n = 0, cap = 0;
	ssize_t len;
	FILE *f = NULL;

	if (log->done.next_seq == 1 || audit_rotated_siblings(log->path, &ks, &n) < 0)
		goto out;
	if (n ? asprintf(&oldest, "%s.%u", log->path, ks[0]) < 0 : !(oldest = strdup(log->path))) {
		oldest = NULL;
		goto out;
	}
	f = fopen(oldest, "re");
	len = f ? getline(&line, &cap, f) : -1;
	if (len <= 0 || line[len - 1] != '\n')
		goto out;
	audit_parse_link(line, (size_t)len - 1, &l);
	if (l.start && !audit_sha256(line, (size_t)len - 1, hash))
		audit_hex(hash, log->genesis);
out:
	if (f)
		fclose(f);
	free(line);
	free(oldest);
	free(ks);
}

/* Takes the checkpoint key, opens the checkpoint file and looks for the journal. */
static int audit_cp_open(struct audit_log *log, const struct audit_options *opt)
{
	int fd;

	if (!EVP_PKEY_up_ref(opt->checkpoint_key))
		return -EIO;
	log->cp_key = opt->checkpoint_key;
	clock_gettime(CLOCK_MONOTONIC, &log->cp_last);
	audit_recover_genesis(log);
	if (opt->checkpoint_path) {
		log->cp_path = strdup(opt->checkpoint_path);
		if (!log->cp_path)
			return -ENOMEM;
		log->cp_fd = open(log->cp_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (log->cp_fd < 0) {
			fprintf(stderr, "audit: checkpoint file %s: %s\n", log->cp_path,
				strerror(errno));
			return -errno;
		}
	}
	if (opt->journal_socket && !*opt->journal_socket)
		return 0;
	fd = checkpoint_journal_open(opt->journal_socket);
	if (fd >= 0)
		log->journal_fd = fd;
	else
		fprintf(
		    stderr,
		    "audit: no systemd journal at %s (%s): checkpoints go to the log%s%s only\n",
		    opt->journal_socket ?: CHECKPOINT_JOURNAL_SOCKET, strerror(-fd),
		    log->cp_path ? " and " : "", log->cp_path ?: "");
	return 0;
}

static int audit_start(struct audit_log *log)
{
	pthread_condattr_t ca;
	sigset_t all, old;
	int r;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&log->lock, NULL);
	pthread_cond_init(&log->wake, &ca);
	pthread_cond_init(&log->done_cv, NULL);
	pthread_condattr_destroy(&ca);
	clock_gettime(CLOCK_MONOTONIC, &log->last_sync);

	/* Signals are the event loop's business: the writer thread takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&log->thread, NULL, audit_writer_main, log);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		pthread_cond_destroy(&log->done_cv);
		pthread_cond_destroy(&log->wake);
		pthread_mutex_destroy(&log->lock);
		return r;
	}
	pthread_setname_np(log->thread, "aigw-audit");
	return 0;
}

int audit_open(const char *path, const struct audit_options *opt, struct audit_log **ret_log)
{
	struct audit_log *log;
	int r;

	if (!path || !*path || !ret_log)
		return -EINVAL;
	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	log->fd = -1;
	log->cp_fd = -1;
	log->journal_fd = -1;
	log->durable_fd = -1;
	if (opt)
		log->opt = *opt;
	if (log->opt.strict) {
		log->durable_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (log->durable_fd < 0) {
			r = -errno;
			goto fail;
		}
	}
	log->path = strdup(path);
	r = log->path ? audit_name_prev(log) : -ENOMEM;
	if (r < 0)
		goto fail;
	r = audit_open_file(log);
	if (!r)
		r = audit_recover(log);
	if (!r && opt && opt->checkpoint_key)
		r = audit_cp_open(log, opt);
	if (!r)
		r = audit_start(log);
	if (r < 0)
		goto fail;
	*ret_log = log;
	return 0;
fail:
	audit_free(log);
	return r;
}

/*
 * With log->lock held: whether a record of LEN more bytes may be queued. Past the bound it is
 * refused (-ENOBUFS) and counted; from three quarters of it, audit_failing() says -ENOBUFS
 * until the writer has caught up (audit_queue_eased()).
 */
static int audit_admit(struct audit_log *log, size_t len)
{
	size_t n = (size_t)(log->n_queued - log->n_processed) + 1;
	size_t bytes = log->q.bytes + log->taken_bytes + len;
	int ok = 0;

	if (audit_queue_over(log, n, bytes, 3))
		atomic_compare_exchange_strong_explicit(&log->failing, &ok, -ENOBUFS,
							memory_order_relaxed, memory_order_relaxed);
	if (!audit_queue_over(log, n, bytes, 4))
		return 0;
	log->n_refused++;
	return -ENOBUFS;
}

/*
 * Queues a record (REC, or a copy of TEXT) for the writer, its ticket into *TICKET; the caller
 * still owns REC on failure, and TEXT always. A block the queue needs is mapped without the
 * lock, then offered to the pool and taken by the push in the same locked section.
 */
static int audit_enqueue(struct audit_log *log, cJSON *rec, const char *text, size_t len,
			 uint64_t *ticket)
{
	struct audit_qblock *fresh = NULL;
	struct timespec when = {0};
	int r;

	if (log->opt.max_queued_bytes && len > log->opt.max_queued_bytes)
		return -EMSGSIZE;
	if (rec)
		clock_gettime(CLOCK_REALTIME, &when);
	pthread_mutex_lock(&log->lock);
	for (;;) {
		if (fresh)
			audit_qpool_add(&log->pool, fresh);
		r = audit_admit(log, len);
		if (!r)
			r = audit_queue_push(&log->q, &log->pool, rec, text, len, &when);
		if (r != -EAGAIN || fresh)
			break;
		pthread_mutex_unlock(&log->lock);
		fresh = audit_qblock_map(len);
		pthread_mutex_lock(&log->lock);
		if (!fresh) {
			r = -ENOMEM;
			break;
		}
	}
	if (!r) {
		*ticket = ++log->n_queued;
		if (log->q.n == 1)
			pthread_cond_signal(&log->wake);
	}
	pthread_mutex_unlock(&log->lock);
	return r;
}

int audit_write(struct audit_log *log, cJSON *record)
{
	uint64_t ticket;
	int r = -EINVAL;

	if (log && cJSON_IsObject(record))
		r = audit_enqueue(log, record, NULL, 0, &ticket);
	if (r < 0)
		cJSON_Delete(record);
	return r;
}

int audit_write_text_ticket(struct audit_log *log, char *text, size_t len, uint64_t *ret_ticket)
{
	uint64_t ticket;
	int r = -EINVAL;

	if (log && len >= 2 && text[0] == '{' && text[len - 1] == '}')
		r = audit_enqueue(log, NULL, text, len, &ticket);
	free(text); /* the queue holds a copy, in its own blocks */
	if (!r && ret_ticket)
		*ret_ticket = ticket;
	return r;
}

int audit_write_text(struct audit_log *log, char *text, size_t len)
{
	return audit_write_text_ticket(log, text, len, NULL);
}

int audit_durable_fd(const struct audit_log *log)
{
	return log->durable_fd;
}

void audit_durable(const struct audit_log *log, uint64_t *ret_durable, uint64_t *ret_lost)
{
	*ret_durable = atomic_load_explicit(&log->durable, memory_order_acquire);
	*ret_lost = atomic_load_explicit(&log->lost, memory_order_relaxed);
}

int audit_flush(struct audit_log *log)
{
	uint64_t target;
	int r;

	if (!log)
		return -EINVAL;
	pthread_mutex_lock(&log->lock);
	target = log->n_queued;
	if (log->flush_want < target)
		log->flush_want = target;
	pthread_cond_signal(&log->wake);
	while (log->n_synced < target)
		pthread_cond_wait(&log->done_cv, &log->lock);
	r = log->err;
	log->err = 0;
	pthread_mutex_unlock(&log->lock);
	return r;
}

const atomic_int *audit_failing(const struct audit_log *log)
{
	return &log->failing;
}

size_t audit_queue_depth(struct audit_log *log)
{
	uint64_t n;

	pthread_mutex_lock(&log->lock);
	n = log->n_queued - log->n_processed;
	pthread_mutex_unlock(&log->lock);
	return (size_t)n;
}

void audit_close(struct audit_log *log)
{
	if (!log)
		return;
	pthread_mutex_lock(&log->lock);
	log->stop = true;
	pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->lock);
	pthread_join(log->thread, NULL);
	pthread_cond_destroy(&log->done_cv);
	pthread_cond_destroy(&log->wake);
	pthread_mutex_destroy(&log->lock);
	audit_free(log);
}

/* ---- the verifier ----------------------------------------------------------------------- */

/* One line of the files being verified, with where it is and what it links to. */
struct audit_vline {
	char *buf; /* owned; the line without its newline */
	size_t cap;
	size_t len;
	bool present;  /* false past the end of the last file */
	bool complete; /* ended with a newline */
	size_t file;
	unsigned long lineno;
	struct audit_link link;
	char hash[AUDIT_HEX_LEN + 1];
};

/* The files as one stream of lines. */
struct audit_vstream {
	const char **paths;
	size_t n, idx;
	FILE *f;
	unsigned long lineno;
	unsigned long *counts; /* owned: lines per file */
};

static int audit_vopen(struct audit_vstream *st, FILE *out)
{
	st->f = fopen(st->paths[st->idx], "re");
	if (!st->f) {
		int r = -errno;

		fprintf(out, "%s: cannot read: %s\n", st->paths[st->idx], strerror(-r));
		return r;
	}
	st->lineno = 0;
	return 0;
}

/* Reads the next line of the stream into L (L->present false at the end). */
static int audit_vnext(struct audit_vstream *st, struct audit_vline *l, FILE *out)
{
	unsigned char hash[AUDIT_HASH_LEN];
	ssize_t n;
	int r;

	for (;;) {
		l->present = false;
		if (st->idx >= st->n)
			return 0;
		if (!st->f && (r = audit_vopen(st, out)) < 0)
			return r;
		errno = 0;
		n = getline(&l->buf, &l->cap, st->f);
		if (n >= 0)
			break;
		r = ferror(st->f) ? -(errno ?: EIO) : 0;
		fclose(st->f);
		st->f = NULL;
		if (r < 0) {
			fprintf(out, "%s: cannot read: %s\n", st->paths[st->idx], strerror(-r));
			return r;
		}
		st->idx++;
	}
	l->present = true;
	l->complete = n > 0 && l->buf[n - 1] == '\n';
	l->len = (size_t)n - l->complete;
	l->file = st->idx;
	l->lineno = ++st->lineno;
	st->counts[st->idx]++;
	audit_parse_link(l->buf, l->len, &l->link);
	r = audit_sha256(l->buf, l->len, hash);
	audit_hex(hash, l->hash);
	return r;
}

/* The last good record seen. */
struct audit_vprev {
	bool have;
	uint64_t seq;
	char hash[AUDIT_HEX_LEN + 1];
	size_t file;
	unsigned long lineno;
};

static int audit_vreport(FILE *out, const char *path, unsigned long lineno, const char *what,
			 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int audit_vreport(FILE *out, const char *path, unsigned long lineno, const char *what,
			 const char *fmt, ...)
{
	va_list ap;

	fprintf(out, "%s:%lu: %s: ", path, lineno, what);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	return 1;
}

/* NEXT is a record that names CUR as its predecessor. */
static bool audit_links(const struct audit_vline *next, const struct audit_vline *cur)
{
	return next->present && next->link.rec && next->link.seq == cur->link.seq + 1 &&
	       !strcmp(next->link.prev, cur->hash);
}

/* NEXT sits where the record after P belongs: CUR took the place of seq P+1. */
static bool audit_follows_gap(const struct audit_vprev *p, const struct audit_vline *next)
{
	return p->have && next->present && next->link.rec && next->link.seq == p->seq + 2;
}

/* The first line of the chain: it must be a chain start. */
static int audit_check_first(const char **paths, const struct audit_vline *cur,
			     const struct audit_vline *next, FILE *out)
{
	const char *path = paths[cur->file];

	if (cur->link.start)
		return 0;
	if (next->present && next->link.rec && next->link.start &&
	    next->link.seq + 1 == cur->link.seq)
		return audit_vreport(out, path, cur->lineno, "records reordered",
				     "seq %" PRIu64 " comes before the chain start, seq %" PRIu64,
				     cur->link.seq, next->link.seq);
	if (cur->link.cont && cur->lineno == 1)
		return audit_vreport(out, path, cur->lineno, "head removed",
				     "the chain does not start here: this file continues %s "
				     "(seq %" PRIu64 " and before), which was not given; give "
				     "every file, oldest first, from the one with audit.chain_start",
				     cur->link.prev_file, cur->link.seq - 1);
	return audit_vreport(out, path, cur->lineno, "record removed",
			     "the chain does not start here (seq %" PRIu64
			     " is not the log's first record, seq 1 with audit.chain_start); "
			     "earlier records are missing",
			     cur->link.seq);
}

/* CUR starts a file that continues one whose records do not come next: a file is missing. */
static bool audit_file_missing(const struct audit_vprev *p, const struct audit_vline *cur)
{
	return cur->link.cont && cur->lineno == 1 && cur->file != p->file &&
	       cur->link.seq > p->seq + 1;
}

/* A record whose seq is not P's + 1. */
static int audit_check_seq(const char **paths, const struct audit_vprev *p,
			   const struct audit_vline *cur, const struct audit_vline *next, FILE *out)
{
	const char *path = paths[cur->file];
	uint64_t seq = cur->link.seq;

	if (audit_follows_gap(p, next))
		return audit_vreport(out, path, cur->lineno, "record edited",
				     "seq %" PRIu64 " stands where seq %" PRIu64 " belongs", seq,
				     p->seq + 1);
	if (seq == p->seq && audit_links(next, cur) && strcmp(cur->hash, p->hash))
		return audit_vreport(out, paths[p->file], p->lineno, "record inserted",
				     "seq %" PRIu64 " appears twice and the chain goes on from the "
				     "other copy (%s:%lu)",
				     seq, path, cur->lineno);
	if (seq == p->seq)
		return audit_vreport(out, path, cur->lineno, "record inserted",
				     "duplicate seq %" PRIu64, seq);
	if (seq < p->seq)
		return audit_vreport(out, path, cur->lineno, "records reordered",
				     "seq goes back from %" PRIu64 " to %" PRIu64, p->seq, seq);
	if (next->present && next->link.rec && next->link.seq == p->seq + 1)
		return audit_vreport(out, path, cur->lineno, "records reordered",
				     "seq %" PRIu64 " comes before seq %" PRIu64, seq,
				     next->link.seq);
	return audit_vreport(out, path, cur->lineno, "record removed",
			     "seq jumps from %" PRIu64 " to %" PRIu64 " (%" PRIu64
			     " missing before this line)",
			     p->seq, seq, seq - p->seq - 1);
}

/* Returns 0 if CUR links onto P, else reports the problem and returns 1. */
static int audit_check(const char **paths, const struct audit_vprev *p,
		       const struct audit_vline *cur, const struct audit_vline *next, FILE *out)
{
	const char *path = paths[cur->file];

	if (!cur->complete)
		return audit_vreport(out, path, cur->lineno, "truncated record",
				     "the last line has no newline (a write was interrupted)");
	if (!cur->link.rec && audit_follows_gap(p, next))
		return audit_vreport(out, path, cur->lineno, "record edited",
				     "not a chained record any more, where seq %" PRIu64 " belongs",
				     p->seq + 1);
	if (!cur->link.rec)
		return audit_vreport(out, path, cur->lineno, "record inserted",
				     "not a chained audit record");
	if (!p->have)
		return audit_check_first(paths, cur, next, out);
	if (audit_file_missing(p, cur))
		return audit_vreport(out, path, cur->lineno, "file missing",
				     "this file continues %s, whose last record was seq %" PRIu64
				     ", but %s before it ends at seq %" PRIu64 ": the file(s) "
				     "holding seq %" PRIu64 "..%" PRIu64 " are missing (or the end "
				     "of %s was cut off)",
				     cur->link.prev_file, cur->link.seq - 1, paths[p->file], p->seq,
				     p->seq + 1, cur->link.seq - 1, paths[p->file]);
	if (cur->link.seq != p->seq + 1)
		return audit_check_seq(paths, p, cur, next, out);
	if (strcmp(cur->link.prev, p->hash) && next->present && next->link.rec &&
	    next->link.seq == cur->link.seq && !strcmp(next->link.prev, p->hash))
		return audit_vreport(out, path, cur->lineno, "record inserted",
				     "seq %" PRIu64 " appears twice and the chain goes on from the "
				     "other copy (%s:%lu)",
				     cur->link.seq, paths[next->file], next->lineno);
	if (strcmp(cur->link.prev, p->hash))
		return audit_vreport(out, paths[p->file], p->lineno, "record edited",
				     "its SHA-256 no longer matches audit.prev_sha256 of the next "
				     "record (%s:%lu)",
				     path, cur->lineno);
	return 0;
}

/* ---- the verifier: checkpoints ---------------------------------------------------------- */

/* A checkpoint of the checkpoint file, as the chain is held to it. */
struct audit_vcp_ext {
	struct checkpoint cp;
	unsigned long lineno; /* in the checkpoint file */
};

/* What the chain is held to besides itself, and what was seen of it. */
struct audit_vcp {
	EVP_PKEY *pub;			 /* NULL: checkpoints are not checked */
	const char *file;		 /* the checkpoint file, or NULL */
	struct audit_vcp_ext *ext;	 /* owned: its checkpoints, by seq */
	size_t n_ext, next;		 /* next: the first whose seq the chain has not reached */
	size_t n_log;			 /* checkpoint records verified in the log */
	uint64_t last_ok;		 /* highest seq a checkpoint confirmed */
	bool have_genesis;		 /* seq 1 was seen: */
	char genesis[AUDIT_HEX_LEN + 1]; /* its hash, */
	size_t genesis_file;		 /* and where it is */
	unsigned long genesis_line;
};

static int audit_cmp_ext(const void *a, const void *b)
{
	const struct audit_vcp_ext *x = a, *y = b;

	if (x->cp.seq != y->cp.seq)
		return x->cp.seq < y->cp.seq ? -1 : 1;
	return x->lineno < y->lineno ? -1 : x->lineno > y->lineno;
}

/* Why CP at WHERE does not stand: reports a forged checkpoint, or returns 0. */
static int audit_vcp_signed(const struct audit_vcp *v, const struct checkpoint *cp,
			    const char *path, unsigned long lineno, FILE *out)
{
	char id[CHECKPOINT_KEY_ID_LEN + 1] = "?";
	int r = checkpoint_check(v->pub, cp);

	if (r == -EKEYREJECTED) {
		checkpoint_key_id(v->pub, id);
		return audit_vreport(out, path, lineno, "forged checkpoint",
				     "seq %" PRIu64 ": signed by key %s, not by the --pubkey key "
				     "(%s)",
				     cp->seq, cp->key_id, id);
	}
	if (r < 0)
		return audit_vreport(out, path, lineno, "forged checkpoint",
				     "seq %" PRIu64 " (signed %s): the signature does not verify: "
				     "its seq, head or time was changed, or it was never signed",
				     cp->seq, cp->time);
	return 0;
}

/* Reads and checks every checkpoint of v->file, sorted by seq into v->ext. */
static int audit_vcp_load(struct audit_vcp *v, FILE *out)
{
	FILE *f = fopen(v->file, "re");
	struct audit_vcp_ext *t;
	unsigned long lineno = 0;
	size_t cap = 0, lcap = 0;
	char *line = NULL;
	ssize_t len;
	int r = 0;

	if (!f) {
		r = -errno;
		fprintf(out, "%s: cannot read: %s\n", v->file, strerror(-r));
		return r;
	}
	while (!r && (len = getline(&line, &lcap, f)) >= 0) {
		cJSON *o = cJSON_ParseWithLength(line, (size_t)len);

		lineno++;
		if (v->n_ext == cap) {
			cap = cap ? 2 * cap : 64;
			t = realloc(v->ext, cap * sizeof(*t));
			if (!t) {
				cJSON_Delete(o);
				r = -ENOMEM;
				break;
			}
			v->ext = t;
		}
		t = &v->ext[v->n_ext];
		t->lineno = lineno;
		if (checkpoint_from_json(o, &t->cp) < 0)
			r = audit_vreport(out, v->file, lineno, "forged checkpoint",
					  "not a well-formed audit.checkpoint line");
		else
			r = audit_vcp_signed(v, &t->cp, v->file, lineno, out);
		cJSON_Delete(o);
		v->n_ext++;
	}
	free(line);
	fclose(f);
	if (!r && v->n_ext)
		qsort(v->ext, v->n_ext, sizeof(*v->ext), audit_cmp_ext);
	return r;
}

/* Seq 1 must be the record the checkpoint CP (at PATH:LINENO) was signed over. */
static int audit_vcp_genesis(const struct audit_vcp *v, const char **paths,
			     const struct checkpoint *cp, const char *path, unsigned long lineno,
			     FILE *out)
{
	if (!*cp->genesis || !v->have_genesis || !strcmp(cp->genesis, v->genesis))
		return 0;
	return audit_vreport(out, paths[v->genesis_file], v->genesis_line, "head removed",
			     "seq 1 hashes to %.16s..., but the checkpoint at %s:%lu (signed %s) "
			     "was signed over a log whose seq 1 hashes to %.16s...: the head was "
			     "removed or replaced and the chain recomputed",
			     v->genesis, path, lineno, cp->time, cp->genesis);
}

/* A checkpoint record of the log (CUR): signed, and naming the record P just before it. */
static int audit_vcp_record(struct audit_vcp *v, const char **paths, const struct audit_vprev *p,
			    const struct audit_vline *cur, FILE *out)
{
	const char *path = paths[cur->file];
	struct checkpoint cp;
	cJSON *o;
	int r;

	if (!memmem(cur->buf, cur->len, CHECKPOINT_EVENT, strlen(CHECKPOINT_EVENT)))
		return 0;
	o = cJSON_ParseWithLength(cur->buf, cur->len);
	if (!checkpoint_is_record(o)) {
		cJSON_Delete(o);
		return 0;
	}
	r = checkpoint_from_json(o, &cp);
	cJSON_Delete(o);
	if (r < 0)
		return audit_vreport(out, path, cur->lineno, "forged checkpoint",
				     "seq %" PRIu64 ": not a well-formed checkpoint record",
				     cur->link.seq);
	r = audit_vcp_signed(v, &cp, path, cur->lineno, out);
	if (!r)
		r = audit_vcp_genesis(v, paths, &cp, path, cur->lineno, out);
	if (r)
		return r;
	if (cp.seq != p->seq)
		return audit_vreport(out, path, cur->lineno, "records rewritten",
				     "seq %" PRIu64 " is a checkpoint of seq %" PRIu64
				     " but follows "
				     "seq %" PRIu64 ": records were removed or added before it and "
				     "the chain recomputed",
				     cur->link.seq, cp.seq, p->seq);
	if (strcmp(cp.head, p->hash))
		return audit_vreport(out, paths[p->file], p->lineno, "records rewritten",
				     "seq %" PRIu64 " hashes to %.16s..., but the checkpoint after "
				     "it (%s:%lu, signed %s) says %.16s...: this record or one "
				     "after seq %" PRIu64 " was changed and the chain recomputed",
				     p->seq, p->hash, path, cur->lineno, cp.time, cp.head,
				     v->last_ok);
	v->n_log++;
	v->last_ok = p->seq;
	return 0;
}

/* Holds the record CUR (after P) to the checkpoints: those in the log and the file's. */
static int audit_vcp_check(struct audit_vcp *v, const char **paths, const struct audit_vprev *p,
			   const struct audit_vline *cur, FILE *out)
{
	const char *path = paths[cur->file];
	int r;

	if (!v->pub)
		return 0;
	if (cur->link.start) {
		v->have_genesis = true;
		memcpy(v->genesis, cur->hash, sizeof(v->genesis));
		v->genesis_file = cur->file;
		v->genesis_line = cur->lineno;
		for (size_t i = 0; i < v->n_ext; i++) {
			r = audit_vcp_genesis(v, paths, &v->ext[i].cp, v->file, v->ext[i].lineno,
					      out);
			if (r)
				return r;
		}
	}
	if (p->have) {
		r = audit_vcp_record(v, paths, p, cur, out);
		if (r)
			return r;
	}
	for (; v->next < v->n_ext && v->ext[v->next].cp.seq <= cur->link.seq; v->next++) {
		const struct audit_vcp_ext *e = &v->ext[v->next];

		if (e->cp.seq == cur->link.seq && strcmp(e->cp.head, cur->hash))
			return audit_vreport(
			    out, path, cur->lineno, "records rewritten",
			    "seq %" PRIu64 " hashes to %.16s..., but the checkpoint "
			    "at %s:%lu (signed %s) says %.16s...: this record or one "
			    "after seq %" PRIu64 " was changed and the chain "
			    "recomputed",
			    cur->link.seq, cur->hash, v->file, e->lineno, e->cp.time, e->cp.head,
			    v->last_ok);
		v->last_ok = cur->link.seq;
	}
	return 0;
}

/* At the end of the chain (P its last record): no checkpoint may name a seq past it. */
static int audit_vcp_end(struct audit_vcp *v, const char **paths, size_t n,
			 const struct audit_vprev *p, FILE *out)
{
	const struct audit_vcp_ext *e;

	if (!v->pub || v->next >= v->n_ext)
		return 0;
	e = &v->ext[v->n_ext - 1];
	return audit_vreport(
	    out, p->have ? paths[p->file] : paths[n - 1], p->have ? p->lineno : 0, "truncated tail",
	    "the log ends at seq %" PRIu64 ", but the checkpoint at %s:%lu (signed "
	    "%s) names seq %" PRIu64 ": at least %" PRIu64 " records were cut off",
	    p->seq, v->file, e->lineno, e->cp.time, e->cp.seq, e->cp.seq - p->seq);
}

static void audit_vcp_summary(const struct audit_vcp *v, const struct audit_vprev *p, FILE *out)
{
	char id[CHECKPOINT_KEY_ID_LEN + 1] = "?";

	if (!v->pub)
		return;
	checkpoint_key_id(v->pub, id);
	fprintf(out, "checkpoints: %zu in the log", v->n_log);
	if (v->file)
		fprintf(out, " and %zu in %s", v->n_ext, v->file);
	fprintf(out, " verified with key %s; the last covers seq %" PRIu64 " of %" PRIu64, id,
		v->last_ok, p->seq);
	if (!v->file)
		fprintf(out,
			" (no checkpoint file: a tail cut after the last checkpoint in the log "
			"cannot be seen)");
	fputc('\n', out);
}

static void audit_vadvance(struct audit_vprev *p, const struct audit_vline *cur)
{
	memcpy(p->hash, cur->hash, sizeof(p->hash));
	p->have = true;
	p->seq = cur->link.seq;
	p->file = cur->file;
	p->lineno = cur->lineno;
}

int audit_verify(const char **paths, size_t n, const struct audit_verify_options *opt, FILE *out)
{
	struct audit_vstream st = {.paths = paths, .n = n};
	struct audit_vline lines[2] = {0}, *cur = &lines[0], *next = &lines[1], *t;
	struct audit_vprev p = {0};
	struct audit_vcp v = {0};
	int r;

	if (!paths || !n || (opt && opt->checkpoints && !opt->pubkey))
		return -EINVAL;
	out = out ?: stdout;
	if (opt) {
		v.pub = opt->pubkey;
		v.file = opt->checkpoints;
	}
	st.counts = calloc(n, sizeof(*st.counts));
	if (!st.counts)
		return -ENOMEM;
	r = v.file ? audit_vcp_load(&v, out) : 0;
	if (r)
		goto out;
	r = audit_vnext(&st, cur, out);
	if (r >= 0)
		r = audit_vnext(&st, next, out);
	while (r >= 0 && cur->present) {
		r = audit_check(paths, &p, cur, next, out);
		if (!r)
			r = audit_vcp_check(&v, paths, &p, cur, out);
		if (r)
			goto out;
		audit_vadvance(&p, cur);
		t = cur;
		cur = next;
		next = t;
		r = audit_vnext(&st, next, out);
	}
	if (r < 0)
		goto out;
	r = audit_vcp_end(&v, paths, n, &p, out);
	if (r)
		goto out;
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s: %lu records, chain intact\n", paths[i], st.counts[i]);
	audit_vcp_summary(&v, &p, out);
out:
	free(v.ext);
	if (st.f)
		fclose(st.f);
	free(lines[0].buf);
	free(lines[1].buf);
	free(st.counts);
	return r;
}

/* The K of a rotated sibling NAME of BASE ("BASE.K", K >= 1 without leading zeros), or 0. */
static unsigned audit_rotated_index(const char *name, const char *base)
{
	size_t n = strlen(base);
	unsigned long k;
	char *end;

	if (strncmp(name, base, n) || name[n] != '.' || name[n + 1] < '1' || name[n + 1] > '9')
		return 0;
	errno = 0;
	k = strtoul(name + n + 1, &end, 10);
	return *end || errno || k > UINT_MAX ? 0 : (unsigned)k;
}

static int audit_cmp_desc(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

int audit_rotated_siblings(const char *path, unsigned **ret_k, size_t *ret_n)
{
	char *dcopy = strdup(path), *bcopy = strdup(path);
	const char *base;
	unsigned *v = NULL, *t, k;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir = NULL;
	int r = 0;

	if (!dcopy || !bcopy) {
		r = -ENOMEM;
		goto out;
	}
	dir = opendir(dirname(dcopy));
	if (!dir) /* no siblings to be found: verifying PATH alone says what is wrong */
		goto done;
	base = basename(bcopy);
	while ((de = readdir(dir))) {
		k = audit_rotated_index(de->d_name, base);
		if (!k)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			t = realloc(v, cap * sizeof(*v));
			if (!t) {
				r = -ENOMEM;
				goto out;
			}
			v = t;
		}
		v[n++] = k;
	}
	if (n)
		qsort(v, n, sizeof(*v), audit_cmp_desc);
done:
	*ret_k = v;
	*ret_n = n;
	v = NULL;
out:
	if (dir)
		closedir(dir);
	free(v);
	free(dcopy);
	free(bcopy);
	return r;
}

int audit_verify_log(const char *path, const struct audit_verify_options *opt, FILE *out)
{
	unsigned *ks = NULL;
	const char **paths = NULL;
	char **names = NULL;
	size_t n = 0;
	int r;

	if (!path)
		return -EINVAL;
	r = audit_rotated_siblings(path, &ks, &n);
	if (r < 0)
		goto out;
	paths = calloc(n + 1, sizeof(*paths));
	names = calloc(n + 1, sizeof(*names));
	if (!paths || !names) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (asprintf(&names[i], "%s.%u", path, ks[i]) < 0) {
			names[i] = NULL;
			r = -ENOMEM;
			goto out;
		}
		paths[i] = names[i];
	}
	paths[n] = path;
	r = audit_verify(paths, n + 1, opt, out);
out:
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	free(paths);
	free(ks);
	return r;
}
