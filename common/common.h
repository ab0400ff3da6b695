/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common: errors, logging, secret buffers, configuration, files, encodings and time.
 * Nothing here knows about certificates, tokens or the store.
 *
 * Conventions (STYLE.md): functions a caller must tell apart return enum signet_err (0 = ok) and
 * fill an optional detail buffer of SIGNET_DETAIL_MAX bytes; predicates and parsers return
 * 1 = ok, 0 = fail.
 */
#ifndef SIGNET_COMMON_H
#define SIGNET_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum signet_err {
    SIGNET_OK = 0,
    SIGNET_E_USAGE,           /* the caller asked for something malformed */
    SIGNET_E_INVALID,         /* input data is malformed */
    SIGNET_E_NOMEM,           /* allocation failed */
    SIGNET_E_IO,              /* a file or socket operation failed */
    SIGNET_E_CONFIG,          /* configuration missing or wrong */
    SIGNET_E_NOTFOUND,        /* the named object does not exist */
    SIGNET_E_EXISTS,          /* the object already exists */
    SIGNET_E_BADCSR,          /* a CSR that does not parse or whose signature fails */
    SIGNET_E_BADKEY,          /* a public key the profile or key-quality checks refuse */
    SIGNET_E_POLICY,          /* the profile refuses the request */
    SIGNET_E_LINT,            /* a lint finding on the to-be-signed object */
    SIGNET_E_CRYPTO,          /* a cryptographic operation failed */
    SIGNET_E_HSM,             /* the HSM refused permanently (bad key, bad mechanism, ...) */
    SIGNET_E_HSM_UNAVAILABLE, /* the HSM is down or the breaker is open: try again later */
    SIGNET_E_PIN,             /* the credential was refused; it is never tried again by itself */
    SIGNET_E_STORE,           /* the store failed */
    SIGNET_E_STORE_FULL,      /* the store's map is full */
    SIGNET_E_FORBIDDEN,       /* the caller may not do this to this object */
    SIGNET_E_QUEUED,          /* accepted, waiting for an operator's approval */
    SIGNET_E_INTERNAL,        /* a bug */
    SIGNET_E_MAX
};

/* A short stable name for an error ("hsmUnavailable"), never NULL. */
const char *signet_err_name(enum signet_err err);

#define SIGNET_DETAIL_MAX 512

/* Formats into detail (SIGNET_DETAIL_MAX bytes) when detail is not NULL. */
void sg_detail(char *detail, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Appends OpenSSL's queued errors to detail as "; reason" and clears the queue.
 * Used at the boundary that called OpenSSL (STYLE.md: drain the queue where you called it).
 */
void sg_detail_openssl(char *detail);

/* ---- logging ---- */

enum sg_log_level { SG_LOG_ERR, SG_LOG_WARN, SG_LOG_INFO, SG_LOG_DEBUG, SG_LOG_LEVEL_MAX };

/* Program name and threshold for messages written to stderr. Thread-safe to call sg_log. */
void sg_log_init(const char *progname, enum sg_log_level level);
void sg_log(enum sg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs and clears OpenSSL's error queue, each entry prefixed with context. */
void sg_log_openssl(enum sg_log_level level, const char *context);

/* ---- secrets (PINs, passphrases, shares) ---- */

/*
 * A secret lives in a locked (mlock), wiped buffer. It is never logged, never put in an error
 * string and never passed in argv. secret_free wipes and frees; it is NULL-safe.
 */
struct secret;

#define SECRET_MAX 4096 /* bound on any credential read from outside */

struct secret *secret_new(size_t cap);
void secret_free(struct secret *s);
/* Replaces the content (1 = ok, 0 = longer than the capacity). */
int secret_set(struct secret *s, const void *data, size_t len);
struct secret *secret_dup(const struct secret *s);
const unsigned char *secret_data(const struct secret *s);
size_t secret_len(const struct secret *s);
/* 1 when both hold the same bytes (constant time in the length). */
int secret_equal(const struct secret *a, const struct secret *b);

/*
 * Loads a credential from a source specification:
 *   file:PATH  PATH relative to basedir unless absolute; refused when group or others can read
 *              it or it is not a regular file; one trailing newline is dropped
 *   env:VAR    the variable's value
 *   prompt     read from the terminal without echo (refused when there is no terminal)
 * "quorum" is refused here with SIGNET_E_CONFIG: quorum activation is a ceremony of ca/.
 * On success *out owns the secret.
 */
enum signet_err secret_load(const char *spec, const char *basedir, const char *what,
                            struct secret **out, char *detail);

/* Turns off core dumps for this process (it holds a credential). Returns 1 on success. */
int sg_no_core_dumps(void);

/* ---- configuration (OpenSSL config syntax, read with NCONF) ---- */

struct sg_conf;

enum signet_err sg_conf_load(const char *path, struct sg_conf **out, char *detail);
void sg_conf_free(struct sg_conf *conf);
/* The value of name in section, or NULL when absent. Borrowed from conf. */
const char *sg_conf_get(const struct sg_conf *conf, const char *section, const char *name);
/* The directory holding the configuration file; relative paths in it are relative to this. */
const char *sg_conf_dir(const struct sg_conf *conf);
const char *sg_conf_file(const struct sg_conf *conf);
/* Resolves a path from the configuration against sg_conf_dir. Caller frees. NULL on ENOMEM. */
char *sg_conf_path(const struct sg_conf *conf, const char *value);
/*
 * Names of the sections starting with prefix (e.g. "ca."), with the prefix removed, sorted by name.
 * Returns the count; *out is a NULL-terminated array the caller frees with sg_strv_free.
 */
size_t sg_conf_sections(const struct sg_conf *conf, const char *prefix, char ***out);
/* The underlying OpenSSL CONF (for X509V3_EXT_add_nconf). Borrowed. */
void *sg_conf_nconf(const struct sg_conf *conf);

/* Splits "a, b ,c" on commas, trimming blanks and dropping empties. NULL-terminated; see count. */
char **sg_split_list(const char *s, size_t *out_count);
void sg_strv_free(char **v);

/* ---- files ---- */

/* Reads a whole file, refusing one larger than max bytes. Caller frees *out (NUL-terminated). */
enum signet_err sg_read_file(const char *path, size_t max, unsigned char **out, size_t *out_len,
                             char *detail);
/*
 * Writes a file atomically: a temporary file in the same directory, fsync, rename, fsync of the
 * directory. Either the old or the new content is seen, never half of either.
 */
enum signet_err sg_write_file(const char *path, const void *data, size_t len, unsigned mode,
                              char *detail);
/* mkdir -p with the given mode for directories it creates. */
enum signet_err sg_mkdirs(const char *path, unsigned mode, char *detail);

/* ---- encodings ---- */

/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void sg_hex_encode(const unsigned char *in, size_t len, char *out);
/* Parses hex (either case, even length); returns the byte count or -1. */
long sg_hex_decode(const char *in, unsigned char *out, size_t outcap);

/* ---- numbers and time ---- */

/* Strict unsigned parse of the whole string within [min,max]. 1 = ok. */
int sg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* "90d", "12h", "30m", "45s", "2y" (365 d) -> seconds. 1 = ok. */
int sg_parse_duration(const char *s, int64_t *out_seconds);
/* "2026-12-01T00:00:00Z" -> seconds since the epoch. 1 = ok. */
int sg_parse_time(const char *s, int64_t *out);
/* The inverse, into out (at least 21 bytes). */
void sg_format_time(int64_t t, char *out, size_t outlen);
/* Current wall-clock time in seconds; and a monotonic clock in milliseconds. */
int64_t sg_now(void);
uint64_t sg_mono_ms(void);
/* Sleeps for ms milliseconds (restarting after signals). */
void sg_sleep_ms(unsigned ms);

/* ---- memory ---- */

/*
 * Maps the whole pages inside [p, p+len) of private memory about to be written, in one call
 * (MADV_POPULATE_WRITE), instead of one fault per 4 KiB page on first touch. For buffers of
 * megabytes that are filled at once (a CRL, a store value): on a virtual machine every fault
 * traps to the hypervisor, and 50 MB took 0.3 s to touch page by page against about 0.06 s
 * mapped ahead (docs/crl.md). Advice only: no byte changes, and on a kernel without it (before
 * 5.14) nothing happens. The memory stays the caller's and keeps no lasting advice.
 */
void sg_prefault(void *p, size_t len);
/* The process's resident set in bytes (/proc/self/statm), or 0 when it cannot be read. */
size_t sg_rss_bytes(void);

#endif
