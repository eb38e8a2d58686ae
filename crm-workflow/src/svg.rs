//! A drawing of a definition's graph as SVG, for `crm workflow show` and the web shell.
//!
//! Nodes are laid out in layers from top to bottom: a node's layer is the longest path to it
//! from a start, counted over the graph without its loop-closing (back) edges. Within a layer
//! nodes sit in declaration order, then once reordered by the mean position of their
//! predecessors so that edges cross less. Edges that close a loop (dashed) or skip layers run
//! in lanes right of the nodes. Every text that comes from the definition is XML-escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::definition::{Definition, NodeKind};

const BOX_WIDTH: i64 = 168;
const BOX_HEIGHT: i64 = 48;
const GAP_X: i64 = 48;
const GAP_Y: i64 = 64;
const MARGIN: i64 = 24;
const TITLE_HEIGHT: i64 = 32;
/// Distance between the lanes of edges routed right of the nodes.
const LANE_GAP: i64 = 14;
/// Room right of the lanes for edge labels.
const LABEL_ROOM: i64 = 96;
/// Characters of a label shown inside a box; the full label is the box's tooltip.
const LABEL_CHARS: usize = 22;

/// Escapes text for use in SVG content and attribute values.
pub(crate) fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// How edges are stroked: a grey line ending in the arrow marker.
const EDGE: &str = r##"stroke="#444" marker-end="url(#arrow)""##;

/// A node box at `(x, y)` with the given style attributes.
fn rect(x: i64, y: i64, style: &str) -> String {
    format!(r#"<rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" {style}/>"#)
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= LABEL_CHARS {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(LABEL_CHARS - 1).collect();
        short.push('…');
        short
    }
}

/// Where each node is drawn: its layer and its slot within the layer.
struct Layout {
    layer: Vec<usize>,
    slot: Vec<usize>,
    layers: Vec<Vec<usize>>,
    back_edge: Vec<bool>,
}

fn layout(definition: &Definition) -> Layout {
    let count = definition.nodes.len();
    let ids: BTreeMap<&str, usize> =
        definition.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let ends: Vec<Option<(usize, usize)>> = definition
        .edges
        .iter()
        .map(|e| Some((*ids.get(e.from.as_str())?, *ids.get(e.to.as_str())?)))
        .collect();
    let mut successors: Vec<Vec<(usize, usize)>> = vec![Vec::new(); count];
    for (e, pair) in ends.iter().enumerate() {
        if let Some((from, to)) = pair {
            if let Some(list) = successors.get_mut(*from) {
                list.push((e, *to));
            }
        }
    }

    // Depth-first from the starts, then from anything left, marking edges that close a loop.
    let mut back_edge = vec![false; definition.edges.len()];
    let mut state = vec![0u8; count]; // 0 unseen, 1 on the stack, 2 done
    let starts = definition.nodes.iter().enumerate().filter(|(_, n)| n.kind == NodeKind::Start);
    let roots: Vec<usize> = starts.map(|(i, _)| i).chain(0..count).collect();
    for root in roots {
        if state.get(root) != Some(&0) {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        if let Some(s) = state.get_mut(root) {
            *s = 1;
        }
        while let Some((node, next)) = stack.pop() {
            let Some(&(edge, target)) = successors.get(node).and_then(|s| s.get(next)) else {
                if let Some(s) = state.get_mut(node) {
                    *s = 2;
                }
                continue;
            };
            stack.push((node, next + 1));
            match state.get(target) {
                Some(0) => {
                    if let Some(s) = state.get_mut(target) {
                        *s = 1;
                    }
                    stack.push((target, 0));
                }
                Some(1) => {
                    if let Some(b) = back_edge.get_mut(edge) {
                        *b = true;
                    }
                }
                _ => {}
            }
        }
    }

    // Longest path over the remaining acyclic edges, in topological order (Kahn).
    let mut indegree = vec![0usize; count];
    let forward = |e: usize| !back_edge.get(e).copied().unwrap_or(true);
    for (e, pair) in ends.iter().enumerate() {
        if let (Some((_, to)), true) = (pair, forward(e)) {
            if let Some(d) = indegree.get_mut(*to) {
                *d += 1;
            }
        }
    }
    let mut layer = vec![0usize; count];
    let mut ready: Vec<usize> = (0..count).rev().filter(|n| indegree.get(*n) == Some(&0)).collect();
    while let Some(node) = ready.pop() {
        let here = layer.get(node).copied().unwrap_or(0);
        for &(edge, target) in successors.get(node).into_iter().flatten() {
            if !forward(edge) {
                continue;
            }
            if let Some(l) = layer.get_mut(target) {
                *l = (*l).max(here + 1);
            }
            if let Some(d) = indegree.get_mut(target) {
                *d -= 1;
                if *d == 0 {
                    ready.push(target);
                }
            }
        }
    }

    let depth = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for (node, l) in layer.iter().enumerate() {
        if let Some(list) = layers.get_mut(*l) {
            list.push(node);
        }
    }
    let mut slot = vec![0usize; count];
    let mut predecessors: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (e, pair) in ends.iter().enumerate() {
        if let (Some((from, to)), true) = (pair, forward(e)) {
            if let Some(list) = predecessors.get_mut(*to) {
                list.push(*from);
            }
        }
    }
    for list in &mut layers {
        // Barycentre of the predecessors' slots (scaled by 1000 to stay in integers).
        let mut keyed: Vec<(usize, usize, usize)> = list
            .iter()
            .enumerate()
            .map(|(position, node)| {
                let preds = predecessors.get(*node).map_or(&[][..], Vec::as_slice);
                let key = if preds.is_empty() {
                    position * 1000
                } else {
                    let sum: usize = preds.iter().map(|p| slot.get(*p).copied().unwrap_or(0)).sum();
                    sum * 1000 / preds.len()
                };
                (key, position, *node)
            })
            .collect();
        keyed.sort();
        *list = keyed.into_iter().map(|(_, _, node)| node).collect();
        for (position, node) in list.iter().enumerate() {
            if let Some(s) = slot.get_mut(*node) {
                *s = position;
            }
        }
    }
    Layout { layer, slot, layers, back_edge }
}

impl Definition {
    /// Draws the graph as a standalone SVG document: nodes as labelled shapes in layers by
    /// longest path from the start, edges as arrows with their conditions, loops as curves.
    pub fn to_svg(&self) -> String {
        let layout = layout(self);
        let widest = layout.layers.iter().map(Vec::len).max().unwrap_or(1).max(1) as i64;
        // Edges that close a loop or skip layers run in lanes right of the nodes, so they
        // never cross a box.
        let ids: BTreeMap<&str, usize> =
            self.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
        let layer_of = |node: &str| ids.get(node).and_then(|i| layout.layer.get(*i)).copied();
        let routed: Vec<bool> = self
            .edges
            .iter()
            .enumerate()
            .map(|(e, edge)| {
                layout.back_edge.get(e).copied().unwrap_or(false)
                    || match (layer_of(&edge.from), layer_of(&edge.to)) {
                        (Some(from), Some(to)) => to > from + 1,
                        _ => false,
                    }
            })
            .collect();
        let nodes_right = MARGIN + widest * BOX_WIDTH + (widest - 1) * GAP_X;
        let lanes = routed.iter().filter(|r| **r).count() as i64;
        let width = nodes_right + lanes * LANE_GAP + MARGIN + LABEL_ROOM;
        let height =
            2 * MARGIN + TITLE_HEIGHT + layout.layers.len().max(1) as i64 * (BOX_HEIGHT + GAP_Y)
                - GAP_Y;
        let position = |node: usize| -> (i64, i64) {
            let l = layout.layer.get(node).copied().unwrap_or(0);
            let in_layer = layout.layers.get(l).map_or(1, Vec::len) as i64;
            let s = layout.slot.get(node).copied().unwrap_or(0) as i64;
            let row_width = in_layer * BOX_WIDTH + (in_layer - 1) * GAP_X;
            let left = MARGIN + (widest * BOX_WIDTH + (widest - 1) * GAP_X - row_width) / 2;
            (
                left + s * (BOX_WIDTH + GAP_X),
                MARGIN + TITLE_HEIGHT + l as i64 * (BOX_HEIGHT + GAP_Y),
            )
        };

        let mut svg = String::new();
        // Writing into a String cannot fail; the results are ignored on that ground.
        let _ = write!(
            svg,
            concat!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" "#,
                r#"viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#,
                "\n<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" ",
                "markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\">",
                "<path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#444\"/></marker></defs>\n",
                "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
            ),
            w = width,
            h = height
        );
        let title = if self.title.is_empty() { self.name.as_str() } else { self.title.as_str() };
        let _ = writeln!(
            svg,
            r#"<text x="{MARGIN}" y="{}" font-size="15" font-weight="bold">{} (v{})</text>"#,
            MARGIN + 14,
            escape_xml(title),
            self.version
        );

        let mut lane = 0;
        for (e, edge) in self.edges.iter().enumerate() {
            let (Some(from), Some(to)) = (ids.get(edge.from.as_str()), ids.get(edge.to.as_str()))
            else {
                continue;
            };
            let (fx, fy) = position(*from);
            let (tx, ty) = position(*to);
            let label = match &edge.when {
                Some(condition) => Some(condition.to_string()),
                None if self.nodes.get(*from).is_some_and(|n| n.kind == NodeKind::Gateway)
                    && self.edges.iter().filter(|x| x.from == edge.from).count() > 1 =>
                {
                    Some("else".to_owned())
                }
                None => None,
            };
            let (lx, ly);
            if routed.get(e).copied().unwrap_or(false) {
                lane += 1;
                let x = nodes_right + lane * LANE_GAP;
                let (sx, sy) = (fx + BOX_WIDTH, fy + BOX_HEIGHT / 2);
                let (ex, ey) = (tx + BOX_WIDTH, ty + BOX_HEIGHT / 2);
                let dash = if layout.back_edge.get(e).copied().unwrap_or(false) {
                    r#" stroke-dasharray="5 3""#
                } else {
                    ""
                };
                let _ = writeln!(
                    svg,
                    r##"<path d="M {sx} {sy} H {x} V {ey} H {ex}" fill="none" {EDGE}{dash}/>"##
                );
                lx = sx + 6;
                ly = sy - 4;
            } else {
                let (sx, sy) = (fx + BOX_WIDTH / 2, fy + BOX_HEIGHT);
                let (ex, ey) = (tx + BOX_WIDTH / 2, ty);
                let _ = writeln!(svg, r#"<line x1="{sx}" y1="{sy}" x2="{ex}" y2="{ey}" {EDGE}/>"#);
                lx = (sx + ex) / 2 + 4;
                ly = (sy + ey) / 2;
            }
            if let Some(label) = label {
                let _ = writeln!(
                    svg,
                    concat!(
                        r##"<text x="{lx}" y="{ly}" font-size="10" fill="#555">"##,
                        "<title>{}</title>{}</text>"
                    ),
                    escape_xml(&label),
                    escape_xml(&shorten(&label)),
                    lx = lx,
                    ly = ly,
                );
            }
        }

        for (i, node) in self.nodes.iter().enumerate() {
            let (x, y) = position(i);
            let (cx, cy) = (x + BOX_WIDTH / 2, y + BOX_HEIGHT / 2);
            let _ = write!(svg, "<g><title>{}</title>", escape_xml(node.display_label()));
            let shape = match &node.kind {
                NodeKind::Start | NodeKind::End => {
                    rect(x, y, r##"rx="24" fill="#e8f4e8" stroke="#2e7d32""##)
                }
                NodeKind::Gateway => format!(
                    r##"<polygon points="{cx},{y} {},{cy} {cx},{} {x},{cy}" {}/>"##,
                    x + BOX_WIDTH,
                    y + BOX_HEIGHT,
                    r##"fill="#fff8e1" stroke="#f9a825""##,
                ),
                NodeKind::Split | NodeKind::Join => {
                    rect(x, y, r##"fill="#ede7f6" stroke="#4527a0" stroke-width="3""##)
                }
                NodeKind::Notify(_) => {
                    rect(x, y, r##"rx="4" fill="#f5f5f5" stroke="#616161" stroke-dasharray="4 2""##)
                }
                NodeKind::Approval(_) => rect(x, y, r##"rx="4" fill="#e3f2fd" stroke="#1565c0""##),
            };
            let kind = match &node.kind {
                NodeKind::Approval(approval) => {
                    format!("approval · {:?}", approval.mode).to_lowercase()
                }
                other => other.name().to_owned(),
            };
            let _ = writeln!(
                svg,
                concat!(
                    r#"{shape}<text x="{cx}" y="{}" text-anchor="middle">{}</text>"#,
                    r##"<text x="{cx}" y="{}" text-anchor="middle" font-size="10" fill="#666">"##,
                    "{}</text></g>"
                ),
                cy - 2,
                escape_xml(&shorten(node.display_label())),
                cy + 12,
                escape_xml(&kind),
                shape = shape,
                cx = cx,
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape_xml(r#"<a & 'b' "c">"#), "&lt;a &amp; &apos;b&apos; &quot;c&quot;&gt;");
    }

    #[test]
    fn layers_by_longest_path_and_escapes_labels() {
        let definition = Definition::from_toml(
            r#"
            name = "t"
            title = "Quotes <& more>"
            form = "quote"
            nodes = [
              { id = "s", type = "start" },
              { id = "a", type = "approval", label = "Boss <1>", approvers = ["supervisor"] },
              { id = "g", type = "gateway" },
              { id = "e", type = "end" },
            ]
            edges = [
              { from = "s", to = "a" }, { from = "a", to = "g" },
              { from = "g", to = "a", when = "amount > 1" }, { from = "g", to = "e" },
              { from = "s", to = "e" },
            ]
            "#,
        )
        .unwrap();
        let layout = layout(&definition);
        // The end sits below the gateway (longest path), not beside the approval.
        assert_eq!(layout.layer, vec![0, 1, 2, 3]);
        assert_eq!(layout.back_edge, vec![false, false, true, false, false]);
        let svg = definition.to_svg();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("Quotes &lt;&amp; more&gt; (v0)"));
        assert!(svg.contains(">Boss &lt;1&gt;</text>"));
        assert!(svg.contains("amount &gt; 1"));
        assert!(svg.contains(">else</text>"));
        assert!(!svg.contains("<1>"));
        assert_eq!(svg.matches("<g>").count(), 4);
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
