/* The engine-vs-reference check shared by the model tests: an output tensor against a reference
 * array must have the same count, max|diff| <= 1e-3 * max|ref| and cosine >= 0.99999. Prints one
 * line with the numbers (labelled `what`) and records failures through check.h. */
#ifndef TEST_COMPARE_H
#define TEST_COMPARE_H

#include "engine/tensor.h"
#include "tests/support/npy.h"

void check_close_to_reference(const char *what, const fc_tensor *got, const npy_array *ref);

#endif
