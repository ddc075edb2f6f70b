//! Python's ftplib against the server, under both runtimes: login, MKD, CWD, binary and
//! ASCII STOR/RETR, REST, RNFR/RNTO, DELE, RMD, MLSD, SIZE, MDTM, ABOR in the middle of a
//! download, passive and active, and FTP_TLS with PROT P. Every transferred file is compared
//! byte for byte, on the client side by the script and on the server side here; MDTM is
//! compared with the stored file's real modification time.

mod support;

use std::time::Duration;

use support::*;

/// The ftplib scenario; `argv`: port, user, password, tls (0/1), passive (0/1), the server's
/// root directory, the path of the big file as the server stores it (the reference for the
/// download), the binary file to upload, the text file (LF line ends) to upload.
const SCRIPT: &str = r#"
import calendar, ftplib, io, os, ssl, sys, time

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tls, passive = sys.argv[4] == "1", sys.argv[5] == "1"
root = sys.argv[6]
big = open(sys.argv[7], "rb").read()
data = open(sys.argv[8], "rb").read()
text_path = sys.argv[9]

def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)
    print("ok", what)

def expect(got, want, what):
    check(got == want, "%s (%r, expected %r)" % (what, got, want))

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
expect(f.pwd(), "/", "pwd")

f.mkd("kept")
f.mkd("work")
f.cwd("work")
expect(f.pwd(), "/work", "cwd")

# Binary round trip.
f.storbinary("STOR bin.dat", io.BytesIO(data), blocksize=8192)
got = io.BytesIO()
f.retrbinary("RETR bin.dat", got.write)
check(got.getvalue() == data, "binary stor/retr")
f.voidcmd("TYPE I")
expect(f.size("bin.dat"), len(data), "size")

# MDTM is the file's modification time on the server, in UTC, to the second.
on_disk = os.path.join(root, "work", "bin.dat")
mtime = int(os.stat(on_disk).st_mtime)
expect(f.sendcmd("MDTM bin.dat"), "213 " + time.strftime("%Y%m%d%H%M%S", time.gmtime(mtime)),
       "mdtm of the upload")
when = calendar.timegm((2001, 2, 3, 4, 5, 6))
os.utime(on_disk, (when, when))
expect(f.sendcmd("MDTM bin.dat"), "213 20010203040506", "mdtm after the mtime changed")

# REST: resume a download.
got = io.BytesIO()
f.retrbinary("RETR bin.dat", got.write, rest=150_000)
check(got.getvalue() == data[150_000:], "rest retr")

# ASCII: LF on disk, CRLF on the wire, LF again when read back by lines.
lf = open(text_path, "rb").read()
lines = lf.decode().split("\n")[:-1]
with open(text_path, "rb") as source:
    f.storlines("STOR text.txt", source)
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
check(raw.getvalue() == lf.replace(b"\n", b"\r\n"), "ascii wire form is CRLF")
# SIZE after a listing (ftplib leaves TYPE A on): what a TYPE A download sends.
f.retrlines("LIST")
expect(f.size("text.txt"), len(lf) + lf.count(b"\n"), "size in type a")
f.voidcmd("TYPE I")
expect(f.size("text.txt"), len(lf), "size in type i")

# MLSD.
facts = dict(f.mlsd())
check(facts["bin.dat"]["type"] == "file" and facts["bin.dat"]["size"] == str(len(data)), "mlsd file facts")
expect(set(facts), {"bin.dat", "text.txt"}, "mlsd names")

# Rename (the uploads are kept for the server-side comparison), delete, remove directories.
f.rename("bin.dat", "renamed.dat")
check("renamed.dat" in f.nlst(), "rename")
f.rename("renamed.dat", "/kept/bin.dat")
f.rename("text.txt", "/kept/text.txt")
f.storbinary("STOR gone.txt", io.BytesIO(b"short-lived\n"))
f.delete("gone.txt")
expect(f.nlst(), [], "dele")
f.cwd("/")
f.rmd("work")
expect(sorted(f.nlst()), ["big.bin", "kept"], "rmd")

# ABOR in the middle of a big download: the transfer is cut short (426), then ABOR is
# answered (226), and fewer bytes than the file holds ever arrive.
f.voidcmd("TYPE I")
conn = f.transfercmd("RETR big.bin")
received = len(conn.recv(10000))
check(received > 0, "download started")
expect(f.abort(), "426 Connection closed; transfer aborted.", "the transfer's reply to ABOR")
expect(f.getresp(), "226 Abort successful", "ABOR's reply")
try:
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        received += len(chunk)
except OSError as e:
    print("data connection ended with", type(e).__name__)
conn.close()
check(received < len(big), "interrupted after %d of %d bytes" % (received, len(big)))
expect(f.voidcmd("NOOP"), "200 NOOP ok.", "session usable after abort")

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
    // Large enough that socket buffers cannot hold it: ABOR catches the download running.
    let big_len = 24 << 20;
    server.write("big.bin", &pattern(big_len, 99));
    let client = TempDir::new("ftplib-client");
    let binary = pattern(200_000, 100);
    let lf_text = text(2000);
    let (binary_path, text_path) = (
        client.path().join("bin.dat"),
        client.path().join("text.txt"),
    );
    std::fs::write(&binary_path, &binary).unwrap();
    std::fs::write(&text_path, &lf_text).unwrap();
    let args = [
        server.port().to_string(),
        ALICE.0.into(),
        ALICE.1.into(),
        u8::from(tls).to_string(),
        u8::from(passive).to_string(),
        server.root.path().display().to_string(),
        server.file("big.bin").display().to_string(),
        binary_path.display().to_string(),
        text_path.display().to_string(),
    ];
    let out = ok(python(SCRIPT, &args, Duration::from_secs(120)));
    assert!(out.contains("ALL OK"), "{out}");
    // The uploads as the server stored them (the text with LF line ends, as sent by the
    // client's file), the big file intact, the work directory gone, no temporary files.
    assert_same_tree(
        &tree(server.root.path()),
        &[
            ("big.bin".to_owned(), pattern(big_len, 99)),
            ("kept/bin.dat".to_owned(), binary),
            ("kept/text.txt".to_owned(), lf_text),
        ],
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
