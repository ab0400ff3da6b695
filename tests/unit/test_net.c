/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unit_net: the bounded JSON reader (valid documents, hostile ones, limits), JSON quoting, the
 * encodings of the process split (frame headers, issuance request and answer, text answers,
 * clients: every truncation, every oversize, trailing bytes), and sd_notify's datagram.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "net.h"

static const struct net_json_limits lim = {4, 1024, 16, 64};

static struct net_json *parse_ok(const char *s)
{
    struct net_json *j = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";

    if (!net_json_parse(s, strlen(s), &lim, &j, detail))
        fail_msg("refused %s: %s", s, detail);
    return j;
}

/* Refused, and the detail names a byte offset. */
static void refused(const char *s, size_t len)
{
    struct net_json *j = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";

    if (net_json_parse(s, len, &lim, &j, detail)) {
        net_json_free(j);
        fail_msg("accepted hostile input %.60s", s);
    }
    assert_null(j);
    assert_non_null(strstr(detail, "JSON"));
}

static void test_json_valid(void **state)
{
    struct net_json *j;
    size_t n;
    (void)state;

    j = parse_ok(" {\"csr\": \"a\\nb\\u00e9\\ud83d\\ude00\", \"n\": -1.5e3, \"a\": [true, false, "
                 "null], \"o\": {}} ");
    assert_int_equal(net_json_type(j), NET_JSON_OBJECT);
    assert_int_equal(net_json_count(j), 4);
    assert_string_equal(net_json_string(net_json_get(j, "csr"), &n),
                        "a\nb\xc3\xa9\xf0\x9f\x98\x80");
    assert_int_equal(n, 9);
    assert_string_equal(net_json_number_text(net_json_get(j, "n")), "-1.5e3");
    assert_int_equal(net_json_count(net_json_get(j, "a")), 3);
    assert_int_equal(net_json_type(net_json_at(net_json_get(j, "a"), 1)), NET_JSON_FALSE);
    assert_string_equal(net_json_key_at(j, 3), "o");
    assert_null(net_json_get(j, "missing"));
    assert_null(net_json_string(net_json_get(j, "n"), NULL));
    net_json_free(j);
    j = parse_ok("\"\xe2\x82\xac\"");
    assert_string_equal(net_json_string(j, NULL), "\xe2\x82\xac");
    net_json_free(j);
    net_json_free(NULL);
}

static void test_json_hostile(void **state)
{
    static const char *const bad[] = {
        "",
        " ",
        "{",
        "{\"a\":1,}",
        "[1,]",
        "{\"a\" 1}",
        "{a:1}",
        "{\"a\":1,\"a\":2}", /* duplicate key */
        "{\"a\":\"x\",\"b\":{\"a\":1},\"a\":\"y\"}",
        "\"\\u0000\"", /* NUL in a string */
        "\"\\ud800\"", /* unpaired high surrogate */
        "\"\\udc00\"", /* lone low surrogate */
        "\"\\ud800\\u0041\"",
        "\"\\x41\"", /* unknown escape */
        "\"\\u12G4\"",
        "\"abc",                /* unterminated */
        "\"a\tb\"",             /* raw control character */
        "\"\xc0\xaf\"",         /* overlong '/' */
        "\"\xe0\x80\xaf\"",     /* overlong */
        "\"\xed\xa0\x80\"",     /* UTF-8 surrogate */
        "\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
        "\"\xff\"",
        "\"\xe2\x82\"", /* truncated sequence */
        "01",
        "-",
        "1.",
        "1e",
        "+1",
        ".5",
        "tru",
        "nul",
        "{} {}",          /* trailing bytes */
        "[[[[[1]]]]]",    /* deeper than 4 */
        "\xef\xbb\xbf{}", /* BOM */
    };
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        refused(bad[i], strlen(bad[i]));
    refused("{\"a\":\"b\"}\0", 10); /* an embedded NUL after the value */
    refused("\"a\0b\"", 5);
}

static void test_json_limits(void **state)
{
    char *s = malloc(4096);
    size_t n = 0;
    (void)state;

    /* a string one byte over max_string */
    s[n++] = '"';
    memset(s + n, 'a', 1025);
    n += 1025;
    s[n++] = '"';
    refused(s, n);
    /* exactly max_string is fine */
    n = 0;
    s[n++] = '"';
    memset(s + n, 'a', 1024);
    n += 1024;
    s[n++] = '"';
    s[n] = '\0';
    net_json_free(parse_ok(s));
    /* 17 members in one object */
    n = (size_t)sprintf(s, "{");
    for (int i = 0; i < 17; i++)
        n += (size_t)sprintf(s + n, "%s\"k%d\":1", i ? "," : "", i);
    n += (size_t)sprintf(s + n, "}");
    refused(s, n);
    /* 65 values in total (nodes), each container within its member limit */
    n = (size_t)sprintf(s, "[");
    for (int i = 0; i < 8; i++) {
        n += (size_t)sprintf(s + n, "%s[", i ? "," : "");
        for (int k = 0; k < 8; k++)
            n += (size_t)sprintf(s + n, "%s1", k ? "," : "");
        n += (size_t)sprintf(s + n, "]");
    }
    n += (size_t)sprintf(s + n, "]");
    refused(s, n);
    /* deep nesting: refused at the depth bound, not by running out of stack */
    memset(s, '[', 4000);
    refused(s, 4000);
    free(s);
}

static void test_json_quote(void **state)
{
    char *q;
    (void)state;

    q = net_json_quote("a\"b\\c\nd\x01\x7f", 9);
    assert_string_equal(q, "\"a\\\"b\\\\c\\nd\\u0001\\u007f\"");
    free(q);
    q = net_json_quote("\xff\xc3\xa9\xe2\x80\xa8", 6); /* invalid byte, é, U+2028 */
    assert_string_equal(q, "\"\xef\xbf\xbd\xc3\xa9\\u2028\"");
    free(q);
    q = net_json_quote("x\0y", 3);
    assert_string_equal(q, "\"x\\u0000y\"");
    free(q);
}

/* What net_json_quote writes always reads back as the same text (valid input) */
static void test_json_roundtrip(void **state)
{
    const char *in = "line1\nline2\t\"quoted\" \\ \xc3\xa9 \xf0\x9f\x98\x80 \x1f";
    char *q = net_json_quote(in, strlen(in));
    struct net_json *j = parse_ok(q);
    (void)state;

    assert_string_equal(net_json_string(j, NULL), in);
    net_json_free(j);
    free(q);
}

static void test_issue_codec(void **state)
{
    struct net_issue_req *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    unsigned char *buf = malloc(sizeof(*a));
    size_t n;
    (void)state;

    strcpy(a->ca, "issuing-1");
    strcpy(a->profile, "tls-server");
    strcpy(a->requester, "client:demo");
    a->csr_len = 5;
    memcpy(a->csr, "hello", 5);
    n = net_issue_req_encode(a, buf, sizeof(*a));
    assert_true(n > 0);
    assert_int_equal(net_issue_req_decode(buf, n, b), 1);
    assert_string_equal(b->ca, "issuing-1");
    assert_string_equal(b->profile, "tls-server");
    assert_string_equal(b->requester, "client:demo");
    assert_int_equal(b->csr_len, 5);
    assert_memory_equal(b->csr, "hello", 5);
    /* every truncation and an extra byte are refused */
    for (size_t k = 0; k < n; k++)
        assert_int_equal(net_issue_req_decode(buf, k, b), 0);
    buf[n] = 0;
    assert_int_equal(net_issue_req_decode(buf, n + 1, b), 0);
    /* a string length beyond its field, and a NUL inside a string */
    buf[0] = 0xff;
    assert_int_equal(net_issue_req_decode(buf, n, b), 0);
    buf[0] = 9;
    buf[3] = '\0';
    assert_int_equal(net_issue_req_decode(buf, n, b), 0);
    /* too small an output buffer */
    assert_int_equal(net_issue_req_encode(a, buf, 10), 0);
    free(a);
    free(b);
    free(buf);
}

static void test_frame_header(void **state)
{
    unsigned char h[NET_FRAME_HDR];
    enum net_msg type;
    uint32_t id;
    size_t len;
    (void)state;

    net_frame_header(h, NET_MSG_ISSUE, 0x01020304u, 100);
    assert_memory_equal(h, "\x00\x00\x00\x69\x05\x01\x02\x03\x04", NET_FRAME_HDR);
    assert_int_equal(net_frame_parse_header(h, &type, &id, &len), 1);
    assert_int_equal(type, NET_MSG_ISSUE);
    assert_int_equal(id, 0x01020304u);
    assert_int_equal(len, 100);
    /* the largest payload, and one byte more */
    net_frame_header(h, NET_MSG_HELLO, 0, NET_FRAME_PAYLOAD);
    assert_int_equal(net_frame_parse_header(h, &type, &id, &len), 1);
    assert_int_equal(len, NET_FRAME_PAYLOAD);
    net_frame_header(h, NET_MSG_HELLO, 0, NET_FRAME_PAYLOAD + 1);
    assert_int_equal(net_frame_parse_header(h, &type, &id, &len), 0);
    /* lengths too small for type and id, huge ones, unknown types */
    for (uint32_t n = 0; n < 5; n++) {
        h[0] = h[1] = h[2] = 0, h[3] = (unsigned char)n;
        assert_int_equal(net_frame_parse_header(h, &type, &id, &len), 0);
    }
    memcpy(h, "\xff\xff\xff\xff\x01\0\0\0\0", NET_FRAME_HDR);
    assert_int_equal(net_frame_parse_header(h, &type, &id, &len), 0);
    net_frame_header(h, NET_MSG_HELLO, 0, 0);
    h[4] = 0;
    assert_int_equal(net_frame_parse_header(h, &type, &id, &len), 0);
    h[4] = NET_MSG_MAX;
    assert_int_equal(net_frame_parse_header(h, &type, &id, &len), 0);
}

static void test_issue_resp_codec(void **state)
{
    struct net_issue_resp *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    unsigned char *buf = malloc(NET_FRAME_PAYLOAD);
    size_t n;
    (void)state;

    a->err = SIGNET_OK;
    strcpy(a->ca, "issuing-1");
    strcpy(a->serial, "0a1b2c");
    strcpy(a->detail, "fine");
    a->not_after = 4102444800LL;
    a->der_len = 3;
    memcpy(a->der, "\x30\x01\x00", 3);
    n = net_issue_resp_encode(a, buf, NET_FRAME_PAYLOAD);
    assert_true(n > 0);
    assert_int_equal(net_issue_resp_decode(buf, n, b), 1);
    assert_int_equal(b->err, SIGNET_OK);
    assert_int_equal(b->forbidden, 0);
    assert_string_equal(b->ca, "issuing-1");
    assert_string_equal(b->serial, "0a1b2c");
    assert_string_equal(b->detail, "fine");
    assert_true(b->not_after == 4102444800LL);
    assert_int_equal(b->der_len, 3);
    assert_memory_equal(b->der, "\x30\x01\x00", 3);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(net_issue_resp_decode(buf, k, b), 0);
    buf[n] = 0;
    assert_int_equal(net_issue_resp_decode(buf, n + 1, b), 0);
    /* an error code out of range, a forbidden flag other than 0/1 */
    buf[0] = SIGNET_E_MAX;
    assert_int_equal(net_issue_resp_decode(buf, n, b), 0);
    buf[0] = 0, buf[4] = 2;
    assert_int_equal(net_issue_resp_decode(buf, n, b), 0);
    buf[4] = 0;
    /* a certificate length beyond NET_CERT_MAX */
    a->der_len = NET_CERT_MAX + 1;
    assert_int_equal(net_issue_resp_encode(a, buf, NET_FRAME_PAYLOAD), 0);
    a->der_len = 3;
    n = net_issue_resp_encode(a, buf, NET_FRAME_PAYLOAD);
    buf[n - 5] = 0xff, buf[n - 6] = 0xff; /* der_len's high bytes */
    assert_int_equal(net_issue_resp_decode(buf, n, b), 0);
    /* forbidden survives, and an output buffer too small is refused */
    a->err = SIGNET_E_POLICY, a->forbidden = 1;
    n = net_issue_resp_encode(a, buf, NET_FRAME_PAYLOAD);
    assert_int_equal(net_issue_resp_decode(buf, n, b), 1);
    assert_int_equal(b->err, SIGNET_E_POLICY);
    assert_int_equal(b->forbidden, 1);
    assert_int_equal(net_issue_resp_encode(a, buf, n - 1), 0);
    free(a);
    free(b);
    free(buf);
}

static void test_text_codec(void **state)
{
    unsigned char *buf = malloc(NET_TEXT_MAX + 64);
    char *text = malloc(NET_TEXT_MAX + 2), *big = malloc(NET_TEXT_MAX + 2);
    enum signet_err e;
    size_t n;
    (void)state;

    n = net_text_encode(SIGNET_E_HSM_UNAVAILABLE, "token signet-online: down", buf, 64);
    assert_true(n > 0);
    assert_int_equal(net_text_decode(buf, n, &e, text, NET_TEXT_MAX + 1), 1);
    assert_int_equal(e, SIGNET_E_HSM_UNAVAILABLE);
    assert_string_equal(text, "token signet-online: down");
    for (size_t k = 0; k < n; k++)
        assert_int_equal(net_text_decode(buf, k, &e, text, NET_TEXT_MAX + 1), 0);
    assert_int_equal(net_text_decode(buf, n + 1, &e, text, NET_TEXT_MAX + 1), 0);
    /* a text longer than the caller's buffer, a NUL inside, an unknown error code */
    assert_int_equal(net_text_decode(buf, n, &e, text, 8), 0);
    buf[10] = '\0';
    assert_int_equal(net_text_decode(buf, n, &e, text, NET_TEXT_MAX + 1), 0);
    n = net_text_encode(SIGNET_OK, "ok", buf, 64);
    buf[0] = SIGNET_E_MAX;
    assert_int_equal(net_text_decode(buf, n, &e, text, NET_TEXT_MAX + 1), 0);
    /* exactly NET_TEXT_MAX bytes pass; one more does not */
    memset(big, 'x', NET_TEXT_MAX + 1);
    big[NET_TEXT_MAX] = '\0';
    n = net_text_encode(SIGNET_OK, big, buf, NET_TEXT_MAX + 64);
    assert_true(n > 0);
    assert_int_equal(net_text_decode(buf, n, &e, text, NET_TEXT_MAX + 1), 1);
    big[NET_TEXT_MAX] = 'x', big[NET_TEXT_MAX + 1] = '\0';
    assert_int_equal(net_text_encode(SIGNET_OK, big, buf, NET_TEXT_MAX + 64), 0);
    buf[4] = buf[5] = buf[6] = 0xff; /* a length claimed beyond NET_TEXT_MAX */
    assert_int_equal(net_text_decode(buf, n, &e, text, NET_TEXT_MAX + 1), 0);
    free(buf);
    free(text);
    free(big);
}

static void test_client_msg_codec(void **state)
{
    struct net_client_msg *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    unsigned char *buf = malloc(sizeof(*a) + 16);
    size_t n;
    (void)state;

    strcpy(a->name, "demo");
    memset(a->hash, 0xab, sizeof(a->hash));
    strcpy(a->profiles, "tls-server,tls-client");
    memset(a->spki, 0x5c, sizeof(a->spki));
    a->has_spki = 1;
    n = net_client_msg_encode(a, buf, sizeof(*a) + 16);
    assert_true(n > 0);
    assert_int_equal(net_client_msg_decode(buf, n, b), 1);
    assert_string_equal(b->name, "demo");
    assert_memory_equal(b->hash, a->hash, sizeof(a->hash));
    assert_string_equal(b->profiles, "tls-server,tls-client");
    /* the TLS client certificate's SPKI hash crosses to the web process */
    assert_int_equal(b->has_spki, 1);
    assert_memory_equal(b->spki, a->spki, sizeof(a->spki));
    buf[n - 33] = 2; /* has_spki is 0 or 1 */
    assert_int_equal(net_client_msg_decode(buf, n, b), 0);
    buf[n - 33] = 1;
    for (size_t k = 0; k < n; k++)
        assert_int_equal(net_client_msg_decode(buf, k, b), 0);
    buf[n] = 'x';
    assert_int_equal(net_client_msg_decode(buf, n + 1, b), 0);
    /* a name length beyond its field, and an empty name */
    buf[1] = 0x01;
    assert_int_equal(net_client_msg_decode(buf, n, b), 0);
    buf[1] = 0;
    buf[0] = 0;
    assert_int_equal(net_client_msg_decode(buf, n, b), 0);
    /* unterminated fields are not encoded */
    memset(a->name, 'n', sizeof(a->name));
    assert_int_equal(net_client_msg_encode(a, buf, sizeof(*a) + 16), 0);
    free(a);
    free(b);
    free(buf);
}

static void test_sd_notify(void **state)
{
    char dir[] = "/tmp/signet-notify.XXXXXX", path[128], got[64];
    struct sockaddr_un sa = {0};
    int fd;
    ssize_t n;
    (void)state;

    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(net_sd_notify("READY=1"), 0);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/notify", dir);
    fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(net_sd_notify("READY=1"), 1);
    n = recv(fd, got, sizeof(got) - 1, 0);
    assert_int_equal(n, 7);
    got[n] = '\0';
    assert_string_equal(got, "READY=1");
    unsetenv("NOTIFY_SOCKET");
    close(fd);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_valid),     cmocka_unit_test(test_json_hostile),
        cmocka_unit_test(test_json_limits),    cmocka_unit_test(test_json_quote),
        cmocka_unit_test(test_json_roundtrip), cmocka_unit_test(test_issue_codec),
        cmocka_unit_test(test_frame_header),   cmocka_unit_test(test_issue_resp_codec),
        cmocka_unit_test(test_text_codec),     cmocka_unit_test(test_client_msg_codec),
        cmocka_unit_test(test_sd_notify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
