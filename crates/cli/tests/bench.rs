//! The load generators run end to end: `signet bench log` and `signet bench
//! ca`, small, through the binary. (The numbers they report are measured
//! by hand on a release build: crates/log/PERFORMANCE.md,
//! crates/ca/README.md; here only that every request they send is
//! answered as it should be.)

mod support {
    pub mod cli;
    pub mod registry;
    pub mod up;
}

use support::cli::*;

/// The `N` of "`label` N x CODE (F failed)" in `out`, and F.
fn counted(out: &str, label: &str, code: &str) -> (usize, usize) {
    let line = out
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{out}"));
    let rest = &line[label.len()..];
    let ok = rest
        .split(&format!(" x {code}"))
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count in {line:?}"));
    let failed = rest
        .split_once('(')
        .and_then(|(_, r)| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no failure count in {line:?}"));
    (ok, failed)
}

#[test]
fn bench_log_preloads_then_appends_and_reads_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let out = sig(
        dir.path(),
        &[
            "bench",
            "log",
            "--clients",
            "4",
            "--entries",
            "60",
            "--reads",
            "30",
            "--preload",
            "300",
        ],
    );
    let text = text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("preloaded 300 entries"), "{text}");
    assert!(text.contains("log key ECDSA P-256;"), "{text}");
    assert_eq!(counted(&text, "appends:", "201"), (60, 0), "{text}");
    assert_eq!(counted(&text, "proof reads:", "200"), (30, 0), "{text}");
    assert!(text.contains("durable appends/s"), "{text}");
    // The CPU cost per append is read from /proc on Linux.
    if cfg!(target_os = "linux") {
        let line = text
            .lines()
            .find(|l| l.starts_with("CPU time per append"))
            .unwrap_or_else(|| panic!("no CPU cost in {text}"));
        let micros: f64 = line
            .split(": ")
            .nth(1)
            .and_then(|v| v.split(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no number in {line:?}"));
        assert!(micros >= 0.0, "{line}");
    }
}

#[test]
fn bench_log_keeps_its_log_in_a_data_dir_and_appends_to_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let args = |preload: &'static str| {
        [
            "bench",
            "log",
            "--clients",
            "4",
            "--entries",
            "40",
            "--reads",
            "10",
            "--preload",
            preload,
            "--data-dir",
            data.to_str().unwrap(),
        ]
    };
    let first = sig(dir.path(), &args("100"));
    let text1 = text(&first);
    assert!(first.status.success(), "{text1}");
    assert!(data.join("log.db").is_file());
    // Reopened: 140 entries already there, 40 more (fresh artifacts).
    let second = sig(dir.path(), &args("0"));
    let text2 = text(&second);
    assert!(second.status.success(), "{text2}");
    assert!(text2.contains("opened the log in"), "{text2}");
    assert_eq!(counted(&text2, "appends:", "201"), (40, 0), "{text2}");
    let db = rusqlite::Connection::open(data.join("log.db")).unwrap();
    let n: i64 = db
        .query_row("SELECT count(*) FROM entries", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 180);
}

#[test]
fn bench_log_appends_through_the_v2_api() {
    let dir = tempfile::tempdir().unwrap();
    let out = sig(
        dir.path(),
        &[
            "bench",
            "log",
            "--api",
            "v2",
            "--key-type",
            "ed25519",
            "--clients",
            "3",
            "--entries",
            "30",
            "--reads",
            "10",
        ],
    );
    let text = text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("/api/v2/log/entries"), "{text}");
    assert!(text.contains("log key Ed25519;"), "{text}");
    assert_eq!(counted(&text, "appends:", "201"), (30, 0), "{text}");
}

#[test]
fn bench_ca_issues_every_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let out = sig(
        dir.path(),
        &["bench", "ca", "--clients", "2", "--certs", "20"],
    );
    let text = text(&out);
    assert!(out.status.success(), "{text}");
    assert_eq!(counted(&text, "issuance:", "200"), (20, 0), "{text}");
}
