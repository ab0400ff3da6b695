/* SPDX-License-Identifier: Apache-2.0 */
/* placeholder until the handler lands: the endpoint answers 404 as an unknown one would. */
#include "internal.h"

void net_h_ocsp(struct net_worker *w, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    net_problem(w, req, 404, "notFound", "Not Found", "no such endpoint; see docs/api.md");
}
