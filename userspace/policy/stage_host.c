/*
 * stage_host: a request on an intercepted connection must be for the host its TLS
 * connection was made for. Another Host on a provider's connection (domain fronting) is
 * refused: the gateway would record and key one provider while the request named another.
 */
#include <string.h>
#include <strings.h>

#include "policy/stages.h"

static int host_matches(const char *sni, const char *host)
{
	size_t n = strlen(sni);

	if (!host || strncasecmp(host, sni, n))
		return 0;
	return host[n] == 0 || !strcmp(host + n, ":443");
}

static enum pipe_verdict host_on_request(struct pipe_req *r)
{
	if (r->explicit_endpoint)
		return PIPE_CONTINUE;
	if (r->host_count == 1 && host_matches(r->sni, r->host))
		return PIPE_CONTINUE;
	return pipe_refuse(r, "host", "host_matches_sni", 1, 421, "misdirected", 0,
			   "the Host header does not match the TLS server name");
}

const struct stage stage_host = {
    .name = "host",
    .head = 1,
    .on_request = host_on_request,
};
