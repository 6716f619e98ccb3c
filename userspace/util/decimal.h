/* decimal: the one unsigned decimal formatter of the text the proxy, the metrics and the
 * audit log write by hand (as printf's %llu writes it, without a format string). Nothing
 * here allocates. */
#ifndef AIGW_UTIL_DECIMAL_H
#define AIGW_UTIL_DECIMAL_H

#include <stdint.h>

#define DECIMAL_U64_MAX 20 /* digits of UINT64_MAX */

/* V in decimal at P (at most DECIMAL_U64_MAX bytes, no NUL); returns the end. */
char *decimal_put_u64(char *p, uint64_t v);

#endif
