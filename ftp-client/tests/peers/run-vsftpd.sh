#!/usr/bin/env bash
# run-vsftpd.sh PORT ROOT TMP PASV_MIN PASV_MAX -- vsftpd 3.0.x in the foreground on
# 127.0.0.1:PORT, user FTP_USER chrooted in ROOT (writable), explicit FTPS optional.
# VSFTPD_SSL_REUSE=YES makes data connections resume the control connection's TLS session
# (vsftpd's own default, which many clients fail). VSFTPD_IMPLICIT=YES: implicit FTPS only.
# VSFTPD_MAX_CLIENTS / VSFTPD_MAX_PER_IP: session caps (default 200 each; 0 is no cap).
source "$(dirname "$0")/common.sh"
PORT=$1 ROOT=$2 TMP=$3 PASV_MIN=$4 PASV_MAX=$5
BIN="$CACHE/root/vsftpd/usr/sbin/vsftpd"
[ -x "$BIN" ] || die "run install.sh first"
CERTS="$CACHE/certs"
chown -R "$FTP_USER:" "$ROOT"
chmod 755 "$ROOT"
mkdir -p "$TMP/empty"
cat > "$TMP/vsftpd.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$PORT
background=NO
# the seccomp sandbox kills sessions in containers and VMs with newer kernels
seccomp_sandbox=NO
# a PAM service without a file in /etc/pam.d falls back to /etc/pam.d/other (pam_unix)
pam_service_name=ftp-client-tests-vsftpd
secure_chroot_dir=$TMP/empty
nopriv_user=nobody
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
local_root=$ROOT
chroot_local_user=YES
allow_writeable_chroot=YES
pasv_enable=YES
pasv_min_port=$PASV_MIN
pasv_max_port=$PASV_MAX
pasv_address=127.0.0.1
port_enable=YES
connect_from_port_20=NO
utf8_filesystem=YES
max_clients=${VSFTPD_MAX_CLIENTS:-200}
max_per_ip=${VSFTPD_MAX_PER_IP:-200}
xferlog_enable=YES
dual_log_enable=YES
vsftpd_log_file=$TMP/vsftpd.log
xferlog_file=$TMP/xferlog
ssl_enable=YES
force_local_logins_ssl=NO
force_local_data_ssl=NO
rsa_cert_file=$CERTS/cert.pem
rsa_private_key_file=$CERTS/key.pem
ssl_sslv2=NO
ssl_sslv3=NO
ssl_tlsv1=NO
require_ssl_reuse=${VSFTPD_SSL_REUSE:-NO}
implicit_ssl=${VSFTPD_IMPLICIT:-NO}
ssl_ciphers=HIGH
CONF
exec setpriv --pdeathsig KILL -- "$BIN" "$TMP/vsftpd.conf"
