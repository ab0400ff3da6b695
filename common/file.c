/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded reads, atomic writes, directories. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum signet_err sg_read_file(const char *path, size_t max, unsigned char **out, size_t *out_len,
                             char *detail)
{
    struct stat st;
    unsigned char *buf = NULL;
    size_t got = 0;
    ssize_t n;
    int fd;
    enum signet_err rc = SIGNET_E_IO;

    *out = NULL;
    *out_len = 0;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        sg_detail(detail, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? SIGNET_E_NOTFOUND : SIGNET_E_IO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        sg_detail(detail, "%s: not a regular file", path);
        goto out;
    }
    if ((size_t)st.st_size > max) {
        sg_detail(detail, "%s: %lld bytes, more than the %zu allowed", path, (long long)st.st_size,
                  max);
        rc = SIGNET_E_INVALID;
        goto out;
    }
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        rc = SIGNET_E_NOMEM;
        goto out;
    }
    while (got < (size_t)st.st_size && (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
        got += (size_t)n;
    if (got != (size_t)st.st_size) {
        sg_detail(detail, "%s: short read", path);
        goto out;
    }
    buf[got] = 0;
    *out = buf;
    *out_len = got;
    buf = NULL;
    rc = SIGNET_OK;
out:
    free(buf);
    close(fd);
    return rc;
}

/* fsyncs the directory holding path so a rename in it is durable. */
static int sync_parent(const char *path)
{
    char *tmp = strdup(path);
    int fd, ok = 0;

    if (tmp == NULL)
        return 0;
    if ((fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        ok = fsync(fd) == 0;
        close(fd);
    }
    free(tmp);
    return ok;
}

enum signet_err sg_write_file(const char *path, const void *data, size_t len, unsigned mode,
                              char *detail)
{
    char tmp[4200];
    int fd = -1;
    size_t put = 0;
    ssize_t n;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        sg_detail(detail, "%s: path too long", path);
        return SIGNET_E_IO;
    }
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0)
        goto fail;
    if (fchmod(fd, mode) != 0)
        goto fail;
    while (put < len && (n = write(fd, (const char *)data + put, len - put)) > 0)
        put += (size_t)n;
    if (put != len || fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0 || !sync_parent(path))
        goto fail;
    return SIGNET_OK;
fail:
    sg_detail(detail, "%s: cannot write: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return SIGNET_E_IO;
}

enum signet_err sg_mkdirs(const char *path, unsigned mode, char *detail)
{
    char buf[4096];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf)) {
        sg_detail(detail, "bad directory path");
        return SIGNET_E_USAGE;
    }
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            goto fail;
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        goto fail;
    return SIGNET_OK;
fail:
    sg_detail(detail, "%s: cannot create directory: %s", buf, strerror(errno));
    return SIGNET_E_IO;
}
