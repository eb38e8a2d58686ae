//! The documented definition format: the sample file and the crate docs' example read,
//! validate against the quote form, survive a TOML and JSON round trip, run, and draw.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod support;

use crm_workflow::{Definition, EventKind, NodeKind, Status};
use support::{definition, org, quote, Run};

const SAMPLE: &str = include_str!("../examples/quote_approval.toml");

/// The ```toml block of the crate docs.
fn doc_example() -> String {
    let docs = include_str!("../src/lib.rs");
    let lines: Vec<&str> = docs
        .lines()
        .skip_while(|l| l.trim() != "//! ```toml")
        .skip(1)
        .take_while(|l| l.trim() != "//! ```")
        .map(|l| l.strip_prefix("//!").unwrap_or(l).strip_prefix(' ').unwrap_or(""))
        .collect();
    assert!(lines.len() > 20, "the docs hold the example");
    lines.join("\n")
}

#[test]
fn the_sample_file_and_the_docs_example_validate_and_round_trip() {
    for text in [SAMPLE.to_owned(), doc_example()] {
        let parsed = Definition::from_toml(&text).unwrap();
        parsed.validate(&support::quote_fields()).unwrap();
        assert_eq!(Definition::parse(&parsed.to_toml().unwrap()).unwrap(), parsed);
        assert_eq!(Definition::parse(&parsed.to_json().unwrap()).unwrap(), parsed);
        assert_eq!(parsed.name, "quote_approval");
    }
}

#[test]
fn the_sample_runs_through_its_parallel_review_and_notification() {
    let valid = definition(SAMPLE);
    assert_eq!(valid.split_of("reviewed").map(|n| n.id.as_str()), Some("review"));
    let mut run = Run::submit(&valid, 301, quote("250000"), org()).unwrap();
    // 301's unit manager 300 and supervisor 300 are one person: one task.
    assert_eq!(run.open_assignees(), [300]);
    run.approve(300).unwrap();
    assert_eq!(run.open_assignees(), [101, 102, 7]);
    run.approve(7).unwrap();
    run.approve(101).unwrap();
    run.approve(102).unwrap();
    let state = run.state();
    assert_eq!(state.status, Status::Approved);
    let told: Vec<u64> =
        state.notifications.iter().flat_map(|n| n.recipients.iter().map(|r| r.0)).collect();
    assert_eq!(told, [400]);
    assert!(run
        .events
        .iter()
        .any(|e| matches!(&e.kind, EventKind::BranchTaken { to, .. } if to == "review")));
}

#[test]
fn the_sample_draws_as_svg_with_every_node() {
    let parsed = Definition::from_toml(SAMPLE).unwrap();
    let svg = parsed.to_svg();
    assert!(svg.starts_with("<svg"));
    for node in &parsed.nodes {
        assert!(
            svg.contains(&format!("<title>{}</title>", node.display_label().replace('&', "&amp;"))),
            "{}",
            node.id
        );
    }
    let gateways = parsed.nodes.iter().filter(|n| n.kind == NodeKind::Gateway).count();
    assert_eq!(svg.matches("<polygon").count(), gateways);
    assert!(svg.contains("amount &gt; 100000 or discount &gt; 0.15"));
    assert_eq!(svg.matches("marker-end=").count(), parsed.edges.len());
    // The default branch skips the parallel section: it runs in a lane, not across boxes.
    assert_eq!(svg.matches("<path d=\"M 300").count(), 1);
}
