//! The traffic picture of the example stacks: it parses and renders to PNG (resvg), shows every
//! host, balancer, gateway and Service the stack declares (read from the stack here, not from
//! the traffic model), keeps DNS and balancers in the AWS band above the cluster band, colours
//! each link by the status given (checked on the rendered pixels), cannot be made to carry
//! markup by a name, and the copy in docs/ is what the current code draws.

use meshctl_graph::picture::{drawing, render_svg};
use meshctl_graph::svg::{self, LinkStatus, Placement};
use meshctl_graph::traffic::{traffic, TrafficModel};
use meshctl_model::{Kind, SourceFile, Spec, Stack, VarOverrides};
use resvg::tiny_skia::Pixmap;
use resvg::usvg::{self, roxmltree};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The example stack whose file name starts with `prefix` (`seed-004`), loaded.
fn seed(prefix: &str) -> Stack {
    let dir = repo().join("stacks");
    let path = std::fs::read_dir(&dir)
        .expect("stacks/ is readable")
        .map(|e| e.expect("stacks/ entry").path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".yaml"))
        })
        .unwrap_or_else(|| panic!("no stacks/{prefix}-*.yaml"));
    let text = std::fs::read_to_string(&path).expect("stack readable");
    let source = SourceFile::new(path.display().to_string(), text);
    let (checked, diagnostics) = meshctl_graph::validate(&source, &VarOverrides::default());
    checked
        .unwrap_or_else(|| panic!("{} does not load: {diagnostics:?}", path.display()))
        .0
}

/// Statuses that use all three colours: host by host, the first host's second link broken and
/// the rest of its path unchecked (verify stops at the first broken link), every other link ok.
fn statuses_with_one_break(model: &TrafficModel) -> BTreeMap<String, LinkStatus> {
    let mut statuses = BTreeMap::new();
    for (h, host) in model.hosts.iter().enumerate() {
        for (i, link) in host.links.iter().enumerate() {
            let status = match (h, i) {
                (0, 0) => LinkStatus::Ok,
                (0, 1) => LinkStatus::Broken,
                (0, _) => LinkStatus::Unchecked,
                _ => LinkStatus::Ok,
            };
            // A link shared by several hosts keeps its worst status.
            let worst = statuses.get(link).copied().map_or(status, |s: LinkStatus| {
                if s == LinkStatus::Broken || status == LinkStatus::Broken {
                    LinkStatus::Broken
                } else if s == LinkStatus::Unchecked || status == LinkStatus::Unchecked {
                    LinkStatus::Unchecked
                } else {
                    LinkStatus::Ok
                }
            });
            statuses.insert(link.clone(), worst);
        }
    }
    statuses
}

/// What a reader should find on the picture, read from the stack's resources directly.
fn expected_names(stack: &Stack) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for resource in &stack.resources {
        match &resource.spec {
            Spec::DnsRecord(record) if record.alias.is_some() => {
                names.insert(record.record.as_str().trim_end_matches('.').to_string());
            }
            Spec::Alb(_) | Spec::Gateway(_) | Spec::VirtualService(_) => {
                names.insert(resource.address.to_string());
            }
            Spec::IngressGateway(_) => {
                names.insert(resource.address.to_string());
            }
            _ => {}
        }
    }
    for vs in stack.of_kind(Kind::VirtualService) {
        let Spec::VirtualService(vs) = &vs.spec else {
            continue;
        };
        for destination in vs.http.iter().flat_map(|h| &h.route) {
            // `storefront.shop.svc.cluster.local` is the Service `storefront`.
            let service = destination.destination.host.split('.').next().unwrap_or("");
            names.insert(service.to_string());
        }
    }
    names
}

struct Rendered {
    svg: String,
    placement: Placement,
    statuses: BTreeMap<String, LinkStatus>,
    model: TrafficModel,
}

fn render_seed(prefix: &str) -> (Stack, Rendered) {
    let stack = seed(prefix);
    let model = traffic(&stack);
    let statuses = statuses_with_one_break(&model);
    let svg = render_svg(&model, &statuses);
    let placement = svg::place(&drawing(&model, &statuses));
    (
        stack,
        Rendered {
            svg,
            placement,
            statuses,
            model,
        },
    )
}

/// Renders to PNG at twice the size, writes it beside the test binary's temp dir, and returns
/// the pixels.
fn to_png(name: &str, svg: &str) -> Pixmap {
    let tree = usvg::Tree::from_str(svg, &usvg::Options::default())
        .unwrap_or_else(|e| panic!("{name}: the SVG does not parse: {e}"));
    let size = tree
        .size()
        .to_int_size()
        .scale_by(2.0)
        .expect("scaled size");
    let mut pixmap = Pixmap::new(size.width(), size.height()).expect("non-empty picture");
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(2.0, 2.0),
        &mut pixmap.as_mut(),
    );
    let png = pixmap.encode_png().expect("encodes as PNG");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.png"));
    std::fs::write(&out, &png).expect("PNG written");
    let back = Pixmap::decode_png(&png).expect("the PNG decodes");
    assert_eq!((back.width(), back.height()), (size.width(), size.height()));
    back
}

fn hex(colour: &str) -> (u8, u8, u8) {
    let v = u32::from_str_radix(colour.trim_start_matches('#'), 16).expect("#rrggbb");
    ((v >> 16) as u8, (v >> 8) as u8, v as u8)
}

/// Whether a pixel within `radius` of (x, y) (in SVG units) has `colour`, give or take
/// anti-aliasing.
fn colour_near(pixmap: &Pixmap, (x, y): (f64, f64), colour: &str, radius: i64) -> bool {
    let (r, g, b) = hex(colour);
    let (cx, cy) = ((x * 2.0).round() as i64, (y * 2.0).round() as i64);
    for py in cy - radius..=cy + radius {
        for px in cx - radius..=cx + radius {
            let (Ok(px), Ok(py)) = (u32::try_from(px), u32::try_from(py)) else {
                continue;
            };
            let Some(p) = pixmap.pixel(px, py) else {
                continue;
            };
            let close = |a: u8, b: u8| a.abs_diff(b) <= 24;
            if p.alpha() == 255 && close(p.red(), r) && close(p.green(), g) && close(p.blue(), b) {
                return true;
            }
        }
    }
    false
}

fn check_seed(prefix: &str) {
    let (stack, rendered) = render_seed(prefix);
    let pixmap = to_png(prefix, &rendered.svg);
    let document = roxmltree::Document::parse(&rendered.svg).expect("well-formed XML");

    // Every host, balancer, gateway and Service of the stack is written in some box.
    let texts: Vec<String> = document
        .descendants()
        .filter(|n| n.has_tag_name("g") && n.attribute("class") == Some("node"))
        .flat_map(|g| g.descendants().filter(|t| t.has_tag_name("text")))
        .map(|t| t.text().unwrap_or("").to_string())
        .collect();
    for name in expected_names(&stack) {
        assert!(
            texts
                .iter()
                .any(|t| t == &name || t.starts_with(&format!("{name}."))),
            "{prefix}: `{name}` is not on the picture; its boxes say {texts:?}"
        );
    }

    // The two bands, AWS above cluster; record and balancer boxes in AWS, the rest in cluster.
    let bands: Vec<_> = document
        .descendants()
        .filter(|n| n.has_tag_name("g") && n.attribute("class") == Some("band"))
        .map(|g| g.attribute("data-label").unwrap_or("").to_string())
        .collect();
    assert_eq!(bands, ["AWS", "cluster"], "{prefix}");
    let (aws, cluster) = (rendered.placement.bands[0], rendered.placement.bands[1]);
    assert!(
        aws.y + aws.height <= cluster.y,
        "{prefix}: AWS band overlaps the cluster band"
    );
    let drawn = drawing(&rendered.model, &rendered.statuses);
    for (node, rect) in drawn.nodes.iter().zip(&rendered.placement.boxes) {
        let Some(band) = node.band.map(|b| rendered.placement.bands[b]) else {
            assert!(
                rect.y + rect.height <= aws.y,
                "{prefix}: the client is above the bands"
            );
            continue;
        };
        assert!(
            rect.y >= band.y && rect.y + rect.height <= band.y + band.height,
            "{prefix}: box {} is outside its band",
            node.id
        );
    }
    let page = &rendered.placement;
    for rect in page.boxes.iter().chain(&page.bands) {
        assert!(
            rect.x >= 0.0 && rect.x + rect.width <= page.width && rect.y >= 0.0,
            "{prefix}: {rect:?} is off the page ({} wide)",
            page.width
        );
        assert!(
            rect.y + rect.height <= page.legend.1,
            "{prefix}: {rect:?} runs into the legend"
        );
    }
    for band in &page.bands {
        for b in &page.boxes {
            if b.y < band.y + band.height && band.y < b.y + b.height {
                assert!(
                    b.x + b.width <= band.x + band.width,
                    "{prefix}: {b:?} sticks out of {band:?}"
                );
            }
        }
    }
    for (i, a) in rendered.placement.boxes.iter().enumerate() {
        for b in &rendered.placement.boxes[i + 1..] {
            let apart = a.x + a.width <= b.x
                || b.x + b.width <= a.x
                || a.y + a.height <= b.y
                || b.y + b.height <= a.y;
            assert!(apart, "{prefix}: boxes overlap: {a:?} {b:?}");
        }
    }

    // Each link is drawn, in its status's colour in the SVG and on the pixels.
    let paths: BTreeMap<String, String> = document
        .descendants()
        .filter(|n| n.has_tag_name("path") && n.attribute("data-id").is_some())
        .map(|n| {
            (
                n.attribute("data-id").unwrap_or("").to_string(),
                n.attribute("stroke").unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        paths.len(),
        rendered.model.links.len(),
        "{prefix}: one path per link"
    );
    let mut seen = BTreeSet::new();
    for (i, link) in drawn.links.iter().enumerate() {
        let status = rendered
            .statuses
            .get(&link.id)
            .copied()
            .unwrap_or(LinkStatus::Unchecked);
        seen.insert(status);
        assert_eq!(
            paths.get(&link.id).map(String::as_str),
            Some(status.colour()),
            "{}",
            link.id
        );
        let mid = rendered.placement.midpoints[i];
        assert!(
            colour_near(&pixmap, mid, status.colour(), 6),
            "{prefix}: link {} is not drawn in {} ({}) at {mid:?}",
            link.id,
            status.name(),
            status.colour()
        );
    }
    assert_eq!(seen.len(), 3, "{prefix}: the test covers all three colours");
}

#[test]
fn seed_001_renders_to_png_with_every_name_band_and_colour() {
    check_seed("seed-001");
}

#[test]
fn seed_004_renders_to_png_with_every_name_band_and_colour() {
    check_seed("seed-004");
}

#[test]
fn a_hostile_name_stays_text() {
    let stack = seed("seed-004");
    let mut model = traffic(&stack);
    let hostile = r#"x"><script>alert(1)</script><rect onload="alert(2)"#;
    model.nodes[1].label = hostile.to_string();
    model.nodes[1].id = hostile.to_string();
    let svg = render_svg(&model, &BTreeMap::new());
    let document = roxmltree::Document::parse(&svg).expect("still well-formed XML");
    assert!(!document.descendants().any(|n| n.has_tag_name("script")));
    assert!(!document
        .descendants()
        .any(|n| n.attribute("onload").is_some()));
    let group = document
        .descendants()
        .find(|n| n.attribute("data-id") == Some(hostile))
        .expect("the id is an attribute value, whole");
    let text: Vec<_> = group.descendants().filter_map(|n| n.text()).collect();
    assert!(
        text.iter()
            .any(|t| hostile.starts_with(t.trim_end_matches('…'))),
        "{text:?}"
    );
    usvg::Tree::from_str(&svg, &usvg::Options::default()).expect("renders");
}

/// The picture in README.md: seed 004 as drawn after a verify that found the first host's
/// balancer link broken. Rewrite it with `MESHCTL_UPDATE_PICTURE=1 cargo test -p meshctl-graph
/// --test picture` after changing the drawing, and look at it before committing.
#[test]
fn the_readme_picture_is_what_the_code_draws() {
    let (_, rendered) = render_seed("seed-004");
    let committed = repo().join("docs/seed-004-traffic.svg");
    if std::env::var_os("MESHCTL_UPDATE_PICTURE").is_some() {
        std::fs::write(&committed, &rendered.svg).expect("docs/seed-004-traffic.svg written");
    }
    let on_disk = std::fs::read_to_string(&committed).unwrap_or_default();
    assert!(
        on_disk == rendered.svg,
        "docs/seed-004-traffic.svg is not what the code draws now; run \
         MESHCTL_UPDATE_PICTURE=1 cargo test -p meshctl-graph --test picture, look at it, commit it"
    );
}
