#!/usr/bin/env bash
# The HTML report in a real browser: make a small sweep, write its report, render it in
# headless Chromium (Debian's `chromium`) and check that the tables, plots and training curves
# are in the page; and write the report once more with every system font hidden (root: a
# private mount namespace), since PNG text uses the font embedded in w2s.
# Usage: scripts/system-tests/test-report-browser.sh PATH/TO/w2s
set -euo pipefail
W2S="$(realpath "$1")"
if ! command -v chromium >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
T="$(mktemp -d /tmp/w2s-report.XXXXXX)"
cat > "$T/sweep.toml" <<TOML
results = "$T/results"
datasets = ["demo"]
models = ["bow"]
losses = ["xent", "logconf"]
seeds = [0, 1, 2]
n_docs = 400
n_test_docs = 200
[model_train.bow]
epochs = 3
TOML
"$W2S" sweep "$T/sweep.toml" --jobs 2 >/dev/null
"$W2S" report "$T/results" >/dev/null
# PNG plots need no installed font: hide every system font folder and write the report again.
rm -rf "$T/results/plots" "$T/results/report.html"
empty="$(mktemp -d)"
unshare --mount sh -c "for d in /usr/share/fonts /usr/local/share/fonts /etc/fonts; do [ -d \$d ] && mount --bind '$empty' \$d; done; ls /usr/share/fonts | wc -l; '$W2S' report '$T/results' >/dev/null" > "$T/fonts.txt"
fonts_ok=0
[ "$(head -1 "$T/fonts.txt")" = 0 ] && [ -s "$T/results/plots/demo-accuracy.png" ] && [ -s "$T/results/report.html" ] && fonts_ok=1
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync "--user-data-dir=$T/profile")
chromium "${flags[@]}" --dump-dom "file://$T/results/report.html" > "$T/dom.html" 2>/dev/null
# The whole page, tables to training curves, for a look at the rendering.
chromium "${flags[@]}" --window-size=1300,3000 "--screenshot=$T/report.png" "file://$T/results/report.html" >/dev/null 2>&1 || true
fail=0
check() { if grep -q -- "$1" "$T/dom.html"; then echo "ok: $2"; else echo "FAIL: $2"; fail=1; fi; }
check '<table class="results">' "the results table is in the page"
check 'bow → bow' "a supervision row is rendered"
check '<svg' "the plots are inline SVG"
check 'strong ceiling accuracy' "the accuracy plot has its axis label"
check '<details class="curve" open' "the training curves are in the page, the first one open"
check 'train accuracy' "the curves have their panel titles"
[ "$(grep -o '<details class="curve"' "$T/dom.html" | wc -l)" -ge 9 ] && echo "ok: curves of every run" || { echo "FAIL: curves of every run"; fail=1; }
[ "$(grep -o '<figure' "$T/dom.html" | wc -l)" -ge 2 ] && echo "ok: two figures" || { echo "FAIL: figures"; fail=1; }
[ "$fonts_ok" = 1 ] && echo "ok: PNG plots and report.html written with no system fonts visible" || { echo "FAIL: report without system fonts"; fail=1; }
[ -s "$T/report.png" ] && echo "screenshot: $T/report.png"
if [ "$fail" = 0 ]; then echo "report-browser: 1 passed, 0 failed"; else echo "report-browser: 0 passed, 1 failed"; exit 1; fi
