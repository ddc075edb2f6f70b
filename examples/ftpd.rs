//! `ftpd`: serve a folder over FTP (and FTPS) with one command.
//!
//! ```sh
//! cargo run --release --example ftpd                 # this folder, read-only, anonymous
//! cargo run --release --example ftpd -- --root /srv/ftp --user alice:secret:rw
//! AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
//!     cargo run --release --example ftpd -- --storage s3://bucket/prefix --user alice:secret:rw
//! cargo run --release --example ftpd -- --help
//! ```
//!
//! Defaults: listen on 127.0.0.1:2121 (loopback only: nothing is exposed to the network until
//! you pass `--listen`), serve the current directory, and when no `--user` is given allow
//! read-only anonymous logins (`anonymous` or `ftp`, any password). Passive ports are picked by
//! the system unless `--passive-ports` is given. Ctrl-C (or SIGTERM) shuts down gracefully:
//! idle clients get `421`, running transfers get 10 seconds to finish; a second Ctrl-C quits
//! at once.

#[path = "ftpd/config.rs"]
mod config;
#[path = "ftpd/metrics_endpoint.rs"]
mod metrics_endpoint;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use ftp_server::auth::{Anonymous, Permissions, Replaceable, UserTable};
use ftp_server::proto::server::ServerEvent;
use ftp_server::storage::{FolderMarker, FsStorage, OpenDalStorage, S3Config, VirtualPath};
use ftp_server::{
    BanPolicy, ConnectionRate, IpNet, ProxyProtocol, RunningServer, Server, SessionEvent, TlsConfig,
};

const USAGE: &str = "\
ftpd: serve a folder over FTP and FTPS

USAGE:
    ftpd [OPTIONS]
    ftpd hash-password          read a password on stdin, print its Argon2id hash for the
                                users file

OPTIONS:
    --config FILE               read options from a TOML file first: each option is a key
                                named as the option without its dashes (max-sessions = 100,
                                require-tls = true, listen = [\"[::]:21\"]); command-line
                                options come after it. Unknown keys are errors
    --check-config              check the options, files, users and certificates, then exit
    --users-file FILE           users with Argon2 password hashes, permissions and limits
                                (TOML [[user]] tables; see the README). SIGHUP reads it and
                                the TLS certificate and key again; sessions stay
    --listen ADDR:PORT          listen for FTP (and explicit FTPS) here [default: 127.0.0.1:2121];
                                repeat for more addresses, e.g. [::1]:2121
    --storage DIR|s3://BUCKET[/PREFIX]
                                what to serve: a folder [default: the current directory],
                                or an S3 bucket (below PREFIX), reached with AWS_ENDPOINT_URL
                                (optional), AWS_REGION (optional), AWS_ACCESS_KEY_ID and
                                AWS_SECRET_ACCESS_KEY from the environment
    --root DIR                  the folder to serve (the same as --storage DIR)
    --s3-folder-marker NAME     mark empty S3 folders with a hidden object NAME inside them
                                instead of an object `folder/` (for S3 servers that keep
                                objects as files, such as s3s-fs)
    --no-fsync                  answer an upload 226 once its bytes are in the system's
                                cache, without fsync, as vsftpd and pure-ftpd do: faster,
                                but a crash or power loss may lose an upload already
                                answered (folders only; the default syncs the file and
                                its folder first)
    --user NAME:PASSWORD[:ro|rw]
                                a user (read-write unless :ro); repeatable. The password
                                may contain ':' (only a last :ro or :rw is the access).
                                Without --user or --users-file, anonymous read-only access is on
    --anonymous                 allow read-only anonymous logins (also with --user)
    --anonymous-write           allow read-write anonymous logins (think twice)
    --tls-cert FILE             certificate chain (PEM) for FTPS
    --tls-key FILE              private key (PEM) for FTPS
    --implicit-tls ADDR:PORT    also listen for implicit FTPS here (needs --tls-cert/--tls-key)
    --require-tls               refuse logins and transfers without TLS (anonymous excepted
                                for logins)
    --require-tls-reuse         refuse protected data connections that do not resume the
                                control connection's TLS session (vsftpd's require_ssl_reuse)
    --passive-ports LOW-HIGH    passive data ports, e.g. 50000-50100 [default: any]
    --passive-address IP        the address announced in PASV replies (behind NAT)
    --no-active                 refuse PORT/EPRT (active mode)
    --proxy-protocol CIDR       behind a TCP load balancer: connections from CIDR (e.g.
                                10.0.0.0/8 or 127.0.0.1) start with a PROXY protocol v1/v2
                                header carrying the client's address; connections from
                                anywhere else are refused (421); repeatable [default: off]
    --max-sessions N            sessions at once; more get 421 [default: 512]
    --max-sessions-per-ip N     sessions at once from one client address [default: 32]
    --idle-timeout SECONDS      close sessions with no command for this long; 0: never
                                [default: 300]
    --login-timeout SECONDS     close sessions not logged in this long after the greeting;
                                0: never [default: 120]
    --data-timeout SECONDS      wait this long for a data connection to open or close
                                [default: 60]
    --stall-timeout SECONDS     abort a transfer (426) that moves no byte for this long;
                                0: never [default: 300]
    --shutdown-grace SECONDS    on SIGTERM or Ctrl-C, running transfers get this long to
                                finish before they are aborted (426) [default: 10]
    --tls-handshake-timeout SECONDS
                                give up TLS handshakes that take longer [default: 30]
    --max-login-attempts N      failed logins per session; the last gets 421 [default: 3]
    --login-cache SECONDS       let a user in without a new Argon2id check for this long
                                after the same password passed one (up to 10,000 logins
                                remembered): for many clients logging in often with the
                                same credentials. The server's memory then holds fast
                                digests of those passwords; 0: off [default: 0]
    --ban-after N               refuse (421) every connection from a client address whose
                                failed logins, over any sessions, reach N within
                                --ban-window [default: off]
    --ban-window SECONDS        the window failed logins count in [default: 600]
    --ban-for SECONDS           how long such a ban lasts [default: 600]
    --max-connections-per-minute N
                                refuse (421) connections from a client address past N
                                within a minute [default: no limit]
    --max-upload-rate BYTES     all uploads together move at most BYTES per second; K, M
                                and G suffixes count in KiB, MiB, GiB [default: no limit]
    --max-download-rate BYTES   the same for downloads and listings [default: no limit]
    --metrics ADDR:PORT         serve the server's counters for Prometheus at
                                http://ADDR:PORT/metrics [default: off]
    --runtime tokio|async-std   the async runtime [default: tokio]
    --log-format text|json      log lines as text or as JSON objects, each with the session,
                                client address, user, and for commands and transfers the
                                verb, path, reply code, bytes and duration [default: text]
    --quiet                     do not log sessions (warnings only)
    -h, --help                  this text
    -V, --version               the version
";

/// What ftpd serves.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Store {
    /// A local folder.
    Dir(PathBuf),
    /// An S3 bucket, below a key prefix (empty: the whole bucket).
    S3 { bucket: String, prefix: String },
}

impl Store {
    /// `s3://BUCKET[/PREFIX]` or a folder.
    fn parse(text: &str) -> Result<Self, String> {
        let Some(rest) = text.strip_prefix("s3://") else {
            return Ok(Self::Dir(PathBuf::from(text)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!(
                "--storage {text}: no bucket (s3://BUCKET[/PREFIX])"
            ));
        }
        Ok(Self::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }
}

impl std::fmt::Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(dir) => write!(f, "{}", dir.display()),
            Self::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[derive(Debug)]
struct Options {
    listen: Vec<SocketAddr>,
    storage: Store,
    s3_folder_marker: Option<String>,
    /// Whether a folder's uploads are `fsync`ed before their 226 (`--no-fsync`: not).
    sync_uploads: bool,
    users: Vec<(String, String, bool)>,
    users_file: Option<PathBuf>,
    /// How long a verified password is remembered (`--login-cache`); `None`: not at all.
    login_cache: Option<Duration>,
    check_config: bool,
    anonymous: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    implicit: Vec<SocketAddr>,
    require_tls: bool,
    require_reuse: bool,
    passive_ports: Option<(u16, u16)>,
    passive_address: Option<std::net::IpAddr>,
    active: bool,
    proxy_protocol: Vec<IpNet>,
    metrics: Option<SocketAddr>,
    limits: Limits,
    runtime: Runtime,
    quiet: bool,
    log_format: LogFormat,
}

/// The limits given on the command line; `None` keeps the library's default.
#[derive(Debug, Default, PartialEq, Eq)]
struct Limits {
    max_sessions: Option<usize>,
    max_sessions_per_ip: Option<usize>,
    /// `Some(None)`: never.
    idle_timeout: Option<Option<Duration>>,
    /// `Some(None)`: never.
    login_timeout: Option<Option<Duration>>,
    data_timeout: Option<Duration>,
    /// `Some(None)`: never.
    stall_timeout: Option<Option<Duration>>,
    tls_handshake_timeout: Option<Duration>,
    shutdown_grace: Option<Duration>,
    max_login_attempts: Option<u32>,
    ban_after: Option<u32>,
    ban_window: Option<Duration>,
    ban_for: Option<Duration>,
    max_connections_per_minute: Option<u32>,
    /// Bytes per second.
    max_upload_rate: Option<u64>,
    max_download_rate: Option<u64>,
}

/// A count of at least 1.
fn parse_count(text: &str, flag: &str) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{flag} {text:?}: expected a number of at least 1"))
}

/// Whole seconds; 0 only where `zero_is_never` (then `None`).
fn parse_seconds(text: &str, flag: &str, zero_is_never: bool) -> Result<Option<Duration>, String> {
    match text.parse::<u64>() {
        Ok(0) if zero_is_never => Ok(None),
        Ok(secs) if secs > 0 => Ok(Some(Duration::from_secs(secs))),
        _ if zero_is_never => Err(format!(
            "{flag} {text:?}: expected whole seconds (0: never)"
        )),
        _ => Err(format!(
            "{flag} {text:?}: expected whole seconds of at least 1"
        )),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Runtime {
    Tokio,
    AsyncStd,
}

/// A rate in bytes per second: digits, optionally with K, M or G (KiB, MiB, GiB); at least 1.
fn parse_rate(text: &str, flag: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().last() {
        Some((at, 'K' | 'k')) => (&text[..at], 1u64 << 10),
        Some((at, 'M' | 'm')) => (&text[..at], 1 << 20),
        Some((at, 'G' | 'g')) => (&text[..at], 1 << 30),
        _ => (text, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("{flag} {text:?}: expected bytes per second, e.g. 500K or 2M"))
}

/// `NAME:PASSWORD[:ro|rw]`: the name ends at the first `:`; the password is everything after
/// it, except a last `:ro` or `:rw` (so passwords may contain `:`; one that ends in `:ro` or
/// `:rw` itself needs the access spelled out after it, as in `alice:pass:ro:rw`).
fn parse_user(spec: &str) -> Result<(&str, &str, bool), String> {
    let Some((name, rest)) = spec.split_once(':') else {
        return Err(format!("--user {spec:?}: expected NAME:PASSWORD[:ro|rw]"));
    };
    if name.is_empty() {
        return Err(format!("--user {spec:?}: empty user name"));
    }
    let (password, read_only) = match rest.rsplit_once(':') {
        Some((password, "ro")) => (password, true),
        Some((password, "rw")) => (password, false),
        _ => (rest, false),
    };
    Ok((name, password, read_only))
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let args = expand_config(args.into_iter().collect())?;
    let mut options = Options {
        listen: Vec::new(),
        storage: Store::Dir(
            std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?,
        ),
        s3_folder_marker: None,
        sync_uploads: true,
        users: Vec::new(),
        users_file: None,
        login_cache: None,
        check_config: false,
        anonymous: None,
        tls_cert: None,
        tls_key: None,
        implicit: Vec::new(),
        require_tls: false,
        require_reuse: false,
        passive_ports: None,
        passive_address: None,
        active: true,
        proxy_protocol: Vec::new(),
        metrics: None,
        limits: Limits::default(),
        runtime: Runtime::Tokio,
        quiet: false,
        log_format: LogFormat::Text,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let addr = |text: String, name: &str| {
            text.parse::<SocketAddr>()
                .map_err(|_| format!("{name}: {text:?} is not an ADDR:PORT (e.g. 127.0.0.1:2121)"))
        };
        if inline.is_some() && config::SWITCHES.contains(&flag.as_str()) {
            return Err(format!("{flag} takes no value"));
        }
        match flag.as_str() {
            // --version is answered before parsing (see `ftpd`); help is printed for both.
            "-h" | "--help" | "-V" | "--version" => return Ok(None),
            "--listen" => options.listen.push(addr(value("--listen")?, "--listen")?),
            "--root" => options.storage = Store::Dir(PathBuf::from(value("--root")?)),
            "--storage" => options.storage = Store::parse(&value("--storage")?)?,
            "--s3-folder-marker" => {
                options.s3_folder_marker = Some(value("--s3-folder-marker")?);
            }
            "--no-fsync" => options.sync_uploads = false,
            "--users-file" => options.users_file = Some(value("--users-file")?.into()),
            "--login-cache" => {
                options.login_cache = parse_seconds(&value(&flag)?, &flag, true)?;
            }
            "--check-config" => options.check_config = true,
            "--user" => {
                let spec = value("--user")?;
                let (name, password, read_only) = parse_user(&spec)?;
                options
                    .users
                    .push((name.into(), password.into(), read_only));
            }
            "--anonymous" => options.anonymous = Some(true),
            "--anonymous-write" => options.anonymous = Some(false),
            "--tls-cert" => options.tls_cert = Some(value("--tls-cert")?.into()),
            "--tls-key" => options.tls_key = Some(value("--tls-key")?.into()),
            "--implicit-tls" => options
                .implicit
                .push(addr(value("--implicit-tls")?, "--implicit-tls")?),
            "--require-tls" => options.require_tls = true,
            "--require-tls-reuse" => options.require_reuse = true,
            "--passive-ports" => {
                let text = value("--passive-ports")?;
                let range = text
                    .split_once('-')
                    .and_then(|(low, high)| Some((low.parse().ok()?, high.parse().ok()?)))
                    .filter(|(low, high): &(u16, u16)| low <= high && *low > 0);
                options.passive_ports = Some(
                    range.ok_or_else(|| format!("--passive-ports {text:?}: expected LOW-HIGH"))?,
                );
            }
            "--passive-address" => {
                let text = value("--passive-address")?;
                options.passive_address = Some(
                    text.parse()
                        .map_err(|_| format!("--passive-address {text:?}: not an IP"))?,
                );
            }
            "--no-active" => options.active = false,
            "--metrics" => options.metrics = Some(addr(value("--metrics")?, "--metrics")?),
            "--proxy-protocol" => {
                let text = value("--proxy-protocol")?;
                let net = text.parse().map_err(|e| format!("--proxy-protocol: {e}"))?;
                options.proxy_protocol.push(net);
            }
            "--max-sessions" | "--max-sessions-per-ip" => {
                let n = parse_count(&value(&flag)?, &flag)?;
                if flag == "--max-sessions" {
                    options.limits.max_sessions = Some(n);
                } else {
                    options.limits.max_sessions_per_ip = Some(n);
                }
            }
            "--idle-timeout" => {
                let secs = parse_seconds(&value(&flag)?, &flag, true)?;
                options.limits.idle_timeout = Some(secs);
            }
            "--login-timeout" => {
                let secs = parse_seconds(&value(&flag)?, &flag, true)?;
                options.limits.login_timeout = Some(secs);
            }
            "--stall-timeout" => {
                let secs = parse_seconds(&value(&flag)?, &flag, true)?;
                options.limits.stall_timeout = Some(secs);
            }
            "--data-timeout" => {
                options.limits.data_timeout = parse_seconds(&value(&flag)?, &flag, false)?;
            }
            "--shutdown-grace" => {
                options.limits.shutdown_grace = parse_seconds(&value(&flag)?, &flag, false)?;
            }
            "--tls-handshake-timeout" => {
                let secs = parse_seconds(&value(&flag)?, &flag, false)?;
                options.limits.tls_handshake_timeout = secs;
            }
            "--max-login-attempts" | "--ban-after" => {
                let n = parse_count(&value(&flag)?, &flag)?;
                let n = u32::try_from(n).unwrap_or(u32::MAX);
                if flag == "--ban-after" {
                    options.limits.ban_after = Some(n);
                } else {
                    options.limits.max_login_attempts = Some(n);
                }
            }
            "--max-connections-per-minute" => {
                let n = parse_count(&value(&flag)?, &flag)?;
                options.limits.max_connections_per_minute =
                    Some(u32::try_from(n).unwrap_or(u32::MAX));
            }
            "--max-upload-rate" | "--max-download-rate" => {
                let rate = parse_rate(&value(&flag)?, &flag)?;
                if flag == "--max-upload-rate" {
                    options.limits.max_upload_rate = Some(rate);
                } else {
                    options.limits.max_download_rate = Some(rate);
                }
            }
            "--ban-window" | "--ban-for" => {
                let secs = parse_seconds(&value(&flag)?, &flag, false)?;
                if flag == "--ban-for" {
                    options.limits.ban_for = secs;
                } else {
                    options.limits.ban_window = secs;
                }
            }
            "--runtime" => {
                options.runtime = match value("--runtime")?.as_str() {
                    "tokio" => Runtime::Tokio,
                    "async-std" | "smol" | "async-io" => Runtime::AsyncStd,
                    other => {
                        return Err(format!("--runtime {other:?}: expected tokio or async-std"))
                    }
                }
            }
            "--quiet" => options.quiet = true,
            "--log-format" => {
                options.log_format = match value("--log-format")?.as_str() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    other => return Err(format!("--log-format {other:?}: expected text or json")),
                }
            }
            other => return Err(format!("unknown option {other:?} (try --help)")),
        }
    }
    if options.listen.is_empty() {
        options
            .listen
            .push(SocketAddr::from(([127, 0, 0, 1], 2121)));
    }
    if options.tls_cert.is_some() != options.tls_key.is_some() {
        return Err("--tls-cert and --tls-key go together".into());
    }
    let needs_tls = !options.implicit.is_empty() || options.require_tls || options.require_reuse;
    if needs_tls && options.tls_cert.is_none() {
        return Err("--implicit-tls and --require-tls* need --tls-cert and --tls-key".into());
    }
    if !options.sync_uploads && matches!(options.storage, Store::S3 { .. }) {
        return Err("--no-fsync applies to a folder (--storage DIR), not to S3".into());
    }
    Ok(Some(options))
}

/// How ftpd writes its log lines (to stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    /// `TIME LEVEL ftpd: MESSAGE field=value ...`
    Text,
    /// One JSON object per line, the fields at its top level.
    Json,
}

/// Sends ftpd's events (target `ftpd`, info; none with `quiet`) and ftp-server's warnings to
/// stderr, one line each.
fn init_logging(format: LogFormat, quiet: bool) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let sessions = if quiet {
        LevelFilter::WARN
    } else {
        LevelFilter::INFO
    };
    let filter = Targets::new()
        .with_target("ftpd", sessions)
        .with_target("ftp_server", LevelFilter::WARN);
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Text => registry.with(lines.compact()).try_init(),
        LogFormat::Json => registry
            .with(lines.json().flatten_event(true).with_current_span(false))
            .try_init(),
    };
}

/// One log line per session event: who (session, client address, user), what (verb, path),
/// how it ended (reply code, bytes, duration).
fn log_event(event: &SessionEvent<'_>) {
    let (session, peer) = (event.session, event.peer.to_string());
    let user = event.user.map(String::from_utf8_lossy);
    let user = user.as_deref().unwrap_or("-");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let ms = event.elapsed.map_or(0, |d| d.as_millis() as u64);
    macro_rules! log_line {
        ($level:ident, $message:literal $(, $($field:tt)*)?) => {
            tracing::$level!(target: "ftpd", session, peer, user, $($($field)*,)? $message)
        };
    }
    match event.event {
        ServerEvent::Connected { .. } => log_line!(info, "connected"),
        ServerEvent::Command { verb } => log_line!(info, "command", verb = text(verb)),
        ServerEvent::Rejected { verb, code } => {
            log_line!(info, "rejected", verb = text(verb), code = code.get())
        }
        ServerEvent::LoggedIn { read_only, .. } => log_line!(info, "logged in", read_only),
        ServerEvent::LoginFailed { user, attempts } => {
            log_line!(warn, "login failed", tried = text(user), attempts)
        }
        ServerEvent::TlsEstablished => log_line!(info, "TLS established"),
        ServerEvent::TransferCompleted { kind, path, bytes } => log_line!(
            info, "transfer completed", verb = kind.verb(), path = %path, bytes, duration_ms = ms
        ),
        ServerEvent::TransferFailed { kind, path, code } => log_line!(
            warn, "transfer failed", verb = kind.verb(), path = %path, code = code.get(),
            duration_ms = ms
        ),
        ServerEvent::TransferInterrupted {
            kind,
            path,
            bytes,
            reason,
        } => log_line!(
            warn, "transfer interrupted", verb = kind.verb(), path = %path, bytes,
            duration_ms = ms, reason = ?reason
        ),
        ServerEvent::Closed { reason } => log_line!(info, "closed", reason = ?reason),
        _ => {}
    }
}

/// How many verified logins `--login-cache` remembers at most (about 1 MiB).
const LOGIN_CACHE_ENTRIES: usize = 10_000;

/// The users of `--users-file` and `--user`, read (again) now.
fn read_users(options: &Options) -> Result<UserTable, String> {
    let mut table = match &options.users_file {
        Some(path) => config::read_users(path)?,
        None => UserTable::new(),
    };
    if let Some(ttl) = options.login_cache {
        table = table.cache_verified_passwords(ttl, LOGIN_CACHE_ENTRIES);
    }
    for (name, password, read_only) in &options.users {
        let rights = match read_only {
            true => Permissions::READ_ONLY,
            false => Permissions::ALL,
        };
        table
            .add(name, password, VirtualPath::root(), rights)
            .map_err(|e| format!("--user {name}: {e}"))?;
    }
    Ok(table)
}

/// What SIGHUP reads again: the users and the TLS certificate and key.
struct Reloader {
    users: Option<Replaceable<UserTable>>,
    tls: Option<TlsConfig>,
}

impl Reloader {
    /// Reads the users and the certificate again; what could not be read stays as it was.
    fn reload(&self, options: &Options) {
        if let Some(users) = &self.users {
            match read_users(options) {
                Ok(table) => {
                    let count = table.len();
                    users.replace(table);
                    tracing::warn!(target: "ftpd", users = count, "users reloaded");
                }
                Err(e) => tracing::error!(target: "ftpd", "users not reloaded: {e}"),
            }
        }
        if let (Some(tls), Some(cert), Some(key)) = (&self.tls, &options.tls_cert, &options.tls_key)
        {
            match tls.reload_pem_files(cert, key) {
                Ok(()) => tracing::warn!(target: "ftpd", "TLS certificate reloaded"),
                Err(e) => tracing::error!(target: "ftpd", "TLS certificate not reloaded: {e}"),
            }
        }
    }
}

/// The server over what `options` says to serve.
fn server_on(options: &Options) -> Result<Server, String> {
    Ok(match &options.storage {
        Store::Dir(dir) => Server::new(folder_storage(dir, options)?),
        Store::S3 { bucket, prefix } => {
            let failed = |e: std::io::Error| format!("--storage {}: {e}", options.storage);
            let config = S3Config::from_env(bucket, prefix).map_err(failed)?;
            let mut storage = OpenDalStorage::s3(&config).map_err(failed)?;
            if let Some(name) = &options.s3_folder_marker {
                storage = storage.folder_marker(FolderMarker::Object(name.clone()));
            }
            Server::new(storage)
        }
    })
}

/// The folder `dir` as storage, as `options` say to keep it.
fn folder_storage(dir: &Path, options: &Options) -> Result<FsStorage, String> {
    let storage = FsStorage::new(dir).map_err(|e| format!("--storage {}: {e}", dir.display()))?;
    Ok(storage.sync_uploads(options.sync_uploads))
}

fn build(options: &Options) -> Result<(Server, Reloader), String> {
    let mut server = server_on(options)?
        .banner("ftpd (ftp-rs) ready")
        .active_mode(options.active)
        .shutdown_grace(
            options
                .limits
                .shutdown_grace
                .unwrap_or(Duration::from_secs(10)),
        );
    for addr in &options.listen {
        server = server.listen(*addr);
    }
    let has_users = !options.users.is_empty() || options.users_file.is_some();
    let mut reloader = Reloader {
        users: None,
        tls: None,
    };
    if has_users {
        let users = Replaceable::new(read_users(options)?);
        server = server.authenticator(users.clone());
        reloader.users = Some(users);
    }
    match options.anonymous {
        Some(true) => server = server.anonymous(Anonymous::read_only()),
        Some(false) => server = server.anonymous(Anonymous::read_write()),
        None if !has_users => server = server.anonymous(Anonymous::read_only()),
        None => {}
    }
    if let (Some(cert), Some(key)) = (&options.tls_cert, &options.tls_key) {
        let tls = TlsConfig::from_pem_files(cert, key).map_err(|e| format!("TLS: {e}"))?;
        reloader.tls = Some(tls.clone());
        server = server
            .tls(tls)
            .require_tls_for_login(options.require_tls)
            .require_tls_for_data(options.require_tls)
            .require_tls_session_reuse(options.require_reuse);
        for addr in &options.implicit {
            server = server.implicit_tls_listen(*addr);
        }
    }
    if let Some((low, high)) = options.passive_ports {
        server = server.passive_ports(low..=high);
    }
    if let Some(ip) = options.passive_address {
        server = server.passive_address(ip);
    }
    if !options.proxy_protocol.is_empty() {
        let trusted = options.proxy_protocol.iter().copied();
        server = server.proxy_protocol(ProxyProtocol::new(trusted));
    }
    server = server.on_event(log_event);
    Ok((apply_limits(server, &options.limits), reloader))
}

fn apply_limits(mut server: Server, limits: &Limits) -> Server {
    if let Some(n) = limits.max_sessions {
        server = server.max_sessions(n);
    }
    if let Some(n) = limits.max_sessions_per_ip {
        server = server.max_sessions_per_ip(n);
    }
    if let Some(timeout) = limits.idle_timeout {
        server = server.idle_timeout(timeout);
    }
    if let Some(timeout) = limits.login_timeout {
        server = server.login_timeout(timeout);
    }
    if let Some(timeout) = limits.data_timeout {
        server = server.data_timeout(timeout);
    }
    if let Some(timeout) = limits.stall_timeout {
        server = server.stall_timeout(timeout);
    }
    if let Some(timeout) = limits.tls_handshake_timeout {
        server = server.tls_handshake_timeout(timeout);
    }
    if let Some(n) = limits.max_login_attempts {
        server = server.max_login_attempts(n);
    }
    if let Some(n) = limits.max_connections_per_minute {
        server = server.connection_rate(ConnectionRate::new(n, Duration::from_secs(60)));
    }
    if let Some(rate) = limits.max_upload_rate {
        server = server.upload_rate(rate);
    }
    if let Some(rate) = limits.max_download_rate {
        server = server.download_rate(rate);
    }
    if let Some(failures) = limits.ban_after {
        let ten_minutes = Duration::from_secs(600);
        let window = limits.ban_window.unwrap_or(ten_minutes);
        let ban_for = limits.ban_for.unwrap_or(ten_minutes);
        server = server.ban(BanPolicy::new(failures, window, ban_for));
    }
    server
}

/// What ftpd prints once it listens: what it serves and how to connect. A user's password is
/// never printed (`<password>` stands for it); anonymous logins take any password.
fn how_to_connect(options: &Options, plain: &[SocketAddr], implicit: &[SocketAddr]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let root = &options.storage;
    let who = match (options.users.is_empty(), options.anonymous) {
        (_, Some(false)) => "anonymous READ-WRITE",
        (true, _) => "anonymous read-only",
        (false, Some(true)) => "users, and anonymous read-only",
        (false, None) => "users only",
    };
    let runtime = match options.runtime {
        Runtime::Tokio => "tokio",
        Runtime::AsyncStd => "async-std/smol (async-io)",
    };
    let durability = match options.sync_uploads {
        true => "",
        false => "; uploads answered before they are synced (--no-fsync)",
    };
    let _ = writeln!(out, "ftpd: serving {root} ({who}) on {runtime}{durability}");
    let (user, pass) = match options.users.first() {
        Some((name, _, _)) => (name.as_str(), "<password>"),
        None => ("anonymous", "guest"),
    };
    for addr in plain {
        let host = match addr {
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
            SocketAddr::V4(v4) => v4.ip().to_string(),
        };
        let port = addr.port();
        let tls = if options.tls_cert.is_some() {
            " (explicit FTPS: AUTH TLS)"
        } else {
            ""
        };
        let globoff = if addr.is_ipv6() { "-g " } else { "" };
        let _ = writeln!(out, "  ftp://{host}:{port}/{tls}");
        let _ = writeln!(
            out,
            "    curl {globoff}-u {user}:{pass} ftp://{host}:{port}/"
        );
        let _ = writeln!(out, "    lftp -u {user},{pass} -p {port} {host}");
        let _ = writeln!(
            out,
            "    python3 -c \"import ftplib; f = ftplib.FTP(); f.connect('{}', {port}); f.login('{user}', '{pass}'); f.dir()\"",
            host.trim_matches(['[', ']'])
        );
        if options.tls_cert.is_some() {
            let _ = writeln!(
                out,
                "    curl {globoff}--ssl-reqd -k -u {user}:{pass} ftp://{host}:{port}/"
            );
        }
    }
    for addr in implicit {
        let _ = writeln!(out, "  ftps://{addr}/ (implicit FTPS)");
        let _ = writeln!(out, "    curl -k -u {user}:{pass} ftps://{addr}/");
    }
    out.push_str("Press Ctrl-C to stop.\n");
    out
}

/// Ctrl-C and SIGTERM start the graceful shutdown; a second one quits at once.
/// SIGHUP reads the users and the TLS certificate again.
fn handle_signals(
    handle: ftp_server::ShutdownHandle,
    reloader: Reloader,
    options: Arc<Options>,
) -> Result<(), String> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    std::thread::spawn(move || {
        let mut stopping = false;
        for signal in signals.forever() {
            match signal {
                SIGHUP => reloader.reload(&options),
                _ if stopping => std::process::exit(130),
                _ => {
                    let again = match signal {
                        SIGTERM => "a second SIGTERM or SIGINT",
                        _ => "Ctrl-C again",
                    };
                    eprintln!("ftpd: shutting down ({again} to quit at once)");
                    handle.shutdown();
                    stopping = true;
                }
            }
        }
    });
    Ok(())
}

async fn serve(
    options: Arc<Options>,
    running: RunningServer,
    reloader: Reloader,
) -> Result<(), String> {
    // Signal handlers first: whoever reads the text below may stop ftpd at once.
    handle_signals(running.shutdown_handle(), reloader, Arc::clone(&options))?;
    if let Some(addr) = options.metrics {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| format!("--metrics {addr}: cannot listen: {e}"))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("--metrics: {e}"))?;
        metrics_endpoint::serve(listener, running.metrics());
        println!("Metrics for Prometheus: http://{bound}/metrics");
    }
    print!(
        "{}",
        how_to_connect(
            &options,
            running.local_addrs(),
            running.implicit_tls_addrs()
        )
    );
    running.wait().await;
    eprintln!("ftpd: stopped");
    Ok(())
}

fn run(options: Options) -> Result<(), String> {
    init_logging(options.log_format, options.quiet);
    let (server, reloader) = build(&options)?;
    if options.check_config {
        println!("ftpd: configuration OK");
        return Ok(());
    }
    let options = Arc::new(options);
    let bind_error = |e: std::io::Error| format!("cannot start: {e}");
    match options.runtime {
        Runtime::Tokio => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("tokio: {e}"))?;
            runtime.block_on(async {
                let running = server.start_tokio().await.map_err(bind_error)?;
                serve(options, running, reloader).await
            })
        }
        Runtime::AsyncStd => async_io::block_on(async {
            let running = server.start_async_io().await.map_err(bind_error)?;
            serve(options, running, reloader).await
        }),
    }
}

/// `ftpd hash-password`: the Argon2id hash of the first line of stdin, for the users file.
fn hash_password() -> u8 {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("ftpd hash-password: cannot read stdin: {e}");
        return 1;
    }
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        eprintln!("ftpd hash-password: give the password on stdin (one line, not empty)");
        return 1;
    }
    match UserTable::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            0
        }
        Err(e) => {
            eprintln!("ftpd hash-password: {e}");
            1
        }
    }
}

/// Every option of ftpd, as the option lines of [`USAGE`] list them.
fn usage_options() -> Vec<&'static str> {
    USAGE
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter(|l| l.starts_with('-'))
        .flat_map(|l| {
            l.split_whitespace()
                .take_while(|w| w.starts_with('-'))
                .map(|w| w.trim_end_matches(','))
        })
        .collect()
}

/// The arguments with `--config FILE` replaced by the options the file holds, in front of
/// the others (which therefore override it).
fn expand_config(args: Vec<String>) -> Result<Vec<String>, String> {
    let mut rest = Vec::with_capacity(args.len());
    let mut file = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let path = match arg.strip_prefix("--config") {
            Some("") => args.next().ok_or("--config needs a value")?,
            Some(inline) if inline.starts_with('=') => inline[1..].to_owned(),
            _ => {
                rest.push(arg);
                continue;
            }
        };
        if file.replace(path).is_some() {
            return Err("--config may be given once".into());
        }
    }
    let Some(path) = file else {
        return Ok(rest);
    };
    let mut expanded = config::args_from_file(Path::new(&path), &usage_options())?;
    expanded.extend(rest);
    Ok(expanded)
}

/// Runs `ftpd` with the process's arguments.
pub fn main() -> ExitCode {
    ExitCode::from(ftpd(std::env::args().skip(1)))
}

/// ftpd with these arguments (without the program name); returns the exit status: 0 done,
/// 1 failed, 2 bad usage.
fn ftpd(args: impl IntoIterator<Item = String>) -> u8 {
    let args: Vec<String> = args.into_iter().collect();
    if args.first().is_some_and(|a| a == "hash-password") {
        return hash_password();
    }
    if args.iter().any(|a| a == "-V" || a == "--version") {
        println!("ftpd {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    match parse_args(args) {
        Ok(None) => {
            print!("{USAGE}");
            0
        }
        Ok(Some(options)) => match run(options) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("ftpd: {e}");
                1
            }
        },
        Err(e) => {
            eprintln!("ftpd: {e}\n\n{USAGE}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::Instant;

    fn parse(args: &[&str]) -> Result<Option<Options>, String> {
        parse_args(args.iter().map(|a| (*a).to_owned()))
    }

    fn options(args: &[&str]) -> Options {
        parse(args)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .expect("options, not --help")
    }

    #[track_caller]
    fn error(args: &[&str]) -> String {
        match parse(args) {
            Err(e) => e,
            Ok(o) => panic!("{args:?} was accepted: {o:?}"),
        }
    }

    fn users(o: &Options) -> Vec<(&str, &str, bool)> {
        o.users
            .iter()
            .map(|(n, p, ro)| (n.as_str(), p.as_str(), *ro))
            .collect()
    }

    #[test]
    fn defaults() {
        let o = options(&[]);
        assert_eq!(o.listen, [SocketAddr::from(([127, 0, 0, 1], 2121))]);
        assert_eq!(o.storage, Store::Dir(std::env::current_dir().unwrap()));
        assert!(o.users.is_empty());
        assert_eq!(o.anonymous, None);
        assert_eq!((o.tls_cert, o.tls_key), (None, None));
        assert!(o.implicit.is_empty());
        assert!(!o.require_tls && !o.require_reuse);
        assert_eq!(o.passive_ports, None);
        assert_eq!(o.passive_address, None);
        assert!(o.active);
        assert_eq!(o.limits, Limits::default());
        assert_eq!(o.runtime, Runtime::Tokio);
        assert!(!o.quiet);
        assert!(o.sync_uploads);
    }

    #[test]
    fn limits() {
        let o = options(&[
            "--max-sessions",
            "10000",
            "--max-sessions-per-ip=50",
            "--idle-timeout",
            "0",
            "--login-timeout",
            "30",
            "--data-timeout",
            "20",
            "--stall-timeout",
            "90",
            "--tls-handshake-timeout=5",
            "--shutdown-grace",
            "2",
            "--max-login-attempts",
            "5",
            "--ban-after",
            "10",
            "--ban-window=60",
            "--ban-for",
            "3600",
            "--max-upload-rate",
            "500K",
            "--max-download-rate=3000",
            "--max-connections-per-minute",
            "30",
        ]);
        let secs = Duration::from_secs;
        assert_eq!(
            o.limits,
            Limits {
                max_sessions: Some(10_000),
                max_sessions_per_ip: Some(50),
                idle_timeout: Some(None),
                login_timeout: Some(Some(secs(30))),
                data_timeout: Some(secs(20)),
                stall_timeout: Some(Some(secs(90))),
                tls_handshake_timeout: Some(secs(5)),
                shutdown_grace: Some(secs(2)),
                max_login_attempts: Some(5),
                ban_after: Some(10),
                ban_window: Some(secs(60)),
                ban_for: Some(secs(3600)),
                max_upload_rate: Some(500 << 10),
                max_download_rate: Some(3000),
                max_connections_per_minute: Some(30),
            }
        );
        assert_eq!(
            options(&["--max-upload-rate", "2M"]).limits.max_upload_rate,
            Some(2 << 20)
        );
        assert_eq!(
            options(&["--max-upload-rate", "1g"]).limits.max_upload_rate,
            Some(1 << 30)
        );
        for bad in ["0", "K", "-5K", "1.5M", "+5", "5T", "99999999999999999999G"] {
            assert_eq!(
                error(&["--max-download-rate", bad]),
                format!("--max-download-rate {bad:?}: expected bytes per second, e.g. 500K or 2M")
            );
        }
        let o = options(&["--stall-timeout", "0", "--idle-timeout", "600"]);
        assert_eq!(o.limits.stall_timeout, Some(None));
        assert_eq!(o.limits.idle_timeout, Some(Some(secs(600))));
        let refused = [
            (
                &["--max-sessions", "0"][..],
                "--max-sessions \"0\": expected a number of at least 1",
            ),
            (
                &["--max-sessions-per-ip", "-1"],
                "--max-sessions-per-ip \"-1\": expected a number of at least 1",
            ),
            (
                &["--data-timeout", "0"],
                "--data-timeout \"0\": expected whole seconds of at least 1",
            ),
            (
                &["--tls-handshake-timeout", "1.5"],
                "--tls-handshake-timeout \"1.5\": expected whole seconds of at least 1",
            ),
            (
                &["--stall-timeout", "soon"],
                "--stall-timeout \"soon\": expected whole seconds (0: never)",
            ),
            (&["--idle-timeout"], "--idle-timeout needs a value"),
            (
                &["--proxy-protocol", "10.0.0.0/33"],
                "--proxy-protocol: not an address or ADDRESS/BITS block: \"10.0.0.0/33\"",
            ),
        ];
        for (args, expected) in refused {
            assert_eq!(error(args), expected, "{args:?}");
        }
    }

    #[test]
    fn help() {
        assert!(matches!(parse(&["-h"]), Ok(None)));
        assert!(matches!(parse(&["--help"]), Ok(None)));
        assert!(matches!(parse(&["--quiet", "--help", "--bogus"]), Ok(None)));
    }

    #[test]
    fn storage_is_a_folder_or_an_s3_bucket() {
        let s3 = |bucket: &str, prefix: &str| Store::S3 {
            bucket: bucket.into(),
            prefix: prefix.into(),
        };
        let cases = [
            ("s3://bucket", s3("bucket", "")),
            ("s3://bucket/", s3("bucket", "")),
            ("s3://bucket/srv/ftp/", s3("bucket", "srv/ftp")),
            ("/srv/ftp", Store::Dir(PathBuf::from("/srv/ftp"))),
            ("relative", Store::Dir(PathBuf::from("relative"))),
        ];
        for (arg, expected) in cases {
            assert_eq!(options(&["--storage", arg]).storage, expected, "{arg}");
        }
        assert!(parse(&["--storage", "s3://"])
            .unwrap_err()
            .contains("no bucket"));
        // --root keeps working, and the last of the two wins.
        let o = options(&["--storage", "s3://b", "--root", "/srv"]);
        assert_eq!(o.storage, Store::Dir(PathBuf::from("/srv")));
        let o = options(&["--s3-folder-marker", ".keep"]);
        assert_eq!(o.s3_folder_marker.as_deref(), Some(".keep"));
        assert_eq!(s3("b", "p").to_string(), "s3://b/p");
    }

    #[test]
    fn every_flag() {
        let o = options(&[
            "--listen",
            "127.0.0.1:2121",
            "--listen=[::1]:2122",
            "--root",
            "/srv/ftp",
            "--anonymous",
            "--tls-cert",
            "cert.pem",
            "--tls-key=key.pem",
            "--implicit-tls",
            "127.0.0.1:990",
            "--implicit-tls",
            "[::1]:9990",
            "--require-tls",
            "--require-tls-reuse",
            "--passive-ports",
            "50000-50100",
            "--passive-address",
            "203.0.113.9",
            "--no-active",
            "--no-fsync",
            "--proxy-protocol",
            "10.0.0.0/8",
            "--proxy-protocol=::1",
            "--metrics",
            "127.0.0.1:9100",
            "--runtime",
            "async-std",
            "--log-format",
            "json",
            "--quiet",
        ]);
        assert_eq!(
            o.listen,
            [
                "127.0.0.1:2121".parse().unwrap(),
                "[::1]:2122".parse::<SocketAddr>().unwrap()
            ]
        );
        assert_eq!(o.storage, Store::Dir(PathBuf::from("/srv/ftp")));
        assert!(!o.sync_uploads);
        assert_eq!(o.anonymous, Some(true));
        assert_eq!(o.tls_cert, Some(PathBuf::from("cert.pem")));
        assert_eq!(o.tls_key, Some(PathBuf::from("key.pem")));
        assert_eq!(
            o.implicit,
            [
                "127.0.0.1:990".parse().unwrap(),
                "[::1]:9990".parse::<SocketAddr>().unwrap()
            ]
        );
        assert!(o.require_tls && o.require_reuse);
        assert_eq!(o.passive_ports, Some((50000, 50100)));
        assert_eq!(o.passive_address, Some([203, 0, 113, 9].into()));
        assert!(!o.active);
        let trusted: Vec<String> = o.proxy_protocol.iter().map(|n| n.to_string()).collect();
        assert_eq!(trusted, ["10.0.0.0/8", "::1/128"]);
        assert_eq!(o.metrics, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(o.runtime, Runtime::AsyncStd);
        assert!(o.quiet);
        assert_eq!(o.log_format, LogFormat::Json);

        assert_eq!(options(&["--anonymous-write"]).anonymous, Some(false));
        // The last of --anonymous and --anonymous-write wins.
        assert_eq!(
            options(&["--anonymous-write", "--anonymous"]).anonymous,
            Some(true)
        );
        assert_eq!(
            options(&["--passive-ports", "2121-2121"]).passive_ports,
            Some((2121, 2121))
        );
        assert_eq!(
            options(&["--passive-address", "2001:db8::1"]).passive_address,
            Some("2001:db8::1".parse().unwrap())
        );
        for (name, runtime) in [
            ("tokio", Runtime::Tokio),
            ("async-std", Runtime::AsyncStd),
            ("smol", Runtime::AsyncStd),
            ("async-io", Runtime::AsyncStd),
        ] {
            assert_eq!(options(&["--runtime", name]).runtime, runtime);
        }
    }

    #[test]
    fn the_login_cache_is_off_unless_given_seconds() {
        assert_eq!(options(&[]).login_cache, None);
        assert_eq!(options(&["--login-cache", "0"]).login_cache, None);
        assert_eq!(
            options(&["--login-cache=90"]).login_cache,
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            error(&["--login-cache", "soon"]),
            "--login-cache \"soon\": expected whole seconds (0: never)"
        );
    }

    #[test]
    fn users_are_repeatable_and_passwords_may_hold_colons() {
        let o = options(&[
            "--user",
            "alice:secret",
            "--user",
            "bob:pw:ro",
            "--user=carol:pw:rw",
            "--user",
            "dave:a:b:c",
            "--user",
            "erin:a:b:ro",
            "--user",
            "frank:pass:ro:rw",
            "--user",
            "grace:x:RO",
            "--user",
            "heidi:",
            "--user",
            "ivan::ro",
        ]);
        assert_eq!(
            users(&o),
            [
                ("alice", "secret", false),
                ("bob", "pw", true),
                ("carol", "pw", false),
                ("dave", "a:b:c", false),
                ("erin", "a:b", true),
                ("frank", "pass:ro", false),
                ("grace", "x:RO", false),
                ("heidi", "", false),
                ("ivan", "", true),
            ]
        );
        // Users alone turn anonymous access off (it stays undecided: no --anonymous).
        assert_eq!(o.anonymous, None);
    }

    #[test]
    fn bad_values_are_refused() {
        let cases: [(&[&str], &str); 19] = [
            (
                &["--user", "alice"],
                "--user \"alice\": expected NAME:PASSWORD[:ro|rw]",
            ),
            (&["--user", ":pw"], "--user \":pw\": empty user name"),
            (&["--user"], "--user needs a value"),
            (&["--root"], "--root needs a value"),
            (
                &["--listen", "localhost"],
                "--listen: \"localhost\" is not an ADDR:PORT (e.g. 127.0.0.1:2121)",
            ),
            (
                &["--listen", "127.0.0.1"],
                "--listen: \"127.0.0.1\" is not an ADDR:PORT (e.g. 127.0.0.1:2121)",
            ),
            (
                &["--implicit-tls", "990"],
                "--implicit-tls: \"990\" is not an ADDR:PORT (e.g. 127.0.0.1:2121)",
            ),
            (
                &["--passive-ports", "50000"],
                "--passive-ports \"50000\": expected LOW-HIGH",
            ),
            (
                &["--passive-ports", "50100-50000"],
                "--passive-ports \"50100-50000\": expected LOW-HIGH",
            ),
            (
                &["--passive-ports", "0-10"],
                "--passive-ports \"0-10\": expected LOW-HIGH",
            ),
            (
                &["--passive-ports", "1-70000"],
                "--passive-ports \"1-70000\": expected LOW-HIGH",
            ),
            (
                &["--passive-address", "example.com"],
                "--passive-address \"example.com\": not an IP",
            ),
            (
                &["--runtime", "threads"],
                "--runtime \"threads\": expected tokio or async-std",
            ),
            (&["--verbose"], "unknown option \"--verbose\" (try --help)"),
            (&["serve"], "unknown option \"serve\" (try --help)"),
            (&["--quiet=yes"], "--quiet takes no value"),
            (&["--no-active=false"], "--no-active takes no value"),
            (&["--no-fsync=yes"], "--no-fsync takes no value"),
            (
                &["--storage", "s3://bucket", "--no-fsync"],
                "--no-fsync applies to a folder (--storage DIR), not to S3",
            ),
        ];
        for (args, expected) in cases {
            assert_eq!(error(args), expected, "{args:?}");
        }
    }

    /// The folder's uploads are synced before their 226 unless `--no-fsync` says not to.
    #[test]
    fn no_fsync_reaches_the_folder_storage() {
        use ftp_server::auth::Permissions;
        use ftp_server::pool::BlockingPool;
        use ftp_server::storage::{Storage, StorageContext, StoreMode, VirtualPath};
        let dir = std::env::temp_dir().join(format!("ftpd-no-fsync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pool = BlockingPool::new(|job| drop(std::thread::spawn(job)));
        for (args, synced) in [(&[][..], true), (&["--no-fsync"][..], false)] {
            let storage = folder_storage(&dir, &options(args)).unwrap();
            let cx = StorageContext::new("alice", Permissions::ALL, pool.clone());
            let path = VirtualPath::root().resolve(b"upload.bin").unwrap();
            let open = storage.open_write(cx, path, StoreMode::Create, 0);
            let upload = async_io::block_on(open).unwrap();
            assert_eq!(upload.writer.syncs_on_commit(), synced, "{args:?}");
            async_io::block_on(upload.writer.abort());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tls_options_go_together() {
        let pair = "--tls-cert and --tls-key go together";
        assert_eq!(error(&["--tls-cert", "c.pem"]), pair);
        assert_eq!(error(&["--tls-key", "k.pem"]), pair);
        let needs = "--implicit-tls and --require-tls* need --tls-cert and --tls-key";
        assert_eq!(error(&["--implicit-tls", "127.0.0.1:990"]), needs);
        assert_eq!(error(&["--require-tls"]), needs);
        assert_eq!(error(&["--require-tls-reuse"]), needs);
        let tls = ["--tls-cert", "c.pem", "--tls-key", "k.pem"];
        for extra in [
            &["--implicit-tls", "127.0.0.1:990"][..],
            &["--require-tls"],
            &["--require-tls-reuse"],
            &[],
        ] {
            let args: Vec<&str> = tls.iter().chain(extra).copied().collect();
            options(&args);
        }
    }

    /// The first line says when uploads are answered before they are synced.
    #[test]
    fn connect_text_says_when_uploads_are_not_synced() {
        let plain = ["127.0.0.1:2121".parse().unwrap()];
        let text = how_to_connect(&options(&["--root", "/srv"]), &plain, &[]);
        assert!(!text.contains("synced"), "{text}");
        let o = options(&["--root", "/srv", "--no-fsync"]);
        let text = how_to_connect(&o, &plain, &[]);
        assert!(
            text.starts_with(
                "ftpd: serving /srv (anonymous read-only) on tokio; uploads answered before \
                 they are synced (--no-fsync)\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn connect_text_never_shows_a_password() {
        let o = options(&["--user", "alice:s3cr:et:rw", "--root", "/srv"]);
        let plain = ["127.0.0.1:2121".parse().unwrap()];
        let text = how_to_connect(&o, &plain, &[]);
        assert!(!text.contains("s3cr"), "{text}");
        assert!(
            text.contains("    curl -u alice:<password> ftp://127.0.0.1:2121/\n"),
            "{text}"
        );
        assert!(
            text.contains("    lftp -u alice,<password> -p 2121 127.0.0.1\n"),
            "{text}"
        );
        assert!(text.contains("f.login('alice', '<password>')"), "{text}");
        assert!(
            text.starts_with("ftpd: serving /srv (users only) on tokio\n"),
            "{text}"
        );
        // Anonymous logins take any password: the text shows one.
        let o = options(&["--root", "/srv"]);
        let text = how_to_connect(&o, &plain, &[]);
        assert!(
            text.contains("    curl -u anonymous:guest ftp://127.0.0.1:2121/\n"),
            "{text}"
        );
        // IPv6 and implicit FTPS lines.
        let o = options(&[
            "--user",
            "bob:hunter2:ro",
            "--tls-cert",
            "c",
            "--tls-key",
            "k",
        ]);
        let text = how_to_connect(
            &o,
            &["[::1]:2121".parse().unwrap()],
            &["127.0.0.1:990".parse().unwrap()],
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("    curl -g --ssl-reqd -k -u bob:<password> ftp://[::1]:2121/\n"),
            "{text}"
        );
        assert!(
            text.contains("    curl -k -u bob:<password> ftps://127.0.0.1:990/\n"),
            "{text}"
        );
    }

    /// Every option of the usage text is accepted by the parser and listed in the README.
    #[test]
    fn usage_and_readme_list_every_option() {
        let readme = include_str!("../README.md");
        // The option lines: four spaces, then the flags (`-h, --help`), then the rest.
        let flags = usage_options();
        assert_eq!(flags.len(), 44, "{flags:?}");
        for flag in flags {
            assert!(readme.contains(flag), "README.md does not list {flag}");
            let accepted = match parse(&[flag]) {
                Ok(_) => true,
                Err(e) => !e.starts_with("unknown option"),
            };
            assert!(accepted, "the parser does not know {flag}");
        }
    }

    /// Set by [`ftpd_serves_curl_on_both_runtimes`] for the child process it starts: the
    /// arguments, one per line.
    const CHILD_ARGS: &str = "FTPD_TEST_CHILD_ARGS";

    /// In a child process started by the smoke test (and only there), this test binary *is*
    /// ftpd: `ftpd` runs with the arguments given, until SIGTERM, and the process exits with
    /// its code. In the normal test run it does nothing.
    #[test]
    fn child_process_runs_ftpd() {
        let Ok(args) = std::env::var(CHILD_ARGS) else {
            return;
        };
        std::process::exit(i32::from(ftpd(args.lines().map(String::from))));
    }

    /// ftpd in a child process: this test binary re-run as `child_process_runs_ftpd`,
    /// listening on a free port of 127.0.0.1, and stopped by its PID.
    struct ChildFtpd {
        child: KillOnDrop,
        port: u16,
        /// `http://ADDR:PORT/metrics`, with `--metrics`.
        metrics: Option<String>,
        stdout: std::thread::JoinHandle<String>,
        stderr: std::thread::JoinHandle<String>,
    }

    /// A child process killed (by its PID) when dropped still running: a failed test leaves
    /// no ftpd behind.
    struct KillOnDrop(std::process::Child);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if matches!(self.0.try_wait(), Ok(None)) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
    }

    /// What a stopped ftpd left behind.
    struct Stopped {
        /// `None` when it had to be killed: no exit within 15 s of SIGTERM.
        status: Option<std::process::ExitStatus>,
        /// Whether `kill -TERM PID` succeeded.
        signalled: bool,
        stdout: String,
        stderr: String,
    }

    impl ChildFtpd {
        /// Starts ftpd with `args` and waits (30 s at most) for the address it prints. With
        /// `unprivileged`, a test run as root starts ftpd as `nobody` (by setpriv), so that
        /// file permissions apply to the server as they do in production.
        fn start(args: &[&str], unprivileged: bool) -> Self {
            Self::start_with_env(args, unprivileged, &[])
        }

        /// [`ChildFtpd::start`] with these environment variables set for ftpd.
        fn start_with_env(args: &[&str], unprivileged: bool, env: &[(&str, &str)]) -> Self {
            let args = ["--listen", "127.0.0.1:0"].iter().chain(args).copied();
            let args = args.collect::<Vec<_>>().join("\n");
            let test_args = [
                "ftpd::tests::child_process_runs_ftpd",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ];
            let exe = std::env::current_exe().unwrap();
            let mut command = if unprivileged && running_as_root() {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
                c.arg(exe);
                c
            } else {
                Command::new(exe)
            };
            let mut child = command
                .args(test_args)
                .env(CHILD_ARGS, args)
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // Read its output on threads; the port comes from the `  ftp://127.0.0.1:PORT/` line.
            let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
            let stdout = BufReader::new(child.stdout.take().unwrap());
            let stdout = std::thread::spawn(move || {
                let mut all = String::new();
                for line in stdout.lines().map_while(Result::ok) {
                    let _ = lines_tx.send(line.clone());
                    all.push_str(&line);
                    all.push('\n');
                }
                all
            });
            let mut err = child.stderr.take().unwrap();
            let stderr = std::thread::spawn(move || {
                let mut all = String::new();
                let _ = std::io::Read::read_to_string(&mut err, &mut all);
                all
            });
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut metrics = None;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let Ok(line) = lines_rx.recv_timeout(left) else {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("ftpd printed no address: {}", stderr.join().unwrap());
                };
                // The first line may follow libtest's `test NAME ... ` on the same line.
                if let Some((_, url)) = line.split_once("Metrics for Prometheus: ") {
                    metrics = Some(url.to_owned());
                }
                let port = line
                    .trim_start()
                    .strip_prefix("ftp://127.0.0.1:")
                    .and_then(|rest| rest.split_once('/'))
                    .and_then(|(port, _)| port.parse::<u16>().ok());
                if let Some(port) = port {
                    return Self {
                        child: KillOnDrop(child),
                        port,
                        metrics,
                        stdout,
                        stderr,
                    };
                }
            }
        }

        fn url(&self, path: &str) -> String {
            format!("ftp://127.0.0.1:{}/{path}", self.port)
        }

        /// SIGTERM by PID (the shell's built-in kill): a graceful shutdown, awaited for 15 s,
        /// then a kill.
        fn stop(mut self) -> Stopped {
            let pid = self.child.0.id();
            let signalled = Command::new("sh")
                .args(["-c", "kill -TERM \"$0\"", &pid.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            let deadline = Instant::now() + Duration::from_secs(15);
            let status = loop {
                if let Some(status) = self.child.0.try_wait().unwrap() {
                    break Some(status);
                }
                if Instant::now() > deadline {
                    let _ = self.child.0.kill();
                    let _ = self.child.0.wait();
                    break None;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            Stopped {
                status,
                signalled,
                stdout: self.stdout.join().unwrap(),
                stderr: self.stderr.join().unwrap(),
            }
        }
    }

    /// Whether this process runs as root (`/proc/self` belongs to the effective user).
    fn running_as_root() -> bool {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    }

    /// Runs curl with a 20 s limit.
    fn curl(args: &[&str]) -> std::process::Output {
        Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "20"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("curl runs")
    }

    fn require_curl() {
        let curl_found = Command::new("curl")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok();
        assert!(
            curl_found,
            "curl is not installed (`apt-get install -y curl`, as .ci/run does)"
        );
    }

    /// ftpd run to its end in a child process (30 s at most) with `stdin`.
    fn run_ftpd(args: &[&str], stdin: &[u8]) -> std::process::Output {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .args([
                "ftpd::tests::child_process_runs_ftpd",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ARGS, args.join("\n"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin).unwrap();
        let guard = KillOnDrop(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut guard = guard;
        while guard.0.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "ftpd {args:?} did not end");
            std::thread::sleep(Duration::from_millis(20));
        }
        let child = std::mem::replace(&mut guard.0, Command::new("true").spawn().unwrap());
        child.wait_with_output().unwrap()
    }

    /// `ftpd hash-password` with `password` on stdin: the hash it prints.
    fn hash_with_ftpd(password: &str) -> String {
        let out = run_ftpd(&["hash-password"], format!("{password}\n").as_bytes());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let hash = stdout
            .lines()
            .find_map(|l| l.split_once("$argon2id$").map(|(_, h)| h));
        format!("$argon2id${}", hash.expect("a hash line"))
    }

    /// A self-signed certificate named `cn` (EC P-256), written to `cert` and `key`.
    fn make_cert(cn: &str, cert: &Path, key: &Path) {
        let out = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args([
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={cn}"),
                "-keyout",
            ])
            .arg(key)
            .arg("-out")
            .arg(cert)
            .output()
            .expect("openssl runs (apt-get install openssl, as .ci/run does)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn version_is_printed_before_anything_else_is_read() {
        for args in [
            &["--version"][..],
            &["-V", "--bogus"],
            &["--config", "/nonexistent", "-V"],
        ] {
            let out = run_ftpd(args, b"");
            assert!(out.status.success(), "{args:?}");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                stdout.contains(&format!("ftpd {}\n", env!("CARGO_PKG_VERSION"))),
                "{stdout}"
            );
        }
    }

    /// `--check-config`: a good configuration file is reported OK (exit 0); a users file with
    /// a bad hash fails (exit 1), an unknown key is a usage error (exit 2), each saying why.
    #[test]
    fn check_config_reports_what_is_wrong() {
        let dir = std::env::temp_dir().join(format!("ftpd-check-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root")).unwrap();
        let users = dir.join("users.toml");
        let hash = hash_with_ftpd("pw");
        std::fs::write(
            &users,
            format!("[[user]]\nname = \"alice\"\npassword-hash = \"{hash}\"\n"),
        )
        .unwrap();
        let config = dir.join("ftpd.toml");
        let root = dir.join("root");
        let good = format!(
            "root = {:?}\nusers-file = {:?}\nmax-sessions = 10\nquiet = true\n",
            root, users
        );
        std::fs::write(&config, &good).unwrap();
        let config_arg = config.to_str().unwrap();
        let out = run_ftpd(&["--config", config_arg, "--check-config"], b"");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("ftpd: configuration OK"));

        std::fs::write(
            &users,
            "[[user]]\nname = \"alice\"\npassword-hash = \"plain\"\n",
        )
        .unwrap();
        let out = run_ftpd(&["--config", config_arg, "--check-config"], b"");
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("user \"alice\": password-hash: not an Argon2 PHC hash string"),
            "{stderr}"
        );

        std::fs::write(&config, format!("{good}max-sesions = 3\n")).unwrap();
        let out = run_ftpd(&["--config", config_arg, "--check-config"], b"");
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{config_arg}:5: unknown key `max-sesions`")),
            "{stderr}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// SIGHUP reads the users file and the TLS certificate again: the new password and the new
    /// certificate serve new sessions, the old password no longer logs in, and a session
    /// logged in before goes on.
    #[test]
    fn sighup_reloads_users_and_certificate_without_dropping_sessions() {
        require_curl();
        for runtime in ["tokio", "async-std"] {
            sighup_scenario(runtime);
        }
    }

    fn sighup_scenario(runtime: &str) {
        let dir = std::env::temp_dir().join(format!("ftpd-hup-{runtime}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root")).unwrap();
        let (users, cert, key) = (
            dir.join("users.toml"),
            dir.join("cert.pem"),
            dir.join("key.pem"),
        );
        let user_file = |password: &str| {
            let hash = hash_with_ftpd(password);
            std::fs::write(
                &users,
                format!("[[user]]\nname = \"alice\"\npassword-hash = \"{hash}\"\n"),
            )
            .unwrap();
        };
        user_file("old");
        make_cert("first", &cert, &key);
        let root = dir.join("root");
        let args = [
            "--root",
            root.to_str().unwrap(),
            "--users-file",
            users.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--runtime",
            runtime,
        ];
        let ftpd = ChildFtpd::start(&args, false);
        let login = |password: &str| {
            let out = curl(&[
                "-v",
                "--ssl-reqd",
                "-k",
                "-u",
                &format!("alice:{password}"),
                &ftpd.url(""),
            ]);
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (ok, verbose) = login("old");
        assert!(ok && verbose.contains("CN=first"), "{verbose}");
        // A session logged in before the reload.
        let mut held = std::net::TcpStream::connect(("127.0.0.1", ftpd.port)).unwrap();
        held.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(held.try_clone().unwrap());
        let mut say = |line: &str| -> String {
            if !line.is_empty() {
                std::io::Write::write_all(&mut held, format!("{line}\r\n").as_bytes()).unwrap();
            }
            let mut reply = String::new();
            reader.read_line(&mut reply).unwrap();
            reply
        };
        assert!(say("").starts_with("220 "));
        assert!(say("USER alice").starts_with("331 "));
        assert!(say("PASS old").starts_with("230 "));

        user_file("new");
        make_cert("second", &cert, &key);
        let pid = ftpd.child.0.id().to_string();
        let hup = Command::new("sh")
            .args(["-c", "kill -HUP \"$0\"", &pid])
            .status()
            .unwrap();
        assert!(hup.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let verbose = loop {
            let (ok, verbose) = login("new");
            if ok {
                break verbose;
            }
            assert!(
                Instant::now() < deadline,
                "the new password never worked: {verbose}"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(verbose.contains("CN=second"), "{verbose}");
        assert!(!login("old").0, "the old password still logs in");
        assert!(say("PWD").starts_with("257 "), "the held session ended");
        assert!(say("QUIT").starts_with("221 "));
        let stopped = ftpd.stop();
        assert!(
            stopped.stderr.contains("users reloaded"),
            "{}",
            stopped.stderr
        );
        assert!(
            stopped.stderr.contains("TLS certificate reloaded"),
            "{}",
            stopped.stderr
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// One scrape of `url`: every sample line, `name{labels}` → value.
    fn scrape(url: &str) -> std::collections::HashMap<String, f64> {
        let out = curl(&["--include", url]);
        let text = String::from_utf8(out.stdout).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(
            head.contains("Content-Type: application/openmetrics-text; version=1.0.0"),
            "{head}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");
        body.lines()
            .filter(|line| !line.starts_with('#'))
            .map(|line| {
                let (name, value) = line.rsplit_once(' ').expect("NAME VALUE");
                (name.to_owned(), value.parse().expect("a number"))
            })
            .collect()
    }

    /// ftpd --log-format json: every line of stderr that is a log line is one JSON object;
    /// each command, each refusal (an upload refused to a read-only user included) and each
    /// transfer has its line, with the session, client address, user, bytes and duration.
    #[test]
    fn json_logs_have_a_line_per_command_refusal_and_transfer() {
        require_curl();
        for runtime in ["tokio", "async-std"] {
            json_log_scenario(runtime);
        }
    }

    fn json_log_scenario(runtime: &str) {
        let root = std::env::temp_dir().join(format!("ftpd-json-{runtime}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let source = root.join("source.bin");
        std::fs::write(&source, vec![1u8; 54_321]).unwrap();
        let args = [
            "--root",
            root.to_str().unwrap(),
            "--log-format",
            "json",
            "--runtime",
            runtime,
        ];
        let users = ["--user", "alice:secret", "--user", "bob:pw:ro"];
        let ftpd = ChildFtpd::start(&[&args[..], &users].concat(), false);
        let source = source.to_str().unwrap();
        assert!(
            curl(&["-u", "alice:secret", "-T", source, &ftpd.url("a.bin")])
                .status
                .success()
        );
        assert!(!curl(&["-u", "bob:pw", "-T", source, &ftpd.url("b.bin")])
            .status
            .success());
        let stopped = ftpd.stop();
        let lines: Vec<serde_json::Value> = stopped
            .stderr
            .lines()
            .filter(|line| line.starts_with('{'))
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect();
        let find = |message: &str, verb: &str, user: &str| {
            lines
                .iter()
                .find(|l| l["message"] == message && l["verb"] == verb && l["user"] == user)
                .unwrap_or_else(|| panic!("no {message} {verb} line for {user}: {lines:#?}"))
        };
        let stored = find("transfer completed", "STOR", "alice");
        assert_eq!(stored["bytes"], 54_321);
        assert_eq!(stored["path"], "/a.bin");
        assert!(
            stored["duration_ms"].is_u64() && stored["session"] == 1,
            "{stored}"
        );
        assert!(
            stored["peer"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{stored}"
        );
        find("command", "STOR", "alice");
        find("command", "STOR", "bob");
        let refused = find("rejected", "STOR", "bob");
        assert!(
            refused["code"]
                .as_u64()
                .is_some_and(|c| (550..=553).contains(&c)),
            "{refused}"
        );
        assert!(refused["session"] == 2, "{refused}");
        assert!(lines
            .iter()
            .any(|l| l["message"] == "logged in" && l["user"] == "bob"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// ftpd --metrics under each runtime: a scrape while an upload runs shows it running; the
    /// counters then moved by exactly what curl did (two uploads, a download, a listing, a
    /// failed login).
    #[test]
    fn metrics_move_with_real_transfers() {
        require_curl();
        let root = std::env::temp_dir().join(format!("ftpd-metrics-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let big: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(root.join("big.bin"), &big).unwrap();
        let upload = root.join("upload-source.bin");
        std::fs::write(&upload, vec![7u8; 100_000]).unwrap();
        for runtime in ["tokio", "async-std"] {
            let args = [
                "--root",
                root.to_str().unwrap(),
                "--user",
                "alice:secret",
                "--runtime",
                runtime,
            ];
            let ftpd =
                ChildFtpd::start(&[&args[..], &["--metrics", "127.0.0.1:0"]].concat(), false);
            let url = ftpd
                .metrics
                .clone()
                .expect("ftpd printed its metrics address");
            let before = scrape(&url);
            let delta = |after: &std::collections::HashMap<String, f64>, name: &str| {
                after[name] - before.get(name).copied().unwrap_or(0.0)
            };
            // An upload slowed to 500 KB/s (3 s): scraped while it runs. (A slow download
            // would not do: the server's transfer ends once the socket buffers hold it all.)
            let rate = ["-sS", "--max-time", "20", "--limit-rate", "500K"];
            let slow = Command::new("curl")
                .args(rate)
                .args(["-u", "alice:secret", "-T"])
                .arg(root.join("big.bin"))
                .arg(ftpd.url("slow.bin"))
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            let during = loop {
                let now = scrape(&url);
                if now["ftp_transfers_running"] == 1.0 || Instant::now() > deadline {
                    break now;
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            assert_eq!(during["ftp_transfers_running"], 1.0, "{runtime}");
            assert_eq!(during["ftp_sessions_open"], 1.0, "{runtime}");
            assert!(slow.wait_with_output().unwrap().status.success());
            assert!(
                std::fs::read(root.join("slow.bin")).unwrap() == big,
                "{runtime}"
            );
            let fetched = curl(&["-u", "alice:secret", &ftpd.url("big.bin")]);
            assert!(fetched.stdout == big, "{runtime}: the download");
            let stored = curl(&[
                "-u",
                "alice:secret",
                "-T",
                upload.to_str().unwrap(),
                &ftpd.url("up.bin"),
            ]);
            assert!(stored.status.success());
            let listing = curl(&["-u", "alice:secret", &ftpd.url("")]);
            assert!(listing.status.success());
            let refused = curl(&["-u", "alice:wrong", &ftpd.url("")]);
            assert!(!refused.status.success());
            // Sessions end just after curl does: wait for the gauge.
            let deadline = Instant::now() + Duration::from_secs(5);
            let after = loop {
                let now = scrape(&url);
                if now["ftp_sessions_open"] == 0.0 || Instant::now() > deadline {
                    break now;
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            // The listing went as TYPE A (CRLF); curl wrote it with LF line ends.
            let lines = listing.stdout.iter().filter(|&&b| b == b'\n').count();
            let listing_bytes = (listing.stdout.len() + lines) as f64;
            let expect = [
                ("ftp_sessions_open", 0.0),
                ("ftp_sessions_total", 5.0),
                ("ftp_logins_total{result=\"ok\"}", 4.0),
                ("ftp_logins_total{result=\"failed\"}", 1.0),
                ("ftp_commands_total{verb=\"RETR\"}", 1.0),
                ("ftp_commands_total{verb=\"STOR\"}", 2.0),
                ("ftp_commands_total{verb=\"LIST\"}", 1.0),
                ("ftp_replies_total{class=\"5xx\"}", 1.0),
                ("ftp_data_bytes_total{direction=\"in\"}", 1_600_000.0),
                (
                    "ftp_data_bytes_total{direction=\"out\"}",
                    1_500_000.0 + listing_bytes,
                ),
                // The download, sent from the page cache: the file was just written.
                ("ftp_data_bytes_from_page_cache_total", 1_500_000.0),
                ("ftp_transfers_total{result=\"completed\"}", 4.0),
                ("ftp_transfers_total{result=\"failed\"}", 0.0),
                ("ftp_transfers_running", 0.0),
            ];
            for (name, expected) in expect {
                let got = if name.ends_with("_open") || name.ends_with("_running") {
                    after[name]
                } else {
                    delta(&after, name)
                };
                assert_eq!(got, expected, "{runtime}: {name}");
            }
            let stopped = ftpd.stop();
            assert!(
                stopped.status.is_some_and(|s| s.success()),
                "{}",
                stopped.stderr
            );
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// Starts ftpd on a free port under each runtime, lists its folder with curl, and stops it
    /// with SIGTERM by its PID.
    #[test]
    fn ftpd_serves_curl_on_both_runtimes() {
        require_curl();
        let root = std::env::temp_dir().join(format!("ftpd-smoke-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("sub dir")).unwrap();
        std::fs::write(root.join("hello.txt"), b"hello from ftpd\n").unwrap();
        for runtime in ["tokio", "async-std"] {
            smoke(&root, runtime);
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    fn smoke(root: &Path, runtime: &str) {
        let root = root.to_str().unwrap();
        let args = [
            "--root",
            root,
            "--user",
            "alice:se:cr:et",
            "--runtime",
            runtime,
        ];
        let ftpd = ChildFtpd::start(&args, false);
        let port = ftpd.port;
        let listing = curl(&["-u", "alice:se:cr:et", &ftpd.url("")]);
        let file = curl(&["-u", "alice:se:cr:et", &ftpd.url("hello.txt")]);
        let stopped = ftpd.stop();
        let (stdout, stderr) = (&stopped.stdout, &stopped.stderr);
        let context = format!("ftpd --runtime {runtime}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        assert!(
            listing.status.success(),
            "curl LIST failed: {}\n{context}",
            String::from_utf8_lossy(&listing.stderr)
        );
        let listing = String::from_utf8(listing.stdout).unwrap();
        let mut lines: Vec<&str> = listing.lines().collect();
        lines.sort_unstable();
        assert_eq!(lines.len(), 2, "{listing:?}\n{context}");
        assert!(
            lines[0].starts_with('-') && lines[0].ends_with(" hello.txt"),
            "{listing:?}"
        );
        assert!(
            lines[1].starts_with('d') && lines[1].ends_with(" sub dir"),
            "{listing:?}"
        );
        assert_eq!(file.stdout, b"hello from ftpd\n", "{context}");
        assert!(stopped.signalled, "kill -TERM failed");
        let status = stopped
            .status
            .unwrap_or_else(|| panic!("no exit within 15 s of SIGTERM\n{context}"));
        assert!(status.success(), "{status}\n{context}");
        assert!(stderr.contains("ftpd: stopped\n"), "{context}");
        assert!(!stdout.contains("se:cr:et"), "password printed\n{context}");
        assert!(
            stdout.contains(&format!(
                "    curl -u alice:<password> ftp://127.0.0.1:{port}/\n"
            )),
            "{context}"
        );
    }

    /// ftpd running as a user the file system refuses (nobody, when the tests run as root):
    /// STOR into a folder it may not write and CWD into a folder it may not enter both get
    /// `550 Permission denied.` (they used to get 553 File name not allowed, and 250), and
    /// nothing is stored.
    #[test]
    fn permission_errors_are_550_on_both_runtimes() {
        use std::os::unix::fs::PermissionsExt;
        require_curl();
        let root = std::env::temp_dir().join(format!("ftpd-perm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("readonly")).unwrap();
        std::fs::create_dir_all(root.join("locked")).unwrap();
        let mode = |dir: &str, mode: u32| {
            let perms = std::fs::Permissions::from_mode(mode);
            std::fs::set_permissions(root.join(dir), perms).unwrap();
        };
        mode("readonly", 0o555);
        mode("locked", 0o000);
        let upload = root.join("upload.txt");
        std::fs::write(&upload, b"twelve bytes").unwrap();
        mode("upload.txt", 0o644);
        for runtime in ["tokio", "async-std"] {
            let root_arg = root.to_str().unwrap();
            let args = [
                "--root",
                root_arg,
                "--anonymous-write",
                "--runtime",
                runtime,
            ];
            let ftpd = ChildFtpd::start(&args, true);
            let stor = curl(&[
                "-v",
                "-T",
                upload.to_str().unwrap(),
                &ftpd.url("readonly/new.txt"),
            ]);
            let cwd = curl(&["-v", &ftpd.url("locked/")]);
            let stopped = ftpd.stop();
            let context = format!("--runtime {runtime}, ftpd stderr:\n{}", stopped.stderr);
            for (what, output) in [("STOR", &stor), ("CWD", &cwd)] {
                let verbose = String::from_utf8_lossy(&output.stderr);
                assert!(!output.status.success(), "{what}: {verbose}\n{context}");
                assert!(
                    verbose.contains("< 550 Permission denied.\r\n")
                        || verbose.contains("< 550 Permission denied.\n"),
                    "{what}: {verbose}\n{context}"
                );
            }
            assert!(!root.join("readonly/new.txt").exists());
            assert_eq!(stopped.status.map(|s| s.success()), Some(true), "{context}");
        }
        mode("readonly", 0o755);
        mode("locked", 0o755);
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// Files below `dir` whose names do not start with `.`, relative path → content.
    fn visible_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(folder) = pending.pop() {
            for entry in std::fs::read_dir(&folder).unwrap().map(Result::unwrap) {
                let path = entry.path();
                if entry.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                if path.is_dir() {
                    pending.push(path);
                } else {
                    let rel = path
                        .strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    out.push((rel, std::fs::read(&path).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    /// Two ftpd processes on one S3 bucket (s3s-fs) behind a real HAProxy: PROXY protocol v2
    /// on control and passive connections, each node's passive range forwarded to it and
    /// announced with the balancer's address. 20 clients store and read back through the
    /// balancer; every file reads back through either node. Then node 0 gets SIGTERM in the
    /// middle of 20 slow uploads: exactly its clients get 426 or 421, reconnect through the
    /// balancer and store on node 1; node 1's clients never notice; the bucket holds exactly
    /// the completed files and no multipart upload is left pending.
    #[test]
    fn two_ftpd_nodes_on_one_bucket_behind_haproxy_survive_losing_one() {
        use load_balancer::*;
        use s3_server::{S3Server, ACCESS_KEY, BUCKET, SECRET_KEY};
        use std::sync::Mutex;
        const CLIENTS: usize = 20;
        let s3 = S3Server::start();
        let env = [
            ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ];
        let lock = PORTS.lock().unwrap_or_else(|e| e.into_inner());
        let ports = pick_ports(2);
        let nodes: Vec<SocketAddr> = NODE_IPS
            .iter()
            .map(|ip| {
                let free = std::net::TcpListener::bind((*ip, 0)).unwrap();
                free.local_addr().unwrap()
            })
            .collect();
        let storage = format!("s3://{BUCKET}/shared");
        let start = |i: usize| {
            let low = ports.passive[i];
            let range = format!("{low}-{}", low + PASSIVE_PORTS - 1);
            let listen = nodes[i].to_string();
            let args = [
                "--listen",
                &listen,
                "--storage",
                &storage,
                "--s3-folder-marker",
                ".folder",
                "--user",
                "alice:secret",
                "--proxy-protocol",
                BALANCER,
                "--passive-address",
                BALANCER,
                "--passive-ports",
                &range,
                "--shutdown-grace",
                "1",
            ];
            ChildFtpd::start_with_env(&args, false, &env)
        };
        let (node0, node1) = (start(0), start(1));
        let balancer = SocketAddr::new(BALANCER.parse().unwrap(), ports.control);
        let _haproxy = HaProxy::start(&haproxy_config(&ports, &nodes), balancer);
        drop(lock);

        let files = first_files(CLIENTS);
        store_and_read_back(balancer, &files);
        for node in &nodes {
            read_back_directly(*node, &files);
        }

        let outcomes: Vec<Mutex<Outcome>> = (0..CLIENTS).map(|_| Mutex::default()).collect();
        let started = std::sync::Barrier::new(CLIENTS + 1);
        let node0 = std::thread::scope(|scope| {
            for (i, outcome) in outcomes.iter().enumerate() {
                let started = &started;
                let wait = move || {
                    started.wait();
                };
                let bytes = sample(3_000_000, 100 + i as u8);
                let pause = Duration::from_millis(60);
                scope.spawn(move || slow_client(i, balancer, bytes, pause, &wait, outcome));
            }
            started.wait();
            std::thread::sleep(Duration::from_millis(800));
            node0.stop()
        });
        let node1 = node1.stop();
        assert!(
            node0.signalled && node0.status.is_some_and(|s| s.success()),
            "{}",
            node0.stderr
        );
        let outcomes: Vec<_> = outcomes
            .into_iter()
            .map(|o| o.into_inner().unwrap())
            .collect();
        for (i, outcome) in outcomes.iter().enumerate() {
            let peer = format!("peer=\"{}:", slow_client_ip(i));
            let on_node0 = node0.stderr.contains(&peer);
            match &outcome.failed {
                None => assert!(!on_node0, "client {i} on node 0 went on: {outcome:?}"),
                Some(why) => {
                    assert!(on_node0, "client {i} on node 1 failed: {why}");
                    assert!(why.starts_with("426") || why.starts_with("421"), "{why}");
                    assert!(
                        node1.stderr.contains(&peer),
                        "client {i} did not reach node 1"
                    );
                }
            }
        }
        let failed = outcomes.iter().filter(|o| o.failed.is_some()).count();
        assert!((5..=15).contains(&failed), "{failed} of {CLIENTS} failed");
        let mut expected = files.clone();
        expected.extend(
            outcomes
                .into_iter()
                .map(|o| o.stored.expect("stored in the end")),
        );
        expected.sort();
        let stored = visible_files(&s3.bucket_dir().join("shared"));
        let names = |files: &[(String, Vec<u8>)]| {
            files
                .iter()
                .map(|(n, d)| (n.clone(), d.len()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&stored), names(&expected));
        assert!(
            stored == expected,
            "a stored object differs from what was sent"
        );
        assert_eq!(s3.settle_uploads(), 0, "multipart uploads left pending");
    }

    /// ftpd on an S3 bucket (s3s-fs on 127.0.0.1, started and killed here): curl uploads,
    /// lists and downloads under each runtime, the credentials coming from the environment.
    #[test]
    fn ftpd_serves_an_s3_bucket_on_both_runtimes() {
        use s3_server::{S3Server, ACCESS_KEY, BUCKET, SECRET_KEY};
        require_curl();
        let s3 = S3Server::start();
        let env = [
            ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_REGION", "us-east-1"),
        ];
        let local = std::env::temp_dir().join(format!("ftpd-s3-{}", std::process::id()));
        std::fs::create_dir_all(&local).unwrap();
        let upload = local.join("up.bin");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
        std::fs::write(&upload, &data).unwrap();
        for runtime in ["tokio", "async-std"] {
            let storage = format!("s3://{BUCKET}/srv/{runtime}");
            let args = [
                "--storage",
                &storage,
                "--s3-folder-marker",
                ".folder",
                "--user",
                "alice:secret",
                "--runtime",
                runtime,
            ];
            let ftpd = ChildFtpd::start_with_env(&args, false, &env);
            let user = ["-u", "alice:secret"];
            let url = ftpd.url("dir/up.bin");
            let put = curl(
                &[
                    &user[..],
                    &["--ftp-create-dirs", "-T", upload.to_str().unwrap(), &url],
                ]
                .concat(),
            );
            let listing = curl(&[&user[..], &[ftpd.url("dir/").as_str()]].concat());
            let got = curl(&[&user[..], &[url.as_str()]].concat());
            let stopped = ftpd.stop();
            let context = format!(
                "{runtime}\nstdout:\n{}\nstderr:\n{}",
                stopped.stdout, stopped.stderr
            );
            assert!(
                put.status.success(),
                "{}\n{context}",
                String::from_utf8_lossy(&put.stderr)
            );
            let listing = String::from_utf8(listing.stdout).unwrap();
            assert!(
                listing.trim_end().ends_with(" up.bin"),
                "{listing:?}\n{context}"
            );
            assert!(got.stdout == data, "download differs\n{context}");
            let stored = s3.bucket_dir().join(format!("srv/{runtime}/dir/up.bin"));
            assert!(
                std::fs::read(stored).unwrap() == data,
                "stored object differs"
            );
            assert!(
                stopped.stdout.contains(&format!("serving {storage} ")),
                "{context}"
            );
        }
        std::fs::remove_dir_all(&local).unwrap();
    }
}

#[cfg(test)]
#[path = "../ftp-server/tests/support/s3_server.rs"]
mod s3_server;

#[cfg(test)]
#[path = "../ftp-server/tests/support/load_balancer.rs"]
mod load_balancer;
