//! `meshctl completions SHELL`: print a completion script for bash, zsh, fish, elvish or PowerShell.
//! In bash, zsh and fish, the values of `--target`, `--replace` and `--exclude` complete to the
//! addresses of the stack named by `-f` on the command line being completed: the script asks the
//! hidden `meshctl __complete-addresses -- WORDS…`, which reads that stack file.

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The shell to complete for.
    shell: Shell,
}

/// The hidden subcommand the scripts call.
pub const ADDRESSES_COMMAND: &str = "__complete-addresses";

/// The flags whose value is a resource address.
const ADDRESS_FLAGS: &[&str] = &["target", "replace", "exclude"];

#[derive(clap::Args)]
pub struct AddressesArgs {
    /// The words of the command line being completed (`meshctl plan -f stack.yaml --target`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    words: Vec<String>,
}

pub fn run<C: CommandFactory>(args: &Args) -> Result<ExitCode> {
    let mut command = C::command();
    // Generated into memory: clap_complete panics when it cannot write.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "meshctl", &mut script);
    let script = complete_addresses(args.shell, &String::from_utf8_lossy(&script));
    crate::output::print(&script)?;
    Ok(ExitCode::SUCCESS)
}

/// Makes the address flags of `script` complete addresses instead of file names.
fn complete_addresses(shell: Shell, script: &str) -> String {
    let ask = |words: &str| format!("meshctl {ADDRESSES_COMMAND} -- {words} 2>/dev/null");
    let mut out = String::with_capacity(script.len() + 512);
    match shell {
        Shell::Bash => {
            // Each flag's case arm completes files (`compgen -f`); these complete addresses.
            let mut in_address_arm = false;
            for line in script.lines() {
                let trimmed = line.trim();
                if let Some(flag) = trimmed.strip_prefix("--").and_then(|t| t.strip_suffix(')')) {
                    in_address_arm = ADDRESS_FLAGS.contains(&flag);
                } else if trimmed == ";;" {
                    in_address_arm = false;
                }
                if in_address_arm && trimmed.starts_with("COMPREPLY=($(compgen -f") {
                    let indent = &line[..line.len() - line.trim_start().len()];
                    out.push_str(&format!(
                        "{indent}COMPREPLY=($(compgen -W \"$({})\" -- \"${{cur}}\"))\n",
                        ask("\"${COMP_WORDS[@]}\"")
                    ));
                } else {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        Shell::Zsh => {
            for (index, line) in script.lines().enumerate() {
                let address_flag = ADDRESS_FLAGS.iter().any(|flag| {
                    line.contains(&format!("'*--{flag}=["))
                        || line.contains(&format!("*--{flag}=["))
                });
                match line.rfind(":_default'") {
                    Some(at) if address_flag => {
                        out.push_str(&line[..at]);
                        out.push_str(":_meshctl_addresses'");
                        out.push_str(&line[at + ":_default'".len()..]);
                    }
                    _ => out.push_str(line),
                }
                out.push('\n');
                if index == 0 {
                    // After `#compdef meshctl`: the function the address flags' action calls.
                    out.push_str(&format!(
                        "_meshctl_addresses() {{\n    local -a addresses\n    addresses=(${{(f)\"$({})\"}})\n    compadd -a addresses\n}}\n",
                        ask("${words[@]}")
                    ));
                }
            }
        }
        Shell::Fish => {
            for line in script.lines() {
                out.push_str(line);
                let address_flag = ADDRESS_FLAGS
                    .iter()
                    .any(|flag| line.contains(&format!(" -l {flag} ")));
                if address_flag {
                    out.push_str(&format!(" -f -a \"({})\"", ask("(commandline -opc)")));
                }
                out.push('\n');
            }
        }
        // Elvish and PowerShell scripts complete flag names only, not values.
        _ => out.push_str(script),
    }
    out
}

/// `meshctl __complete-addresses -- WORDS…`: prints the address of every resource of the stack
/// file the words name with `-f`/`--file` (relative to `-C`/`--chdir` when given), one per line,
/// sorted. Prints nothing when there is no readable stack: completion must never fail loudly.
pub fn addresses(args: &AddressesArgs) -> Result<ExitCode> {
    let Some(file) = stack_file(&args.words) else {
        return Ok(ExitCode::SUCCESS);
    };
    let Ok(bytes) = std::fs::read(&file) else {
        return Ok(ExitCode::SUCCESS);
    };
    let source = meshctl_model::SourceFile::from_bytes(file.display().to_string(), bytes);
    let Ok(root) = meshctl_model::yaml::parse_file(&source) else {
        return Ok(ExitCode::SUCCESS);
    };
    // Read leniently: a stack being edited still completes the entries that name themselves.
    let mut found: Vec<String> = root
        .get("resources")
        .map(|list| match &list.kind {
            meshctl_model::yaml::NodeKind::Seq(items) => items
                .iter()
                .filter_map(|item| {
                    let kind = item.get("kind")?.as_str()?;
                    let name = item.get("name")?.as_str()?;
                    meshctl_model::Address::parse(&format!("{kind}.{name}")).map(|a| a.to_string())
                })
                .collect(),
            _ => Vec::new(),
        })
        .unwrap_or_default();
    found.sort();
    found.dedup();
    let mut text = found.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    crate::output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The stack file a command line names: `-f FILE`, `-fFILE`, `--file FILE`, `--file=FILE`,
/// taken relative to `-C DIR`/`--chdir DIR` when one comes first.
fn stack_file(words: &[String]) -> Option<PathBuf> {
    let (mut file, mut dir) = (None, None);
    let mut words = words.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "-f" | "--file" => file = words.next().cloned(),
            "-C" | "--chdir" => dir = words.next().cloned(),
            "--" => break,
            other => {
                if let Some(value) = other.strip_prefix("--file=") {
                    file = Some(value.to_string());
                } else if let Some(value) = other.strip_prefix("--chdir=") {
                    dir = Some(value.to_string());
                } else if let Some(value) = other.strip_prefix("-f").filter(|v| !v.is_empty()) {
                    file = Some(value.to_string());
                }
            }
        }
    }
    let file = PathBuf::from(file?);
    Some(match dir {
        Some(dir) if file.is_relative() => PathBuf::from(dir).join(file),
        _ => file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn the_stack_file_is_found_in_every_spelling() {
        for (line, expected) in [
            ("meshctl plan -f a.yaml --target", Some("a.yaml")),
            ("meshctl plan -fa.yaml --target", Some("a.yaml")),
            ("meshctl plan --file=a.yaml --replace", Some("a.yaml")),
            (
                "meshctl -C env plan --file a.yaml --exclude",
                Some("env/a.yaml"),
            ),
            ("meshctl plan --target", None),
        ] {
            assert_eq!(
                stack_file(&words(line)),
                expected.map(PathBuf::from),
                "{line}"
            );
        }
    }
}
