//! `ftpd`: serve a folder over FTP (and FTPS) with one command.
//!
//! ```sh
//! cargo run --release --example ftpd                 # this folder, read-only, anonymous
//! cargo run --release --example ftpd -- --root /srv/ftp --user alice:secret:rw
//! cargo run --release --example ftpd -- --help
//! ```
//!
//! Defaults: listen on 127.0.0.1:2121 (loopback only: nothing is exposed to the network until
//! you pass `--listen`), serve the current directory, and when no `--user` is given allow
//! read-only anonymous logins (`anonymous` or `ftp`, any password). Passive ports are picked by
//! the system unless `--passive-ports` is given. Ctrl-C (or SIGTERM) shuts down gracefully:
//! idle clients get `421`, running transfers get 10 seconds to finish; a second Ctrl-C quits
//! at once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ftp_server::auth::{Anonymous, UserTable};
use ftp_server::proto::server::ServerEvent;
use ftp_server::storage::{FsStorage, VirtualPath};
use ftp_server::{RunningServer, Server, SessionEvent, TlsConfig};

const USAGE: &str = "\
ftpd: serve a folder over FTP and FTPS

USAGE:
    ftpd [OPTIONS]

OPTIONS:
    --listen ADDR:PORT          listen for FTP (and explicit FTPS) here [default: 127.0.0.1:2121];
                                repeat for more addresses, e.g. [::1]:2121
    --root DIR                  the folder to serve [default: the current directory]
    --user NAME:PASSWORD[:ro|rw]
                                a user (read-write unless :ro); repeatable. Without any
                                --user, anonymous read-only access is on
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
    --runtime tokio|async-std   the async runtime [default: tokio]
    --quiet                     do not log sessions
    -h, --help                  this text
";

#[derive(Debug)]
struct Options {
    listen: Vec<SocketAddr>,
    root: PathBuf,
    users: Vec<(String, String, bool)>,
    anonymous: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    implicit: Vec<SocketAddr>,
    require_tls: bool,
    require_reuse: bool,
    passive_ports: Option<(u16, u16)>,
    passive_address: Option<std::net::IpAddr>,
    active: bool,
    runtime: Runtime,
    quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Runtime {
    Tokio,
    AsyncStd,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        listen: Vec::new(),
        root: std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?,
        users: Vec::new(),
        anonymous: None,
        tls_cert: None,
        tls_key: None,
        implicit: Vec::new(),
        require_tls: false,
        require_reuse: false,
        passive_ports: None,
        passive_address: None,
        active: true,
        runtime: Runtime::Tokio,
        quiet: false,
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
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => options.listen.push(addr(value("--listen")?, "--listen")?),
            "--root" => options.root = PathBuf::from(value("--root")?),
            "--user" => {
                let spec = value("--user")?;
                let mut parts = spec.splitn(3, ':');
                let (Some(name), Some(password)) = (parts.next(), parts.next()) else {
                    return Err(format!("--user {spec:?}: expected NAME:PASSWORD[:ro|rw]"));
                };
                let read_only = match parts.next() {
                    None | Some("rw") => false,
                    Some("ro") => true,
                    Some(other) => return Err(format!("--user: {other:?} is neither ro nor rw")),
                };
                if name.is_empty() {
                    return Err("--user: empty user name".into());
                }
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
    Ok(Some(options))
}

fn log_event(event: &SessionEvent<'_>) {
    let (session, peer) = (event.session, event.peer);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let line = match event.event {
        ServerEvent::Connected { .. } => "connected".to_owned(),
        ServerEvent::LoggedIn {
            user, read_only, ..
        } => format!(
            "logged in as {} ({})",
            text(user),
            if *read_only {
                "read-only"
            } else {
                "read-write"
            }
        ),
        ServerEvent::LoginFailed { user, .. } => format!("login failed for {}", text(user)),
        ServerEvent::TransferCompleted { kind, path, bytes } => {
            format!("{} {path}: {bytes} bytes", kind.verb())
        }
        ServerEvent::TransferFailed { kind, path, code } => {
            format!("{} {path} failed ({})", kind.verb(), code.get())
        }
        ServerEvent::Closed { reason } => format!("closed ({reason:?})"),
        _ => return,
    };
    eprintln!("ftpd: [{session} {peer}] {line}");
}

fn build(options: &Options) -> Result<Server, String> {
    let storage = FsStorage::new(&options.root)
        .map_err(|e| format!("--root {}: {e}", options.root.display()))?;
    let mut server = Server::new(storage)
        .banner("ftpd (ftp-rs) ready")
        .active_mode(options.active)
        .shutdown_grace(Duration::from_secs(10));
    for addr in &options.listen {
        server = server.listen(*addr);
    }
    if !options.users.is_empty() {
        let mut table = UserTable::new();
        for (name, password, read_only) in &options.users {
            table
                .add(name, password, VirtualPath::root(), *read_only)
                .map_err(|e| format!("--user {name}: {e}"))?;
        }
        server = server.authenticator(table);
    }
    match options.anonymous {
        Some(true) => server = server.anonymous(Anonymous::read_only()),
        Some(false) => server = server.anonymous(Anonymous::read_write()),
        None if options.users.is_empty() => server = server.anonymous(Anonymous::read_only()),
        None => {}
    }
    if let (Some(cert), Some(key)) = (&options.tls_cert, &options.tls_key) {
        let tls = TlsConfig::from_pem_files(cert, key).map_err(|e| format!("TLS: {e}"))?;
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
    if !options.quiet {
        server = server.on_event(log_event);
    }
    Ok(server)
}

fn print_banner(options: &Options, running: &RunningServer) {
    let root = options.root.display();
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
    println!("ftpd: serving {root} ({who}) on {runtime}");
    let (user, pass) = match options.users.first() {
        Some((name, password, _)) => (name.as_str(), password.as_str()),
        None => ("anonymous", "guest"),
    };
    for addr in running.local_addrs() {
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
        println!("  ftp://{host}:{port}/{tls}");
        println!("    curl {globoff}-u {user}:{pass} ftp://{host}:{port}/");
        println!("    lftp -u {user},{pass} -p {port} {host}");
        println!(
            "    python3 -c \"import ftplib; f = ftplib.FTP(); f.connect('{}', {port}); f.login('{user}', '{pass}'); f.dir()\"",
            host.trim_matches(['[', ']'])
        );
        if options.tls_cert.is_some() {
            println!("    curl {globoff}--ssl-reqd -k -u {user}:{pass} ftp://{host}:{port}/");
        }
    }
    for addr in running.implicit_tls_addrs() {
        println!("  ftps://{addr}/ (implicit FTPS)");
        println!("    curl -k -u {user}:{pass} ftps://{addr}/");
    }
    println!("Press Ctrl-C to stop.");
}

/// Ctrl-C and SIGTERM start the graceful shutdown; a second one quits at once.
fn handle_signals(handle: ftp_server::ShutdownHandle) -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    std::thread::spawn(move || {
        let mut signals = signals.forever();
        if signals.next().is_some() {
            eprintln!("ftpd: shutting down (Ctrl-C again to quit at once)");
            handle.shutdown();
        }
        if signals.next().is_some() {
            std::process::exit(130);
        }
    });
    Ok(())
}

async fn serve(options: &Options, running: RunningServer) -> Result<(), String> {
    print_banner(options, &running);
    handle_signals(running.shutdown_handle())?;
    running.wait().await;
    eprintln!("ftpd: stopped");
    Ok(())
}

fn run(options: Options) -> Result<(), String> {
    let server = build(&options)?;
    let bind_error = |e: std::io::Error| format!("cannot start: {e}");
    match options.runtime {
        Runtime::Tokio => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("tokio: {e}"))?;
            runtime.block_on(async {
                let running = server.start_tokio().await.map_err(bind_error)?;
                serve(&options, running).await
            })
        }
        Runtime::AsyncStd => async_io::block_on(async {
            let running = server.start_async_io().await.map_err(bind_error)?;
            serve(&options, running).await
        }),
    }
}

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1)) {
        Ok(None) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Some(options)) => match run(options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ftpd: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("ftpd: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
