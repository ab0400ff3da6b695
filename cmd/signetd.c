/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signetd: the online CA daemon. Loads signet.conf, logs in to the online token(s) (never the
 * root token), opens the store, and serves the HTTP API of SPEC.md through net/ (docs/api.md).
 *
 *   signetd -c FILE [--listen ADDR:PORT] [--foreground]
 *
 * [daemon] keys: listen, workers, max_connections, timeout (seconds), clients.
 * SIGTERM and SIGINT finish what is in flight and exit 0; SIGHUP reloads the clients (and checks
 * the profiles: see reload()). Under systemd (Type=notify) it reports READY=1 and STOPPING=1.
 */
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "common.h"
#include "net.h"

#define DEFAULT_LISTEN "127.0.0.1:8080"

struct daemon {
    struct ca_ctx *ca;
    struct event_base *base; /* the main thread's loop: signals only */
    struct net_server *srv;
    const char *conf_path;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: signetd -c FILE [--listen ADDR:PORT] [--foreground]\n");
}

/*
 * SIGHUP: the clients of signet.conf and the profiles are read again. Each part is replaced only
 * when it loads whole; otherwise what is in force stays in force and the log says why.
 */
static void reload(struct daemon *d)
{
    char detail[SIGNET_DETAIL_MAX] = "";

    net_sd_notify("RELOADING=1");
    if (net_server_reload(d->srv, detail) != SIGNET_OK)
        sg_log(SG_LOG_ERR, "reload: clients kept as they were: %s", detail);
    if (ca_reload_policies(d->ca, detail) == SIGNET_OK)
        sg_log(SG_LOG_INFO, "reload: %zu profiles in force",
               policy_set_count(ca_ctx_policies(d->ca)));
    else
        sg_log(SG_LOG_ERR, "reload: profiles kept as they were: %s", detail);
    net_sd_notify("READY=1");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;

    (void)what;
    if (sig == SIGHUP) {
        sg_log(SG_LOG_INFO, "SIGHUP: reloading");
        reload(d);
        return;
    }
    sg_log(SG_LOG_INFO, "signal %d: finishing requests in flight, then exiting", (int)sig);
    net_sd_notify("STOPPING=1");
    event_base_loopexit(d->base, NULL);
}

/* A [daemon] number within [1, max], or 0 (the default) when absent. -1 when malformed. */
static long daemon_num(struct daemon *d, const char *key, uint64_t max)
{
    const char *v = sg_conf_get(ca_ctx_conf(d->ca), "daemon", key);
    uint64_t n;

    if (v == NULL)
        return 0;
    if (!sg_parse_u64(v, 1, max, &n)) {
        sg_log(SG_LOG_ERR, "%s: [daemon] %s = %s is not a number from 1 to %llu",
               sg_conf_file(ca_ctx_conf(d->ca)), key, v, (unsigned long long)max);
        return -1;
    }
    return (long)n;
}

/* Reads [daemon], builds the server and starts its workers. 1 = ok. */
static int serve(struct daemon *d, const char *listen)
{
    char detail[SIGNET_DETAIL_MAX] = "";
    struct net_options o = {0};
    long workers = daemon_num(d, "workers", NET_WORKERS_MAX),
         conns = daemon_num(d, "max_connections", NET_CONNS_MAX),
         timeout = daemon_num(d, "timeout", 3600);

    if (workers < 0 || conns < 0 || timeout < 0)
        return 0;
    if (listen == NULL)
        listen = sg_conf_get(ca_ctx_conf(d->ca), "daemon", "listen");
    o.listen = listen != NULL ? listen : DEFAULT_LISTEN;
    o.workers = (unsigned)workers;
    o.max_conns = (unsigned)conns;
    o.timeout_s = (unsigned)timeout;
    o.conf_path = d->conf_path;
    if (net_server_new(d->ca, &o, &d->srv, detail) != SIGNET_OK ||
        net_server_start(d->srv, detail) != SIGNET_OK) {
        sg_log(SG_LOG_ERR, "cannot start: %s", detail);
        return 0;
    }
    sg_log(SG_LOG_INFO, "listening on http://%s", o.listen);
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"foreground", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *listen = NULL;
    struct daemon d = {0};
    struct event *sigs[3] = {NULL, NULL, NULL};
    const int signums[3] = {SIGTERM, SIGINT, SIGHUP};
    char detail[SIGNET_DETAIL_MAX] = "";
    int c, status = 1;

    d.conf_path = getenv("SIGNET_CONF");
    while ((c = getopt_long(argc, argv, "c:l:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            d.conf_path = optarg;
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
    if (optind != argc || d.conf_path == NULL) {
        usage(stderr);
        return 2;
    }
    sg_log_init("signetd", SG_LOG_INFO);
    sg_no_core_dumps(); /* this process holds the online token's credential */
    signal(SIGPIPE, SIG_IGN);

    if (ca_ctx_open(d.conf_path, CA_OPEN_LOGIN_ONLINE, &d.ca, detail) != SIGNET_OK) {
        sg_log(SG_LOG_ERR, "cannot start: %s", detail);
        goto out;
    }
    /* signals first (the main loop handles them), then the workers, which block them */
    if ((d.base = event_base_new()) == NULL)
        goto out;
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(d.base, signums[i], on_signal, &d);
        if (sigs[i] == NULL || event_add(sigs[i], NULL) != 0)
            goto out;
    }
    if (!serve(&d, listen))
        goto out;
    net_sd_notify("READY=1");
    event_base_dispatch(d.base);
    net_server_stop(d.srv);
    sg_log(SG_LOG_INFO, "stopped");
    status = 0;
out:
    net_server_free(d.srv);
    for (int i = 0; i < 3; i++)
        if (sigs[i] != NULL)
            event_free(sigs[i]);
    if (d.base != NULL)
        event_base_free(d.base);
    ca_ctx_free(d.ca);
    return status;
}
