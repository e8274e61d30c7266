//! The blast radius of hand-written plans: which changes give a public name a new value, what
//! each replacement drags along, what interrupts traffic and what is hitless — in the plan's
//! JSON fields and its text and Markdown. Every expected value is written out by hand.

use meshctl_plan::blast::BlastRadius;
use meshctl_plan::render;
use meshctl_plan::Plan;
use serde_json::json;

/// A plan as a saved plan file holds it (fields omitted take their defaults).
fn plan() -> Plan {
    serde_json::from_value(json!({
        "format_version": 1,
        "stack": "demo",
        "lineage": "l",
        "serial": 3,
        "stack_digest": "d",
        "changes": [
            { "address": "vpc.main", "kind": "vpc", "action": "no-op" },
            { "address": "route53_zone.public", "kind": "route53_zone", "action": "read" },
            // Replaced old-first: its hostname changes and traffic stops meanwhile.
            { "address": "ingress_gateway.public", "kind": "ingress_gateway", "action": "replace",
              "depends_on": ["vpc.main"] },
            // Follows the gateway in place; a record follows it, and a release the record.
            { "address": "alb.public", "kind": "alb", "action": "update",
              "fields": [{ "path": "gateway", "old": "public", "new": "public" }],
              "depends_on": ["ingress_gateway.public", "vpc.main"] },
            { "address": "dns_record.app", "kind": "dns_record", "action": "update",
              "depends_on": ["alb.public", "route53_zone.public"] },
            { "address": "helm_release.web", "kind": "helm_release", "action": "update",
              "depends_on": ["dns_record.app"] },
            // Depends on the gateway, but is new: created, not dragged.
            { "address": "virtual_service.new", "kind": "virtual_service", "action": "create",
              "depends_on": ["ingress_gateway.public"] },
            // Unchanged: passes nothing on to what depends on it.
            { "address": "gateway.web", "kind": "gateway", "action": "no-op",
              "depends_on": ["ingress_gateway.public"] },
            { "address": "destination_rule.web", "kind": "destination_rule", "action": "update",
              "depends_on": ["gateway.web"] },
            // New first: hitless, but the ARN changes.
            { "address": "acm_certificate.web", "kind": "acm_certificate", "action": "replace",
              "create_before_destroy": true },
            // An NLB setting changed in place: the balancer, and so its hostname, is new.
            { "address": "ingress_gateway.internal", "kind": "ingress_gateway", "action": "update",
              "fields": [{ "path": "nlb.scheme", "old": "internal", "new": "internet-facing" }] },
            // A deleted nodegroup drains onto the others; a deleted record stops resolving.
            { "address": "nodegroup.old", "kind": "nodegroup", "action": "delete",
              "prior_objects": [{ "kind": "eks:nodegroup", "id": "demo-main/old" }] },
            { "address": "dns_record.old", "kind": "dns_record", "action": "delete",
              "prior_objects": [{ "kind": "route53:record", "id": "Z1/old.example.com./CNAME" }] },
            // A looked-up zone's record owns nothing: deleting it only forgets it.
            { "address": "route53_zone.legacy", "kind": "route53_zone", "action": "delete" }
        ]
    }))
    .expect("a plan")
}

#[test]
fn json_carries_the_blast_radius_as_fields() {
    let document: serde_json::Value = serde_json::from_str(&render::json(&plan())).unwrap();
    assert_eq!(
        document["blast_radius"],
        json!({
            "public_names": [
                { "address": "ingress_gateway.public", "action": "replace",
                  "outputs": ["load_balancer_hostname"] },
                { "address": "acm_certificate.web", "action": "replace", "outputs": ["arn"] },
                { "address": "ingress_gateway.internal", "action": "update",
                  "outputs": ["load_balancer_hostname"] }
            ],
            "replacements": [
                { "address": "ingress_gateway.public",
                  "dependents": ["alb.public", "dns_record.app", "helm_release.web"] },
                { "address": "acm_certificate.web", "dependents": [] }
            ],
            "interrupting": [
                { "address": "ingress_gateway.public", "action": "replace" },
                { "address": "dns_record.old", "action": "delete" }
            ],
            "hitless": [
                "alb.public", "dns_record.app", "helm_release.web", "virtual_service.new",
                "destination_rule.web", "acm_certificate.web", "ingress_gateway.internal",
                "nodegroup.old", "route53_zone.legacy"
            ]
        })
    );
}

#[test]
fn text_and_markdown_show_it_right_after_the_counts() {
    let text = render::text(&plan(), false);
    let head: Vec<&str> = text.lines().take(6).collect();
    assert_eq!(
        head,
        [
            "Plan: 1 to create, 5 to update, 2 to replace, 3 to delete, 1 to read, 2 unchanged.",
            "Blast radius:",
            "  public names changed: ingress_gateway.public load_balancer_hostname (replace), acm_certificate.web arn (replace), ingress_gateway.internal load_balancer_hostname (update in place)",
            "  replacements: ingress_gateway.public drags along 3 dependents (alb.public, dns_record.app, helm_release.web), acm_certificate.web drags along no dependent",
            "  interrupts traffic: ingress_gateway.public (replace), dns_record.old (delete)",
            "  hitless: alb.public, dns_record.app, helm_release.web, virtual_service.new, destination_rule.web, acm_certificate.web, ingress_gateway.internal, nodegroup.old, route53_zone.legacy",
        ]
    );
    let markdown = render::markdown(&plan());
    assert!(
        markdown.contains(
            "**Plan: 1 to create, 5 to update, 2 to replace, 3 to delete, 1 to read, 2 unchanged.**\n\n\
             **Blast radius**\n\n\
             - public names changed: `ingress_gateway.public` load_balancer_hostname (replace), `acm_certificate.web` arn (replace), `ingress_gateway.internal` load_balancer_hostname (update in place)\n\
             - replacements: `ingress_gateway.public` drags along 3 dependents (`alb.public`, `dns_record.app`, `helm_release.web`), `acm_certificate.web` drags along no dependent\n\
             - interrupts traffic: `ingress_gateway.public` (replace), `dns_record.old` (delete)\n"
        ),
        "{markdown}"
    );
}

#[test]
fn a_plan_of_only_hitless_changes_says_so_in_one_line() {
    let mut plan = plan();
    plan.changes.retain(|c| {
        ["alb.public", "virtual_service.new"].contains(&c.address.to_string().as_str())
    });
    assert!(BlastRadius::of(&plan).is_hitless());
    let text = render::text(&plan, false);
    assert_eq!(
        text.lines().nth(1),
        Some("Blast radius: every change is hitless (no replacement, no public name changed, nothing interrupts traffic).")
    );
}

#[test]
fn a_plan_without_changes_has_no_blast_radius_lines() {
    let mut plan = plan();
    plan.changes.retain(|c| c.address.to_string() == "vpc.main");
    assert_eq!(
        render::text(&plan, false),
        "No changes. 1 resources are up to date.\n"
    );
    let document: serde_json::Value = serde_json::from_str(&render::json(&plan)).unwrap();
    assert_eq!(
        document["blast_radius"],
        json!({ "public_names": [], "replacements": [], "interrupting": [], "hitless": [] })
    );
}

#[test]
fn long_lists_are_cut_in_text_but_whole_in_json() {
    let mut changes = vec![json!({ "address": "vpc.main", "kind": "vpc", "action": "replace" })];
    for i in 0..12 {
        changes.push(
            json!({ "address": format!("namespace.n{i:02}"), "kind": "namespace",
                             "action": "update", "depends_on": ["vpc.main"] }),
        );
    }
    let plan: Plan = serde_json::from_value(json!({
        "format_version": 1, "stack": "demo", "lineage": "l", "serial": 1,
        "stack_digest": "d", "changes": changes
    }))
    .unwrap();
    let text = render::text(&plan, false);
    assert!(
        text.contains("  replacements: vpc.main drags along 12 dependents (namespace.n00, namespace.n01, namespace.n02, namespace.n03, namespace.n04, namespace.n05, namespace.n06, namespace.n07, namespace.n08, namespace.n09 and 2 more)\n"),
        "{text}"
    );
    assert!(text.contains("namespace.n09 and 2 more\n"), "{text}");
    assert_eq!(BlastRadius::of(&plan).replacements[0].dependents.len(), 12);
}
