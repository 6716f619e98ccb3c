// SPDX-License-Identifier: MIT
/*
 * mockprov azure: Azure OpenAI's doors to the OpenAI API. A request whose Host is an Azure
 * resource (*.openai.azure.com, *.cognitiveservices.azure.com, *.services.ai.azure.com) is
 * served at
 *
 *   /openai/deployments/{deployment}/chat/completions|embeddings|...?api-version=...
 *   /openai/v1/chat/completions|responses|embeddings   ("model" names the deployment)
 *   /models/chat/completions|embeddings?api-version=... (Azure AI Foundry's model inference
 *                                                        API; "model" names the deployment)
 *
 * and nowhere else, as Azure does: a deployments or /models call without api-version is not
 * found, a
 * deployment that --azure-deployment did not create is DeploymentNotFound, a call without
 * "api-key" or a bearer token is refused; the answer names the model the deployment runs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/keyvalq_struct.h>

#include "mock.h"

#define DEPLOYMENTS "/openai/deployments/"
#define V1 "/openai/v1/"
#define FOUNDRY "/models/"

static const char *const azure_domains[] = {".openai.azure.com", ".cognitiveservices.azure.com",
					    ".services.ai.azure.com", NULL};

/* "DEPLOYMENT=MODEL" */
int azure_add_deployment(const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct azure_deployment *d = &g_cfg.azure[g_cfg.nazure];

	if (!eq || eq == arg || !eq[1] || g_cfg.nazure == MOCK_MAX_LISTEN ||
	    (size_t)(eq - arg) >= sizeof(d->name) || strlen(eq + 1) >= sizeof(d->model)) {
		fprintf(stderr, "mockprov: --azure-deployment DEPLOYMENT=MODEL\n");
		return -EINVAL;
	}
	snprintf(d->name, sizeof(d->name), "%.*s", (int)(eq - arg), arg);
	snprintf(d->model, sizeof(d->model), "%s", eq + 1);
	g_cfg.nazure++;
	return 0;
}

int azure_host(const char *host)
{
	size_t n = host ? strcspn(host, ":") : 0;

	for (int i = 0; host && azure_domains[i]; i++) {
		size_t d = strlen(azure_domains[i]);

		if (n > d && !strncasecmp(host + n - d, azure_domains[i], d))
			return 1;
	}
	return 0;
}

static int has_api_version(struct call *c)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(c->req));
	struct evkeyvalq params;
	int found;

	if (!q || evhttp_parse_query_str(q, &params))
		return 0;
	found = evhttp_find_header(&params, "api-version") != NULL;
	evhttp_clear_headers(&params);
	return found;
}

const char *azure_route_path(struct call *c, const char *path, char *buf, size_t size)
{
	const char *d, *rest;

	if (!path)
		return NULL;
	if (!strncmp(path, V1, strlen(V1))) {
		snprintf(buf, size, "/v1/%s", path + strlen(V1));
		return buf;
	}
	if (!strcmp(path, FOUNDRY "chat/completions") || !strcmp(path, FOUNDRY "embeddings")) {
		if (!has_api_version(c))
			c->azure_missing = "api-version";
		snprintf(buf, size, "/v1/%s", path + strlen(FOUNDRY));
		return buf;
	}
	if (strncmp(path, DEPLOYMENTS, strlen(DEPLOYMENTS)))
		return NULL;
	d = path + strlen(DEPLOYMENTS);
	rest = strchr(d, '/');
	if (!rest || rest == d || (size_t)(rest - d) >= sizeof(c->deployment))
		return NULL;
	snprintf(c->deployment, sizeof(c->deployment), "%.*s", (int)(rest - d), d);
	if (!has_api_version(c))
		c->azure_missing = "api-version";
	snprintf(buf, size, "/v1%s", rest);
	return buf;
}

static const char *deployment_model(const char *name)
{
	for (int i = 0; name && i < g_cfg.nazure; i++)
		if (!strcmp(g_cfg.azure[i].name, name))
			return g_cfg.azure[i].model;
	return NULL;
}

static void azure_error(struct call *c, int status, const char *code, const char *msg)
{
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		evhttp_send_error(c->req, 500, NULL);
		return;
	}
	evbuffer_add_printf(b, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, msg);
	reply_send(c, status, NULL, b, "application/json");
	evbuffer_free(b);
}

/* Validates C as Azure would; on success C answers as the model its deployment runs. */
int azure_check(struct call *c)
{
	const char *auth = hdr(c, "authorization"), *model;

	if (c->azure_missing) {
		azure_error(c, 404, "404", "Resource not found");
		return -1;
	}
	if (!hdr(c, "api-key") && (!auth || strncasecmp(auth, "Bearer ", 7))) {
		azure_error(c, 401, "401",
			    "Access denied due to missing subscription key. Make sure to include "
			    "subscription key when making requests to an API.");
		return -1;
	}
	if (!c->deployment[0] && c->model)
		snprintf(c->deployment, sizeof(c->deployment), "%s", c->model);
	model = deployment_model(c->deployment);
	if (!model) {
		azure_error(c, 404, "DeploymentNotFound",
			    "The API deployment for this resource does not exist.");
		return -1;
	}
	c->model = model;
	return openai_check(c);
}
