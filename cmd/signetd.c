/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signetd: the online CA daemon. For now it loads signet.conf, logs in to the online token(s)
 * (never the root token), opens the store, and serves GET /healthz on a loopback address.
 * The enrollment API, CRLs and OCSP come with their issues; the process split of DESIGN.md
 * comes with enrollment.
 *
 *   signetd -c FILE [--listen ADDR:PORT] [--foreground]
 *
 * SIGTERM and SIGINT finish what is in flight and exit 0.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca.h"
#include "common.h"

#define DEFAULT_LISTEN   "127.0.0.1:8080"
#define HTTP_BODY_MAX    (64 * 1024) /* bytes of a request body */
#define HTTP_HEADERS_MAX (8 * 1024)  /* bytes of request headers */
#define HTTP_TIMEOUT_S   10          /* read and idle timeout */

struct daemon {
    struct ca_ctx *ca;
    struct event_base *base;
    struct evhttp *http;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: signetd -c FILE [--listen ADDR:PORT] [--foreground]\n");
}

/* Writes an RFC 7807 problem to the request and sends it. */
static void send_problem(struct evhttp_request *req, int status, const char *code,
                         const char *title, const char *detail)
{
    struct evbuffer *body = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    if (body == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    /* detail comes from our own messages; strip characters that would break the JSON string */
    char clean[SIGNET_DETAIL_MAX];
    size_t j = 0;
    for (size_t i = 0; detail[i] != '\0' && j + 1 < sizeof(clean); i++)
        if (detail[i] != '"' && detail[i] != '\\' && (unsigned char)detail[i] >= 0x20)
            clean[j++] = detail[i];
    clean[j] = '\0';
    evbuffer_add_printf(body,
                        "{\"type\":\"urn:signet:error:%s\",\"title\":\"%s\",\"status\":%d,"
                        "\"detail\":\"%s\"}\n",
                        code, title, status, clean);
    evhttp_add_header(h, "Content-Type", "application/problem+json");
    evhttp_send_reply(req, status, title, body);
    evbuffer_free(body);
}

/* GET /healthz: 200 when the HSM and the store are usable, 503 with the reasons otherwise. */
static void handle_healthz(struct evhttp_request *req, void *arg)
{
    struct daemon *d = arg;
    char detail[SIGNET_DETAIL_MAX] = "";
    struct evbuffer *body;
    enum signet_err rc;

    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
        evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        send_problem(req, 405, "badRequest", "Method Not Allowed", "use GET");
        return;
    }
    rc = ca_health(d->ca, detail);
    if (rc != SIGNET_OK) {
        sg_log(SG_LOG_WARN, "health: %s", detail);
        send_problem(req, 503, signet_err_name(rc), "Service Unavailable", detail);
        return;
    }
    if ((body = evbuffer_new()) == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evbuffer_add_printf(body, "ok\n");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    evhttp_send_reply(req, HTTP_OK, "OK", body);
    evbuffer_free(body);
}

static void handle_other(struct evhttp_request *req, void *arg)
{
    (void)arg;
    send_problem(req, 404, "notFound", "Not Found", "no such endpoint");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    (void)what;

    if (sig == SIGHUP) {
        sg_log(SG_LOG_INFO, "SIGHUP: configuration reload comes with the enrollment API");
        return;
    }
    sg_log(SG_LOG_INFO, "signal %d: finishing requests in flight, then exiting", (int)sig);
    event_base_loopexit(d->base, NULL);
}

/* Splits "ADDR:PORT" (IPv4, or [IPv6]:PORT). 1 = ok. */
static int parse_listen(const char *s, char *addr, size_t cap, unsigned short *port)
{
    const char *colon = strrchr(s, ':');
    uint64_t p;
    size_t alen;

    if (colon == NULL || !sg_parse_u64(colon + 1, 1, 65535, &p))
        return 0;
    alen = (size_t)(colon - s);
    if (alen >= 2 && s[0] == '[' && s[alen - 1] == ']') {
        s++;
        alen -= 2;
    }
    if (alen == 0 || alen >= cap)
        return 0;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    *port = (unsigned short)p;
    return 1;
}

/* Builds the HTTP server on base and binds it. Returns 1 on success. */
static int http_start(struct daemon *d, const char *listen)
{
    char addr[128];
    unsigned short port;

    if (!parse_listen(listen, addr, sizeof(addr), &port)) {
        sg_log(SG_LOG_ERR, "listen address '%s' is not ADDR:PORT (e.g. 127.0.0.1:8080)", listen);
        return 0;
    }
    if ((d->http = evhttp_new(d->base)) == NULL)
        return 0;
    evhttp_set_max_body_size(d->http, HTTP_BODY_MAX);
    evhttp_set_max_headers_size(d->http, HTTP_HEADERS_MAX);
    evhttp_set_timeout(d->http, HTTP_TIMEOUT_S);
    evhttp_set_allowed_methods(d->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
    evhttp_set_cb(d->http, "/healthz", handle_healthz, d);
    evhttp_set_gencb(d->http, handle_other, d);
    if (evhttp_bind_socket(d->http, addr, port) != 0) {
        sg_log(SG_LOG_ERR, "cannot listen on %s: %s", listen, strerror(errno));
        return 0;
    }
    sg_log(SG_LOG_INFO, "listening on http://%s", listen);
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"foreground", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *conf_path = getenv("SIGNET_CONF"), *listen = NULL;
    struct daemon d = {0};
    struct event *sigs[3] = {NULL, NULL, NULL};
    const int signums[3] = {SIGTERM, SIGINT, SIGHUP};
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;
    int c, status = 1;

    while ((c = getopt_long(argc, argv, "c:l:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            conf_path = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'f':
            break; /* signetd always runs in the foreground; a service manager supervises it */
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || conf_path == NULL) {
        usage(stderr);
        return 2;
    }
    sg_log_init("signetd", SG_LOG_INFO);
    sg_no_core_dumps(); /* this process holds the online token's credential */
    signal(SIGPIPE, SIG_IGN);

    rc = ca_ctx_open(conf_path, CA_OPEN_LOGIN_ONLINE, &d.ca, detail);
    if (rc != SIGNET_OK) {
        sg_log(SG_LOG_ERR, "cannot start: %s", detail);
        goto out;
    }
    if (listen == NULL)
        listen = sg_conf_get(ca_ctx_conf(d.ca), "daemon", "listen");
    if (listen == NULL)
        listen = DEFAULT_LISTEN;
    if ((d.base = event_base_new()) == NULL || !http_start(&d, listen))
        goto out;
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(d.base, signums[i], on_signal, &d);
        if (sigs[i] == NULL || event_add(sigs[i], NULL) != 0)
            goto out;
    }
    event_base_dispatch(d.base);
    sg_log(SG_LOG_INFO, "stopped");
    status = 0;
out:
    for (int i = 0; i < 3; i++)
        if (sigs[i] != NULL)
            event_free(sigs[i]);
    if (d.http != NULL)
        evhttp_free(d.http);
    if (d.base != NULL)
        event_base_free(d.base);
    ca_ctx_free(d.ca);
    return status;
}
