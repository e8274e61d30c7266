//! The `meshctl` binary: the command line with the providers built into this release.

fn main() -> std::process::ExitCode {
    // The AWS and Kubernetes providers register here as they land; until then `apply` reports
    // which kinds have no provider.
    meshctl::run(meshctl::Providers::new())
}
