/* SPDX-License-Identifier: Apache-2.0 */
/* signetd's two roles (docs/architecture.md): the ca process (signetd.c) and the web process. */
#ifndef SIGNET_SIGNETD_H
#define SIGNET_SIGNETD_H

#include "ca.h"

#define SIGNETD_DEFAULT_LISTEN "127.0.0.1:8080"
#define SIGNETD_IPC_FD         3  /* where the web process finds its end of the socketpair */
#define SIGNETD_ISSUERS_MIN    32 /* the ca process's issuing threads: 4 per HTTP worker, */
#define SIGNETD_ISSUERS_MAX    64 /* within these bounds */

/* A [daemon] number within [1, max], 0 when absent, -1 (logged) when malformed. */
long signetd_daemon_num(const struct sg_conf *conf, const char *key, uint64_t max);

/*
 * The web process: started by the ca process (fork and exec, so it inherits no memory of it)
 * with its end of the socketpair on fd. Returns the exit status.
 */
int signetd_web_main(const char *conf_path, const char *listen, int fd);

#endif
