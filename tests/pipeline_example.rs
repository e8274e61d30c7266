//! The GitHub Actions example users copy (examples/github-actions/meshctl.yml), read and run: its
//! YAML keeps the properties that make it safe (OIDC and no stored keys, the triggers, the apply
//! job applying the downloaded plan file and never planning, drift's exit codes, one apply per
//! environment at a time), and its `run:` steps, taken from the YAML, run in order as hosted
//! runners would run them: every job in a fresh empty directory holding only a checkout and the
//! artifacts the workflow passes on, against moto, with the state in S3. So a pull request's
//! plan, the apply of that very plan after the merge and the nightly drift check each find the
//! state through S3 alone; a plan overtaken by another merge is refused by meshctl itself; a var
//! change is planned only for a labelled pull request; drift opens the issue on exit 2 and fails
//! the job on any other non-zero exit. What each job did is read from moto directly: EC2 with the
//! AWS SDK, the state bucket with plain HTTP requests.

mod support;

use meshctl_sandbox::Moto;
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::text;

/// The example as a user's repository holds it: the workflow, `stacks/`, `envs/`.
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/github-actions");
const WORKFLOW_FILE: &str = "meshctl.yml";
/// The region of the example stack's resources and of its state bucket.
const REGION: &str = "eu-west-1";
const BUCKET: &str = "acme-meshctl-state";
const REPOSITORY: &str = "acme/infra";

// ---------------------------------------------------------------------------------------------
// The workflow file

/// The example workflow, parsed.
struct Workflow {
    root: Mapping,
}

impl Workflow {
    fn load() -> Workflow {
        let path = Path::new(EXAMPLE).join(WORKFLOW_FILE);
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let root: Mapping = serde_yaml::from_str(&source)
            .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
        Workflow { root }
    }

    fn name(&self) -> &str {
        str_at(&self.root, "name").unwrap_or("meshctl")
    }

    fn job(&self, name: &str) -> &Mapping {
        map_at(&self.root, "jobs")
            .and_then(|jobs| map_at(jobs, name))
            .unwrap_or_else(|| panic!("the example has no job `{name}`"))
    }

    fn job_names(&self) -> Vec<String> {
        map_at(&self.root, "jobs")
            .expect("the example has jobs")
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect()
    }

    fn env(&self) -> Vec<(String, String)> {
        env_of(&self.root)
    }

    /// The jobs whose `if:` holds for this event, as GitHub decides before starting any.
    fn jobs_for(&self, github: &Github, event: &Event) -> Vec<String> {
        self.job_names()
            .into_iter()
            .filter(|name| {
                let job = self.job(name);
                let condition = str_at(job, "if").unwrap_or("success()");
                let lookup = |path: &str| github.context(event, path);
                evaluate_if(condition, &lookup, false)
            })
            .collect()
    }

    /// The values of the job's `strategy.matrix.environment`.
    fn environments(&self, job: &str) -> Vec<String> {
        map_at(self.job(job), "strategy")
            .and_then(|s| map_at(s, "matrix"))
            .and_then(|m| m.get("environment"))
            .and_then(Value::as_sequence)
            .unwrap_or_else(|| panic!("job `{job}` has no matrix of environments"))
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }
}

fn map_at<'a>(map: &'a Mapping, key: &str) -> Option<&'a Mapping> {
    map.get(key).and_then(Value::as_mapping)
}

fn str_at<'a>(map: &'a Mapping, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

/// A mapping's `env:`, in order, values as written (`${{ }}` not yet substituted).
fn env_of(map: &Mapping) -> Vec<(String, String)> {
    map_at(map, "env")
        .map(|env| {
            env.iter()
                .map(|(k, v)| {
                    let value = match v {
                        Value::String(s) => s.clone(),
                        other => serde_yaml::to_string(other).unwrap().trim().to_string(),
                    };
                    (k.as_str().unwrap_or_default().to_string(), value)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn steps(job: &Mapping) -> Vec<&Mapping> {
    job.get("steps")
        .and_then(Value::as_sequence)
        .map(|steps| steps.iter().filter_map(Value::as_mapping).collect())
        .unwrap_or_default()
}

/// The action a `uses:` step runs, without its version: `actions/checkout`.
fn action(step: &Mapping) -> Option<&str> {
    str_at(step, "uses").map(|uses| uses.split('@').next().unwrap_or(uses))
}

fn with<'a>(step: &'a Mapping, key: &str) -> Option<&'a str> {
    map_at(step, "with").and_then(|w| str_at(w, key))
}

fn step_label(step: &Mapping) -> String {
    str_at(step, "name")
        .or_else(|| str_at(step, "id"))
        .or_else(|| str_at(step, "uses"))
        .unwrap_or("(unnamed step)")
        .to_string()
}

/// Whether a `run:` script talks to GitHub's API (`gh`), which only GitHub can answer.
fn calls_github(script: &str) -> bool {
    script
        .split(|c: char| c.is_whitespace() || "$(|;&`".contains(c))
        .any(|word| word == "gh")
}

/// Every `meshctl ...` command of a script, continuation lines joined, split into words the way
/// the shell would (quotes removed, variables left as written).
fn meshctl_commands(script: &str) -> Vec<Vec<String>> {
    script
        .replace("\\\n", " ")
        .lines()
        .map(shell_words)
        .filter(|words| words.first().is_some_and(|w| w == "meshctl"))
        .collect()
}

fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.trim().chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// The value of `--flag VALUE` in a command.
fn flag<'a>(command: &'a [String], name: &str) -> Option<&'a str> {
    command
        .iter()
        .position(|w| w == name)
        .and_then(|i| command.get(i + 1))
        .map(String::as_str)
}

/// The meshctl commands of a job's `run:` steps.
fn job_meshctl_commands(job: &Mapping) -> Vec<Vec<String>> {
    steps(job)
        .into_iter()
        .filter_map(|s| str_at(s, "run"))
        .flat_map(meshctl_commands)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// GitHub's expressions: `${{ ... }}` and `if:`

/// A value of GitHub's expression language, as far as the example uses it.
#[derive(Clone, Debug)]
enum Val {
    Null,
    Bool(bool),
    Str(String),
    /// What an object filter (`labels.*.name`) gives.
    Array(Vec<Val>),
}

impl Val {
    fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Bool(b) => *b,
            Val::Str(s) => !s.is_empty(),
            Val::Array(_) => true,
        }
    }

    fn text(&self) -> String {
        match self {
            Val::Null => String::new(),
            Val::Bool(b) => b.to_string(),
            Val::Str(s) => s.clone(),
            Val::Array(_) => "Array".to_string(),
        }
    }

    /// GitHub compares strings ignoring case, and a missing value equals ''.
    fn loosely_equals(&self, other: &Val) -> bool {
        self.text().eq_ignore_ascii_case(&other.text())
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Str(String),
    Word(String),
    Op(&'static str),
}

fn tokens(expression: &str) -> Vec<Token> {
    let chars: Vec<char> = expression.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            c if c.is_whitespace() => i += 1,
            '\'' => {
                let mut literal = String::new();
                i += 1;
                loop {
                    match (chars.get(i), chars.get(i + 1)) {
                        (Some('\''), Some('\'')) => {
                            literal.push('\'');
                            i += 2;
                        }
                        (Some('\''), _) => {
                            i += 1;
                            break;
                        }
                        (Some(c), _) => {
                            literal.push(*c);
                            i += 1;
                        }
                        (None, _) => panic!("unterminated string in `{expression}`"),
                    }
                }
                out.push(Token::Str(literal));
            }
            '=' if next == Some('=') => {
                out.push(Token::Op("=="));
                i += 2;
            }
            '!' if next == Some('=') => {
                out.push(Token::Op("!="));
                i += 2;
            }
            '&' if next == Some('&') => {
                out.push(Token::Op("&&"));
                i += 2;
            }
            '|' if next == Some('|') => {
                out.push(Token::Op("||"));
                i += 2;
            }
            '!' => {
                out.push(Token::Op("!"));
                i += 1;
            }
            '(' => {
                out.push(Token::Op("("));
                i += 1;
            }
            ',' => {
                out.push(Token::Op(","));
                i += 1;
            }
            ')' => {
                out.push(Token::Op(")"));
                i += 1;
            }
            c if c.is_alphanumeric() || "_.-*".contains(c) => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_alphanumeric() || "_.-*".contains(*c))
                {
                    i += 1;
                }
                out.push(Token::Word(chars[start..i].iter().collect()));
            }
            other => {
                panic!("the test's expression reader does not know `{other}` in `{expression}`")
            }
        }
    }
    out
}

/// A recursive-descent evaluator of `||`, `&&`, `!`, `==`, `!=`, literals, context paths and the
/// status functions.
struct Evaluator<'a> {
    tokens: Vec<Token>,
    at: usize,
    lookup: &'a dyn Fn(&str) -> Val,
    job_failed: bool,
    source: &'a str,
}

impl Evaluator<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, op: &'static str) -> bool {
        if self.peek() == Some(&Token::Op(op)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Val {
        let mut left = self.and();
        while self.eat("||") {
            let right = self.and();
            left = if left.truthy() { left } else { right };
        }
        left
    }

    fn and(&mut self) -> Val {
        let mut left = self.unary();
        while self.eat("&&") {
            let right = self.unary();
            left = if left.truthy() { right } else { left };
        }
        left
    }

    fn unary(&mut self) -> Val {
        if self.eat("!") {
            return Val::Bool(!self.unary().truthy());
        }
        let left = self.primary();
        if self.eat("==") {
            let right = self.primary();
            return Val::Bool(left.loosely_equals(&right));
        }
        if self.eat("!=") {
            let right = self.primary();
            return Val::Bool(!left.loosely_equals(&right));
        }
        left
    }

    fn primary(&mut self) -> Val {
        if self.eat("(") {
            let inner = self.or();
            assert!(self.eat(")"), "missing `)` in `{}`", self.source);
            return inner;
        }
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        match token {
            Some(Token::Str(s)) => Val::Str(s.clone()),
            Some(Token::Word(word)) => {
                if self.eat("(") {
                    let mut arguments = Vec::new();
                    while !self.eat(")") {
                        arguments.push(self.or());
                        self.eat(",");
                        assert!(
                            self.at <= self.tokens.len(),
                            "missing `)` in `{}`",
                            self.source
                        );
                    }
                    return Val::Bool(match (word.as_str(), arguments.as_slice()) {
                        ("success", []) => !self.job_failed,
                        ("failure", []) => self.job_failed,
                        ("always", []) => true,
                        ("cancelled", []) => false,
                        ("contains", [Val::Array(items), item]) => {
                            items.iter().any(|i| i.loosely_equals(item))
                        }
                        ("contains", [text, part]) => text
                            .text()
                            .to_lowercase()
                            .contains(&part.text().to_lowercase()),
                        (other, _) => panic!("the test does not know the function {other}()"),
                    });
                }
                match word.as_str() {
                    "true" => Val::Bool(true),
                    "false" => Val::Bool(false),
                    "null" => Val::Null,
                    w if w.chars().all(|c| c.is_ascii_digit()) => Val::Str(w.to_string()),
                    path => (self.lookup)(path),
                }
            }
            other => panic!("unexpected {other:?} in `{}`", self.source),
        }
    }
}

fn evaluate(expression: &str, lookup: &dyn Fn(&str) -> Val, job_failed: bool) -> Val {
    let mut evaluator = Evaluator {
        tokens: tokens(expression),
        at: 0,
        lookup,
        job_failed,
        source: expression,
    };
    let value = evaluator.or();
    assert!(
        evaluator.at == evaluator.tokens.len(),
        "the test could not read all of `{expression}`"
    );
    value
}

/// An `if:` as GitHub reads it: `${{ }}` optional, and `success() && ` implied unless the
/// condition names a status function.
fn evaluate_if(condition: &str, lookup: &dyn Fn(&str) -> Val, job_failed: bool) -> bool {
    let bare = condition
        .trim()
        .strip_prefix("${{")
        .and_then(|c| c.strip_suffix("}}"))
        .unwrap_or(condition);
    let has_status = ["success(", "failure(", "always(", "cancelled("]
        .iter()
        .any(|f| bare.contains(f));
    let holds = evaluate(bare, lookup, job_failed).truthy();
    holds && (has_status || !job_failed)
}

/// `text` with every `${{ expression }}` replaced by its value.
fn substitute(text: &str, lookup: &dyn Fn(&str) -> Val) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let end = after
            .find("}}")
            .unwrap_or_else(|| panic!("unclosed ${{{{ in `{text}`"));
        out.push_str(&evaluate(&after[..end], lookup, false).text());
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// Hosted runners, as far as the example needs them

/// One event that starts the workflow: its name and the `github.*` values jobs see.
struct Event {
    name: &'static str,
    run_id: u64,
    sha: String,
    /// `github.event.*` paths and their values.
    payload: BTreeMap<String, String>,
    /// The pull request's labels.
    labels: Vec<String>,
}

impl Event {
    fn pull_request(number: u64, head_sha: &str, run_id: u64) -> Event {
        let payload = BTreeMap::from([
            ("pull_request.number".to_string(), number.to_string()),
            ("pull_request.head.sha".to_string(), head_sha.to_string()),
            (
                "pull_request.head.repo.full_name".to_string(),
                REPOSITORY.to_string(),
            ),
        ]);
        Event {
            name: "pull_request",
            run_id,
            sha: format!("merge-of-{head_sha}"),
            payload,
            labels: Vec::new(),
        }
    }

    fn labelled(mut self, label: &str) -> Event {
        self.labels.push(label.to_string());
        self
    }

    fn push(sha: &str, run_id: u64) -> Event {
        Event {
            name: "push",
            run_id,
            sha: sha.to_string(),
            payload: BTreeMap::new(),
            labels: Vec::new(),
        }
    }

    fn schedule(run_id: u64) -> Event {
        Event {
            name: "schedule",
            run_id,
            sha: "main-head".to_string(),
            payload: BTreeMap::new(),
            labels: Vec::new(),
        }
    }
}

/// What GitHub keeps between jobs: the artifacts of each run. Nothing else survives a job.
struct Github {
    workflow: Workflow,
    /// `<run id>/<artifact name>/<files>`
    artifacts: tempfile::TempDir,
    /// The runner machine's environment: the sandbox's AWS endpoint, no credentials.
    machine_env: Vec<(String, String)>,
    /// What configure-aws-credentials exports after assuming the role (moto's test keys).
    assumed_role_env: Vec<(String, String)>,
    /// The directory holding the meshctl under test, as the cache restores it on PATH.
    meshctl_dir: PathBuf,
}

/// How a step went.
#[derive(Debug, PartialEq)]
enum StepOutcome {
    /// Its `if:` did not hold.
    Skipped,
    /// A GitHub action, done by the test as the action would.
    Emulated,
    /// A script that needs GitHub's API: not run; its outputs are what GitHub would answer.
    AnsweredByGithub,
    /// A script run with bash, and its exit code.
    Ran(i32),
    /// An emulated action failed (a missing artifact).
    Failed(String),
}

struct StepRecord {
    label: String,
    outcome: StepOutcome,
    log: String,
}

/// A job that ran on its own fresh runner: its workspace, what each step did, whether it failed.
struct JobRun {
    runner: tempfile::TempDir,
    steps: Vec<StepRecord>,
    outputs: BTreeMap<String, BTreeMap<String, String>>,
    failed: bool,
}

impl JobRun {
    fn workspace(&self) -> PathBuf {
        self.runner.path().join("work")
    }

    fn file(&self, relative: &str) -> String {
        let path = self.workspace().join(relative);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), self.log()))
    }

    fn output(&self, step: &str, name: &str) -> Option<&str> {
        self.outputs
            .get(step)
            .and_then(|o| o.get(name))
            .map(String::as_str)
    }

    fn step(&self, label_part: &str) -> &StepRecord {
        self.steps
            .iter()
            .find(|s| s.label.contains(label_part))
            .unwrap_or_else(|| panic!("no step named like `{label_part}`\n{}", self.log()))
    }

    fn log(&self) -> String {
        self.steps
            .iter()
            .map(|s| format!("--- {} : {:?}\n{}", s.label, s.outcome, s.log))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The workspace holds the checkout of `repository` and `written` (what the steps write), and
    /// nothing else: no local state, no errored-state file. What the next job finds came from S3.
    fn assert_workspace_holds(&self, repository: &Path, written: &[&str]) {
        let mut expected = files_under(repository);
        expected.extend(written.iter().map(|f| f.to_string()));
        expected.sort();
        assert_eq!(
            files_under(&self.workspace()),
            expected,
            "the runner's workspace after the job"
        );
    }

    fn assert_succeeded(&self, what: &str) {
        assert!(!self.failed, "{what} failed:\n{}", self.log());
    }
}

/// Files of `dir` (recursively), relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(dir) {
                found.push(relative.display().to_string());
            }
        }
    }
    found.sort();
    found
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The files in `dir` that `pattern` names: a relative path whose file name may hold `*`.
fn matching_files(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let path = dir.join(pattern);
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let name = name.to_string_lossy();
    let Some((prefix, suffix)) = name.split_once('*') else {
        return if path.is_file() {
            vec![path]
        } else {
            Vec::new()
        };
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(parent)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            p.file_name()
                .map(|f| f.to_string_lossy())
                .is_some_and(|f| f.starts_with(prefix) && f.ends_with(suffix))
        })
        .collect();
    found.sort();
    found
}

/// GITHUB_OUTPUT's lines: `name=value` and `name<<DELIMITER` ... `DELIMITER`.
fn read_outputs(path: &Path) -> BTreeMap<String, String> {
    let content = std::fs::read_to_string(path).unwrap_or_default();
    let mut outputs = BTreeMap::new();
    let mut lines = content.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            outputs.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.to_string(), value.to_string());
        }
    }
    outputs
}

/// The outputs a script writes (`echo "NAME=..." >> "$GITHUB_OUTPUT"`).
fn outputs_written(script: &str) -> Vec<String> {
    script
        .lines()
        .filter(|l| l.contains("GITHUB_OUTPUT"))
        .filter_map(|l| {
            let after_echo = l.trim().strip_prefix("echo ")?;
            let name = after_echo
                .trim_start_matches(['"', '\''])
                .split('=')
                .next()?;
            Some(name.to_string())
        })
        .collect()
}

impl Github {
    fn context(&self, event: &Event, path: &str) -> Val {
        let value = match path {
            "github.event_name" => event.name.to_string(),
            "github.repository" => REPOSITORY.to_string(),
            "github.server_url" => "https://github.com".to_string(),
            "github.run_id" => event.run_id.to_string(),
            "github.sha" => event.sha.clone(),
            "github.token" => "github-token-of-the-run".to_string(),
            "github.workflow" => self.workflow.name().to_string(),
            "runner.os" => "Linux".to_string(),
            "runner.arch" => "X64".to_string(),
            "vars.MESHCTL_PLAN_ROLE_ARN" => {
                "arn:aws:iam::123456789012:role/meshctl-plan".to_string()
            }
            "vars.MESHCTL_APPLY_ROLE_ARN" => {
                "arn:aws:iam::123456789012:role/meshctl-apply".to_string()
            }
            "github.event.pull_request.labels.*.name" => {
                return Val::Array(event.labels.iter().map(|l| Val::Str(l.clone())).collect())
            }
            path => match path.strip_prefix("github.event.") {
                Some(field) => match event.payload.get(field) {
                    Some(value) => value.clone(),
                    None => return Val::Null,
                },
                None => panic!(
                    "the example uses `{path}`, which this test does not emulate: add it to Github::context"
                ),
            },
        };
        Val::Str(value)
    }

    /// Runs one job of the workflow for `event` on a fresh runner: an empty workspace, a checkout
    /// of `repository`, and the artifacts of earlier runs. `github_answers` are what GitHub's API
    /// answers to the scripts that ask it (by the output they write).
    fn run_job(
        &self,
        job_name: &str,
        event: &Event,
        environment: &str,
        repository: &Path,
        github_answers: &BTreeMap<&str, String>,
    ) -> JobRun {
        let job = self.workflow.job(job_name);
        let runner = tempfile::tempdir().unwrap();
        let workspace = runner.path().join("work");
        let home = runner.path().join("home");
        let temp = runner.path().join("temp");
        for dir in [&workspace, &home, &temp] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let matrix = BTreeMap::from([("environment".to_string(), environment.to_string())]);
        let mut run = JobRun {
            runner,
            steps: Vec::new(),
            outputs: BTreeMap::new(),
            failed: false,
        };
        // The environment every step sees: workflow's and job's `env:`, then what actions export.
        let mut env: Vec<(String, String)> = Vec::new();
        let mut exported: Vec<(String, String)> = Vec::new();
        let base_lookup = |env: &[(String, String)],
                           outputs: &BTreeMap<String, BTreeMap<String, String>>,
                           path: &str|
         -> Val {
            if let Some(name) = path.strip_prefix("matrix.") {
                return Val::Str(matrix.get(name).cloned().unwrap_or_default());
            }
            if let Some(name) = path.strip_prefix("env.") {
                return env
                    .iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map_or(Val::Null, |(_, v)| Val::Str(v.clone()));
            }
            if let Some(rest) = path.strip_prefix("steps.") {
                let (id, output) = rest
                    .split_once(".outputs.")
                    .unwrap_or_else(|| panic!("the test reads only steps.ID.outputs.NAME: {path}"));
                return outputs
                    .get(id)
                    .and_then(|o| o.get(output))
                    .map_or(Val::Null, |v| Val::Str(v.clone()));
            }
            assert!(
                !path.starts_with("secrets."),
                "the example reads `{path}`: it needs no secrets (OIDC)"
            );
            self.context(event, path)
        };
        for (name, value) in self.workflow.env().into_iter().chain(env_of(job)) {
            let value = substitute(&value, &|p| base_lookup(&env, &run.outputs, p));
            env.push((name, value));
        }
        for step in steps(job) {
            let label = step_label(step);
            let id = str_at(step, "id").map(str::to_string);
            let mut step_env = env.clone();
            for (name, value) in env_of(step) {
                let value = substitute(&value, &|p| base_lookup(&step_env, &run.outputs, p));
                step_env.push((name, value));
            }
            let lookup = |p: &str| base_lookup(&step_env, &run.outputs, p);
            let condition = str_at(step, "if").unwrap_or("success()");
            if !evaluate_if(condition, &lookup, run.failed) {
                run.steps.push(StepRecord {
                    label,
                    outcome: StepOutcome::Skipped,
                    log: String::new(),
                });
                continue;
            }
            let inputs = |key: &str| with(step, key).map(|v| substitute(v, &lookup));
            let mut outputs = BTreeMap::new();
            let (outcome, log) = if let Some(action) = action(step) {
                let outcome = match action {
                    "actions/checkout" => {
                        copy_tree(repository, &workspace);
                        StepOutcome::Emulated
                    }
                    "actions/cache" => {
                        // The cache holds the meshctl under test (on PATH below).
                        let path = inputs("path").unwrap_or_default();
                        assert!(
                            path.ends_with("/meshctl"),
                            "the cache step restores meshctl, not `{path}`"
                        );
                        outputs.insert("cache-hit".to_string(), "true".to_string());
                        StepOutcome::Emulated
                    }
                    "aws-actions/configure-aws-credentials" => {
                        let role = inputs("role-to-assume").unwrap_or_default();
                        assert!(
                            role.starts_with("arn:aws:iam::"),
                            "configure-aws-credentials assumes a role: `{role}`"
                        );
                        exported.extend(self.assumed_role_env.iter().cloned());
                        if let Some(region) = inputs("aws-region") {
                            exported.push(("AWS_REGION".to_string(), region.clone()));
                            exported.push(("AWS_DEFAULT_REGION".to_string(), region));
                        }
                        StepOutcome::Emulated
                    }
                    "actions/upload-artifact" => {
                        let name = inputs("name").expect("upload-artifact has a name");
                        let store = self
                            .artifacts
                            .path()
                            .join(event.run_id.to_string())
                            .join(&name);
                        std::fs::create_dir_all(&store).unwrap();
                        let mut missing = Vec::new();
                        for pattern in inputs("path").unwrap_or_default().lines() {
                            let found = matching_files(&workspace, pattern.trim());
                            if found.is_empty() {
                                missing.push(pattern.to_string());
                            }
                            for source in found {
                                let file = source.file_name().unwrap();
                                std::fs::copy(&source, store.join(file)).unwrap();
                            }
                        }
                        // GitHub's default for a path that matches nothing is a warning.
                        let strict = inputs("if-no-files-found").as_deref() == Some("error");
                        if missing.is_empty() || !strict {
                            StepOutcome::Emulated
                        } else {
                            StepOutcome::Failed(format!("no files at {missing:?}"))
                        }
                    }
                    "actions/download-artifact" => {
                        let name = inputs("name").expect("download-artifact has a name");
                        // Without run-id, download-artifact reads the current run's artifacts.
                        let run_id = inputs("run-id")
                            .filter(|r| !r.is_empty())
                            .unwrap_or_else(|| event.run_id.to_string());
                        let store = self.artifacts.path().join(&run_id).join(&name);
                        let target = workspace.join(inputs("path").unwrap_or_default());
                        if store.is_dir() {
                            copy_tree(&store, &target);
                            StepOutcome::Emulated
                        } else {
                            StepOutcome::Failed(format!("run {run_id} has no artifact {name}"))
                        }
                    }
                    other => panic!("the test does not emulate the action {other}: add it"),
                };
                (outcome, String::new())
            } else {
                let script = substitute(str_at(step, "run").expect("a step uses or runs"), &lookup);
                if calls_github(&script) {
                    assert!(
                        meshctl_commands(&script).is_empty(),
                        "step `{label}` mixes meshctl with GitHub's API; keep them apart so meshctl's part is tested"
                    );
                    for name in outputs_written(&script) {
                        let answer = github_answers.get(name.as_str()).unwrap_or_else(|| {
                            panic!("step `{label}` writes output `{name}`: give GitHub's answer")
                        });
                        outputs.insert(name, answer.clone());
                    }
                    (StepOutcome::AnsweredByGithub, script)
                } else {
                    let files = run.runner.path().join("files");
                    std::fs::create_dir_all(&files).unwrap();
                    let n = run.steps.len();
                    let script_file = files.join(format!("step-{n}.sh"));
                    let output_file = files.join(format!("output-{n}"));
                    let summary_file = files.join(format!("summary-{n}"));
                    let env_file = files.join(format!("env-{n}"));
                    std::fs::write(&script_file, &script).unwrap();
                    for file in [&output_file, &summary_file, &env_file] {
                        std::fs::write(file, "").unwrap();
                    }
                    let path = format!(
                        "{}:/usr/local/bin:/usr/bin:/bin",
                        self.meshctl_dir.display()
                    );
                    let result = Command::new("bash")
                        .args(["--noprofile", "--norc", "-eo", "pipefail"])
                        .arg(&script_file)
                        .current_dir(&workspace)
                        .env_clear()
                        .env("PATH", path)
                        .env("HOME", &home)
                        .env("CI", "true")
                        .env("GITHUB_ACTIONS", "true")
                        .env("GITHUB_WORKSPACE", &workspace)
                        .env("GITHUB_REPOSITORY", REPOSITORY)
                        .env("GITHUB_SHA", &event.sha)
                        .env("GITHUB_EVENT_NAME", event.name)
                        .env("GITHUB_RUN_ID", event.run_id.to_string())
                        .env("GITHUB_WORKFLOW", self.workflow.name())
                        .env("GITHUB_OUTPUT", &output_file)
                        .env("GITHUB_STEP_SUMMARY", &summary_file)
                        .env("GITHUB_ENV", &env_file)
                        .env("RUNNER_TEMP", &temp)
                        .env("RUNNER_OS", "Linux")
                        .envs(self.machine_env.iter().cloned())
                        .envs(exported.iter().cloned())
                        .envs(step_env.iter().cloned())
                        .output()
                        .unwrap();
                    outputs = read_outputs(&output_file);
                    let log = format!(
                        "$ {script}\nstdout:\n{}\nstderr:\n{}",
                        text(&result.stdout),
                        text(&result.stderr)
                    );
                    (StepOutcome::Ran(result.status.code().unwrap_or(-1)), log)
                }
            };
            if matches!(outcome, StepOutcome::Ran(code) if code != 0)
                || matches!(outcome, StepOutcome::Failed(_))
            {
                run.failed = true;
            }
            if let Some(id) = id {
                run.outputs.insert(id, outputs);
            }
            run.steps.push(StepRecord {
                label,
                outcome,
                log,
            });
        }
        run
    }
}

// ---------------------------------------------------------------------------------------------
// (a) What the workflow must say

#[test]
fn the_example_workflow_uses_oidc_plans_on_pull_requests_applies_the_saved_plan_and_checks_drift_nightly(
) {
    let workflow = Workflow::load();
    let source = std::fs::read_to_string(Path::new(EXAMPLE).join(WORKFLOW_FILE)).unwrap();

    // Triggers: pull requests, merges to main, a nightly schedule.
    let on = map_at(&workflow.root, "on").expect("`on:` is a mapping");
    assert!(
        on.contains_key("pull_request"),
        "plans run on pull requests"
    );
    let pushed = map_at(on, "push")
        .and_then(|p| p.get("branches"))
        .and_then(Value::as_sequence)
        .expect("applies run on push to branches");
    assert!(
        pushed.iter().any(|b| b.as_str() == Some("main")),
        "applies run on the merge to main"
    );
    let crons: Vec<&str> = on
        .get("schedule")
        .and_then(Value::as_sequence)
        .expect("drift runs on a schedule")
        .iter()
        .filter_map(|s| s.as_mapping().and_then(|m| str_at(m, "cron")))
        .collect();
    assert_eq!(crons.len(), 1, "one nightly cron: {crons:?}");

    // No stored keys anywhere: the only credentials are the OIDC role's.
    for forbidden in [
        "aws-access-key-id",
        "aws-secret-access-key",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "secrets.",
    ] {
        assert!(
            !source.contains(forbidden),
            "the example must not use `{forbidden}`: the jobs assume a role through OIDC"
        );
    }
    let top_permissions = workflow.root.get("permissions");
    assert!(
        top_permissions.and_then(Value::as_mapping).is_some_and(Mapping::is_empty),
        "the workflow grants nothing by default (`permissions: {{}}`), each job asks for what it needs"
    );
    for name in workflow.job_names() {
        let job = workflow.job(&name);
        let permissions = map_at(job, "permissions")
            .unwrap_or_else(|| panic!("job {name} states its permissions"));
        assert_eq!(
            str_at(permissions, "id-token"),
            Some("write"),
            "job {name} needs `id-token: write` for OIDC"
        );
        let credentials: Vec<&Mapping> = steps(job)
            .into_iter()
            .filter(|s| action(s) == Some("aws-actions/configure-aws-credentials"))
            .collect();
        assert_eq!(credentials.len(), 1, "job {name} configures AWS once");
        assert!(
            with(credentials[0], "role-to-assume").is_some_and(|r| r.contains("${{ vars.")),
            "job {name} assumes a role named by a repository or environment variable"
        );
        // Credentials come before meshctl runs.
        let all = steps(job);
        let credentials_at = all
            .iter()
            .position(|s| action(s) == Some("aws-actions/configure-aws-credentials"))
            .unwrap();
        let first_meshctl = all
            .iter()
            .position(|s| str_at(s, "run").is_some_and(|r| !meshctl_commands(r).is_empty()))
            .unwrap_or_else(|| panic!("job {name} runs meshctl"));
        assert!(
            credentials_at < first_meshctl,
            "job {name} configures AWS before running meshctl"
        );
    }

    // Every script parses as bash, those the test cannot run against GitHub included.
    for name in workflow.job_names() {
        for step in steps(workflow.job(&name)) {
            let Some(script) = str_at(step, "run") else {
                continue;
            };
            let script = substitute(script, &|_| Val::Str("x".to_string()));
            let checked = Command::new("bash")
                .args(["-n", "-c", &script])
                .output()
                .unwrap();
            assert!(
                checked.status.success(),
                "job {name}, step `{}` is not valid bash: {}",
                step_label(step),
                text(&checked.stderr)
            );
        }
    }

    // The plan job: a saved plan in Markdown, uploaded under the name the apply job downloads.
    let plan_job = workflow.job("plan");
    let plans = job_meshctl_commands(plan_job);
    assert_eq!(plans.len(), 1, "the plan job runs one meshctl: {plans:?}");
    let plan = &plans[0];
    assert_eq!(plan[1], "plan");
    assert_eq!(flag(plan, "--format"), Some("markdown"), "{plan:?}");
    let plan_file = flag(plan, "--out").expect("the plan is saved with --out");
    let upload = steps(plan_job)
        .into_iter()
        .find(|s| action(s) == Some("actions/upload-artifact"))
        .expect("the plan job uploads the saved plan");
    assert_eq!(
        with(upload, "path"),
        Some(plan_file),
        "the saved plan is the artifact"
    );
    let permissions = map_at(plan_job, "permissions").unwrap();
    assert_eq!(str_at(permissions, "pull-requests"), Some("write"));
    let comment = steps(plan_job)
        .into_iter()
        .filter_map(|s| str_at(s, "run"))
        .find(|r| calls_github(r) && r.contains("comments"))
        .expect("the plan job posts a comment");
    assert!(
        comment.contains("--method PATCH") && comment.contains("<!-- meshctl-plan:"),
        "the comment is found by its marker and updated, one per environment:\n{comment}"
    );

    // The apply job: exactly the downloaded plan, never a new one.
    let apply_job = workflow.job("apply");
    let applies = job_meshctl_commands(apply_job);
    assert_eq!(
        applies.len(),
        1,
        "the apply job runs one meshctl: {applies:?}"
    );
    let apply = &applies[0];
    assert_eq!(apply[1], "apply", "{apply:?}");
    let download = steps(apply_job)
        .into_iter()
        .find(|s| action(s) == Some("actions/download-artifact"))
        .expect("the apply job downloads the reviewed plan");
    assert_eq!(
        with(download, "name"),
        with(upload, "name"),
        "the apply job downloads the artifact the plan job uploaded"
    );
    let reviewed_run =
        with(download, "run-id").expect("the plan comes from the pull request's run");
    let answering_step = reviewed_run
        .trim()
        .strip_prefix("${{ steps.")
        .and_then(|r| r.split_once(".outputs."))
        .map(|(id, _)| id)
        .expect("run-id is a step's output");
    assert!(
        steps(apply_job)
            .iter()
            .any(|s| str_at(s, "id") == Some(answering_step)),
        "run-id comes from a step of the apply job"
    );
    let downloaded = format!(
        "{}/{}",
        with(download, "path").expect("download path"),
        Path::new(plan_file).file_name().unwrap().to_string_lossy()
    );
    assert_eq!(
        apply.get(2).map(String::as_str),
        Some(downloaded.as_str()),
        "apply is given the downloaded plan file: {apply:?}"
    );
    for word in ["--auto-approve", "--target", "--refresh"] {
        assert!(
            !apply.iter().any(|w| w.starts_with(word)),
            "apply of a saved plan takes no {word}: {apply:?}"
        );
    }
    assert_eq!(
        flag(apply, "-f"),
        flag(plan, "-f"),
        "apply checks the stack file the plan was made from"
    );
    assert_eq!(
        flag(apply, "--var-file"),
        flag(plan, "--var-file"),
        "and the same var file"
    );
    let concurrency =
        map_at(apply_job, "concurrency").expect("the apply job has a concurrency group");
    assert!(
        str_at(concurrency, "group").is_some_and(|g| g.contains("matrix.environment")),
        "one group per environment: {concurrency:?}"
    );
    assert_eq!(
        concurrency
            .get("cancel-in-progress")
            .and_then(Value::as_bool),
        Some(false),
        "an apply is never cancelled half-way by the next one"
    );
    for other in ["plan", "drift"] {
        let group = map_at(workflow.job(other), "concurrency").and_then(|c| str_at(c, "group"));
        assert_ne!(
            group,
            str_at(concurrency, "group"),
            "{other} stays out of the apply group (a pending job there would cancel a pending apply)"
        );
    }
    let keeps_errored_state = steps(apply_job).into_iter().any(|s| {
        action(s) == Some("actions/upload-artifact")
            && str_at(s, "if").is_some_and(|c| c.contains("failure()"))
            && with(s, "path") == Some("meshctl-errored-state-*.json")
    });
    assert!(
        keeps_errored_state,
        "a failed apply keeps meshctl's errored-state file: the runner's disk is gone after the job"
    );
    assert!(
        str_at(apply_job, "environment").is_some(),
        "the apply job runs in a GitHub environment, whose OIDC subject the apply role trusts"
    );

    // The drift job: exit 2 opens the issue, any other non-zero exit fails the job.
    let drift_job = workflow.job("drift");
    let drifts = job_meshctl_commands(drift_job);
    assert_eq!(drifts.len(), 1, "{drifts:?}");
    assert_eq!(drifts[0][1], "drift");
    let drift_step = steps(drift_job)
        .into_iter()
        .find(|s| str_at(s, "run").is_some_and(|r| !meshctl_commands(r).is_empty()))
        .unwrap();
    let drift_id = str_at(drift_step, "id").expect("the drift step has an id");
    for (code, opens_issue, fails) in [
        ("0", false, false),
        ("2", true, false),
        ("1", false, true),
        ("3", false, true),
    ] {
        let lookup = |path: &str| {
            if path == format!("steps.{drift_id}.outputs.code") {
                Val::Str(code.to_string())
            } else {
                Val::Null
            }
        };
        let chosen: Vec<String> = steps(drift_job)
            .into_iter()
            .skip_while(|s| str_at(s, "id") != Some(drift_id))
            .skip(1)
            .filter(|s| s.contains_key("if"))
            .filter(|s| evaluate_if(str_at(s, "if").unwrap(), &lookup, false))
            .map(step_label)
            .collect();
        let issue = chosen.iter().any(|l| l.contains("issue"));
        let failing = chosen.iter().any(|l| l.contains("Fail"));
        assert_eq!(
            (issue, failing),
            (opens_issue, fails),
            "drift exit {code}: steps {chosen:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// (b) The workflow run against the sandbox

/// The ids of the VPCs moto holds tagged with this stack.
fn stack_vpcs(
    rt: &tokio::runtime::Runtime,
    config: &aws_config::SdkConfig,
    stack: &str,
) -> Vec<aws_sdk_ec2::types::Vpc> {
    rt.block_on(async {
        aws_sdk_ec2::Client::new(config)
            .describe_vpcs()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("tag:meshctl:stack")
                    .values(stack)
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .vpcs()
            .to_vec()
    })
}

fn tag<'a>(vpc: &'a aws_sdk_ec2::types::Vpc, key: &str) -> Option<&'a str> {
    vpc.tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// One request to moto's S3 (path style; moto's server takes unsigned requests): the status line
/// and body. The test's own client, independent of meshctl's S3 code.
fn s3_request(endpoint: &str, method: &str, path: &str, body: &str) -> (String, String) {
    use std::io::{Read, Write};
    let address = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, body.to_string())
}

/// The state bucket, made as docs/pipelines.md says: versioned.
fn create_state_bucket(endpoint: &str) {
    let (status, body) = s3_request(
        endpoint,
        "PUT",
        &format!("/{BUCKET}"),
        &format!(
            "<CreateBucketConfiguration><LocationConstraint>{REGION}</LocationConstraint></CreateBucketConfiguration>"
        ),
    );
    assert!(status.contains(" 200"), "create bucket: {status}\n{body}");
    let (status, body) = s3_request(
        endpoint,
        "PUT",
        &format!("/{BUCKET}?versioning"),
        "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>",
    );
    assert!(
        status.contains(" 200"),
        "enable versioning: {status}\n{body}"
    );
}

/// The keys of every object in the state bucket.
fn bucket_keys(endpoint: &str) -> Vec<String> {
    let (status, body) = s3_request(endpoint, "GET", &format!("/{BUCKET}?list-type=2"), "");
    assert!(status.contains(" 200"), "list the bucket: {status}\n{body}");
    body.split("<Key>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</Key>").map(|(key, _)| key.to_string()))
        .collect()
}

/// A copy of the example repository whose stack file a pull request may change.
fn repository_copy(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    copy_tree(Path::new(EXAMPLE), copy.path());
    // The workflow lives where GitHub reads it; the rest of the checkout is the stack and vars.
    let workflows = copy.path().join(".github/workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    std::fs::rename(
        copy.path().join(WORKFLOW_FILE),
        workflows.join(WORKFLOW_FILE),
    )
    .unwrap();
    let stack = copy.path().join("stacks/shop.yaml");
    let source = std::fs::read_to_string(&stack).unwrap();
    std::fs::write(&stack, edit(source)).unwrap();
    copy
}

#[test]
fn the_example_workflow_plans_applies_the_reviewed_plan_and_checks_drift_on_fresh_runners_through_s3(
) {
    let rt = support::runtime();
    let moto = Moto::start().expect("moto_server must be installed: pip install 'moto[server]'");
    let config = rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(moto.url())
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load(),
    );
    create_state_bucket(&moto.url());
    let github = Github {
        workflow: Workflow::load(),
        artifacts: tempfile::tempdir().unwrap(),
        machine_env: vec![
            ("AWS_ENDPOINT_URL".to_string(), moto.url()),
            ("AWS_CONFIG_FILE".to_string(), "/dev/null".to_string()),
            (
                "AWS_SHARED_CREDENTIALS_FILE".to_string(),
                "/dev/null".to_string(),
            ),
            ("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string()),
        ],
        assumed_role_env: vec![
            ("AWS_ACCESS_KEY_ID".to_string(), "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), "testing".to_string()),
            ("AWS_SESSION_TOKEN".to_string(), "testing".to_string()),
        ],
        meshctl_dir: Path::new(env!("CARGO_BIN_EXE_meshctl"))
            .parent()
            .unwrap()
            .to_path_buf(),
    };
    let environments = github.workflow.environments("plan");
    assert_eq!(environments, github.workflow.environments("apply"));
    assert_eq!(environments, github.workflow.environments("drift"));
    let no_answers = BTreeMap::new();
    let main = repository_copy(|s| s);

    // A pull request: each environment planned on its own runner, the plan commented and saved.
    let pr = Event::pull_request(7, "pr7-head", 101);
    assert_eq!(github.workflow.jobs_for(&github, &pr), ["plan"]);
    for environment in &environments {
        let run = github.run_job("plan", &pr, environment, main.path(), &no_answers);
        run.assert_succeeded(&format!("plan of {environment}"));
        let comment = run.file("comment.md");
        assert!(
            comment.starts_with(&format!("<!-- meshctl-plan:{environment} -->")),
            "{comment}"
        );
        assert!(
            comment.contains(
                "**Plan: 2 to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged.**"
            ),
            "{comment}"
        );
        assert_eq!(
            run.step("Post the plan").outcome,
            StepOutcome::AnsweredByGithub
        );
        assert_eq!(run.step("Save the plan").outcome, StepOutcome::Emulated);
        assert_eq!(run.step("Fail when").outcome, StepOutcome::Skipped);
        run.assert_workspace_holds(
            main.path(),
            &["comment.md", "meshctl.plan", "plan.err", "plan.md"],
        );
    }
    assert!(
        bucket_keys(&moto.url())
            .iter()
            .all(|k| !k.ends_with(".lock")),
        "every plan released its lock: {:?}",
        bucket_keys(&moto.url())
    );

    // The merge: each environment applies the plan reviewed in the pull request's run.
    let merge = Event::push("merge-7", 102);
    assert_eq!(github.workflow.jobs_for(&github, &merge), ["apply"]);
    let reviewed = BTreeMap::from([("run-id", pr.run_id.to_string())]);
    for environment in &environments {
        let run = github.run_job("apply", &merge, environment, main.path(), &reviewed);
        run.assert_succeeded(&format!("apply of {environment}"));
        let vpcs = stack_vpcs(&rt, &config, &format!("shop-{environment}"));
        assert_eq!(vpcs.len(), 1, "one VPC of {environment}");
        assert_eq!(tag(&vpcs[0], "environment"), Some(environment.as_str()));
        run.assert_workspace_holds(main.path(), &["reviewed/meshctl.plan"]);
    }
    let keys = bucket_keys(&moto.url());
    for environment in &environments {
        assert!(
            keys.iter()
                .any(|k| k == &format!("shop/{environment}.state")),
            "the state of {environment} is in S3: {keys:?}"
        );
    }

    // Another pull request, on another fresh runner, sees the applied state through S3: no changes.
    let unchanged = Event::pull_request(8, "pr8-head", 103);
    for environment in &environments {
        let run = github.run_job("plan", &unchanged, environment, main.path(), &no_answers);
        run.assert_succeeded("plan with nothing to change");
        let comment = run.file("comment.md");
        assert!(
            comment.contains("**No changes. 2 resources are up to date.**"),
            "{comment}"
        );
    }

    // Nightly: no drift, no issue, a green job.
    let night = Event::schedule(104);
    assert_eq!(github.workflow.jobs_for(&github, &night), ["drift"]);
    for environment in &environments {
        let run = github.run_job("drift", &night, environment, main.path(), &no_answers);
        run.assert_succeeded(&format!("drift of {environment}"));
        assert_eq!(run.output("drift", "code"), Some("0"), "{}", run.log());
        run.assert_workspace_holds(main.path(), &["drift.md"]);
        assert_eq!(run.step("drift issue").outcome, StepOutcome::Skipped);
        assert_eq!(run.step("Fail when").outcome, StepOutcome::Skipped);
    }

    // Someone retags prod's VPC by hand: drift exits 2, the issue is opened, the job stays green.
    let prod = environments.last().unwrap();
    let vpc_id = stack_vpcs(&rt, &config, &format!("shop-{prod}"))[0]
        .vpc_id()
        .unwrap()
        .to_string();
    rt.block_on(
        aws_sdk_ec2::Client::new(&config)
            .create_tags()
            .resources(&vpc_id)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("environment")
                    .value("hand-edited")
                    .build(),
            )
            .send(),
    )
    .unwrap();
    let run = github.run_job(
        "drift",
        &Event::schedule(105),
        prod,
        main.path(),
        &no_answers,
    );
    run.assert_succeeded("drift that found drift");
    assert_eq!(run.output("drift", "code"), Some("2"), "{}", run.log());
    assert!(
        run.file("drift.md").contains("vpc.main"),
        "{}",
        run.file("drift.md")
    );
    assert_eq!(
        run.step("drift issue").outcome,
        StepOutcome::AnsweredByGithub
    );
    assert_eq!(run.step("Fail when").outcome, StepOutcome::Skipped);

    // A check that cannot read the state exits 1: here a new environment, `qa`, whose state
    // does not exist yet. No issue, a failed job.
    let with_qa = repository_copy(|s| s);
    std::fs::write(
        with_qa.path().join("envs/qa.yaml"),
        "env: qa\ncidr: 10.2.0.0/16\n",
    )
    .unwrap();
    let run = github.run_job(
        "drift",
        &Event::schedule(106),
        "qa",
        with_qa.path(),
        &no_answers,
    );
    assert!(run.failed, "a failed check fails the job:\n{}", run.log());
    assert_eq!(run.output("drift", "code"), Some("1"), "{}", run.log());
    assert_eq!(run.step("drift issue").outcome, StepOutcome::Skipped);
    assert_eq!(run.step("Fail when").outcome, StepOutcome::Ran(1));

    // Two pull requests planned against the same state; the second merged after the first was
    // applied: meshctl refuses its plan, and the world keeps the first one's change.
    let staging = environments.first().unwrap();
    let owner = |who: &'static str| {
        move |stack: String| {
            stack.replace(
                "team: \"${var.team}\" }",
                &format!("team: \"${{var.team}}\", owner: {who} }}"),
            )
        }
    };
    let team_a = repository_copy(owner("team-a"));
    let team_b = repository_copy(owner("team-b"));
    let pr_a = Event::pull_request(9, "pr9-head", 107);
    let pr_b = Event::pull_request(10, "pr10-head", 108);
    github
        .run_job("plan", &pr_a, staging, team_a.path(), &no_answers)
        .assert_succeeded("plan of team a");
    github
        .run_job("plan", &pr_b, staging, team_b.path(), &no_answers)
        .assert_succeeded("plan of team b");
    let reviewed_a = BTreeMap::from([("run-id", pr_a.run_id.to_string())]);
    github
        .run_job(
            "apply",
            &Event::push("merge-9", 109),
            staging,
            team_a.path(),
            &reviewed_a,
        )
        .assert_succeeded("apply of team a");
    let reviewed_b = BTreeMap::from([("run-id", pr_b.run_id.to_string())]);
    let run = github.run_job(
        "apply",
        &Event::push("merge-10", 110),
        staging,
        team_b.path(),
        &reviewed_b,
    );
    assert!(run.failed, "the overtaken plan is refused:\n{}", run.log());
    assert_eq!(
        run.step("Keep the records").outcome,
        StepOutcome::Emulated,
        "after a failure the errored-state step runs (and finds no file: nothing was changed)"
    );
    let refusal = &run.step("meshctl apply").log;
    assert!(refusal.contains("serial"), "meshctl says why: {refusal}");
    let vpcs = stack_vpcs(&rt, &config, &format!("shop-{staging}"));
    let keys = bucket_keys(&moto.url());
    assert!(
        keys.iter().all(|k| !k.ends_with(".lock")),
        "every job released its lock: {keys:?}"
    );
    assert_eq!(
        tag(&vpcs[0], "owner"),
        Some("team-a"),
        "the refused plan changed nothing"
    );

    // A pull request that changes a var of staging (its team): without the label meshctl refuses
    // to plan (the vars differ from the last apply's), and the comment says why; labelled
    // `meshctl:var-change`, the plan shows the warning, and the merge applies it.
    let var_change = repository_copy(owner("team-a"));
    let var_file = var_change.path().join(format!("envs/{staging}.yaml"));
    let vars = std::fs::read_to_string(&var_file).unwrap();
    std::fs::write(&var_file, format!("{vars}team: payments\n")).unwrap();
    let unlabelled = Event::pull_request(11, "pr11-head", 111);
    let run = github.run_job("plan", &unlabelled, staging, var_change.path(), &no_answers);
    assert!(run.failed, "a var change needs the label:\n{}", run.log());
    assert_eq!(run.output("plan", "code"), Some("1"), "{}", run.log());
    let comment = run.file("comment.md");
    assert!(
        comment.contains("failed") && comment.contains("`team` has another value"),
        "the comment says why there is no plan: {comment}"
    );
    assert_eq!(run.step("Save the plan").outcome, StepOutcome::Skipped);
    assert_eq!(run.step("Fail when").outcome, StepOutcome::Ran(1));
    let labelled = Event::pull_request(11, "pr11-head", 112).labelled("meshctl:var-change");
    let run = github.run_job("plan", &labelled, staging, var_change.path(), &no_answers);
    run.assert_succeeded("labelled plan of a var change");
    let comment = run.file("comment.md");
    assert!(
        comment.contains("> **warning**:") && comment.contains("`team` has another value"),
        "the reviewer sees the var change: {comment}"
    );
    let reviewed = BTreeMap::from([("run-id", labelled.run_id.to_string())]);
    github
        .run_job(
            "apply",
            &Event::push("merge-11", 113),
            staging,
            var_change.path(),
            &reviewed,
        )
        .assert_succeeded("apply of the var change");
    let vpcs = stack_vpcs(&rt, &config, &format!("shop-{staging}"));
    assert_eq!(tag(&vpcs[0], "team"), Some("payments"));
}
