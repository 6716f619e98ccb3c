/*
 * fuzz_clienthello: libFuzzer target for clienthello_parse() (userspace/proxy/clienthello.c).
 * Beyond what ASan/UBSan catch, it checks the contract: a documented return value, a
 * NUL-terminated sni and alpn[], n_alpn <= 8, a zeroed result on error, a valid host name on
 * success, the same answer twice, and that answers over growing prefixes are monotone: -EAGAIN
 * until the first final answer, which then stays (0 with the same result, or an error).
 *
 *   clang -D_GNU_SOURCE -Iuserspace -g -O1 -fsanitize=fuzzer,address,undefined \
 *	tests/fuzz/fuzz_clienthello.c userspace/proxy/clienthello.c -o /tmp/fuzz_clienthello
 *   /tmp/fuzz_clienthello -max_len=17000 tests/fuzz/corpus/clienthello
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proxy/clienthello.h"

static int is_documented(int r)
{
	return r == 0 || r == -EAGAIN || r == -EPROTO || r == -EBADMSG || r == -EMSGSIZE;
}

static int all_zero(const struct clienthello *ch)
{
	static const struct clienthello zero;

	return !memcmp(ch, &zero, sizeof(*ch));
}

/* A parsed SNI: lower-case host characters, no empty label, no trailing dot, <= 253. */
static int sni_ok(const char *s)
{
	size_t n = strlen(s);

	if (n > 253 || (n && (s[0] == '.' || s[n - 1] == '.')) || strstr(s, ".."))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '.'))
			return 0;
	return 1;
}

static void check_result(int r, const struct clienthello *ch)
{
	CHECK(is_documented(r));
	CHECK(memchr(ch->sni, '\0', sizeof(ch->sni)) != NULL);
	CHECK(ch->n_alpn >= 0 && ch->n_alpn <= CLIENTHELLO_MAX_ALPN);
	for (int i = 0; i < ch->n_alpn; i++)
		CHECK(memchr(ch->alpn[i], '\0', sizeof(ch->alpn[i])) != NULL && ch->alpn[i][0]);
	if (r != 0) {
		CHECK(all_zero(ch));
		return;
	}
	CHECK(ch->has_sni == (ch->sni[0] != '\0'));
	CHECK(sni_ok(ch->sni));
	CHECK(ch->legacy_version >> 8 == 3);
}

static int is_error(int r)
{
	return r != 0 && r != -EAGAIN;
}

/* The answer R for SIZE bytes against the one for the first K of them. */
static void check_prefix(const uint8_t *data, size_t k, int r, const struct clienthello *ch)
{
	struct clienthello p;
	int rk = clienthello_parse(data, k, &p);

	check_result(rk, &p);
	if (r == -EAGAIN)
		CHECK(rk == -EAGAIN);
	if (rk == 0)
		CHECK(r == 0 && !memcmp(&p, ch, sizeof(p)));
	if (is_error(rk))
		CHECK(is_error(r));
	if (rk == -EPROTO)
		CHECK(r == -EPROTO);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct clienthello ch, again;
	int r;

	memset(&ch, 0xa5, sizeof(ch)); /* garbage in: the parser must set every field */
	r = clienthello_parse(data, size, &ch);
	check_result(r, &ch);

	/* deterministic: the same bytes, the same answer */
	memset(&again, 0x5a, sizeof(again));
	CHECK(clienthello_parse(data, size, &again) == r);
	CHECK(!memcmp(&ch, &again, sizeof(ch)));

	if (size > 0) {
		check_prefix(data, size - 1, r, &ch);
		check_prefix(data, size / 2, r, &ch);
	}
	return 0;
}
