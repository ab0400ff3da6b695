/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signetd's web process (docs/architecture.md). It is exec'd by the ca process, so it holds
 * nothing of it: no PIN, no PKCS#11 module, no store write handle. It waits until the ca
 * process is up, opens its own read-only view (profiles, CA certificates, the store read-only,
 * no token), binds the listening socket, drops privileges when it runs as root, and serves HTTP;
 * issuance, /healthz and the ca part of /metrics go over the socketpair.
 */
#include <errno.h>
#include <event2/event.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common.h"
#include "net.h"
#include "signetd.h"

struct web {
    struct ca_ctx *ca;
    struct event_base *base;
    struct net_server *srv;
    struct net_ipc *ipc;
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct web *w = arg;

    (void)what;
    if (sig == SIGHUP) {
        /* the ca process re-reads signet.conf and sends the clients itself; the CA set this
         * view serves (status, /ca/, OCSP issuers) is completed from the store */
        char report[SIGNET_DETAIL_MAX] = "", detail[SIGNET_DETAIL_MAX] = "";
        size_t changed = 0;
        if (ca_reload_view(w->ca, report, sizeof(report), &changed, detail) != SIGNET_OK)
            sg_log(SG_LOG_WARN, "web: SIGHUP: CA view kept: %s", detail);
        else if (changed > 0)
            sg_log(SG_LOG_INFO, "web: SIGHUP: %s", report);
        return;
    }
    event_base_loopexit(w->base, NULL);
}

/* The ca process went away (reader thread): stop as on SIGTERM. */
static void on_eof(void *arg)
{
    (void)arg;
    sg_log(SG_LOG_WARN, "web: the ca process closed the socketpair; stopping");
    kill(getpid(), SIGTERM);
}

/* 1 when the read-only store view answers: a lookup of a serial nobody has. */
static int store_readable(struct ca_ctx *ca, char *detail)
{
    struct ca_info *cas = NULL;
    struct store_cert *c = NULL;
    size_t n = 0;
    enum signet_err rc;

    if (ca_list(ca, &cas, &n, detail) != SIGNET_OK)
        return 0;
    rc = n > 0 && cas[0].store_id != 0 ? ca_cert_get(ca, cas[0].name, "00", &c, detail)
                                       : SIGNET_E_NOTFOUND;
    free(cas);
    store_cert_free(c);
    return rc == SIGNET_E_NOTFOUND || rc == SIGNET_OK;
}

/*
 * As root: become [daemon] user (default nobody) and group (default nogroup, else the user's
 * group). Everything the web process reads later is open already (the store's read-only view,
 * the CA certificates in memory, the listening socket, the socketpair), so no path needs to be
 * readable by that user. When the user cannot be found or the change fails, it stays root and
 * says so. 1 = ok (dropped or stayed with a warning); 0 = the store is unreadable afterwards.
 */
static int drop_privileges(struct web *w)
{
    const struct sg_conf *conf = ca_ctx_conf(w->ca);
    const char *user = sg_conf_get(conf, "daemon", "user"), *group;
    struct passwd *pw;
    struct group *gr;
    char detail[SIGNET_DETAIL_MAX] = "";
    gid_t gid;

    if (geteuid() != 0)
        return 1;
    if (user == NULL)
        user = "nobody";
    if (strcmp(user, "root") == 0) {
        sg_log(SG_LOG_WARN, "web: [daemon] user = root: the web process keeps root");
        return 1;
    }
    if ((pw = getpwnam(user)) == NULL) {
        sg_log(SG_LOG_WARN, "web: no user %s; the web process stays root (set [daemon] user)",
               user);
        return 1;
    }
    gid = pw->pw_gid;
    group = sg_conf_get(conf, "daemon", "group");
    if ((gr = getgrnam(group != NULL ? group : "nogroup")) != NULL)
        gid = gr->gr_gid;
    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(pw->pw_uid) != 0 || setuid(0) == 0) {
        sg_log(SG_LOG_WARN, "web: cannot become %s (%s); the web process stays root", user,
               strerror(errno));
        return 1;
    }
    if (!store_readable(w->ca, detail)) {
        sg_log(SG_LOG_ERR, "web: as %s the store cannot be read: %s", user, detail);
        return 0;
    }
    sg_log(SG_LOG_INFO, "web: running as %s (uid %u)", user, (unsigned)pw->pw_uid);
    return 1;
}

/* Reads [daemon] and builds the server (not started). 1 = ok. */
static int build(struct web *w, const char *listen)
{
    char detail[SIGNET_DETAIL_MAX] = "";
    const struct sg_conf *conf = ca_ctx_conf(w->ca);
    struct net_options o = {0};
    long workers = signetd_daemon_num(conf, "workers", NET_WORKERS_MAX),
         conns = signetd_daemon_num(conf, "max_connections", NET_CONNS_MAX),
         timeout = signetd_daemon_num(conf, "timeout", 3600);

    if (workers < 0 || conns < 0 || timeout < 0)
        return 0;
    if (listen == NULL)
        listen = sg_conf_get(conf, "daemon", "listen");
    o.listen = listen != NULL ? listen : SIGNETD_DEFAULT_LISTEN;
    o.workers = (unsigned)workers;
    o.max_conns = (unsigned)conns;
    o.timeout_s = (unsigned)timeout;
    if (net_server_new(w->ca, &o, &w->srv, detail) != SIGNET_OK ||
        net_server_attach_ipc(w->srv, w->ipc, on_eof, w, detail) != SIGNET_OK) {
        sg_log(SG_LOG_ERR, "cannot start: %s", detail);
        return 0;
    }
    sg_log(SG_LOG_INFO, "listening on http://%s", o.listen);
    return 1;
}

int signetd_web_main(const char *conf_path, const char *listen, int fd)
{
    struct web w = {0};
    struct event *sigs[3] = {NULL, NULL, NULL};
    const int signums[3] = {SIGTERM, SIGINT, SIGHUP};
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err rc;
    int status = 1;

    sg_log_init("signetd", SG_LOG_INFO);
    sg_no_core_dumps();
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN); /* a reload forwarded before the loop runs must not kill it */
    if (net_ipc_open(fd, &w.ipc, detail) != SIGNET_OK) {
        sg_log(SG_LOG_INFO, "web: %s", detail);
        return 1;
    }
    /* quiet while opening: the ca process already reported what ca_ctx_open warns about
     * (PENDING records), and a second report would read as a second start */
    sg_log_init("signetd", SG_LOG_ERR);
    rc = ca_ctx_open(conf_path, CA_OPEN_READ_ONLY, &w.ca, detail);
    sg_log_init("signetd", SG_LOG_INFO);
    if (rc != SIGNET_OK) {
        sg_log(SG_LOG_ERR, "web: cannot start: %s", detail);
        goto out;
    }
    if ((w.base = event_base_new()) == NULL)
        goto out;
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(w.base, signums[i], on_signal, &w);
        if (sigs[i] == NULL || event_add(sigs[i], NULL) != 0)
            goto out;
    }
    if (!build(&w, listen) || !drop_privileges(&w))
        goto out;
    if (net_server_start(w.srv, detail) != SIGNET_OK) {
        sg_log(SG_LOG_ERR, "cannot start: %s", detail);
        goto out;
    }
    net_ipc_ready(w.ipc);
    event_base_dispatch(w.base);
    net_server_stop(w.srv);
    status = 0;
out:
    net_server_stop(w.srv);
    net_ipc_free(w.ipc);
    net_server_free(w.srv);
    for (int i = 0; i < 3; i++)
        if (sigs[i] != NULL)
            event_free(sigs[i]);
    if (w.base != NULL)
        event_base_free(w.base);
    ca_ctx_free(w.ca);
    return status;
}
