# shellcheck shell=bash
# Shared by the scripts that install and run the real FTP servers the integration tests talk
# to. Sourced, not executed. Everything listens on 127.0.0.1 only.
#
# Environment:
#   FTP_CLIENT_PEERS_CACHE  where .debs are unpacked, the venv and the certificates live
#                           (default /var/tmp/ftp-client-peers)
#   FTP_USER / FTP_PASS     the read-write login (default ftptest / ftptest)
set -euo pipefail

CACHE=${FTP_CLIENT_PEERS_CACHE:-/var/tmp/ftp-client-peers}
FTP_USER=${FTP_USER:-ftptest}
FTP_PASS=${FTP_PASS:-ftptest}
export DEBIAN_FRONTEND=noninteractive

log() { echo "[peers] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (vsftpd binds, chroots and switches users)"

# apt_install PKG... : installs the packages that are missing (no services start).
apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "apt-get install ${missing[*]}"
    apt-get install -y --no-install-recommends "${missing[@]}" >&2 \
        || { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
}

# deb_root NAME [PKG...] : the packages PKG... (default: NAME alone) unpacked (not installed:
# vsftpd, pure-ftpd and proftpd conflict as Debian packages, and unpacking runs no maintainer
# script) together under $CACHE/root/NAME; prints the tree.
deb_root() {
    local name=$1 dir="$CACHE/root/$1" p
    shift
    [ $# -gt 0 ] || set -- "$name"
    if [ ! -e "$dir/.unpacked" ]; then
        mkdir -p "$CACHE/debs" "$dir"
        for p in "$@"; do
            log "apt-get download $p"
            ( cd "$CACHE/debs" && rm -f "${p}"_*.deb \
              && { apt-get download "$p" >&2 2>/dev/null \
                   || { apt-get update >&2 && apt-get download "$p" >&2; }; } \
              && dpkg-deb -x "${p}"_*.deb "$dir" )
        done
        touch "$dir/.unpacked"
    fi
    echo "$dir"
}

# The system account vsftpd logs in (home "/": vsftpd changes to the home before local_root)
# and the conventional anonymous account.
ensure_users() {
    if ! id "$FTP_USER" >/dev/null 2>&1; then
        log "creating system user $FTP_USER"
        useradd -M -d / -s /bin/sh -c 'FTP interop test user' "$FTP_USER"
    fi
    echo "$FTP_USER:$FTP_PASS" | chpasswd
    [ -d "$(getent passwd "$FTP_USER" | cut -d: -f6)" ] || usermod -d / "$FTP_USER"
    if ! id ftp >/dev/null 2>&1; then
        useradd -r -M -d /srv/ftp -s /usr/sbin/nologin -c 'anonymous FTP' ftp
    fi
    mkdir -p /srv/ftp
}

# A private CA and a certificate for 127.0.0.1/localhost it signed, made once: the tests
# trust ca.pem through a custom root store.
ensure_certs() {
    local d="$CACHE/certs"
    [ -s "$d/cert.pem" ] && [ -s "$d/ca.pem" ] && return 0
    mkdir -p "$d"
    log "generating a test CA and server certificate in $d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ftp-client test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
        -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$d/key.pem" -out "$d/cert.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$d/ext.cnf"
    openssl x509 -req -in "$d/cert.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 3650 -extfile "$d/ext.cnf" -out "$d/cert.pem" 2>/dev/null
    chmod 644 "$d/cert.pem" "$d/ca.pem"
    chmod 600 "$d/key.pem" "$d/ca.key"
}

pyftpdlib_python() { echo "$CACHE/venv-pyftpdlib/bin/python"; }

ensure_pyftpdlib() {
    local v="$CACHE/venv-pyftpdlib"
    if [ ! -x "$v/bin/python" ]; then
        log "creating venv $v"
        python3 -m venv "$v" >&2
    fi
    if ! "$v/bin/python" -c 'import pyftpdlib, OpenSSL' 2>/dev/null; then
        log "pip install pyftpdlib pyopenssl"
        "$v/bin/python" -m pip install -q pyftpdlib pyopenssl >&2
    fi
}

# Servers run under `setpriv --pdeathsig KILL`: if the test process dies without stopping
# them (a crash, a kill), they die with it instead of lingering.
