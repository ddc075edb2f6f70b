#!/usr/bin/env bash
# install-s3.sh -- installs (once) the S3 server the OpenDAL storage tests run against:
# s3s-fs, an S3 server over a local folder that checks SigV4 signatures, built from crates.io
# with `cargo install`. It lands in $FTP_S3_ROOT (default /var/tmp/ftp-s3), where the tests
# look for it (ftp-server/tests/support/s3.rs and ftp-server/src/storage/tests.rs).
# Idempotent and safe to run concurrently (a lock serialises it).
set -euo pipefail
root="${FTP_S3_ROOT:-/var/tmp/ftp-s3}"
# 0.14.0: the newest release whose rust-version (1.92) the machine's toolchain meets.
version="0.14.0"
mkdir -p "$root"
exec 9>"$root/.install.lock"
flock 9
if [ -x "$root/bin/s3s-fs" ] && [ "$(cat "$root/.version" 2>/dev/null)" = "$version" ]; then
    exit 0
fi
echo "== cargo install s3s-fs $version into $root"
start=$(date +%s)
# A target folder of its own, so the install does not lock the workspace's.
CARGO_TARGET_DIR="$root/build" cargo install --quiet --locked --root "$root" \
    --version "$version" --features binary s3s-fs
rm -rf "$root/build"
echo "$version" >"$root/.version"
echo "== s3s-fs installed in $(( $(date +%s) - start )) s"
