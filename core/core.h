/* core/: the bottom layer, what every other layer uses. This header is its public API; other
 * layers include only this one. Nothing here knows about models, images or the cache.
 *  - error.h   status codes (FC_E*) and fc_error messages; the library never prints or exits
 *  - cpu.h     CPU features detected once, and the ISA level allowed after FEATCACHE_ISA
 *  - file.h    whole-file reads, atomic writes, paths
 *  - strbuf.h  growing strings and JSON escaping */
#ifndef FC_CORE_H
#define FC_CORE_H

#include "core/cpu.h"
#include "core/error.h"
#include "core/file.h"
#include "core/strbuf.h"

#endif
