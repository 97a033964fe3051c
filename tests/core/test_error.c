/* core/error.h: every status code has its own description (callers and people tell them apart by
 * the code), fc_fail fills and returns the code, fc_error_prefix keeps the code and the message. */
#include <string.h>

#include "core/core.h"
#include "tests/support/check.h"

static void test_codes_distinct(void) {
    const int codes[] = {FC_OK, FC_EIO, FC_EFORMAT, FC_EUNSUPPORTED, FC_ESHAPE, FC_ENOMEM, FC_EINVAL,
                         FC_ELIMIT, FC_EINTERNAL, FC_ECANCELLED, FC_EFULL, FC_ENOSPC, FC_ETIMEOUT};
    const int n = (int)(sizeof codes / sizeof *codes);
    for (int i = 0; i < n; i++) {
        CHECK(strcmp(fc_strerror(codes[i]), "unknown error") != 0, "code %d has no description", codes[i]);
        for (int k = 0; k < i; k++)
            CHECK(codes[i] != codes[k] && strcmp(fc_strerror(codes[i]), fc_strerror(codes[k])) != 0,
                  "codes %d and %d are not told apart", codes[i], codes[k]);
    }
    CHECK(!strcmp(fc_strerror(-999), "unknown error"), "unknown code");
}

static void test_fail_and_prefix(void) {
    fc_error e = {0};
    CHECK(fc_fail(&e, FC_EFULL, "%s: put: cache full", "features.mdb") == FC_EFULL && e.code == FC_EFULL &&
              !strcmp(e.msg, "features.mdb: put: cache full"), "fc_fail: %d %s", e.code, e.msg);
    CHECK(fc_fail(NULL, FC_ETIMEOUT, "x") == FC_ETIMEOUT, "fc_fail without an fc_error");
    CHECK(fc_error_prefix(&e, "extract: ") == FC_EFULL && !strcmp(e.msg, "extract: features.mdb: put: cache full"),
          "prefix: %s", e.msg);
    char longer[600];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    fc_error_prefix(&e, "%s", longer); /* a long prefix is cut, the message it prefixes kept */
    size_t len = strlen(e.msg);
    CHECK(len < sizeof e.msg && e.code == FC_EFULL && len > 20 && !strcmp(e.msg + len - 20, "mdb: put: cache full"),
          "long prefix: %zu '%s'", len, e.msg + (len > 40 ? len - 40 : 0));
}

int main(void) {
    RUN(test_codes_distinct);
    RUN(test_fail_and_prefix);
    return check_done();
}
