#!/usr/bin/env bash
# The archbench command end to end: outputs, exit codes, messages, and no partial files.
# usage: cli_test.sh path/to/archbench path/to/tests
set -u
bin="$(realpath "$1")"
tests="$(realpath "$2")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_eq() { [ "$1" == "$2" ] || fail "$3: expected [$2], got [$1]"; }
# Whether the binary is built with AddressSanitizer (linked statically by clang, as a shared
# library by g++: either way it carries the runtime's entry point's name).
sanitized=0
grep -qa __asan_init "$bin" && sanitized=1

# JSON contract: totals and a layer, exactly.
out="$("$bin" analyze resnet18 --format json)"
expect_eq "$?" 0 "analyze json exit"
grep -q '"params": 11689512' <<<"$out" || fail "resnet18 params in JSON"
grep -q '"macs": 1814073344' <<<"$out" || fail "resnet18 MACs in JSON"
grep -q '"name": "layer4.1.conv2"' <<<"$out" || fail "torchvision layer name in JSON"
grep -q '"layer4": "layer4.1.relu_out"' <<<"$out" || fail "endpoint in JSON"

# Table, CSV and Markdown carry the layer rows and label their conventions.
"$bin" analyze vgg16 | grep -q "^features.30 *maxpool *1x512x7x7 .* 212 *32 *90" || fail "vgg16 pool5 row in the table"
"$bin" analyze vgg16 | grep -q "MACs: multiply-accumulates of conv" || fail "table names its conventions"
expect_eq "$("$bin" analyze alexnet --format csv | head -1)" \
  "layer,op,output NxCxHxW,MACs,FLOPs,params,activation bytes,RF size,RF stride,RF padding,FLOP/byte,endpoint" "csv header"
"$bin" analyze alexnet --format markdown | grep -q "^| features.0 " || fail "markdown row"

# The zoo side by side: one row per network.
rows="$("$bin" analyze --zoo --format csv | tail -n +2 | wc -l)"
expect_eq "$rows" "$(ls "$tests"/../networks/zoo/*.yaml | wc -l)" "one csv row per zoo network"
"$bin" compare resnet50 vgg16 | grep -q "^resnet50 .*25,557,032 *4.089" || fail "compare row for resnet50"

# Flags: input override and train-only branches.
"$bin" analyze resnet50 --input 8,3,320,320 --format json | grep -q '"input": \[\s*8,' || \
  "$bin" analyze resnet50 --input 8,3,320,320 --format json | tr -d ' \n' | grep -q '"input":\[8,3,320,320\]' || fail "--input"
with="$("$bin" analyze googlenet --include-train-only --format csv | grep -c '^aux')"
without="$("$bin" analyze googlenet --format csv | grep -c '^aux')"
[ "$with" -gt 0 ] && [ "$without" -eq 0 ] || fail "--include-train-only adds aux layers ($with vs $without)"

# -o writes the whole file.
"$bin" analyze alexnet --format json -o "$work/a.json" || fail "-o exit"
grep -q '"network": "alexnet"' "$work/a.json" || fail "-o content"

# Every bad spec: exit 1, its expected message on stderr, and no output file.
for spec in "$tests"/bad_specs/*.yaml; do
  expected="$(head -1 "$spec" | sed 's/^# expect: //')"
  rm -f "$work/out.json"
  err="$("$bin" analyze "$spec" --format json -o "$work/out.json" 2>&1 >/dev/null)"
  rc=$?
  expect_eq "$rc" 1 "exit code for $(basename "$spec")"
  expect_eq "${err//$tests\//}" "$expected" "message for $(basename "$spec")"
  [ ! -e "$work/out.json" ] || fail "$(basename "$spec") left an output file"
done

# A failing run leaves an existing output file as it was.
echo old >"$work/keep.json"
"$bin" analyze "$tests/bad_specs/cycle.yaml" -o "$work/keep.json" 2>/dev/null
expect_eq "$(cat "$work/keep.json")" old "existing output untouched"
ls -A "$work" | grep -q '^\.keep' && fail "temporary file left behind"

# Other bad input.
expect_eq "$("$bin" analyze resnet18 -o /nonexistent/dir/x.json 2>&1)" \
  "archbench: error: /nonexistent/dir/x.json: cannot write: No such file or directory" "unwritable output"
expect_eq "$("$bin" analyze no_such_network 2>&1; echo "rc=$?")" \
  "no_such_network: error: no such spec file, and no zoo network of that name (the zoo is in $(cd "$tests/../networks/zoo" && pwd))
rc=1" "unknown network"
expect_eq "$("$bin" analyze resnet18 --input 1,3,-5,5 2>&1; echo "rc=$?")" \
  "archbench: error: --input '1,3,-5,5': '-5' must be a positive integer (expected N,C,H,W)
rc=1" "bad --input"
expect_eq "$("$bin" analyze resnet18 --format xml 2>&1; echo "rc=$?")" \
  "archbench: error: unknown format 'xml' (expected table, json, csv or markdown)
rc=1" "bad --format"
zoo="$(cd "$tests/../networks/zoo" && pwd)"
expect_eq "$("$bin" analyze vgg16 --input 1,3,16,16 2>&1 >/dev/null; echo "rc=$?")" \
  "$zoo/common/vgg.yaml:20:9: error: layer 'features.30': output height would be 0 (input height 1, kernel 2, stride 2, dilation 1, padding 0+0) (in block 'vgg_stage' used at $zoo/common/vgg.yaml:39:9) (in block 'vgg' used at $zoo/vgg16.yaml:7:5)
rc=1" "input too small for the network"

# Lints: warnings by default (exit 0; on stderr where the format has no place for them),
# errors with --strict (exit 1, no output file).
expect_eq "$("$bin" analyze unet --input 1,1,570,570 2>/dev/null | grep -c ': warning: ')" 3 "lint warnings in the table"
expect_eq "$("$bin" analyze unet --input 1,1,570,570 --format csv 2>&1 >/dev/null | grep -c ': warning: ')" 3 \
  "lint warnings on stderr with csv"
strict_out=$("$bin" analyze unet --input 1,1,570,570 --strict -o "$work/strict.json" 2>&1)
expect_eq "$?" 1 "--strict exit status"
expect_eq "$(printf '%s\n' "$strict_out" | head -1)" \
  "$zoo/common/segmentation.yaml:78:9: error: layer 'encoder.2.pool': stride-2 maxpool drops the last row of its 279 input rows and the last column of its 279 input columns before 'decoder.0.concat' merges this level with an upsampled path; the nearest input sizes without such drops: 556 and 572 (--strict)" \
  "--strict error"
[ -e "$work/strict.json" ] && fail "--strict wrote its output"
expect_eq "$("$bin" analyze unet --strict >/dev/null 2>&1; echo $?)" 0 "--strict at 572"

# --- run, bench, peak -------------------------------------------------------------------
# Hand-made files: st FILE JSON DATA writes a .safetensors, npy FILE DESCR DATA a 1x1x2x2 .npy.
st() {
  local json="$2" n=${#2}
  printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x00\\x00\\x00\\x00' $((n & 255)) $(((n >> 8) & 255)) 0 0)" >"$1"
  printf '%s' "$json" >>"$1"
  printf "$3" >>"$1"
}
npy() {
  local h="{'descr': '$2', 'fortran_order': False, 'shape': (1, 1, 2, 2), }"
  local total=$(((10 + ${#h} + 1 + 63) / 64 * 64))
  local hl=$((total - 10))
  printf '\x93NUMPY\x01\x00' >"$1"
  printf "$(printf '\\x%02x\\x%02x' $((hl & 255)) $((hl >> 8)))" >>"$1"
  printf '%s%*s\n' "$h" $((total - 10 - ${#h} - 1)) '' >>"$1"
  printf "$3" >>"$1"
}
one='\x00\x00\x80\x3f'
cat >"$work/tiny.yaml" <<'YAML'
name: tiny
input: [1, 1, 2, 2]
layers:
  - {name: c, op: conv, out: 2, kernel: 1}
YAML
entries='"c.weight":{"dtype":"F32","shape":[2,1,1,1],"data_offsets":[0,8]},"c.bias":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}'
st "$work/good.safetensors" "{$entries}" "$one$one$one$one"
st "$work/truncated.safetensors" "{$entries}" "$one$one$one"
st "$work/wrongshape.safetensors" '{"c.weight":{"dtype":"F32","shape":[1,2,1,1],"data_offsets":[0,8]},"c.bias":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}' "$one$one$one$one"
st "$work/missing.safetensors" '{"c.bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' "$one$one"
npy "$work/x.npy" '<f4' "$one$one$one$one"
npy "$work/xint.npy" '<i4' '\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00'
cd "$work" || exit 1
# weights 1, bias 1, input 1: every output is 2, through the Halide kernels and the reference.
expect_eq "$("$bin" run tiny.yaml --weights good.safetensors --input-file x.npy --output-file y.npy |
  sed 's/executor, [0-9.]* ms/executor, T ms/')" \
  "tiny: output 'c' [1, 2, 2, 2], min 2, max 2, mean 2 (Halide executor, T ms including preparation)" "run output"
"$bin" run tiny.yaml --weights good.safetensors --input-file x.npy --reference | grep -q "min 2, max 2, mean 2 (reference" || fail "run --reference"
expect_eq "$(head -c 6 y.npy | tail -c 5)" "NUMPY" "output file is .npy"
expect_eq "$(wc -c <y.npy)" 160 "output .npy size (128-byte header + 8 floats)"
check_error() {  # check_error "expected message" args...
  local want="$1"
  shift
  local got
  got="$("$bin" "$@" 2>&1 >/dev/null)"
  local rc=$?
  expect_eq "$rc" 1 "exit code of: $*"
  expect_eq "$got" "$want" "message of: $*"
}
check_error "archbench: error: wrongshape.safetensors: 'c.weight' has shape [1, 2, 1, 1], layer 'c' needs [2, 1, 1, 1]" \
  run tiny.yaml --weights wrongshape.safetensors
check_error "archbench: error: missing.safetensors: missing 'c.weight' (conv layer 'c' needs [2, 1, 1, 1])" \
  run tiny.yaml --weights missing.safetensors
check_error "archbench: error: truncated.safetensors: tensor 'c.bias': data_offsets [8, 16] run past the end of the data (12 bytes after the header)" \
  run tiny.yaml --weights truncated.safetensors
check_error "archbench: error: xint.npy: dtype '<i4' is not supported (only little-endian float32 '<f4' is read)" \
  run tiny.yaml --input-file xint.npy
check_error "archbench: error: x.npy: the input has shape [1, 1, 2, 2], the network takes [1, 1, 3, 3]" \
  run tiny.yaml --input 1,1,3,3 --input-file x.npy
check_error "archbench: error: nosuch.safetensors: cannot open: No such file or directory" run tiny.yaml --weights nosuch.safetensors
check_error "archbench: error: --layer-schedule 'c': expected LAYER=SCHEDULE" run tiny.yaml --layer-schedule c
# The cpu set capped at a lower x86-64 level: `targets` names the level calls dispatch to; an
# unknown level is an error.
ARCHBENCH_CPU_ISA=avx9 check_error "archbench: error: ARCHBENCH_CPU_ISA: unknown CPU ISA level 'avx9' (one of: avx512, avx2, sse41, x86-64)" \
  run tiny.yaml
expect_eq "$(ARCHBENCH_CPU_ISA=sse41 "$bin" targets | sed -n 's/^cpu .*runs here: \(cpu ([^)]*)\).*/\1/p')" \
  "cpu (x86-64 sse41)" "targets under ARCHBENCH_CPU_ISA=sse41"
# The test preset leaves out the Adams2019 baseline and the tuning grid: asking for one says how
# to compile it (a build with it lists it).
adams=""
"$bin" run --help | grep -q "auto-adams2019" && adams="auto-adams2019, "
if [ -z "$adams" ]; then
  check_error "archbench: error: --schedule: conv schedule 'auto-adams2019' is not compiled into this build (configure with -DARCHBENCH_ADAMS2019=ON or -DARCHBENCH_PORTABLE=ON)" \
    run tiny.yaml --schedule auto-adams2019
fi
check_error "archbench: error: layer 'c': conv schedule 'direct-p4-r2' is not compiled into this build (configure with -DARCHBENCH_TUNING=ON)" \
  run tiny.yaml --layer-schedule c=direct-p4-r2
check_error "archbench: error: layer 'c': unknown conv schedule 'fast' (one of: default, tiled, narrow, blocked, direct, simple, auto-mullapudi2016, ${adams}auto-li2018, direct-p7-r4, direct-p7-r16, direct-p5, direct-c64-p4, direct-c16-p14, winograd-m4-rows-t24, winograd-m4-rows-t96, winograd-m4-ch-t48-p8, winograd-m2-rows-t24, gpu-tiled, gpu-simple, gpu-c8, gpu-auto-li2018)" \
  run tiny.yaml --layer-schedule c=fast
check_error "archbench: error: schedule 'simple' given for 'x', which is not a conv layer of tiny" \
  run tiny.yaml --layer-schedule x=simple
"$bin" run tiny.yaml --weights good.safetensors --input-file x.npy --layer-schedule c=simple --schedule auto-li2018 |
  grep -q "min 2, max 2, mean 2 (Halide" || fail "run with schedules"
"$bin" run tiny.yaml --schedule fastest >/dev/null 2>&1 && fail "an unknown --schedule is refused"
rm -f y2.npy
check_error "archbench: error: /nonexistent/y.npy: cannot write: No such file or directory" run tiny.yaml --output-file /nonexistent/y.npy
bench_json="$("$bin" bench tiny.yaml --repetitions 3 --warmup 1 --threads 1 --format json)"
for key in '"network": "tiny"' '"target": "cpu"' '"threads": 1' '"repetitions": 3' '"median":' '"percent_of_peak":' \
  '"arena_bytes":' '"scratch_bytes": 0,' '"planned_peak_bytes":' '"max_rss_bytes":' '"kernel": "conv"' '"schedule": "simple"'; do
  grep -q "$key" <<<"$bench_json" || fail "bench JSON has $key"
done
# Each call's roofline bound is max(FLOPs / peak, bytes / bandwidth); the network's is their sum.
python3 -c '
import json, sys
b = json.load(sys.stdin)
gf, bw = b["peak"]["gflops"], b["peak"]["gbps"]
total = 0
for l in b["layers"]:
    bound = max(l["flops"] / (gf * 1e9), l["bytes_moved"] / (bw * 1e9)) * 1e3
    assert abs(l["roofline_bound_ms"] - bound) <= 1e-9 * bound, (l, bound)
    assert abs(l["percent_of_roofline"] - 100 * bound / l["median_ms"]) <= 1e-6, l
    total += bound
r = b["roofline"]
assert abs(r["bound_ms"] - total) <= 1e-9 * total and r["percent"] > 0, r
assert abs(r["percent"] - 100 * total / b["latency_ms"]["median"]) <= 1e-6, r
' <<<"$bench_json" || fail "bench JSON roofline figures"
# Max RSS starts afresh after the peak measurement, whose three 64 MiB buffers it held before
# (tiny itself needs a few MiB; AddressSanitizer's shadow memory would be counted too).
if [ "$sanitized" == 0 ]; then
  rss="$(sed -n 's/.*"max_rss_bytes": \([0-9]*\).*/\1/p' <<<"$bench_json")"
  [ -n "$rss" ] && [ "$rss" -lt $((64 << 20)) ] || fail "bench max RSS leaves the peak measurement out: $rss bytes"
fi
# The per-layer table names the schedule that ran: direct, forced, needs 32 output channels
# and 7 pixels, so tiny's conv runs the fallback, simple.
"$bin" bench tiny.yaml --repetitions 2 --warmup 0 --threads 1 --per-layer --schedule direct |
  grep -q "^c  *conv  *simple  " || fail "bench --per-layer names the schedule that ran"
"$bin" peak --threads 1 --format json | grep -q '"gflops": [1-9]' || fail "peak JSON reports GFLOP/s"

# Counts out of range are refused before any work, naming the flag (Halide aborts on a
# negative thread count; Google Benchmark on zero repetitions).
threads_range="must be 0 to 256 (0: all cores; 256: the size of Halide's thread pool)"
check_error "archbench: error: --threads -1: $threads_range" run tiny.yaml --threads -1
check_error "archbench: error: --threads 100000: $threads_range" bench tiny.yaml --threads 100000
check_error "archbench: error: --threads 257: $threads_range" tune tiny.yaml --threads 257 --db t.yaml
check_error "archbench: error: --threads -1: $threads_range" peak --threads -1
check_error "archbench: error: --repetitions 0: must be 1 to 1000000" bench tiny.yaml --repetitions 0
check_error "archbench: error: --repetitions 3000000000: must be 1 to 1000000" bench tiny.yaml --repetitions 3000000000
check_error "archbench: error: --warmup -1: must be 0 to 1000000" bench tiny.yaml --warmup -1
check_error "archbench: error: --rounds 0: must be 1 to 1000" tune tiny.yaml --rounds 0 --db t.yaml
check_error "archbench: error: --rounds -1: must be 1 to 1000" tune tiny.yaml --rounds -1 --db t.yaml
check_error "archbench: error: --budget-seconds nan: must be a positive number of seconds" tune tiny.yaml --budget-seconds nan --db t.yaml
check_error "archbench: error: --budget-seconds -1: must be a positive number of seconds" tune tiny.yaml --budget-seconds -1 --db t.yaml
[ -e t.yaml ] && fail "a refused tune wrote its database"
# A format the command does not write, refused before measuring anything.
check_error "archbench: error: --format 'bogus': peak writes table or json" peak --format bogus
check_error "archbench: error: --format 'csv': bench writes table or json" bench tiny.yaml --format csv
# Empty paths would mean stdout, the default tuned database or a temporary SQLite database.
check_error "archbench: error: -o: empty path" analyze tiny.yaml -o ""
check_error "archbench: error: --db: empty path" tune tiny.yaml --db ""
check_error "archbench: error: --output-file: empty path" run tiny.yaml --output-file ""
check_error "archbench: error: --tuned-db: empty path" run tiny.yaml --schedule tuned --tuned-db ""
# tune's database is one file.
mkdir -p tuned_dir
check_error "archbench: error: tuned_dir/: is a directory; the tuned database tune writes is one YAML file (e.g. tuned_dir/tuned.yaml)" \
  tune tiny.yaml --db tuned_dir/
# Command-line errors exit 1 like every other error; --help and --version exit 0.
check_error "archbench: error: The following argument was not expected: --bogus" run tiny.yaml --bogus
check_error "archbench: error: Could not convert: --threads = x" run tiny.yaml --threads x
check_error "archbench: error: A subcommand is required"
"$bin" run --help >/dev/null || fail "--help exits 0"
"$bin" --version >/dev/null || fail "--version exits 0"
# A network that cannot fit is refused before its tensors are allocated.
for reference in "" --reference; do
  got="$("$bin" run tiny.yaml --input 1,1,100000000,100000000 $reference 2>&1)"
  expect_eq "$?" 1 "exit code of a network too large ($reference)"
  [ -n "$reference" ] && what="every layer's output 71.1 PiB, the weights 16 bytes" total=106.6 ||
    what="the activation arena 106.6 PiB, the weights 32 bytes (with the largest layer's twice, as loaded and as prepared)" total=142.1
  grep -q "^archbench: error: cannot allocate $total PiB for tiny at 1x1x100000000x100000000: the input 35.5 PiB, $what; [0-9.]* [KMGT]iB of memory available$" <<<"$got" ||
    fail "message of a network too large ($reference): $got"
done
# On a GPU set the device's memory is checked first: it holds the arena and the weights too.
# (PoCL's device, in CI; a 30000-channel conv on a 1000x1000 map needs 112 GiB of it.)
printf 'name: wide\ninput: [1, 1, 1000, 1000]\nlayers:\n  - {name: c, op: conv, out: 30000, kernel: 1}\n' >wide.yaml
if "$bin" targets | grep -q "^opencl .*runs here"; then
  got="$("$bin" run wide.yaml --target opencl 2>&1)"
  expect_eq "$?" 1 "exit code of a network too large for the device"
  grep -q "^archbench: error: cannot allocate 111.8 GiB for wide at 1x1x1000x1000 on the opencl device (.*): the activation arena 111.8 GiB, the weights 234.4 KiB; the device has [0-9.]* [KMGT]iB$" <<<"$got" ||
    fail "message of a network too large for the device: $got"
else
  echo "cli_test: skipped the device memory check: the opencl kernel set cannot run here"
fi
# A timed run counts no swap and keeps a tenth free: a timing that swaps would be wrong.
got="$("$bin" bench tiny.yaml --input 1,1,100000000,100000000 2>&1)"
expect_eq "$?" 1 "exit code of bench on a network too large"
grep -q "^archbench: error: cannot allocate 142.1 PiB for tiny .*; [0-9.]* [KMGT]iB of memory available to a timed run (90 % of it, swap left out)$" <<<"$got" ||
  fail "message of bench on a network too large: $got"
# Memory that runs out anyway (here under a limit on address space) is said as such, with
# what was being done. (AddressSanitizer reserves far more address space than any limit.)
if [ "$sanitized" == 0 ]; then
  expect_eq "$( (ulimit -v 1500000 && "$bin" run tiny.yaml --reference --input 1,1,20000,20000) 2>&1; echo "rc=$?")" \
    "archbench: error: out of memory while running tiny.yaml
rc=1" "out of memory"
fi
# A name too long for the file system: said so, shortened.
long="$(printf 'n%.0s' $(seq 300))"
check_error "archbench: error: cannot read ${long:0:60}... (305 characters): File name too long" analyze "$long.yaml"

# Output files: a link is followed (its target replaced, the link kept); a character device
# or FIFO is written straight to (never replaced); other kinds are refused.
echo old >target.json
ln -s target.json link.json
"$bin" analyze tiny.yaml --format json -o link.json || fail "-o through a link"
[ -L link.json ] || fail "the link was replaced"
grep -q '"network": "tiny"' target.json || fail "the link's target written"
"$bin" analyze tiny.yaml -o /dev/null || fail "-o /dev/null"
[ -c /dev/null ] || fail "/dev/null is no longer a character device"
check_error "archbench: error: /dev/full: cannot write: No space left on device" analyze tiny.yaml -o /dev/full
[ -c /dev/full ] || fail "/dev/full is no longer a character device"
expect_eq "$("$bin" analyze tiny.yaml --format json -o /dev/stdout | grep -c '"network": "tiny"')" 1 "-o /dev/stdout"
mkfifo fifo
check_error "archbench: error: fifo: cannot write: a FIFO that no process is reading" analyze tiny.yaml -o fifo
[ -p fifo ] || fail "the FIFO was replaced"
mkdir -p outdir
check_error "archbench: error: outdir: cannot write: is a directory" analyze tiny.yaml -o outdir
check_error "archbench: error: newdir/: cannot write: names a folder (it ends in '/'), not a file" analyze tiny.yaml -o newdir/
ls -A | grep -q '^\.' && fail "temporary file left behind: $(ls -A | grep '^\.')"
cd - >/dev/null || exit 1

# --- tune, --schedule tuned ------------------------------------------------------------------
tiny_net="$tests/fixtures/tiny_backbone.yaml"
out="$("$bin" tune "$tiny_net" --db "$work/tuned.yaml" --threads 1 2>/dev/null)"
grep -q "^tiny_backbone: [0-9]* layer signatures, [0-9]* tuned now, 0 already in $work/tuned.yaml" <<<"$out" || fail "tune summary: $out"
grep -q "^prediction from the nearest signature" <<<"$out" || fail "tune prediction line"
out="$("$bin" tune "$tiny_net" --db "$work/tuned.yaml" --threads 1 2>/dev/null | head -1)"
grep -q ", 0 tuned now, [1-9][0-9]* already in" <<<"$out" || fail "tune again resumes: $out"
out="$("$bin" run "$tiny_net" --schedule tuned --tuned-db "$work/tuned.yaml" --threads 1 2>&1 >/dev/null)"
grep -q "^tuned schedules from $work/tuned.yaml (.*, 1 threads): [1-9][0-9]* steps found, 0 predicted from the nearest signature, 0 default$" <<<"$out" || fail "tuned note: $out"
# Under ARCHBENCH_CPU_ISA the fingerprint is the capped level's: its own entry, not the
# uncapped machine's.
ARCHBENCH_CPU_ISA=sse41 "$bin" tune "$tiny_net" --db "$work/tuned.yaml" --threads 1 >/dev/null 2>&1 || fail "tune under sse41"
grep -q '^    isa: "\?sse4.1"\?$' "$work/tuned.yaml" || fail "tuned.yaml has no sse4.1 target: $(grep 'isa:' "$work/tuned.yaml")"
grep -q 'kernel_set: "\?cpu (x86-64 sse41)"\?$' "$work/tuned.yaml" || fail "tuned.yaml: the sse41 kernel set"
out="$("$bin" run "$tiny_net" --schedule tuned --tuned-db "$work/tuned.yaml" --threads 2 2>&1 >/dev/null)"
grep -q "2 threads: no entries for this target): 0 steps found, 0 predicted from the nearest signature, [1-9][0-9]* default$" <<<"$out" || fail "another thread count uses no entries: $out"
cuda_reason="$("$bin" targets | sed -n 's/^cuda .*cannot run here: //p')"
if [ -n "$cuda_reason" ]; then
  check_error "archbench: error: target cuda cannot run here: $cuda_reason" tune "$tiny_net" --target cuda
  check_error "archbench: error: target cuda cannot run here: $cuda_reason" run "$tiny_net" --target cuda
  # Said before any memory check: a network too large for this host's memory is still refused
  # for the reason that comes first.
  check_error "archbench: error: target cuda cannot run here: $cuda_reason" bench "$work/wide.yaml" --target cuda
fi
check_error "archbench: error: unknown target 'vulkan' (one of: cpu, cuda, opencl)" run "$tiny_net" --target vulkan
printf 'version: 1\ntargets:\n  - cpu: X\n    isa: avx2\n    kernel_set: k\n    threads: 0\n' >"$work/bad_tuned.yaml"
check_error "$work/bad_tuned.yaml:6:14: error: threads must be a positive integer, got '0'" run "$tiny_net" --schedule tuned --tuned-db "$work/bad_tuned.yaml"
check_error "archbench: error: --tuned-db is read with --schedule tuned only" run "$tiny_net" --tuned-db "$work/tuned.yaml"

# ONNX: export, import back (spec and weights), errors, and no partial files.
"$bin" export "$tiny_net" -o "$work/tiny.onnx" 2>/dev/null || fail "export tiny_backbone"
"$bin" import "$work/tiny.onnx" -o "$work/tiny_back.yaml" --weights-out "$work/tiny_back.safetensors" 2>/dev/null ||
  fail "import the export"
expect_eq "$("$bin" run "$tiny_net" 2>&1 | sed 's/ (Halide.*//')" \
  "$("$bin" run "$work/tiny_back.yaml" --weights "$work/tiny_back.safetensors" 2>&1 | sed 's/ (Halide.*//')" \
  "the imported spec with the imported weights runs as the spec"
expect_eq "$("$bin" run "$tiny_net" 2>&1 | sed 's/ (Halide.*//')" \
  "$("$bin" run "$work/tiny.onnx" 2>&1 | sed 's/ (Halide.*//')" "the .onnx file runs with its initializers as the spec"
check_error "archbench: error: $tiny_net: import reads ONNX models (a .onnx file)" import "$tiny_net"
printf 'not a model' >"$work/garbage.onnx"
check_error "$work/garbage.onnx: error: not a valid ONNX model (the protobuf does not parse: a damaged or truncated file?)" \
  analyze "$work/garbage.onnx"
head -c 300 "$work/tiny.onnx" >"$work/truncated.onnx"
check_error "$work/truncated.onnx: error: not a valid ONNX model (the protobuf does not parse: a damaged or truncated file?)" \
  import "$work/truncated.onnx" -o "$work/truncated.yaml"
[ -e "$work/truncated.yaml" ] && fail "a failed import left a spec behind"
check_error "$(cd "$tests/../networks/zoo/common" && pwd)/resnet.yaml:33:9: error: layer 'layer2.0.conv2': deform_conv has no ONNX operator before opset 19 (archbench exports opset 13)" \
  export resnet50_dcn -o "$work/dcn.onnx"
[ -e "$work/dcn.onnx" ] && fail "a failed export left a file behind"
check_error "archbench: error: $work/no/such/dir/x.yaml: cannot write: No such file or directory" \
  import "$work/tiny.onnx" -o "$work/no/such/dir/x.yaml"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "cli: all checks passed"
