//! `spanflow run --stats`: the per-node table of a file run, on stderr, rows alone on stdout.

use crate::specs::repo_root;
use spanflow::app::{run_program_on_file_with, RunOptions};
use spanflow::node_stats::node_table;
use spanflow::spec_file::load;
use std::process::Command;

const CIR: &str = "dag-specs/video/connection_induced_rebuffering.yaml";
const HEARTBEATS: &str = "fixtures/generated/heartbeats-small.avro";

#[test]
fn the_cir_table_on_the_small_heartbeats() {
    let program = load(&repo_root().join(CIR)).program.expect("valid spec");
    let options = RunOptions {
        node_stats: true,
        ..RunOptions::default()
    };
    let mut rows = Vec::new();
    let summary = run_program_on_file_with(
        &program,
        &repo_root().join(HEARTBEATS),
        None,
        &mut rows,
        None,
        options,
    )
    .expect("the run succeeds");
    let stats = summary.node_stats.expect("counted with node_stats");
    assert_eq!(stats.nodes.len(), program.plan.nodes.len());
    // The event source sees every record, and steps add up to 100%.
    assert_eq!(stats.nodes[0].outputs, summary.records);
    insta::assert_snapshot!(node_table(&program, &stats));

    let plain = run_program_on_file_with(
        &program,
        &repo_root().join(HEARTBEATS),
        None,
        &mut Vec::new(),
        None,
        RunOptions::default(),
    )
    .expect("the run succeeds");
    assert!(
        plain.node_stats.is_none(),
        "nothing is counted without the flag"
    );
}

#[test]
fn the_cli_prints_the_table_on_stderr_after_the_rows() {
    let run = |stats: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_spanflow"));
        c.current_dir(repo_root())
            .env_remove("SPANFLOW_CONFIG")
            .env("RUST_LOG", "warn")
            .args(["run", CIR, "--input", HEARTBEATS]);
        if stats {
            c.arg("--stats");
        }
        c.output().unwrap()
    };
    let (with, without) = (run(true), run(false));
    assert!(with.status.success() && without.status.success());
    assert_eq!(with.stdout, without.stdout, "stdout carries the rows only");
    let stderr = String::from_utf8(with.stderr).unwrap();
    let program = load(&repo_root().join(CIR)).program.unwrap();
    let header = stderr
        .lines()
        .position(|l| l.starts_with("node ") && l.ends_with("share of steps"))
        .unwrap_or_else(|| panic!("no table header:\n{stderr}"));
    let table: Vec<&str> = stderr.lines().skip(header + 1).collect();
    let ids: Vec<&str> = table
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let plan: Vec<&str> = program.plan.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, plan, "one line per node, in plan order:\n{stderr}");
    assert!(
        String::from_utf8(without.stderr).unwrap().is_empty(),
        "no table without --stats"
    );
}
