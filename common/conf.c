/* SPDX-License-Identifier: Apache-2.0 */
/* signet.conf and profile files: OpenSSL's config syntax, read with NCONF. */
#include "common.h"

#include <libgen.h>
#include <openssl/conf.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONF_FILE_MAX (1u << 20) /* a configuration larger than 1 MiB is refused */

struct sg_conf {
    CONF *nconf;
    char *file; /* the path it was read from */
    char *dir;  /* its directory; relative paths resolve against it */
};

enum signet_err sg_conf_load(const char *path, struct sg_conf **out, char *detail)
{
    struct sg_conf *c = NULL;
    unsigned char *text = NULL;
    size_t len = 0;
    long eline = -1;
    BIO *bio = NULL;
    char *tmp = NULL;
    enum signet_err rc;

    *out = NULL;
    if ((rc = sg_read_file(path, CONF_FILE_MAX, &text, &len, detail)) != SIGNET_OK)
        return rc;
    rc = SIGNET_E_NOMEM;
    if ((c = calloc(1, sizeof(*c))) == NULL || (c->nconf = NCONF_new(NULL)) == NULL ||
        (bio = BIO_new_mem_buf(text, (int)len)) == NULL)
        goto out;
    if (NCONF_load_bio(c->nconf, bio, &eline) <= 0) {
        unsigned long e = ERR_peek_last_error();
        sg_detail(detail, "%s:%ld: %s", path, eline,
                  e ? ERR_reason_error_string(e) : "cannot parse");
        ERR_clear_error();
        rc = SIGNET_E_CONFIG;
        goto out;
    }
    if ((c->file = strdup(path)) == NULL || (tmp = strdup(path)) == NULL ||
        (c->dir = strdup(dirname(tmp))) == NULL)
        goto out;
    *out = c;
    c = NULL;
    rc = SIGNET_OK;
out:
    if (rc == SIGNET_E_NOMEM)
        sg_detail(detail, "%s: out of memory", path);
    free(tmp);
    BIO_free(bio);
    free(text);
    sg_conf_free(c);
    return rc;
}

void sg_conf_free(struct sg_conf *c)
{
    if (c == NULL)
        return;
    NCONF_free(c->nconf);
    free(c->file);
    free(c->dir);
    free(c);
}

const char *sg_conf_get(const struct sg_conf *c, const char *section, const char *name)
{
    const char *v = NCONF_get_string(c->nconf, section, name);

    if (v == NULL)
        ERR_clear_error(); /* absence is an answer, not an error */
    return v;
}

const char *sg_conf_dir(const struct sg_conf *c)
{
    return c->dir;
}

const char *sg_conf_file(const struct sg_conf *c)
{
    return c->file;
}

char *sg_conf_path(const struct sg_conf *c, const char *value)
{
    char *p;
    size_t n;

    if (value[0] == '/')
        return strdup(value);
    n = strlen(c->dir) + strlen(value) + 2;
    if ((p = malloc(n)) != NULL)
        snprintf(p, n, "%s/%s", c->dir, value);
    return p;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t sg_conf_sections(const struct sg_conf *c, const char *prefix, char ***out)
{
    STACK_OF(OPENSSL_CSTRING) *names = NCONF_get_section_names(c->nconf);
    size_t plen = strlen(prefix), n = 0;
    char **v = NULL;
    int total = names ? sk_OPENSSL_CSTRING_num(names) : 0;

    *out = NULL;
    if ((v = calloc((size_t)total + 1, sizeof(*v))) == NULL)
        goto out;
    for (int i = 0; i < total; i++) {
        const char *s = sk_OPENSSL_CSTRING_value(names, i);
        if (strncmp(s, prefix, plen) != 0 || s[plen] == '\0')
            continue;
        if ((v[n] = strdup(s + plen)) == NULL) {
            sg_strv_free(v);
            v = NULL;
            n = 0;
            goto out;
        }
        n++;
    }
    qsort(v, n, sizeof(*v), cmp_str);
    *out = v;
out:
    sk_OPENSSL_CSTRING_free(names);
    return n;
}

void *sg_conf_nconf(const struct sg_conf *c)
{
    return c->nconf;
}

char **sg_split_list(const char *s, size_t *out_count)
{
    size_t cap = 1, n = 0;
    char **v;
    const char *p;

    for (p = s; *p; p++)
        cap += *p == ',';
    if ((v = calloc(cap + 1, sizeof(*v))) == NULL)
        return NULL;
    p = s;
    while (*p) {
        const char *end = strchr(p, ',');
        const char *e = end ? end : p + strlen(p);
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (t > p && (v[n++] = strndup(p, (size_t)(t - p))) == NULL) {
            sg_strv_free(v);
            return NULL;
        }
        p = end ? end + 1 : e;
    }
    if (out_count != NULL)
        *out_count = n;
    return v;
}

void sg_strv_free(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}
