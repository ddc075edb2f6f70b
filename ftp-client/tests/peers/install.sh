#!/usr/bin/env bash
# install.sh -- installs (once) everything the integration tests run: vsftpd, pure-ftpd and
# ProFTPD (with mod_tls) unpacked from their Debian packages, pyftpdlib in a venv, openssl,
# curl, a test CA.
# Idempotent and safe to run concurrently (a lock serialises it).
source "$(dirname "$0")/common.sh"
mkdir -p "$CACHE"
exec 9>"$CACHE/.install.lock"
flock 9
# The libraries of the unpacked servers: vsftpd and pure-ftpd's, then proftpd-core's.
apt_install openssl curl python3 python3-venv libwrap0 libcap2 libpam-modules libssl3 libsodium23 \
    libacl1 libhiredis0.14 libidn2-0 libmemcached11 libmemcachedutil2 libpcre2-posix3
deb_root vsftpd >/dev/null
deb_root pure-ftpd >/dev/null
deb_root proftpd proftpd-core proftpd-mod-crypto >/dev/null
ensure_users
ensure_certs
ensure_pyftpdlib
