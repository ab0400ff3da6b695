/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocsp: OCSP request parsing (RFC 6960, bounded), response building and signing through
 * hsmbind, for pre-signed responses. Knows nothing of HTTP or of CRLs.
 */
#ifndef SIGNET_OCSP_H
#define SIGNET_OCSP_H

#include "common.h"
#include "hsmbind.h"
#include "store.h"

#endif
