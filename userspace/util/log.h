/*
 * log: the daemon's own diagnostics, one line each on stderr ("aigw: level: message").
 * Not the audit log (ledger/audit.c): nothing here is a record of what a workload did.
 */
#ifndef AIGW_LOG_H
#define AIGW_LOG_H

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

void log_set_level(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Logs WHAT with the reason OpenSSL left on this thread's error queue, then clears the queue
 * (so no stale error confuses a later SSL_get_error()). Returns -EIO, for the caller to pass on.
 */
int log_ssl_error(const char *what);

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
