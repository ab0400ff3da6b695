/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_ocsp_client: a reconnecting OCSP load client for servers that close every connection
 * (`openssl ocsp -port`), where wrk's keep-alive loop stalls. Each of C threads connects, POSTs
 * the DER request of FILE, reads the whole answer until the server closes, checks it is HTTP 200
 * with a successful OCSPResponse, and starts over, for S seconds. Prints the line bench/ocsp.sh
 * reads:  WRKSTAT requests=N non2xx=N errors=N bad=N seconds=S p50_ms=X p99_ms=Y
 *
 * usage: bench_ocsp_client HOST PORT FILE CONNECTIONS SECONDS
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LAT_MAX (1u << 20) /* latencies kept per thread */

struct job {
    struct sockaddr_in addr;
    const char *req; /* the whole HTTP request */
    size_t req_len;
    double until;
    uint64_t ok, bad, errors;
    uint32_t *lat_us;
    size_t nlat;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One request on a fresh connection: 1 ok, 0 a bad answer, -1 a socket error. */
static int one(struct job *j)
{
    char buf[16384];
    size_t got = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0), rc = -1;
    char *body;

    if (fd < 0 || connect(fd, (struct sockaddr *)&j->addr, sizeof(j->addr)) != 0 ||
        write(fd, j->req, j->req_len) != (ssize_t)j->req_len)
        goto out;
    while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    body = strstr(buf, "\r\n\r\n");
    rc = 0;
    if (strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 8, " 200", 4) == 0 && body != NULL &&
        (size_t)(body + 4 - buf) + 7 <= got) {
        const unsigned char *b = (const unsigned char *)body + 4;
        size_t i = (b[1] & 0x80) ? 2 + (b[1] & 0x7f) : 2;
        rc = b[0] == 0x30 && b[i] == 0x0a && b[i + 1] == 0x01 && b[i + 2] == 0x00;
    }
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static void *run(void *arg)
{
    struct job *j = arg;

    while (now_s() < j->until) {
        double t0 = now_s();
        int rc = one(j);
        if (rc < 0)
            j->errors++;
        else if (rc == 0)
            j->bad++;
        else
            j->ok++;
        if (rc >= 0 && j->nlat < LAT_MAX)
            j->lat_us[j->nlat++] = (uint32_t)((now_s() - t0) * 1e6);
    }
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    FILE *f;
    char der[65536], *req;
    size_t dlen, n = 0, k = 0;
    int conns, secs;
    struct job *jobs;
    pthread_t *th;
    uint64_t ok = 0, bad = 0, errors = 0;
    uint32_t *all;
    double t0;

    if (argc != 6 || (conns = atoi(argv[4])) < 1 || conns > 1024 || (secs = atoi(argv[5])) < 1) {
        fprintf(stderr, "usage: bench_ocsp_client HOST PORT FILE CONNECTIONS SECONDS\n");
        return 2;
    }
    if ((f = fopen(argv[3], "rb")) == NULL || (dlen = fread(der, 1, sizeof(der), f)) == 0) {
        fprintf(stderr, "bench_ocsp_client: cannot read %s\n", argv[3]);
        return 2;
    }
    fclose(f);
    req = malloc(dlen + 512);
    n = (size_t)snprintf(req, 512,
                         "POST / HTTP/1.0\r\nHost: %s:%s\r\nContent-Type: "
                         "application/ocsp-request\r\nContent-Length: %zu\r\n\r\n",
                         argv[1], argv[2], dlen);
    memcpy(req + n, der, dlen);
    jobs = calloc((size_t)conns, sizeof(*jobs));
    th = calloc((size_t)conns, sizeof(*th));
    t0 = now_s();
    for (int i = 0; i < conns; i++) {
        jobs[i].addr.sin_family = AF_INET;
        jobs[i].addr.sin_port = htons((uint16_t)atoi(argv[2]));
        inet_pton(AF_INET, argv[1], &jobs[i].addr.sin_addr);
        jobs[i].req = req;
        jobs[i].req_len = n + dlen;
        jobs[i].until = t0 + secs;
        jobs[i].lat_us = malloc(LAT_MAX * sizeof(uint32_t));
        pthread_create(&th[i], NULL, run, &jobs[i]);
    }
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        ok += jobs[i].ok;
        bad += jobs[i].bad;
        errors += jobs[i].errors;
        k += jobs[i].nlat;
    }
    all = malloc((k + 1) * sizeof(uint32_t));
    k = 0;
    for (int i = 0; i < conns; i++) {
        memcpy(all + k, jobs[i].lat_us, jobs[i].nlat * sizeof(uint32_t));
        k += jobs[i].nlat;
        free(jobs[i].lat_us);
    }
    qsort(all, k, sizeof(uint32_t), cmp_u32);
    printf("WRKSTAT requests=%llu non2xx=0 errors=%llu bad=%llu seconds=%.3f p50_ms=%.2f "
           "p99_ms=%.2f\n",
           (unsigned long long)(ok + bad), (unsigned long long)errors, (unsigned long long)bad,
           now_s() - t0, k ? all[k / 2] / 1e3 : 0.0, k ? all[k * 99 / 100] / 1e3 : 0.0);
    free(all);
    free(jobs);
    free(th);
    free(req);
    return 0;
}
