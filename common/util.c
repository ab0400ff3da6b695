/* SPDX-License-Identifier: Apache-2.0 */
/* Hex, strict number parsing, durations and time. */
#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void sg_hex_encode(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

long sg_hex_decode(const char *in, unsigned char *out, size_t outcap)
{
    size_t len = strlen(in);

    if (len % 2 != 0 || len / 2 > outcap)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval((unsigned char)in[2 * i]), lo = hexval((unsigned char)in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return (long)(len / 2);
}

int sg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || !isdigit((unsigned char)s[0]))
        return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return 0;
    *out = v;
    return 1;
}

int sg_parse_duration(const char *s, int64_t *out_seconds)
{
    static const struct {
        char unit;
        int64_t seconds;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'y', 365 * 86400}};
    char num[24];
    size_t len = s ? strlen(s) : 0;
    uint64_t v;

    if (len < 2 || len > sizeof(num))
        return 0;
    memcpy(num, s, len - 1);
    num[len - 1] = 0;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (s[len - 1] != units[i].unit)
            continue;
        if (!sg_parse_u64(num, 1, (uint64_t)(INT64_MAX / units[i].seconds), &v))
            return 0;
        *out_seconds = (int64_t)v * units[i].seconds;
        return 1;
    }
    return 0;
}

int sg_parse_time(const char *s, int64_t *out)
{
    struct tm tm;
    const char *end;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (s == NULL || (end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL || *end != '\0')
        return 0;
    if ((t = timegm(&tm)) == (time_t)-1)
        return 0;
    *out = (int64_t)t;
    return 1;
}

void sg_format_time(int64_t t, char *out, size_t outlen)
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, outlen, "?");
}

int64_t sg_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

uint64_t sg_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void sg_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* See common.h. */
void sg_prefault(void *p, size_t len)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)p, e = a + len, ha, he;

    if (p == NULL || len == 0 || pg == 0 || (uintptr_t)-1 - a < len)
        return;
    ha = (a + pg - 1) & ~(pg - 1);
    he = e & ~(pg - 1);
    if (he <= ha)
        return;
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; EINVAL before, which changes nothing */
#endif
    madvise((void *)ha, he - ha, MADV_POPULATE_WRITE);
}

/* See common.h. */
size_t sg_rss_bytes(void)
{
    unsigned long size = 0, resident = 0;
    long pg = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    int n = f != NULL ? fscanf(f, "%lu %lu", &size, &resident) : 0;

    if (f != NULL)
        fclose(f);
    return n == 2 && pg > 0 ? (size_t)resident * (size_t)pg : 0;
}
