//! `cargo run --example ftpd`: serve a folder over FTP and FTPS (the program is [`ftp_examples::ftpd`]).

fn main() -> std::process::ExitCode {
    ftp_examples::ftpd::main()
}
