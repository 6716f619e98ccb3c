/* netaddr.c: struct aigw_addr <-> sockaddr <-> text. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/netaddr.h"

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* The dotted quad of the four bytes at B into OUT (INET_ADDRSTRLEN bytes), as inet_ntop()
 * writes it: glibc's goes through sprintf, and every call's record has two addresses. */
static void format_ipv4(const uint8_t *b, char *out)
{
	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];

		if (v >= 100)
			*out++ = (char)('0' + v / 100);
		if (v >= 10)
			*out++ = (char)('0' + v / 10 % 10);
		*out++ = (char)('0' + v % 10);
		*out++ = i < 3 ? '.' : '\0';
	}
}

const char *netaddr_format_ip(const struct aigw_addr *a, char *buf, size_t len)
{
	int af = a->family == AIGW_AF_INET ? AF_INET : AF_INET6;

	if (af == AF_INET && len >= INET_ADDRSTRLEN) {
		format_ipv4(a->addr, buf);
		return buf;
	}
	if (!inet_ntop(af, a->addr, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

const char *netaddr_format(const struct aigw_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	netaddr_format_ip(a, ip, sizeof(ip));
	if (a->family == AIGW_AF_INET)
		snprintf(buf, len, "%s:%u", ip, ntohs(a->port));
	else
		snprintf(buf, len, "[%s]:%u", ip, ntohs(a->port));
	return buf;
}

int netaddr_from_sockaddr(const struct sockaddr *sa, struct aigw_addr *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		ret->family = AIGW_AF_INET;
		ret->port = in->sin_port;
		memcpy(ret->addr, &in->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		ret->port = in6->sin6_port;
		if (!memcmp(in6->sin6_addr.s6_addr, v4mapped_prefix, 12)) {
			ret->family = AIGW_AF_INET;
			memcpy(ret->addr, in6->sin6_addr.s6_addr + 12, 4);
		} else {
			ret->family = AIGW_AF_INET6;
			memcpy(ret->addr, in6->sin6_addr.s6_addr, 16);
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

int netaddr_to_sockaddr(const struct aigw_addr *a, struct sockaddr_storage *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (a->family == AIGW_AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ret;

		in->sin_family = AF_INET;
		in->sin_port = a->port;
		memcpy(&in->sin_addr, a->addr, 4);
		return sizeof(*in);
	}
	if (a->family == AIGW_AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = a->port;
		memcpy(&in6->sin6_addr, a->addr, 16);
		return sizeof(*in6);
	}
	return -EAFNOSUPPORT;
}
