#!/usr/bin/env node
// Per-node profile of ONNX Runtime (CPU EP) on one model, to set beside `featcache bench --profile`
// step by step: the same seeded random input as bench.js, --runs runs after 2 warm-up runs, ORT's
// own profiler (enableProfiling); per node the median kernel time of the runs, printed as
// thread-ms per image (wall time x threads / batch, as featcache's profile counts), then the
// totals by operator type and, with --group REGEX, by the first match of REGEX in the node name
// (e.g. 'layer\d\.\d' for ResNet blocks, 'features\.\d+' for torchvision MobileNets). The
// profiler's own cost inflates small nodes: compare the totals with bench.js's img/s of the same
// minute before reading small differences. A benchmark aid, not a check.
//
// Usage: node scripts/ort/profile.js MODEL.onnx [--batch 16] [--threads 2] [--size 224]
//                                    [--runs 20] [--group REGEX]
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { die, loadOrt, sessionOptions, parseArgs, median, randomInput } = require('./common');

// Kernel times (microseconds) per node from ORT's trace, in first-seen (execution) order.
function nodeTimes(traceFile) {
  const events = JSON.parse(fs.readFileSync(traceFile, 'utf8'));
  const nodes = new Map();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const name = e.name.slice(0, -'_kernel_time'.length);
    if (!nodes.has(name)) nodes.set(name, { op: (e.args && e.args.op_name) || '?', us: [] });
    nodes.get(name).us.push(e.dur);
  }
  return nodes;
}

function printTotals(title, totals) {
  console.log(`\n${title}:`);
  const sum = [...totals.values()].reduce((a, b) => a + b, 0);
  for (const [k, v] of totals) console.log(`  ${k.padEnd(40)} ${v.toFixed(4)} ms/img ${(100 * v / sum).toFixed(1).padStart(5)}%`);
  console.log(`  ${'total'.padEnd(40)} ${sum.toFixed(4)} ms/img (thread time)`);
}

async function main() {
  const args = parseArgs(process.argv.slice(2), []);
  if (args._.length !== 1) die('usage: profile.js MODEL.onnx [--batch 16] [--threads 2] [--size 224] [--runs 20] [--group REGEX]');
  const model = args._[0];
  if (!fs.existsSync(model)) die(`${model}: no such file`);
  const threads = Number(args.threads || 2), runs = Number(args.runs || 20);
  const group = args.group ? new RegExp(args.group) : null;
  const ort = loadOrt();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort-profile-'));
  const opts = { ...sessionOptions(threads), enableProfiling: true, profileFilePrefix: path.join(dir, 'p') };
  const session = await ort.InferenceSession.create(model, opts);
  const shape = session.inputMetadata ? session.inputMetadata[0].shape || [] : [];
  const batch = typeof shape[0] === 'number' ? shape[0] : Number(args.batch || 16);
  const size = typeof shape[2] === 'number' ? shape[2] : Number(args.size || 224);
  const channels = typeof shape[1] === 'number' ? shape[1] : 3;
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', randomInput(batch * channels * size * size), [batch, channels, size, size]) };
  for (let i = 0; i < runs + 2; i++) await session.run(feeds);
  if (session.endProfiling) session.endProfiling();
  await session.release();
  const traces = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
  if (!traces.length) die(`ONNX Runtime wrote no profile into ${dir}`);
  const nodes = nodeTimes(path.join(dir, traces[0]));
  fs.rmSync(dir, { recursive: true, force: true });
  const perImg = (us) => (us / 1000) * threads / batch;
  const byOp = new Map(), byGroup = new Map();
  let current = '(before the first match)';
  console.log(`model ${model}  batch ${batch}  threads ${threads}  size ${size}  runs ${runs} (+2 warm-up, skipped)`);
  console.log(`${'op'.padEnd(20)} ${'ms/img'.padStart(8)}  node`);
  for (const [name, n] of nodes) {
    const ms = perImg(median(n.us.slice(2)));
    console.log(`${n.op.padEnd(20)} ${ms.toFixed(4).padStart(8)}  ${name}`);
    byOp.set(n.op, (byOp.get(n.op) || 0) + ms);
    if (group) {
      const m = name.match(group);
      if (m) current = m[0];
      byGroup.set(current, (byGroup.get(current) || 0) + ms);
    }
  }
  printTotals('by op', byOp);
  if (group) printTotals(`by group (${args.group}; a node without a match counts to the group before it)`, byGroup);
}

main().catch((e) => die(e.message || String(e)));
