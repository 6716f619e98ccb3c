/*
 * test_audit.c: the audit log writer (chain, reopen, rotation, flush, threads) and the
 * verifier's classification of edited, removed, reordered and inserted lines, and the signed
 * checkpoints: written, and catching a cut tail, a removed head, a rewritten and re-chained
 * log and a forged checkpoint, each at its position.
 *
 * Every case works in its own mkdtemp directory, removed at the end. The chain is checked
 * here with an independent SHA-256, not only through audit_verify().
 */
#include "unit.h"
#include "ledger/audit.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

struct lines {
	char **v;
	size_t n;
};

static bool make_dir(char *dir, size_t size)
{
	return unit_mkdtemp(dir, size, "audit") == 0;
}

static void free_lines(struct lines *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		free(ls->v[i]);
	free(ls->v);
	ls->v = NULL;
	ls->n = 0;
}

/* Reads PATH into LS, one string per line without its newline. */
static int read_lines(const char *path, struct lines *ls)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	ls->v = NULL;
	ls->n = 0;
	if (!f)
		return -errno;
	while ((n = getline(&line, &cap, f)) >= 0) {
		if (n && line[n - 1] == '\n')
			line[n - 1] = '\0';
		ls->v = realloc(ls->v, (ls->n + 1) * sizeof(*ls->v));
		ls->v[ls->n++] = strdup(line);
	}
	free(line);
	fclose(f);
	return 0;
}

static int write_lines(const char *path, char **v, size_t n)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\n", v[i]);
	return fclose(f) ? -errno : 0;
}

static void sha_hex(const char *s, char out[65])
{
	unsigned char md[32];
	unsigned int n;

	EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static long long seq_of(const char *line)
{
	cJSON *o = cJSON_Parse(line);
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "audit.seq");
	long long v = cJSON_IsNumber(s) ? (long long)s->valuedouble : -1;

	cJSON_Delete(o);
	return v;
}

/* The string field KEY of LINE, copied into OUT ("" if absent). */
static const char *str_of(const char *line, const char *key, char *out, size_t size)
{
	cJSON *o = cJSON_Parse(line);
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

	snprintf(out, size, "%s", s ? s : "");
	cJSON_Delete(o);
	return out;
}

static bool is_start(const char *line)
{
	cJSON *o = cJSON_Parse(line);
	bool v = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "audit.chain_start"));

	cJSON_Delete(o);
	return v;
}

static cJSON *rec(const char *event, int i)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "event", event);
	cJSON_AddNumberToObject(o, "i", i);
	return o;
}

static int write_n(const char *path, const struct audit_options *opt, int from, int n)
{
	struct audit_log *log;
	int r = audit_open(path, opt, &log);

	for (int i = from; !r && i < from + n; i++)
		r = audit_write(log, rec("request", i));
	audit_close(log);
	return r;
}

/* Runs audit_verify; returns its result and its output in *text (malloc'd). */
static int verify(const char **paths, size_t n, char **text)
{
	size_t size;
	FILE *f = open_memstream(text, &size);
	int r = audit_verify(paths, n, NULL, f);

	fclose(f);
	return r;
}

static int verify_log(const char *path, char **text)
{
	size_t size;
	FILE *f = open_memstream(text, &size);
	int r = audit_verify_log(path, NULL, f);

	fclose(f);
	return r;
}

static void test_records_are_chained(void)
{
	char dir[64], path[128], hex[65], buf[128];
	struct audit_log *log = NULL;
	struct lines ls = {0};
	cJSON *own = rec("own-time", 99);
	struct stat st;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	ASSERT_OK(audit_open(path, NULL, &log));
	for (int i = 0; i < 4; i++)
		ASSERT_OK(audit_write(log, rec("request", i)));
	cJSON_AddStringToObject(own, "time", "2020-01-01T00:00:00.000000Z");
	cJSON_AddNumberToObject(own, "audit.seq", 12345); /* reserved: replaced */
	ASSERT_OK(audit_write(log, own));
	audit_close(log);

	ASSERT_OK(stat(path, &st));
	ASSERT_EQ(st.st_mode & 0777, 0640);
	ASSERT_OK(read_lines(path, &ls));
	ASSERT_EQ(ls.n, 5);
	ASSERT_STREQ(str_of(ls.v[0], "audit.prev_sha256", buf, sizeof(buf)), ZEROS);
	for (size_t k = 0; k < ls.n; k++) {
		ASSERT_EQ(seq_of(ls.v[k]), k + 1);
		ASSERT_EQ(is_start(ls.v[k]), k == 0);
		str_of(ls.v[k], "time", buf, sizeof(buf));
		ASSERT_EQ(strlen(buf), 27);
		ASSERT_TRUE(buf[10] == 'T' && buf[19] == '.' && buf[26] == 'Z');
		if (k == 0)
			continue;
		sha_hex(ls.v[k - 1], hex);
		ASSERT_STREQ(str_of(ls.v[k], "audit.prev_sha256", buf, sizeof(buf)), hex);
	}
	ASSERT_STREQ(str_of(ls.v[4], "time", buf, sizeof(buf)), "2020-01-01T00:00:00.000000Z");
	free_lines(&ls);
	unit_rm_tree(dir);
}

/* Records written as text get the chain fields appended byte for byte, the first with its
 * chain_start, a one-member record with its comma. */
static void test_text_records_exact(void)
{
	char dir[64], path[128], hex[65], want[256];
	struct audit_log *log = NULL;
	struct lines ls = {0};
	const char *t[2] = {"{\"time\":\"x\"}", "{\"time\":\"y\",\"n\":\"\\\"\"}"};

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	ASSERT_OK(audit_open(path, NULL, &log));
	for (int i = 0; i < 2; i++)
		ASSERT_OK(audit_write_text(log, strdup(t[i]), strlen(t[i])));
	audit_close(log);
	ASSERT_OK(read_lines(path, &ls));
	ASSERT_EQ(ls.n, 2);
	ASSERT_STREQ(ls.v[0], "{\"time\":\"x\",\"audit.seq\":1,\"audit.prev_sha256\":\"" ZEROS
			      "\",\"audit.chain_start\":true}");
	sha_hex(ls.v[0], hex);
	snprintf(want, sizeof(want),
		 "{\"time\":\"y\",\"n\":\"\\\"\",\"audit.seq\":2,\"audit.prev_sha256\":\"%s\"}", hex);
	ASSERT_STREQ(ls.v[1], want);
	free_lines(&ls);
	unit_rm_tree(dir);
}

static void test_reopen_continues_chain(void)
{
	char dir[64], path[128], hex[65], buf[128], *out = NULL;
	const char *paths[1] = {path};
	struct lines ls = {0};

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	ASSERT_OK(write_n(path, NULL, 0, 3));
	ASSERT_OK(write_n(path, NULL, 3, 2));
	ASSERT_OK(read_lines(path, &ls));
	ASSERT_EQ(ls.n, 5);
	ASSERT_EQ(seq_of(ls.v[3]), 4);
	ASSERT_EQ(seq_of(ls.v[4]), 5);
	ASSERT_TRUE(!is_start(ls.v[3]));
	sha_hex(ls.v[2], hex);
	ASSERT_STREQ(str_of(ls.v[3], "audit.prev_sha256", buf, sizeof(buf)), hex);
	ASSERT_EQ(verify(paths, 1, &out), 0);
	free(out);
	free_lines(&ls);
	unit_rm_tree(dir);
}

static void test_reopen_drops_partial_line(void)
{
	char dir[64], path[128], hex[65], buf[128], *out = NULL;
	const char *paths[1] = {path};
	struct lines ls = {0};
	FILE *f;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	ASSERT_OK(write_n(path, NULL, 0, 3));
	ASSERT_OK(verify(paths, 1, &out));
	free(out);
	f = fopen(path, "a");
	ASSERT_TRUE(f);
	fputs("{\"event\":\"request\",\"i\":3,\"ti", f); /* a crash mid-write */
	fclose(f);
	ASSERT_EQ(verify(paths, 1, &out), 1);
	ASSERT_CONTAINS(out, ":4: truncated record");
	free(out);

	ASSERT_OK(write_n(path, NULL, 3, 1));
	ASSERT_OK(read_lines(path, &ls));
	ASSERT_EQ(ls.n, 4);
	ASSERT_EQ(seq_of(ls.v[3]), 4);
	sha_hex(ls.v[2], hex);
	ASSERT_STREQ(str_of(ls.v[3], "audit.prev_sha256", buf, sizeof(buf)), hex);
	ASSERT_EQ(verify(paths, 1, &out), 0);
	free(out);
	free_lines(&ls);
	unit_rm_tree(dir);
}

/* A crash between rotation's rename and the new file: PATH is missing, PATH.1 holds the end. */
static void test_reopen_after_rotation_crash(void)
{
	char dir[64], path[128], old[140], hex[65], buf[128], *out = NULL;
	const char *paths[2] = {old, path};
	struct audit_options opt = {.rotate_bytes = 1 << 20, .keep = 3};
	struct lines ls = {0}, prev = {0};

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	snprintf(old, sizeof(old), "%s.1", path);
	ASSERT_OK(write_n(path, &opt, 0, 3));
	ASSERT_OK(rename(path, old));
	ASSERT_OK(write_n(path, &opt, 3, 2));
	ASSERT_OK(read_lines(old, &prev));
	ASSERT_OK(read_lines(path, &ls));
	ASSERT_EQ(ls.n, 2);
	ASSERT_EQ(seq_of(ls.v[0]), 4);
	ASSERT_TRUE(!is_start(ls.v[0]));
	ASSERT_STREQ(str_of(ls.v[0], "audit.prev_file", buf, sizeof(buf)), "audit.log.1");
	sha_hex(prev.v[2], hex);
	ASSERT_STREQ(str_of(ls.v[0], "audit.prev_sha256", buf, sizeof(buf)), hex);
	ASSERT_EQ(verify(paths, 2, &out), 0);
	free(out);
	free_lines(&ls);
	free_lines(&prev);
	unit_rm_tree(dir);
}

static void test_reopen_refuses_foreign_file(void)
{
	char dir[64], path[128];
	struct audit_log *log = NULL;
	char *junk[] = {"not an audit record"};

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	ASSERT_OK(write_lines(path, junk, 1));
	ASSERT_EQ(audit_open(path, NULL, &log), -EBADMSG);
	unit_rm_tree(dir);
}

static void test_rotation_keeps_chain(void)
{
	char dir[64], path[128], p1[140], p2[140], p3[140], hex[65], buf[128], msg[256];
	char *out = NULL;
	const char *all[3] = {p2, p1, path}, *wrong[2] = {p1, p2};
	struct audit_options opt = {.rotate_bytes = 1024, .keep = 2};
	struct lines f0 = {0}, f1 = {0}, f2 = {0};
	struct stat st;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	snprintf(p1, sizeof(p1), "%s.1", path);
	snprintf(p2, sizeof(p2), "%s.2", path);
	snprintf(p3, sizeof(p3), "%s.3", path);
	ASSERT_OK(write_n(path, &opt, 0, 200));

	ASSERT_EQ(stat(p3, &st), -1); /* keep = 2 */
	for (int i = 0; i < 3; i++) {
		ASSERT_OK(stat(all[i], &st));
		ASSERT_TRUE(st.st_size > 0 && st.st_size <= 1024);
		ASSERT_EQ(st.st_mode & 0777, 0640);
	}
	ASSERT_OK(read_lines(p2, &f2));
	ASSERT_OK(read_lines(p1, &f1));
	ASSERT_OK(read_lines(path, &f0));
	/* the log's first record went with the file keep = 2 dropped */
	ASSERT_TRUE(!is_start(f2.v[0]) && !is_start(f1.v[0]) && !is_start(f0.v[0]));
	ASSERT_STREQ(str_of(f0.v[0], "audit.prev_file", buf, sizeof(buf)), "audit.log.1");
	ASSERT_STREQ(str_of(f1.v[0], "audit.prev_file", buf, sizeof(buf)), "audit.log.1");
	ASSERT_STREQ(str_of(f1.v[1], "audit.prev_file", buf, sizeof(buf)), "");
	ASSERT_EQ(seq_of(f1.v[0]), seq_of(f2.v[f2.n - 1]) + 1);
	ASSERT_EQ(seq_of(f0.v[0]), seq_of(f1.v[f1.n - 1]) + 1);
	ASSERT_EQ(seq_of(f0.v[f0.n - 1]), 200);
	sha_hex(f1.v[f1.n - 1], hex);
	ASSERT_STREQ(str_of(f0.v[0], "audit.prev_sha256", buf, sizeof(buf)), hex);

	/* the oldest files are gone: verify says so rather than "intact" */
	ASSERT_EQ(verify(all, 3, &out), 1);
	snprintf(msg, sizeof(msg), "%s:1: head removed", p2);
	ASSERT_CONTAINS(out, msg);
	ASSERT_TRUE(!strstr(out, "chain intact"));
	free(out);
	ASSERT_EQ(verify(&all[1], 2, &out), 1);
	snprintf(msg, sizeof(msg), "%s:1: head removed", p1);
	ASSERT_CONTAINS(out, msg);
	free(out);
	ASSERT_EQ(verify(wrong, 2, &out), 1);
	ASSERT_CONTAINS(out, "head removed");
	free(out);

	free_lines(&f0);
	free_lines(&f1);
	free_lines(&f2);
	unit_rm_tree(dir);
}

/* Serialized records (as the proxy's are: printed straight into the batch) and cJSON ones,
 * mixed, across many rotations: each file starts with the link to the one before, holds its
 * records whole and in order, and the whole verifies as one chain. */
static void test_rotation_of_serialized_records(void)
{
	char dir[64], path[128], name[160], buf[128], want[64], *out = NULL;
	struct audit_options opt = {.rotate_bytes = 1024, .keep = 100};
	struct audit_log *log;
	long long seq = 0;
	unsigned files = 0;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	ASSERT_OK(audit_open(path, &opt, &log));
	for (int i = 0; i < 300; i++) {
		char *text;

		if (i % 3 == 2) {
			ASSERT_OK(audit_write(log, rec("request", i)));
			continue;
		}
		ASSERT_TRUE(asprintf(&text, "{\"event.name\":\"request\",\"i\":%d,\"pad\":\"%.*s\"}",
				     i, i % 150, "................................................"
				     "......................................................"
				     "................................................") > 0);
		ASSERT_OK(audit_write_text(log, text, strlen(text)));
	}
	audit_close(log);
	ASSERT_EQ(verify_log(path, &out), 0);
	ASSERT_CONTAINS(out, "chain intact");
	free(out);
	for (int k = 100; k >= 0; k--) {
		struct lines f = {0};

		if (k)
			snprintf(name, sizeof(name), "%s.%d", path, k);
		else
			snprintf(name, sizeof(name), "%s", path);
		if (read_lines(name, &f))
			continue;
		files++;
		ASSERT_TRUE(f.n > 0);
		ASSERT_TRUE(seq ? !is_start(f.v[0]) : is_start(f.v[0]));
		if (seq)
			ASSERT_TRUE(strlen(str_of(f.v[0], "audit.prev_file", buf, sizeof(buf))) > 0);
		for (size_t j = 0; j < f.n; j++) {
			ASSERT_EQ(seq_of(f.v[j]), ++seq);
			snprintf(want, sizeof(want), "\"i\":%lld,", seq - 1);
			if ((seq - 1) % 3 != 2)
				ASSERT_CONTAINS(f.v[j], want);
		}
		free_lines(&f);
	}
	ASSERT_EQ(seq, 300);
	ASSERT_TRUE(files > 20);
	unit_rm_tree(dir);
}

/* Every file kept: one chain from the log's first record; a file taken out is a gap. */
static void test_rotation_one_chain_across_files(void)
{
	char dir[64], path[128], p[4][140], msg[512], *out = NULL;
	const char *all[4] = {p[3], p[2], p[1], path}, *no_middle[3] = {p[3], p[1], path};
	struct audit_options opt = {.rotate_bytes = 1024, .keep = 10};
	struct lines f[4] = {0};
	struct stat st;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	for (int k = 1; k < 4; k++)
		snprintf(p[k], sizeof(p[k]), "%s.%d", path, k);
	ASSERT_OK(write_n(path, &opt, 0, 18)); /* 5 records of ~170 bytes a file: four files */
	snprintf(msg, sizeof(msg), "%s.4", path);
	ASSERT_EQ(stat(msg, &st), -1);
	ASSERT_OK(read_lines(path, &f[0]));
	for (int k = 1; k < 4; k++)
		ASSERT_OK(read_lines(p[k], &f[k]));
	ASSERT_TRUE(is_start(f[3].v[0]));
	ASSERT_EQ(seq_of(f[3].v[0]), 1);

	ASSERT_EQ(verify(all, 4, &out), 0);
	for (int k = 0; k < 4; k++) {
		snprintf(msg, sizeof(msg), "%s: %zu records, chain intact\n", k ? p[k] : path,
			 f[k].n);
		ASSERT_CONTAINS(out, msg);
	}
	free(out);

	/* the live log alone finds its rotated files, oldest first */
	ASSERT_EQ(verify_log(path, &out), 0);
	snprintf(msg, sizeof(msg), "%s: %zu records, chain intact\n%s: %zu records, chain intact\n"
		 "%s: %zu records, chain intact\n%s: %zu records, chain intact\n",
		 p[3], f[3].n, p[2], f[2].n, p[1], f[1].n, path, f[0].n);
	ASSERT_STREQ(out, msg);
	free(out);

	/* ... and says so when one of them is gone */
	snprintf(msg, sizeof(msg), "%s/elsewhere", dir);
	ASSERT_OK(rename(p[2], msg));
	ASSERT_EQ(verify_log(path, &out), 1);
	snprintf(msg, sizeof(msg), "%s:1: file missing", p[1]);
	ASSERT_CONTAINS(out, msg);
	free(out);
	snprintf(msg, sizeof(msg), "%s/elsewhere", dir);
	ASSERT_OK(rename(msg, p[2]));

	/* audit.log.2 left out (or deleted): caught where audit.log.1 starts */
	ASSERT_EQ(verify(no_middle, 3, &out), 1);
	snprintf(msg, sizeof(msg), "%s:1: file missing: this file continues audit.log.1, whose "
		 "last record was seq %lld, but %s before it ends at seq %lld",
		 p[1], seq_of(f[1].v[0]) - 1, p[3], seq_of(f[3].v[f[3].n - 1]));
	ASSERT_CONTAINS(out, msg);
	free(out);

	/* the head (audit.log.3, with audit.chain_start) left out */
	ASSERT_EQ(verify(&all[1], 3, &out), 1);
	snprintf(msg, sizeof(msg), "%s:1: head removed: the chain does not start here: this "
		 "file continues audit.log.1 (seq %lld and before)",
		 p[2], seq_of(f[2].v[0]) - 1);
	ASSERT_CONTAINS(out, msg);
	free(out);

	/* audit.log.2 cut short by its last record */
	ASSERT_OK(write_lines(p[2], f[2].v, f[2].n - 1));
	ASSERT_EQ(verify(all, 4, &out), 1);
	snprintf(msg, sizeof(msg), "%s:1: file missing", p[1]);
	ASSERT_CONTAINS(out, msg);
	free(out);

	/* an edit of the last line of audit.log.2 shows through audit.log.1's first record */
	ASSERT_TRUE(strstr(f[2].v[f[2].n - 1], "request"));
	strstr(f[2].v[f[2].n - 1], "request")[0] = 'R';
	ASSERT_OK(write_lines(p[2], f[2].v, f[2].n));
	ASSERT_EQ(verify(all, 4, &out), 1);
	snprintf(msg, sizeof(msg), "%s:%zu: record edited", p[2], f[2].n);
	ASSERT_CONTAINS(out, msg);
	free(out);
	for (int k = 0; k < 4; k++)
		free_lines(&f[k]);
	unit_rm_tree(dir);
}

static void test_rotation_keep_zero(void)
{
	char dir[64], path[128], p1[140], buf[128];
	struct audit_options opt = {.rotate_bytes = 512, .keep = 0};
	struct lines ls = {0};
	struct stat st;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	snprintf(p1, sizeof(p1), "%s.1", path);
	ASSERT_OK(write_n(path, &opt, 0, 50));
	ASSERT_EQ(stat(p1, &st), -1);
	ASSERT_OK(read_lines(path, &ls));
	ASSERT_TRUE(ls.n > 0 && ls.n < 50);
	ASSERT_TRUE(!is_start(ls.v[0]));
	ASSERT_STREQ(str_of(ls.v[0], "audit.prev_file", buf, sizeof(buf)), "audit.log");
	ASSERT_EQ(seq_of(ls.v[ls.n - 1]), 50);
	free_lines(&ls);
	unit_rm_tree(dir);
}

static void test_flush_makes_records_visible(void)
{
	char dir[64], path[128];
	struct audit_log *log = NULL;
	struct lines ls = {0};

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	ASSERT_OK(audit_open(path, NULL, &log));
	for (int i = 0; i < 100; i++)
		ASSERT_OK(audit_write(log, rec("request", i)));
	ASSERT_OK(audit_flush(log));
	ASSERT_OK(read_lines(path, &ls));
	ASSERT_EQ(ls.n, 100);
	ASSERT_EQ(seq_of(ls.v[99]), 100);
	free_lines(&ls);
	ASSERT_OK(audit_write(log, rec("request", 100)));
	ASSERT_OK(audit_flush(log));
	ASSERT_OK(audit_flush(log)); /* nothing queued: returns at once */
	ASSERT_OK(read_lines(path, &ls));
	ASSERT_EQ(ls.n, 101);
	free_lines(&ls);
	audit_close(log);
	audit_close(NULL);
	unit_rm_tree(dir);
}

/* The writer does not wait for a flush: a lone record reaches the file on its own. */
static void test_writer_writes_without_flush(void)
{
	char dir[64], path[128];
	struct audit_log *log = NULL;
	struct stat st = {0};

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	ASSERT_OK(audit_open(path, NULL, &log));
	ASSERT_OK(audit_write(log, rec("request", 0)));
	for (int i = 0; i < 300 && st.st_size == 0; i++) {
		usleep(10000);
		ASSERT_OK(stat(path, &st));
	}
	ASSERT_TRUE(st.st_size > 0);
	audit_close(log);
	unit_rm_tree(dir);
}

static void test_write_rejects_and_limits(void)
{
	char dir[64], path[128];
	struct audit_options opt = {.max_queued = 4};
	struct audit_log *log = NULL;
	struct lines ls = {0};
	int ok = 0, r;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	ASSERT_OK(audit_open(path, &opt, &log));
	ASSERT_EQ(audit_write(log, NULL), -EINVAL);
	ASSERT_EQ(audit_write(log, cJSON_CreateArray()), -EINVAL);
	for (int i = 0; i < 1000; i++) {
		r = audit_write(log, rec("request", i));
		ASSERT_TRUE(r == 0 || r == -ENOBUFS);
		ok += r == 0;
	}
	audit_close(log);
	ASSERT_TRUE(ok >= 4);
	ASSERT_OK(read_lines(path, &ls));
	ASSERT_EQ(ls.n, ok);
	free_lines(&ls);
	unit_rm_tree(dir);
}

/*
 * A writer behind by more than max_queued_bytes (a slow disk; here the writer's own pause
 * between batches is enough, as the records come faster): audit_failing() says -ENOBUFS
 * (for audit.on_failure "block" to refuse calls) while the queue is near full, records past
 * the bound are refused with -ENOBUFS, and one larger than the bound with -EMSGSIZE. Once
 * the writer has caught up the flag says 0 again, and the log holds exactly the records
 * accepted, one intact chain.
 */
static void test_full_queue_refuses_then_recovers(void)
{
	char dir[64], path[128], text[512], *out = NULL, *big;
	const char *paths[1] = {path};
	struct audit_options opt = {.max_queued_bytes = 16 << 10};
	struct audit_log *log = NULL;
	struct lines ls = {0};
	bool refused = false, flagged = false;
	int ok = 0, r, i, len;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	ASSERT_OK(audit_open(path, &opt, &log));
	for (i = 0; i < 1000000 && !(refused && flagged); i++) {
		len = snprintf(text, sizeof(text), "{\"time\":\"t\",\"i\":%d,\"pad\":\"%0400d\"}",
			       i, 0);
		r = audit_write_text(log, strdup(text), (size_t)len);
		ASSERT_TRUE(r == 0 || r == -ENOBUFS);
		ok += r == 0;
		refused |= r == -ENOBUFS;
		flagged |= atomic_load(audit_failing(log)) == -ENOBUFS;
	}
	ASSERT_TRUE(refused && flagged);
	ASSERT_TRUE(audit_queue_depth(log) * 400 <= (16 << 10));
	big = calloc(1, (16 << 10) + 16);
	ASSERT_TRUE(big != NULL);
	memset(big + 1, ' ', 16 << 10);
	big[0] = '{';
	big[(16 << 10) + 1] = '}';
	ASSERT_EQ(audit_write_text(log, big, (16 << 10) + 2), -EMSGSIZE);
	ASSERT_OK(audit_flush(log));
	ASSERT_EQ(atomic_load(audit_failing(log)), 0);
	len = snprintf(text, sizeof(text), "{\"time\":\"t\",\"after\":1}");
	ASSERT_OK(audit_write_text(log, strdup(text), (size_t)len));
	audit_close(log);
	ASSERT_OK(read_lines(path, &ls));
	ASSERT_EQ(ls.n, ok + 1);
	ASSERT_CONTAINS(ls.v[ls.n - 1], "\"after\":1");
	ASSERT_EQ(verify(paths, 1, &out), 0);
	free(out);
	free_lines(&ls);
	unit_rm_tree(dir);
}

/* ---- the verifier ---------------------------------------------------------------------- */

enum tamper { EDIT, DELETE, SWAP, INSERT_JUNK, INSERT_CHAINED, DELETE_FIRST, DUPLICATE };

/* Writes 6 records, tampers with the file and returns what audit_verify() said. */
static int tampered(const char *path, enum tamper how, char **out)
{
	const char *paths[1] = {path};
	struct lines ls = {0};
	char hex[65], forged[256], *t;
	int r;

	r = write_n(path, NULL, 0, 6);
	if (!r)
		r = read_lines(path, &ls);
	if (r < 0 || ls.n != 6)
		return -EIO;
	switch (how) {
	case EDIT: /* line 3: "i":2 becomes "i":7 */
		t = strstr(ls.v[2], "\"i\":2");
		if (!t)
			return -EIO;
		t[4] = '7';
		break;
	case DELETE:
		free(ls.v[2]);
		memmove(&ls.v[2], &ls.v[3], 3 * sizeof(*ls.v));
		ls.n--;
		break;
	case DELETE_FIRST:
		free(ls.v[0]);
		memmove(&ls.v[0], &ls.v[1], 5 * sizeof(*ls.v));
		ls.n--;
		break;
	case SWAP:
		t = ls.v[2];
		ls.v[2] = ls.v[3];
		ls.v[3] = t;
		break;
	case INSERT_JUNK:
	case INSERT_CHAINED:
	case DUPLICATE:
		sha_hex(ls.v[1], hex);
		if (how == INSERT_JUNK)
			snprintf(forged, sizeof(forged), "{\"event\":\"forged\"}");
		else
			snprintf(
			    forged, sizeof(forged),
			    "{\"event\":\"forged\",\"audit.seq\":3,\"audit.prev_sha256\":\"%s\"}",
			    hex);
		ls.v = realloc(ls.v, 7 * sizeof(*ls.v));
		memmove(&ls.v[3], &ls.v[2], 4 * sizeof(*ls.v));
		ls.v[2] = strdup(how == DUPLICATE ? ls.v[3] : forged);
		ls.n++;
		break;
	}
	r = write_lines(path, ls.v, ls.n);
	free_lines(&ls);
	return r < 0 ? r : verify(paths, 1, out);
}

static void expect_tamper(enum tamper how, const char *want)
{
	char dir[64], path[128], buf[256], *out = NULL;
	int r;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	r = tampered(path, how, &out);
	ASSERT_EQ(r, 1);
	snprintf(buf, sizeof(buf), "%s:%s", path, want);
	ASSERT_CONTAINS(out, buf);
	ASSERT_TRUE(!strstr(out, "chain intact"));
	free(out);
	unit_rm_tree(dir);
}

static void test_verify_intact(void)
{
	char dir[64], path[128], buf[256], *out = NULL;
	const char *paths[1] = {path};

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	ASSERT_OK(write_n(path, NULL, 0, 6));
	ASSERT_EQ(verify(paths, 1, &out), 0);
	snprintf(buf, sizeof(buf), "%s: 6 records, chain intact\n", path);
	ASSERT_STREQ(out, buf);
	free(out);
	unit_rm_tree(dir);
}

static void test_verify_edited(void)
{
	expect_tamper(EDIT, "3: record edited");
}

static void test_verify_removed(void)
{
	expect_tamper(DELETE, "3: record removed");
}

static void test_verify_removed_first(void)
{
	expect_tamper(DELETE_FIRST, "1: record removed");
}

static void test_verify_swapped(void)
{
	expect_tamper(SWAP, "3: records reordered");
}

static void test_verify_inserted(void)
{
	expect_tamper(INSERT_JUNK, "3: record inserted");
}

static void test_verify_inserted_chained(void)
{
	expect_tamper(INSERT_CHAINED, "3: record inserted");
}

static void test_verify_duplicated(void)
{
	expect_tamper(DUPLICATE, "4: record inserted");
}

static void test_verify_missing_file(void)
{
	const char *paths[1] = {"/nonexistent/aigw/audit.log"};
	char *out = NULL;

	ASSERT_EQ(verify(paths, 1, &out), -ENOENT);
	ASSERT_CONTAINS(out, "cannot read");
	free(out);
}

/* ---- many writers ----------------------------------------------------------------------- */

#define THREADS 4
#define PER_THREAD 2000

struct writer_arg {
	struct audit_log *log;
	int id;
	int failures;
};

static void *writer_main(void *p)
{
	struct writer_arg *a = p;

	for (int i = 0; i < PER_THREAD; i++) {
		cJSON *o = rec("request", i);

		cJSON_AddNumberToObject(o, "t", a->id);
		a->failures += audit_write(a->log, o) != 0;
	}
	return NULL;
}

/* ---- signed checkpoints ----------------------------------------------------------------- */

/* A log in its own directory, written with checkpoints every 3 records, and what verify gets. */
struct cp_world {
	char dir[64], path[128], cps[128], out_path[128];
	EVP_PKEY *key;
	struct audit_options opt;
};

static bool cp_setup(struct cp_world *w)
{
	memset(w, 0, sizeof(*w));
	if (!make_dir(w->dir, sizeof(w->dir)))
		return false;
	snprintf(w->path, sizeof(w->path), "%s/audit.log", w->dir);
	snprintf(w->cps, sizeof(w->cps), "%s/checkpoints", w->dir);
	w->key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	w->opt = (struct audit_options){.checkpoint_key = w->key,
					.checkpoint_path = w->cps,
					.checkpoint_every_records = 3,
					.journal_socket = ""};
	return w->key != NULL;
}

static void cp_teardown(struct cp_world *w)
{
	EVP_PKEY_free(w->key);
	unit_rm_tree(w->dir);
}

/* cp_setup(), then the log of 7 records the checkpoint tests start from, read into LS. */
static bool cp_written(struct cp_world *w, struct lines *ls)
{
	return cp_setup(w) && write_n(w->path, &w->opt, 0, 7) == 0 && read_lines(w->path, ls) == 0;
}

/* audit_verify() of the log (alone) held to W's key, and to the checkpoint file if CPS. */
static int cp_verify(struct cp_world *w, bool cps, char **text)
{
	struct audit_verify_options vo = {.pubkey = w->key, .checkpoints = cps ? w->cps : NULL};
	const char *paths[1] = {w->path};
	size_t size;
	FILE *f = open_memstream(text, &size);
	int r = audit_verify(paths, 1, &vo, f);

	fclose(f);
	return r;
}

static bool is_checkpoint(const char *line)
{
	char buf[64];

	return !strcmp(str_of(line, "event.name", buf, sizeof(buf)), "audit.checkpoint");
}

/* Recomputes seq, prev_sha256 and chain_start of LS as a forger would: one clean chain. */
static void rechain(struct lines *ls)
{
	char hex[65] = ZEROS;

	for (size_t k = 0; k < ls->n; k++) {
		cJSON *o = cJSON_Parse(ls->v[k]);

		cJSON_DeleteItemFromObject(o, "audit.seq");
		cJSON_DeleteItemFromObject(o, "audit.prev_sha256");
		cJSON_DeleteItemFromObject(o, "audit.chain_start");
		cJSON_DeleteItemFromObject(o, "audit.prev_file");
		cJSON_AddNumberToObject(o, "audit.seq", (double)(k + 1));
		cJSON_AddStringToObject(o, "audit.prev_sha256", hex);
		if (k == 0)
			cJSON_AddTrueToObject(o, "audit.chain_start");
		free(ls->v[k]);
		ls->v[k] = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		sha_hex(ls->v[k], hex);
	}
}

/* Drops the lines of LS for which DROP says so. */
static void filter_lines(struct lines *ls, bool (*drop)(const char *line))
{
	size_t n = 0;

	for (size_t k = 0; k < ls->n; k++) {
		if (drop(ls->v[k]))
			free(ls->v[k]);
		else
			ls->v[n++] = ls->v[k];
	}
	ls->n = n;
}

/*
 * What a forger without the key does: drops the lines DROP picks, re-chains the rest and
 * writes it as the log. Returns audit_verify() with the checkpoint file (output in *out), or
 * -1 when the log did not pass without it: the forgery must fool the chain and the
 * checkpoints left inside the log, or the test proves nothing.
 */
static int forge_and_verify(struct cp_world *w, struct lines *ls, bool (*drop)(const char *),
			    char **out)
{
	char *plain = NULL;
	int r;

	filter_lines(ls, drop);
	rechain(ls);
	if (write_lines(w->path, ls->v, ls->n) < 0)
		return -1;
	r = cp_verify(w, false, &plain);
	free(plain);
	return r ? -1 : cp_verify(w, true, out);
}

/*
 * 7 records, a checkpoint after every 3 and one at close: r1 r2 r3 cp r4 r5 r6 cp r7 cp, seq
 * 1..10, the checkpoints naming seq 3, 7 and 9; the checkpoint file holds the same three.
 */
static void test_checkpoints_written_and_verified(void)
{
	struct cp_world w;
	struct lines ls = {0}, cps = {0};
	char buf[256], sig[256], hex[65], *out = NULL;

	ASSERT_TRUE(cp_written(&w, &ls));
	ASSERT_OK(read_lines(w.cps, &cps));
	ASSERT_EQ(ls.n, 10);
	ASSERT_EQ(cps.n, 3);
	ASSERT_TRUE(is_checkpoint(ls.v[3]) && is_checkpoint(ls.v[7]) && is_checkpoint(ls.v[9]));
	sha_hex(ls.v[2], hex);
	ASSERT_STREQ(str_of(ls.v[3], "audit.checkpoint.head_sha256", buf, sizeof(buf)), hex);
	sha_hex(ls.v[0], hex);
	ASSERT_STREQ(str_of(ls.v[3], "audit.checkpoint.genesis_sha256", buf, sizeof(buf)), hex);
	/* the file holds the log's checkpoint lines, without their chain fields */
	ASSERT_STREQ(str_of(cps.v[2], "audit.checkpoint.sig_ed25519", buf, sizeof(buf)),
		     str_of(ls.v[9], "audit.checkpoint.sig_ed25519", sig, sizeof(sig)));
	ASSERT_TRUE(!strstr(cps.v[0], "audit.seq"));
	ASSERT_EQ(cp_verify(&w, true, &out), 0);
	ASSERT_CONTAINS(out, "chain intact");
	ASSERT_CONTAINS(out, "checkpoints: 3 in the log and 3 in ");
	ASSERT_CONTAINS(out, "the last covers seq 9 of 10");
	free(out);

	/* reopened, the chain and the genesis go on */
	ASSERT_OK(write_n(w.path, &w.opt, 7, 3));
	free_lines(&ls);
	ASSERT_OK(read_lines(w.path, &ls));
	ASSERT_EQ(ls.n, 14);
	sha_hex(ls.v[0], hex);
	ASSERT_STREQ(str_of(ls.v[13], "audit.checkpoint.genesis_sha256", buf, sizeof(buf)), hex);
	ASSERT_EQ(cp_verify(&w, true, &out), 0);
	free(out);
	free_lines(&ls);
	free_lines(&cps);
	cp_teardown(&w);
}

/* The log cut after a checkpoint: intact as a chain, but the checkpoint file names more. */
static void test_checkpoint_truncated_tail(void)
{
	struct cp_world w;
	struct lines ls = {0};
	char buf[256], *out = NULL;

	ASSERT_TRUE(cp_written(&w, &ls));
	ASSERT_OK(write_lines(w.path, ls.v, 8));  /* up to the checkpoint of seq 7 */
	ASSERT_EQ(cp_verify(&w, false, &out), 0); /* the chain alone cannot tell */
	free(out);
	ASSERT_EQ(cp_verify(&w, true, &out), 1);
	snprintf(buf, sizeof(buf),
		 "%s:8: truncated tail: the log ends at seq 8, but the "
		 "checkpoint at %s:3",
		 w.path, w.cps);
	ASSERT_CONTAINS(out, buf);
	ASSERT_CONTAINS(out, "names seq 9");
	free(out);
	free_lines(&ls);
	cp_teardown(&w);
}

/* A record edited and the chain recomputed: each checkpoint still names the old hash. */
static void test_checkpoint_rewritten_rechained(void)
{
	struct cp_world w;
	struct lines ls = {0};
	char buf[256], *out = NULL, *t;
	const char *paths[1];

	ASSERT_TRUE(cp_written(&w, &ls));
	paths[0] = w.path;
	t = strstr(ls.v[1], "\"i\":1");
	ASSERT_TRUE(t != NULL);
	t[4] = '9';
	rechain(&ls);
	ASSERT_OK(write_lines(w.path, ls.v, ls.n));
	ASSERT_EQ(verify(paths, 1, &out), 0); /* a clean chain: without the key, nothing seen */
	free(out);
	/* the checkpoint record in the log names seq 3's old hash */
	ASSERT_EQ(cp_verify(&w, false, &out), 1);
	snprintf(buf, sizeof(buf), "%s:3: records rewritten: seq 3 hashes to", w.path);
	ASSERT_CONTAINS(out, buf);
	free(out);

	/* the forger drops the checkpoint records too: the file's copies still catch it */
	ASSERT_EQ(forge_and_verify(&w, &ls, is_checkpoint, &out), 1);
	snprintf(buf, sizeof(buf), "%s:3: records rewritten: seq 3 hashes to", w.path);
	ASSERT_CONTAINS(out, buf);
	snprintf(buf, sizeof(buf), "but the checkpoint at %s:1 ", w.cps);
	ASSERT_CONTAINS(out, buf);
	free(out);
	free_lines(&ls);
	cp_teardown(&w);
}

static bool is_head_or_checkpoint(const char *line)
{
	long long seq = seq_of(line);

	return seq == 1 || seq == 2 || is_checkpoint(line);
}

/* The first records removed and the rest renumbered from seq 1: not the genesis signed. */
static void test_checkpoint_removed_head(void)
{
	struct cp_world w;
	struct lines ls = {0};
	char buf[256], *out = NULL;

	ASSERT_TRUE(cp_written(&w, &ls));
	ASSERT_EQ(forge_and_verify(&w, &ls, is_head_or_checkpoint, &out), 1);
	snprintf(buf, sizeof(buf), "%s:1: head removed: seq 1 hashes to", w.path);
	ASSERT_CONTAINS(out, buf);
	snprintf(buf, sizeof(buf), "the checkpoint at %s:1 ", w.cps);
	ASSERT_CONTAINS(out, buf);
	free(out);
	free_lines(&ls);
	cp_teardown(&w);
}

/* A checkpoint changed (in the file, in the log), or signed with another key. */
static void test_checkpoint_forged(void)
{
	struct cp_world w;
	struct lines ls = {0}, cps = {0};
	char buf[256], *out = NULL, *t;
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	ASSERT_TRUE(cp_written(&w, &ls));
	ASSERT_OK(read_lines(w.cps, &cps));
	t = strstr(cps.v[2], "\"audit.checkpoint.seq\":9");
	ASSERT_TRUE(t != NULL);
	t[strlen("\"audit.checkpoint.seq\":")] = '8'; /* the cut seq 9 "never happened" */
	ASSERT_OK(write_lines(w.cps, cps.v, cps.n));
	ASSERT_EQ(cp_verify(&w, true, &out), 1);
	snprintf(buf, sizeof(buf), "%s:3: forged checkpoint: seq 8 ", w.cps);
	ASSERT_CONTAINS(out, buf);
	ASSERT_CONTAINS(out, "the signature does not verify");
	free(out);

	/* in the log: a checkpoint record changed and the chain recomputed around it */
	t = strstr(ls.v[3], "\"audit.checkpoint.seq\":3");
	ASSERT_TRUE(t != NULL);
	t[strlen("\"audit.checkpoint.seq\":")] = '2';
	rechain(&ls);
	ASSERT_OK(write_lines(w.path, ls.v, ls.n));
	ASSERT_EQ(cp_verify(&w, false, &out), 1);
	snprintf(buf, sizeof(buf), "%s:4: forged checkpoint: seq 2 ", w.path);
	ASSERT_CONTAINS(out, buf);
	free(out);

	/* held to another key, every checkpoint is someone else's */
	EVP_PKEY_free(w.key);
	w.key = other;
	ASSERT_EQ(cp_verify(&w, true, &out), 1);
	snprintf(buf, sizeof(buf), "%s:1: forged checkpoint: seq 3: signed by key ", w.cps);
	ASSERT_CONTAINS(out, buf);
	free(out);
	free_lines(&ls);
	free_lines(&cps);
	cp_teardown(&w);
}

/* every_s: a checkpoint follows records within that many seconds, none without records. */
static void test_checkpoint_by_time(void)
{
	struct cp_world w;
	struct audit_log *log = NULL;
	struct lines cps = {0};
	char *out = NULL;
	int waited_ms = 0;

	ASSERT_TRUE(cp_setup(&w));
	w.opt.checkpoint_every_records = 0;
	w.opt.checkpoint_every_s = 1;
	ASSERT_OK(audit_open(w.path, &w.opt, &log));
	ASSERT_OK(audit_write(log, rec("request", 0)));
	while (read_lines(w.cps, &cps) == 0 && cps.n == 0 && waited_ms < 5000) {
		usleep(20 * 1000); /* polls for the condition; 1 s is the policy under test */
		waited_ms += 20;
	}
	ASSERT_EQ(cps.n, 1);
	free_lines(&cps);
	audit_close(log); /* nothing since: no second checkpoint at close */
	ASSERT_OK(read_lines(w.cps, &cps));
	ASSERT_EQ(cps.n, 1);
	ASSERT_EQ(cp_verify(&w, true, &out), 0);
	ASSERT_CONTAINS(out, "checkpoints: 1 in the log and 1 in ");
	free(out);
	free_lines(&cps);
	cp_teardown(&w);
}

/* Rotation: one chain across files, checkpoints in several of them, all verified. */
static void test_checkpoint_across_rotation(void)
{
	struct cp_world w;
	struct audit_verify_options vo;
	struct lines ls = {0};
	char p1[160], *out = NULL;
	size_t size;
	FILE *f;

	ASSERT_TRUE(cp_setup(&w));
	w.opt.rotate_bytes = 1024;
	w.opt.keep = 20;
	ASSERT_OK(write_n(w.path, &w.opt, 0, 20));
	snprintf(p1, sizeof(p1), "%s.1", w.path);
	ASSERT_OK(read_lines(p1, &ls));
	ASSERT_TRUE(ls.n > 0);
	free_lines(&ls);
	vo = (struct audit_verify_options){.pubkey = w.key, .checkpoints = w.cps};
	f = open_memstream(&out, &size);
	ASSERT_EQ(audit_verify_log(w.path, &vo, f), 0);
	fclose(f);
	ASSERT_CONTAINS(out, "checkpoints: 7 in the log and 7 in ");
	ASSERT_CONTAINS(out, ".1: ");
	free(out);
	cp_teardown(&w);
}

static void test_threads_all_arrive_once(void)
{
	char dir[64], path[128], *out = NULL;
	const char *paths[1] = {path};
	struct writer_arg args[THREADS];
	pthread_t th[THREADS];
	int next_i[THREADS] = {0};
	struct audit_log *log = NULL;
	struct lines ls = {0};

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	ASSERT_OK(audit_open(path, NULL, &log));
	for (int t = 0; t < THREADS; t++) {
		args[t] = (struct writer_arg){.log = log, .id = t};
		ASSERT_EQ(pthread_create(&th[t], NULL, writer_main, &args[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		ASSERT_EQ(args[t].failures, 0);
	}
	audit_close(log);

	ASSERT_OK(read_lines(path, &ls));
	ASSERT_EQ(ls.n, THREADS * PER_THREAD);
	for (size_t k = 0; k < ls.n; k++) {
		cJSON *o = cJSON_Parse(ls.v[k]);
		int t = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "t"));
		int i = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "i"));
		double seq = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "audit.seq"));

		cJSON_Delete(o);
		ASSERT_EQ(seq, k + 1);
		ASSERT_TRUE(t >= 0 && t < THREADS);
		ASSERT_EQ(i, next_i[t]); /* each thread's records once, in its order */
		next_i[t]++;
	}
	for (int t = 0; t < THREADS; t++)
		ASSERT_EQ(next_i[t], PER_THREAD);
	ASSERT_EQ(verify(paths, 1, &out), 0);
	free(out);
	free_lines(&ls);
	unit_rm_tree(dir);
}

UNIT_MAIN(UNIT_CASE(test_records_are_chained), UNIT_CASE(test_text_records_exact),
	  UNIT_CASE(test_reopen_continues_chain), UNIT_CASE(test_reopen_drops_partial_line),
	  UNIT_CASE(test_reopen_after_rotation_crash),
	  UNIT_CASE(test_reopen_refuses_foreign_file), UNIT_CASE(test_rotation_keeps_chain),
	  UNIT_CASE(test_rotation_of_serialized_records),
	  UNIT_CASE(test_rotation_one_chain_across_files), UNIT_CASE(test_rotation_keep_zero),
	  UNIT_CASE(test_flush_makes_records_visible), UNIT_CASE(test_writer_writes_without_flush),
	  UNIT_CASE(test_write_rejects_and_limits),
	  UNIT_CASE(test_full_queue_refuses_then_recovers), UNIT_CASE(test_verify_intact),
	  UNIT_CASE(test_verify_edited), UNIT_CASE(test_verify_removed),
	  UNIT_CASE(test_verify_removed_first), UNIT_CASE(test_verify_swapped),
	  UNIT_CASE(test_verify_inserted), UNIT_CASE(test_verify_inserted_chained),
	  UNIT_CASE(test_verify_duplicated), UNIT_CASE(test_verify_missing_file),
	  UNIT_CASE(test_threads_all_arrive_once), UNIT_CASE(test_checkpoints_written_and_verified),
	  UNIT_CASE(test_checkpoint_truncated_tail), UNIT_CASE(test_checkpoint_rewritten_rechained),
	  UNIT_CASE(test_checkpoint_removed_head), UNIT_CASE(test_checkpoint_forged),
	  UNIT_CASE(test_checkpoint_by_time), UNIT_CASE(test_checkpoint_across_rotation))
