//! The `signet` binary: parse the arguments and hand over to the library.

fn main() -> std::process::ExitCode {
    signet::cli::main()
}
