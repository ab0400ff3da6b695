/* SPDX-License-Identifier: Apache-2.0 */
/* store blocked keys: put, get, first record kept, bounds, survives reopening. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

struct fx {
    char dir[64];
    struct store *st;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char detail[SIGNET_DETAIL_MAX] = "";

    snprintf(f->dir, sizeof(f->dir), "/tmp/signet-blocked.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_open(f->dir, NULL, &f->st, detail), SIGNET_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    store_close(f->st);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

struct put_arg {
    const unsigned char *hash;
    int64_t since;
    const char *reason;
};

static enum signet_err put_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct put_arg *a = arg;
    return store_txn_blocked_key_put(txn, a->hash, a->since, a->reason, detail);
}

static void test_put_get(void **state)
{
    struct fx *f = *state;
    unsigned char h1[STORE_SPKI_HASH], h2[STORE_SPKI_HASH];
    struct store_blocked_key b;
    char detail[SIGNET_DETAIL_MAX] = "", longer[STORE_BLOCK_REASON_MAX + 1];
    struct put_arg a = {h1, 1700000000, "keyCompromise: serial 01 of issuing-1"};

    memset(h1, 0x11, sizeof(h1));
    memset(h2, 0x22, sizeof(h2));
    assert_int_equal(store_blocked_key_get(f->st, h1, &b, detail), SIGNET_E_NOTFOUND);
    assert_int_equal(store_write(f->st, put_fn, &a, detail), SIGNET_OK);
    memset(&b, 0, sizeof(b));
    assert_int_equal(store_blocked_key_get(f->st, h1, &b, detail), SIGNET_OK);
    assert_int_equal(b.since, 1700000000);
    assert_string_equal(b.reason, "keyCompromise: serial 01 of issuing-1");
    assert_int_equal(store_blocked_key_get(f->st, h2, NULL, detail), SIGNET_E_NOTFOUND);
    /* the first record stays */
    a.since = 1800000000;
    a.reason = "other";
    assert_int_equal(store_write(f->st, put_fn, &a, detail), SIGNET_OK);
    assert_int_equal(store_blocked_key_get(f->st, h1, &b, detail), SIGNET_OK);
    assert_int_equal(b.since, 1700000000);
    /* bounds on the reason */
    a.hash = h2;
    a.reason = "";
    assert_int_equal(store_write(f->st, put_fn, &a, detail), SIGNET_E_USAGE);
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    a.reason = longer;
    assert_int_equal(store_write(f->st, put_fn, &a, detail), SIGNET_E_USAGE);
    assert_int_equal(store_blocked_key_get(f->st, h2, NULL, detail), SIGNET_E_NOTFOUND);
    /* durable: seen after reopening */
    store_close(f->st);
    f->st = NULL;
    assert_int_equal(store_open(f->dir, NULL, &f->st, detail), SIGNET_OK);
    assert_int_equal(store_blocked_key_get(f->st, h1, &b, detail), SIGNET_OK);
    assert_string_equal(b.reason, "keyCompromise: serial 01 of issuing-1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
