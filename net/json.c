/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small JSON reader (RFC 8259) for request bodies, bounded in depth, string length, members
 * and total values, strict about UTF-8 (RFC 3629) and duplicate keys; and a quoting function
 * for output that always yields valid JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

struct net_json {
    enum net_json_type type;
    char *str;              /* decoded string, or a number's text */
    size_t len;             /* bytes of str */
    struct net_json **kids; /* elements or member values */
    char **keys;            /* member keys (objects) */
    size_t n, cap;
};

struct parser {
    const unsigned char *p, *end, *start;
    const struct net_json_limits *lim;
    size_t nodes;
    char *detail;
};

static void perr(struct parser *ps, const char *what)
{
    sg_detail(ps->detail, "JSON at byte %zu: %s", (size_t)(ps->p - ps->start), what);
}

void net_json_free(struct net_json *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n; i++) {
        net_json_free(v->kids[i]);
        if (v->keys != NULL)
            free(v->keys[i]);
    }
    free(v->kids);
    free(v->keys);
    free(v->str);
    free(v);
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/*
 * Length of the valid UTF-8 sequence at s (at most n bytes): 1..4, or 0 when invalid
 * (overlong, surrogate, above U+10FFFF, truncated). RFC 3629 section 4.
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    unsigned long cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        need = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        need = 4, cp = c & 0x07;
    else
        return 0;
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
}

/* Appends the UTF-8 form of a code point to buf (room checked by the caller: 4 bytes). */
static size_t put_utf8(unsigned long cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Four hex digits after "\u". 1 = ok. */
static int hex4(struct parser *ps, unsigned long *out)
{
    unsigned long v = 0;

    if (ps->end - ps->p < 4)
        return 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned long)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned long)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned long)(c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

/* An escape after the backslash; the code point into *cp. 1 = ok. */
static int parse_escape(struct parser *ps, unsigned long *cp)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *e;
    unsigned long lo;

    if (ps->p >= ps->end)
        return perr(ps, "truncated escape"), 0;
    if (*ps->p != 'u') {
        if (*ps->p == '\0' || (e = strchr(from, *ps->p)) == NULL)
            return perr(ps, "unknown escape"), 0;
        ps->p++;
        *cp = (unsigned char)to[e - from];
        return 1;
    }
    ps->p++;
    if (!hex4(ps, cp))
        return perr(ps, "bad \\u escape"), 0;
    if (*cp >= 0xdc00 && *cp <= 0xdfff)
        return perr(ps, "unpaired low surrogate"), 0;
    if (*cp >= 0xd800 && *cp <= 0xdbff) {
        if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
            return perr(ps, "unpaired high surrogate"), 0;
        ps->p += 2;
        if (!hex4(ps, &lo) || lo < 0xdc00 || lo > 0xdfff)
            return perr(ps, "unpaired high surrogate"), 0;
        *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (*cp == 0)
        return perr(ps, "\\u0000 is not accepted"), 0;
    return 1;
}

/*
 * A string at ps->p (which is at the opening quote). Decoded into a new buffer of at most
 * max_string bytes. 1 = ok; *out owned by the caller.
 */
static int parse_string(struct parser *ps, char **out, size_t *out_len)
{
    size_t cap = 64, n = 0, max = ps->lim->max_string;
    char *buf = malloc(cap);
    unsigned long cp;

    if (buf == NULL)
        return perr(ps, "out of memory"), 0;
    ps->p++;
    for (;;) {
        size_t k = 1;
        char tmp[4];

        if (ps->p >= ps->end) {
            perr(ps, "unterminated string");
            goto fail;
        }
        if (*ps->p == '"')
            break;
        if (*ps->p < 0x20) {
            perr(ps, "control character in a string");
            goto fail;
        }
        if (*ps->p == '\\') {
            ps->p++;
            if (!parse_escape(ps, &cp))
                goto fail;
            k = put_utf8(cp, tmp);
        } else if ((k = utf8_len(ps->p, (size_t)(ps->end - ps->p))) == 0) {
            perr(ps, "invalid UTF-8");
            goto fail;
        } else {
            memcpy(tmp, ps->p, k);
            ps->p += k;
        }
        if (n + k > max) {
            perr(ps, "string too long");
            goto fail;
        }
        if (n + k + 1 > cap) {
            char *nb;
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            if (cap < n + k + 1)
                cap = n + k + 1;
            if ((nb = realloc(buf, cap)) == NULL) {
                perr(ps, "out of memory");
                goto fail;
            }
            buf = nb;
        }
        memcpy(buf + n, tmp, k);
        n += k;
    }
    ps->p++;
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 1;
fail:
    free(buf);
    return 0;
}

/* A number per RFC 8259 section 6, kept as text. 1 = ok. */
static int parse_number(struct parser *ps, struct net_json *v)
{
    const unsigned char *s = ps->p, *p = ps->p, *e = ps->end;

    if (p < e && *p == '-')
        p++;
    if (p < e && *p == '0')
        p++;
    else if (p < e && *p >= '1' && *p <= '9')
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    else
        return perr(ps, "bad number"), 0;
    if (p < e && *p == '.') {
        if (++p >= e || *p < '0' || *p > '9')
            return ps->p = p, perr(ps, "bad fraction"), 0;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p >= e || *p < '0' || *p > '9')
            return ps->p = p, perr(ps, "bad exponent"), 0;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if ((size_t)(p - s) > ps->lim->max_string)
        return perr(ps, "number too long"), 0;
    if ((v->str = strndup((const char *)s, (size_t)(p - s))) == NULL)
        return perr(ps, "out of memory"), 0;
    v->len = (size_t)(p - s);
    v->type = NET_JSON_NUMBER;
    ps->p = p;
    return 1;
}

static int parse_value(struct parser *ps, size_t depth, struct net_json **out);

/* Appends a child (and key) to an array or object, bounded by max_keys. 1 = ok. */
static int add_kid(struct parser *ps, struct net_json *v, char *key, struct net_json *kid)
{
    if (v->n >= ps->lim->max_keys)
        return perr(ps, "too many members"), 0;
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 4;
        struct net_json **nk = realloc(v->kids, nc * sizeof(*nk));
        if (nk == NULL)
            return perr(ps, "out of memory"), 0;
        v->kids = nk;
        if (v->type == NET_JSON_OBJECT) {
            char **nkeys = realloc(v->keys, nc * sizeof(*nkeys));
            if (nkeys == NULL)
                return perr(ps, "out of memory"), 0;
            v->keys = nkeys;
        }
        v->cap = nc;
    }
    v->kids[v->n] = kid;
    if (v->type == NET_JSON_OBJECT)
        v->keys[v->n] = key;
    v->n++;
    return 1;
}

/* An array or object at ps->p (at '[' or '{'). 1 = ok. */
static int parse_container(struct parser *ps, size_t depth, struct net_json *v)
{
    int obj = *ps->p == '{';
    char close = obj ? '}' : ']';

    if (depth >= ps->lim->max_depth)
        return perr(ps, "nested too deeply"), 0;
    v->type = obj ? NET_JSON_OBJECT : NET_JSON_ARRAY;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 1;
    }
    for (;;) {
        char *key = NULL;
        size_t klen;
        struct net_json *kid = NULL;

        skip_ws(ps);
        if (obj) {
            if (ps->p >= ps->end || *ps->p != '"')
                return perr(ps, "expected a key"), 0;
            if (!parse_string(ps, &key, &klen))
                return 0;
            if (net_json_get(v, key) != NULL) {
                free(key);
                return perr(ps, "duplicate key"), 0;
            }
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                return perr(ps, "expected ':'"), 0;
            }
            ps->p++;
        }
        if (!parse_value(ps, depth + 1, &kid) || !add_kid(ps, v, key, kid)) {
            free(key);
            net_json_free(kid);
            return 0;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return 1;
        }
        return perr(ps, obj ? "expected ',' or '}'" : "expected ',' or ']'"), 0;
    }
}

/* Matches a literal word. 1 = ok. */
static int word(struct parser *ps, const char *w)
{
    size_t n = strlen(w);

    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0)
        return perr(ps, "unexpected character"), 0;
    ps->p += n;
    return 1;
}

/* Any value at ps->p (after whitespace). depth counts enclosing containers. 1 = ok. */
static int parse_value(struct parser *ps, size_t depth, struct net_json **out)
{
    struct net_json *v = NULL;
    int ok = 0;

    *out = NULL;
    skip_ws(ps);
    if (ps->p >= ps->end)
        return perr(ps, "unexpected end"), 0;
    if (++ps->nodes > ps->lim->max_nodes)
        return perr(ps, "too many values"), 0;
    if ((v = calloc(1, sizeof(*v))) == NULL)
        return perr(ps, "out of memory"), 0;
    switch (*ps->p) {
    case '{':
    case '[':
        ok = parse_container(ps, depth, v);
        break;
    case '"':
        v->type = NET_JSON_STRING;
        ok = parse_string(ps, &v->str, &v->len);
        break;
    case 't':
        v->type = NET_JSON_TRUE;
        ok = word(ps, "true");
        break;
    case 'f':
        v->type = NET_JSON_FALSE;
        ok = word(ps, "false");
        break;
    case 'n':
        v->type = NET_JSON_NULL;
        ok = word(ps, "null");
        break;
    default:
        ok = parse_number(ps, v);
    }
    if (!ok) {
        net_json_free(v);
        return 0;
    }
    *out = v;
    return 1;
}

int net_json_parse(const char *in, size_t len, const struct net_json_limits *lim,
                   struct net_json **out, char *detail)
{
    struct parser ps = {(const unsigned char *)in,
                        (const unsigned char *)in + len,
                        (const unsigned char *)in,
                        lim,
                        0,
                        detail};
    struct net_json *v = NULL;

    *out = NULL;
    if (in == NULL || lim == NULL) {
        sg_detail(detail, "JSON: no input");
        return 0;
    }
    if (!parse_value(&ps, 0, &v))
        return 0;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        perr(&ps, "trailing bytes after the value");
        net_json_free(v);
        return 0;
    }
    *out = v;
    return 1;
}

enum net_json_type net_json_type(const struct net_json *v)
{
    return v == NULL ? NET_JSON_NULL : v->type;
}

const struct net_json *net_json_get(const struct net_json *obj, const char *key)
{
    if (obj == NULL || obj->type != NET_JSON_OBJECT || key == NULL)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->kids[i];
    return NULL;
}

const char *net_json_string(const struct net_json *v, size_t *out_len)
{
    if (v == NULL || v->type != NET_JSON_STRING)
        return NULL;
    if (out_len != NULL)
        *out_len = v->len;
    return v->str;
}

const char *net_json_number_text(const struct net_json *v)
{
    return v != NULL && v->type == NET_JSON_NUMBER ? v->str : NULL;
}

size_t net_json_count(const struct net_json *v)
{
    return v == NULL ? 0 : v->n;
}

const struct net_json *net_json_at(const struct net_json *v, size_t i)
{
    return v == NULL || i >= v->n ? NULL : v->kids[i];
}

const char *net_json_key_at(const struct net_json *v, size_t i)
{
    return v == NULL || v->keys == NULL || i >= v->n ? NULL : v->keys[i];
}

char *net_json_quote(const char *s, size_t len)
{
    /* worst case: every byte becomes \u00XX (6) or U+FFFD (3), plus quotes and NUL */
    char *out = malloc(len * 6 + 3), *o = out;
    const unsigned char *p = (const unsigned char *)s, *e = p + len;

    if (out == NULL)
        return NULL;
    *o++ = '"';
    while (p < e) {
        size_t k;

        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p++;
        } else if (*p == '\n' || *p == '\r' || *p == '\t') {
            *o++ = '\\';
            *o++ = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            o += sprintf(o, "\\u%04x", *p++);
        } else if ((k = utf8_len(p, (size_t)(e - p))) == 0) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
        } else if (k == 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
            o += sprintf(o, "\\u%04x", p[2] == 0xa8 ? 0x2028 : 0x2029);
            p += 3;
        } else {
            memcpy(o, p, k);
            o += k;
            p += k;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}
