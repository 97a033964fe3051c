"""Test inputs for the shell tests (tests/cli/test_limits.sh, test_security.sh, test_inputs.sh...),
made at test time so that no large or hostile file lives in git. Run with /usr/bin/python3 (numpy,
PIL, onnx from Debian).

  make_fixtures.py model OUT.onnx [C]       tiny CNN: input (N,C,32,32) (C: 3 by default) -> 'fmap'
                                            (16,16,16) -> 'gap' (16) -> 'probabilities' (4); default
                                            feature 'gap'
  make_fixtures.py images DIR N [SEED]      N distinct 40x40 JPEGs DIR/img000.jpg ...
  make_fixtures.py jpeg OUT W H [SEED]      one W x H JPEG (smooth noise; quality 85)
  make_fixtures.py badmodel KIND OUT.onnx   KIND: overflow (initializer dims 2^40 x 2^40 x 3 x 3, no
                                            data), huge_input (input 1x3x200000x200000), escape
                                            (external data at ../../etc/passwd), absolute (/etc/passwd),
                                            link (link.bin: the test makes it a symlink out)
Not a general fixture library: only what the shell tests need."""
import os
import sys

import numpy as np


def tiny_model(out, channels=3):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(7)
    w1 = numpy_helper.from_array(rng.standard_normal((16, channels, 3, 3)).astype(np.float32) * 0.2, "w1")
    b1 = numpy_helper.from_array(rng.standard_normal(16).astype(np.float32) * 0.1, "b1")
    w2 = numpy_helper.from_array(rng.standard_normal((4, 16)).astype(np.float32), "w2")
    b2 = numpy_helper.from_array(np.zeros(4, np.float32), "b2")
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["conv"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["fmap"]),
        helper.make_node("GlobalAveragePool", ["fmap"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["pooled"], axis=1),
        helper.make_node("Gemm", ["pooled", "w2", "b2"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    g = helper.make_graph(nodes, "tiny",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", channels, 32, 32])],
                          [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 4])],
                          [w1, b1, w2, b2])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, out)


def images(d, n, seed):
    from PIL import Image
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        px = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        Image.fromarray(px).save(os.path.join(d, "img%03d.jpg" % i), quality=90)


def jpeg(out, w, h, seed):
    from PIL import Image
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(h // 64, 1), max(w // 64, 1), 3), dtype=np.uint8)
    Image.fromarray(small).resize((w, h), Image.BILINEAR).save(out, quality=85)


def bad_model(kind, out):
    import onnx
    from onnx import TensorProto, helper
    inp_hw = 200000 if kind == "huge_input" else 8
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, inp_hw, inp_hw])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if kind == "overflow":
        w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 40, 1 << 40, 3, 3])
        nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv_huge")]
        inits = [w]
    elif kind == "huge_input":
        nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
        inits = []
    elif kind in ("escape", "absolute", "link"):
        b = TensorProto(name="b", data_type=TensorProto.FLOAT, dims=[1, 3, 1, 1])
        b.data_location = TensorProto.EXTERNAL
        loc = {"escape": "../../etc/passwd", "absolute": "/etc/passwd", "link": "link.bin"}[kind]
        for k, v in (("location", loc), ("offset", "0"), ("length", "12")):
            e = b.external_data.add()
            e.key, e.value = k, v
        nodes = [helper.make_node("Add", ["x", "b"], ["y"], name="add")]
        inits = [b]
    else:
        sys.exit("unknown bad model kind " + kind)
    g = helper.make_graph(nodes, "bad_" + kind, inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    with open(out, "wb") as f:  # onnx.save would try to resolve the external data
        f.write(m.SerializeToString())


def main(a):
    if a[0] == "model":
        tiny_model(a[1], int(a[2]) if len(a) > 2 else 3)
    elif a[0] == "images":
        images(a[1], int(a[2]), int(a[3]) if len(a) > 3 else 1)
    elif a[0] == "jpeg":
        jpeg(a[1], int(a[2]), int(a[3]), int(a[4]) if len(a) > 4 else 1)
    elif a[0] == "badmodel":
        bad_model(a[1], a[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
