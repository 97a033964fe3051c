#!/usr/bin/env node
// Throughput benchmark of ONNX Runtime (CPU EP) on one model: seeded random input in [-1, 1),
// warm-up runs, then timed runs for --seconds (at least 3). Reports the median of per-run
// throughputs. A benchmark, not a correctness check (see run.js).
//
// Usage: node scripts/ort/bench.js MODEL.onnx [--batch 16] [--threads 2] [--size 224]
//                                  [--seconds 10] [--warmup 2] [--json]
//   A model with a fixed batch or input size uses its own when --batch/--size is not given.
//   --json prints one object: {"imgs_per_s", "median_ms_per_batch", "runs", "batch", ...}.
'use strict';
const fs = require('fs');
const { die, loadOrt, sessionOptions, parseArgs, median, randomInput } = require('./common');

// Pick a dimension: the model's fixed value wins unless the user asked for another one.
function dim(modelDim, asked, fallback, what) {
  if (typeof modelDim !== 'number') return asked !== undefined ? Number(asked) : fallback;
  if (asked !== undefined && Number(asked) !== modelDim) {
    die(`model has a fixed ${what} of ${modelDim}, --${what} ${asked} asked (for another batch use a dynamic-batch model, e.g. <name>.dyn.onnx from scripts/export_torchvision.py)`);
  }
  return modelDim;
}

async function main() {
  const args = parseArgs(process.argv.slice(2), ['json']);
  if (args._.length !== 1) die('usage: bench.js MODEL.onnx [--batch 16] [--threads 2] [--size 224] [--seconds 10] [--json]');
  const model = args._[0];
  if (!fs.existsSync(model)) die(`${model}: no such file`);
  const threads = Number(args.threads || 2);
  const seconds = Number(args.seconds || 10);
  const warmup = Number(args.warmup || 2);
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(model, sessionOptions(threads));

  const meta = session.inputMetadata[0];
  const shape = meta.shape || [];
  const batch = dim(shape[0], args.batch, 16, 'batch');
  const size = dim(shape[2], args.size, 224, 'size');
  const channels = typeof shape[1] === 'number' ? shape[1] : 3;
  const n = batch * channels * size * size;
  const data = randomInput(n);
  const feeds = { [meta.name]: new ort.Tensor('float32', data, [batch, channels, size, size]) };

  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const ms = [];
  const t0 = process.hrtime.bigint();
  while (ms.length < 3 || Number(process.hrtime.bigint() - t0) / 1e9 < seconds) {
    const t = process.hrtime.bigint();
    await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const imgs = median(ms.map((m) => (batch * 1000) / m));
  const res = {
    imgs_per_s: Number(imgs.toFixed(2)),
    median_ms_per_batch: Number(median(ms).toFixed(3)),
    runs: ms.length, batch, threads, size, engine: 'onnxruntime-node',
  };
  if (args.json) console.log(JSON.stringify(res));
  else console.log(`${model}: ${res.imgs_per_s} img/s (median of ${res.runs} runs, ${res.median_ms_per_batch} ms/batch, batch ${batch}, ${threads} threads, ${size}x${size})`);
}

main().catch((e) => die(e.message || String(e)));
