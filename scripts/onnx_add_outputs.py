#!/usr/bin/python3
"""Copy an ONNX model and expose intermediate tensors as extra graph outputs.

ONNX Runtime only returns graph outputs, so scripts/ort/run.js calls this to fetch e.g. pooled
features. Types and shapes come from ONNX shape inference where it knows them; otherwise the output
is declared float32 with unknown shape. Does not change any node or weight.

Usage: /usr/bin/python3 scripts/onnx_add_outputs.py MODEL.onnx OUT.onnx NAME [NAME...]
"""
import sys

import onnx
from onnx import TensorProto, helper, shape_inference


def main(argv):
    if len(argv) < 4:
        sys.exit("usage: onnx_add_outputs.py MODEL.onnx OUT.onnx NAME [NAME...]")
    src, dst, names = argv[1], argv[2], argv[3:]
    try:
        model = onnx.load(src)
    except Exception as e:  # bad path or not a protobuf
        sys.exit(f"onnx_add_outputs.py: cannot load {src}: {e}")
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:  # inference is best effort; fall back to untyped outputs
        inferred = model
    known = {vi.name: vi for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
    produced = {o for node in model.graph.node for o in node.output} | {i.name for i in model.graph.input}
    present = {o.name for o in model.graph.output}
    for name in names:
        if name not in produced:
            sys.exit(f"onnx_add_outputs.py: {src} has no tensor named {name!r}")
        if name in present:
            continue
        model.graph.output.append(known[name] if name in known
                                  else helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    onnx.save(model, dst)


if __name__ == "__main__":
    main(sys.argv)
