/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store commit: the one committer thread and group commit.
 *
 * Writers enqueue (fn, arg) and sleep. The committer takes up to batch_max of them, opens one
 * write transaction, runs each fn in a nested transaction of its own (an fn that fails aborts
 * only its child), commits once, so one fsync serves the whole batch, and then wakes every writer
 * with its own result (each writer sleeps on its own condition variable). If the commit fails,
 * every writer of the batch gets that error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/*
 * A writer waiting for its write: each has its own condition variable, so a commit wakes the
 * writers of its batch and no other (one shared variable woke every waiting writer on every
 * commit, and on a busy CA most of them only went back to sleep).
 */
struct waiter {
    struct store_pending p; /* first: the queue holds &waiter.p */
    pthread_cond_t cv;
};

/* Adds us microseconds to the monotonic clock's now. */
static struct timespec deadline_after(unsigned us)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)(us % 1000000u) * 1000L;
    ts.tv_sec += us / 1000000u;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_nsec -= 1000000000L;
        ts.tv_sec++;
    }
    return ts;
}

/*
 * Waits (st->mu held) until writes are queued or the store stops, lingers up to batch_wait_us
 * for the batch to fill, and detaches up to batch_max writes. Returns the batch (NULL when
 * stopping with nothing left) and its size in *out_n.
 */
static struct store_pending *take_batch(struct store *st, size_t *out_n)
{
    struct store_pending *batch = NULL, *last = NULL;
    struct timespec until;
    size_t n = 0;

    while (st->head == NULL && !st->stopping)
        pthread_cond_wait(&st->work, &st->mu);
    if (st->batch_wait_us > 0 && !st->stopping && st->queued < st->batch_max) {
        until = deadline_after(st->batch_wait_us);
        while (st->queued < st->batch_max && !st->stopping &&
               pthread_cond_timedwait(&st->work, &st->mu, &until) != ETIMEDOUT)
            ;
    }
    batch = last = st->head;
    n = batch != NULL;
    while (last != NULL && last->next != NULL && n < st->batch_max) {
        last = last->next;
        n++;
    }
    if (last != NULL) {
        st->head = last->next;
        last->next = NULL;
        if (st->head == NULL)
            st->tail = NULL;
    }
    st->queued -= n;
    *out_n = n;
    return batch;
}

/* Runs one write in a child of parent; its result goes to p->rc. Returns 1 if it changed data. */
static int run_one(struct store *st, MDB_txn *parent, struct store_pending *p)
{
    struct store_txn t = {st, NULL};
    int rc = mdb_txn_begin(st->env, parent, 0, &t.txn);

    if (rc != 0) {
        p->rc = store_lmdb_err(st, rc, "starting a nested write", p->detail);
        return 0;
    }
    p->rc = p->fn(&t, p->arg, p->detail);
    if (p->rc != SIGNET_OK) {
        mdb_txn_abort(t.txn);
        return 0;
    }
    rc = mdb_txn_commit(t.txn);
    if (rc != 0) {
        p->rc = store_lmdb_err(st, rc, "merging a write into its batch", p->detail);
        return 0;
    }
    return 1;
}

/*
 * Runs a batch in one write transaction and commits it. Results are left in each pending
 * record; the writers are woken by the caller.
 */
static void run_batch(struct store *st, struct store_pending *batch)
{
    MDB_txn *txn = NULL;
    struct store_pending *p = NULL;
    enum signet_err err = SIGNET_OK;
    char cdetail[SIGNET_DETAIL_MAX] = "";
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn), changed = 0;

    if (rc != 0) {
        err = store_lmdb_err(st, rc, "starting a write transaction", cdetail);
        for (p = batch; p != NULL; p = p->next) {
            p->rc = err;
            sg_detail(p->detail, "%s", cdetail);
        }
        return;
    }
    for (p = batch; p != NULL; p = p->next)
        changed |= run_one(st, txn, p);
    if (!changed) {
        mdb_txn_abort(txn);
        return;
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        err = store_lmdb_err(st, rc, "committing a batch of writes", cdetail);
        for (p = batch; p != NULL; p = p->next) {
            if (p->rc == SIGNET_OK) {
                p->rc = err;
                sg_detail(p->detail, "%s", cdetail);
            }
        }
        return;
    }
    pthread_mutex_lock(&st->mu);
    st->commits++;
    pthread_mutex_unlock(&st->mu);
}

/* The committer thread: batches until the store stops and the queue is empty. */
static void *committer_main(void *arg)
{
    struct store *st = arg;
    struct store_pending *batch = NULL, *p = NULL;
    size_t n = 0;

    pthread_mutex_lock(&st->mu);
    for (;;) {
        batch = take_batch(st, &n);
        if (batch == NULL)
            break;
        pthread_mutex_unlock(&st->mu);
        run_batch(st, batch);
        pthread_mutex_lock(&st->mu);
        st->writes += n;
        if (n > st->batch_largest)
            st->batch_largest = n;
        for (p = batch; p != NULL;) {
            struct waiter *w = (struct waiter *)p;
            p = p->next; /* read first: the writer may return once it has st->mu again */
            w->p.done = 1;
            pthread_cond_signal(&w->cv);
        }
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

int store_committer_start(struct store *st)
{
    if (pthread_create(&st->committer, NULL, committer_main, st) != 0)
        return 0;
    st->committer_started = 1;
    return 1;
}

/* Asks the committer to finish what is queued and stop, and waits for it. */
void store_committer_stop(struct store *st)
{
    if (!st->committer_started)
        return;
    pthread_mutex_lock(&st->mu);
    st->stopping = 1;
    pthread_cond_signal(&st->work);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->committer, NULL);
    st->committer_started = 0;
}

/* See store.h. */
enum signet_err store_write(struct store *st, store_write_fn fn, void *arg, char *detail)
{
    struct waiter w;
    struct store_pending *p = &w.p;

    if (st == NULL || fn == NULL) {
        sg_detail(detail, "store_write without a store or a function");
        return SIGNET_E_USAGE;
    }
    if (st->read_only) {
        sg_detail(detail, "store %s is open read-only: writes go through the ca process", st->dir);
        return SIGNET_E_USAGE;
    }
    if (pthread_equal(pthread_self(), st->committer)) {
        sg_detail(detail, "store_write called from a write function: it would wait for itself");
        return SIGNET_E_INTERNAL;
    }
    memset(&w, 0, sizeof(w));
    p->fn = fn;
    p->arg = arg;
    p->detail = detail;
    pthread_cond_init(&w.cv, NULL);
    pthread_mutex_lock(&st->mu);
    if (st->stopping) {
        pthread_mutex_unlock(&st->mu);
        pthread_cond_destroy(&w.cv);
        sg_detail(detail, "store %s is closing", st->dir);
        return SIGNET_E_STORE;
    }
    if (st->tail != NULL)
        st->tail->next = p;
    else
        st->head = p;
    st->tail = p;
    st->queued++;
    pthread_cond_signal(&st->work);
    while (!p->done)
        pthread_cond_wait(&w.cv, &st->mu);
    pthread_mutex_unlock(&st->mu);
    pthread_cond_destroy(&w.cv);
    return p->rc;
}
