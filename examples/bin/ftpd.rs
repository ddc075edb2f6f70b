//! `ftpd`: serve a folder over FTP and FTPS (installed by `cargo install --path examples`; the program is
//! [`ftp_examples::ftpd`]).

fn main() -> std::process::ExitCode {
    ftp_examples::ftpd::main()
}
