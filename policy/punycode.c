/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IDNA A-labels: an RFC 3492 (Punycode) decoder and encoder written for this check, and a
 * conservative subset of the RFC 5891 / RFC 5892 rules on the decoded U-label. A label passes
 * only when it decodes, re-encodes to exactly the same text, and holds no code point from the
 * disallowed set below.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* RFC 3492 5: parameter values for Punycode */
#define PUNY_BASE  36u
#define PUNY_TMIN  1u
#define PUNY_TMAX  26u
#define PUNY_SKEW  38u
#define PUNY_DAMP  700u
#define PUNY_BIAS  72u
#define PUNY_N     0x80u
#define PUNY_MAXCP 0x10ffffu

/* RFC 3492 6.1: bias adaptation. */
static uint32_t adapt(uint32_t delta, uint32_t numpoints, int first)
{
    uint32_t k = 0;

    delta = first ? delta / PUNY_DAMP : delta / 2;
    delta += delta / numpoints;
    while (delta > ((PUNY_BASE - PUNY_TMIN) * PUNY_TMAX) / 2) {
        delta /= PUNY_BASE - PUNY_TMIN;
        k += PUNY_BASE;
    }
    return k + (PUNY_BASE - PUNY_TMIN + 1) * delta / (delta + PUNY_SKEW);
}

/* The digit value of a character, or PUNY_BASE when it is not a digit. */
static uint32_t digit_of(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0' + 26;
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    return PUNY_BASE;
}

static char char_of(uint32_t d)
{
    return (char)(d < 26 ? 'a' + d : '0' + d - 26);
}

static uint32_t threshold(uint32_t k, uint32_t bias)
{
    return k <= bias ? PUNY_TMIN : k >= bias + PUNY_TMAX ? PUNY_TMAX : k - bias;
}

/* RFC 3492 6.2, with every overflow refused. See internal.h. */
long pol_puny_decode(const char *in, size_t len, uint32_t *out, size_t cap)
{
    uint32_t n = PUNY_N, i = 0, bias = PUNY_BIAS;
    size_t b = 0, pos, outlen = 0;

    for (size_t j = 0; j < len; j++)
        if (in[j] == '-')
            b = j;
    for (size_t j = 0; j < b; j++) {
        if ((unsigned char)in[j] >= 0x80 || outlen == cap)
            return -1;
        out[outlen++] = (unsigned char)in[j];
    }
    for (pos = b > 0 ? b + 1 : 0; pos < len;) {
        uint32_t oldi = i, w = 1;
        for (uint32_t k = PUNY_BASE;; k += PUNY_BASE) {
            uint32_t digit, t;
            if (pos >= len || (digit = digit_of((unsigned char)in[pos++])) >= PUNY_BASE)
                return -1;
            if (digit > (UINT32_MAX - i) / w)
                return -1;
            i += digit * w;
            t = threshold(k, bias);
            if (digit < t)
                break;
            if (w > UINT32_MAX / (PUNY_BASE - t))
                return -1;
            w *= PUNY_BASE - t;
        }
        bias = adapt(i - oldi, (uint32_t)outlen + 1, oldi == 0);
        if (i / (outlen + 1) > PUNY_MAXCP - n)
            return -1;
        n += i / (uint32_t)(outlen + 1);
        i %= (uint32_t)(outlen + 1);
        if (outlen == cap)
            return -1;
        memmove(out + i + 1, out + i, (outlen - i) * sizeof(*out));
        out[i++] = n;
        outlen++;
    }
    return (long)outlen;
}

/* Appends one character; 0 when full. */
static int put(char *out, size_t cap, size_t *len, char c)
{
    if (*len + 1 >= cap)
        return 0;
    out[(*len)++] = c;
    return 1;
}

/* RFC 3492 6.3. See internal.h. */
long pol_puny_encode(const uint32_t *in, size_t n_in, char *out, size_t cap)
{
    uint32_t n = PUNY_N, delta = 0, bias = PUNY_BIAS, h, b = 0;
    size_t len = 0;

    if (cap == 0)
        return -1;
    for (size_t j = 0; j < n_in; j++) {
        if (in[j] > PUNY_MAXCP)
            return -1;
        if (in[j] < 0x80 && !put(out, cap, &len, (char)in[j]))
            return -1;
        b += in[j] < 0x80;
    }
    if (b > 0 && !put(out, cap, &len, '-'))
        return -1;
    for (h = b; h < n_in;) {
        uint32_t m = UINT32_MAX;
        for (size_t j = 0; j < n_in; j++)
            if (in[j] >= n && in[j] < m)
                m = in[j];
        if (m - n > (UINT32_MAX - delta) / (h + 1))
            return -1;
        delta += (m - n) * (h + 1);
        n = m;
        for (size_t j = 0; j < n_in; j++) {
            if (in[j] < n && ++delta == 0)
                return -1;
            if (in[j] != n)
                continue;
            uint32_t q = delta;
            for (uint32_t k = PUNY_BASE;; k += PUNY_BASE) {
                uint32_t t = threshold(k, bias);
                if (q < t)
                    break;
                if (!put(out, cap, &len, char_of(t + (q - t) % (PUNY_BASE - t))))
                    return -1;
                q = (q - t) / (PUNY_BASE - t);
            }
            if (!put(out, cap, &len, char_of(q)))
                return -1;
            bias = adapt(delta, h + 1, h == b);
            delta = 0;
            h++;
        }
        delta++;
        n++;
    }
    out[len] = '\0';
    return (long)len;
}

/*
 * 1 when cp is in the disallowed subset: controls, spaces and invisible format characters,
 * bidi controls, surrogates, private use, noncharacters, variation selectors and tags, full-
 * and half-width forms, Latin-1 symbols, uppercase Latin-1 / Greek / Cyrillic (IDNA2008 has no
 * case mapping in A-labels), arrows, technical and box symbols, and emoji (RFC 5892 2.6-2.9:
 * not PVALID).
 */
static int cp_disallowed(uint32_t cp)
{
    static const uint32_t ranges[][2] = {
        {0x0080, 0x00BF},   {0x00C0, 0x00D6},    {0x00D7, 0x00DE},   {0x00F7, 0x00F7},
        {0x0340, 0x0341},   {0x034F, 0x034F},    {0x0391, 0x03A9},   {0x0410, 0x042F},
        {0x061C, 0x061C},   {0x115F, 0x1160},    {0x1680, 0x1680},   {0x180B, 0x180F},
        {0x2000, 0x206F},   {0x2070, 0x2BFF},    {0x2E00, 0x2E7F},   {0x2FF0, 0x2FFF},
        {0x3000, 0x3000},   {0x3164, 0x3164},    {0xD800, 0xF8FF},   {0xFDD0, 0xFDEF},
        {0xFE00, 0xFE0F},   {0xFE10, 0xFE1F},    {0xFE30, 0xFE4F},   {0xFEFF, 0xFEFF},
        {0xFF00, 0xFFEF},   {0xFFF0, 0xFFFF},    {0x1D400, 0x1D7FF}, {0x1F000, 0x1FAFF},
        {0xE0000, 0xE0FFF}, {0xF0000, 0x10FFFF},
    };

    if ((cp & 0xFFFE) == 0xFFFE || cp > PUNY_MAXCP)
        return 1;
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
        if (cp >= ranges[i][0] && cp <= ranges[i][1])
            return 1;
    return 0;
}

/* Combining marks that may not start a label (RFC 5891 4.2.3.2), the common blocks. */
static int cp_combining(uint32_t cp)
{
    return (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x0483 && cp <= 0x0489) ||
           (cp >= 0x0591 && cp <= 0x05BD) || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
           (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) ||
           (cp >= 0xFE20 && cp <= 0xFE2F);
}

/* Checks the decoded U-label (RFC 5891 4.2.3, the subset above). */
static int ulabel_ok(const uint32_t *cp, size_t n, char *why, size_t cap)
{
    int non_ascii = 0;

    if (n == 0)
        return snprintf(why, cap, "an A-label that decodes to nothing"), 0;
    if (cp[0] == '-' || cp[n - 1] == '-' || (n >= 4 && cp[2] == '-' && cp[3] == '-'))
        return snprintf(why, cap,
                        "an A-label whose U-label has hyphens where RFC 5891 4.2.3.1 "
                        "forbids them"),
               0;
    if (cp_combining(cp[0]))
        return snprintf(why, cap,
                        "an A-label starting with a combining mark (RFC 5891 "
                        "4.2.3.2)"),
               0;
    for (size_t i = 0; i < n; i++) {
        if (cp[i] < 0x80) {
            if (!((cp[i] >= 'a' && cp[i] <= 'z') || (cp[i] >= '0' && cp[i] <= '9') || cp[i] == '-'))
                return snprintf(why, cap, "an A-label holding the ASCII character 0x%02x",
                                (unsigned)cp[i]),
                       0;
            continue;
        }
        non_ascii = 1;
        if (cp_disallowed(cp[i]))
            return snprintf(why, cap, "an A-label holding U+%04X, which IDNA does not allow",
                            (unsigned)cp[i]),
                   0;
    }
    if (!non_ascii)
        return snprintf(why, cap, "an A-label that decodes to plain ASCII"), 0;
    return 1;
}

int pol_alabel_ok(const char *label, size_t len, char *why, size_t cap)
{
    uint32_t cp[POL_PUNY_MAX];
    char again[72];
    char scratch[SIGNET_DETAIL_MAX];
    long n, m;

    if (why == NULL || cap == 0) {
        why = scratch;
        cap = sizeof(scratch);
    }
    if (len < 5 || strncmp(label, "xn--", 4) != 0)
        return snprintf(why, cap, "an empty or malformed A-label"), 0;
    if ((n = pol_puny_decode(label + 4, len - 4, cp, POL_PUNY_MAX)) < 0)
        return snprintf(why, cap, "an A-label '%.*s' that is not valid Punycode (RFC 3492)",
                        (int)len, label),
               0;
    if (!ulabel_ok(cp, (size_t)n, why, cap))
        return 0;
    m = pol_puny_encode(cp, (size_t)n, again, sizeof(again));
    if (m < 0 || (size_t)m != len - 4 || memcmp(again, label + 4, len - 4) != 0)
        return snprintf(why, cap, "an A-label '%.*s' that does not round-trip through Punycode",
                        (int)len, label),
               0;
    return 1;
}
