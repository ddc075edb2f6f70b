#!/usr/bin/env bash
# run-proftpd.sh PORT ROOT TMP PASV_MIN PASV_MAX -- ProFTPD 1.3.8 with mod_tls in the
# foreground on 127.0.0.1:PORT; FTP_USER is a virtual user (AuthUserFile in TMP) mapped to
# the system account, chrooted in ROOT. Explicit FTPS (AUTH TLS, TLS 1.2 and 1.3) with data
# connections REQUIRED to resume the control connection's TLS session (mod_tls' default:
# TLSOptions without NoSessionReuseRequired). No anonymous login.
# PROFTPD_TLS_REQUIRED: mod_tls' TLSRequired (default "on": no plain-text login or data).
# PROFTPD_TLS_PROTOCOL: mod_tls' TLSProtocol (default "TLSv1.2 TLSv1.3").
source "$(dirname "$0")/common.sh"
PORT=$1 ROOT=$2 TMP=$3 PASV_MIN=$4 PASV_MAX=$5
R="$CACHE/root/proftpd"
[ -x "$R/usr/sbin/proftpd" ] || die "run install.sh first"
CERTS="$CACHE/certs"
chown -R "$FTP_USER:" "$ROOT"
chmod 755 "$ROOT"
uid=$(id -u "$FTP_USER"); gid=$(id -g "$FTP_USER")
hash=$(openssl passwd -6 "$FTP_PASS")
echo "$FTP_USER:$hash:$uid:$gid::$ROOT:/bin/sh" > "$TMP/ftpd.passwd"
chmod 600 "$TMP/ftpd.passwd"
cat > "$TMP/proftpd.conf" <<CONF
ServerType standalone
ServerName "ftp-client tests"
DefaultAddress 127.0.0.1
SocketBindTight on
Port $PORT
PassivePorts $PASV_MIN $PASV_MAX
User nobody
Group nogroup
PidFile $TMP/proftpd.pid
ScoreboardFile $TMP/proftpd.scoreboard
DelayTable none
WtmpLog off
UseIPv6 off
UseReverseDNS off
SystemLog $TMP/proftpd.log
TransferLog $TMP/xferlog
MaxInstances 200
AuthOrder mod_auth_file.c
AuthUserFile $TMP/ftpd.passwd
AuthPAM off
RequireValidShell off
DefaultRoot ~
Umask 022
AllowOverwrite on
AllowStoreRestart on
ModulePath $R/usr/lib/proftpd
ModuleControlsACLs insmod,rmmod allow user root
LoadModule mod_tls.c
<IfModule mod_tls.c>
  TLSEngine on
  TLSLog $TMP/tls.log
  TLSProtocol ${PROFTPD_TLS_PROTOCOL:-TLSv1.2 TLSv1.3}
  TLSRSACertificateFile $CERTS/cert.pem
  TLSRSACertificateKeyFile $CERTS/key.pem
  TLSVerifyClient off
  TLSRequired ${PROFTPD_TLS_REQUIRED:-on}
  TLSRenegotiate none
</IfModule>
CONF
exec setpriv --pdeathsig KILL -- "$R/usr/sbin/proftpd" --nodaemon --config "$TMP/proftpd.conf"
