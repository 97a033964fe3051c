/* libFuzzer target: CSV manifest bytes -> fc_dataset_parse_csv (RFC 4180 records, header, splits,
 * path joining, sorting, duplicate and class collection), the same parser `extract` uses on a
 * manifest file. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fc_dataset d;
    fc_error err;
    if (fc_dataset_parse_csv("fuzz.csv", "/data", data, size, &d, &err) != 0) return 0;
    /* touch the result the way callers do */
    size_t total = 0;
    for (size_t i = 0; i < d.n; i++)
        total += strlen(d.items[i].path) + strlen(d.items[i].label) + strlen(d.items[i].split);
    for (size_t i = 0; i < d.n_classes; i++) total += strlen(d.classes[i]);
    (void)total;
    fc_dataset_free(&d);
    return 0;
}
