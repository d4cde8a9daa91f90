#!/bin/sh
# Installs the ONNX Runtime peer (onnxruntime-node, pinned in package.json) into
# build/peers/onnxruntime/ under the repository root, never into the source tree.
# --ignore-scripts: the package's postinstall only fetches optional GPU (CUDA/TensorRT)
# binaries; the CPU execution provider ships inside the npm tarball itself.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
dest="$root/build/peers/onnxruntime"

command -v npm >/dev/null 2>&1 || { echo "install.sh: npm not found; install Node.js (with npm) first" >&2; exit 1; }
mkdir -p "$dest"
cp "$here/package.json" "$dest/package.json"
cd "$dest"
npm install --ignore-scripts --no-audit --no-fund
# Fail here, not in the middle of a benchmark, if the native binding (which carries the CPU
# execution provider) does not load.
node -e '
const ort = require("onnxruntime-node");
const cpu = ort.listSupportedBackends().some((b) => b.name === "cpu" && b.bundled);
if (!cpu) { console.error("install.sh: onnxruntime-node loaded but has no bundled CPU execution provider"); process.exit(1); }
console.log("onnxruntime-node " + ort.env.versions.node + " with the CPU execution provider is installed in " + process.cwd());
'
