//! Several environments from one stack: `${var.x}` in `stack` and `backend` gives each var file
//! its own state, in `load` (plan, apply) and in `read_header_with` (drift, refresh, state) alike,
//! and a var the header names but nobody declares is reported where it is written.

use meshctl_model::stack::{Backend, Header};
use meshctl_model::{load, read_header_with, Diagnostic, SourceFile, VarOverrides};

const STACK: &str = "\
stack: shop-${var.env}
region: ${var.region}
vars:
  env: dev
  region: us-east-1
backend:
  s3:
    bucket: acme-meshctl-state
    key: meshctl/${var.env}.json
    region: us-east-1
resources: []
";

fn var_file(name: &str, text: &str) -> VarOverrides {
    let mut overrides = VarOverrides::default();
    overrides
        .add_file(&SourceFile::new(name, text))
        .expect("a valid var file");
    overrides
}

/// The header `load` gives (what plan and apply use), and the one `read_header_with` gives (what
/// drift, refresh and the state commands use): they must name the same state.
fn headers(stack: &str, overrides: &VarOverrides) -> (Header, Header) {
    let source = SourceFile::new("stack.yaml", stack);
    let loaded = load(&source, overrides);
    assert!(
        !loaded.has_errors(),
        "{:?}",
        codes_and_places(&loaded.diagnostics)
    );
    let from_load = loaded.stack.expect("loaded").header;
    let from_header = read_header_with(&source, overrides).expect("header reads");
    assert_eq!(from_load, from_header);
    (from_load, from_header)
}

fn s3_key(header: &Header) -> &str {
    match &header.backend {
        Some(Backend::S3(s3)) => &s3.key,
        other => panic!("expected an s3 backend, found {other:?}"),
    }
}

/// A diagnostic's code, field path and line:column.
type Place = (String, String, Option<(u32, u32)>);

fn codes_and_places(diagnostics: &[Diagnostic]) -> Vec<Place> {
    diagnostics
        .iter()
        .map(|d| {
            (
                d.code.clone(),
                d.path.as_ref().map(ToString::to_string).unwrap_or_default(),
                d.span.map(|s| (s.line, s.col)),
            )
        })
        .collect()
}

#[test]
fn each_var_file_names_its_own_stack_and_state_key() {
    let (staging, _) = headers(STACK, &var_file("staging.yaml", "env: staging\n"));
    let (prod, _) = headers(
        STACK,
        &var_file("prod.yaml", "env: prod\nregion: eu-west-1\n"),
    );
    assert_eq!(staging.stack, "shop-staging");
    assert_eq!(s3_key(&staging), "meshctl/staging.json");
    assert_eq!(prod.stack, "shop-prod");
    assert_eq!(prod.region, "eu-west-1");
    assert_eq!(s3_key(&prod), "meshctl/prod.json");
    // Without a var file, the stack's own `vars` decide.
    let (dev, _) = headers(STACK, &VarOverrides::default());
    assert_eq!(
        (dev.stack.as_str(), s3_key(&dev)),
        ("shop-dev", "meshctl/dev.json")
    );
}

#[test]
fn a_var_chooses_the_local_state_directory() {
    let stack = "stack: shop\nregion: us-east-1\nvars: { env: dev }\nbackend:\n  local: state/${var.env}\nresources: []\n";
    let (staging, _) = headers(stack, &var_file("staging.yaml", "env: staging\n"));
    assert_eq!(
        staging.backend,
        Some(Backend::Local("state/staging".into()))
    );
    let mut prod = VarOverrides::default();
    prod.set("env", "prod");
    let (prod, _) = headers(stack, &prod);
    assert_eq!(prod.backend, Some(Backend::Local("state/prod".into())));
}

#[test]
fn an_undefined_var_in_the_backend_is_located_for_every_command() {
    let stack = STACK.replace("meshctl/${var.env}.json", "meshctl/${var.enviroment}.json");
    let source = SourceFile::new("stack.yaml", stack.as_str());
    let expected = vec![(
        "undefined-var".to_string(),
        "backend.s3.key".to_string(),
        Some((9, 18)),
    )];
    let loaded = load(&source, &VarOverrides::default());
    assert_eq!(codes_and_places(&loaded.diagnostics), expected);
    assert_eq!(loaded.diagnostics[0].file.as_deref(), Some("stack.yaml"));
    let errors = read_header_with(&source, &VarOverrides::default()).expect_err("refused");
    assert_eq!(codes_and_places(&errors), expected);
    assert_eq!(errors[0].file.as_deref(), Some("stack.yaml"));
}

#[test]
fn an_output_in_the_header_is_refused_where_it_is_written() {
    let stack = "stack: shop\nregion: us-east-1\nbackend:\n  local: state/${vpc.main.id}\nresources:\n  - kind: vpc\n    name: main\n    cidr: 10.0.0.0/16\n";
    let loaded = load(
        &SourceFile::new("stack.yaml", stack),
        &VarOverrides::default(),
    );
    assert_eq!(
        codes_and_places(&loaded.diagnostics),
        [(
            "output-in-header".to_string(),
            "backend.local".to_string(),
            Some((4, 16))
        )]
    );
}
