/* test_netaddr.c: addresses are written as inet_ntop() writes them. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "unit.h"
#include "util/netaddr.h"

static void expect_ipv4(const uint8_t b[4], size_t len)
{
	struct aigw_addr a = {.family = AIGW_AF_INET};
	char got[NETADDR_STRLEN], want[NETADDR_STRLEN];

	memcpy(a.addr, b, 4);
	if (!inet_ntop(AF_INET, b, want, len))
		snprintf(want, len, "?");
	ASSERT_TRUE(netaddr_format_ip(&a, got, len) == got);
	ASSERT_STREQ(got, want);
}

/* Every value of every byte, at every position, and random addresses; buffers just big
 * enough and too small. */
static void test_format_ipv4(void)
{
	unsigned long long x = 0x2545f4914f6cdd1dULL;
	uint8_t b[4];

	for (int pos = 0; pos < 4; pos++) {
		for (unsigned v = 0; v < 256; v++) {
			memset(b, pos == 0 ? 7 : 200, 4);
			b[pos] = (uint8_t)v;
			expect_ipv4(b, NETADDR_STRLEN);
		}
	}
	for (int round = 0; round < 200000; round++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(b, &x, 4);
		expect_ipv4(b, round % 2 ? INET_ADDRSTRLEN : NETADDR_STRLEN);
	}
	memset(b, 255, 4);
	expect_ipv4(b, INET_ADDRSTRLEN);
	expect_ipv4(b, 8); /* too small: "?" */
}

static void test_format_ipv6(void)
{
	struct aigw_addr a = {.family = AIGW_AF_INET6};
	char got[NETADDR_STRLEN];

	ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::1", a.addr), 1);
	ASSERT_STREQ(netaddr_format_ip(&a, got, sizeof(got)), "2001:db8::1");
	a.port = htons(443);
	ASSERT_STREQ(netaddr_format(&a, got, sizeof(got)), "[2001:db8::1]:443");
}

UNIT_MAIN(UNIT_CASE(test_format_ipv4), UNIT_CASE(test_format_ipv6))
