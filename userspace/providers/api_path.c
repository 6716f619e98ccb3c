/*
 * api_path: a provider's API root and the canonical path of a call (see api_path.h). Pure
 * string work on whole path segments; nothing is decoded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/api_path.h"

/* The length of ROOT when URL is ROOT or below it (the next byte ends a segment), else -1. */
static long root_match(const char *root, const char *url)
{
	size_t n = strlen(root);
	char next;

	if (strncmp(url, root, n))
		return -1;
	next = url[n];
	return next == '\0' || next == '/' || next == '?' ? (long)n : -1;
}

int api_path_canonical(const char *root, const char *url, char **ret)
{
	long n;

	*ret = NULL;
	if (!strcmp(root, API_PATH_ROOT))
		return 0;
	if (!root[0] && root_match(API_PATH_ROOT, url) >= 0)
		return 0;
	n = root_match(root, url);
	if (n < 0 || url[n] != '/') /* the root itself is no call */
		return -ENOENT;
	if (asprintf(ret, "%s%s", API_PATH_ROOT, url + n) < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 1;
}

int api_path_upstream(const char *root, const char *url, char *buf, size_t size)
{
	long n = root_match(API_PATH_ROOT, url);
	int len;

	if (n < 0)
		len = snprintf(buf, size, "%s", url);
	else if (!root[0] && url[n] != '/') /* "/v1" itself at a root of "": "/" */
		len = snprintf(buf, size, "/%s", url + n);
	else
		len = snprintf(buf, size, "%s%s", root, url + n);
	return len < 0 || (size_t)len >= size ? -ENOSPC : 0;
}
