//! `ftp`: a command-line FTP/FTPS client with progress bars and exit codes scripts can rely
//! on, built on `ftp-client` (any of its three styles, `--runtime`).
//!
//! ```sh
//! cargo run --release --example ftp -- ls ftp://user:pass@127.0.0.1:2121/
//! cargo run --release --example ftp -- get --resume ftp://127.0.0.1:2121/big.iso
//! cargo run --release --example ftp -- put notes.txt ftpes://user:pass@host/incoming/
//! cargo run --release --example ftp -- mirror --upload ./site ftp://user:pass@host/www
//! cargo run --release --example ftp -- --help
//! ```
//!
//! Exit codes: 0 success; 1 usage (bad arguments or URL); 2 connecting or logging in failed
//! (refused, timed out, TLS, wrong password); 3 the server refused an operation on a remote
//! file or directory (no such file, permission denied); 4 a local file could not be read or
//! written; 5 a transfer failed (data connection, timeout, connection lost).
//!
//! Local files are read and written with `std::fs` in every runtime: the program runs one
//! task at a time, so blocking file I/O costs nothing here.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use ftp_client::{ConnectOptions, Entry, EntryKind, Error, FtpUrl, TlsConfig, TlsMode};
use indicatif::{ProgressBar, ProgressStyle};

const USAGE: &str = "\
ftp: a command-line FTP and FTPS client

USAGE:
    ftp [OPTIONS] ls URL                      list a directory
    ftp [OPTIONS] get URL [LOCAL] [--resume]  download a file (LOCAL: a file, a directory, or -
                                              for stdout; --resume continues a partial file)
    ftp [OPTIONS] put LOCAL URL               upload a file (URL ending in / keeps its name)
    ftp [OPTIONS] mirror URL DIR              download a directory tree (new or resized files)
    ftp [OPTIONS] mirror --upload DIR URL     upload a directory tree (new or resized files)
    ftp [OPTIONS] rm URL                      delete a file (or an empty directory)
    ftp [OPTIONS] mkdir URL                   create a directory
    ftp [OPTIONS] mv URL NEWNAME              rename (NEWNAME without / stays in the same folder)
    ftp [OPTIONS] quote URL COMMAND...        send a raw command (after CWD to the URL's path)

URL: ftp://[user[:password]@]host[:port]/path   (ftps:// implicit FTPS, ftpes:// explicit)
     anonymous login when the URL names no user

OPTIONS:
    --active                      active mode (the server connects back) [default: passive]
    --tls explicit|implicit       FTPS whatever the URL scheme says
    --insecure                    accept any server certificate (test servers only!)
    --cacert FILE                 trust the CA certificates in this PEM file
    --tls12                       TLS 1.2 only (the library switches to it by itself when a
                                  server runs its TLS 1.3 session tickets dry)
    --runtime tokio|async-std|blocking
                                  which client style runs [default: blocking]
    --timeout SECS                connect and reply timeout [default: 30 / 60]
    -q, --quiet                   no progress bars
    -h, --help                    this text
    -V, --version                 the version

EXIT CODES:
    0 success   1 usage   2 connection or login   3 remote file refused
    4 local file error   5 transfer failed
";

/// What went wrong, and the exit code it means.
enum Failure {
    /// 1: bad arguments.
    Usage(String),
    /// 2: connecting or logging in.
    Connect(Error),
    /// 3: the server refused an operation on a remote file.
    Remote(Error),
    /// 4: a local file.
    Local(PathBuf, io::Error),
    /// 5: a transfer failed.
    Transfer(Error),
    /// 3: the server refused an operation on this remote path.
    RemoteAt(String, Error),
    /// 5: a download stopped short; the local file holds the first `bytes`.
    Partial {
        error: Error,
        local: PathBuf,
        bytes: u64,
        total: Option<u64>,
    },
    /// 5: a download stopped short; the local file it would have replaced is unchanged.
    Unchanged { error: Error, local: PathBuf },
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Self::Usage(_) => 1,
            Self::Connect(_) => 2,
            Self::Remote(_) => 3,
            Self::Local(..) => 4,
            Self::Transfer(_) | Self::Partial { .. } | Self::Unchanged { .. } => 5,
            Self::RemoteAt(..) => 3,
        }
    }

    /// An error of an operation on the remote `path`: a refusal names the path.
    fn at(path: &str, error: Error) -> Self {
        match Self::of(error) {
            Self::Remote(error) => Self::RemoteAt(path.to_string(), error),
            other => other,
        }
    }

    /// An error of a command after login: the server's refusal (3) or a failure of the
    /// connection or transfer (5).
    fn of(error: Error) -> Self {
        match error {
            Error::Reply(_)
            | Error::UnexpectedReply(_)
            | Error::AccountRequired(_)
            | Error::Usage(_) => Self::Remote(error),
            Error::Url(_) => Self::Usage(error.to_string()),
            Error::Connect { .. } | Error::ConnectTimeout { .. } => Self::Connect(error),
            _ => Self::Transfer(error),
        }
    }

    /// An I/O error of a transfer stream: the client's own error inside it when there is
    /// one.
    fn stream(error: io::Error) -> Self {
        Self::of(stream_error(error))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(message) => write!(f, "{message}\n\nRun `ftp --help` for usage."),
            Self::Connect(error) if error.is_certificate_refused() => write!(
                f,
                "cannot connect: {error}\n\nTo trust the server's certificate, pass its CA \
                 certificate (PEM) with --cacert FILE; for a test server, --insecure skips \
                 the check."
            ),
            Self::Connect(error) => write!(f, "cannot connect or log in: {error}"),
            Self::Remote(error) => write!(f, "{error}"),
            Self::RemoteAt(path, error) => write!(f, "{path}: {error}"),
            Self::Local(path, error) => write!(f, "{}: {error}", path.display()),
            Self::Transfer(error) => write!(f, "transfer failed: {error}"),
            Self::Partial {
                error,
                local,
                bytes,
                total,
            } => {
                let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
                write!(
                    f,
                    "transfer failed: {error}\n{} is partial ({bytes}{of} bytes); run the same \
                     command with --resume to continue it.",
                    local.display()
                )
            }
            Self::Unchanged { error, local } => write!(
                f,
                "transfer failed: {error}\n{} was left unchanged.",
                local.display()
            ),
        }
    }
}

type Outcome = Result<(), Failure>;

#[derive(Debug)]
enum Command {
    Ls {
        url: FtpUrl,
    },
    Get {
        url: FtpUrl,
        local: Option<PathBuf>,
        resume: bool,
    },
    Put {
        local: PathBuf,
        url: FtpUrl,
    },
    MirrorDown {
        url: FtpUrl,
        dir: PathBuf,
    },
    MirrorUp {
        dir: PathBuf,
        url: FtpUrl,
    },
    Rm {
        url: FtpUrl,
    },
    Mkdir {
        url: FtpUrl,
    },
    Mv {
        url: FtpUrl,
        to: String,
    },
    Quote {
        url: FtpUrl,
        words: Vec<String>,
    },
}

impl Command {
    fn url(&self) -> &FtpUrl {
        match self {
            Self::Ls { url }
            | Self::Get { url, .. }
            | Self::Put { url, .. }
            | Self::MirrorDown { url, .. }
            | Self::MirrorUp { url, .. }
            | Self::Rm { url }
            | Self::Mkdir { url }
            | Self::Mv { url, .. }
            | Self::Quote { url, .. } => url,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Runtime {
    Blocking,
    Tokio,
    AsyncStd,
}

#[derive(Debug)]
struct Args {
    command: Command,
    active: bool,
    tls: Option<TlsMode>,
    insecure: bool,
    cacert: Option<PathBuf>,
    runtime: Runtime,
    timeout: Option<Duration>,
    quiet: bool,
    /// TLS 1.2 only (`--tls12`).
    tls12: bool,
}

/// Parses the command line by hand (no argument-parsing crate: the build stays lean).
/// Options may come anywhere; `--` ends them.
fn parse(raw: Vec<String>) -> Result<Option<Args>, Failure> {
    let usage = |m: &str| Failure::Usage(m.to_string());
    let mut words = Vec::new();
    let (mut active, mut insecure, mut quiet, mut resume, mut upload) =
        (false, false, false, false, false);
    let mut tls12 = false;
    let (mut tls, mut cacert, mut timeout) = (None, None, None);
    let mut runtime = Runtime::Blocking;
    let mut it = raw.into_iter();
    let mut options_done = false;
    while let Some(arg) = it.next() {
        if options_done || !arg.starts_with('-') || arg == "-" {
            words.push(arg);
            continue;
        }
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| Failure::Usage(format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--" => options_done = true,
            "-h" | "--help" => return Ok(None),
            "--active" => active = true,
            "--passive" => active = false,
            "--insecure" | "-k" => insecure = true,
            "-q" | "--quiet" => quiet = true,
            "--resume" | "-c" => resume = true,
            "--upload" => upload = true,
            "--tls12" => tls12 = true,
            "--tls" => {
                tls = Some(match value("--tls")?.as_str() {
                    "explicit" => TlsMode::Explicit,
                    "implicit" => TlsMode::Implicit,
                    "none" => TlsMode::None,
                    other => return Err(usage(&format!("--tls: unknown mode {other:?}"))),
                })
            }
            "--cacert" => cacert = Some(PathBuf::from(value("--cacert")?)),
            "--runtime" => {
                runtime = match value("--runtime")?.as_str() {
                    "blocking" => Runtime::Blocking,
                    "tokio" => Runtime::Tokio,
                    "async-std" | "smol" => Runtime::AsyncStd,
                    other => return Err(usage(&format!("--runtime: unknown runtime {other:?}"))),
                }
            }
            "--timeout" => {
                let secs: f64 = value("--timeout")?
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && s.is_finite())
                    .ok_or_else(|| usage("--timeout needs a positive number of seconds"))?;
                timeout = Some(Duration::from_secs_f64(secs));
            }
            other => return Err(usage(&format!("unknown option {other}"))),
        }
    }
    let url = |s: &str| FtpUrl::parse(s).map_err(|e| Failure::Usage(format!("{s}: {e}")));
    let mut words = words.into_iter();
    let verb = words.next().ok_or_else(|| usage("no command given"))?;
    let rest: Vec<String> = words.collect();
    let arity = |n: std::ops::RangeInclusive<usize>| {
        if n.contains(&rest.len()) {
            Ok(())
        } else {
            Err(usage(&format!("wrong number of arguments for `{verb}`")))
        }
    };
    let command = match verb.as_str() {
        "ls" => {
            arity(1..=1)?;
            Command::Ls {
                url: url(&rest[0])?,
            }
        }
        "get" => {
            arity(1..=2)?;
            Command::Get {
                url: url(&rest[0])?,
                local: rest.get(1).map(PathBuf::from),
                resume,
            }
        }
        "put" => {
            arity(2..=2)?;
            Command::Put {
                local: PathBuf::from(&rest[0]),
                url: url(&rest[1])?,
            }
        }
        "mirror" if upload => {
            arity(2..=2)?;
            Command::MirrorUp {
                dir: PathBuf::from(&rest[0]),
                url: url(&rest[1])?,
            }
        }
        "mirror" => {
            arity(2..=2)?;
            Command::MirrorDown {
                url: url(&rest[0])?,
                dir: PathBuf::from(&rest[1]),
            }
        }
        "rm" => {
            arity(1..=1)?;
            Command::Rm {
                url: url(&rest[0])?,
            }
        }
        "mkdir" => {
            arity(1..=1)?;
            Command::Mkdir {
                url: url(&rest[0])?,
            }
        }
        "mv" => {
            arity(2..=2)?;
            Command::Mv {
                url: url(&rest[0])?,
                to: rest[1].clone(),
            }
        }
        "quote" => {
            if rest.len() < 2 {
                return Err(usage("quote needs a URL and a command"));
            }
            Command::Quote {
                url: url(&rest[0])?,
                words: rest[1..].to_vec(),
            }
        }
        other => return Err(usage(&format!("unknown command {other:?}"))),
    };
    if resume && !matches!(command, Command::Get { .. }) {
        return Err(usage("--resume goes with get"));
    }
    Ok(Some(Args {
        command,
        active,
        tls,
        insecure,
        cacert,
        runtime,
        timeout,
        quiet,
        tls12,
    }))
}

impl Args {
    /// The connection options for the command's URL (TLS 1.2 only with `--tls12`).
    fn options(&self) -> Result<ConnectOptions, Failure> {
        let url = self.command.url();
        let mut options = ConnectOptions::from_url(url);
        if let Some(mode) = self.tls {
            options = options.tls(mode);
        }
        let mut tls = if self.insecure {
            TlsConfig::danger_accept_invalid_certs()
        } else {
            TlsConfig::default()
        };
        if let Some(path) = &self.cacert {
            let pem = std::fs::read(path).map_err(|e| Failure::Local(path.clone(), e))?;
            tls = tls
                .add_root_pem(&pem)
                .map_err(|e| Failure::Usage(format!("--cacert {}: {e}", path.display())))?;
        }
        if self.tls12 {
            tls = tls.tls12_only();
        }
        options = options.tls_config(tls);
        if self.active {
            options = options.active();
        }
        if let Some(timeout) = self.timeout {
            options = options.connect_timeout(timeout).reply_timeout(timeout);
        }
        Ok(options)
    }

    fn progress(&self, total: Option<u64>, name: &str) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{msg:20!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{msg:20!} {spinner} {bytes} {bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(name.to_string());
        bar
    }
}

/// `dir/name`, or `name` when `dir` is empty.
fn join_remote(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn entry_name(entry: &Entry) -> String {
    String::from_utf8_lossy(&entry.name)
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// One `ls` line: kind, size, modification time, name (and a symlink's target).
fn format_entry(entry: &Entry) -> String {
    let kind = match entry.kind {
        EntryKind::Dir => 'd',
        EntryKind::Symlink => 'l',
        EntryKind::File => '-',
        _ => '?',
    };
    let size = entry
        .size
        .map_or_else(|| "-".to_string(), |s| s.to_string());
    let modified = entry.modified.map_or_else(
        || "-".to_string(),
        |t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute()
            )
        },
    );
    let mut line = format!("{kind} {size:>12} {modified:16} {}", entry_name(entry));
    if let Some(target) = &entry.link_target {
        line.push_str(" -> ");
        line.push_str(&String::from_utf8_lossy(target));
    }
    line
}

/// Where `get` writes: LOCAL, LOCAL/name when it is a directory, or the remote name.
fn local_target(url: &FtpUrl, local: Option<&Path>) -> Result<Option<PathBuf>, Failure> {
    let name = url.file_name();
    match local {
        Some(p) if p == Path::new("-") => Ok(None),
        Some(p) if p.is_dir() => {
            if name.is_empty() {
                return Err(Failure::Usage(format!(
                    "{}: the URL names no file",
                    url.path
                )));
            }
            Ok(Some(p.join(name)))
        }
        Some(p) => Ok(Some(p.to_path_buf())),
        None if name.is_empty() => Err(Failure::Usage("the URL names no file".into())),
        None => Ok(Some(PathBuf::from(name))),
    }
}

/// Where `get` writes.
enum Sink {
    Stdout(io::StdoutLock<'static>),
    /// Appending to the local file (`--resume`).
    Append(File, PathBuf),
    /// A temporary file beside the target (created with the first bytes), the target, and
    /// whether the target existed before.
    Part(Option<ftp_client::PartFile>, PathBuf, bool),
}

impl Sink {
    /// The local file opened for appending (created if missing), and its size.
    fn append(path: &Path) -> Result<(Self, u64), Failure> {
        let local_err = |e| Failure::Local(path.to_path_buf(), e);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(local_err)?;
        let offset = file.seek(SeekFrom::End(0)).map_err(local_err)?;
        Ok((Self::Append(file, path.to_path_buf()), offset))
    }

    fn write(&mut self, data: &[u8]) -> Outcome {
        match self {
            Self::Stdout(out) => out
                .write_all(data)
                .map_err(|e| Failure::Local("stdout".into(), e)),
            Self::Append(file, path) => file
                .write_all(data)
                .map_err(|e| Failure::Local(path.clone(), e)),
            Self::Part(part, path, _) => {
                if part.is_none() {
                    *part = Some(ftp_client::PartFile::beside(path).map_err(local_failure)?);
                }
                match part {
                    Some(part) => part.write(data).map_err(local_failure),
                    None => Ok(()),
                }
            }
        }
    }

    /// The transfer succeeded: the bytes reach their place.
    fn done(self) -> Outcome {
        match self {
            Self::Stdout(mut out) => out.flush().map_err(|e| Failure::Local("stdout".into(), e)),
            Self::Append(mut file, path) => file.flush().map_err(|e| Failure::Local(path, e)),
            Self::Part(Some(part), ..) => part.commit().map_err(local_failure),
            // An empty file: nothing was written yet.
            Self::Part(None, path, _) => File::create(&path)
                .map(drop)
                .map_err(|e| Failure::Local(path, e)),
        }
    }

    /// The transfer stopped after `got` bytes (of `total`): what the user is told, and what
    /// becomes of the bytes.
    fn cut_short(self, error: Error, got: u64, total: Option<u64>) -> Failure {
        match self {
            Self::Stdout(_) => Failure::of(error),
            Self::Append(_, local) => Failure::Partial {
                error,
                local,
                bytes: got,
                total,
            },
            Self::Part(Some(part), local, false) if got > 0 => match part.commit() {
                Ok(()) => Failure::Partial {
                    error,
                    local,
                    bytes: got,
                    total,
                },
                Err(_) => Failure::of(error),
            },
            Self::Part(_, local, true) if got > 0 => Failure::Unchanged { error, local },
            Self::Part(..) => Failure::of(error),
        }
    }
}

/// A local-file error of the client library as a failure (exit 4).
fn local_failure(error: Error) -> Failure {
    match error {
        Error::Local { path, source } => Failure::Local(path, source),
        other => Failure::of(other),
    }
}

/// The client's own error inside a stream's I/O error, or the I/O error itself.
fn stream_error(error: io::Error) -> Error {
    if error.get_ref().is_some_and(|e| e.is::<Error>()) {
        if let Some(Ok(inner)) = error.into_inner().map(|e| e.downcast::<Error>()) {
            return *inner;
        }
        return Error::Io(io::Error::other("transfer failed"));
    }
    Error::Io(error)
}

/// The command logic, written once and expanded per client style: `$($await)*` is `.await`
/// for the async styles; module `$io` reads and writes the transfer streams.
macro_rules! commands {
    ($Client:ty, $($async:ident)?, [$($await:tt)*], $io:ident) => {
        type Client = $Client;

        /// Connects, runs the command, quits. A server that requires TLS session reuse and
        /// runs this client out of TLS 1.3 tickets (ProFTPD after uploads) is the library's
        /// business: it moves the session to TLS 1.2 by itself.
        pub(crate) $($async)? fn run(args: &Args) -> Outcome {
            let options = args.options()?;
            let mut client = Client::connect_with(&options) $($await)* .map_err(Failure::Connect)?;
            let result = command(&mut client, args) $($await)*;
            let _ = client.quit() $($await)*;
            result
        }

        $($async)? fn command(client: &mut Client, args: &Args) -> Outcome {
            match &args.command {
                Command::Ls { url } => {
                    let entries = client.list(&url.path) $($await)* .map_err(|e| Failure::at(&url.path, e))?;
                    let stdout = io::stdout();
                    let mut out = stdout.lock();
                    for entry in &entries {
                        let _ = writeln!(out, "{}", format_entry(entry));
                    }
                    Ok(())
                }
                Command::Get { url, local, resume } => {
                    let target = local_target(url, local.as_deref())?;
                    get(client, args, &url.path, target.as_deref(), *resume) $($await)*
                }
                Command::Put { local, url } => {
                    let remote = if url.path.is_empty() || url.path.ends_with('/') {
                        let name = local.file_name().map(|n| n.to_string_lossy().into_owned());
                        let name = name.ok_or_else(|| Failure::Usage("LOCAL names no file".into()))?;
                        join_remote(&url.path, &name)
                    } else {
                        url.path.clone()
                    };
                    put(client, args, local, &remote) $($await)*
                }
                Command::MirrorDown { url, dir } => mirror_down(client, args, &url.path, dir) $($await)*,
                Command::MirrorUp { dir, url } => mirror_up(client, args, dir, &url.path) $($await)*,
                Command::Rm { url } => match client.delete(&url.path) $($await)* {
                    Ok(()) => Ok(()),
                    // Not a file? Perhaps an empty directory.
                    Err(error) if !error.is_fatal() => match client.rmdir(&url.path) $($await)* {
                        Ok(()) => Ok(()),
                        Err(_) => Err(Failure::at(&url.path, error)),
                    },
                    Err(error) => Err(Failure::of(error)),
                },
                Command::Mkdir { url } => {
                    client.mkdir(&url.path) $($await)* .map(drop).map_err(|e| Failure::at(&url.path, e))
                }
                Command::Mv { url, to } => {
                    let to = if to.contains('/') {
                        to.clone()
                    } else {
                        let dir = url.path.rsplit_once('/').map_or("", |(d, _)| d);
                        join_remote(dir, to)
                    };
                    client.rename(&url.path, &to) $($await)* .map_err(|e| Failure::at(&url.path, e))
                }
                Command::Quote { url, words } => {
                    if !url.path.is_empty() {
                        client.cwd(&url.path) $($await)* .map_err(Failure::of)?;
                    }
                    let reply = client.raw(words.join(" ")) $($await)* .map_err(Failure::of)?;
                    for line in reply.lines() {
                        println!("{} {}", reply.code(), String::from_utf8_lossy(line));
                    }
                    Ok(())
                }
            }
        }

        /// Downloads `remote` into `local` (stdout for `None`). Without `resume` the bytes go
        /// to a temporary file beside `local` that replaces it only when the server confirmed
        /// the transfer (a refusal never touches `local`); a transfer cut short keeps what
        /// came as `local` only when there was no such file before. With `resume` the bytes
        /// are appended to `local` from its size on.
        $($async)? fn get(
            client: &mut Client,
            args: &Args,
            remote: &str,
            local: Option<&Path>,
            resume: bool,
        ) -> Outcome {
            let size = client.size(remote) $($await)* .ok();
            let (mut sink, offset) = match local {
                None => (Sink::Stdout(io::stdout().lock()), 0),
                Some(path) if resume => Sink::append(path)?,
                Some(path) => (Sink::Part(None, path.to_path_buf(), path.exists()), 0),
            };
            if resume && size == Some(offset) {
                return Ok(());
            }
            let bar = if local.is_some() { args.progress(size, remote) } else { ProgressBar::hidden() };
            bar.set_position(offset);
            let mut down = client.retrieve(remote, offset) $($await)* .map_err(|e| Failure::at(remote, e))?;
            let mut buf = vec![0u8; 256 * 1024];
            let mut got = offset;
            loop {
                let n = match $io::read(&mut down, &mut buf) $($await)* {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        bar.abandon();
                        // The session's verdict explains the failure better than the socket.
                        let error = down.finish() $($await)* .err().map_or_else(|| stream_error(e), |e| e);
                        return Err(sink.cut_short(error, got, size));
                    }
                };
                if let Err(failure) = sink.write(&buf[..n]) {
                    bar.abandon();
                    return Err(failure);
                }
                got += n as u64;
                bar.inc(n as u64);
            }
            let result = down.finish() $($await)*;
            bar.finish();
            match result {
                Ok(_) => sink.done(),
                Err(error) => Err(sink.cut_short(error, got, size)),
            }
        }

        /// Uploads `local` to `remote`.
        $($async)? fn put(client: &mut Client, args: &Args, local: &Path, remote: &str) -> Outcome {
            let local_err = |e| Failure::Local(local.to_path_buf(), e);
            let mut file = File::open(local).map_err(local_err)?;
            let size = file.metadata().map_err(local_err)?.len();
            let bar = args.progress(Some(size), remote);
            let mut up = client.store(remote) $($await)* .map_err(|e| Failure::at(remote, e))?;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        bar.abandon();
                        let _ = up.abort() $($await)*;
                        return Err(local_err(e));
                    }
                };
                if let Err(e) = $io::write_all(&mut up, &buf[..n]) $($await)* {
                    bar.abandon();
                    return Err(up.finish() $($await)* .err().map_or_else(|| Failure::stream(e), Failure::of));
                }
                bar.inc(n as u64);
            }
            let result = up.finish() $($await)*;
            bar.finish();
            result.map(drop).map_err(|e| Failure::at(remote, e))
        }

        /// Downloads the tree under `remote` into `dir`: files that are missing locally or
        /// differ in size.
        $($async)? fn mirror_down(client: &mut Client, args: &Args, remote: &str, dir: &Path) -> Outcome {
            let mut stack = vec![(remote.trim_end_matches('/').to_string(), dir.to_path_buf())];
            while let Some((remote_dir, local_dir)) = stack.pop() {
                std::fs::create_dir_all(&local_dir).map_err(|e| Failure::Local(local_dir.clone(), e))?;
                let entries = client.list(&remote_dir) $($await)* .map_err(|e| Failure::at(&remote_dir, e))?;
                for entry in entries {
                    let name = entry_name(&entry);
                    if name.is_empty() || name == "." || name == ".." {
                        continue;
                    }
                    let remote_path = join_remote(&remote_dir, &name);
                    let local_path = local_dir.join(&name);
                    match entry.kind {
                        EntryKind::Dir => stack.push((remote_path, local_path)),
                        EntryKind::File => {
                            let local_size = std::fs::metadata(&local_path).ok().map(|m| m.len());
                            if local_size.is_some() && local_size == entry.size {
                                continue;
                            }
                            get(client, args, &remote_path, Some(&local_path), false) $($await)*?;
                        }
                        _ => eprintln!("skipping {remote_path} (not a file or directory)"),
                    }
                }
            }
            Ok(())
        }

        /// Creates `path` and every missing folder above it (MKD each, from the top; a
        /// refusal counts only for `path` itself, the others may exist).
        $($async)? fn mkdir_all(client: &mut Client, path: &str) -> Outcome {
            let mut prefix = if path.starts_with('/') { "/".to_string() } else { String::new() };
            let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
            for (i, part) in parts.iter().enumerate() {
                prefix = join_remote(&prefix, part);
                match client.mkdir(&prefix) $($await)* {
                    Ok(_) => {}
                    Err(error) if error.is_fatal() || i + 1 == parts.len() => {
                        return Err(Failure::at(&prefix, error));
                    }
                    Err(_) => {}
                }
            }
            Ok(())
        }

        /// Uploads the tree under `dir` to `remote`: files that are missing remotely or
        /// differ in size; directories are created as needed.
        $($async)? fn mirror_up(client: &mut Client, args: &Args, dir: &Path, remote: &str) -> Outcome {
            let mut stack = vec![(dir.to_path_buf(), remote.trim_end_matches('/').to_string())];
            while let Some((local_dir, remote_dir)) = stack.pop() {
                // A folder that cannot be listed is missing (the client decides by CWD or
                // MLSD's 550, never by an empty listing): create it and its missing parents.
                let existing: Vec<Entry> = match client.list(&remote_dir) $($await)* {
                    Ok(entries) => entries,
                    Err(error) if !error.is_fatal() && !remote_dir.is_empty() => {
                        mkdir_all(client, &remote_dir) $($await)*?;
                        Vec::new()
                    }
                    Err(error) => return Err(Failure::at(&remote_dir, error)),
                };
                let read = std::fs::read_dir(&local_dir).map_err(|e| Failure::Local(local_dir.clone(), e))?;
                let mut children: Vec<_> = read
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| Failure::Local(local_dir.clone(), e))?;
                children.sort_by_key(|e| e.file_name());
                for child in children {
                    let name = child.file_name().to_string_lossy().into_owned();
                    let path = child.path();
                    let meta = std::fs::metadata(&path).map_err(|e| Failure::Local(path.clone(), e))?;
                    let remote_path = join_remote(&remote_dir, &name);
                    let there = existing.iter().find(|e| entry_name(e) == name);
                    if meta.is_dir() {
                        if there.is_some_and(|e| e.kind != EntryKind::Dir) {
                            return Err(Failure::Remote(Error::Io(io::Error::other(format!(
                                "{remote_path} exists and is not a directory"
                            )))));
                        }
                        stack.push((path, remote_path));
                    } else if meta.is_file() {
                        if there.is_some_and(|e| e.size == Some(meta.len())) {
                            continue;
                        }
                        put(client, args, &path, &remote_path) $($await)*?;
                    }
                }
            }
            Ok(())
        }
    };
}

mod blocking_style {
    use super::*;

    mod streams {
        use std::io::{self, Read, Write};

        pub(crate) fn read(
            d: &mut ftp_client::blocking::Download<'_>,
            buf: &mut [u8],
        ) -> io::Result<usize> {
            d.read(buf)
        }

        pub(crate) fn write_all(
            u: &mut ftp_client::blocking::Upload<'_>,
            buf: &[u8],
        ) -> io::Result<()> {
            u.write_all(buf)
        }
    }

    commands!(ftp_client::blocking::Client, , [], streams);
}

mod tokio_style {
    use super::*;

    mod streams {
        use std::future::poll_fn;
        use std::io;
        use std::pin::Pin;
        use std::task::{ready, Poll};

        use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

        pub(crate) async fn read(
            d: &mut ftp_client::tokio::Download<'_>,
            buf: &mut [u8],
        ) -> io::Result<usize> {
            poll_fn(|cx| {
                let mut rb = ReadBuf::new(buf);
                ready!(Pin::new(&mut *d).poll_read(cx, &mut rb))?;
                Poll::Ready(Ok(rb.filled().len()))
            })
            .await
        }

        pub(crate) async fn write_all(
            u: &mut ftp_client::tokio::Upload<'_>,
            mut buf: &[u8],
        ) -> io::Result<()> {
            while !buf.is_empty() {
                let n = poll_fn(|cx| Pin::new(&mut *u).poll_write(cx, buf)).await?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                buf = &buf[n..];
            }
            Ok(())
        }
    }

    commands!(ftp_client::tokio::Client, async, [.await], streams);
}

mod async_std_style {
    use super::*;

    mod streams {
        use std::future::poll_fn;
        use std::io;
        use std::pin::Pin;

        use futures_io::{AsyncRead, AsyncWrite};

        pub(crate) async fn read(
            d: &mut ftp_client::async_std::Download<'_>,
            buf: &mut [u8],
        ) -> io::Result<usize> {
            poll_fn(|cx| Pin::new(&mut *d).poll_read(cx, buf)).await
        }

        pub(crate) async fn write_all(
            u: &mut ftp_client::async_std::Upload<'_>,
            mut buf: &[u8],
        ) -> io::Result<()> {
            while !buf.is_empty() {
                let n = poll_fn(|cx| Pin::new(&mut *u).poll_write(cx, buf)).await?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                buf = &buf[n..];
            }
            Ok(())
        }
    }

    commands!(ftp_client::async_std::Client, async, [.await], streams);
}

fn run(args: &Args) -> Outcome {
    match args.runtime {
        Runtime::Blocking => blocking_style::run(args),
        Runtime::Tokio => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::Transfer(Error::Io(e)))?
            .block_on(tokio_style::run(args)),
        Runtime::AsyncStd => async_io::block_on(async_std_style::run(args)),
    }
}

/// The whole program for `raw` (the arguments after the program name): its exit code.
fn cli(raw: Vec<String>) -> u8 {
    if raw.iter().any(|a| a == "-V" || a == "--version") {
        println!("ftp {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let args = match parse(raw) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return 0;
        }
        Err(failure) => {
            eprintln!("ftp: {failure}");
            return failure.code();
        }
    };
    match run(&args) {
        Ok(()) => 0,
        Err(failure) => {
            eprintln!("ftp: {failure}");
            failure.code()
        }
    }
}

/// Runs `ftp` with the process's arguments.
pub fn main() -> ExitCode {
    ExitCode::from(cli(std::env::args().skip(1).collect()))
}

/// The real-server harness of ftp-client's tests (vsftpd, pure-ftpd, pyftpdlib started on
/// free 127.0.0.1 ports, stopped by PID), for the CLI's own peer tests.
#[cfg(test)]
#[path = "../ftp-client/tests/support/mod.rs"]
mod peers;

#[cfg(test)]
#[path = "ftp/peer_tests.rs"]
mod peer_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Option<Args>, Failure> {
        parse(line.split_whitespace().map(String::from).collect())
    }

    #[test]
    fn parses_commands_and_options_anywhere() {
        let a = args("get ftp://h/f.bin out --resume --runtime tokio --active")
            .ok()
            .flatten()
            .unwrap();
        assert!(matches!(a.command, Command::Get { resume: true, .. }));
        assert_eq!(a.runtime, Runtime::Tokio);
        assert!(a.active);
        let a = args("--tls implicit --insecure mirror --upload dir ftp://h/x")
            .ok()
            .flatten()
            .unwrap();
        assert!(matches!(a.command, Command::MirrorUp { .. }));
        assert_eq!(a.tls, Some(TlsMode::Implicit));
        assert!(a.insecure);
        let a = args("quote ftp://h/ SITE CHMOD 644 f")
            .ok()
            .flatten()
            .unwrap();
        assert!(matches!(&a.command, Command::Quote { words, .. } if words.len() == 4));
        assert!(matches!(args("--help"), Ok(None)));
    }

    #[test]
    fn usage_errors_exit_with_1() {
        for line in [
            "",
            "frob ftp://h/",
            "ls",
            "ls http://h/",
            "get ftp://h/f a b",
            "--runtime fast ls ftp://h/",
            "--tls maybe ls ftp://h/",
            "--resume ls ftp://h/",
            "--timeout -3 ls ftp://h/",
            "--bogus ls ftp://h/",
        ] {
            match args(line) {
                Err(failure) => assert_eq!(failure.code(), 1, "{line}"),
                Ok(_) => panic!("{line:?} parsed"),
            }
        }
    }

    #[test]
    fn errors_map_to_documented_exit_codes() {
        let reply = ftp_client::Reply::new(ftp_client::ReplyCode::new(550).unwrap(), "no");
        assert_eq!(Failure::of(Error::Reply(reply)).code(), 3);
        assert_eq!(Failure::of(Error::Timeout).code(), 5);
        assert_eq!(
            Failure::of(Error::DataConnection(ftp_client::DataFailure::Reset)).code(),
            5
        );
        assert_eq!(Failure::Connect(Error::Timeout).code(), 2);
        let local = Failure::Local("x".into(), io::Error::other("disk full"));
        assert_eq!(local.code(), 4);
        let wrapped = io::Error::from(Error::Aborted { reply: None });
        assert_eq!(Failure::stream(wrapped).code(), 5);
    }

    #[test]
    fn remote_paths_and_targets() {
        assert_eq!(join_remote("", "a"), "a");
        assert_eq!(join_remote("d/", "a"), "d/a");
        assert_eq!(join_remote("d", "a"), "d/a");
        let url = FtpUrl::parse("ftp://h/dir/file.txt").unwrap();
        assert_eq!(
            local_target(&url, None).ok().flatten(),
            Some(PathBuf::from("file.txt"))
        );
        assert_eq!(
            local_target(&url, Some(Path::new("-"))).ok().flatten(),
            None
        );
        let dir = FtpUrl::parse("ftp://h/dir/").unwrap();
        assert!(local_target(&dir, None).is_err());
    }
}
