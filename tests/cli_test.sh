#!/usr/bin/env bash
# The archbench command end to end: outputs, exit codes, messages, and no partial files.
# usage: cli_test.sh path/to/archbench path/to/tests
set -u
bin="$1"
tests="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_eq() { [ "$1" == "$2" ] || fail "$3: expected [$2], got [$1]"; }

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

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "cli: all checks passed"
