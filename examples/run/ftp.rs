//! `cargo run --example ftp`: a command-line FTP/FTPS client (the program is [`ftp_examples::ftp`]).

fn main() -> std::process::ExitCode {
    ftp_examples::ftp::main()
}
