#!/usr/bin/env bash
# run-pure-ftpd.sh PORT ROOT TMP PASV_MIN PASV_MAX -- Pure-FTPd 1.0.x in the foreground on
# 127.0.0.1:PORT; FTP_USER is a virtual user (PureDB in TMP) mapped to the system account,
# chrooted in ROOT. Explicit FTPS optional. No anonymous login.
# PURE_FTPD_MAX_CLIENTS / PURE_FTPD_MAX_PER_IP: session caps (default 200 each).
source "$(dirname "$0")/common.sh"
PORT=$1 ROOT=$2 TMP=$3 PASV_MIN=$4 PASV_MAX=$5
R="$CACHE/root/pure-ftpd"
[ -x "$R/usr/sbin/pure-ftpd" ] || die "run install.sh first"
CERTS="$CACHE/certs"
chown -R "$FTP_USER:" "$ROOT"
chmod 755 "$ROOT"
uid=$(id -u "$FTP_USER"); gid=$(id -g "$FTP_USER")
# A SHA-512 crypt(3) hash: pure-pw's calibrated argon2 costs seconds per login.
hash=$(openssl passwd -6 "$FTP_PASS")
echo "$FTP_USER:$hash:$uid:$gid::$ROOT/./::::::::::::" > "$TMP/pureftpd.passwd"
"$R/usr/bin/pure-pw" mkdb "$TMP/pureftpd.pdb" -f "$TMP/pureftpd.passwd" >/dev/null
exec setpriv --pdeathsig KILL -- "$R/usr/sbin/pure-ftpd" \
    -S "127.0.0.1,$PORT" -4 -p "$PASV_MIN:$PASV_MAX" -P 127.0.0.1 \
    -l "puredb:$TMP/pureftpd.pdb" -E -A -H -D -c "${PURE_FTPD_MAX_CLIENTS:-200}" -C "${PURE_FTPD_MAX_PER_IP:-200}" -u 1 \
    -Y 1 -2 "$CERTS/cert.pem,$CERTS/key.pem" -g "$TMP/pure-ftpd.pid" -f none
