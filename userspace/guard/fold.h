/*
 * guard/fold: a text as the provider's model reads it. A model reads through characters a
 * byte scanner stops at: "john\u200b.doe@example.com" (a zero-width space), a soft hyphen or
 * a word joiner inside a card number, fullwidth "４１１１" and "＠", an en dash between the
 * groups of a number. guard_fold() makes a copy with those removed or mapped to the ASCII
 * they stand for, and a map from each byte of the copy back to the text, so that what the
 * detectors find in the copy is replaced in the text, the invisible characters included.
 * Internal to guard/.
 */
#ifndef AIGW_GUARD_FOLD_H
#define AIGW_GUARD_FOLD_H

#include <stddef.h>
#include <stdint.h>

struct translate_buf;

/* Whether TEXT may read otherwise to a model than to the scanner: it holds a byte that is
 * not ASCII, or a control character other than tab, LF and CR. One pass, no branch per byte:
 * the common case (plain ASCII) costs this and nothing else. */
int guard_fold_needed(const char *text, size_t len);

/*
 * TEXT folded into OUT (replacing its contents): default-ignorable code points (zero-width
 * characters, joiners, soft hyphen, bidi controls, variation selectors, tag characters),
 * combining marks, control characters other than tab, LF and CR, U+FFFD and bytes that are
 * not UTF-8 removed; fullwidth ASCII, Unicode spaces, dashes, look-alike "@" and "." and the
 * decimal digits of other scripts mapped to ASCII. (*MAP)[i] is the offset in TEXT of the
 * code point that byte i of OUT came from; *MAP is grown as needed (*MAP_CAP entries,
 * realloc'd, the caller frees it). Returns 0 or -ENOMEM.
 */
int guard_fold(const char *text, size_t len, struct translate_buf *out, uint32_t **map,
	       size_t *map_cap);

/* The end in TEXT of the code point that starts at AT (AT < LEN). */
size_t guard_fold_cp_end(const char *text, size_t len, size_t at);

#endif
