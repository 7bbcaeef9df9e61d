# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by the install tests: install the build into a temporary DESTDIR and find where
# things went (from meson's own record of the installation, not from guesses).
set -euo pipefail

build=${MHTEST_BUILD_ROOT:?}
src=${MHTEST_SOURCE_ROOT:?}
tmp=$(mktemp -d /tmp/mhtest-install-XXXXXX)
dest=$tmp/dest

fail() {
        echo "FAIL: $*" >&2
        exit 1
}

install_destdir() {
        meson install -C "$build" --no-rebuild --destdir "$dest" --quiet >"$tmp/install.log" 2>&1 ||
                { cat "$tmp/install.log"; fail "meson install --destdir failed"; }
        meson introspect --installed "$build" >"$tmp/installed.json"
}

# installed_path SUFFIX: the install path (without DESTDIR) of the one file meson installs
# whose path ends in SUFFIX.
installed_path() {
        python3 - "$tmp/installed.json" "$1" <<'PY'
import json, sys
paths = [p for p in json.load(open(sys.argv[1])).values() if p.endswith(sys.argv[2])]
if len(paths) != 1:
    sys.exit("meson installs %d files ending in %s" % (len(paths), sys.argv[2]))
print(paths[0])
PY
}
