//! `ftp`: a command-line FTP/FTPS client (installed by `cargo install --path examples`; the program is
//! [`ftp_examples::ftp`]).

fn main() -> std::process::ExitCode {
    ftp_examples::ftp::main()
}
