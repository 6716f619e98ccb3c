/*
 * netaddr: conversions between the capture's struct aigw_addr, socket addresses and text.
 * No allocation: callers pass buffers of NETADDR_STRLEN.
 */
#ifndef AIGW_NETADDR_H
#define AIGW_NETADDR_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "capture.h"

#define NETADDR_STRLEN (INET6_ADDRSTRLEN + 8) /* "[addr]:port" */

/* "1.2.3.4:443" or "[2001:db8::1]:443" into BUF; returns BUF. */
const char *netaddr_format(const struct aigw_addr *a, char *buf, size_t len);
/* The address alone, without port. */
const char *netaddr_format_ip(const struct aigw_addr *a, char *buf, size_t len);

/* From a socket address; a v4-mapped IPv6 address becomes AF_INET, as the BPF side keys it.
 * Returns 0 or -EAFNOSUPPORT. */
int netaddr_from_sockaddr(const struct sockaddr *sa, struct aigw_addr *ret);

/* To a socket address for connect(); returns its length, or -EAFNOSUPPORT. */
int netaddr_to_sockaddr(const struct aigw_addr *a, struct sockaddr_storage *ret);

#endif
