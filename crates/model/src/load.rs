//! Loading a stack: YAML → spanned tree → vars substituted (`vars`) → typed resources → every check.
//! All problems of a file are reported in one run; nothing here panics on any input.

use crate::de::{closest, DeError, NodeDeserializer, Shape, Sink};
use crate::diagnostic::{sort_and_dedup, Diagnostic};
use crate::kinds::{Kind, Spec};
use crate::lifecycle;
use crate::path::{FieldPath, Segment};
use crate::span::SourceFile;
use crate::stack::{is_resource_name, Address, Header, Resource, Stack, StackOutput};
use crate::validate;
use crate::vars::{self, VarOverrides};
use crate::yaml::{self, Entry, Node, NodeKind};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

/// Keys of a resource entry that every kind shares; the kind's own structure reads the rest.
pub const ENVELOPE_KEYS: &[&str] = &[
    "kind",
    "name",
    "import",
    "depends_on",
    "lifecycle",
    "prevent_destroy",
];
const HEADER_SKIPPED: &[&str] = &["vars", "resources", "outputs"];
/// The fields of `Header`.
const HEADER_FIELDS: &[&str] = &["stack", "region", "kube", "backend"];
/// Bounds the recovery loop of one value: each round sets aside one bad value and reads again.
const MAX_RECOVERY_ROUNDS: usize = 64;

/// The result of loading: the stack when there were no errors, and every diagnostic.
pub struct Loaded {
    pub stack: Option<Stack>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Loads and validates a stack file.
pub fn load(source: &SourceFile, overrides: &VarOverrides) -> Loaded {
    let mut diags = Vec::new();
    let stack = load_inner(source, overrides, &mut diags);
    if diags.iter().any(|d| d.span.is_none() && d.path.is_some()) {
        // Early exits leave some diagnostics with only a path; the raw document locates them.
        if let Ok(document) = yaml::parse_file(source) {
            locate_all(&document, &mut diags);
        }
    }
    for d in &mut diags {
        if d.file.is_none() {
            d.file = Some(source.name.clone());
        }
    }
    sort_and_dedup(&mut diags);
    crate::limits::cap_per_code(&mut diags);
    let has_errors = diags.iter().any(Diagnostic::is_error);
    Loaded {
        stack: stack.filter(|_| !has_errors),
        diagnostics: diags,
    }
}

fn load_inner(
    source: &SourceFile,
    overrides: &VarOverrides,
    diags: &mut Vec<Diagnostic>,
) -> Option<Stack> {
    let mut root = match yaml::parse_file(source) {
        Ok(root) => root,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    if !matches!(root.kind, NodeKind::Map(_)) {
        diags.push(
            Diagnostic::error(
                "type-mismatch",
                format!("a stack file is a mapping, found {}", root.describe()),
            )
            .with_span(root.span)
            .help("start with `stack: NAME`, `region: ...` and `resources:`"),
        );
        return None;
    }

    validate::secrets::refuse_static_keys(&mut root, diags);

    // Vars apply everywhere but in `vars` itself, the header included (`region: ${var.region}`).
    let vars = vars::collect_vars(&root, overrides, diags);
    if !vars::substitute_entries(&mut root, &vars, |_| true, diags) {
        // Like the parser's limits, this stops the run: what follows would be read from a
        // document only partly substituted.
        return None;
    }
    // Values that arrived through vars (--var, var files) are checked for keys too.
    validate::secrets::refuse_static_keys(&mut root, diags);

    let header_read = read_recovering(
        &header_view(&root),
        &FieldPath::root(),
        HEADER_SKIPPED,
        diags,
        false,
        |de| Header::deserialize(de),
    );
    let header = header_read.value;
    if let Some(header) = &header {
        check_header(header, diags);
    }
    // A key reported as a likely typo of `resources` already explains its absence.
    let typo = header_read
        .typos
        .contains(&FieldPath::root().key("resources"));
    if root.get("resources").is_none() {
        if typo {
            return None;
        }
        diags.push(
            Diagnostic::error("missing-field", "missing required field `resources`")
                .at(FieldPath::root())
                .with_span(root.span)
                .help("add `resources:` with the list of resources of this stack"),
        );
        return None;
    }

    let read = read_resources(&root, diags);
    let outputs = read_outputs(&root, diags);
    let mut stack = Stack {
        header: header?,
        resources: read.resources,
        outputs,
        vars: vars::as_json(&vars),
        document: root,
        source: source.clone(),
    };
    validate::local(&stack, &read.recovered, diags);
    crate::limits::bound(diags);
    crate::link::link(&mut stack, &read.broken, diags);
    crate::limits::bound(diags);
    validate::cross::check(&stack, &read.recovered, diags);
    locate_all(&stack.document, diags);
    Some(stack)
}

/// The document's mapping with only what the header reads: the values of other keys are never
/// read (an unknown key is reported by name), so recovering from a header error does not copy the
/// resources.
fn header_view(root: &Node) -> Node {
    let entries = root
        .entries()
        .iter()
        .map(|e| Entry {
            key: e.key.clone(),
            key_span: e.key_span,
            value: if HEADER_FIELDS.contains(&e.key.as_str()) {
                e.value.clone()
            } else {
                Node::new(NodeKind::Null, e.value.span)
            },
        })
        .collect();
    Node::new(NodeKind::Map(entries), root.span)
}

/// Reads a typed value, reporting an error and setting the bad value aside until it reads, so that
/// every independent problem in the value is reported in one run.
fn read_with_recovery<T>(
    node: &Node,
    path: &FieldPath,
    skip: &[&str],
    diags: &mut Vec<Diagnostic>,
    read: impl Fn(&NodeDeserializer) -> Result<T, DeError>,
) -> Option<T> {
    read_recovering(node, path, skip, diags, false, read).value
}

/// What `read_recovering` read.
struct Recovered<T> {
    value: Option<T>,
    /// Some value had to be set aside: `value` holds defaults where the bad values were.
    recovered: bool,
    /// `mapping.field` for each unknown key reported as a likely typo of `field`.
    typos: HashSet<FieldPath>,
    /// What each mapping read as, by path.
    shapes: BTreeMap<FieldPath, Shape>,
}

/// `read_with_recovery`, also telling whether any value had to be set aside (the result then
/// holds defaults where the bad values were, so checks on it would repeat the same problem).
/// `shapes` are recorded only when `record_shapes` is set.
fn read_recovering<T>(
    node: &Node,
    path: &FieldPath,
    skip: &[&str],
    diags: &mut Vec<Diagnostic>,
    record_shapes: bool,
    read: impl Fn(&NodeDeserializer) -> Result<T, DeError>,
) -> Recovered<T> {
    // The value is copied only once a bad value has to be set aside in it.
    let mut work: std::borrow::Cow<Node> = std::borrow::Cow::Borrowed(node);
    let mut set_aside: Vec<FieldPath> = Vec::new();
    let sink = if record_shapes {
        Sink::recording_shapes()
    } else {
        Sink::default()
    };
    let mut result = (None, true);
    for _ in 0..MAX_RECOVERY_ROUNDS {
        let error = match read(&NodeDeserializer::new(&work, path.clone(), &sink).skipping(skip)) {
            Ok(value) => {
                result = (Some(value), !set_aside.is_empty());
                break;
            }
            Err(error) => error,
        };
        let at = error.path.clone().unwrap_or_else(|| path.clone());
        // A required field we set aside ourselves is already reported; its mapping goes next.
        // So is one an unknown key was taken for a typo of: "did you mean" explains it.
        let consequence = error
            .missing_field
            .as_ref()
            .is_some_and(|f| set_aside.contains(&at.key(f)) || sink.suggested(&at, f));
        let mut d = error.into_diagnostic();
        if d.code == "missing-field" {
            d.span = Some(work.locate(&at.strip_prefix(path).unwrap_or_default()));
        }
        if !consequence {
            diags.push(d);
        }
        // Set aside the offending value; a missing field sets aside the mapping that lacks it.
        let relative = at.strip_prefix(path).unwrap_or_default();
        if relative.is_root() {
            break;
        }
        match work.to_mut().find_mut(&relative) {
            Some(bad) if !bad.is_removed() => {
                bad.kind = NodeKind::Removed;
                set_aside.push(at);
            }
            _ => break,
        }
    }
    let (value, recovered) = result;
    let typos = sink.take_suggested();
    let shapes = sink.take_shapes();
    diags.extend(sink.diagnostics.into_inner());
    crate::limits::bound(diags);
    Recovered {
        value,
        recovered,
        typos,
        shapes,
    }
}

/// Whether an error is already reported at the header field `field`.
fn error_at(diags: &[Diagnostic], field: &str) -> bool {
    let at = FieldPath::root().key(field);
    diags
        .iter()
        .any(|d| d.is_error() && d.path.as_ref() == Some(&at))
}

fn check_header(header: &Header, diags: &mut Vec<Diagnostic>) {
    // A var that could not be substituted (undefined, malformed) is already reported at its
    // field; the text left in its place would only add a second error for the same mistake.
    let stack_reported = error_at(diags, "stack");
    let region_reported = error_at(diags, "region");
    if !is_resource_name(&header.stack) && !stack_reported {
        diags.push(
            Diagnostic::error(
                "bad-name",
                format!("`{}` is not a valid stack name", header.stack),
            )
            .at(FieldPath::root().key("stack"))
            .help(
                "stack names are lowercase letters, digits and '-' (at most 63), e.g. moamoa-prod",
            ),
        );
    }
    let region_ok = {
        let parts: Vec<&str> = header.region.split('-').collect();
        parts.len() >= 3
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
            && parts
                .last()
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
    };
    if !region_ok && !region_reported {
        diags.push(
            Diagnostic::error(
                "bad-region",
                format!("`{}` is not an AWS region", header.region),
            )
            .at(FieldPath::root().key("region"))
            .help("write a region code such as ap-northeast-2 or us-east-1"),
        );
    }
    if let Some(kube) = &header.kube {
        let at = FieldPath::root().key("kube");
        match (&kube.from_cluster, &kube.kubeconfig) {
            (Some(_), Some(_)) => diags.push(
                Diagnostic::error("conflicting-fields", "`from_cluster` and `kubeconfig` are two ways to reach the cluster; pick one")
                    .at(at.key("kubeconfig"))
                    .help("keep `from_cluster` to reach the cluster created in this stack, or `kubeconfig` for an existing one"),
            ),
            (None, None) => diags.push(
                Diagnostic::error("missing-field", "`kube` needs `from_cluster` or `kubeconfig`")
                    .at(at.clone())
                    .help("add `from_cluster: <eks_cluster name>`"),
            ),
            _ => {}
        }
        if kube.context.is_some() && kube.kubeconfig.is_none() {
            diags.push(
                Diagnostic::error("conflicting-fields", "`context` applies to a kubeconfig")
                    .at(at.key("context"))
                    .help("remove `context`, or add `kubeconfig`"),
            );
        }
    }
}

/// Why a resource entry produced no resource.
enum Unreadable {
    /// Kind and name are known; the fields had errors.
    Broken(Address),
    /// The kind is unknown or missing; only the name is known.
    UnknownKind(String),
    Unnamed,
}

/// Resources that failed to read, already reported: references to them are not reported again.
/// Holds `kind.name` addresses, and bare names of entries whose kind is unknown (a reference of
/// any kind to that name may mean them).
#[derive(Default)]
pub(crate) struct Broken(HashSet<String>);

impl Broken {
    fn insert(&mut self, key: String) {
        self.0.insert(key);
    }

    pub(crate) fn contains(&self, address: &Address) -> bool {
        self.0.contains(&address.to_string()) || self.0.contains(&address.name)
    }
}

/// Resources as read: the good ones, those that failed to read, and the positions of those read
/// only after setting values aside.
#[derive(Default)]
struct ReadResources {
    resources: Vec<Resource>,
    broken: Broken,
    recovered: HashSet<usize>,
}

fn read_resources(root: &Node, diags: &mut Vec<Diagnostic>) -> ReadResources {
    let path = FieldPath::root().key("resources");
    let mut read = ReadResources::default();
    let Some(list) = root.get("resources") else {
        return read;
    };
    let items = match &list.kind {
        NodeKind::Seq(items) => items,
        NodeKind::Null => return read,
        _ => {
            diags.push(
                Diagnostic::error(
                    "type-mismatch",
                    format!("`resources` must be a list, found {}", list.describe()),
                )
                .at(path)
                .help("write one `- kind: ...` entry per resource"),
            );
            return read;
        }
    };
    for (index, item) in items.iter().enumerate() {
        match read_resource(item, index, diags) {
            Ok((resource, recovered)) => {
                // A value set aside before reading (a static key) makes the resource incomplete
                // too: its checks would only repeat that problem.
                if recovered || item.has_removed() {
                    read.recovered.insert(index);
                }
                read.resources.push(resource);
            }
            Err(Unreadable::Broken(address)) => read.broken.insert(address.to_string()),
            Err(Unreadable::UnknownKind(name)) => read.broken.insert(name),
            Err(Unreadable::Unnamed) => {}
        }
        crate::limits::bound(diags);
    }
    read
}

/// `outputs:` as written: a mapping of output names to `{ value, description }`. The `${…}` in
/// each value are checked by the `outputs` edge rule (`link::outputs`), as in resources.
fn read_outputs(root: &Node, diags: &mut Vec<Diagnostic>) -> Vec<StackOutput> {
    /// One output's fields.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Fields {
        value: String,
        #[serde(default)]
        description: Option<String>,
    }
    let path = FieldPath::root().key("outputs");
    let Some(node) = root.get("outputs") else {
        return Vec::new();
    };
    let entries = match &node.kind {
        NodeKind::Map(entries) => entries,
        NodeKind::Null => return Vec::new(),
        _ => {
            diags.push(
                Diagnostic::error(
                    "type-mismatch",
                    format!("`outputs` must be a mapping, found {}", node.describe()),
                )
                .at(path)
                .with_span(node.span)
                .help("write `outputs:` with one `NAME: { value: \"${kind.name.output}\", description: ... }` per output"),
            );
            return Vec::new();
        }
    };
    let mut outputs = Vec::new();
    for entry in entries {
        let at = path.key(&entry.key);
        if !StackOutput::is_name(&entry.key) {
            diags.push(
                Diagnostic::error(
                    "bad-name",
                    format!("`{}` is not a valid output name", entry.key),
                )
                .at(at)
                .with_span(entry.key_span)
                .help("use letters, digits, `_` and `-` (at most 128), e.g. alb_dns_name"),
            );
            continue;
        }
        let read = read_with_recovery(&entry.value, &at, &[], diags, |de| Fields::deserialize(de));
        if let Some(Fields { value, description }) = read {
            outputs.push(StackOutput {
                name: entry.key.clone(),
                value,
                description,
                path: at,
            });
        }
        crate::limits::bound(diags);
    }
    outputs
}

/// One resource; on failure, its address when kind and name were readable.
fn read_resource(
    item: &Node,
    index: usize,
    diags: &mut Vec<Diagnostic>,
) -> Result<(Resource, bool), Unreadable> {
    let path = FieldPath::resource(index);
    if !matches!(item.kind, NodeKind::Map(_)) {
        diags.push(
            Diagnostic::error(
                "type-mismatch",
                format!("a resource is a mapping, found {}", item.describe()),
            )
            .at(path)
            .with_span(item.span)
            .help("start the entry with `- kind: KIND` and `name: NAME`"),
        );
        return Err(Unreadable::Unnamed);
    }
    let kind = match item.get("kind") {
        None => {
            diags.push(
                Diagnostic::error("missing-field", "missing required field `kind`")
                    .at(path.clone())
                    .with_span(item.span)
                    .help(format!(
                        "add `kind:`, one of: {}",
                        Kind::names().collect::<Vec<_>>().join(", ")
                    )),
            );
            None
        }
        Some(node) => match node.as_str().and_then(Kind::parse) {
            Some(kind) => Some(kind),
            None => {
                let written = node.as_str().unwrap_or("");
                let help = match closest(written, Kind::names()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("kinds: {}", Kind::names().collect::<Vec<_>>().join(", ")),
                };
                diags.push(
                    Diagnostic::error("unknown-kind", format!("unknown kind `{written}`"))
                        .at(path.key("kind"))
                        .with_span(node.span)
                        .help(help),
                );
                None
            }
        },
    };
    let name = match item.get("name") {
        None => {
            diags.push(
                Diagnostic::error("missing-field", "missing required field `name`")
                    .at(path.clone())
                    .with_span(item.span)
                    .help("add `name:`, unique among resources of this kind"),
            );
            None
        }
        Some(node) => match node.as_str() {
            Some(name) if is_resource_name(name) => Some(name.to_string()),
            _ => {
                diags.push(
                    Diagnostic::error("bad-name", format!("`{}` is not a valid resource name", node.as_str().unwrap_or("")))
                        .at(path.key("name"))
                        .with_span(node.span)
                        .help("resource names are lowercase letters, digits and '-' (at most 63), so they can also name Kubernetes objects"),
                );
                None
            }
        },
    };
    let envelope = read_with_recovery(item, &path, &[], diags, |de| {
        use serde::de::Deserializer as _;
        de.deserialize_map(EnvelopeVisitor)
    });
    let (kind, name) = match (kind, name) {
        (Some(kind), Some(name)) => (kind, name),
        (None, Some(name)) => return Err(Unreadable::UnknownKind(name)),
        _ => return Err(Unreadable::Unnamed),
    };
    // Only `lifecycle.ignore_changes` names fields to check against what the spec read as.
    let names_fields = item
        .get("lifecycle")
        .is_some_and(|l| l.get("ignore_changes").is_some());
    let Recovered {
        value: spec,
        recovered,
        shapes,
        ..
    } = read_recovering(item, &path, ENVELOPE_KEYS, diags, names_fields, |de| {
        Spec::deserialize(kind, de)
    });
    let Some(spec) = spec else {
        return Err(Unreadable::Broken(Address::new(kind, name)));
    };
    let Envelope {
        import,
        depends_on,
        lifecycle,
        prevent_destroy,
    } = envelope.unwrap_or_default();
    let import = import.and_then(|id| check_import_id(id, item, &path, diags));
    // Shapes by path below the resource, list items by their first one's.
    let mut below = BTreeMap::new();
    for (at, shape) in shapes {
        if let Some(relative) = at.strip_prefix(&path) {
            below.entry(first_items(&relative)).or_insert(shape);
        }
    }
    let written = lifecycle::Written {
        lifecycle,
        prevent_destroy_at_top: prevent_destroy,
    };
    let lifecycle = lifecycle::check(kind, item, &path, written, &below, diags);
    Ok((
        Resource {
            address: Address::new(kind, name),
            index,
            spec,
            import,
            depends_on,
            lifecycle,
            outputs_used: Vec::new(),
            dependencies: Vec::new(),
        },
        recovered,
    ))
}

/// The path with every list index made 0.
fn first_items(path: &FieldPath) -> FieldPath {
    path.segments()
        .iter()
        .fold(FieldPath::root(), |at, segment| match segment {
            Segment::Key(key) => at.key(key),
            Segment::Index(_) => at.index(0),
        })
}

/// The longest `import:` id taken: the longest real one (an ARN, `ZONEID/NAME/TYPE` of a 255
/// character name) is well under it.
const IMPORT_ID_MAX: usize = 1024;

/// The `import:` id as written, if it can name an object: not empty, not over `IMPORT_ID_MAX`,
/// no control characters (it is shown in plans and sent to APIs). Otherwise a diagnostic.
fn check_import_id(
    id: String,
    item: &Node,
    path: &FieldPath,
    diags: &mut Vec<Diagnostic>,
) -> Option<String> {
    let problem = if id.trim().is_empty() {
        Some("is empty".to_string())
    } else if id.chars().count() > IMPORT_ID_MAX {
        Some(format!("is longer than {IMPORT_ID_MAX} characters"))
    } else if id.chars().any(char::is_control) {
        Some("holds a control character".to_string())
    } else {
        None
    };
    let Some(problem) = problem else {
        return Some(id);
    };
    let at = path.key("import");
    let mut d = Diagnostic::error("bad-import-id", format!("the `import` id {problem}"))
        .at(at)
        .help("write the id of the live object to adopt, as docs/adoption.md lists per kind (a VPC id, a cluster name, NAMESPACE/NAME...)");
    if let Some(node) = item.get("import") {
        d = d.with_span(node.span);
    }
    diags.push(d);
    None
}

/// The keys every kind shares besides `kind` and `name`.
#[derive(Default)]
struct Envelope {
    /// `import: ID`: the live object this resource adopts when it is not yet in state.
    import: Option<String>,
    depends_on: Vec<Address>,
    lifecycle: Option<lifecycle::LifecycleFields>,
    /// The spelling before `lifecycle`.
    prevent_destroy: Option<bool>,
}

/// Reads `import`, `depends_on`, `lifecycle` and `prevent_destroy` from a resource mapping, ignoring the
/// other keys.
struct EnvelopeVisitor;

impl<'de> serde::de::Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a resource mapping")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut envelope = Envelope::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "import" => envelope.import = Some(map.next_value()?),
                "depends_on" => envelope.depends_on = map.next_value()?,
                "lifecycle" => envelope.lifecycle = map.next_value()?,
                "prevent_destroy" => envelope.prevent_destroy = Some(map.next_value()?),
                _ => map.next_value::<serde::de::IgnoredAny>().map(|_| ())?,
            }
        }
        Ok(envelope)
    }
}

/// Names for a help line: at most `LISTED_NAMES`, so a stack of 10,000 names does not put all of
/// them into each of its diagnostics.
pub(crate) fn list_or_none(names: &[&str]) -> String {
    match names.len() {
        0 => "none".to_string(),
        n if n <= LISTED_NAMES => names.join(", "),
        n => format!(
            "{} and {} more",
            names[..LISTED_NAMES].join(", "),
            n - LISTED_NAMES
        ),
    }
}

const LISTED_NAMES: usize = 20;

/// Fills in the span of every diagnostic that has a path but no span yet, and of its labels.
fn locate_all(document: &Node, diags: &mut [Diagnostic]) {
    for d in diags {
        if d.span.is_none() {
            if let Some(path) = &d.path {
                d.span = Some(document.locate(path));
            }
        }
        for label in &mut d.labels {
            if label.span.is_none() {
                if let Some(path) = &label.path {
                    label.span = Some(document.locate(path));
                }
            }
        }
    }
}

/// Reads only the header (stack name, region, kube, backend): enough for state commands, which
/// must work even while a resource in the stack has errors.
pub fn read_header(source: &SourceFile) -> Result<Header, Vec<Diagnostic>> {
    read_header_with(source, &VarOverrides::default())
}

/// `read_header` with var overrides: `${var.x}` in the header resolves as `load` resolves it
/// (problems of the vars themselves are `load`'s to report).
pub fn read_header_with(
    source: &SourceFile,
    overrides: &VarOverrides,
) -> Result<Header, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut root = yaml::parse_file(source).map_err(|d| vec![d])?;
    let vars = vars::collect_vars(&root, overrides, &mut Vec::new());
    // Past the limits, the header is read as far as it was substituted; `load` reports the rest.
    let _ = vars::substitute_entries(
        &mut root,
        &vars,
        |key| HEADER_FIELDS.contains(&key),
        &mut diags,
    );
    let skip: Vec<&str> = root
        .entries()
        .iter()
        .map(|e| e.key.as_str())
        .filter(|k| !HEADER_FIELDS.contains(k))
        .collect();
    let header = read_with_recovery(&root, &FieldPath::root(), &skip, &mut diags, |de| {
        Header::deserialize(de)
    });
    match header {
        Some(h) if diags.is_empty() => Ok(h),
        _ => {
            for d in &mut diags {
                d.file = Some(source.name.clone());
            }
            locate_all(&root, &mut diags);
            Err(diags)
        }
    }
}
