/* test_hex.c: the one hex encoder and decoder (util/hex.h) that SigV4, Bedrock's model ids
 * and the endpoint allow-list's path checks share: every byte both ways, either case in,
 * and each malformed escape refused rather than read as something else. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "unit.h"
#include "util/hex.h"

static void test_digits(void)
{
	ASSERT_EQ(hex_digit('0'), 0);
	ASSERT_EQ(hex_digit('9'), 9);
	ASSERT_EQ(hex_digit('a'), 10);
	ASSERT_EQ(hex_digit('F'), 15);
	ASSERT_EQ(hex_digit('g'), -1);
	ASSERT_EQ(hex_digit('G'), -1);
	ASSERT_EQ(hex_digit('/'), -1); /* '0' - 1 */
	ASSERT_EQ(hex_digit(':'), -1); /* '9' + 1 */
	ASSERT_EQ(hex_digit('@'), -1); /* 'A' - 1 */
	ASSERT_EQ(hex_digit('`'), -1); /* 'a' - 1 */
	ASSERT_EQ(hex_digit('\0'), -1);
	ASSERT_EQ(hex_byte("3A", 2), 0x3a);
	ASSERT_EQ(hex_byte("3a", 2), 0x3a);
	ASSERT_EQ(hex_byte("ff", 5), 255);
	ASSERT_EQ(hex_byte("3", 1), -1); /* one digit left */
	ASSERT_EQ(hex_byte("3A", 1), -1);
	ASSERT_EQ(hex_byte("G0", 2), -1);
	ASSERT_EQ(hex_byte("0G", 2), -1);
}

static void test_every_byte_round_trips(void)
{
	unsigned char all[256];
	char hex[513], pct[3], dec[4];
	size_t len;

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	hex_encode(all, sizeof(all), hex);
	ASSERT_EQ(strlen(hex), 512);
	ASSERT_TRUE(!strncmp(hex, "000102", 6));
	ASSERT_STREQ(hex + 500, "fafbfcfdfeff"); /* lower case, as SigV4 signs */
	for (int i = 0; i < 256; i++) {
		ASSERT_EQ(hex_byte(hex + 2 * i, 2), i);
		hex_percent((unsigned char)i, pct);
		ASSERT_EQ(pct[0], '%');
		ASSERT_TRUE(hex_digit(pct[1]) >= 0 && !(pct[1] >= 'a' && pct[1] <= 'f'));
		ASSERT_OK(hex_percent_decode(pct, 3, dec, &len));
		ASSERT_EQ(len, 1);
		ASSERT_EQ((unsigned char)dec[0], i);
	}
	hex_encode("", 0, hex);
	ASSERT_STREQ(hex, "");
}

static void test_percent_decode(void)
{
	char out[64];
	size_t len;

	ASSERT_OK(hex_percent_decode("us.anthropic%3Aa%2fb+c", 22, out, &len));
	ASSERT_EQ(len, 18);
	ASSERT_TRUE(!memcmp(out, "us.anthropic:a/b+c", len)); /* '+' is no space here */
	ASSERT_OK(hex_percent_decode("a%41", 4, out, &len)); /* an escape that ends the text */
	ASSERT_EQ(len, 2);
	ASSERT_TRUE(!memcmp(out, "aA", 2));
	ASSERT_EQ(hex_percent_decode("a%4", 3, out, &len), -EINVAL);
	ASSERT_EQ(hex_percent_decode("a%", 2, out, &len), -EINVAL);
	ASSERT_EQ(hex_percent_decode("%zz", 3, out, &len), -EINVAL);
	/* the length given is where the text ends, not its NUL */
	ASSERT_EQ(hex_percent_decode("%41", 2, out, &len), -EINVAL);
}

/* hex_u64() writes what snprintf's "%016llx" wrote (the request ids), for every digit's
 * place and many random values. */
static void test_u64_as_printf(void)
{
	static const uint64_t edge[] = {0, 1, 15, 16, 0xff, 0x100, 0xdeadbeef, 1ull << 63,
					UINT64_MAX, UINT64_MAX - 1, 0x0123456789abcdefull};
	uint64_t x = 0x9e3779b97f4a7c15ull;
	char got[17], want[17];

	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]) + 1000000; i++) {
		uint64_t v;

		if (i < sizeof(edge) / sizeof(edge[0])) {
			v = edge[i];
		} else {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			v = x >> (x & 63); /* values of every length */
		}
		hex_u64(v, got);
		snprintf(want, sizeof(want), "%016llx", (unsigned long long)v);
		ASSERT_STREQ(got, want);
	}
}

UNIT_MAIN(UNIT_CASE(test_u64_as_printf), UNIT_CASE(test_digits), UNIT_CASE(test_every_byte_round_trips),
	  UNIT_CASE(test_percent_decode))
