/*
 * test_checkpoint.c: the checkpoint key (made once, 0600, its .pub beside it, refused when
 * others can read it), signatures over every field, the JSON line, and the journal's native
 * protocol against a datagram socket standing in for journald.
 */
#include "unit.h"
#include "ledger/checkpoint.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/evp.h>

static bool make_dir(char *dir, size_t size)
{
	return unit_mkdtemp(dir, size, "checkpoint") == 0;
}

static void sample(struct checkpoint *cp)
{
	memset(cp, 0, sizeof(*cp));
	cp->seq = 1234;
	memset(cp->head, 'a', 64);
	memset(cp->genesis, 'b', 64);
	snprintf(cp->time, sizeof(cp->time), "2026-12-01T10:00:00.000000Z");
	snprintf(cp->file, sizeof(cp->file), "audit.jsonl");
}

static void test_key_made_once_and_private(void)
{
	char dir[64], path[128], pub_path[160];
	char id1[CHECKPOINT_KEY_ID_LEN + 1], id2[CHECKPOINT_KEY_ID_LEN + 1];
	EVP_PKEY *key = NULL, *again = NULL, *pub = NULL;
	struct stat st;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/ca/audit-checkpoint.key", dir); /* ca/ is missing */
	snprintf(pub_path, sizeof(pub_path), "%s.pub", path);
	ASSERT_OK(checkpoint_key_open(path, &key));
	ASSERT_OK(stat(path, &st));
	ASSERT_EQ(st.st_mode & 0777, 0600);
	snprintf(pub_path, sizeof(pub_path), "%s/ca", dir);
	ASSERT_OK(stat(pub_path, &st));
	ASSERT_EQ(st.st_mode & 0777, 0700);
	snprintf(pub_path, sizeof(pub_path), "%s.pub", path);
	ASSERT_OK(stat(pub_path, &st));
	ASSERT_EQ(st.st_mode & 0777, 0644);

	/* the second run loads the same key; a lost .pub is written again */
	ASSERT_OK(unlink(pub_path));
	ASSERT_OK(checkpoint_key_open(path, &again));
	ASSERT_OK(checkpoint_pubkey_load(pub_path, &pub));
	ASSERT_OK(checkpoint_key_id(key, id1));
	ASSERT_OK(checkpoint_key_id(pub, id2));
	ASSERT_STREQ(id1, id2);
	ASSERT_OK(checkpoint_key_id(again, id2));
	ASSERT_STREQ(id1, id2);

	/* a key others may read is not used */
	ASSERT_OK(chmod(path, 0640));
	EVP_PKEY_free(again);
	again = NULL;
	ASSERT_EQ(checkpoint_key_open(path, &again), -EPERM);
	ASSERT_TRUE(again == NULL);
	/* and a private key is no public key */
	EVP_PKEY_free(pub);
	pub = NULL;
	ASSERT_TRUE(checkpoint_pubkey_load(path, &pub) < 0);
	EVP_PKEY_free(key);
	unit_rm_tree(dir);
}

static void test_sign_covers_every_field(void)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct checkpoint cp, back, t;
	cJSON *o;
	char *json;

	ASSERT_TRUE(key && other);
	sample(&cp);
	ASSERT_OK(checkpoint_sign(key, &cp));
	ASSERT_EQ(strlen(cp.sig), 88);
	ASSERT_OK(checkpoint_check(key, &cp));

	json = checkpoint_to_json(&cp);
	ASSERT_TRUE(json != NULL);
	ASSERT_TRUE(!strncmp(json, "{\"time\":", 8)); /* as audit_write_text() takes it */
	o = cJSON_Parse(json);
	ASSERT_TRUE(checkpoint_is_record(o));
	ASSERT_OK(checkpoint_from_json(o, &back));
	cJSON_Delete(o);
	free(json);
	ASSERT_OK(checkpoint_check(key, &back));

	t = back, t.seq++;
	ASSERT_EQ(checkpoint_check(key, &t), -EBADMSG);
	t = back, t.head[0] = 'c';
	ASSERT_EQ(checkpoint_check(key, &t), -EBADMSG);
	t = back, t.genesis[0] = '\0'; /* dropping the genesis is a change too */
	ASSERT_EQ(checkpoint_check(key, &t), -EBADMSG);
	t = back, t.time[3] = '7';
	ASSERT_EQ(checkpoint_check(key, &t), -EBADMSG);
	t = back, t.file[0] = 'A';
	ASSERT_EQ(checkpoint_check(key, &t), -EBADMSG);
	t = back, t.sig[10] = t.sig[10] == 'A' ? 'B' : 'A';
	ASSERT_EQ(checkpoint_check(key, &t), -EBADMSG);
	ASSERT_EQ(checkpoint_check(other, &back), -EKEYREJECTED);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

static void test_from_json_refuses_bad_fields(void)
{
	static const char *const bad[] = {
	    "{\"event.name\":\"request\"}",
	    "{\"event.name\":\"audit.checkpoint\",\"audit.checkpoint.seq\":0}",
	    "{\"time\":\"t\",\"event.name\":\"audit.checkpoint\",\"audit.checkpoint.seq\":3,"
	    "\"audit.checkpoint.head_sha256\":\"ABC\",\"audit.checkpoint.file\":\"a\","
	    "\"audit.checkpoint.key_id\":\"0011223344556677\","
	    "\"audit.checkpoint.sig_ed25519\":\"x\"}",
	    "{\"time\":\"t\\nkey=00\",\"event.name\":\"audit.checkpoint\","
	    "\"audit.checkpoint.seq\":3,\"audit.checkpoint.head_sha256\":"
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
	    "\"audit.checkpoint.file\":\"a\",\"audit.checkpoint.key_id\":\"0011223344556677\","
	    "\"audit.checkpoint.sig_ed25519\":\"x\"}",
	};
	struct checkpoint cp;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *o = cJSON_Parse(bad[i]);
		int r = checkpoint_from_json(o, &cp);

		cJSON_Delete(o);
		ASSERT_EQ(r, -EBADMSG);
	}
}

/* A datagram socket where journald's would be: one entry per checkpoint, native format. */
static void test_journal_native_protocol(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char dir[64], msg[2048], want[600], *json;
	struct checkpoint cp;
	int srv, fd;
	ssize_t n;

	ASSERT_TRUE(key && make_dir(dir, sizeof(dir)));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/socket", dir);
	ASSERT_TRUE(checkpoint_journal_open(sa.sun_path) < 0); /* no journal: said, not fatal */
	srv = socket(AF_UNIX, SOCK_DGRAM, 0);
	ASSERT_OK(bind(srv, (struct sockaddr *)&sa, sizeof(sa)));
	fd = checkpoint_journal_open(sa.sun_path);
	ASSERT_OK(fd);
	sample(&cp);
	ASSERT_OK(checkpoint_sign(key, &cp));
	json = checkpoint_to_json(&cp);
	ASSERT_OK(checkpoint_journal_send(fd, json, &cp));
	n = recv(srv, msg, sizeof(msg) - 1, MSG_DONTWAIT);
	ASSERT_TRUE(n > 0);
	msg[n] = '\0';
	snprintf(want, sizeof(want), "MESSAGE=%s\n", json);
	ASSERT_TRUE(!strncmp(msg, want, strlen(want)));
	ASSERT_CONTAINS(msg, "\nSYSLOG_IDENTIFIER=aigw-audit\n");
	ASSERT_CONTAINS(msg, "\nAIGW_CHECKPOINT_SEQ=1234\n");
	ASSERT_EQ(msg[n - 1], '\n');
	free(json);
	close(fd);
	close(srv);
	EVP_PKEY_free(key);
	unit_rm_tree(dir);
}

UNIT_MAIN(UNIT_CASE(test_key_made_once_and_private), UNIT_CASE(test_sign_covers_every_field),
	  UNIT_CASE(test_from_json_refuses_bad_fields), UNIT_CASE(test_journal_native_protocol))
