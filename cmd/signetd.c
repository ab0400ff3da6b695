/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signetd: the online CA daemon, split in two processes (docs/architecture.md, DESIGN.md).
 *
 *   signetd -c FILE [--listen ADDR:PORT] [--foreground]
 *
 * This process is the ca process: before it reads any credential it starts the web process
 * (fork and exec of this program with --web-child, so nothing of this process's memory goes
 * with it), then logs in to the online token(s), opens the store for writing and answers the web
 * process's framed requests over a socketpair. It has no network socket.
 *
 * [daemon] keys: listen, workers, max_connections, timeout (seconds), clients, user, group.
 * SIGTERM and SIGINT: the web process finishes what is in flight and exits, then this one, 0.
 * SIGHUP: clients and profiles are read again and the clients are sent to the web process. A web
 * process that dies is started again (at most RESTART_MAX times in RESTART_WINDOW_MS); when the
 * ca process dies the web process sees the pair close and stops. Under systemd (Type=notify)
 * READY=1 is sent once the web process listens.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "net.h"
#include "signetd.h"

#define RESTART_MAX       5
#define RESTART_WINDOW_MS 30000
#define STOP_KILL_MS      4500 /* a web process still running this long after SIGTERM is killed */

extern char **environ;

struct daemon {
    struct ca_ctx *ca;
    struct net_ca *nca;
    struct net_ca_conn *conn;
    struct event_base *base;
    struct event *kill_ev;
    const char *conf_path, *listen;
    char exe[PATH_MAX];
    char *argv[8];
    char **envp;
    pid_t child;
    atomic_int ready; /* the current web process said READY */
    int ever_ready;   /* some web process did: later deaths are restarted */
    int stopping, status;
    unsigned nthreads;
    uint64_t restarts[RESTART_MAX];
    char fdstr[16];
};

static void usage(FILE *f)
{
    fprintf(f, "usage: signetd -c FILE [--listen ADDR:PORT] [--foreground]\n");
}

long signetd_daemon_num(const struct sg_conf *conf, const char *key, uint64_t max)
{
    const char *v = sg_conf_get(conf, "daemon", key);
    uint64_t n;

    if (v == NULL)
        return 0;
    if (!sg_parse_u64(v, 1, max, &n)) {
        sg_log(SG_LOG_ERR, "%s: [daemon] %s = %s is not a number from 1 to %llu",
               sg_conf_file(conf), key, v, (unsigned long long)max);
        return -1;
    }
    return (long)n;
}

/*
 * The web process's environment: this one's without the variables that [token.*] pin = env:VAR
 * names, so no credential reaches it even through its initial environment.
 */
static char **web_environment(const char *conf_path)
{
    struct sg_conf *conf = NULL;
    char **names = NULL, **env;
    size_t n = 0, k = 0, ntok = 0;

    while (environ[n] != NULL)
        n++;
    if ((env = calloc(n + 1, sizeof(*env))) == NULL)
        return NULL;
    if (sg_conf_load(conf_path, &conf, NULL) == SIGNET_OK)
        ntok = sg_conf_sections(conf, "token.", &names);
    for (size_t i = 0; i < n; i++) {
        int secret = 0;
        for (size_t t = 0; t < ntok && !secret; t++) {
            char sect[CA_NAME_MAX + 8];
            const char *pin;
            size_t l;
            snprintf(sect, sizeof(sect), "token.%s", names[t]);
            pin = sg_conf_get(conf, sect, "pin");
            if (pin != NULL && strncmp(pin, "env:", 4) == 0 && (l = strlen(pin + 4)) > 0 &&
                strncmp(environ[i], pin + 4, l) == 0 && environ[i][l] == '=')
                secret = 1;
        }
        if (!secret)
            env[k++] = environ[i];
    }
    sg_strv_free(names);
    sg_conf_free(conf);
    return env;
}

/*
 * Starts a web process: a socketpair, fork, and in the child only async-signal-safe calls: its
 * end on fd 3, every other descriptor closed, signals unblocked, exec. Returns our end or -1.
 */
static int spawn_web(struct daemon *d)
{
    int sv[2];
    pid_t pid;
    sigset_t none;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        sg_log(SG_LOG_ERR, "cannot create the socketpair: %s", strerror(errno));
        return -1;
    }
    sigemptyset(&none);
    if ((pid = fork()) < 0) {
        sg_log(SG_LOG_ERR, "cannot start the web process: %s", strerror(errno));
        close(sv[0]), close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        if (sv[1] == SIGNETD_IPC_FD)
            fcntl(sv[1], F_SETFD, 0);
        else if (dup2(sv[1], SIGNETD_IPC_FD) < 0)
            _exit(127);
        close_range(SIGNETD_IPC_FD + 1, ~0u, 0);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(d->exe, d->argv, d->envp);
        _exit(127);
    }
    close(sv[1]);
    d->child = pid;
    atomic_store(&d->ready, 0);
    return sv[0];
}

/* READY from the web process (socketpair reader thread). */
static void on_ready(void *arg)
{
    struct daemon *d = arg;

    atomic_store(&d->ready, 1);
    net_sd_notify("READY=1");
}

/* Serves a freshly spawned web process on fd. 1 = ok. */
static int serve_web(struct daemon *d, int fd)
{
    char detail[SIGNET_DETAIL_MAX] = "";

    if (net_ca_conn_start(d->nca, fd, d->nthreads, on_ready, d, &d->conn, detail) != SIGNET_OK) {
        sg_log(SG_LOG_ERR, "web process %d: %s", (int)d->child, detail);
        return 0;
    }
    return 1;
}

/* SIGHUP: clients and profiles read again, each kept when broken; the web gets the clients. */
static void reload(struct daemon *d)
{
    char detail[SIGNET_DETAIL_MAX] = "";

    net_sd_notify("RELOADING=1");
    if (net_ca_reload_clients(d->nca, detail) != SIGNET_OK)
        sg_log(SG_LOG_ERR, "reload: clients kept as they were: %s", detail);
    if (ca_reload_policies(d->ca, detail) == SIGNET_OK)
        sg_log(SG_LOG_INFO, "reload: %zu profiles in force",
               policy_set_count(ca_ctx_policies(d->ca)));
    else
        sg_log(SG_LOG_ERR, "reload: profiles kept as they were: %s", detail);
    if (d->conn != NULL && !net_ca_conn_push_clients(d->conn))
        sg_log(SG_LOG_WARN, "reload: the web process did not take the clients");
    if (d->child > 0)
        kill(d->child, SIGHUP);
    net_sd_notify("READY=1");
}

static void on_kill_timer(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;

    (void)fd, (void)what;
    if (d->child > 0) {
        sg_log(SG_LOG_WARN, "web process %d did not stop in time; killing it", (int)d->child);
        kill(d->child, SIGKILL);
    }
}

/* 1 when another restart is within the rate: RESTART_MAX in RESTART_WINDOW_MS. */
static int restart_allowed(struct daemon *d)
{
    uint64_t now = sg_mono_ms();

    if (d->restarts[0] != 0 && now - d->restarts[0] < RESTART_WINDOW_MS)
        return 0;
    memmove(d->restarts, d->restarts + 1, sizeof(d->restarts) - sizeof(d->restarts[0]));
    d->restarts[RESTART_MAX - 1] = now;
    return 1;
}

/* The web process ended: done when stopping, else start another (bounded). */
static void on_web_exit(struct daemon *d, int st)
{
    int fd;

    d->child = 0;
    d->ever_ready |= atomic_load(&d->ready);
    net_ca_conn_stop(d->conn); /* answers to requests already read are sent, then it closes */
    d->conn = NULL;
    if (d->stopping) {
        event_base_loopexit(d->base, NULL);
        return;
    }
    if (WIFSIGNALED(st))
        sg_log(SG_LOG_ERR, "the web process died of signal %d", WTERMSIG(st));
    else
        sg_log(SG_LOG_ERR, "the web process exited with status %d", WEXITSTATUS(st));
    if (!d->ever_ready) {
        sg_log(SG_LOG_ERR, "cannot start: the web process did not come up; see above");
        event_base_loopexit(d->base, NULL);
        return;
    }
    if (!restart_allowed(d)) {
        sg_log(SG_LOG_ERR, "the web process died %d times in %d s; giving up", RESTART_MAX,
               RESTART_WINDOW_MS / 1000);
        event_base_loopexit(d->base, NULL);
        return;
    }
    sg_log(SG_LOG_INFO, "starting the web process again");
    if ((fd = spawn_web(d)) < 0 || !serve_web(d, fd))
        event_base_loopexit(d->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    struct timeval tv = {STOP_KILL_MS / 1000, (STOP_KILL_MS % 1000) * 1000};
    pid_t pid;
    int st;

    (void)what;
    if (sig == SIGCHLD) {
        while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
            if (pid == d->child)
                on_web_exit(d, st);
        return;
    }
    if (sig == SIGHUP) {
        sg_log(SG_LOG_INFO, "SIGHUP: reloading");
        reload(d);
        return;
    }
    if (d->stopping)
        return;
    sg_log(SG_LOG_INFO, "signal %d: finishing requests in flight, then exiting", (int)sig);
    net_sd_notify("STOPPING=1");
    d->stopping = 1;
    d->status = 0;
    if (d->child <= 0) {
        event_base_loopexit(d->base, NULL);
        return;
    }
    kill(d->child, SIGTERM);
    event_add(d->kill_ev, &tv);
}

/* The web process's argv and environment, built before any fork. 1 = ok. */
static int prepare_exec(struct daemon *d)
{
    ssize_t n = readlink("/proc/self/exe", d->exe, sizeof(d->exe) - 1);
    int k = 0;

    if (n <= 0 || (d->envp = web_environment(d->conf_path)) == NULL) {
        sg_log(SG_LOG_ERR, "cannot start: cannot find this program's path");
        return 0;
    }
    d->exe[n] = '\0';
    snprintf(d->fdstr, sizeof(d->fdstr), "%d", SIGNETD_IPC_FD);
    d->argv[k++] = "signetd";
    d->argv[k++] = "--web-child";
    d->argv[k++] = d->fdstr;
    d->argv[k++] = "-c";
    d->argv[k++] = (char *)d->conf_path;
    if (d->listen != NULL) {
        d->argv[k++] = "--listen";
        d->argv[k++] = (char *)d->listen;
    }
    d->argv[k] = NULL;
    return 1;
}

/* After a durable revocation: re-sign that certificate's OCSP response soon. */
static void on_revoked(struct ca_ctx *ctx, const char *ca, const char *serial_hex, void *arg)
{
    (void)arg;
    ca_ocsp_enqueue(ctx, ca, serial_hex);
}

/*
 * The ca process's background work: the CRL scheduler (debounced CRLs after revocations,
 * re-signing before nextUpdate) and the OCSP refresher (responder certificates, pre-signed
 * responses). Either failing to start (a bad crl_* or ocsp_* setting) stops signetd: a CA that
 * silently publishes no CRL or OCSP is worse than one that does not start. 1 = running.
 */
static int start_background(struct daemon *d)
{
    char detail[SIGNET_DETAIL_MAX] = "";

    ca_revoke_set_hook(on_revoked, NULL);
    if (ca_crl_scheduler_start(d->ca, detail) != SIGNET_OK) {
        sg_log(SG_LOG_ERR, "cannot start: CRL scheduler: %s", detail);
        return 0;
    }
    if (ca_ocsp_start(d->ca, detail) != SIGNET_OK) {
        sg_log(SG_LOG_ERR, "cannot start: OCSP refresher: %s", detail);
        return 0;
    }
    return 1;
}

/*
 * Signals first (SIGCHLD included, so no web process's end is missed), then the web process,
 * then the credential and the store; serves until stopped.
 */
static void run(struct daemon *d)
{
    int fd = -1;
    char detail[SIGNET_DETAIL_MAX] = "";
    struct event *sigs[4] = {NULL, NULL, NULL, NULL};
    const int signums[4] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD};
    long workers;

    if ((d->base = event_base_new()) == NULL ||
        (d->kill_ev = evtimer_new(d->base, on_kill_timer, d)) == NULL)
        goto out;
    for (int i = 0; i < 4; i++) {
        sigs[i] = evsignal_new(d->base, signums[i], on_signal, d);
        if (sigs[i] == NULL || event_add(sigs[i], NULL) != 0)
            goto out;
    }
    if ((fd = spawn_web(d)) < 0)
        goto out;
    if (ca_ctx_open(d->conf_path, CA_OPEN_LOGIN_ONLINE, &d->ca, detail) != SIGNET_OK ||
        net_ca_new(d->ca, d->conf_path, &d->nca, detail) != SIGNET_OK) {
        sg_log(SG_LOG_ERR, "cannot start: %s", detail);
        goto out;
    }
    if (!start_background(d))
        goto out;
    if ((workers = signetd_daemon_num(ca_ctx_conf(d->ca), "workers", NET_WORKERS_MAX)) < 0)
        goto out;
    /* issuing threads: HTTP workers no longer wait for an issuance, so the requests in flight
     * follow the clients; each thread spends most of an issuance waiting for its two durable
     * commits, and more of them waiting at once make larger group commits */
    d->nthreads = 4 * (workers > 0 ? (unsigned)workers : 4);
    if (d->nthreads < SIGNETD_ISSUERS_MIN)
        d->nthreads = SIGNETD_ISSUERS_MIN;
    if (d->nthreads > SIGNETD_ISSUERS_MAX)
        d->nthreads = SIGNETD_ISSUERS_MAX;
    d->status = 1; /* until a signal asks for a clean stop */
    if (serve_web(d, fd)) {
        fd = -1;
        event_base_dispatch(d->base);
    } else {
        fd = -1;
    }
out:
    if (fd >= 0)
        close(fd); /* the web process sees the pair close and exits */
    if (d->child > 0) {
        int st;
        kill(d->child, SIGTERM);
        waitpid(d->child, &st, 0);
        d->child = 0;
    }
    net_ca_conn_stop(d->conn);
    if (d->ca != NULL) {
        ca_revoke_set_hook(NULL, NULL);
        ca_crl_scheduler_stop(d->ca);
        ca_ocsp_stop(d->ca);
    }
    for (int i = 0; i < 4; i++)
        if (sigs[i] != NULL)
            event_free(sigs[i]);
    if (d->kill_ev != NULL)
        event_free(d->kill_ev);
    if (d->base != NULL)
        event_base_free(d->base);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},    {"listen", required_argument, NULL, 'l'},
        {"foreground", no_argument, NULL, 'f'},      {"help", no_argument, NULL, 'h'},
        {"web-child", required_argument, NULL, 'W'}, {NULL, 0, NULL, 0}};
    struct daemon d = {0};
    int c, web_fd = -1;
    uint64_t v;

    d.conf_path = getenv("SIGNET_CONF");
    d.status = 1;
    while ((c = getopt_long(argc, argv, "c:l:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            d.conf_path = optarg;
            break;
        case 'l':
            d.listen = optarg;
            break;
        case 'f':
            break; /* signetd always runs in the foreground; a service manager supervises it */
        case 'W':
            if (!sg_parse_u64(optarg, 3, 1024, &v))
                return 2;
            web_fd = (int)v;
            break;
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
    if (web_fd >= 0)
        return signetd_web_main(d.conf_path, d.listen, web_fd);
    sg_log_init("signetd", SG_LOG_INFO);
    sg_no_core_dumps(); /* this process will hold the online token's credential */
    signal(SIGPIPE, SIG_IGN);
    /* the web process starts before any credential is read */
    if (!prepare_exec(&d))
        goto out;
    run(&d);
    if (d.status == 0)
        sg_log(SG_LOG_INFO, "stopped");
out:
    net_ca_free(d.nca);
    ca_ctx_free(d.ca);
    free(d.envp);
    return d.status;
}
