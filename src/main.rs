use clap::Parser;

fn main() -> std::process::ExitCode {
    agentpods::cli::run(agentpods::cli::Cli::parse())
}
