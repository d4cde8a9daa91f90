#!/usr/bin/env node
// Times one ONNX model in ONNX Runtime's CPU execution provider, the way
// shared/reference/cpu-peers.md did: 2 warm-up runs, then --runs timed calls of session.run,
// each timed with process.hrtime.bigint(). Prints one JSON object on stdout:
//   {"median_ms", "samples_ms", "runs", "threads", "onnxruntime", "output", "profile"}
// --output writes the (last) output tensor (.npy, or raw little-endian float32 otherwise);
// --profile DIR turns on ORT's profiler and reports the Chrome-trace JSON it wrote in DIR.
//
// usage: node ort_time.js --model M.onnx --input X.npy|X.f32 [--shape 1,3,224,224]
//                         [--threads 2] [--runs 10] [--warmup 2] [--output Y.npy] [--profile DIR]
// onnxruntime-node is loaded from build/peers/onnxruntime/ (bench/peers/onnxruntime/install.sh).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const ORT_DIR = path.join(REPO_ROOT, 'build', 'peers', 'onnxruntime');

// Expected failures end here: one line on stderr, no stack trace.
function fail(message) {
  process.stderr.write(`ort_time.js: ${message}\n`);
  process.exit(2);
}

function loadOrt() {
  let resolved;
  try {
    resolved = require.resolve('onnxruntime-node', { paths: [ORT_DIR] });
  } catch (e) {
    fail(`onnxruntime-node is not installed in ${ORT_DIR}: run bench/peers/onnxruntime/install.sh first`);
  }
  try {
    return require(resolved);
  } catch (e) {
    fail(`onnxruntime-node in ${ORT_DIR} does not load (${e.message}): rerun bench/peers/onnxruntime/install.sh`);
  }
}

function parseArgs(argv) {
  const args = { threads: os.cpus().length, runs: 10, warmup: 2 };
  const known = new Set(['model', 'input', 'shape', 'threads', 'runs', 'warmup', 'output', 'profile']);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || !known.has(key)) fail(`unknown argument ${argv[i]}`);
    if (i + 1 >= argv.length) fail(`${argv[i]} needs a value`);
    args[key] = argv[i + 1];
  }
  if (!args.model || !args.input) fail('--model and --input are required');
  for (const key of ['threads', 'runs', 'warmup']) {
    args[key] = Number(args[key]);
    if (!Number.isInteger(args[key]) || args[key] < (key === 'warmup' ? 0 : 1)) fail(`--${key} wants a positive integer`);
  }
  return args;
}

// --- .npy: magic, version, little-endian header length, a Python dict literal, the data. ---

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') fail(`${file} is not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  if (!/'descr':\s*'<f4'/.test(header)) fail(`${file}: only little-endian float32 (<f4) arrays are supported`);
  if (/'fortran_order':\s*True/.test(header)) fail(`${file}: Fortran-ordered arrays are not supported`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  return { data: toFloat32(buf.subarray(start + headerLen)), shape };
}

function writeNpy(file, data, shape) {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  // Pad with spaces so that magic + version + length + header + '\n' is a multiple of 64.
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([prefix, Buffer.from(header, 'latin1'), float32Bytes(data)]));
}

// A copy, so the floats are aligned whatever the header length was.
function toFloat32(bytes) {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new Float32Array(copy.buffer, 0, Math.floor(bytes.length / 4));
}

function float32Bytes(data) {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function readInput(args) {
  if (args.input.endsWith('.npy')) {
    const npy = readNpy(args.input);
    return { data: npy.data, shape: args.shape ? parseShape(args.shape) : npy.shape };
  }
  if (!args.shape) fail('a raw float32 --input needs --shape, e.g. --shape 1,3,224,224');
  return { data: toFloat32(fs.readFileSync(args.input)), shape: parseShape(args.shape) };
}

function parseShape(text) {
  const shape = text.split(',').map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 1)) fail(`bad --shape ${text}`);
  return shape;
}

// --- the session, configured as in cpu-peers.md ---

async function createSession(ort, args) {
  const options = {
    executionProviders: ['cpu'],
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
  if (args.profile) {
    fs.mkdirSync(args.profile, { recursive: true });
    options.enableProfiling = true;
    options.profileFilePrefix = path.join(args.profile, 'ort_profile');
  }
  try {
    return await ort.InferenceSession.create(args.model, options);
  } catch (e) {
    fail(`cannot load ${args.model}: ${e.message}`);
  }
}

async function timeRuns(session, feeds, warmup, runs) {
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const samples = [];
  let outputs;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    outputs = await session.run(feeds);
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { samples, outputs };
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

// ORT names the trace <prefix>_<date-time>.json; endProfiling() does not return the name.
function newestProfile(dir) {
  const traces = fs.readdirSync(dir).filter((f) => f.startsWith('ort_profile') && f.endsWith('.json'))
    .map((f) => path.join(dir, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return traces.length ? traces[0] : null;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const input = readInput(args);
  const count = input.shape.reduce((a, b) => a * b, 1);
  if (count !== input.data.length) fail(`${args.input} holds ${input.data.length} floats, shape ${input.shape} needs ${count}`);

  const session = await createSession(ort, args);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input.data, input.shape) };
  const { samples, outputs } = await timeRuns(session, feeds, args.warmup, args.runs);

  const result = {
    median_ms: median(samples),
    samples_ms: samples,
    runs: args.runs,
    threads: args.threads,
    onnxruntime: ort.env.versions.node,
    output: null,
    profile: null,
  };
  if (args.output) {
    const y = outputs[session.outputNames[0]];
    if (args.output.endsWith('.npy')) writeNpy(args.output, y.data, y.dims);
    else fs.writeFileSync(args.output, float32Bytes(y.data));
    result.output = { file: args.output, shape: y.dims };
  }
  if (args.profile) {
    await session.endProfiling();
    result.profile = newestProfile(args.profile);
  }
  await session.release();
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => fail(e.message));
