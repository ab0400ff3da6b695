/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metrics in the Prometheus text exposition format (version 0.0.4): issuance counts and latency
 * histograms by profile and outcome, HTTP responses and connections, HSM token counters and
 * breaker state, store commit figures.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* upper bounds of the latency buckets, in microseconds (the last bucket is +Inf) */
static const uint64_t lat_le_us[NET_LAT_BUCKETS - 1] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000};

static const char *const outcome_names[NET_OUT_MAX] = {[NET_OUT_ISSUED] = "issued",
                                                       [NET_OUT_BADCSR] = "badCSR",
                                                       [NET_OUT_BADKEY] = "badKey",
                                                       [NET_OUT_POLICY] = "policyViolation",
                                                       [NET_OUT_UNAVAILABLE] = "hsmUnavailable",
                                                       [NET_OUT_ERROR] = "internal",
                                                       [NET_OUT_QUEUED] = "queued"};

void net_metrics_init(struct net_metrics *m, const struct policy_set *set)
{
    size_t n = set != NULL ? policy_set_count(set) : 0;

    memset(m, 0, sizeof(*m));
    for (size_t i = 0; i < n && m->nprof < NET_PROFILES_MAX; i++) {
        const struct policy_profile *p = policy_set_at(set, i);
        if (p != NULL && strlen(policy_profile_name(p)) < CA_NAME_MAX)
            strcpy(m->prof[m->nprof++], policy_profile_name(p));
    }
    strcpy(m->prof[m->nprof], "other");
}

/* The metrics index of a profile name: its slot, or the "other" slot. */
static size_t prof_index(const struct net_metrics *m, const char *profile)
{
    for (size_t i = 0; profile != NULL && i < m->nprof; i++)
        if (strcmp(m->prof[i], profile) == 0)
            return i;
    return m->nprof;
}

void net_metrics_issue(struct net_metrics *m, const char *profile, enum net_outcome o,
                       uint64_t usec)
{
    size_t i = prof_index(m, profile), b = 0;

    if (o >= NET_OUT_MAX)
        o = NET_OUT_ERROR;
    atomic_fetch_add(&m->issued[i][o], 1);
    while (b < NET_LAT_BUCKETS - 1 && usec > lat_le_us[b])
        b++;
    atomic_fetch_add(&m->lat[i][b], 1);
    atomic_fetch_add(&m->lat_us[i], usec);
}

static void render_issuance(struct net_metrics *m, struct evbuffer *buf)
{
    evbuffer_add_printf(buf, "# HELP signet_issuance_total Issuance requests by profile and "
                             "outcome.\n# TYPE signet_issuance_total counter\n");
    for (size_t i = 0; i <= m->nprof; i++)
        for (int o = 0; o < NET_OUT_MAX; o++)
            evbuffer_add_printf(buf, "signet_issuance_total{profile=\"%s\",outcome=\"%s\"} %llu\n",
                                m->prof[i], outcome_names[o],
                                (unsigned long long)atomic_load(&m->issued[i][o]));
    evbuffer_add_printf(buf, "# HELP signet_issuance_seconds Issuance latency by profile (all "
                             "outcomes).\n# TYPE signet_issuance_seconds histogram\n");
    for (size_t i = 0; i <= m->nprof; i++) {
        uint64_t cum = 0;
        for (int b = 0; b < NET_LAT_BUCKETS; b++) {
            cum += atomic_load(&m->lat[i][b]);
            if (b < NET_LAT_BUCKETS - 1)
                evbuffer_add_printf(buf,
                                    "signet_issuance_seconds_bucket{profile=\"%s\",le=\"%g\"} "
                                    "%llu\n",
                                    m->prof[i], (double)lat_le_us[b] / 1e6,
                                    (unsigned long long)cum);
            else
                evbuffer_add_printf(buf,
                                    "signet_issuance_seconds_bucket{profile=\"%s\",le=\"+Inf\"} "
                                    "%llu\n",
                                    m->prof[i], (unsigned long long)cum);
        }
        evbuffer_add_printf(buf, "signet_issuance_seconds_sum{profile=\"%s\"} %.6f\n", m->prof[i],
                            (double)atomic_load(&m->lat_us[i]) / 1e6);
        evbuffer_add_printf(buf, "signet_issuance_seconds_count{profile=\"%s\"} %llu\n", m->prof[i],
                            (unsigned long long)cum);
    }
}

/* HSM counters and breaker state of the online tokens (never the root or a quorum token). */
static void render_tokens(struct ca_ctx *ca, struct evbuffer *buf)
{
    const struct sg_conf *conf = ca_ctx_conf(ca);
    char **names = NULL;
    size_t n = sg_conf_sections(conf, "token.", &names);

    evbuffer_add_printf(buf, "# HELP signet_hsm_breaker_state Circuit breaker per token: 0 "
                             "closed, 1 open, 2 half-open.\n"
                             "# TYPE signet_hsm_breaker_state gauge\n");
    for (size_t i = 0; i < n; i++) {
        char sect[CA_NAME_MAX + 8];
        const char *pin;
        struct hsm_token *tok = NULL;
        struct hsm_stats st;

        snprintf(sect, sizeof(sect), "token.%s", names[i]);
        pin = sg_conf_get(conf, sect, "pin");
        if (strcmp(names[i], "root") == 0 || (pin != NULL && strcmp(pin, "quorum") == 0) ||
            ca_token(ca, names[i], &tok, NULL) != SIGNET_OK)
            continue;
        hsm_token_stats(tok, &st);
        evbuffer_add_printf(
            buf,
            "signet_hsm_breaker_state{token=\"%s\"} %d\n"
            "signet_hsm_signs_total{token=\"%s\"} %llu\n"
            "signet_hsm_retries_total{token=\"%s\"} %llu\n"
            "signet_hsm_reconnects_total{token=\"%s\"} %llu\n"
            "signet_hsm_breaker_trips_total{token=\"%s\"} %llu\n"
            "signet_hsm_fast_fails_total{token=\"%s\"} %llu\n",
            names[i], (int)hsm_token_breaker(tok), names[i], (unsigned long long)st.signs, names[i],
            (unsigned long long)st.retries, names[i], (unsigned long long)st.reconnects, names[i],
            (unsigned long long)st.breaker_trips, names[i], (unsigned long long)st.fast_fails);
    }
    sg_strv_free(names);
}

/* ---- OCSP (ocsp.c; ca/ocsp.c) ---- */

/* The refresher's figures: a refresher that falls behind shows here and in /healthz. */
static void render_ocsp_ca(struct ca_ctx *ca, struct evbuffer *buf)
{
    struct ca_ocsp_stats o;

    ca_ocsp_stats(ca, &o);
    evbuffer_add_printf(
        buf,
        "# HELP signet_ocsp_responders CAs with a delegated OCSP responder.\n"
        "# TYPE signet_ocsp_responders gauge\nsignet_ocsp_responders %llu\n"
        "# HELP signet_ocsp_signed_total Certificates whose pre-signed OCSP responses were made.\n"
        "# TYPE signet_ocsp_signed_total counter\nsignet_ocsp_signed_total %llu\n"
        "# TYPE signet_ocsp_sign_failures_total counter\nsignet_ocsp_sign_failures_total %llu\n"
        "# HELP signet_ocsp_overdue Responses past half their validity, not refreshed.\n"
        "# TYPE signet_ocsp_overdue gauge\nsignet_ocsp_overdue %llu\n"
        "# HELP signet_ocsp_stale Responses past nextUpdate (answered tryLater).\n"
        "# TYPE signet_ocsp_stale gauge\nsignet_ocsp_stale %llu\n"
        "# TYPE signet_ocsp_missing gauge\nsignet_ocsp_missing %llu\n"
        "# TYPE signet_ocsp_queue_length gauge\nsignet_ocsp_queue_length %llu\n"
        "# TYPE signet_ocsp_queue_dropped_total counter\nsignet_ocsp_queue_dropped_total %llu\n"
        "# TYPE signet_ocsp_live_signed_total counter\nsignet_ocsp_live_signed_total %llu\n"
        "# TYPE signet_ocsp_live_refused_total counter\nsignet_ocsp_live_refused_total %llu\n"
        "# HELP signet_ocsp_last_pass_timestamp_seconds End of the last refresher pass.\n"
        "# TYPE signet_ocsp_last_pass_timestamp_seconds gauge\n"
        "signet_ocsp_last_pass_timestamp_seconds %lld\n"
        "# TYPE signet_ocsp_responder_not_after_seconds gauge\n"
        "signet_ocsp_responder_not_after_seconds %lld\n",
        (unsigned long long)o.responders, (unsigned long long)o.signed_total,
        (unsigned long long)o.sign_failures, (unsigned long long)o.overdue,
        (unsigned long long)o.stale, (unsigned long long)o.missing, (unsigned long long)o.queue_len,
        (unsigned long long)o.queue_dropped, (unsigned long long)o.live_signed,
        (unsigned long long)o.live_refused, (long long)o.last_pass, (long long)o.responder_until);
}

void net_metrics_render_web(struct net_metrics *m, struct evbuffer *buf)
{
    render_issuance(m, buf);
    net_ocsp_render(buf);
    evbuffer_add_printf(buf, "# TYPE signet_http_responses_total counter\n");
    for (int c = 1; c <= 5; c++)
        evbuffer_add_printf(buf, "signet_http_responses_total{class=\"%dxx\"} %llu\n", c,
                            (unsigned long long)atomic_load(&m->http[c]));
    evbuffer_add_printf(buf,
                        "# TYPE signet_http_connections gauge\nsignet_http_connections %lld\n"
                        "# TYPE signet_http_connections_total counter\n"
                        "signet_http_connections_total %llu\n",
                        (long long)atomic_load(&m->conns),
                        (unsigned long long)atomic_load(&m->conns_total));
}

void net_metrics_render_ca(struct ca_ctx *ca, struct evbuffer *buf)
{
    struct store_stats ss;

    render_tokens(ca, buf);
    render_ocsp_ca(ca, buf);
    store_stats(ca_ctx_store(ca), &ss);
    evbuffer_add_printf(buf,
                        "# HELP signet_store_commits_total Durable store transactions.\n"
                        "# TYPE signet_store_commits_total counter\n"
                        "signet_store_commits_total %llu\n"
                        "# TYPE signet_store_writes_total counter\n"
                        "signet_store_writes_total %llu\n"
                        "# HELP signet_store_commit_batch_max Largest group commit so far.\n"
                        "# TYPE signet_store_commit_batch_max gauge\n"
                        "signet_store_commit_batch_max %llu\n"
                        "# TYPE signet_store_map_used_bytes gauge\n"
                        "signet_store_map_used_bytes %llu\n"
                        "# TYPE signet_store_map_size_bytes gauge\n"
                        "signet_store_map_size_bytes %llu\n",
                        (unsigned long long)ss.commits, (unsigned long long)ss.writes,
                        (unsigned long long)ss.batch_max, (unsigned long long)ss.map_used,
                        (unsigned long long)ss.map_size);
}

void net_metrics_render(struct net_metrics *m, struct ca_ctx *ca, struct evbuffer *buf)
{
    net_metrics_render_web(m, buf);
    net_metrics_render_ca(ca, buf);
}
