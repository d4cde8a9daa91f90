#!/usr/bin/env bash
# The HTML report in headless Chromium: it renders without console errors, every chart has
# the marks its data-marks promises (and the numbers the database implies), no two point labels'
# boxes intersect (as the browser lays the text out), every standalone SVG parses, and a
# screenshot is taken.
# usage: report_browser_test.sh path/to/archbench path/to/tests [screenshot.png]
#        report_browser_test.sh path/to/archbench path/to/tests --chart DB PNG
# The second form checks the labels of DB's report (a real sweep's: scripts/readme_chart.sh) and
# writes its latency-against-GMACs chart as PNG (docs/images/report.png).
set -u
bin="$(realpath "$1")"
tests="$(realpath "$2")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
shot="${3:-$work/report.png}"
browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
  echo "SKIP: chromium is not installed (scripts/setup.sh --tests installs it)"
  exit 77
fi
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_eq() { [ "$1" == "$2" ] || fail "$3: expected [$2], got [$1]"; }
q() { sqlite3 -batch "$db" "$1"; }
headless() {  # headless ARGS...: one page load; the browser's own log goes to $work/console.log
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions \
    --user-data-dir="$work/profile" --enable-logging=stderr --v=0 "$@" 2>>"$work/console.log"
}

# Per chart of the page at $1: its point labels and how many pairs of their boxes intersect, as
# "CHART labels N overlaps M [first overlapping pair]", one line each (a script added to a copy
# of the page measures the laid-out text and writes its findings into the DOM).
label_check() {
  local page="$1" checked
  checked="$(dirname "$1")/checked.html"
  cat >"$work/label_check.js" <<'JS'
<script>
const lines = [];
for (const svg of document.querySelectorAll("svg[data-chart]")) {
  const boxes = [...svg.querySelectorAll("text.point-label")].map(t => [t.textContent, t.getBBox()]);
  const view = svg.viewBox.baseVal;
  let overlaps = 0, outside = 0, first = "";
  for (let i = 0; i < boxes.length; ++i) {
    const a = boxes[i][1];
    if (a.x < 0 || a.y < 0 || a.x + a.width > view.width || a.y + a.height > view.height) ++outside;
    for (let j = i + 1; j < boxes.length; ++j) {
      const b = boxes[j][1];
      if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) {
        if (!overlaps) first = "[" + boxes[i][0] + " / " + boxes[j][0] + "]";
        ++overlaps;
      }
    }
  }
  // Points whose label found no room are named in the note under the chart (its title holds
  // the whole list where the text is shortened).
  const note = svg.querySelector("text.unlabelled");
  let listed = 0;
  if (note) listed = ((note.querySelector("title") || note).textContent.split(": ")[1] || "").split(", ").length;
  lines.push([svg.dataset.chart, "labels", boxes.length, "listed", listed, "overlaps", overlaps, "outside", outside,
              first].join(" "));
}
const pre = document.createElement("pre");
pre.id = "label-check";
pre.textContent = lines.join("\n");
document.body.appendChild(pre);
</script>
JS
  awk -v js="$work/label_check.js" '/<\/body>/ { while ((getline l < js) > 0) print l } { print }' "$page" >"$checked"
  headless --dump-dom "file://$checked" | sed -n '/<pre id="label-check">/,/<\/pre>/p' |
    sed -e 's/.*<pre id="label-check">//' -e 's#</pre>.*##' -e '/^$/d'
}
check_labels() {  # check_labels PAGE: fails for any chart whose labels overlap or leave the chart
  label_check "$1" >"$work/labels.txt"
  [ -s "$work/labels.txt" ] || fail "the label check wrote nothing"
  while read -r id _ n _ listed _ overlaps _ outside rest; do
    [ "$overlaps" == 0 ] || fail "$id: $overlaps pairs of point labels overlap $rest"
    [ "$outside" == 0 ] || fail "$id: $outside point labels outside the chart"
  done <"$work/labels.txt"
}

if [ "${3:-}" == "--chart" ]; then
  db="$4"
  png="$5"
  "$bin" report --db "$db" -o "$work/report" >/dev/null || fail "report of $db"
  check_labels "$work/report/report.html"
  grep '^latency-vs-gmacs ' "$work/labels.txt"
  headless --screenshot="$png" --window-size=720,414 --hide-scrollbars \
    "file://$work/report/charts/latency-vs-gmacs.svg" >/dev/null
  [ -s "$png" ] || fail "no chart screenshot"
  if ((failures)); then
    echo "$failures failure(s)"
    exit 1
  fi
  echo "wrote $png"
  exit 0
fi

db="$work/r.sqlite"
"$bin" sweep "$tests/fixtures/sweeps/browser.yaml" --db "$db" >/dev/null 2>&1 || fail "sweep"
"$bin" report --db "$db" --compare threads=1 threads=2 -o "$work/report" >/dev/null || fail "report"

headless --dump-dom "file://$work/report/report.html" >"$work/dom.html"
grep -q "<h1>archbench report</h1>" "$work/dom.html" || fail "the page did not render"
if grep -q "CONSOLE" "$work/console.log"; then
  fail "console messages: $(grep CONSOLE "$work/console.log")"
fi

# Per chart in the rendered DOM: its id, promised marks, skipped points, and marks drawn.
grep -o '<svg[^>]*data-chart="[^"]*"[^>]*>\|class="mark[ "]' "$work/dom.html" | awk '
  /^<svg/ { if (id != "") print id, promised, skipped, drawn
            match($0, /data-chart="[^"]*"/); id = substr($0, RSTART + 12, RLENGTH - 13)
            match($0, /data-marks="[0-9]*"/); promised = substr($0, RSTART + 12, RLENGTH - 13)
            skipped = 0; if (match($0, /data-skipped="[0-9]*"/)) skipped = substr($0, RSTART + 14, RLENGTH - 15)
            drawn = 0; next }
  { drawn++ }
  END { if (id != "") print id, promised, skipped, drawn }' >"$work/marks.txt"
networks="$(q "SELECT count(DISTINCT network) FROM cases WHERE status = 'ok'")"
expect_eq "$networks" 3 "networks that ran"
expect_eq "$(wc -l <"$work/marks.txt")" $((2 + 3 * networks)) "charts in the page (2 overview + 3 per network)"
expect_eq "$(ls "$work/report/charts" | wc -l)" $((2 + 3 * networks)) "chart files"
while read -r id promised skipped drawn; do
  [ "$promised" == "$drawn" ] || fail "$id: data-marks $promised but $drawn marks drawn"
  [ "$drawn" -gt 0 ] || fail "$id: no marks"
  [ "$skipped" == 0 ] || fail "$id: $skipped points skipped"
done <"$work/marks.txt"
marks_of() { awk -v id="$1" '$1 == id { print $4 }' "$work/marks.txt"; }
# One scatter point per successful network x input x threads; one bar per kernel call (the
# 25 largest, the rest summed into one); one memory point per layer.
expect_eq "$(marks_of latency-vs-gmacs)" "$(q "SELECT count(*) FROM cases WHERE status = 'ok'")" "latency chart points"
for net in resnet18 mobilenet-v2 unet; do
  name="${net//-/_}"
  case_id="$(q "SELECT min(id) FROM cases WHERE network = '$name' AND status = 'ok'")"
  kernels="$(q "SELECT count(*) FROM case_kernels WHERE case_id = $case_id")"
  expect_eq "$(marks_of "layers-$net")" "$((kernels > 25 ? 25 : kernels))" "$net time breakdown bars"
  expect_eq "$(marks_of "memory-$net")" "$(q "SELECT count(*) FROM case_layers WHERE case_id = $case_id")" "$net memory points"
done

# Point labels: the latency chart labels every case (6 here, each network twice: one per thread
# count, at the same GMACs and close latencies), or names it under the chart where its label
# found no room; no label may overlap another.
check_labels "$work/report/report.html"
expect_eq "$(awk '$1 == "latency-vs-gmacs" { print $3 + $5 }' "$work/labels.txt")" \
  "$(q "SELECT count(*) FROM cases WHERE status = 'ok'")" "latency chart points labelled or listed"

# Each standalone SVG (what report.md shows) parses as XML: Chromium shows a parsererror if not.
for f in "$work"/report/charts/*.svg; do
  headless --dump-dom "file://$f" >"$work/svg-dom.html"
  grep -q "parsererror" "$work/svg-dom.html" && fail "$(basename "$f") does not parse: $(head -c 300 "$work/svg-dom.html")"
  grep -q "<svg" "$work/svg-dom.html" || fail "$(basename "$f") rendered no svg"
done

headless --screenshot="$shot" --window-size=1280,3000 --hide-scrollbars "file://$work/report/report.html" >/dev/null
[ -s "$shot" ] || fail "no screenshot"
expect_eq "$(head -c 8 "$shot" | od -An -tx1 | tr -d ' \n')" "89504e470d0a1a0a" "screenshot is a PNG"
[ "$(stat -c %s "$shot")" -gt 20000 ] || fail "screenshot suspiciously small ($(stat -c %s "$shot") bytes)"

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "report in Chromium: $(wc -l <"$work/marks.txt") charts, all marks present; screenshot $shot"
