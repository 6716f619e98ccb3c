/* decimal: unsigned integers in decimal (see decimal.h). */
#include "util/decimal.h"

#include <string.h>

static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324"
				     "25262728293031323334353637383940414243444546474849"
				     "50515253545556575859606162636465666768697071727374"
				     "75767778798081828384858687888990919293949596979899";

char *decimal_put_u64(char *p, uint64_t v)
{
	char tmp[DECIMAL_U64_MAX], *t = tmp + sizeof(tmp);
	size_t n;

	while (v >= 100) {
		t -= 2;
		memcpy(t, &digit_pairs[v % 100 * 2], 2);
		v /= 100;
	}
	if (v >= 10) {
		t -= 2;
		memcpy(t, &digit_pairs[v * 2], 2);
	} else {
		*--t = (char)('0' + v);
	}
	n = (size_t)(tmp + sizeof(tmp) - t);
	memcpy(p, t, n);
	return p + n;
}
