#!/usr/bin/env bash
# Reads a build's output on stdin (Ninja's, or Make's), writes all of it to LOG, and prints one
# line per kernel family as its last library is generated, then one when the archbench binary
# is linked.
# usage: cmake --build ... 2>&1 | scripts/build_progress.sh BUILD_DIR LOG
# The families come from BUILD_DIR/schedules/kernel_families.txt ("library family" per line,
# written at configure time); a library the list does not name is counted under "other".
set -uo pipefail
build="$1"
log="$2"
: >"$log"
declare -A family_of left total
order=()
if [ -f "$build/schedules/kernel_families.txt" ]; then
  while read -r lib family; do
    [ -n "$lib" ] || continue
    family_of[$lib]=$family
    if [ -z "${total[$family]:-}" ]; then
      order+=("$family")
      total[$family]=0
      left[$family]=0
    fi
    total[$family]=$((total[$family] + 1))
    left[$family]=$((left[$family] + 1))
  done <"$build/schedules/kernel_families.txt"
fi
libraries=${#family_of[@]}
done_libraries=0
families=${#order[@]}
done_families=0
echo "build: ${libraries} kernel libraries in ${families} families ($(IFS=' '; echo "${order[*]}")), then archbench; full output in ${log}"
elapsed() { printf '%dm%02ds' $((SECONDS / 60)) $((SECONDS % 60)); }
# One kernel library generated: its family's line when it was the family's last.
library_done() {
  local family=${family_of[$1]:-}
  [ -n "$family" ] || return 0
  left[$family]=$((left[$family] - 1))
  done_libraries=$((done_libraries + 1))
  if ((left[$family] == 0)); then
    done_families=$((done_families + 1))
    echo "build $(elapsed): ${family} kernels done (${total[$family]} libraries; ${done_libraries} of ${libraries} in all, ${done_families} of ${families} families)"
  fi
}
while IFS= read -r line; do
  printf '%s\n' "$line" >>"$log"
  case "$line" in
    *"] Generating archbench_"*.h,*)
      # Ninja: "[12/100] Generating archbench_conv_direct.h, archbench_conv_direct-x86-64-...o, ..."
      target="${line#*] Generating }"
      library_done "${target%%.h,*}"
      ;;
    *"] Linking CXX executable cli/archbench"* | *"] Linking CXX executable archbench")
      echo "build $(elapsed): archbench linked"
      ;;
    *"Built target "*)
      # A kernel library's "<lib>.update" target is built as soon as its generator has run
      # (the static library itself is archived later, in a batch).
      target="${line##*Built target }"
      target="${target%.update}"
      if [[ "$line" == *.update ]]; then
        library_done "$target"
      elif [ "$target" = archbench ]; then
        echo "build $(elapsed): archbench linked"
      fi
      ;;
    *"error:"* | *"Error "* | *"***"* | "FAILED:"*)
      printf '%s\n' "$line"
      ;;
  esac
done
