#!/usr/bin/env bash
# Re-fetch the charting library the web view vendors (uPlot, MIT) from npm and verify it against the pinned sums.
# Usage: scripts/_vendor_charts.sh          # verify the vendored files match the pinned release
#        scripts/_vendor_charts.sh --write  # (re)write otel_chatbot/ui/static/vendor/ from the pinned release
# To move to a newer release: change VERSION and the sums below and in tests/unit/ui/test_vendor.py together.
set -euo pipefail
VERSION=1.6.32
TARBALL_SHA256=4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d
JS_SHA256=19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f
CSS_SHA256=df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04
cd "$(dirname "$0")/.."
DEST=otel_chatbot/ui/static/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$VERSION" >/dev/null)
echo "$TARBALL_SHA256  $tmp/uplot-$VERSION.tgz" | sha256sum -c --quiet
tar -xzf "$tmp/uplot-$VERSION.tgz" -C "$tmp"
echo "$JS_SHA256  $tmp/package/dist/uPlot.iife.min.js" | sha256sum -c --quiet
echo "$CSS_SHA256  $tmp/package/dist/uPlot.min.css" | sha256sum -c --quiet
if [ "${1:-}" = "--write" ]; then
  mkdir -p "$DEST"
  cp "$tmp/package/dist/uPlot.iife.min.js" "$DEST/uPlot.iife.min.js"
  cp "$tmp/package/dist/uPlot.min.css" "$DEST/uPlot.min.css"
  cp "$tmp/package/LICENSE" "$DEST/uPlot.LICENSE"
  echo "wrote uPlot $VERSION into $DEST"
fi
for f in uPlot.iife.min.js uPlot.min.css; do
  cmp "$tmp/package/dist/$f" "$DEST/$f"
done
cmp "$tmp/package/LICENSE" "$DEST/uPlot.LICENSE"
echo "uPlot $VERSION: $DEST matches the npm release (sha256 pinned)"
