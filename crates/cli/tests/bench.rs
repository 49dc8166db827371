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
    assert_eq!(counted(&text, "appends:", "201"), (60, 0), "{text}");
    assert_eq!(counted(&text, "proof reads:", "200"), (30, 0), "{text}");
    assert!(text.contains("durable appends/s"), "{text}");
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
