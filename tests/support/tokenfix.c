/* SPDX-License-Identifier: Apache-2.0 */
#include "tokenfix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs a shell command; returns 1 when it exits 0. */
static int run(const char *cmd)
{
    int rc = system(cmd);
    return rc == 0;
}

int tokenfix_setup(struct tokenfix *fx, const char *const *labels, size_t nlabels)
{
    char cmd[1024];
    FILE *f;

    memset(fx, 0, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/signet-test.XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return 0;
    snprintf(fx->conf, sizeof(fx->conf), "%s/softhsm2.conf", fx->dir);
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s/tokens'", fx->dir);
    if (!run(cmd))
        return 0;
    if ((f = fopen(fx->conf, "w")) == NULL)
        return 0;
    fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
            fx->dir);
    fclose(f);
    setenv("SOFTHSM2_CONF", fx->conf, 1);
    for (size_t i = 0; i < nlabels; i++) {
        snprintf(cmd, sizeof(cmd),
                 "softhsm2-util --init-token --free --label '%s' --pin %s --so-pin %s >/dev/null",
                 labels[i], TOKENFIX_PIN, TOKENFIX_SO_PIN);
        if (!run(cmd))
            return 0;
    }
    return 1;
}

void tokenfix_teardown(struct tokenfix *fx)
{
    char cmd[400];

    if (fx == NULL || fx->dir[0] == '\0')
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    (void)run(cmd);
    fx->dir[0] = '\0';
}
