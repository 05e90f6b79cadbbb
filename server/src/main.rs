//! The `kasa` binary: the web server and the operator's subcommands (see `kasa help`).

fn main() -> std::process::ExitCode {
    kasa_server::cli::main()
}
