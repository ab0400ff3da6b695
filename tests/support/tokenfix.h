/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test fixtures: a throwaway SoftHSM2 token in a temporary directory.
 * Only tests link this; it may pass a test PIN on a command line, which the product never does.
 */
#ifndef SIGNET_TOKENFIX_H
#define SIGNET_TOKENFIX_H

#include <stddef.h>

struct tokenfix {
    char dir[256];  /* temporary directory holding softhsm2.conf and tokens/ */
    char conf[300]; /* path of softhsm2.conf; SOFTHSM2_CONF points here */
};

#define TOKENFIX_PIN    "1234"
#define TOKENFIX_SO_PIN "5678"

/*
 * Creates a temporary directory with a SoftHSM2 configuration, sets SOFTHSM2_CONF to it and
 * initialises one token per label (user PIN TOKENFIX_PIN). Returns 1 on success, 0 on failure.
 */
int tokenfix_setup(struct tokenfix *fx, const char *const *labels, size_t nlabels);

/* Removes the directory and everything in it. NULL-safe on a fixture that failed to set up. */
void tokenfix_teardown(struct tokenfix *fx);

#endif
