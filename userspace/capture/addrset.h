/*
 * addrset: the provider address set the capture hooks match on. Turns the policy's
 * providers (static CIDRs and host names) into the two LPM tries, resolving host names at
 * start and again when their DNS TTL runs out (bounded by the policy's resolve_min_s and
 * resolve_max_s), on a thread of its own so a slow resolver never stalls the proxy.
 *
 * An update writes every current prefix first and removes stale ones only a round later, so
 * no address that was known is ever unenforced (not even in a workload's DNS cache from just
 * before the name moved); a host that fails to resolve keeps the addresses it last had.
 */
#ifndef AIGW_CAPTURE_ADDRSET_H
#define AIGW_CAPTURE_ADDRSET_H

#include <stdint.h>

#include "capture.h"
#include "policy/policy.h"

struct addrset; /* owns its copy of the providers and its thread; addrset_free() */

/* Creates the set over the two LPM map fds (not owned) and fills the maps from P once,
 * synchronously, before returning. */
int addrset_new(int prov4_fd, int prov6_fd, const struct policy *p, struct addrset **ret_set);

/* Starts the re-resolution thread. */
int addrset_start(struct addrset *as);

/* Replaces the providers (a policy reload); the set's thread updates the maps at once. Never
 * waits on DNS: names are resolved with the set's lock released. */
int addrset_reload(struct addrset *as, const struct policy *p);

/* Whether an address (4 or 16 bytes, network order) is in the set, and of which provider. */
int addrset_lookup(int prov4_fd, int prov6_fd, int family, const uint8_t *addr,
		   uint32_t *ret_provider_id);

/*
 * Whether the flow destination A is a provider address, as the capture hooks see it: an IPv6
 * address that carries an IPv4 one (mapped, NAT64, 6to4, IPv4-compatible) counts as that
 * IPv4 address. 0 and *RET_PROVIDER_ID (may be NULL), or -ENOENT.
 */
int addrset_lookup_addr(int prov4_fd, int prov6_fd, const struct aigw_addr *a,
			uint32_t *ret_provider_id);

/* An address HOST (one of the providers' host names) resolved to last, with PORT (host
 * order): 0 and *RET, or -ENOENT when the name is unknown or has no address yet. Takes the
 * set's lock briefly; never resolves. */
int addrset_host_addr(struct addrset *as, const char *host, uint16_t port,
		      struct aigw_addr *ret);

/* Stops the thread and frees; the maps keep their contents. NULL is fine. */
void addrset_free(struct addrset *as);

#endif
