/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signetd: the online CA daemon, split in two processes (docs/architecture.md, DESIGN.md).
 *
 *   signetd -c FILE [--listen ADDR:PORT] [--foreground] [--unlock-with-shares F[:PASSFILE] ...]
 *   signetd -c FILE --split-pin TOKEN --quorum M/N --shares-dir DIR [--pass-dir DIR]
 *
 * This process is the ca process: before it reads any credential it starts the web process
 * (fork and exec of this program with --web-child, so nothing of this process's memory goes
 * with it), then logs in to the online token(s), opens the store for writing and answers the web
 * process's framed requests over a socketpair. It has no network socket.
 *
 * [daemon] keys: listen, workers, max_connections, timeout (seconds), clients, user, group.
 * SIGTERM and SIGINT: the web process finishes what is in flight and exits, then this one, 0.
 * SIGHUP: clients, profiles and the CA set (new CAs, certificates imported) are read again and
 * the clients are sent to the web process. A web
 * process that dies is started again (at most RESTART_MAX times in RESTART_WINDOW_MS); when the
 * ca process dies the web process sees the pair close and stops. Under systemd (Type=notify)
 * READY=1 is sent once the web process listens.
 *
 * A token with pin = shares has no PIN anywhere: its credential is rebuilt at start from M
 * custodians' shares (--unlock-with-shares, or asked on the terminal), after the web process is
 * started, and lives only in the token's locked buffer (docs/custody.md). --split-pin makes
 * those shares from the PIN the token has now.
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

#define RESTART_MAX        5
#define RESTART_WINDOW_MS  30000
#define SIGNETD_SHARES_MAX 16   /* --unlock-with-shares given at most (the quorum's bound) */
#define STOP_KILL_MS       4500 /* a web process still running this long after SIGTERM is killed */

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
    struct ca_share_src shares[SIGNETD_SHARES_MAX]; /* --unlock-with-shares: paths only */
    char *share_arg[SIGNETD_SHARES_MAX];            /* their storage (FILE and PASSFILE split) */
    size_t nshares;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: signetd -c FILE [--listen ADDR:PORT] [--foreground] "
               "[--unlock-with-shares FILE[:PASSFILE] ...]\n"
               "       signetd -c FILE --split-pin TOKEN --quorum M/N --shares-dir DIR "
               "[--pass-dir DIR]\n");
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

static int start_background(struct daemon *d);

/* Before a CA-set reload changes anything: the CRL scheduler and OCSP refresher stop. */
static void stop_background(void *arg)
{
    struct daemon *d = arg;

    ca_crl_scheduler_stop(d->ca);
    ca_ocsp_stop(d->ca);
}

/*
 * SIGHUP: clients, profiles and the CA set read again, each kept when broken; the web gets the
 * clients. New CAs (or certificates imported for configured ones) restart the CRL scheduler and
 * the OCSP refresher, which then serve them too.
 */
static void reload(struct daemon *d)
{
    char detail[SIGNET_DETAIL_MAX] = "", report[SIGNET_DETAIL_MAX] = "";
    size_t changed = 0;

    net_sd_notify("RELOADING=1");
    if (net_ca_reload_clients(d->nca, detail) != SIGNET_OK)
        sg_log(SG_LOG_ERR, "reload: clients kept as they were: %s", detail);
    if (ca_reload_policies(d->ca, detail) == SIGNET_OK)
        sg_log(SG_LOG_INFO, "reload: %zu profiles in force",
               policy_set_count(ca_ctx_policies(d->ca)));
    else
        sg_log(SG_LOG_ERR, "reload: profiles kept as they were: %s", detail);
    if (ca_reload_cas(d->ca, stop_background, d, report, sizeof(report), &changed, detail) !=
        SIGNET_OK) {
        sg_log(SG_LOG_ERR, "reload: CAs kept as they were: %s", detail);
    } else if (changed > 0) {
        sg_log(SG_LOG_INFO, "reload: %s", report);
        if (!start_background(d))
            sg_log(SG_LOG_ERR, "reload: CRLs and OCSP are not being signed: fix the setting "
                               "named above and send SIGHUP again, or restart signetd");
    }
    /* a PIN rotated with signet hsm change-pin: the next login (after an outage) uses it */
    if (ca_reload_credentials(d->ca, &changed, detail) != SIGNET_OK)
        sg_log(SG_LOG_ERR, "reload: credentials kept as they were: %s", detail);
    else if (changed > 0)
        sg_log(SG_LOG_INFO, "reload: %zu token credential(s) read again", changed);
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
 * Share files of a pin = shares token asked on the terminal (when none was given): one path a
 * line, an empty line to finish; each passphrase is then asked by secret_load. 1 = ok.
 */
static int ask_shares(struct daemon *d, char *detail)
{
    FILE *tty;
    char line[PATH_MAX];

    if (!isatty(STDIN_FILENO) || (tty = fopen("/dev/tty", "r+e")) == NULL) {
        sg_detail(detail,
                  "a [token.*] says pin = shares and no share was given: start signetd with "
                  "--unlock-with-shares FILE[:PASSFILE] for each custodian present (no "
                  "terminal to ask on)");
        return 0;
    }
    while (d->nshares < SIGNETD_SHARES_MAX) {
        size_t l;
        fprintf(tty, "share file of a custodian (empty line when done): ");
        fflush(tty);
        if (fgets(line, sizeof(line), tty) == NULL)
            break;
        l = strcspn(line, "\r\n");
        line[l] = '\0';
        if (l == 0)
            break;
        if ((d->share_arg[d->nshares] = strdup(line)) == NULL)
            break;
        d->shares[d->nshares].path = d->share_arg[d->nshares];
        d->shares[d->nshares++].pass = NULL; /* asked on the terminal */
    }
    fclose(tty);
    return 1;
}

/* Rebuilds the credential of pin = shares tokens (no-op without such a token). 1 = ok. */
static int unlock(struct daemon *d, char *detail)
{
    char report[SIGNET_DETAIL_MAX] = "";

    if (d->nshares == 0 && !ca_unlock_needed(d->ca))
        return 1;
    if (d->nshares == 0 && !ask_shares(d, detail))
        return 0;
    if (ca_unlock_with_shares(d->ca, d->shares, d->nshares, report, sizeof(report), detail) !=
        SIGNET_OK)
        return 0;
    sg_log(SG_LOG_INFO, "unlocked by custodians' shares: %s", report);
    return 1;
}

/*
 * Signals first (SIGCHLD included, so no web process's end is missed), then the web process,
 * then the credential (pin = shares tokens unlocked first) and the store; serves until stopped.
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
    if (ca_ctx_open(d->conf_path, 0, &d->ca, detail) != SIGNET_OK || !unlock(d, detail) ||
        ca_ctx_login_online(d->ca, detail) != SIGNET_OK ||
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

/* --unlock-with-shares FILE[:PASSFILE]: kept as paths (the passphrase is read later). 1 = ok. */
static int add_share(struct daemon *d, const char *arg)
{
    char *a, *colon;

    if (d->nshares >= SIGNETD_SHARES_MAX) {
        fprintf(stderr, "signetd: at most %d --unlock-with-shares\n", SIGNETD_SHARES_MAX);
        return 0;
    }
    if ((a = strdup(arg)) == NULL)
        return 0;
    d->share_arg[d->nshares] = a;
    d->shares[d->nshares].path = a;
    d->shares[d->nshares].pass = NULL;
    if ((colon = strrchr(a, ':')) != NULL) {
        *colon = '\0';
        d->shares[d->nshares].pass = colon + 1;
    }
    d->nshares++;
    return 1;
}

struct split_opts {
    const char *token, *quorum, *shares_dir, *pass_dir;
};

/* signetd --split-pin: the online token's PIN split into sealed shares. Exit status. */
static int split_main(const char *conf_path, const struct split_opts *o)
{
    struct ca_ctx *ctx = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", extra;
    unsigned m = 0, n = 0;
    int status = 1;

    if (o->quorum == NULL || o->shares_dir == NULL ||
        sscanf(o->quorum, "%u/%u%c", &m, &n, &extra) != 2) {
        fprintf(stderr, "signetd: --split-pin needs --quorum M/N and --shares-dir DIR\n");
        return 2;
    }
    sg_log_init("signetd", SG_LOG_WARN);
    sg_no_core_dumps(); /* this process holds the token's PIN for a moment */
    if (ca_ctx_open(conf_path, 0, &ctx, detail) != SIGNET_OK ||
        ca_unlock_split(ctx, o->token, m, n, o->shares_dir, o->pass_dir, detail) != SIGNET_OK) {
        fprintf(stderr, "signetd: %s\n", detail);
        goto out;
    }
    printf("token %s: %u shares in %s, %u of them unlock it; now set pin = shares in "
           "[token.%s], remove the PIN it had, and start signetd with --unlock-with-shares\n",
           o->token, n, o->shares_dir, m, o->token);
    status = 0;
out:
    ca_ctx_free(ctx);
    return status;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"foreground", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"web-child", required_argument, NULL, 'W'},
                                         {"unlock-with-shares", required_argument, NULL, 'U'},
                                         {"split-pin", required_argument, NULL, 'S'},
                                         {"quorum", required_argument, NULL, 'Q'},
                                         {"shares-dir", required_argument, NULL, 'D'},
                                         {"pass-dir", required_argument, NULL, 'P'},
                                         {NULL, 0, NULL, 0}};
    struct daemon d = {0};
    struct split_opts so = {0};
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
        case 'U':
            if (!add_share(&d, optarg))
                goto out;
            break;
        case 'S':
            so.token = optarg;
            break;
        case 'Q':
            so.quorum = optarg;
            break;
        case 'D':
            so.shares_dir = optarg;
            break;
        case 'P':
            so.pass_dir = optarg;
            break;
        case 'h':
            usage(stdout);
            d.status = 0;
            goto out;
        default:
            usage(stderr);
            d.status = 2;
            goto out;
        }
    }
    if (optind != argc || d.conf_path == NULL ||
        (so.token == NULL && (so.quorum || so.shares_dir || so.pass_dir)) ||
        (so.token != NULL && d.nshares > 0)) {
        usage(stderr);
        d.status = 2;
        goto out;
    }
    if (web_fd >= 0)
        return signetd_web_main(d.conf_path, d.listen, web_fd);
    if (so.token != NULL) {
        d.status = split_main(d.conf_path, &so);
        goto out;
    }
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
    for (size_t i = 0; i < d.nshares; i++)
        free(d.share_arg[i]);
    return d.status;
}
