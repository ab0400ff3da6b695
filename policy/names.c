/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Name syntax: DNS names (RFC 1035 / RFC 5280 4.2.1.6 preferred name syntax, RFC 5890 A-labels),
 * e-mail addresses (RFC 5280 4.2.1.6 rfc822Name), URIs (RFC 3986), networks, and the pattern
 * languages of profiles. Every check is bounded by the input's length.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EMAIL_MAX 254 /* RFC 5321 4.5.3.1.3 path, less the brackets */
#define LOCAL_MAX 64  /* RFC 5321 4.5.3.1.1 */
#define URI_MAX   1024

/* Formats a reason when why is given; returns 0 (refused). */
static int no(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int no(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    if (why && cap) {
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return 0;
}

int pol_no_controls(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

/* Checks one label [s, s+n) of a DNS name (not the wildcard). 1 = ok. */
static int label_ok(const char *s, size_t n, char *why, size_t cap)
{
    if (n == 0)
        return no(why, cap, "an empty label (two dots in a row, or a leading dot)");
    if (n > 63)
        return no(why, cap, "a label of %zu bytes; RFC 1035 2.3.4 allows at most 63", n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '*')
            return no(why, cap, "a '*' that is not the whole leftmost label");
        if (c >= 'A' && c <= 'Z')
            return no(why, cap, "uppercase letters; write DNS names in lowercase");
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return no(why, cap,
                      "the byte 0x%02x; DNS names hold letters, digits, '-' and dots (IDNs as "
                      "xn-- A-labels)",
                      c);
    }
    if (s[0] == '-' || s[n - 1] == '-')
        return no(why, cap, "a label that starts or ends with '-' (RFC 5891 4.2.3.1)");
    if (n >= 4 && s[2] == '-' && s[3] == '-') {
        if (s[0] != 'x' || s[1] != 'n')
            return no(why, cap,
                      "a reserved label '%.*s' (hyphens in positions 3 and 4, RFC 5891 "
                      "4.2.3.1)",
                      (int)n, s);
        return pol_alabel_ok(s, n, why, cap);
    }
    return 1;
}

int pol_dns_ok(const char *s, size_t len, int wildcard, char *why, size_t cap)
{
    size_t start = 0;
    int digits_only = 1;

    if (len == 0)
        return no(why, cap, "an empty name");
    if (!pol_no_controls((const unsigned char *)s, len))
        return no(why, cap, "a NUL or control character");
    if (s[len - 1] == '.')
        return no(why, cap, "a trailing dot; give the name without it");
    if (len > 253)
        return no(why, cap, "%zu bytes; a DNS name is at most 253 (RFC 1035 2.3.4)", len);
    if (len >= 2 && s[0] == '*' && s[1] == '.') {
        if (!wildcard)
            return no(why, cap, "a wildcard, which this profile does not allow");
        start = 2;
        if (memchr(s + 2, '.', len - 2) == NULL)
            return no(why, cap, "a wildcard over a single label (a top-level domain)");
    } else if (len == 1 && s[0] == '*') {
        return no(why, cap, "a bare '*'");
    }
    for (size_t i = start; i <= len; i++) {
        if (i < len && s[i] != '.')
            continue;
        if (!label_ok(s + start, i - start, why, cap))
            return 0;
        digits_only = 1;
        for (size_t k = start; k < i; k++)
            digits_only &= s[k] >= '0' && s[k] <= '9';
        start = i + 1;
    }
    if (digits_only)
        return no(why, cap, "an all-numeric last label (an IP address belongs in an IP SAN)");
    return 1;
}

int policy_dns_name_ok(const char *name, size_t len, int wildcard, char *why)
{
    return pol_dns_ok(name, len, wildcard, why, why ? SIGNET_DETAIL_MAX : 0);
}

int pol_email_ok(const char *s, size_t len, char *why, size_t cap)
{
    const char *at;
    size_t local;

    if (!pol_no_controls((const unsigned char *)s, len))
        return no(why, cap, "a NUL or control character");
    if (len > EMAIL_MAX)
        return no(why, cap, "%zu bytes; an address is at most %d", len, EMAIL_MAX);
    if ((at = memchr(s, '@', len)) == NULL || memchr(at + 1, '@', len - (size_t)(at + 1 - s)))
        return no(why, cap, "not local@domain with exactly one '@'");
    local = (size_t)(at - s);
    if (local == 0 || local > LOCAL_MAX)
        return no(why, cap, "a local part of %zu bytes (1 to %d)", local, LOCAL_MAX);
    for (size_t i = 0; i < local; i++)
        if ((unsigned char)s[i] > 0x7e || strchr(" \"(),:;<>[\\]", s[i]))
            return no(why, cap, "the local part holds '%c' (no quoting, spaces or non-ASCII)",
                      s[i]);
    if (s[0] == '.' || s[local - 1] == '.' || memmem(s, local, "..", 2))
        return no(why, cap, "a local part with a leading, trailing or double dot");
    if (!pol_dns_ok(at + 1, len - local - 1, 0, why, cap))
        return 0;
    return 1;
}

int pol_uri_ok(const char *s, size_t len, char *why, size_t cap)
{
    size_t i = 0;

    if (len == 0 || len > URI_MAX)
        return no(why, cap, "%zu bytes; a URI here is 1 to %d", len, URI_MAX);
    for (size_t k = 0; k < len; k++)
        if ((unsigned char)s[k] <= 0x20 || (unsigned char)s[k] >= 0x7f)
            return no(why, cap, "a space, control or non-ASCII byte (0x%02x)", (unsigned char)s[k]);
    if (!(s[0] >= 'a' && s[0] <= 'z') && !(s[0] >= 'A' && s[0] <= 'Z'))
        return no(why, cap, "no scheme (RFC 3986 3.1)");
    while (i < len && (strchr("+-.", s[i]) || (s[i] >= 'a' && s[i] <= 'z') ||
                       (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
        i++;
    if (i == len || s[i] != ':' || i + 1 == len)
        return no(why, cap, "not SCHEME:REST (RFC 3986 3)");
    return 1;
}

int pol_glob_match(const char *p, const char *s)
{
    const char *star = NULL, *mark = NULL;

    while (*s) {
        if (*p == '?' || (*p && *p == *s && *p != '*')) {
            p++;
            s++;
        } else if (*p == '*') {
            star = p++;
            mark = s;
        } else if (star) {
            p = star + 1;
            s = ++mark;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* 1 when name ends with ".base" (at a label boundary) or equals base. */
static int at_or_below(const char *name, const char *base)
{
    size_t nl = strlen(name), bl = strlen(base);

    if (nl == bl)
        return strcasecmp(name, base) == 0;
    return nl > bl && name[nl - bl - 1] == '.' && strcasecmp(name + nl - bl, base) == 0;
}

int policy_dns_match(const char *pattern, const char *name)
{
    size_t pl = strlen(pattern), nl = strlen(name);

    if (strncmp(pattern, "**.", 3) == 0)
        return nl > pl - 3 && at_or_below(name, pattern + 3) && strcasecmp(name, pattern + 3) != 0;
    if (strncmp(pattern, "*.", 2) == 0) {
        const char *dot = strchr(name, '.');
        return dot != NULL && dot != name && strcasecmp(dot + 1, pattern + 2) == 0;
    }
    return strcasecmp(pattern, name) == 0;
}

int pol_dns_wildcard_match(const char *pattern, const char *name)
{
    const char *base = name + 2; /* name is "*.BASE" */

    if (strncmp(pattern, "**.", 3) == 0)
        return at_or_below(base, pattern + 3);
    if (strncmp(pattern, "*.", 2) == 0)
        return strcasecmp(base, pattern + 2) == 0;
    return 0; /* an exact pattern never covers a wildcard */
}

int pol_cidr_parse(const char *s, struct pol_cidr *out)
{
    char buf[64], *slash;
    uint64_t bits;
    unsigned max;

    memset(out, 0, sizeof(*out));
    if (strlen(s) >= sizeof(buf))
        return 0;
    snprintf(buf, sizeof(buf), "%s", s);
    if ((slash = strchr(buf, '/')) != NULL)
        *slash++ = 0;
    if (inet_pton(AF_INET, buf, out->addr) == 1)
        max = 32;
    else if (inet_pton(AF_INET6, buf, out->addr) == 1)
        max = 128, out->v6 = 1;
    else
        return 0;
    if (slash == NULL)
        bits = max;
    else if (!sg_parse_u64(slash, 0, max, &bits))
        return 0;
    out->prefix = (unsigned)bits;
    for (unsigned b = out->prefix; b < max; b++) /* host bits must be zero */
        if (out->addr[b / 8] & (0x80 >> (b % 8)))
            return 0;
    return 1;
}

int pol_cidr_contains(const struct pol_cidr *net, const unsigned char *addr, size_t len)
{
    if (len != (net->v6 ? 16u : 4u))
        return 0;
    for (unsigned b = 0; b < net->prefix; b++)
        if ((net->addr[b / 8] ^ addr[b / 8]) & (0x80 >> (b % 8)))
            return 0;
    return 1;
}
