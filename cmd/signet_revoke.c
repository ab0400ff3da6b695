/* SPDX-License-Identifier: Apache-2.0 */
/* signet revoke and signet crl: revocation and CRL generation from the operator's terminal. */
#include "signet.h"

int cmd_revoke(const char *conf, int argc, char **argv)
{
    (void)conf, (void)argc, (void)argv;
    fprintf(errf, "signet: revoke: not built yet\n");
    return EXIT_REFUSED;
}

int cmd_crl(const char *conf, int argc, char **argv)
{
    (void)conf, (void)argc, (void)argv;
    fprintf(errf, "signet: crl: not built yet\n");
    return EXIT_REFUSED;
}
