// Shared helpers for run.js, bench.js and profile.js: locate onnxruntime-node in build/ort (or
// $FC_ORT_PREFIX), read/write .npy files (little-endian, C order; float32 out,
// float32/float64/int32/int64 in), parse "--flag value" arguments, make CPU session options, and
// the benchmarks' median and seeded random input. Not a general npy library: no Fortran order, no
// big-endian, no structured dtypes.
'use strict';
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');

function die(msg) {
  process.stderr.write(`${path.basename(process.argv[1])}: ${msg}\n`);
  process.exit(1);
}

function loadOrt() {
  const prefix = process.env.FC_ORT_PREFIX || path.join(ROOT, 'build', 'ort');
  try {
    return require(path.join(prefix, 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    die(`onnxruntime-node not found under ${prefix} (run scripts/ort/install.sh): ${e.message}`);
  }
}

function sessionOptions(threads) {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
}

// Parse argv into {_: [positional...], flag: value}; flags listed in `bools` take no value.
function parseArgs(argv, bools = []) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) { out._.push(a); continue; }
    const key = a.slice(2);
    if (bools.includes(key)) { out[key] = true; continue; }
    if (i + 1 >= argv.length) die(`missing value for ${a}`);
    out[key] = argv[++i];
  }
  return out;
}

const DTYPES = { '<f4': Float32Array, '<f8': Float64Array, '<i4': Int32Array, '<i8': BigInt64Array };

// Returns {shape: number[], data: Float32Array}.
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') die(`${file}: not an .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) die(`${file}: cannot parse npy header ${header}`);
  if (fortran[1] === 'True') die(`${file}: Fortran-order arrays are not supported`);
  const Type = DTYPES[descr[1]];
  if (!Type) die(`${file}: dtype ${descr[1]} not supported`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const off = hstart + hlen;
  const raw = new Type(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + off + count * Type.BYTES_PER_ELEMENT));
  const data = raw instanceof Float32Array ? raw : Float32Array.from(raw, Number);
  return { shape: dims, data };
}

function writeNpy(file, shape, data) {
  const f32 = data instanceof Float32Array ? data : Float32Array.from(data, Number);
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'),
    Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength)]));
}

// Same rule as scripts/export_torchvision.py: anything outside [A-Za-z0-9._-] becomes '_'.
function sanitize(name) {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// n floats in [-1, 1) from a fixed LCG: the benchmarks' input, the same in every script.
function randomInput(n) {
  const data = new Float32Array(n);
  let seed = 12345;
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    data[i] = seed / 2147483648 - 1;
  }
  return data;
}

module.exports = {
  ROOT, die, loadOrt, sessionOptions, parseArgs, readNpy, writeNpy, sanitize, median, randomInput,
};
