//! The dependency DAG of a stack (petgraph): an edge A → B means "A must happen after B".
//! Cycles are diagnostics naming every resource on the cycle and the field that made each edge.

pub mod picture;
pub mod svg;
pub mod traffic;

use meshctl_model::stack::{Address, Dependency, EdgeKind, Stack};
use meshctl_model::Diagnostic;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::HashMap;
use std::fmt::Write as _;

/// The stack's resources as a DAG; node weights are indices into `Stack::resources`.
pub struct StackGraph {
    pub graph: DiGraph<usize, EdgeKind>,
}

impl StackGraph {
    /// Builds the graph; a cycle is an error with one diagnostic per cycle.
    pub fn build(stack: &Stack) -> Result<StackGraph, Vec<Diagnostic>> {
        let mut graph = DiGraph::with_capacity(stack.resources.len(), stack.resources.len() * 2);
        let mut nodes: HashMap<&Address, NodeIndex> = HashMap::with_capacity(stack.resources.len());
        for (i, r) in stack.resources.iter().enumerate() {
            nodes.insert(&r.address, graph.add_node(i));
        }
        for r in &stack.resources {
            let from = nodes[&r.address];
            for dep in &r.dependencies {
                if let Some(&to) = nodes.get(&dep.target) {
                    graph.add_edge(from, to, dep.kind);
                }
            }
        }
        let built = StackGraph { graph };
        let cycles = built.cycles(stack);
        if cycles.is_empty() {
            Ok(built)
        } else {
            Err(cycles)
        }
    }

    /// Resource indices in an order where every resource comes after what it depends on.
    pub fn creation_order(&self) -> Vec<usize> {
        // tarjan_scc yields components in reverse topological order of the "after" edges, which
        // is dependencies first.
        tarjan_scc(&self.graph)
            .into_iter()
            .flatten()
            .map(|n| self.graph[n])
            .collect()
    }

    fn cycles(&self, stack: &Stack) -> Vec<Diagnostic> {
        let mut diagnostics = Vec::new();
        for component in tarjan_scc(&self.graph) {
            let self_loop =
                component.len() == 1 && self.graph.contains_edge(component[0], component[0]);
            if component.len() < 2 && !self_loop {
                continue;
            }
            let cycle = self.walk_cycle(&component);
            diagnostics.push(cycle_diagnostic(stack, &cycle));
        }
        diagnostics
    }

    /// One concrete cycle through the component, as resource indices in edge order.
    fn walk_cycle(&self, component: &[NodeIndex]) -> Vec<usize> {
        let members: std::collections::HashSet<NodeIndex> = component.iter().copied().collect();
        let start = *component
            .iter()
            .min_by_key(|n| self.graph[**n])
            .unwrap_or(&component[0]);
        let mut path = vec![start];
        let mut seen = std::collections::HashSet::from([start]);
        let mut current = start;
        loop {
            let mut next = self
                .graph
                .neighbors(current)
                .filter(|n| members.contains(n))
                .collect::<Vec<_>>();
            next.sort_by_key(|n| self.graph[*n]);
            let Some(&step) = next
                .iter()
                .find(|n| **n == start)
                .or_else(|| next.iter().find(|n| !seen.contains(*n)))
                .or(next.first())
            else {
                break;
            };
            if step == start || seen.contains(&step) {
                if let Some(pos) = path.iter().position(|n| *n == step) {
                    path.drain(..pos);
                }
                break;
            }
            seen.insert(step);
            path.push(step);
            current = step;
        }
        path.into_iter().map(|n| self.graph[n]).collect()
    }
}

fn cycle_diagnostic(stack: &Stack, cycle: &[usize]) -> Diagnostic {
    let resources = &stack.resources;
    let mut chain = String::new();
    for &i in cycle {
        let _ = write!(chain, "{} → ", resources[i].address);
    }
    let _ = write!(chain, "{}", resources[cycle[0]].address);
    let edge = |from: usize, to: usize| -> Option<&Dependency> {
        resources[from]
            .dependencies
            .iter()
            .find(|d| d.target == resources[to].address)
    };
    let first = edge(cycle[0], cycle[(1) % cycle.len()]);
    let mut d = Diagnostic::error("dependency-cycle", format!("dependency cycle: {chain}"))
        .help("break the cycle: remove a depends_on, or stop interpolating an output of a resource that needs this one");
    if let Some(first) = first {
        d = d.at(first.path.clone());
    }
    for (k, &from) in cycle.iter().enumerate().skip(1) {
        let to = cycle[(k + 1) % cycle.len()];
        if let Some(dep) = edge(from, to) {
            d = d.label(
                dep.path.clone(),
                format!(
                    "{} needs {} here",
                    resources[from].address, resources[to].address
                ),
            );
        }
    }
    d
}

/// Loads a stack and checks that it forms a DAG: every diagnostic `meshctl validate` reports.
pub fn validate(
    source: &meshctl_model::SourceFile,
    vars: &meshctl_model::VarOverrides,
) -> (Option<(Stack, StackGraph)>, Vec<Diagnostic>) {
    let loaded = meshctl_model::load(source, vars);
    let mut diagnostics = loaded.diagnostics;
    let Some(stack) = loaded.stack else {
        return (None, diagnostics);
    };
    match StackGraph::build(&stack) {
        Ok(graph) => (Some((stack, graph)), diagnostics),
        Err(cycles) => {
            let start = diagnostics.len();
            diagnostics.extend(cycles);
            for d in &mut diagnostics[start..] {
                d.file = Some(source.name.clone());
                if let Some(path) = &d.path {
                    d.span = Some(stack.document.locate(path));
                }
                for label in &mut d.labels {
                    if let Some(path) = &label.path {
                        label.span = Some(stack.document.locate(path));
                    }
                }
            }
            meshctl_model::diagnostic::sort_and_dedup(&mut diagnostics);
            (None, diagnostics)
        }
    }
}

/// The graph in Graphviz dot or Mermaid syntax, for `meshctl graph`.
pub fn render(stack: &Stack, graph: &StackGraph, mermaid: bool) -> String {
    let mut out = String::new();
    let id = |i: usize| format!("n{i}");
    if mermaid {
        out.push_str("graph BT\n");
        for (i, r) in stack.resources.iter().enumerate() {
            let _ = writeln!(out, "  {}[\"{}\"]", id(i), r.address);
        }
    } else {
        let _ = writeln!(
            out,
            "digraph \"{}\" {{\n  rankdir=BT;\n  node [shape=box];",
            stack.name()
        );
        for (i, r) in stack.resources.iter().enumerate() {
            let _ = writeln!(out, "  {} [label=\"{}\"];", id(i), r.address);
        }
    }
    for edge in graph.graph.raw_edges() {
        let (from, to) = (graph.graph[edge.source()], graph.graph[edge.target()]);
        if mermaid {
            let _ = writeln!(out, "  {} --> {}", id(from), id(to));
        } else {
            let _ = writeln!(out, "  {} -> {};", id(from), id(to));
        }
    }
    if !mermaid {
        out.push_str("}\n");
    }
    out
}
