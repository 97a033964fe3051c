/* engine/: the network engine (depends on core/ only): ONNX import, the graph and its rewrites,
 * operators, SIMD kernels, models and sessions. This header is its public API; extract/, classify/
 * and cli/ include only this one.
 *  - tensor.h       fc_tensor, dtypes (NCHW float32 at the boundaries users see)
 *  - model.h        load an ONNX model once, run it through sessions (fc_model, fc_session)
 *  - cuts.h         where a model can be cut: shapes, FLOPs and parameters below/above, blocks
 *  - matmul.h       float32 matrix products on the packed GEMM kernels (fc_matmul)
 *  - kernels/peak.h measured fp32 peak of the machine (bench)
 *  - onnx/onnx_io.h ONNX protobuf read and write (onnx/onnx.pb-c.h: the generated schema); the
 *                   import into the engine's graph (onnx/onnx_import.h) is internal
 *  - train/train_ops.h  forward/backward pairs and optimizer steps for training (fine-tuning the
 *                   top of a backbone, new conv layers on cached maps)
 *  - train/net.h    the top of an ONNX backbone from a cut tensor to the feature tensor as a
 *                   trainable network (forward, backward, parameters, export to ONNX) */
#ifndef FC_ENGINE_H
#define FC_ENGINE_H

#include "engine/cuts.h"
#include "engine/kernels/peak.h"
#include "engine/matmul.h"
#include "engine/model.h"
#include "engine/onnx/onnx_io.h" /* includes onnx/onnx.pb-c.h, the generated schema */
#include "engine/tensor.h"
#include "engine/train/net.h"
#include "engine/train/train_ops.h"

#endif
