//! `cargo run --example embedded -- DIR`: ftp-server inside an application, with a quota and
//! an audit trail over its storage and the application's own users (the program is
//! [`ftp_examples::embedded`]).

fn main() -> std::process::ExitCode {
    ftp_examples::embedded::main()
}
