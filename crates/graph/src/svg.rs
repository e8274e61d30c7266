//! The traffic picture as SVG: a `Drawing` (bands, labelled boxes, links with a status) laid out
//! by layout-rs (a pure-Rust Sugiyama layout: layering, crossing reduction, Brandes–Köpf
//! placement, spline edges) and written as standalone SVG with a legend.
//!
//! Everything a `Drawing` holds may come from a stack file, so every string is XML-escaped where
//! it is written (text and attributes alike) and long lines are cut (the whole text stays in the
//! box's `<title>`). The layout is deterministic, so the same drawing gives the same bytes.

use layout::core::base::Orientation;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::Point;
use layout::core::style::StyleAttr;
use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
use layout::topo::layout::VisualGraph;
use std::fmt::Write as _;

/// What the last check said of a link; it gives the link its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkStatus {
    /// The last verify found the link working.
    Ok,
    /// The last verify found the link broken.
    Broken,
    /// No verify result for this link (never verified, or verify stopped before it).
    Unchecked,
}

impl LinkStatus {
    pub const ALL: [LinkStatus; 3] = [LinkStatus::Ok, LinkStatus::Broken, LinkStatus::Unchecked];

    /// The word used in the legend and as the link's CSS class.
    pub fn name(self) -> &'static str {
        match self {
            LinkStatus::Ok => "ok",
            LinkStatus::Broken => "broken",
            LinkStatus::Unchecked => "unchecked",
        }
    }

    /// The stroke colour, as `#rrggbb`.
    pub fn colour(self) -> &'static str {
        match self {
            LinkStatus::Ok => "#2e7d32",
            LinkStatus::Broken => "#d32f2f",
            LinkStatus::Unchecked => "#8a8a8a",
        }
    }

    fn legend(self) -> &'static str {
        match self {
            LinkStatus::Ok => "ok: the last verify passed this link",
            LinkStatus::Broken => "broken: the last verify failed here",
            LinkStatus::Unchecked => "unchecked: no verify result",
        }
    }
}

/// A horizontal band behind the boxes of one layer (AWS, cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawingBand {
    /// Written in the band's left margin.
    pub label: String,
    /// Background colour, `#rrggbb`.
    pub fill: &'static str,
}

/// One labelled box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawingNode {
    /// Stable id, written as the box's `data-id`.
    pub id: String,
    /// Index into `Drawing::bands`; `None` draws the box outside every band.
    pub band: Option<usize>,
    /// The first line, in bold (what the box is: "ALB", "Gateway"…).
    pub heading: String,
    /// The lines below the heading (name, scheme, listeners…).
    pub lines: Vec<String>,
}

/// One arrow from box `from` to box `to` (indices into `Drawing::nodes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawingLink {
    /// Stable id, written as the path's `data-id`.
    pub id: String,
    pub from: usize,
    pub to: usize,
    pub status: LinkStatus,
}

/// What to draw; `render` lays it out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drawing {
    /// Written above the picture.
    pub title: String,
    pub bands: Vec<DrawingBand>,
    pub nodes: Vec<DrawingNode>,
    pub links: Vec<DrawingLink>,
}

/// Where the layout put things, in the SVG's coordinates (for `render` and for tests that look
/// at the rendered pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub width: f64,
    pub height: f64,
    /// Per node: top-left corner and size.
    pub boxes: Vec<Rect>,
    /// Per band: its rectangle (zero-sized when no box is in it).
    pub bands: Vec<Rect>,
    /// Per link: the SVG path data (`M … C … S …`).
    pub paths: Vec<String>,
    /// Per link: the middle of its first curve segment, a point on the drawn line.
    pub midpoints: Vec<(f64, f64)>,
    /// Top-left corner of the legend.
    pub legend: (f64, f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// Font metrics the box sizes assume: a monospace font, so a label's width is known without
/// measuring text.
const FONT_SIZE: f64 = 12.0;
const CHAR_WIDTH: f64 = 7.3;
const LINE_HEIGHT: f64 = 16.0;
const BOX_PADDING: f64 = 8.0;
/// Longer lines are cut with "…" (the full text is in the box's tooltip).
const MAX_LINE_CHARS: usize = 44;
/// Left margin holding the band labels.
const GUTTER: f64 = 150.0;
const MARGIN: f64 = 16.0;
const TITLE_HEIGHT: f64 = 28.0;
const BAND_PADDING: f64 = 14.0;
const LEGEND_HEIGHT: f64 = 3.0 * 20.0 + 12.0;
const LINK_WIDTH: f64 = 2.5;

/// The drawing as a standalone SVG document.
pub fn render(drawing: &Drawing) -> String {
    let placement = place(drawing);
    write_svg(drawing, &placement)
}

/// Lays the drawing out (top to bottom: links point down) and fits it to the page.
pub fn place(drawing: &Drawing) -> Placement {
    let (boxes, raw_paths) = layered_layout(drawing);
    // Fit: the layout's coordinates start anywhere; move them right of the gutter, below the
    // title, and let each band span the page.
    let mut min_x = f64::INFINITY;
    let mut min_y = f64::INFINITY;
    let mut max_x = f64::NEG_INFINITY;
    let mut max_y = f64::NEG_INFINITY;
    for r in &boxes {
        min_x = min_x.min(r.x);
        min_y = min_y.min(r.y);
        max_x = max_x.max(r.x + r.width);
        max_y = max_y.max(r.y + r.height);
    }
    for path in &raw_paths {
        for (x, y) in path {
            min_x = min_x.min(*x);
            min_y = min_y.min(*y);
            max_x = max_x.max(*x);
            max_y = max_y.max(*y);
        }
    }
    if !min_x.is_finite() {
        (min_x, min_y, max_x, max_y) = (0.0, 0.0, 0.0, 0.0);
    }
    let dx = MARGIN + GUTTER + BAND_PADDING - min_x;
    let dy = MARGIN + TITLE_HEIGHT + BAND_PADDING - min_y;
    let boxes: Vec<Rect> = boxes
        .into_iter()
        .map(|r| Rect {
            x: r.x + dx,
            y: r.y + dy,
            ..r
        })
        .collect();
    let paths: Vec<Curve> = raw_paths
        .into_iter()
        .map(|p| p.into_iter().map(|(x, y)| (x + dx, y + dy)).collect())
        .collect();
    let legend_width = 24.0 + 8.0 + CHAR_WIDTH * 40.0;
    let content_right = max_x + dx + BAND_PADDING;
    let width = (content_right + MARGIN).max(MARGIN * 2.0 + GUTTER + legend_width);
    let band_left = MARGIN;
    let band_width = width - 2.0 * MARGIN;
    let bands: Vec<Rect> = (0..drawing.bands.len())
        .map(|band| {
            let members = drawing
                .nodes
                .iter()
                .zip(&boxes)
                .filter(|(node, _)| node.band == Some(band));
            let (top, bottom) = members.fold((f64::INFINITY, f64::NEG_INFINITY), |acc, (_, r)| {
                (acc.0.min(r.y), acc.1.max(r.y + r.height))
            });
            if top.is_finite() {
                Rect {
                    x: band_left,
                    y: top - BAND_PADDING,
                    width: band_width,
                    height: bottom - top + 2.0 * BAND_PADDING,
                }
            } else {
                Rect {
                    x: band_left,
                    y: 0.0,
                    width: 0.0,
                    height: 0.0,
                }
            }
        })
        .collect();
    let content_bottom = max_y + dy + BAND_PADDING;
    let legend = (MARGIN + GUTTER, content_bottom + MARGIN);
    let height = legend.1 + LEGEND_HEIGHT + MARGIN;
    Placement {
        width: round(width),
        height: round(height),
        midpoints: paths.iter().map(|p| curve_midpoint(p)).collect(),
        paths: paths.iter().map(|p| path_data(p)).collect(),
        boxes,
        bands,
        legend,
    }
}

/// The size a node's box needs for its text.
fn box_size(node: &DrawingNode) -> (f64, f64) {
    let widest = std::iter::once(&node.heading)
        .chain(&node.lines)
        .map(|line| display_width(&cut(line)))
        .max()
        .unwrap_or(0);
    let lines = 1 + node.lines.len();
    (
        (widest as f64 * CHAR_WIDTH + 2.0 * BOX_PADDING).max(60.0),
        lines as f64 * LINE_HEIGHT + 2.0 * BOX_PADDING - 4.0,
    )
}

/// Runs layout-rs over the drawing: node boxes (top-left corner and size) and, per link, the
/// points of its curve as layout-rs gives them (start, then control/end pairs).
fn layered_layout(drawing: &Drawing) -> (Vec<Rect>, Vec<Curve>) {
    let mut boxes: Vec<Rect> = drawing
        .nodes
        .iter()
        .map(|n| {
            let (width, height) = box_size(n);
            Rect {
                x: 0.0,
                y: 0.0,
                width,
                height,
            }
        })
        .collect();
    let mut paths = vec![Vec::new(); drawing.links.len()];
    if drawing.nodes.is_empty() {
        return (boxes, paths);
    }
    let mut graph = VisualGraph::new(Orientation::TopToBottom);
    let handles: Vec<_> = drawing
        .nodes
        .iter()
        .zip(&boxes)
        .enumerate()
        .map(|(i, (_, r))| {
            // The element's text stays empty: the boxes are written by `write_svg`, the layout
            // only needs their size. `properties` carries the index back through the backend.
            graph.add_node(Element::create_with_properties(
                ShapeKind::Box(String::new()),
                StyleAttr::simple(),
                Orientation::TopToBottom,
                Point::new(r.width, r.height),
                format!("n{i}"),
            ))
        })
        .collect();
    for (i, link) in drawing.links.iter().enumerate() {
        // A link naming a box that does not exist, or a box itself, has nothing to draw.
        let (Some(&from), Some(&to)) = (handles.get(link.from), handles.get(link.to)) else {
            continue;
        };
        if link.from == link.to {
            continue;
        }
        graph.add_edge(Arrow::simple_with_properties("", format!("l{i}")), from, to);
    }
    let mut capture = Capture::default();
    graph.do_it(false, false, false, &mut capture);
    for (key, xy, size) in capture.rects {
        if let Some(r) = index_of(&key, 'n').and_then(|i| boxes.get_mut(i)) {
            *r = Rect {
                x: xy.x,
                y: xy.y,
                width: size.x,
                height: size.y,
            };
        }
    }
    for (key, points) in capture.arrows {
        if let Some(path) = index_of(&key, 'l').and_then(|i| paths.get_mut(i)) {
            *path = points;
        }
    }
    (boxes, paths)
}

fn index_of(key: &Option<String>, prefix: char) -> Option<usize> {
    key.as_deref()?.strip_prefix(prefix)?.parse().ok()
}

/// The points of one link's curve: the start, then control/end pairs (see `Capture::draw_arrow`).
type Curve = Vec<(f64, f64)>;

/// A layout-rs backend that keeps where boxes and arrows went and draws nothing.
#[derive(Default)]
struct Capture {
    rects: Vec<(Option<String>, Point, Point)>,
    arrows: Vec<(Option<String>, Curve)>,
}

impl RenderBackend for Capture {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        _look: &StyleAttr,
        properties: Option<String>,
        _clip: Option<ClipHandle>,
    ) {
        self.rects.push((properties, xy, size));
    }

    fn draw_line(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}

    fn draw_circle(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}

    fn draw_text(&mut self, _: Point, _: &str, _: &StyleAttr) {}

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        _dashed: bool,
        _head: (bool, bool),
        _look: &StyleAttr,
        properties: Option<String>,
        _text: &str,
    ) {
        // layout-rs's path: the start point with its control point, then for each further
        // point its incoming control point and the point (an SVG `M p C c c p S c p …`).
        let mut points = Vec::with_capacity(path.len() * 2);
        for (a, b) in path {
            points.push((a.x, a.y));
            points.push((b.x, b.y));
        }
        self.arrows.push((properties, points));
    }

    fn create_clip(&mut self, _: Point, _: Point, _: usize) -> ClipHandle {
        0
    }
}

/// SVG path data for layout-rs's points: `M p0 C c0 c1 p1 S c p …`.
fn path_data(points: &[(f64, f64)]) -> String {
    let mut d = String::new();
    if points.len() < 4 {
        return d;
    }
    let _ = write!(
        d,
        "M {} {} C {} {} {} {} {} {}",
        round(points[0].0),
        round(points[0].1),
        round(points[1].0),
        round(points[1].1),
        round(points[2].0),
        round(points[2].1),
        round(points[3].0),
        round(points[3].1)
    );
    for pair in points[4..].chunks(2) {
        if let [c, p] = pair {
            let _ = write!(
                d,
                " S {} {} {} {}",
                round(c.0),
                round(c.1),
                round(p.0),
                round(p.1)
            );
        }
    }
    d
}

/// The point at t = ½ of the first cubic segment.
fn curve_midpoint(points: &[(f64, f64)]) -> (f64, f64) {
    if points.len() < 4 {
        return points.first().copied().unwrap_or((0.0, 0.0));
    }
    let at = |k: usize| points[k];
    let (p0, c0, c1, p1) = (at(0), at(1), at(2), at(3));
    (
        (p0.0 + 3.0 * c0.0 + 3.0 * c1.0 + p1.0) / 8.0,
        (p0.1 + 3.0 * c0.1 + 3.0 * c1.1 + p1.1) / 8.0,
    )
}

/// Coordinates with two decimals, so the output does not carry float noise.
fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn write_svg(drawing: &Drawing, placement: &Placement) -> String {
    let mut svg = String::new();
    let (width, height) = (placement.width, placement.height);
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{FONT_SIZE}">"#
    );
    let _ = writeln!(svg, "<title>{}</title>", escape(&drawing.title));
    svg.push_str("<defs>\n");
    for status in LinkStatus::ALL {
        // One arrowhead per status: a marker cannot take the colour of the line that uses it
        // in SVG 1.1 renderers.
        let _ = writeln!(
            svg,
            r#"<marker id="head-{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="{colour}"/></marker>"#,
            name = status.name(),
            colour = status.colour()
        );
    }
    svg.push_str("</defs>\n");
    let _ = writeln!(
        svg,
        r##"<rect class="background" x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        svg,
        r##"<text class="title" x="{x}" y="{y}" font-size="14" font-weight="bold" fill="#222222">{title}</text>"##,
        x = MARGIN,
        y = MARGIN + 14.0,
        title = escape(&cut_to(&drawing.title, 100))
    );
    for (band, rect) in drawing.bands.iter().zip(&placement.bands) {
        if rect.width == 0.0 {
            continue;
        }
        let _ = writeln!(
            svg,
            r##"<g class="band" data-label="{label}"><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="#c8c8c8"/><text x="{tx}" y="{ty}" font-weight="bold" fill="#444444">{text}</text></g>"##,
            label = escape(&band.label),
            x = round(rect.x),
            y = round(rect.y),
            w = round(rect.width),
            h = round(rect.height),
            fill = escape(band.fill),
            tx = round(rect.x + 10.0),
            ty = round(rect.y + 20.0),
            text = escape(&cut_to(&band.label, 18)),
        );
    }
    for (link, d) in drawing.links.iter().zip(&placement.paths) {
        if d.is_empty() {
            continue;
        }
        let dash = if link.status == LinkStatus::Unchecked {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            r#"<path class="link {name}" data-id="{id}" d="{d}" fill="none" stroke="{colour}" stroke-width="{LINK_WIDTH}"{dash} marker-end="url(#head-{name})"><title>{title}</title></path>"#,
            name = link.status.name(),
            id = escape(&link.id),
            colour = link.status.colour(),
            title = escape(&format!("{} ({})", link.id, link.status.name())),
        );
    }
    for (node, rect) in drawing.nodes.iter().zip(&placement.boxes) {
        let full = std::iter::once(node.heading.as_str())
            .chain(node.lines.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("\n");
        let _ = write!(
            svg,
            r##"<g class="node" data-id="{id}"><title>{full}</title><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="#ffffff" stroke="#555555" stroke-width="1.2"/>"##,
            id = escape(&node.id),
            full = escape(&full),
            x = round(rect.x),
            y = round(rect.y),
            w = round(rect.width),
            h = round(rect.height),
        );
        let text_x = round(rect.x + BOX_PADDING);
        let mut baseline = rect.y + BOX_PADDING + FONT_SIZE - 1.0;
        let _ = write!(
            svg,
            r##"<text x="{text_x}" y="{y}" font-weight="bold" fill="#222222">{text}</text>"##,
            y = round(baseline),
            text = escape(&cut(&node.heading)),
        );
        for line in &node.lines {
            baseline += LINE_HEIGHT;
            let _ = write!(
                svg,
                r##"<text x="{text_x}" y="{y}" fill="#333333">{text}</text>"##,
                y = round(baseline),
                text = escape(&cut(line)),
            );
        }
        svg.push_str("</g>\n");
    }
    let (legend_x, legend_y) = placement.legend;
    let _ = write!(
        svg,
        r##"<g class="legend"><text x="{x}" y="{y}" font-weight="bold" fill="#222222">links: the last verify result</text>"##,
        x = round(legend_x),
        y = round(legend_y + 12.0),
    );
    for (row, status) in LinkStatus::ALL.into_iter().enumerate() {
        let y = round(legend_y + 12.0 + 20.0 * (row as f64 + 1.0));
        let dash = if status == LinkStatus::Unchecked {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r#"<g class="legend-entry {name}"><line x1="{x1}" y1="{ly}" x2="{x2}" y2="{ly}" stroke="{colour}" stroke-width="{LINK_WIDTH}"{dash}/><text x="{tx}" y="{y}" fill="{colour}">{text}</text></g>"#,
            name = status.name(),
            x1 = round(legend_x),
            x2 = round(legend_x + 24.0),
            ly = round(y - 4.0),
            colour = status.colour(),
            tx = round(legend_x + 32.0),
            text = escape(status.legend()),
        );
    }
    svg.push_str("</g>\n</svg>\n");
    svg
}

/// XML-escapes text and attribute values alike, and replaces characters XML 1.0 cannot carry at
/// all (control characters, even as references) with U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn cut(line: &str) -> String {
    cut_to(line, MAX_LINE_CHARS)
}

/// The line cut to `max` display columns, ending in "…" when cut.
fn cut_to(line: &str, max: usize) -> String {
    if display_width(line) <= max {
        return line.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in line.chars() {
        let w = char_width(c);
        if used + w > max.saturating_sub(1) {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

fn display_width(line: &str) -> usize {
    line.chars().map(char_width).sum()
}

/// Columns a character takes in a monospace font: East Asian wide characters take two.
fn char_width(c: char) -> usize {
    match c as u32 {
        0x1100..=0x115F
        | 0x2E80..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1FAFF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, band: Option<usize>) -> DrawingNode {
        DrawingNode {
            id: id.to_string(),
            band,
            heading: "Box".to_string(),
            lines: vec![id.to_string()],
        }
    }

    fn link(from: usize, to: usize, status: LinkStatus) -> DrawingLink {
        DrawingLink {
            id: format!("{from}->{to}"),
            from,
            to,
            status,
        }
    }

    fn chain() -> Drawing {
        Drawing {
            title: "chain".to_string(),
            bands: vec![
                DrawingBand {
                    label: "AWS".to_string(),
                    fill: "#fff4e5",
                },
                DrawingBand {
                    label: "cluster".to_string(),
                    fill: "#e8f0fe",
                },
            ],
            nodes: vec![
                node("client", None),
                node("record", Some(0)),
                node("alb", Some(0)),
                node("gateway", Some(1)),
            ],
            links: vec![
                link(0, 1, LinkStatus::Ok),
                link(1, 2, LinkStatus::Broken),
                link(2, 3, LinkStatus::Unchecked),
            ],
        }
    }

    #[test]
    fn links_point_down_and_boxes_do_not_overlap() {
        let placement = place(&chain());
        for pair in placement.boxes.windows(2) {
            assert!(
                pair[0].y + pair[0].height <= pair[1].y,
                "each box of a chain is below the previous one: {:?}",
                placement.boxes
            );
        }
        let (aws, cluster) = (placement.bands[0], placement.bands[1]);
        assert!(
            aws.y + aws.height <= cluster.y,
            "bands overlap: {aws:?} {cluster:?}"
        );
        for (i, b) in placement.boxes.iter().enumerate().skip(1) {
            let band = if i < 3 { aws } else { cluster };
            assert!(b.y >= band.y && b.y + b.height <= band.y + band.height);
            assert!(b.x >= band.x && b.x + b.width <= band.x + band.width);
        }
    }

    #[test]
    fn each_link_is_drawn_in_its_status_colour() {
        let svg = render(&chain());
        for (id, status) in [
            ("0-&gt;1", LinkStatus::Ok),
            ("1-&gt;2", LinkStatus::Broken),
            ("2-&gt;3", LinkStatus::Unchecked),
        ] {
            let line = svg
                .lines()
                .find(|l| l.contains(&format!(r#"data-id="{id}""#)))
                .unwrap_or_else(|| panic!("no path for {id} in\n{svg}"));
            assert!(
                line.contains(&format!(r#"stroke="{}""#, status.colour())),
                "{line}"
            );
            assert!(line.contains(&format!("head-{}", status.name())), "{line}");
        }
    }

    #[test]
    fn text_from_the_stack_cannot_add_markup() {
        let hostile = r#"a"/><script>alert(1)</script><text x="0"#;
        let mut drawing = chain();
        drawing.nodes[1].lines = vec![hostile.to_string()];
        drawing.nodes[1].id = hostile.to_string();
        drawing.links[0].id = hostile.to_string();
        let svg = render(&drawing);
        assert!(!svg.contains("<script"), "{svg}");
        assert!(!svg.contains(hostile), "{svg}");
        assert!(!svg.contains(r#"<text x="0"#), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
        assert_eq!(escape("a\u{0}b\u{1b}c"), "a\u{FFFD}b\u{FFFD}c");
    }

    #[test]
    fn long_lines_are_cut_and_wide_characters_count_twice() {
        let long = "x".repeat(200);
        assert_eq!(display_width(&cut(&long)), MAX_LINE_CHARS);
        assert!(cut(&long).ends_with('…'));
        assert_eq!(display_width("전제"), 4);
        let mut drawing = chain();
        drawing.nodes[1].lines = vec![long];
        let placement = place(&drawing);
        assert!(placement.boxes[1].width < (MAX_LINE_CHARS as f64 + 4.0) * CHAR_WIDTH);
    }

    #[test]
    fn a_drawing_without_links_or_boxes_still_renders() {
        let empty = render(&Drawing::default());
        assert!(empty.starts_with("<svg") && empty.trim_end().ends_with("</svg>"));
        let mut lone = chain();
        lone.links.clear();
        lone.links.push(link(0, 9, LinkStatus::Ok));
        lone.links.push(link(1, 1, LinkStatus::Ok));
        assert!(render(&lone).contains("class=\"node\""));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// layout-rs asserts on graph shapes it does not expect; any drawing (back edges,
        /// duplicate links, boxes in no band, long and wide text) must lay out without a panic
        /// and without overlapping boxes.
        #[test]
        fn any_drawing_lays_out(
            sizes in proptest::collection::vec((0usize..3, 0usize..60, 0usize..4), 1..24),
            edges in proptest::collection::vec((0usize..24, 0usize..24, 0usize..3), 0..40),
        ) {
            let mut drawing = chain();
            drawing.nodes = sizes
                .iter()
                .enumerate()
                .map(|(i, (band, width, lines))| DrawingNode {
                    id: format!("n{i}"),
                    band: (*band < 2).then_some(*band),
                    heading: "전".repeat(*width / 2),
                    lines: vec!["x".repeat(*width); *lines],
                })
                .collect();
            drawing.links = edges
                .iter()
                .map(|(from, to, status)| link(*from % sizes.len(), *to % sizes.len(), LinkStatus::ALL[*status]))
                .collect();
            let placement = place(&drawing);
            for (i, a) in placement.boxes.iter().enumerate() {
                proptest::prop_assert!(a.x >= 0.0 && a.x + a.width <= placement.width);
                for b in &placement.boxes[i + 1..] {
                    let apart = a.x + a.width <= b.x + 0.01
                        || b.x + b.width <= a.x + 0.01
                        || a.y + a.height <= b.y + 0.01
                        || b.y + b.height <= a.y + 0.01;
                    proptest::prop_assert!(apart, "{:?} {:?}", a, b);
                }
            }
            let svg = write_svg(&drawing, &placement);
            proptest::prop_assert!(svg.ends_with("</svg>\n"));
        }
    }

    #[test]
    fn the_same_drawing_gives_the_same_bytes() {
        assert_eq!(render(&chain()), render(&chain()));
    }
}
