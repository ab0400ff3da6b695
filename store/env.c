/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store env: opening and closing the LMDB environment, its named databases and schema version,
 * the refusal of unsafe flags, and the translation of LMDB codes into signet errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#define DEFAULT_MAP_SIZE  ((size_t)1 << 30)
#define DEFAULT_BATCH_MAX 256u
#define MIB               ((size_t)1 << 20)

/* Flags that would let a commit return before its data is on disk, or forbid nested txns. */
#define UNSAFE_FLAGS (MDB_NOSYNC | MDB_NOMETASYNC | MDB_MAPASYNC | MDB_WRITEMAP | MDB_NOLOCK)
/* Flags a caller may add through store_options.lmdb_flags (unsafe ones pass, to be refused). */
#define CALLER_FLAGS (MDB_NORDAHEAD | MDB_NOMEMINIT | UNSAFE_FLAGS)

static const char *const db_names[STORE_DB_MAX] = {
    "meta", "ca", "cert", "expiry", "revoked", "ocsp", "crl", "blocked_key", "audit",
};

/*
 * Maps an LMDB code to a signet error and fills detail; see internal.h. MDB_MAP_FULL names the
 * map's size and the signet.conf option that grows it.
 */
enum signet_err store_lmdb_err(struct store *st, int rc, const char *what, char *detail)
{
    MDB_envinfo info;
    size_t size = 0;
    const char *unit = NULL;

    switch (rc) {
    case MDB_SUCCESS:
        return SIGNET_OK;
    case MDB_MAP_FULL:
        memset(&info, 0, sizeof(info));
        if (st != NULL && st->env != NULL)
            mdb_env_info(st->env, &info);
        size = info.me_mapsize >= MIB ? info.me_mapsize / MIB : info.me_mapsize / 1024;
        unit = info.me_mapsize >= MIB ? "MiB" : "KiB";
        sg_detail(detail,
                  "%s: the store %s is full at %zu %s; set a larger map in signet.conf, "
                  "[signet] store_map_size = %zu (twice the size), and restart",
                  what, st ? st->dir : "", size, unit, info.me_mapsize * 2);
        return SIGNET_E_STORE_FULL;
    case MDB_NOTFOUND:
        sg_detail(detail, "%s: not found", what);
        return SIGNET_E_NOTFOUND;
    case MDB_KEYEXIST:
        sg_detail(detail, "%s: already exists", what);
        return SIGNET_E_EXISTS;
    case ENOMEM:
        sg_detail(detail, "%s: out of memory", what);
        return SIGNET_E_NOMEM;
    default:
        sg_detail(detail, "%s: store %s: %s", what, st ? st->dir : "", mdb_strerror(rc));
        return SIGNET_E_STORE;
    }
}

/* Names the unsafe flags set in flags into buf, e.g. "MDB_NOSYNC MDB_WRITEMAP". */
static void unsafe_names(unsigned flags, char *buf, size_t cap)
{
    static const struct {
        unsigned flag;
        const char *name;
    } tab[] = {{MDB_NOSYNC, "MDB_NOSYNC"},
               {MDB_NOMETASYNC, "MDB_NOMETASYNC"},
               {MDB_MAPASYNC, "MDB_MAPASYNC"},
               {MDB_WRITEMAP, "MDB_WRITEMAP"},
               {MDB_NOLOCK, "MDB_NOLOCK"}};
    size_t off = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        if ((flags & tab[i].flag) && off < cap)
            off += (size_t)snprintf(buf + off, cap - off, "%s%s", off ? " " : "", tab[i].name);
    }
}

/*
 * Reads the schema version in meta within txn; writes it when the store is new and writable.
 * Refuses a newer version (SIGNET_E_CONFIG, naming the Signet release that wrote it).
 */
static enum signet_err check_schema(struct store *st, MDB_txn *txn, char *detail)
{
    MDB_val k = {strlen(STORE_META_SCHEMA), STORE_META_SCHEMA}, v = {0, NULL};
    MDB_val sk = {strlen(STORE_META_SIGNET), STORE_META_SIGNET}, sv = {0, NULL};
    unsigned char buf[4];
    char who[STORE_META_NAME_MAX] = "a newer release";
    uint32_t version = 0;
    int rc = mdb_get(txn, st->dbi[STORE_DB_META], &k, &v);

    if (rc == MDB_NOTFOUND && st->read_only) {
        sg_detail(detail, "%s is not an initialised Signet store (no schema version)", st->dir);
        return SIGNET_E_NOTFOUND;
    }
    if (rc == MDB_NOTFOUND) {
        store_put_u32(buf, STORE_SCHEMA_VERSION);
        v.mv_data = buf;
        v.mv_size = sizeof(buf);
        sv.mv_data = STORE_SIGNET_VERSION;
        sv.mv_size = strlen(STORE_SIGNET_VERSION);
        rc = mdb_put(txn, st->dbi[STORE_DB_META], &k, &v, 0);
        if (rc == 0)
            rc = mdb_put(txn, st->dbi[STORE_DB_META], &sk, &sv, 0);
        return store_lmdb_err(st, rc, "writing the schema version", detail);
    }
    if (rc != 0)
        return store_lmdb_err(st, rc, "reading the schema version", detail);
    if (v.mv_size != 4) {
        sg_detail(detail, "store %s: the schema version record is corrupt", st->dir);
        return SIGNET_E_STORE;
    }
    version = store_get_u32(v.mv_data);
    if (version > STORE_SCHEMA_VERSION) {
        if (mdb_get(txn, st->dbi[STORE_DB_META], &sk, &sv) == 0 && sv.mv_size > 0 &&
            sv.mv_size < sizeof(who) && memchr(sv.mv_data, '\0', sv.mv_size) == NULL)
            snprintf(who, sizeof(who), "Signet %.*s", (int)sv.mv_size, (char *)sv.mv_data);
        sg_detail(detail,
                  "store %s has schema version %u but this Signet (%s) reads up to version %u: "
                  "it was written by %s; run that version of Signet or later",
                  st->dir, version, STORE_SIGNET_VERSION, STORE_SCHEMA_VERSION, who);
        return SIGNET_E_CONFIG;
    }
    if (version < 1) {
        sg_detail(detail, "store %s: schema version %u is not one Signet ever wrote", st->dir,
                  version);
        return SIGNET_E_STORE;
    }
    return SIGNET_OK;
}

/* Opens (creating unless read-only) every named database and checks the schema in one txn. */
static enum signet_err open_dbs(struct store *st, char *detail)
{
    MDB_txn *txn = NULL;
    enum signet_err err = SIGNET_OK;
    int rc = mdb_txn_begin(st->env, NULL, st->read_only ? MDB_RDONLY : 0, &txn);
    char what[64];

    if (rc != 0)
        return store_lmdb_err(st, rc, "opening the store", detail);
    for (int i = 0; i < STORE_DB_MAX; i++) {
        rc = mdb_dbi_open(txn, db_names[i], st->read_only ? 0 : MDB_CREATE, &st->dbi[i]);
        if (rc == MDB_NOTFOUND) {
            sg_detail(detail, "store %s has no '%s' database: not a Signet store, or damaged",
                      st->dir, db_names[i]);
            err = SIGNET_E_STORE;
            goto out;
        }
        if (rc != 0) {
            snprintf(what, sizeof(what), "opening database '%s'", db_names[i]);
            err = store_lmdb_err(st, rc, what, detail);
            goto out;
        }
    }
    /* the approval queue's database (request.c); absent from a read-only older store */
    err = store_request_open_db(st, txn, detail);
    if (err == SIGNET_OK)
        err = check_schema(st, txn, detail);
    if (err != SIGNET_OK)
        goto out;
    /* committing keeps the database handles, also for a read-only txn */
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0)
        err = store_lmdb_err(st, rc, "creating the store's databases", detail);
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return err;
}

/*
 * Creates and opens the environment: refuses unsupported flags before opening and unsafe ones
 * after (what mdb_env_get_flags reports is what counts), then clears stale reader slots.
 */
static enum signet_err open_env(struct store *st, const struct store_options *o, char *detail)
{
    unsigned flags = MDB_NOTLS | (st->read_only ? MDB_RDONLY : 0) | o->lmdb_flags;
    unsigned got = 0;
    int rc = 0, dead = 0;
    char names[128];

    if (o->lmdb_flags & ~(unsigned)CALLER_FLAGS) {
        sg_detail(detail, "store %s: lmdb_flags 0x%x are not supported", st->dir,
                  o->lmdb_flags & ~(unsigned)CALLER_FLAGS);
        return SIGNET_E_USAGE;
    }
    if ((rc = mdb_env_create(&st->env)) != 0 ||
        (rc = mdb_env_set_maxdbs(st->env, STORE_DB_MAX + STORE_DBS_EXTRA)) != 0 ||
        (rc = mdb_env_set_mapsize(st->env, o->map_size ? o->map_size : DEFAULT_MAP_SIZE)) != 0 ||
        (rc = mdb_env_open(st->env, st->dir, flags, 0600)) != 0)
        return store_lmdb_err(st, rc, "opening the store", detail);
    if ((rc = mdb_env_get_flags(st->env, &got)) != 0)
        return store_lmdb_err(st, rc, "reading the store's flags", detail);
    if (got & UNSAFE_FLAGS) {
        unsafe_names(got, names, sizeof(names));
        sg_detail(detail,
                  "store %s would be opened with %s: a write could be reported durable before it "
                  "is on disk (or nested transactions are impossible); refusing",
                  st->dir, names);
        return SIGNET_E_CONFIG;
    }
    rc = mdb_reader_check(st->env, &dead);
    if (rc != 0)
        return store_lmdb_err(st, rc, "clearing stale readers", detail);
    if (dead > 0)
        sg_log(SG_LOG_INFO, "store %s: cleared %d stale reader slot(s) of exited processes",
               st->dir, dead);
    return SIGNET_OK;
}

/* Prepares the directory: created when writable, required to hold data.mdb when read-only. */
static enum signet_err prepare_dir(struct store *st, char *detail)
{
    char path[4200];
    struct stat sb;

    if (!st->read_only)
        return sg_mkdirs(st->dir, 0700, detail);
    snprintf(path, sizeof(path), "%s/data.mdb", st->dir);
    if (stat(path, &sb) != 0) {
        sg_detail(detail, "no store at %s (%s): create one first (signet demo init)", st->dir,
                  strerror(errno));
        return SIGNET_E_NOTFOUND;
    }
    return SIGNET_OK;
}

/* Initialises the queue's lock and conditions; the committer's waits use the monotonic clock. */
static int init_sync(struct store *st)
{
    pthread_condattr_t ca;
    int ok = 0;

    if (pthread_condattr_init(&ca) != 0)
        return 0;
    ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
         pthread_mutex_init(&st->mu, NULL) == 0 && pthread_cond_init(&st->work, &ca) == 0 &&
         pthread_cond_init(&st->done, NULL) == 0;
    pthread_condattr_destroy(&ca);
    return ok;
}

/* See store.h. */
enum signet_err store_open(const char *dir, const struct store_options *opts, struct store **out,
                           char *detail)
{
    struct store_options o = {0};
    struct store *st = NULL;
    enum signet_err err = SIGNET_E_NOMEM;

    *out = NULL;
    if (opts != NULL)
        o = *opts;
    if (dir == NULL || dir[0] == '\0' || strlen(dir) >= sizeof(st->dir)) {
        sg_detail(detail, "store directory missing or too long");
        return SIGNET_E_USAGE;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL || !init_sync(st)) {
        free(st);
        sg_detail(detail, "store %s: out of memory", dir);
        return SIGNET_E_NOMEM;
    }
    snprintf(st->dir, sizeof(st->dir), "%s", dir);
    st->read_only = o.read_only != 0;
    st->batch_max = o.batch_max ? o.batch_max : DEFAULT_BATCH_MAX;
    st->batch_wait_us = o.batch_wait_us;
    if ((err = prepare_dir(st, detail)) != SIGNET_OK || (err = open_env(st, &o, detail)) ||
        (err = open_dbs(st, detail)) != SIGNET_OK)
        goto out;
    if (!st->read_only && !store_committer_start(st)) {
        sg_detail(detail, "store %s: cannot start the committer thread", dir);
        err = SIGNET_E_INTERNAL;
        goto out;
    }
    *out = st;
    st = NULL;
out:
    store_close(st);
    return err;
}

/* See store.h. Pending writes are committed before the committer stops. */
void store_close(struct store *st)
{
    if (st == NULL)
        return;
    store_committer_stop(st);
    if (st->env != NULL)
        mdb_env_close(st->env);
    pthread_cond_destroy(&st->done);
    pthread_cond_destroy(&st->work);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* See store.h. */
void store_stats(struct store *st, struct store_stats *out)
{
    MDB_envinfo info;
    MDB_stat ms;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&st->mu);
    out->commits = st->commits;
    out->writes = st->writes;
    out->batch_max = st->batch_largest;
    pthread_mutex_unlock(&st->mu);
    if (mdb_env_info(st->env, &info) == 0 && mdb_env_stat(st->env, &ms) == 0) {
        out->map_size = info.me_mapsize;
        out->map_used = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
    }
}

const char *store_cert_state_name(enum store_cert_state s)
{
    switch (s) {
    case STORE_CERT_PENDING:
        return "pending";
    case STORE_CERT_ISSUED:
        return "issued";
    case STORE_CERT_REVOKED:
        return "revoked";
    }
    return "unknown";
}

void store_ca_free(struct store_ca *ca)
{
    if (ca == NULL)
        return;
    free(ca->cert_der);
    free(ca);
}

void store_cert_free(struct store_cert *c)
{
    if (c == NULL)
        return;
    free(c->der);
    free(c);
}

void store_ca_list_free(struct store_ca *list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i].cert_der);
    free(list);
}
