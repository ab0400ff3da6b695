/* SPDX-License-Identifier: Apache-2.0 */
/* signet root init, signet ceremony run and signet audit verify: the offline root's commands. */
#include "signet.h"

int cmd_root(const char *conf, int argc, char **argv)
{
    (void)conf, (void)argc, (void)argv;
    fprintf(errf, "signet: root: not built yet\n");
    return EXIT_REFUSED;
}

int cmd_ceremony(const char *conf, int argc, char **argv)
{
    (void)conf, (void)argc, (void)argv;
    fprintf(errf, "signet: ceremony: not built yet\n");
    return EXIT_REFUSED;
}

int cmd_audit(const char *conf, int argc, char **argv)
{
    (void)conf, (void)argc, (void)argv;
    fprintf(errf, "signet: audit: not built yet\n");
    return EXIT_REFUSED;
}
