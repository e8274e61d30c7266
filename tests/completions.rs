//! Shell completion of resource addresses: bash, running the script `meshctl completions bash`
//! prints, completes `--target`, `--replace` and `--exclude` to the addresses of the stack named
//! by `-f` on the line being completed (through the hidden `meshctl __complete-addresses`), and
//! still completes file names for `-f`. The zsh and fish scripts call the same command.

mod support;

use std::path::Path;
use std::process::Command;
use support::text;

const STACK: &str = r#"stack: demo
region: ap-northeast-2
resources:
  - kind: vpc
    name: main
    cidr: 10.0.0.0/16
  - kind: eks_cluster
    name: main
    version: "1.29"
    vpc: main
  - kind: nodegroup
    name: workers
    cluster: main
    instance_types: [t3.large]
    scaling: { min: 1, desired: 2, max: 3 }
"#;

/// The directory of the meshctl binary under test, first on PATH, as after installing it.
fn path_with_meshctl() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_meshctl")).parent().unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// What bash offers for the last word of `line` (a partial word, or empty after a space), run in
/// `dir` with the completion script meshctl printed.
fn bash_completes(dir: &Path, script: &Path, line: &str) -> Vec<String> {
    let mut words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    if line.ends_with(' ') {
        words.push(String::new());
    }
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\n_meshctl meshctl '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words.last().unwrap(),
        words.get(words.len().wrapping_sub(2)).cloned().unwrap_or_default(),
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(program)
        .current_dir(dir)
        .env("PATH", path_with_meshctl())
        .output()
        .expect("bash runs");
    assert!(output.status.success(), "bash: {}", text(&output.stderr));
    let mut offered: Vec<String> = text(&output.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    offered.sort();
    offered
}

#[test]
fn bash_completes_addresses_of_the_stack_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prod.yaml"), STACK).unwrap();
    let script = dir.path().join("meshctl.bash");
    let printed = support::meshctl_in(dir.path(), &["completions", "bash"]);
    assert!(printed.status.success(), "{}", text(&printed.stderr));
    std::fs::write(&script, &printed.stdout).unwrap();

    let all = ["eks_cluster.main", "nodegroup.workers", "vpc.main"];
    assert_eq!(
        bash_completes(dir.path(), &script, "meshctl plan -f prod.yaml --target "),
        all
    );
    assert_eq!(
        bash_completes(
            dir.path(),
            &script,
            "meshctl apply -f prod.yaml --replace eks"
        ),
        ["eks_cluster.main"]
    );
    assert_eq!(
        bash_completes(
            dir.path(),
            &script,
            "meshctl plan --file prod.yaml --exclude n"
        ),
        ["nodegroup.workers"]
    );
    // Without a stack on the line there is nothing to offer, and no error either.
    assert_eq!(
        bash_completes(dir.path(), &script, "meshctl plan --target "),
        Vec::<String>::new()
    );
    // -f still completes file names.
    assert_eq!(
        bash_completes(dir.path(), &script, "meshctl plan -f pro"),
        ["prod.yaml"]
    );
}

#[test]
fn the_hidden_command_lists_addresses_even_of_a_stack_with_errors() {
    let dir = tempfile::tempdir().unwrap();
    // A resource with a bad field still names itself; an entry without a kind does not.
    let broken = STACK.replace("version: \"1.29\"", "version: 1.29.x\n    surprise: true")
        + "  - name: orphan\n";
    std::fs::write(dir.path().join("stack.yaml"), broken).unwrap();
    let output = support::meshctl_in(
        dir.path(),
        &[
            "__complete-addresses",
            "--",
            "meshctl",
            "plan",
            "-f",
            "stack.yaml",
            "--target",
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "eks_cluster.main\nnodegroup.workers\nvpc.main\n"
    );
    // The hidden command is not offered to people.
    let help = support::meshctl_in(dir.path(), &["--help"]);
    assert!(!text(&help.stdout).contains("__complete-addresses"));
}

#[test]
fn zsh_and_fish_scripts_ask_meshctl_for_addresses() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, fragment) in [
        ("zsh", ":KIND.NAME:_meshctl_addresses'"),
        ("fish", "-l replace"),
    ] {
        let output = support::meshctl_in(dir.path(), &["completions", shell]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let script = text(&output.stdout);
        for flag in ["target", "replace", "exclude"] {
            let lines: Vec<&str> = script
                .lines()
                .filter(|l| {
                    l.contains(&format!("--{flag}=[")) || l.contains(&format!(" -l {flag} "))
                })
                .collect();
            assert!(!lines.is_empty(), "{shell} completes --{flag}");
            for line in lines {
                assert!(
                    line.contains("_meshctl_addresses")
                        || line.contains("meshctl __complete-addresses"),
                    "{shell}: {line}"
                );
            }
        }
        assert!(script.contains(fragment), "{shell}");
        assert!(script.contains("__complete-addresses --"), "{shell}");
    }
}
