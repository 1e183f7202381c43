//! The binary as a shell pipeline runs it.

use std::io::Read;
use std::process::{Command, Stdio};

use nextbest::domain::PlanStatus;
use nextbest::eval::synth::SynthParams;

use crate::helpers::{trained_world, BIN};

/// Reads `child`'s standard output up to its first newline, a byte at a time so that
/// nothing more is taken from the pipe, and closes it, as `head -1` does.
fn read_first_line_and_close(child: &mut std::process::Child) -> Vec<u8> {
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut line = Vec::new();
    let mut byte = [0u8];
    while stdout.read(&mut byte).expect("read stdout") == 1 {
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    line
}

/// `nextbest similar … | head -1` ended with "nextbest: Broken pipe (os error 32)" and
/// exit status 2, and the commands that printed with `println!` panicked ("failed
/// printing to stdout"). A reader that stops early has read what it wanted: like
/// ripgrep, the command exits 0 and says nothing.
///
/// `similar` over 300 partners writes about 90 KiB, more than a pipe holds (64 KiB), so
/// it is still writing when the reader leaves, whatever the timing; the other commands
/// cover the JSON and CSV writers.
#[tokio::test]
async fn a_reader_that_leaves_after_the_first_line_ends_the_command_quietly_and_successfully() {
    let params = SynthParams {
        partners: 300,
        seed: 11,
        truth_draws: 4,
        ..SynthParams::default()
    };
    let world = trained_world("pipe", &params).await;
    let plan = world
        .db
        .store
        .plans_page(&world.db.tenant, None, 1, None, Some(PlanStatus::Active))
        .await
        .unwrap()
        .into_iter()
        .next()
        .expect("an active plan")
        .plan_id
        .to_string();
    let nextbest = |args: &[&str]| {
        let mut command = Command::new(BIN);
        command
            .arg("--data-dir")
            .arg(world.db.data_dir())
            .arg("--models-dir")
            .arg(world.models.path())
            .args(["--tenant", &world.db.tenant])
            .args(args);
        command
    };
    // The binary searches the index under its data directory: build it there.
    let reindexed = nextbest(&["reindex"]).output().unwrap();
    assert!(
        reindexed.status.success(),
        "{}",
        String::from_utf8_lossy(&reindexed.stderr)
    );

    let as_of = ["--as-of", "2026-10-01"];
    let similar = [&["similar", "--partner", "p0001", "--k", "300"][..], &as_of].concat();
    let recommend = [
        &["recommend", "--plan", &plan, "--json", "--k", "34"][..],
        &as_of,
    ]
    .concat();
    let predict = [&["predict"][..], &as_of].concat();
    for args in [similar, recommend, predict, vec!["stats", "--json"]] {
        let mut child = nextbest(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let first = read_first_line_and_close(&mut child);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!first.is_empty(), "{args:?} printed nothing: {stderr}");
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
    }
}
