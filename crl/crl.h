/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crl: building CRLs (full, delta, sharded) by one cursor pass over the store's revoked
 * database, streamed into DER and signed through hsmbind. Knows nothing of HTTP or of OCSP.
 */
#ifndef SIGNET_CRL_H
#define SIGNET_CRL_H

#include "common.h"
#include "hsmbind.h"
#include "store.h"

#endif
