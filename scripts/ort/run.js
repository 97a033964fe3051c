#!/usr/bin/env node
// Reference runner: run an ONNX model once in ONNX Runtime (CPU EP, 2 intra-op threads by default)
// on an .npy input and write each requested tensor to OUTDIR/<sanitized name>.npy as float32.
// Intermediate tensors (not graph outputs) are exposed first with scripts/onnx_add_outputs.py,
// which writes a temporary copy of the model. Not a benchmark (see bench.js).
//
// Usage: node scripts/ort/run.js MODEL.onnx INPUT.npy OUTDIR [--outputs name1,name2] [--threads 2]
//   default --outputs: all graph outputs. Names are sanitized: [^A-Za-z0-9._-] -> '_'.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { die, loadOrt, sessionOptions, parseArgs, readNpy, writeNpy, sanitize } = require('./common');

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args._.length !== 3) die('usage: run.js MODEL.onnx INPUT.npy OUTDIR [--outputs a,b] [--threads 2]');
  const [model, inputFile, outdir] = args._;
  const threads = Number(args.threads || 2);
  if (!fs.existsSync(model)) die(`${model}: no such file`);
  const ort = loadOrt();
  const opts = sessionOptions(threads);

  let session = await ort.InferenceSession.create(model, opts);
  const wanted = args.outputs ? args.outputs.split(',').filter((s) => s) : session.outputNames;
  const missing = wanted.filter((n) => !session.outputNames.includes(n));
  let tmpdir = null;
  if (missing.length) {
    tmpdir = fs.mkdtempSync(path.join(os.tmpdir(), 'fc-ort-'));
    const patched = path.join(tmpdir, 'model.onnx');
    const helper = path.join(__dirname, '..', 'onnx_add_outputs.py');
    try {
      execFileSync('/usr/bin/python3', [helper, model, patched, ...missing], { stdio: ['ignore', 'ignore', 'inherit'] });
    } catch (e) {
      fs.rmSync(tmpdir, { recursive: true, force: true });
      die(`cannot expose ${missing.join(', ')} as outputs of ${model}`);
    }
    session = await ort.InferenceSession.create(patched, opts);
  }

  try {
    const x = readNpy(inputFile);
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) };
    const result = await session.run(feeds, wanted);
    fs.mkdirSync(outdir, { recursive: true });
    for (const name of wanted) {
      const t = result[name];
      writeNpy(path.join(outdir, `${sanitize(name)}.npy`), t.dims, t.data);
    }
  } finally {
    if (tmpdir) fs.rmSync(tmpdir, { recursive: true, force: true });
  }
}

main().catch((e) => die(e.message || String(e)));
