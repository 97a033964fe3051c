#!/usr/bin/env node
// Stage 2 of the anchor pipeline of scripts/bench_extract.sh: ONNX Runtime (npm onnxruntime-node,
// CPU EP, graph optimizations on) over a preprocessed [N,3,H,W] float32 .npy in batches, fetching
// one tensor (default `pooled`) and writing it as float32 [N, D] to OUT.npy. bench_extract.sh times
// this whole process: node start-up, loading ORT, reading the .npy, creating the session (model load
// + graph optimization), all batches and writing the features; session_s and run_s printed here are
// only the session creation and the batches.
// The tensor must be a graph output (scripts/onnx_add_outputs.py makes such a copy of the model;
// bench_extract.sh does that once, before any timing). The last batch may be smaller.
//
// Usage: node scripts/bench/anchor_ort.js MODEL.onnx INPUT.npy OUT.npy [--output pooled]
//                                          [--batch 16] [--threads 2]
// Prints one JSON line: {"images", "dim", "batch", "threads", "session_s", "run_s"}.
'use strict';
const path = require('path');
const { die, loadOrt, sessionOptions, parseArgs, readNpy, writeNpy } =
  require(path.join(__dirname, '..', 'ort', 'common'));

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args._.length !== 3) die('usage: anchor_ort.js MODEL.onnx INPUT.npy OUT.npy [--output pooled] [--batch 16] [--threads 2]');
  const [model, input, out] = args._;
  const name = args.output || 'pooled';
  const batch = Number(args.batch || 16);
  const threads = Number(args.threads || 2);
  const ort = loadOrt();
  const x = readNpy(input);
  const [n, c, h, w] = x.shape;
  if (x.shape.length !== 4) die(`${input}: expected [N,C,H,W], got [${x.shape}]`);

  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(model, sessionOptions(threads));
  if (!session.outputNames.includes(name)) {
    die(`${model} has no graph output ${name} (outputs: ${session.outputNames}); use scripts/onnx_add_outputs.py`);
  }
  const t1 = process.hrtime.bigint();
  const per = c * h * w;
  let feats = null, dim = 0;
  for (let i = 0; i < n; i += batch) {
    const b = Math.min(batch, n - i);
    const t = new ort.Tensor('float32', x.data.subarray(i * per, (i + b) * per), [b, c, h, w]);
    const r = (await session.run({ [session.inputNames[0]]: t }, [name]))[name];
    if (!feats) { dim = r.data.length / b; feats = new Float32Array(n * dim); }
    feats.set(r.data, i * dim);
  }
  const t2 = process.hrtime.bigint();
  writeNpy(out, [n, dim], feats || new Float32Array(0));
  console.log(JSON.stringify({
    images: n, dim, batch, threads,
    session_s: Number(t1 - t0) / 1e9, run_s: Number(t2 - t1) / 1e9,
  }));
}

main().catch((e) => die(e.message || String(e)));
