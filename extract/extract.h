/* extract/: image files -> tensors -> the extraction job (depends on core/, engine/, store/).
 * This header is its public API; cli/ includes only this one.
 *  - dataset.h     data set discovery (folder layouts, CSV manifests)
 *  - extractor.h   an extractor's parameters and id, model file facts
 *  - image.h       JPEG/PNG/WebP/GIF/BMP/TIFF decoding with size limits, EXIF orientation
 *  - preprocess.h  crop, Pillow-exact resize, normalization presets
 *  - pipeline.h    decode-ahead threads feeding batches
 *  - job.h         the extraction job: scan, hash, run the model, store features
 *  - summary.h     a job's outcome as JSON (extract --json, the C API)
 *  - thumbnail.h   small JPEGs for report.html */
#ifndef FC_EXTRACT_H
#define FC_EXTRACT_H

#include "extract/dataset.h"
#include "extract/extractor.h"
#include "extract/image.h"
#include "extract/job.h"
#include "extract/pipeline.h"
#include "extract/preprocess.h"
#include "extract/summary.h"
#include "extract/thumbnail.h"

#endif
