/* libFuzzer target: CSV manifest bytes -> fc_dataset_parse_csv (RFC 4180 records, header, splits,
 * path joining, sorting, duplicate and class collection), the same parser `extract` uses on a
 * manifest file. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "extract/dataset.h"

/* Status and message of the last library call this input reached (0 = all succeeded):
 * replay_main checks them against the expected codes of the regression files. */
int fuzz_status;
fc_error fuzz_error;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_status = 0;
    fuzz_error.msg[0] = 0;
    fc_dataset d;
    if ((fuzz_status = fc_dataset_parse_csv("fuzz.csv", "/data", data, size, &d, &fuzz_error)) != 0) return 0;
    /* touch the result the way callers do */
    size_t total = 0;
    for (size_t i = 0; i < d.n; i++)
        total += strlen(d.items[i].path) + strlen(d.items[i].label) + strlen(d.items[i].split);
    for (size_t i = 0; i < d.n_classes; i++) total += strlen(d.classes[i]);
    (void)total;
    fc_dataset_free(&d);
    return 0;
}
