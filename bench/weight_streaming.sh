#!/bin/sh
# What a conv loses when its weights come from memory, as they do in a network, rather than
# from cache, as they do when the conv is timed alone and repeated (docs/PERFORMANCE.md,
# "What a layer costs in a network"). For each shape: `bench` on one conv, then on 16 convs
# like it in a row (16 x its weights: more than the caches hold), both at % of roofline.
#
#   bench/weight_streaming.sh [build/archbench] [threads]
set -eu
ab=${1:-build/archbench}
threads=${2:-2}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# name, input channels, map size, output channels, kernel
for shape in "3x3-512-7 512 7 512 3" "1x1-2048-7 2048 7 512 1" "1x1-1024-14 1024 14 256 1" "1x1-512-28 512 28 128 1"; do
  set -- $shape
  for count in 1 16; do
    spec="$dir/$1-x$count.yaml"
    {
      echo "name: $1-x$count"
      echo "input: [1, $2, $3, $3]"
      echo "layers:"
      i=0
      while [ $i -lt $count ]; do
        # Output channels alternate (a -> b, b -> a), so the chain is valid for 1x1 expansions.
        if [ $((i % 2)) -eq 0 ]; then out=$4; else out=$2; fi
        echo "  - {name: c$i, op: conv, out: $out, kernel: $5, padding: $(($5 / 2)), bias: false}"
        i=$((i + 1))
      done
    } >"$spec"
  done
  for round in 1 2 3; do
    for count in 1 16; do
      line=$("$ab" bench "$dir/$1-x$count.yaml" --threads "$threads" --repetitions 20 2>&1 | grep 'of roofline')
      echo "$1 x$count round $round: ${line##*: }"
    done
  done
done
