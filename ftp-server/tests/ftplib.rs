//! Python's ftplib against the server, under both runtimes: login, MKD, CWD, binary and
//! ASCII STOR/RETR, REST, RNFR/RNTO, DELE, RMD, MLSD, SIZE, MDTM, ABOR in the middle of a
//! download, passive and active, and FTP_TLS with PROT P. Every transferred file is compared
//! byte for byte, on the client side by the script and on the server side here.

mod support;

use std::time::Duration;

use support::*;

/// The ftplib scenario; `argv`: port, user, password, tls (0/1), passive (0/1), the path of the
/// big file as the server stores it (the reference for the download).
const SCRIPT: &str = r#"
import ftplib, io, os, ssl, sys

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tls, passive = sys.argv[4] == "1", sys.argv[5] == "1"
big = open(sys.argv[6], "rb").read()

def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)
    print("ok", what)

if tls:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    f = ftplib.FTP_TLS(context=ctx, timeout=30)
else:
    f = ftplib.FTP(timeout=30)
f.connect("127.0.0.1", port)
f.login(user, password)
if tls:
    f.prot_p()
f.set_pasv(passive)
check(f.pwd() == "/", "pwd")

f.mkd("work")
f.cwd("work")
check(f.pwd() == "/work", "cwd")

# Binary round trip.
data = os.urandom(200_000)
f.storbinary("STOR bin.dat", io.BytesIO(data), blocksize=8192)
got = io.BytesIO()
f.retrbinary("RETR bin.dat", got.write)
check(got.getvalue() == data, "binary stor/retr")
f.voidcmd("TYPE I")
check(f.size("bin.dat") == len(data), "size")
check(f.sendcmd("MDTM bin.dat").startswith("213 2"), "mdtm")

# REST: resume a download.
got = io.BytesIO()
f.retrbinary("RETR bin.dat", got.write, rest=150_000)
check(got.getvalue() == data[150_000:], "rest retr")

# ASCII: LF on disk, CRLF on the wire, LF again when read back by lines.
lines = [("line %d with some text" % i) for i in range(2000)]
f.storlines("STOR text.txt", io.BytesIO(("\n".join(lines) + "\n").encode()))
back = []
f.retrlines("RETR text.txt", back.append)
check(back == lines, "ascii stor/retr")
raw = io.BytesIO()
f.voidcmd("TYPE A")
conn = f.transfercmd("RETR text.txt")
while True:
    chunk = conn.recv(65536)
    if not chunk:
        break
    raw.write(chunk)
if tls:
    conn.unwrap()
conn.close()
f.voidresp()
check(raw.getvalue() == ("\r\n".join(lines) + "\r\n").encode(), "ascii wire form is CRLF")

# MLSD.
facts = dict(f.mlsd())
check(facts["bin.dat"]["type"] == "file" and facts["bin.dat"]["size"] == str(len(data)), "mlsd file facts")
check(set(facts) == {"bin.dat", "text.txt"}, "mlsd names")

# Rename, delete, remove directories.
f.rename("bin.dat", "renamed.dat")
check("renamed.dat" in f.nlst(), "rename")
f.delete("renamed.dat")
f.delete("text.txt")
f.cwd("/")
f.rmd("work")
check("work" not in f.nlst(), "rmd")

# ABOR in the middle of a big download.
f.voidcmd("TYPE I")
conn = f.transfercmd("RETR big.bin")
first = conn.recv(10000)
check(len(first) > 0, "download started")
resp = f.abort()
check(resp[:3] in ("426", "225", "226"), "abort answered " + resp)
if resp.startswith("426"):
    check(f.getresp().startswith("226"), "226 after 426")
conn.close()
check(f.voidcmd("NOOP").startswith("200"), "session usable after abort")

# The whole big file still downloads fine afterwards.
got = io.BytesIO()
f.retrbinary("RETR big.bin", got.write)
check(got.getvalue() == big, "big retr after abort")

f.quit()
print("ALL OK")
"#;

fn ftplib_scenario(rt: Rt, tls: bool, passive: bool) {
    // The plain runs use sendfile and splice (off by default), ABOR included.
    let server = TestServer::start(rt, |s| {
        if tls {
            s.tls(tls_config())
        } else {
            s.sendfile(true).splice(true)
        }
    });
    let big_len = 8 << 20;
    server.write("big.bin", &pattern(big_len, 99));
    let args = [
        server.port().to_string(),
        ALICE.0.into(),
        ALICE.1.into(),
        u8::from(tls).to_string(),
        u8::from(passive).to_string(),
        server.file("big.bin").display().to_string(),
    ];
    let out = ok(python(SCRIPT, &args, Duration::from_secs(120)));
    assert!(out.contains("ALL OK"), "{out}");
    // Nothing left behind: the work directory is gone, the big file intact, no temporary
    // upload files.
    assert_eq!(
        tree(server.root.path()),
        vec![("big.bin".to_owned(), pattern(big_len, 99))]
    );
}

#[test]
fn ftplib_plain_passive() {
    each_runtime(|rt| ftplib_scenario(rt, false, true));
}

#[test]
fn ftplib_plain_active() {
    each_runtime(|rt| ftplib_scenario(rt, false, false));
}

#[test]
fn ftplib_tls_prot_p_passive() {
    each_runtime(|rt| ftplib_scenario(rt, true, true));
}

#[test]
fn ftplib_tls_prot_p_active() {
    each_runtime(|rt| ftplib_scenario(rt, true, false));
}
