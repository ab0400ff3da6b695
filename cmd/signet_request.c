/* SPDX-License-Identifier: Apache-2.0 */
/* signet request list / approve / reject: the manual-approval queue. */
#include "signet.h"

int cmd_request(const char *conf, int argc, char **argv)
{
    (void)conf, (void)argc, (void)argv;
    fprintf(errf, "signet: request: not built yet\n");
    return EXIT_REFUSED;
}
