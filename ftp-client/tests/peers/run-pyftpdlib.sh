#!/usr/bin/env bash
# run-pyftpdlib.sh PORT ROOT TMP PASV_MIN PASV_MAX -- pyftpdlib (async ioloop) in the
# foreground on 127.0.0.1:PORT, in-process user FTP_USER with every permission, explicit
# FTPS optional. PYFTPDLIB_MAX_CONS: the session cap (default 256, also per address).
source "$(dirname "$0")/common.sh"
PORT=$1 ROOT=$2 TMP=$3 PASV_MIN=$4 PASV_MAX=$5
PY=$(pyftpdlib_python)
[ -x "$PY" ] || die "run install.sh first"
cat > "$TMP/server.py" <<'PYEOF'
import logging, os, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.servers import FTPServer

port, root, certs = int(sys.argv[1]), sys.argv[2], sys.argv[3]
logging.basicConfig(level=os.environ.get("PYFTPDLIB_LOG", "WARNING"))
auth = DummyAuthorizer()
auth.add_user(os.environ["FTP_USER"], os.environ["FTP_PASS"], root, perm="elradfmwMT")

class Handler(TLS_FTPHandler):
    pass
Handler.authorizer = auth
Handler.certfile = os.path.join(certs, "cert.pem")
Handler.keyfile = os.path.join(certs, "key.pem")
Handler.tls_control_required = False
Handler.tls_data_required = False
Handler.passive_ports = range(int(sys.argv[4]), int(sys.argv[5]) + 1)
Handler.permit_foreign_addresses = False
server = FTPServer(("127.0.0.1", port), Handler)
server.max_cons = int(os.environ.get("PYFTPDLIB_MAX_CONS", "256"))
server.max_cons_per_ip = server.max_cons
server.serve_forever(handle_exit=True)
PYEOF
export FTP_USER FTP_PASS
exec setpriv --pdeathsig KILL -- "$PY" "$TMP/server.py" "$PORT" "$ROOT" "$CACHE/certs" "$PASV_MIN" "$PASV_MAX"
