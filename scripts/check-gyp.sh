#!/usr/bin/env bash
# Builds the CPU-only addon from binding.gyp with node-gyp in a scratch copy
# of the sources (so it cannot clobber the cmake-js build in build/), and
# prints the path of the result. CI runs the test suite against it too, so
# the node-gyp build cannot rot.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d /tmp/enkg-gyp.XXXXXX)}
mkdir -p "$work"
cp -r "$root/native" "$root/binding.gyp" "$root/package.json" "$work/"
ln -sfn "$root/node_modules" "$work/node_modules"
nodedir_args=()
if [ -f /usr/include/node/node_api.h ]; then nodedir_args=(--nodedir=/usr); fi
gyp="$root/node_modules/node-gyp/bin/node-gyp.js"
(cd "$work" && node "$gyp" rebuild "${nodedir_args[@]}" -j 2 >&2)
echo "$work/build/Release/enkg.node"
