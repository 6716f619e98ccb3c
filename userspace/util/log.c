/* log.c: leveled diagnostics to stderr, one write per line so threads do not interleave. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include <openssl/err.h>

#include "util/log.h"

static enum log_level log_threshold = LOG_LEVEL_INFO;

static const char *const log_names[] = {"debug", "info", "warning", "error"};

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n, m;

	if (level < log_threshold)
		return;
	n = snprintf(line, sizeof(line), "aigw: %s: ", log_names[level]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

int log_ssl_error(const char *what)
{
	char reason[256] = "unknown reason";
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	log_error("%s: %s", what, reason);
	ERR_clear_error();
	return -EIO;
}
