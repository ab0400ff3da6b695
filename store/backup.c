/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store backup: a consistent, compacted copy of the live environment (mdb_env_copy2 with
 * MDB_CP_COMPACT). The copy runs in one read transaction, so the committer keeps writing while
 * it runs and the copy is the store as of the moment the copy began.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* 1 when dir exists and holds no entry but . and .. */
static int dir_empty(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int empty = 1;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = 0;
    closedir(d);
    return empty;
}

enum signet_err store_backup_copy(struct store *st, const char *dest_dir, char *detail)
{
    int rc;

    if (st == NULL || dest_dir == NULL) {
        sg_detail(detail, "store backup: no store or no destination");
        return SIGNET_E_USAGE;
    }
    if (!dir_empty(dest_dir)) {
        sg_detail(detail, "store backup: %s must be an existing empty directory", dest_dir);
        return SIGNET_E_EXISTS;
    }
    if ((rc = mdb_env_copy2(st->env, dest_dir, MDB_CP_COMPACT)) != MDB_SUCCESS) {
        sg_detail(detail, "store backup: copying %s to %s: %s", st->dir, dest_dir,
                  mdb_strerror(rc));
        return SIGNET_E_STORE;
    }
    return SIGNET_OK;
}
