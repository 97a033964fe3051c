/* What the C API's files share: fc_error -> fc_api_error. */
#ifndef FC_API_INTERNAL_H
#define FC_API_INTERNAL_H

#include "api/featcache.h"
#include "core/core.h"

/* Copies e into out (may be NULL) and returns e->code (rc when e holds none). */
int api_status(int rc, const fc_error *e, fc_api_error *out);

#endif
