/*
 * guard/fold: the copy of a text a model reads, with a map back to the text. See fold.h.
 *
 * One table of code point ranges says what becomes of each (removed, one ASCII byte, or
 * an ASCII byte counted from the range's start); a code point not in it is kept as it is.
 * The copy is made lazily: a text whose code points are all kept (French, Chinese, emoji)
 * is decoded once and not copied.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "guard/fold.h"
#include "providers/translate.h"
#include "providers/translate_util.h"

enum fold_kind {
	FOLD_DROP,  /* removed */
	FOLD_TO,    /* ARG */
	FOLD_FROM,  /* ARG + (cp - lo): fullwidth ASCII, a script's digits */
	FOLD_MOD10, /* '0' + (cp - lo) % 10: the mathematical digits (five styles of ten) */
};

struct fold_range {
	uint32_t lo, hi;
	uint8_t kind, arg;
};

/* Sorted, not overlapping. Default_Ignorable_Code_Point (Unicode 15 DerivedCoreProperties)
 * but for the Hangul fillers that are letters in use, the combining diacritics blocks, the
 * space separators, dash punctuation, look-alikes of "@" and ".", and the decimal digits of
 * the scripts in common use. ASCII is handled before the table. */
static const struct fold_range ranges[] = {
    {0x80, 0x84, FOLD_DROP, 0},		 {0x85, 0x85, FOLD_TO, ' '},
    {0x86, 0x9f, FOLD_DROP, 0},		 {0xa0, 0xa0, FOLD_TO, ' '},
    {0xad, 0xad, FOLD_DROP, 0},		 {0x300, 0x36f, FOLD_DROP, 0},
    {0x61c, 0x61c, FOLD_DROP, 0},	 {0x660, 0x669, FOLD_FROM, '0'},
    {0x6f0, 0x6f9, FOLD_FROM, '0'},	 {0x7c0, 0x7c9, FOLD_FROM, '0'},
    {0x966, 0x96f, FOLD_FROM, '0'},	 {0x9e6, 0x9ef, FOLD_FROM, '0'},
    {0xa66, 0xa6f, FOLD_FROM, '0'},	 {0xae6, 0xaef, FOLD_FROM, '0'},
    {0xb66, 0xb6f, FOLD_FROM, '0'},	 {0xbe6, 0xbef, FOLD_FROM, '0'},
    {0xc66, 0xc6f, FOLD_FROM, '0'},	 {0xce6, 0xcef, FOLD_FROM, '0'},
    {0xd66, 0xd6f, FOLD_FROM, '0'},	 {0xde6, 0xdef, FOLD_FROM, '0'},
    {0xe50, 0xe59, FOLD_FROM, '0'},	 {0xed0, 0xed9, FOLD_FROM, '0'},
    {0xf20, 0xf29, FOLD_FROM, '0'},	 {0x1040, 0x1049, FOLD_FROM, '0'},
    {0x1090, 0x1099, FOLD_FROM, '0'},	 {0x115f, 0x1160, FOLD_DROP, 0},
    {0x1680, 0x1680, FOLD_TO, ' '},	 {0x17b4, 0x17b5, FOLD_DROP, 0},
    {0x17e0, 0x17e9, FOLD_FROM, '0'},	 {0x180b, 0x180f, FOLD_DROP, 0},
    {0x1810, 0x1819, FOLD_FROM, '0'},	 {0x1946, 0x194f, FOLD_FROM, '0'},
    {0x19d0, 0x19d9, FOLD_FROM, '0'},	 {0x1ab0, 0x1aff, FOLD_DROP, 0},
    {0x1dc0, 0x1dff, FOLD_DROP, 0},	 {0x2000, 0x200a, FOLD_TO, ' '},
    {0x200b, 0x200f, FOLD_DROP, 0},	 {0x2010, 0x2015, FOLD_TO, '-'},
    {0x2024, 0x2024, FOLD_TO, '.'},	 {0x2028, 0x2029, FOLD_TO, ' '},
    {0x202a, 0x202e, FOLD_DROP, 0},	 {0x202f, 0x202f, FOLD_TO, ' '},
    {0x205f, 0x205f, FOLD_TO, ' '},	 {0x2060, 0x206f, FOLD_DROP, 0},
    {0x20d0, 0x20ff, FOLD_DROP, 0},	 {0x2212, 0x2212, FOLD_TO, '-'},
    {0x3000, 0x3000, FOLD_TO, ' '},	 {0x3002, 0x3002, FOLD_TO, '.'},
    {0x3164, 0x3164, FOLD_DROP, 0},	 {0xa8d0, 0xa8d9, FOLD_FROM, '0'},
    {0xa900, 0xa909, FOLD_FROM, '0'},	 {0xa9d0, 0xa9d9, FOLD_FROM, '0'},
    {0xaa50, 0xaa59, FOLD_FROM, '0'},	 {0xabf0, 0xabf9, FOLD_FROM, '0'},
    {0xfe00, 0xfe0f, FOLD_DROP, 0},	 {0xfe20, 0xfe2f, FOLD_DROP, 0},
    {0xfe52, 0xfe52, FOLD_TO, '.'},	 {0xfe58, 0xfe58, FOLD_TO, '-'},
    {0xfe63, 0xfe63, FOLD_TO, '-'},	 {0xfe6b, 0xfe6b, FOLD_TO, '@'},
    {0xfeff, 0xfeff, FOLD_DROP, 0},	 {0xff01, 0xff5e, FOLD_FROM, '!'},
    {0xff61, 0xff61, FOLD_TO, '.'},	 {0xffa0, 0xffa0, FOLD_DROP, 0},
    {0xfff0, 0xfff8, FOLD_DROP, 0},	 {0xfffd, 0xfffd, FOLD_DROP, 0},
    {0x1bca0, 0x1bca3, FOLD_DROP, 0},	 {0x1d173, 0x1d17a, FOLD_DROP, 0},
    {0x1d7ce, 0x1d7ff, FOLD_MOD10, '0'}, {0xe0000, 0xe0fff, FOLD_DROP, 0},
};

/* Whether byte C is one guard_fold() may change. */
static int byte_folds(unsigned char c)
{
	return c >= 0x7f || (c < 0x20 && c != '\t' && c != '\n' && c != '\r');
}

int guard_fold_needed(const char *text, size_t len)
{
	size_t i = 0;

#ifdef __SSE2__
	/* Sixteen bytes at a time: bytes >= 0x80 are negative as signed, so one signed "less
	 * than 0x20" finds them with the controls; tab, LF and CR are taken out, DEL added. */
	const __m128i ctl = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
	const __m128i tab = _mm_set1_epi8('\t'), lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');

	for (; i + 16 <= len; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(text + i));
		__m128i keep =
		    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, tab), _mm_cmpeq_epi8(v, lf)),
				 _mm_cmpeq_epi8(v, cr));
		__m128i odd = _mm_or_si128(_mm_andnot_si128(keep, _mm_cmplt_epi8(v, ctl)),
					   _mm_cmpeq_epi8(v, del));

		if (_mm_movemask_epi8(odd))
			return 1;
	}
#endif
	for (; i < len; i++)
		if (byte_folds((unsigned char)text[i]))
			return 1;
	return 0;
}

/* The code point at T[I] (strict UTF-8: no overlong form, no surrogate, at most U+10FFFF)
 * and its length in *RET_N; -1 with *RET_N 1 for a byte that does not start one. */
static long utf8_at(const unsigned char *t, size_t len, size_t i, size_t *ret_n)
{
	unsigned char c = t[i];
	size_t n = c < 0x80		    ? 1
		   : c >= 0xc2 && c <= 0xdf ? 2
		   : c >= 0xe0 && c <= 0xef ? 3
		   : c >= 0xf0 && c <= 0xf4 ? 4
					    : 0;
	uint32_t cp;

	*ret_n = 1;
	if (!n || len - i < n)
		return n == 1 ? c : -1;
	cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
	for (size_t k = 1; k < n; k++) {
		if ((t[i + k] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (t[i + k] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return -1;
	*ret_n = n;
	return cp;
}

/* What code point CP becomes: -1 kept, -2 removed, else the ASCII byte. */
static int fold_cp(long cp)
{
	size_t lo = 0, hi = sizeof(ranges) / sizeof(ranges[0]);

	if (cp < 0)
		return -2; /* not UTF-8: a provider drops it or reads U+FFFD, which is dropped */
	if (cp < 0x80) {
		if (cp == '\t' || cp == '\n' || cp == '\r' || (cp >= 0x20 && cp < 0x7f))
			return -1;
		return cp == 0x0b || cp == 0x0c ? ' ' : -2;
	}
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct fold_range *r = &ranges[mid];

		if ((uint32_t)cp < r->lo) {
			hi = mid;
		} else if ((uint32_t)cp > r->hi) {
			lo = mid + 1;
		} else {
			switch (r->kind) {
			case FOLD_DROP:
				return -2;
			case FOLD_TO:
				return r->arg;
			case FOLD_FROM:
				return r->arg + (int)((uint32_t)cp - r->lo);
			default:
				return '0' + (int)(((uint32_t)cp - r->lo) % 10);
			}
		}
	}
	return -1;
}

static int map_room(uint32_t **map, size_t *map_cap, size_t need)
{
	size_t cap = *map_cap ? *map_cap : 256;
	uint32_t *m;

	if (need <= *map_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	m = realloc(*map, cap * sizeof(*m));
	if (!m)
		return -ENOMEM;
	*map = m;
	*map_cap = cap;
	return 0;
}

int guard_fold(const char *text, size_t len, struct translate_buf *out, uint32_t **map,
	       size_t *map_cap)
{
	const unsigned char *t = (const unsigned char *)text;
	size_t i = 0, n, o;
	int f = -1;

	while (i < len && (f = fold_cp(utf8_at(t, len, i, &n))) == -1)
		i += n;
	if (i == len)
		return 1;
	/* The copy is at most as long as the text: a code point never folds to more bytes. */
	out->len = 0;
	if (map_room(map, map_cap, len + 1) || translate_buf_add(out, text, len))
		return -ENOMEM;
	for (o = 0; o < i; o++)
		(*map)[o] = (uint32_t)o;
	for (;;) {
		size_t at = i;

		if (f == -1) {
			memcpy(out->data + o, text + at, n);
			for (size_t k = 0; k < n; k++)
				(*map)[o++] = (uint32_t)at;
		} else if (f >= 0) {
			out->data[o] = (char)f;
			(*map)[o++] = (uint32_t)at;
		}
		i += n;
		if (i >= len)
			break;
		f = fold_cp(utf8_at(t, len, i, &n));
	}
	out->len = o;
	out->data[o] = '\0';
	(*map)[o] = (uint32_t)len;
	return 0;
}

size_t guard_fold_cp_end(const char *text, size_t len, size_t at)
{
	size_t n;

	utf8_at((const unsigned char *)text, len, at, &n);
	return at + n;
}
