/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of common/: secrets and their sources, configuration, files, encodings, time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/signet-common.XXXXXX");
    return mkdtemp(tmpdir) == NULL;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd);
}

static void write_mode(const char *name, const char *text, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    assert_int_equal(sg_write_file(path, text, strlen(text), mode, NULL), SIGNET_OK);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_secret_file_mode(void **state)
{
    struct secret *s = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    write_mode("good.pin", "123456\n", 0600);
    assert_int_equal(secret_load("file:good.pin", tmpdir, "token x", &s, detail), SIGNET_OK);
    assert_int_equal(secret_len(s), 6);
    assert_memory_equal(secret_data(s), "123456", 6);
    secret_free(s);

    write_mode("open.pin", "123456\n", 0640);
    assert_int_equal(secret_load("file:open.pin", tmpdir, "token x", &s, detail), SIGNET_E_CONFIG);
    assert_null(s);
    assert_non_null(strstr(detail, "group or others"));
    assert_non_null(strstr(detail, "chmod 600"));
    /* the message never carries the secret itself */
    assert_null(strstr(detail, "123456"));
}

static void test_secret_env_and_bad_sources(void **state)
{
    struct secret *s = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    setenv("SIGNET_TEST_PIN", "abcd", 1);
    assert_int_equal(secret_load("env:SIGNET_TEST_PIN", NULL, NULL, &s, detail), SIGNET_OK);
    assert_int_equal(secret_len(s), 4);
    secret_free(s);
    unsetenv("SIGNET_TEST_PIN");
    assert_int_equal(secret_load("env:SIGNET_TEST_PIN", NULL, NULL, &s, detail), SIGNET_E_CONFIG);
    assert_int_equal(secret_load("pin:1234", NULL, NULL, &s, detail), SIGNET_E_CONFIG);
    assert_null(strstr(detail, "1234"));
    assert_int_equal(secret_load("quorum", NULL, NULL, &s, detail), SIGNET_E_CONFIG);
}

static void test_conf(void **state)
{
    struct sg_conf *c = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", path[256], **names = NULL;
    (void)state;

    write_mode("a.conf", "[signet]\nstore = store\n[ca.b]\nx=1\n[ca.a]\nx=2\n[token.t]\n", 0644);
    snprintf(path, sizeof(path), "%s/a.conf", tmpdir);
    assert_int_equal(sg_conf_load(path, &c, detail), SIGNET_OK);
    assert_string_equal(sg_conf_get(c, "signet", "store"), "store");
    assert_null(sg_conf_get(c, "signet", "missing"));
    assert_int_equal(sg_conf_sections(c, "ca.", &names), 2);
    assert_string_equal(names[0], "a");
    assert_string_equal(names[1], "b");
    assert_null(names[2]);
    sg_strv_free(names);
    char *p = sg_conf_path(c, "store");
    assert_string_equal(p + strlen(tmpdir), "/store");
    free(p);
    sg_conf_free(c);

    write_mode("bad.conf", "[signet\nstore = x\n", 0644);
    snprintf(path, sizeof(path), "%s/bad.conf", tmpdir);
    assert_int_equal(sg_conf_load(path, &c, detail), SIGNET_E_CONFIG);
    assert_non_null(strstr(detail, "bad.conf:1"));
}

static void test_read_bound(void **state)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    char path[256], detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    write_mode("big", "0123456789", 0644);
    snprintf(path, sizeof(path), "%s/big", tmpdir);
    assert_int_equal(sg_read_file(path, 9, &buf, &len, detail), SIGNET_E_INVALID);
    assert_null(buf);
    assert_int_equal(sg_read_file(path, 10, &buf, &len, detail), SIGNET_OK);
    assert_int_equal(len, 10);
    free(buf);
}

static void test_split_hex_time(void **state)
{
    size_t n = 0;
    char **v = sg_split_list(" a, b ,,c ", &n);
    unsigned char bin[4];
    char hex[9];
    int64_t t = 0, d = 0;
    (void)state;

    assert_int_equal(n, 3);
    assert_string_equal(v[0], "a");
    assert_string_equal(v[1], "b");
    assert_string_equal(v[2], "c");
    sg_strv_free(v);
    assert_int_equal(sg_hex_decode("00fFa1", bin, sizeof(bin)), 3);
    sg_hex_encode(bin, 3, hex);
    assert_string_equal(hex, "00ffa1");
    assert_int_equal(sg_hex_decode("0", bin, sizeof(bin)), -1);
    assert_int_equal(sg_hex_decode("0g", bin, sizeof(bin)), -1);
    assert_int_equal(sg_hex_decode("0011223344", bin, sizeof(bin)), -1);
    assert_true(sg_parse_time("2050-01-01T00:00:00Z", &t));
    assert_int_equal(t, 2524608000LL);
    assert_false(sg_parse_time("2050-01-01", &t));
    assert_true(sg_parse_duration("90d", &d));
    assert_int_equal(d, 90 * 86400);
    assert_false(sg_parse_duration("90", &d));
    assert_false(sg_parse_duration("-1d", &d));
    assert_false(sg_parse_duration("99999999999999999999d", &d));
}

/*
 * sg_prefault maps the whole pages of a fresh buffer ahead of the writes (mincore sees them
 * resident before anything touched them), leaves the partial pages at both ends alone, and
 * changes no byte. Kernels without MADV_POPULATE_WRITE (before 5.14) map nothing: skipped.
 */
static void test_prefault(void **state)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), len = 64 * pg, resident = 0;
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char vec[64];

    (void)state;
    assert_true(m != MAP_FAILED);
    if (madvise(m, pg, 23 /* MADV_POPULATE_WRITE */) != 0) {
        munmap(m, len);
        skip();
    }
    assert_int_equal(madvise(m, len, MADV_DONTNEED), 0);
    sg_prefault(m + 100, len - 200); /* pages 1..62 whole, 0 and 63 partial */
    assert_int_equal(mincore(m, len, vec), 0);
    for (size_t i = 0; i < 64; i++)
        resident += vec[i] & 1;
    assert_int_equal(resident, 62);
    assert_false(vec[0] & 1);
    assert_false(vec[63] & 1);
    for (size_t i = 0; i < len; i += 997)
        assert_int_equal(m[i], 0);
    sg_prefault(NULL, len); /* nothing to do, no crash */
    sg_prefault(m, 0);
    munmap(m, len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_file_mode),
        cmocka_unit_test(test_secret_env_and_bad_sources),
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_read_bound),
        cmocka_unit_test(test_split_hex_time),
        cmocka_unit_test(test_prefault),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
