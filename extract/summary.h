/* An extraction job's outcome as one JSON object: what `featcache extract --json` prints and the C
 * API returns (counts, rate, layers with their extractor ids and dims, the data set's bad files
 * with their reasons from the catalog, files skipped by the scan). Not here: running the job
 * (job.h), the CLI's text lines. */
#ifndef FC_EXTRACT_SUMMARY_H
#define FC_EXTRACT_SUMMARY_H

#include "core/core.h"
#include "extract/job.h"

/* Appends the summary of the job o ran with result r to out: {"dataset","cache","items","computed",
 * "cached","bad","damaged","elsewhere","seconds","imgs_per_s","model_loaded","layers":[{"name",
 * "extractor","dims"}],"bad_files":[{"path","error"}],"skipped","too_deep"}. The bad files are read
 * from the catalog (the reasons of earlier runs included); without a readable catalog the list is
 * left empty (the run itself succeeded). Out of memory shows as out->failed. */
void fc_extract_summary_json(const fc_extract_options *o, const fc_extract_result *r, fc_strbuf *out);

#endif
