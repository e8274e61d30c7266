//! Deciding each resource's action: create, update, replace, delete, read or nothing, with the
//! fields that drive it, values only known during apply, and `prevent_destroy` enforcement.

use crate::diff::{diff, field_change, pointer, FieldChange};
use crate::drift::{applied_drifts, Live, LiveWorld};
use crate::risks::risks;
use crate::{Action, Plan, ResourceChange, PLAN_FORMAT_VERSION};
use meshctl_graph::StackGraph;
use meshctl_model::kinds::ReplaceOrder;
use meshctl_model::record::{NodeRecord, Operation, Status};
use meshctl_model::stack::EdgeKind;
use meshctl_model::{Address, Diagnostic, Kind, Spec, Stack};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Limit the plan to these resources and what they depend on.
    pub targets: Vec<Address>,
    /// Replace these resources although nothing forces it (`--replace`).
    pub replace: Vec<Address>,
    /// Leave out these resources and every resource that depends on them (`--exclude`).
    pub exclude: Vec<Address>,
    /// Plan the deletion of everything in state.
    pub destroy: bool,
}

pub struct PlanInput<'a> {
    pub stack: &'a Stack,
    pub graph: &'a StackGraph,
    pub prior: &'a [NodeRecord],
    /// Operations a killed run left open (address, operation), from the state journal.
    pub interrupted: &'a [(Address, Operation)],
    /// What refresh read, when providers read the live world: `None` means the object is gone.
    pub live: Option<&'a LiveWorld>,
    /// What looking up the stack's looked-up resources found (`lookup::lookups_to_make`);
    /// `None` when nothing was looked up (`--refresh=false`): they stay `read` at apply.
    pub lookups: Option<&'a crate::lookup::Lookups>,
    /// What reading the stack's `import:` blocks found (`import::imports_to_make`); `None`
    /// when none were read (a resource to import is then an error: the plan cannot know it).
    pub imports: Option<&'a crate::import::Imports>,
    pub lineage: &'a str,
    pub serial: u64,
    pub options: &'a PlanOptions,
}

/// Plans the change from prior state to the stack. Errors are diagnostics (a `prevent_destroy`
/// violation, an unknown target, a forbidden version jump).
pub fn plan(input: &PlanInput<'_>) -> Result<Plan, Vec<Diagnostic>> {
    let stack = input.stack;
    let mut prior: HashMap<&Address, &NodeRecord> =
        input.prior.iter().map(|r| (&r.address, r)).collect();
    let mut errors = Vec::new();
    let targets = target_closure(input, &mut errors);
    let excluded = exclude_closure(input, &mut errors);
    check_replace(input, &mut errors);

    let desired_all = desired_values(stack);
    let digest = digest(&desired_all);

    let mut changes: Vec<ResourceChange> = Vec::new();
    // Actions decided so far, to know whether a producer's outputs are still the recorded ones.
    let mut decided: HashMap<Address, Action> = HashMap::new();
    // Outputs of looked-up resources, found while planning: what apply will read too.
    let mut looked_up: HashMap<Address, BTreeMap<String, Value>> = HashMap::new();
    // Producers whose outputs this plan changes, so their readers follow in the same apply.
    let mut changing: HashMap<Address, NewOutputs> = HashMap::new();
    if !input.options.destroy {
        for index in input.graph.creation_order() {
            let resource = &stack.resources[index];
            if targets
                .as_ref()
                .is_some_and(|t| !t.contains(&resource.address))
                || excluded.contains(&resource.address)
            {
                continue;
            }
            let mut desired = desired_all[index].clone();
            resolve_outputs(&mut desired, &|address, output| {
                looked_up.get(address).and_then(|o| o.get(output).cloned())
            });
            resolve_known_outputs(&mut desired, &decided, &changing, &prior);
            let upstream = upstream_changes(resource, &desired, &changing);
            let mut record = prior.get(&resource.address).copied();
            let mut imported_live = None;
            // An import stands in for the record until the apply writes it.
            let importing = match (record, &resource.import) {
                (None, Some(id)) => Some(id),
                _ => None,
            };
            if let Some(id) = importing {
                match imported_record(input, resource, id, &desired) {
                    Ok((found, live)) => {
                        record = Some(found);
                        imported_live = Some(live);
                        prior.insert(&resource.address, found);
                    }
                    Err(problem) => {
                        errors.push(*problem);
                        continue;
                    }
                }
            }
            let lookup = input.lookups.and_then(|l| l.get(&resource.address));
            // A looked-up resource's lookup is its live read.
            let live = match (lookup, imported_live) {
                (Some(_), _) => None,
                (None, Some(live)) => Some(live),
                (None, None) => input.live.and_then(|l| l.get(&resource.address)),
            };
            let asked = Asked {
                interrupted_update: input
                    .interrupted
                    .iter()
                    .any(|(a, op)| a == &resource.address && *op == Operation::Update),
                replace: input.options.replace.contains(&resource.address),
            };
            let mut change = plan_resource(
                resource,
                desired,
                record,
                live,
                asked,
                upstream,
                &mut errors,
            );
            if let Some(id) = importing {
                as_import(&mut change, resource, id, &mut errors);
            } else if record.is_some_and(|r| r.status == Status::Imported) {
                adopt(&mut change);
            }
            if let Some(lookup) = lookup {
                crate::lookup::apply_lookup(
                    &mut change,
                    resource,
                    record,
                    lookup,
                    &mut looked_up,
                    &mut errors,
                );
            }
            let mut outputs = NewOutputs::of(&change);
            if let (Some(crate::lookup::Lookup::Found { outputs: found }), Some(record)) =
                (lookup, record)
            {
                // A looked-up object that moved (a zone recreated under a new id) is new outputs
                // to everything that points at it.
                let moved: BTreeSet<String> = found
                    .iter()
                    .filter(|(name, value)| record.outputs.get(*name) != Some(value))
                    .map(|(name, _)| name.clone())
                    .collect();
                if !moved.is_empty() {
                    outputs = Some(NewOutputs::Moved(moved));
                }
            }
            if let Some(outputs) = outputs {
                changing.insert(resource.address.clone(), outputs);
            }
            decided.insert(resource.address.clone(), change.action);
            changes.push(change);
        }
    }

    // Records the stack no longer has (or all of them, for destroy): delete, dependents first.
    let in_stack: HashSet<&Address> = if input.options.destroy {
        HashSet::new()
    } else {
        stack.resources.iter().map(|r| &r.address).collect()
    };
    let mut doomed: Vec<&NodeRecord> = input
        .prior
        .iter()
        .filter(|r| !in_stack.contains(&r.address))
        .collect();
    if let Some(targets) = &targets {
        doomed.retain(|r| targets.contains(&r.address));
    }
    doomed.retain(|r| !excluded.contains(&r.address));
    for record in delete_order(&doomed) {
        if record.prevent_destroy {
            let at = stack
                .get(&record.address)
                .map(|r| r.path().join(&r.lifecycle.prevent_destroy_path()));
            let mut d = Diagnostic::error("prevent-destroy", format!("{} has prevent_destroy set, and this plan would delete it", record.address))
                .help("keep the resource in the stack, or first apply it with `prevent_destroy: false` if deleting it is really intended");
            if let Some(at) = at {
                d = d.at(at);
            }
            errors.push(d);
        }
        let mut change = ResourceChange {
            address: record.address.clone(),
            kind: record.address.kind,
            action: Action::Delete,
            reasons: vec![if input.options.destroy {
                "destroy".to_string()
            } else {
                "no longer in the stack".to_string()
            }],
            create_before_destroy: false,
            fields: Vec::new(),
            risks: Vec::new(),
            desired: None,
            prior_objects: record.objects.clone(),
            depends_on: record.dependencies.clone(),
            prevent_destroy: record.prevent_destroy,
            ignore_changes: Vec::new(),
            ignored: Vec::new(),
            importing: None,
        };
        if is_read_only(&record.desired, record.address.kind) {
            // Resources that were only looked up leave state without touching the world.
            change
                .reasons
                .push("looked up, not managed: only forgotten".to_string());
        }
        change.risks = risks(&change, None);
        changes.push(change);
    }

    // An interrupted create of a resource no longer in the stack and never recorded: its objects
    // may exist (found by the provider through their address), so it is deleted.
    for (address, operation) in input.interrupted {
        let recorded = prior.contains_key(address);
        let planned = changes.iter().any(|c| &c.address == address);
        if *operation == Operation::Create
            && !recorded
            && !planned
            && targets.as_ref().is_none_or(|t| t.contains(address))
            && !excluded.contains(address)
        {
            changes.push(ResourceChange {
                address: address.clone(),
                kind: address.kind,
                action: Action::Delete,
                reasons: vec!["left behind by an interrupted create".to_string()],
                create_before_destroy: false,
                fields: Vec::new(),
                risks: Vec::new(),
                desired: None,
                prior_objects: Vec::new(),
                depends_on: Vec::new(),
                prevent_destroy: false,
                ignore_changes: Vec::new(),
                ignored: Vec::new(),
                importing: None,
            });
        }
    }

    let warnings = input
        .interrupted
        .iter()
        .map(|(address, operation)| format!("a previous run was interrupted during `{operation}` of {address}; its record is kept and this plan repairs it"))
        .collect();
    if !errors.is_empty() {
        locate(stack, &mut errors);
        return Err(errors);
    }
    Ok(Plan {
        format_version: PLAN_FORMAT_VERSION,
        stack: stack.name().to_string(),
        region: stack.header.region.clone(),
        kube: stack.header.kube.clone(),
        lineage: input.lineage.to_string(),
        serial: input.serial,
        stack_digest: digest,
        destroy: input.options.destroy,
        targets: input.options.targets.clone(),
        replace: input.options.replace.clone(),
        excluded: excluded.into_iter().collect(),
        changes,
        warnings,
    })
}

/// Which outputs of a producer this plan changes: all of them (created or replaced), or those an
/// in-place update of the changed fields can change (the kind's `outputs_changed_by`).
#[derive(Debug, Clone, PartialEq)]
enum NewOutputs {
    All,
    Some(BTreeSet<String>),
    /// A looked-up object found again with these outputs changed: another object by now (a zone
    /// deleted and created again has a new id), so readers follow as they follow a replacement.
    Moved(BTreeSet<String>),
}

impl NewOutputs {
    fn of(change: &ResourceChange) -> Option<NewOutputs> {
        match change.action {
            Action::Create | Action::Replace => Some(NewOutputs::All),
            Action::Update | Action::Import => {
                let changed: BTreeSet<&str> = change
                    .fields
                    .iter()
                    .map(|f| crate::diff::top_field(&f.path))
                    .collect();
                let outputs: BTreeSet<String> = change
                    .kind
                    .schema()
                    .outputs_changed_by
                    .iter()
                    .filter(|(field, _)| *field == "*" || changed.contains(field))
                    .flat_map(|(_, outputs)| outputs.iter().map(|o| o.to_string()))
                    .collect();
                (!outputs.is_empty()).then_some(NewOutputs::Some(outputs))
            }
            Action::NoOp | Action::Read | Action::Delete => None,
        }
    }

    fn includes(&self, output: &str) -> bool {
        match self {
            NewOutputs::All => true,
            NewOutputs::Some(outputs) | NewOutputs::Moved(outputs) => outputs.contains(output),
        }
    }

    /// Whether a new object stands behind the outputs (not the same one changed in place).
    fn is_new_object(&self) -> bool {
        matches!(self, NewOutputs::All | NewOutputs::Moved(_))
    }
}

/// What a producer's new outputs do to a resource that reads them.
struct Upstream {
    /// The reading field, its value known only after apply (none for the cluster edge).
    field: Option<FieldChange>,
    reason: String,
    forces_replacement: bool,
}

/// The changes a resource must follow because producers it reads are created, replaced or
/// updated in ways that change their outputs: typed references (whose values providers resolve
/// from the producer's outputs) and the cluster the resource lives in. `${kind.name.output}` needs
/// nothing here: it stays unresolved in `desired`, so the field diff shows it.
fn upstream_changes(
    resource: &meshctl_model::Resource,
    desired: &Value,
    changing: &HashMap<Address, NewOutputs>,
) -> Vec<Upstream> {
    let schema = resource.address.kind.schema();
    let base = resource.path();
    let mut upstream: Vec<Upstream> = Vec::new();
    let mut seen: HashSet<(&Address, String)> = HashSet::new();
    for dependency in &resource.dependencies {
        let Some(outputs) = changing.get(&dependency.target) else {
            continue;
        };
        let names = |names: &BTreeSet<String>| {
            names
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let how = match outputs {
            NewOutputs::All => "is replaced or created".to_string(),
            NewOutputs::Some(changed) => format!("has new {}", names(changed)),
            NewOutputs::Moved(changed) => format!("was found with a new {}", names(changed)),
        };
        match dependency.kind {
            EdgeKind::Reference => {
                let Some(relative) = dependency.path.strip_prefix(&base) else {
                    continue;
                };
                let path = relative.to_string();
                if !seen.insert((&dependency.target, path.clone())) {
                    continue;
                }
                let top = crate::diff::top_field(&path);
                // Only a new object behind a force-new reference forces replacement; the same
                // object with new outputs is followed in place.
                let forces = outputs.is_new_object()
                    && schema.force_new.contains(&top)
                    && !schema.follows_in_place.contains(&top);
                let current = desired.pointer(&pointer(&path));
                let mut field = field_change(&path, current, current, &[], schema.sensitive);
                field.unknown = true;
                field.forces_replacement = forces;
                upstream.push(Upstream {
                    field: Some(field),
                    reason: format!("{} {how}", dependency.target),
                    forces_replacement: forces,
                });
            }
            EdgeKind::Cluster if outputs.is_new_object() => {
                if !seen.insert((&dependency.target, String::new())) {
                    continue;
                }
                upstream.push(Upstream {
                    field: None,
                    reason: format!(
                        "its cluster {} is replaced or created: the new cluster has none of its objects",
                        dependency.target
                    ),
                    forces_replacement: true,
                });
            }
            _ => {}
        }
    }
    upstream
}

/// What asks for an action besides the fields: a killed run's open update, `--replace`.
#[derive(Debug, Clone, Copy, Default)]
struct Asked {
    interrupted_update: bool,
    replace: bool,
}

fn plan_resource(
    resource: &meshctl_model::Resource,
    mut desired: Value,
    record: Option<&NodeRecord>,
    live: Option<&Option<Live>>,
    asked: Asked,
    upstream: Vec<Upstream>,
    errors: &mut Vec<Diagnostic>,
) -> ResourceChange {
    let kind = resource.address.kind;
    let schema = kind.schema();
    let read_only = is_read_only(&desired, kind);
    let lifecycle = &resource.lifecycle;
    let mut reasons = Vec::new();
    // Differences `lifecycle.ignore_changes` leaves alone: old is the world's, new the stack's.
    let mut ignored: Vec<FieldChange> = Vec::new();
    let (action, fields) = match record {
        None => {
            let action = if read_only {
                Action::Read
            } else {
                Action::Create
            };
            (action, diff(None, Some(&desired), &[], schema.sensitive))
        }
        Some(record) => {
            // State records secrets as digests (`recorded`): compare in that form.
            let desired_form = crate::recorded::recorded_form(&desired);
            let (mut fields, stack_ignored): (Vec<FieldChange>, Vec<FieldChange>) = diff(
                Some(&record.desired),
                Some(&desired_form),
                schema.force_new,
                schema.sensitive,
            )
            .into_iter()
            .partition(|f| !lifecycle.ignores(&f.path));
            ignored.extend(stack_ignored);
            let gone = matches!(live, Some(None));
            if let Some(Some(live)) = live {
                // Drift: the world moved away from what was applied; apply puts it back.
                let (mut moved, mut accepted_paths) = (Vec::new(), Vec::new());
                for drift in applied_drifts(record, live) {
                    if fields.iter().any(|f| f.path == drift.path) {
                        continue;
                    }
                    if lifecycle.ignores(&drift.path) {
                        // Someone else owns the field (an autoscaler): what is live stays.
                        let stack_says = desired_form.pointer(&pointer(&drift.path)).cloned();
                        ignored.retain(|f| f.path != drift.path);
                        if stack_says != drift.live {
                            ignored.push(field_change(
                                &drift.path,
                                drift.live.as_ref(),
                                stack_says.as_ref(),
                                &[],
                                schema.sensitive,
                            ));
                        }
                        continue;
                    }
                    let target = desired_form
                        .pointer(&pointer(&drift.path))
                        .cloned()
                        .or(drift.applied.clone());
                    if target == drift.live {
                        continue;
                    }
                    let accepted = record
                        .accepted
                        .iter()
                        .any(|a| a.path == drift.path && a.live == drift.live);
                    if accepted {
                        accepted_paths.push(drift.path.clone());
                    } else {
                        moved.push(drift.path.clone());
                    }
                    fields.push(field_change(
                        &drift.path,
                        drift.live.as_ref(),
                        target.as_ref(),
                        &[],
                        schema.sensitive,
                    ));
                }
                // One field is named; several are counted (the field lines name each).
                let name = |paths: &[String]| match paths {
                    [one] => one.clone(),
                    many => format!("{} fields", many.len()),
                };
                if !moved.is_empty() && record.status == Status::Imported {
                    // Never applied: the object was made so, not moved.
                    reasons.push(format!(
                        "{} differ{} from the stack",
                        name(&moved),
                        if moved.len() == 1 { "s" } else { "" }
                    ));
                } else if !moved.is_empty() {
                    reasons.push(format!("{} changed outside meshctl", name(&moved)));
                }
                if !accepted_paths.is_empty() {
                    reasons.push(format!(
                        "{} differ{} from the stack (accepted into state by `meshctl refresh`)",
                        name(&accepted_paths),
                        if accepted_paths.len() == 1 { "s" } else { "" }
                    ));
                }
            }
            let mut upstream_forces = false;
            if !gone {
                for follow in upstream {
                    if let Some(field) = follow.field {
                        if fields.iter().any(|f| f.path == field.path)
                            || lifecycle.ignores(&field.path)
                        {
                            continue;
                        }
                        fields.push(field);
                    }
                    upstream_forces |= follow.forces_replacement;
                    reasons.push(follow.reason);
                }
            }
            // An imported record stands as an applied one; its marks come with the next apply.
            let action = match record.status {
                Status::Tainted => {
                    reasons.push("tainted by a failed apply".to_string());
                    Action::Replace
                }
                Status::Creating | Status::Deleting => {
                    reasons.push(format!(
                        "a previous run stopped while {}",
                        if record.status == Status::Creating {
                            "creating it"
                        } else {
                            "deleting it"
                        }
                    ));
                    Action::Replace
                }
                Status::Ok | Status::Imported if gone => {
                    reasons.push("deleted outside meshctl".to_string());
                    Action::Create
                }
                Status::Ok | Status::Imported if asked.replace && !read_only => {
                    reasons.push("replacement asked for with --replace".to_string());
                    Action::Replace
                }
                Status::Ok | Status::Imported if fields.is_empty() && asked.interrupted_update => {
                    reasons
                        .push("a previous update was interrupted; applying it again".to_string());
                    Action::Update
                }
                Status::Ok | Status::Imported if fields.is_empty() && !upstream_forces => {
                    Action::NoOp
                }
                Status::Ok | Status::Imported if read_only => Action::Read,
                Status::Ok | Status::Imported
                    if upstream_forces && !fields.iter().any(|f| f.forces_replacement) =>
                {
                    Action::Replace
                }
                Status::Ok | Status::Imported => {
                    let forcing: BTreeSet<&str> = fields
                        .iter()
                        .filter(|f| f.forces_replacement)
                        .map(|f| crate::diff::top_field(&f.path))
                        .collect();
                    if forcing.is_empty() {
                        Action::Update
                    } else {
                        reasons.push(format!(
                            "{} forces replacement",
                            forcing.into_iter().collect::<Vec<_>>().join(", ")
                        ));
                        Action::Replace
                    }
                }
            };
            (action, fields)
        }
    };
    if action == Action::Replace && lifecycle.prevent_destroy {
        errors.push(
            Diagnostic::error("prevent-destroy", format!("{} has prevent_destroy set, and this plan would replace it ({})", resource.address, reasons.join("; ")))
                .at(resource.path().join(&lifecycle.prevent_destroy_path()))
                .help("revert the change that forces replacement, or remove `prevent_destroy` if replacing it is really intended"),
        );
    }
    if let (Spec::EksCluster(cluster), Some(record)) = (&resource.spec, record) {
        check_version_step(resource, cluster.version.as_str(), &record.desired, errors);
    }
    let mut create_before_destroy = action == Action::Replace
        && schema
            .replace_order
            .creates_first(lifecycle.create_before_destroy);
    if create_before_destroy
        && matches!(schema.replace_order, ReplaceOrder::Either { .. })
        && !fields.iter().any(|f| f.forces_replacement)
    {
        // Nothing that names the object changes (a forced, tainted or upstream replacement):
        // the new copy would take the old one's name, so the old one goes first.
        create_before_destroy = false;
        reasons.push(
            "deleting the old copy first although create_before_destroy is set: no field that names it changes".to_string(),
        );
    }
    if action == Action::Update {
        // Applied as the world has them, so the update does not undo what their owner did.
        keep_world_values(&mut desired, record, &ignored, schema.sensitive);
    }
    let mut change = ResourceChange {
        address: resource.address.clone(),
        kind,
        action,
        reasons,
        create_before_destroy,
        fields: if action == Action::NoOp {
            Vec::new()
        } else {
            fields
        },
        risks: Vec::new(),
        desired: Some(desired),
        prior_objects: record.map(|r| r.objects.clone()).unwrap_or_default(),
        depends_on: resource
            .dependencies
            .iter()
            .map(|d| d.target.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        prevent_destroy: lifecycle.prevent_destroy,
        ignore_changes: lifecycle.ignore_changes.clone(),
        ignored: if matches!(action, Action::Create | Action::Replace) {
            // A new object takes the stack's values, ignored or not.
            Vec::new()
        } else {
            ignored
        },
        importing: None,
    };
    change.risks = risks(&change, record);
    change
}

/// Sets each ignored field of `desired` to the world's value (its `old`: live, else recorded),
/// so that an update sends what is there. Sensitive fields are recorded as digests, never sent:
/// they keep the stack's value.
fn keep_world_values(
    desired: &mut Value,
    record: Option<&NodeRecord>,
    ignored: &[FieldChange],
    sensitive: &[&str],
) {
    let Some(record) = record else {
        return;
    };
    for field in ignored {
        if sensitive.contains(&crate::diff::top_field(&field.path)) {
            continue;
        }
        let at = pointer(&field.path);
        let world = field
            .old
            .clone()
            .or_else(|| record.desired.pointer(&at).cloned());
        if let (Some(slot), Some(world)) = (desired.pointer_mut(&at), world) {
            *slot = world;
        }
    }
}

/// EKS upgrades the control plane one minor version at a time and never downgrades.
fn check_version_step(
    resource: &meshctl_model::Resource,
    desired: &str,
    prior: &Value,
    errors: &mut Vec<Diagnostic>,
) {
    let minor = |v: &str| v.split_once('.').and_then(|(_, m)| m.parse::<u32>().ok());
    let Some(old) = prior.get("version").and_then(Value::as_str) else {
        return;
    };
    let (Some(from), Some(to)) = (minor(old), minor(desired)) else {
        return;
    };
    let at = resource.path().key("version");
    if to < from {
        errors.push(
            Diagnostic::error(
                "version-downgrade",
                format!(
                    "{} runs Kubernetes {old}; EKS cannot downgrade to {desired}",
                    resource.address
                ),
            )
            .at(at)
            .help(format!("keep `version: \"{old}\"`")),
        );
    } else if to > from + 1 {
        errors.push(Diagnostic::error("version-skip", format!("{} runs Kubernetes {old}; EKS upgrades one minor version at a time, not to {desired}", resource.address)).at(at).help(format!("apply `version: \"1.{}\"` first, then the next minor", from + 1)));
    }
}

/// Resources that are looked up (`existing` zones, VPCs and Istio control planes), never
/// created or deleted; each kind's schema says which.
pub fn is_read_only(desired: &Value, kind: Kind) -> bool {
    kind.is_looked_up(desired)
}

/// Replaces `${kind.name.output}` whose producer keeps its recorded outputs (unchanged, read, or
/// updated in place) by the recorded value; the rest stay unknown until apply.
/// The record an import read for `resource`, which the planner compares with the stack as it
/// compares any record; or why there is none, as a diagnostic at its `import:`.
fn imported_record<'a>(
    input: &PlanInput<'a>,
    resource: &meshctl_model::Resource,
    id: &str,
    desired: &Value,
) -> Result<(&'a NodeRecord, &'a Option<Live>), Box<Diagnostic>> {
    let at = resource.path().key("import");
    if is_read_only(desired, resource.address.kind) {
        return Err(Box::new(Diagnostic::error(
            "import-looked-up",
            format!("{} is looked up (`existing`), not managed: there is nothing to import", resource.address),
        )
        .at(at)
        .help("remove `import:` (a looked-up object is only read), or remove `existing` to manage it with this stack")));
    }
    match input
        .imports
        .and_then(|imports| imports.get(&resource.address))
    {
        Some(crate::import::Imported::Found { record, live }) => Ok((record.as_ref(), live)),
        Some(crate::import::Imported::Refused { message, help }) => Err(Box::new(
            Diagnostic::error(
                "import-refused",
                format!("cannot import `{id}` as {}: {message}", resource.address),
            )
            .at(at)
            .help(help.clone()),
        )),
        None => Err(Box::new(
            Diagnostic::error(
                "import-not-read",
                format!(
                    "{} imports `{id}`, which this plan did not read",
                    resource.address
                ),
            )
            .at(at)
            .help(
                "plan with a build that has the provider of this kind, so the object can be read",
            ),
        )),
    }
}

/// Makes the planned change of an imported resource an import: unchanged or updated fields are
/// adopted and put right; a field that would force a replacement is an error, since an import
/// never replaces what it adopts.
fn as_import(
    change: &mut ResourceChange,
    resource: &meshctl_model::Resource,
    id: &str,
    errors: &mut Vec<Diagnostic>,
) {
    if change.action == Action::Replace {
        let forcing: Vec<&str> = change
            .fields
            .iter()
            .filter(|f| f.forces_replacement)
            .map(|f| f.path.as_str())
            .collect();
        errors.push(
            Diagnostic::error(
                "import-would-replace",
                format!(
                    "importing `{id}` as {} would replace the object: {} differ{} and cannot change in place",
                    resource.address,
                    forcing.join(", "),
                    if forcing.len() == 1 { "s" } else { "" }
                ),
            )
            .at(resource.path().key("import"))
            .help("write those fields in the stack as the live object has them (`meshctl plan` lists them with their live values); an import adopts, it never replaces"),
        );
    }
    change.action = Action::Import;
    change.importing = Some(id.to_string());
    change.reasons.insert(0, format!("imported from `{id}`"));
}

/// A record `meshctl import` wrote: the apply places meshctl's marks on the object, so an
/// unchanged one is an update too.
fn adopt(change: &mut ResourceChange) {
    if change.action == Action::NoOp {
        change.action = Action::Update;
    }
    if change.action == Action::Update {
        change.reasons.push(
            "imported by `meshctl import`: this apply puts meshctl's ownership marks on it"
                .to_string(),
        );
    }
}

fn resolve_known_outputs(
    value: &mut Value,
    decided: &HashMap<Address, Action>,
    changing: &HashMap<Address, NewOutputs>,
    prior: &HashMap<&Address, &NodeRecord>,
) {
    resolve_outputs(value, &|address, output| {
        let keeps = matches!(
            decided.get(address),
            Some(Action::NoOp | Action::Read | Action::Update | Action::Import)
        ) && !changing.get(address).is_some_and(|o| o.includes(output));
        keeps
            .then(|| {
                prior
                    .get(address)
                    .and_then(|r| r.outputs.get(output))
                    .cloned()
            })
            .flatten()
    });
}

/// Replaces every `${kind.name.output}` that `lookup` knows: a string that is exactly one reference
/// takes the output's value with its type; inside text, the value's text is spliced in. Unknown
/// references stay as written. The executor resolves with the outputs of finished resources.
pub fn resolve_outputs(value: &mut Value, lookup: &dyn Fn(&Address, &str) -> Option<Value>) {
    match value {
        Value::Object(map) => map.values_mut().for_each(|v| resolve_outputs(v, lookup)),
        Value::Array(items) => items.iter_mut().for_each(|v| resolve_outputs(v, lookup)),
        Value::String(text) if text.contains("${") => {
            let Ok(found) = meshctl_model::interpolate::scan(text) else {
                return;
            };
            let mut out = String::new();
            let mut last = 0;
            let mut whole = None;
            for item in &found {
                out.push_str(&text[last..item.start]);
                last = item.end;
                let known = match &item.expr {
                    meshctl_model::interpolate::Expr::Output(o) => {
                        lookup(&Address::new(o.kind, o.name.clone()), &o.output)
                    }
                    _ => None,
                };
                match known {
                    Some(v) if found.len() == 1 && item.start == 0 && item.end == text.len() => {
                        whole = Some(v)
                    }
                    Some(Value::String(s)) => out.push_str(&s),
                    Some(v) => out.push_str(&v.to_string()),
                    None => out.push_str(&text[item.start..item.end]),
                }
            }
            out.push_str(&text[last..]);
            *value = whole.unwrap_or(Value::String(out));
        }
        _ => {}
    }
}

/// `--target`: the named resources and everything they depend on; `None` plans everything.
pub(crate) fn target_closure(
    input: &PlanInput<'_>,
    errors: &mut Vec<Diagnostic>,
) -> Option<HashSet<Address>> {
    if input.options.targets.is_empty() {
        return None;
    }
    let stack = input.stack;
    let mut closure = HashSet::new();
    let mut pending: Vec<Address> = Vec::new();
    for target in &input.options.targets {
        let known = stack.get(target).is_some() || input.prior.iter().any(|r| &r.address == target);
        if !known {
            errors.push(
                Diagnostic::error(
                    "unknown-target",
                    format!("--target {target} is neither in the stack nor in state"),
                )
                .help(suggest(input, "--target", target)),
            );
            continue;
        }
        pending.push(target.clone());
    }
    let by_address: HashMap<&Address, &meshctl_model::Resource> =
        stack.resources.iter().map(|r| (&r.address, r)).collect();
    while let Some(address) = pending.pop() {
        if !closure.insert(address.clone()) {
            continue;
        }
        if let Some(r) = by_address.get(&address) {
            pending.extend(r.dependencies.iter().map(|d| d.target.clone()));
        }
    }
    Some(closure)
}

/// The help for an address the stack and state do not have: the closest one they have.
fn suggest(input: &PlanInput<'_>, flag: &str, address: &Address) -> String {
    let known: BTreeSet<String> = input
        .stack
        .resources
        .iter()
        .map(|r| r.address.to_string())
        .chain(input.prior.iter().map(|r| r.address.to_string()))
        .collect();
    let written = address.to_string();
    match meshctl_model::de::closest(&written, known.iter().map(String::as_str)) {
        Some(close) => format!("did you mean `{flag} {close}`?"),
        None => format!("name a resource of the stack as kind.name, e.g. {flag} alb.public"),
    }
}

/// `--exclude`: the named resources and, as OpenTofu's `-exclude` does, every resource that
/// depends on them (in the stack, or for records leaving it, in state), since planning those
/// would use what the plan leaves out.
pub(crate) fn exclude_closure(
    input: &PlanInput<'_>,
    errors: &mut Vec<Diagnostic>,
) -> BTreeSet<Address> {
    let stack = input.stack;
    let mut excluded = BTreeSet::new();
    for address in &input.options.exclude {
        let known =
            stack.get(address).is_some() || input.prior.iter().any(|r| &r.address == address);
        if known {
            excluded.insert(address.clone());
        } else {
            errors.push(
                Diagnostic::error(
                    "unknown-target",
                    format!("--exclude {address} is neither in the stack nor in state"),
                )
                .help(suggest(input, "--exclude", address)),
            );
        }
    }
    if excluded.is_empty() {
        return excluded;
    }
    // Dependents by dependency, from the stack's edges and the records' (an address in both
    // has the stack's edges, which the plan follows).
    let mut dependents: HashMap<&Address, Vec<&Address>> = HashMap::new();
    for resource in &stack.resources {
        for dependency in &resource.dependencies {
            dependents
                .entry(&dependency.target)
                .or_default()
                .push(&resource.address);
        }
    }
    let in_stack: HashSet<&Address> = stack.resources.iter().map(|r| &r.address).collect();
    for record in input.prior {
        if !in_stack.contains(&record.address) {
            for target in &record.dependencies {
                dependents.entry(target).or_default().push(&record.address);
            }
        }
    }
    let mut pending: Vec<Address> = excluded.iter().cloned().collect();
    while let Some(address) = pending.pop() {
        for dependent in dependents.get(&address).into_iter().flatten() {
            if excluded.insert((*dependent).clone()) {
                pending.push((*dependent).clone());
            }
        }
    }
    excluded
}

/// `--replace`: each must name a resource of the stack that meshctl manages. One only in state
/// is deleted anyway; a looked-up one is only read.
fn check_replace(input: &PlanInput<'_>, errors: &mut Vec<Diagnostic>) {
    for address in &input.options.replace {
        match input.stack.get(address) {
            None => {
                let only_in_state = input.prior.iter().any(|r| &r.address == address);
                let (message, help) = if only_in_state {
                    (
                        format!("--replace {address}: it is no longer in the stack, so this plan deletes it"),
                        "remove --replace; to have it again, add it back to the stack".to_string(),
                    )
                } else {
                    (
                        format!("--replace {address} is not in the stack"),
                        suggest(input, "--replace", address),
                    )
                };
                errors.push(Diagnostic::error("unknown-target", message).help(help));
            }
            Some(resource) => {
                let desired = serde_json::to_value(&resource.spec).unwrap_or(Value::Null);
                if is_read_only(&desired, address.kind) {
                    errors.push(
                        Diagnostic::error(
                            "replace-looked-up",
                            format!("--replace {address}: it is looked up, not managed by this stack, so it cannot be replaced"),
                        )
                        .at(resource.path())
                        .help("remove --replace for it"),
                    );
                }
            }
        }
    }
}

/// Orders deletions so that a record is deleted before the records it depended on.
fn delete_order<'a>(doomed: &[&'a NodeRecord]) -> Vec<&'a NodeRecord> {
    let set: HashSet<&Address> = doomed.iter().map(|r| &r.address).collect();
    let mut dependents: HashMap<&Address, usize> = HashMap::new();
    for r in doomed {
        for d in r.dependencies.iter().filter(|d| set.contains(d)) {
            *dependents.entry(d).or_default() += 1;
        }
    }
    // Kahn's algorithm from the records nothing else depends on; ties by address for stability.
    let mut ready: BTreeSet<&Address> = doomed
        .iter()
        .map(|r| &r.address)
        .filter(|a| !dependents.contains_key(a))
        .collect();
    let by_address: HashMap<&Address, &NodeRecord> =
        doomed.iter().map(|r| (&r.address, *r)).collect();
    let mut order = Vec::new();
    while let Some(address) = ready.pop_first() {
        let record = by_address[address];
        order.push(record);
        for d in record.dependencies.iter().filter(|d| set.contains(d)) {
            if let Some(count) = dependents.get_mut(d) {
                *count -= 1;
                if *count == 0 {
                    ready.insert(d);
                }
            }
        }
    }
    // A cycle among records (state edited by hand) still deletes everything, in address order.
    let mut ordered: HashSet<&Address> = order.iter().copied().map(|r| &r.address).collect();
    for r in doomed {
        if ordered.insert(&r.address) {
            order.push(r);
        }
    }
    order
}

fn desired_values(stack: &Stack) -> Vec<Value> {
    stack
        .resources
        .iter()
        .map(|r| serde_json::to_value(&r.spec).unwrap_or(Value::Null))
        .collect()
}

/// SHA-256 of the stack's resolved resources: what a plan file was made from.
pub fn stack_digest(stack: &Stack) -> String {
    digest(&desired_values(stack))
}

fn digest(desired: &[Value]) -> String {
    let mut hasher = Sha256::new();
    for value in desired {
        hasher.update(serde_json::to_vec(value).unwrap_or_default());
        hasher.update(b"\n");
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn locate(stack: &Stack, errors: &mut [Diagnostic]) {
    for d in errors {
        d.file = Some(stack.source.name.clone());
        if let Some(path) = &d.path {
            d.span = Some(stack.document.locate(path));
        }
    }
}
