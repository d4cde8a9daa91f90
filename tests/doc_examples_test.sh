#!/usr/bin/env bash
# Every example in README.md and docs/*.md that shows a command's output is run, and the
# output compared with what the page shows: no stale examples.
# usage: doc_examples_test.sh path/to/archbench path/to/source
#
# The convention (docs/TESTING.md has it in full):
# - A fenced block whose info string is `console` holds `$ archbench ...` lines, each followed
#   by what the command prints, stdout and stderr together. The output is compared exactly,
#   except that blanks at the end of a line are ignored and the checkout's absolute path is
#   written `<checkout>`.
# - `console timing` (bench and run output, whose numbers change from run to run): every
#   number and the machine's description (ISA level, device name) are masked and runs of
#   blanks collapse before the comparison, so rows, names and columns are still checked. The
#   direct schedule's tile variants (`direct-p5`, `direct-c64-p4`, ...) read as `direct`: the
#   default picks among them by the ISA level (AVX2 and AVX-512 pick differently). A CPU's
#   family and model in a tuned-database fingerprint (`(family 25 model 17)`) are dropped.
# - A command may start with VAR=value assignments and may pipe into head, tail or grep. It
#   runs in a temporary folder whose entries link to the checkout's, so relative paths work
#   as from the checkout and a file a command writes lands in the temporary folder.
# - A `$ ... archbench` line in any other fenced block is an error: such an example would not
#   be checked.
# - A block that runs `archbench targets`, or names `--target SET` for a kernel set this build
#   lacks (the ASan build has no cuda set), is skipped, saying so.
set -u
if [ $# -ne 2 ]; then
  echo "usage: $0 path/to/archbench path/to/source" >&2
  exit 2
fi
bin="$(realpath "$1")"
src="$(realpath "$2")"
[ -x "$bin" ] || { echo "FAIL: $bin is not an executable"; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin" "$work/cwd"
# Called as `archbench` through PATH, so --help and the like print the name the pages show.
ln -s "$bin" "$work/bin/archbench"
for entry in "$src"/*; do ln -s "$entry" "$work/cwd/"; done
export PATH="$work/bin:$PATH"
# PoCL's compiled kernels leak a few bytes LeakSanitizer cannot be told about (see
# tests/CMakeLists.txt); memory errors are still reported. No effect without ASan.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

# Kernel sets this build lacks: blocks that depend on them are skipped.
not_built="$("$bin" targets 2>&1 | awk '/ not built/ {print $1}')"

failures=0 blocks=0 commands=0 skipped=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# What is compared: blanks at line ends dropped, blank lines at the end dropped, the checkout's
# path written <checkout>; in timing mode every number masked and runs of blanks collapsed.
normalise() {  # mode, text
  local text="${2//"$src"/<checkout>}"
  if [ "$1" = timing ]; then
    # The machine's own words too (its ISA level, the kernel set's device), so that a timing
    # example also passes on hardware other than the project's.
    printf '%s\n' "$text" | sed -E -e 's/\([^()]*(avx|sse|x86-64|pthread|capability)[^()]*\)/(<machine>)/g' \
      -e 's/pthread-[^,]*/<device>/g' -e 's/\((avx512|avx2|sse41|x86-64)\)/(<isa>)/g' \
      -e 's/-?[0-9][0-9.]*([eE][-+]?[0-9]+)?/#/g' -e 's/#+/#/g' -e 's/direct(-c#)?-p#(-r#)?/direct/g' \
      -e 's/ \(family # model #\)//g' \
      -e 's/[[:space:]]+/ /g' -e 's/ +$//' | sed -e ':a' -e '/^\n*$/{$d;N;ba' -e '}'
  else
    printf '%s\n' "$text" | sed -E -e 's/[[:space:]]+$//' | sed -e ':a' -e '/^\n*$/{$d;N;ba' -e '}'
  fi
}

# The block being read.
declare -a cmds cmd_lines expects
block_file="" block_line=0 block_mode=""

run_block() {
  local n=${#cmds[@]} i all="${cmds[*]}"
  if [ "$n" -eq 0 ]; then
    fail "$block_file:$block_line: a console block without a \`\$ archbench\` line"
    return
  fi
  if [ -n "$not_built" ]; then
    local why=""
    [[ "$all" =~ archbench\ +targets ]] && why="it lists the kernel sets, and this build lacks $(echo $not_built)"
    for set in $not_built; do
      [[ "$all" =~ --target\ +$set ]] && why="this build has no $set kernel set"
    done
    if [ -n "$why" ]; then
      echo "skipped $block_file:$block_line: $why"
      skipped=$((skipped + 1))
      return
    fi
  fi
  blocks=$((blocks + 1))
  for ((i = 0; i < n; i++)); do
    local cmd="${cmds[$i]}" where="$block_file:${cmd_lines[$i]}"
    if ! [[ "$cmd" =~ ^([A-Z_][A-Z0-9_]*=[^[:space:]]*[[:space:]]+)*archbench([[:space:]]|$) ]]; then
      fail "$where: a console line must run archbench (optionally after VAR=value): \$ $cmd"
      continue
    fi
    commands=$((commands + 1))
    local actual expected
    actual="$(cd "$work/cwd" && bash -c "$cmd" 2>&1)"
    expected="$(normalise "$block_mode" "${expects[$i]}")"
    actual="$(normalise "$block_mode" "$actual")"
    if [ "$expected" != "$actual" ]; then
      fail "$where: \$ $cmd  (${block_mode} block; - as the page shows it, + as it runs now)"
      diff -u --label "$where (documented)" --label "$where (actual)" \
        <(printf '%s\n' "$expected") <(printf '%s\n' "$actual")
    fi
  done
}

fence='^ {0,3}```[[:space:]]*(.*[^[:space:]])?[[:space:]]*$'
check_page() {
  local file="$1" rel="${1#"$src"/}" line lineno=0 in="" pending=-1
  while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    if [[ "$line" =~ $fence ]]; then
      if [ -z "$in" ]; then
        local info="${BASH_REMATCH[1]}"
        case "$info" in
          console) in=exact ;;
          "console timing") in=timing ;;
          console*) fail "$rel:$lineno: unknown info string '$info' (console or console timing)"; in=other ;;
          *) in=other ;;
        esac
        if [ "$in" != other ]; then
          cmds=() cmd_lines=() expects=()
          block_file="$rel" block_line=$lineno block_mode=$in pending=-1
        fi
      else
        [ "$in" != other ] && run_block
        in=""
      fi
      continue
    fi
    case "$in" in
      exact | timing)
        if [[ "$line" == '$ '* ]]; then
          pending=${#cmds[@]}
          cmds+=("${line#\$ }")
          cmd_lines+=("$lineno")
          expects+=("")
        elif [ "$pending" -lt 0 ]; then
          fail "$rel:$lineno: output before any \`\$ archbench\` line"
        else
          expects[pending]+="$line"$'\n'
        fi
        ;;
      other)
        [[ "$line" =~ ^[[:space:]]*\$\ .*archbench ]] &&
          fail "$rel:$lineno: an archbench example outside a console block (it would not be checked): $line"
        ;;
    esac
  done <"$file"
  [ -z "$in" ] || fail "$rel: a fenced block is not closed"
}

start=$SECONDS
for page in "$src/README.md" "$src"/docs/*.md; do
  [ -f "$page" ] && check_page "$page"
done
echo "doc examples: $commands commands in $blocks blocks checked, $skipped blocks skipped, $failures failures ($((SECONDS - start)) s)"
if [ "$blocks" -eq 0 ]; then
  echo "FAIL: no console blocks found in README.md or docs/*.md"
  exit 1
fi
[ "$failures" -eq 0 ]
