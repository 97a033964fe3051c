/* core/strbuf's numbers: fc_strbuf_float writes a float in the fewest digits that read back as the
 * same float (a crop written into a head file is the crop that predict uses again). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "tests/support/check.h"

static void test_float_round_trip(void) {
    static const float values[] = {1.0f, 0.875f, 0.9f, 0.1f, 0.87654321f, 0.333333343f, 1e-7f, 0.999999f,
                                   0.99999994f, 3.40282347e38f};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        fc_strbuf b = {0};
        fc_strbuf_float(&b, values[i]);
        CHECK(!b.failed && strtof(b.s, NULL) == values[i], "%.9g written as '%s'", (double)values[i], b.s);
        fc_strbuf_free(&b);
    }
    fc_strbuf b = {0};
    fc_strbuf_float(&b, 0.9f);
    fc_strbuf_printf(&b, " ");
    fc_strbuf_float(&b, 0.87654321f);
    CHECK(!strcmp(b.s, "0.9 0.8765432"), "short forms: '%s' (want '0.9 0.8765432')", b.s);
    fc_strbuf_free(&b);
    /* a random sweep of the unit interval: every one reads back */
    srand(7);
    int bad = 0;
    for (int i = 0; i < 100000; i++) {
        float v = (float)rand() / (float)RAND_MAX;
        fc_strbuf s = {0};
        fc_strbuf_float(&s, v);
        bad += strtof(s.s, NULL) != v;
        fc_strbuf_free(&s);
    }
    CHECK(bad == 0, "%d of 100000 random floats did not read back", bad);
}

int main(void) {
    RUN(test_float_round_trip);
    return check_done();
}
