//! End-to-end behaviour against local TUF repositories (no internet).

mod support;

use signet_tuf::{
    cached_target, fetch_target, resolve_target, Origin, Resolve, TufConfig, TufError,
    SIGNING_CONFIG_TARGET, TRUSTED_ROOT_TARGET,
};
use std::time::Duration;
use support::{in_days, LocalRepo, RepoSpec, Server, TestKey, SIGNING_CONFIG, TRUSTED_ROOT};
use tempfile::TempDir;

/// A repository signed by a fresh key, plus an empty client cache dir.
struct Fixture {
    _tmp: TempDir,
    key: TestKey,
    repo: LocalRepo,
    cache: std::path::PathBuf,
}

fn fixture(customize: impl FnOnce(&mut RepoSpec<'_>)) -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = TestKey::generate(tmp.path(), "repo.pk8");
    let mut spec = RepoSpec::new(&key);
    customize(&mut spec);
    let repo = LocalRepo::build(&tmp.path().join("repo"), &spec);
    let cache = tmp.path().join("cache");
    Fixture {
        _tmp: tmp,
        key,
        repo,
        cache,
    }
}

impl Fixture {
    fn file_config(&self) -> TufConfig {
        let (metadata, targets) = self.repo.file_urls();
        TufConfig::new(metadata, targets, &self.cache, self.repo.leaked_root())
    }

    fn http_config(&self, server: &Server) -> TufConfig {
        TufConfig::new(
            server.url("metadata/"),
            server.url("targets/"),
            &self.cache,
            self.repo.leaked_root(),
        )
    }
}

#[test]
fn http_fetch_returns_exact_bytes_then_cache_serves_offline() {
    let fx = fixture(|_| {});
    let server = Server::start(&fx.repo.dir);
    let config = fx.http_config(&server);

    assert_eq!(cached_target(&config, TRUSTED_ROOT_TARGET), None);
    let got = fetch_target(&config, TRUSTED_ROOT_TARGET).expect("fetch trusted root");
    assert_eq!(got, TRUSTED_ROOT);
    let got = fetch_target(&config, SIGNING_CONFIG_TARGET).expect("fetch signing config");
    assert_eq!(got, SIGNING_CONFIG);
    // A second refresh starts from the persisted metadata and still works.
    let again = fetch_target(&config, TRUSTED_ROOT_TARGET).expect("second fetch");
    assert_eq!(again, TRUSTED_ROOT);
    assert!(fx.cache.join("metadata").join("root.json").is_file());

    server.stop();

    // Offline: the network path fails with a network error…
    match fetch_target(&config, TRUSTED_ROOT_TARGET) {
        Err(TufError::Network { url, .. }) => assert!(url.starts_with("http://127.0.0.1:")),
        other => panic!("expected a network error, got {other:?}"),
    }
    // …and the last verified copies are still there.
    assert_eq!(
        cached_target(&config, TRUSTED_ROOT_TARGET).as_deref(),
        Some(TRUSTED_ROOT)
    );
    assert_eq!(
        cached_target(&config, SIGNING_CONFIG_TARGET).as_deref(),
        Some(SIGNING_CONFIG)
    );
}

#[test]
fn file_url_repository_works() {
    let fx = fixture(|_| {});
    let config = fx.file_config();
    let got = fetch_target(&config, TRUSTED_ROOT_TARGET).expect("fetch over file://");
    assert_eq!(got, TRUSTED_ROOT);
    assert_eq!(
        cached_target(&config, TRUSTED_ROOT_TARGET).as_deref(),
        Some(TRUSTED_ROOT)
    );
}

#[test]
fn tampered_target_same_length_is_rejected() {
    let fx = fixture(|_| {});
    let file = fx.repo.target_file(TRUSTED_ROOT_TARGET);
    let mut bytes = std::fs::read(&file).expect("read target");
    bytes[10] ^= 0x01;
    std::fs::write(&file, &bytes).expect("tamper");

    let server = Server::start(&fx.repo.dir);
    let config = fx.http_config(&server);
    match fetch_target(&config, TRUSTED_ROOT_TARGET) {
        Err(TufError::TargetIntegrity { name, detail }) => {
            assert_eq!(name, TRUSTED_ROOT_TARGET);
            assert!(detail.to_lowercase().contains("hash"), "{detail}");
        }
        other => panic!("expected an integrity error, got {other:?}"),
    }
    assert_eq!(cached_target(&config, TRUSTED_ROOT_TARGET), None);
    // The untampered target in the same repository still verifies.
    assert_eq!(
        fetch_target(&config, SIGNING_CONFIG_TARGET).expect("other target"),
        SIGNING_CONFIG
    );
}

#[test]
fn tampered_target_longer_is_rejected() {
    let fx = fixture(|_| {});
    let file = fx.repo.target_file(TRUSTED_ROOT_TARGET);
    let mut bytes = std::fs::read(&file).expect("read target");
    bytes.extend_from_slice(b"  ");
    std::fs::write(&file, &bytes).expect("tamper");

    let config = fx.file_config();
    let err = fetch_target(&config, TRUSTED_ROOT_TARGET).expect_err("must fail");
    assert!(
        matches!(err, TufError::TargetIntegrity { .. }),
        "expected an integrity error, got {err:?}"
    );
    assert_eq!(cached_target(&config, TRUSTED_ROOT_TARGET), None);
}

#[test]
fn expired_timestamp_is_rejected() {
    let fx = fixture(|spec| spec.timestamp_expires = in_days(-1));
    let server = Server::start(&fx.repo.dir);
    let config = fx.http_config(&server);
    match fetch_target(&config, TRUSTED_ROOT_TARGET) {
        Err(TufError::Expired { role }) => assert_eq!(role, "timestamp"),
        other => panic!("expected expired timestamp, got {other:?}"),
    }
    assert_eq!(cached_target(&config, TRUSTED_ROOT_TARGET), None);
}

#[test]
fn repository_signed_by_another_root_key_is_rejected() {
    // The client trusts fixture A's root; the server serves repository B,
    // built the same way but with a different key.
    let trusted = fixture(|_| {});
    let tmp = tempfile::tempdir().expect("tempdir");
    let other_key = TestKey::generate(tmp.path(), "other.pk8");
    let other = LocalRepo::build(&tmp.path().join("repo"), &RepoSpec::new(&other_key));

    let server = Server::start(&other.dir);
    let config = trusted.http_config(&server);
    match fetch_target(&config, TRUSTED_ROOT_TARGET) {
        Err(TufError::Signature { role, .. }) => assert_eq!(role, "timestamp"),
        other => panic!("expected a signature failure, got {other:?}"),
    }
    assert_eq!(cached_target(&config, TRUSTED_ROOT_TARGET), None);
    drop(trusted.key);
}

/// Two mirrors sharing one client cache: one at metadata version 2, one
/// at version 1 signed by the same key and root, so that only the version
/// check can refuse the second after the first.
fn newer_then_older_mirror(dir: &std::path::Path) -> (TufConfig, TufConfig) {
    let key = TestKey::generate(dir, "k.pk8");
    let v2 = LocalRepo::build(&dir.join("v2"), &{
        let mut s = RepoSpec::new(&key);
        s.version = 2;
        s
    });
    let v1 = LocalRepo::build(&dir.join("v1"), &RepoSpec::new(&key));
    let cache = dir.join("cache");
    let (m2, t2) = v2.file_urls();
    let (m1, t1) = v1.file_urls();
    (
        TufConfig::new(m2, t2, &cache, v2.leaked_root()),
        TufConfig::new(m1, t1, &cache, v2.leaked_root()),
    )
}

#[test]
fn metadata_rollback_is_rejected() {
    // Version 2 is fetched first, then a mirror serving version 1 is
    // refused because the cache remembers version 2.
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cfg2, cfg1) = newer_then_older_mirror(tmp.path());
    assert_eq!(
        fetch_target(&cfg2, TRUSTED_ROOT_TARGET).expect("v2"),
        TRUSTED_ROOT
    );
    match fetch_target(&cfg1, TRUSTED_ROOT_TARGET) {
        Err(TufError::Rollback { role, .. }) => assert_eq!(role, "timestamp"),
        other => panic!("expected a rollback error, got {other:?}"),
    }
    // The previously verified copy is untouched.
    assert_eq!(
        cached_target(&cfg1, TRUSTED_ROOT_TARGET).as_deref(),
        Some(TRUSTED_ROOT)
    );
}

#[test]
fn missing_target_and_bad_names_are_reported() {
    let fx = fixture(|spec| spec.targets.truncate(1));
    let config = fx.file_config();
    match fetch_target(&config, SIGNING_CONFIG_TARGET) {
        Err(TufError::MissingTarget { name }) => assert_eq!(name, SIGNING_CONFIG_TARGET),
        other => panic!("expected missing target, got {other:?}"),
    }
    for bad in ["../trusted_root.json", "", "a/b"] {
        assert!(matches!(
            fetch_target(&config, bad),
            Err(TufError::InvalidTargetName { .. })
        ));
        assert_eq!(cached_target(&config, bad), None);
    }
}

#[test]
fn errors_say_what_failed() {
    let fx = fixture(|spec| spec.timestamp_expires = in_days(-1));
    let err = fetch_target(&fx.file_config(), TRUSTED_ROOT_TARGET).expect_err("expired");
    assert!(
        err.to_string().contains("timestamp metadata has expired"),
        "{err}"
    );
}

/// A repository rotated from an old key to a new one (see
/// [`support::build_rotated`]) in `dir`, and a client trusting its old root.
fn rotated(dir: &std::path::Path, cross_signed: bool) -> (LocalRepo, TufConfig) {
    let old = TestKey::generate(dir, "old.pk8");
    let new = TestKey::generate(dir, "new.pk8");
    let repo = support::build_rotated(&dir.join("repo"), &old, &RepoSpec::new(&new), cross_signed);
    let (metadata, targets) = repo.file_urls();
    let config = TufConfig::new(metadata, targets, dir.join("cache"), repo.leaked_root());
    (repo, config)
}

#[test]
fn rotated_root_is_followed_and_then_bootstraps_from_cache() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (repo, config) = rotated(tmp.path(), true);
    let rotation = repo.metadata_dir().join("2.root.json");
    assert!(rotation.is_file());
    // Embedded root v1 trusts only the old key; tough walks to v2.
    assert_eq!(
        fetch_target(&config, TRUSTED_ROOT_TARGET).expect("fetch via rotation"),
        TRUSTED_ROOT
    );

    // Without 2.root.json on the mirror, only a client that starts from
    // the cached v2 root can verify metadata signed by the new key.
    std::fs::remove_file(&rotation).expect("remove rotation");
    assert_eq!(
        fetch_target(&config, TRUSTED_ROOT_TARGET).expect("fetch from cached root"),
        TRUSTED_ROOT
    );

    // A fresh cache has only the embedded v1 root, and fails.
    let fresh = TufConfig::new(
        config.metadata_url.clone(),
        config.targets_url.clone(),
        tmp.path().join("fresh-cache"),
        config.embedded_root,
    );
    assert!(matches!(
        fetch_target(&fresh, TRUSTED_ROOT_TARGET),
        Err(TufError::Signature { .. })
    ));
}

#[test]
fn a_rotation_not_signed_by_the_old_root_is_refused() {
    // TUF: root N+1 must be signed by a threshold of root N's keys too, or
    // whoever holds a new key alone could take the repository over.
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_repo, config) = rotated(tmp.path(), false);
    match fetch_target(&config, TRUSTED_ROOT_TARGET) {
        Err(TufError::Signature { role, .. }) => assert_eq!(role, "root"),
        other => panic!("expected the rotation to be refused, got {other:?}"),
    }
    assert_eq!(cached_target(&config, TRUSTED_ROOT_TARGET), None);
}

#[test]
fn a_target_over_the_size_limit_is_not_downloaded() {
    let big: &'static [u8] =
        Box::leak(vec![b'x'; signet_tuf::MAX_TARGET_SIZE as usize + 1].into_boxed_slice());
    let fx = fixture(|spec| spec.targets.push(("big.json", big)));
    match fetch_target(&fx.file_config(), "big.json") {
        Err(TufError::TargetTooLarge { length, limit, .. }) => {
            assert_eq!((length, limit), (limit + 1, signet_tuf::MAX_TARGET_SIZE))
        }
        other => panic!("expected TargetTooLarge, got {other:?}"),
    }
}

#[test]
fn https_uses_a_working_tls_stack() {
    // A plain-HTTP server on loopback answers the TLS ClientHello with
    // plaintext: the TLS client (rustls + aws-lc-rs) must be built and
    // fail the handshake, reported as a network error for the URL.
    let fx = fixture(|_| {});
    let server = Server::start(&fx.repo.dir);
    let https = |path: &str| {
        let mut url = server.url(path);
        url.set_scheme("https").expect("https scheme");
        url
    };
    let config = TufConfig::new(
        https("metadata/"),
        https("targets/"),
        &fx.cache,
        fx.repo.leaked_root(),
    );
    match fetch_target(&config, TRUSTED_ROOT_TARGET) {
        Err(TufError::Network { url, detail }) => {
            assert!(url.starts_with("https://127.0.0.1:"), "{url}");
            assert!(!detail.contains("TLS configuration is invalid"), "{detail}");
        }
        other => panic!("expected a TLS/network error, got {other:?}"),
    }
}

/// Resolution that always asks the repository (no cached copy is fresh).
fn refresh_due(embedded: &[u8]) -> Resolve<'_> {
    Resolve {
        offline: false,
        refresh_after: Duration::ZERO,
        embedded,
    }
}

#[test]
fn an_unreachable_repository_falls_back_to_the_last_verified_copy_then_the_embedded_one() {
    let fx = fixture(|_| {});
    let server = Server::start(&fx.repo.dir);
    let config = fx.http_config(&server);
    let how = refresh_due(b"embedded");

    let refreshed = resolve_target(&config, TRUSTED_ROOT_TARGET, &how).expect("refresh");
    assert_eq!(
        (refreshed.bytes.as_slice(), refreshed.origin),
        (TRUSTED_ROOT, Origin::Refreshed)
    );
    assert!(refreshed.unreachable.is_none());
    server.stop();

    let cached = resolve_target(&config, TRUSTED_ROOT_TARGET, &how).expect("cached copy");
    assert_eq!(
        (cached.bytes.as_slice(), cached.origin),
        (TRUSTED_ROOT, Origin::Cache)
    );
    assert!(matches!(cached.unreachable, Some(TufError::Network { .. })));

    // Nothing verified yet for this target: the embedded copy, flagged.
    let none = resolve_target(&config, SIGNING_CONFIG_TARGET, &how).expect("embedded copy");
    assert_eq!(
        (none.bytes.as_slice(), none.origin),
        (&b"embedded"[..], Origin::Embedded)
    );
    assert!(matches!(none.unreachable, Some(TufError::Network { .. })));
}

#[test]
fn a_refused_refresh_is_an_error_even_with_a_verified_copy_at_hand() {
    // Rollback: a mirror serves version 1 after version 2 was verified.
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cfg2, cfg1) = newer_then_older_mirror(tmp.path());
    let how = refresh_due(b"embedded");
    resolve_target(&cfg2, TRUSTED_ROOT_TARGET, &how).expect("v2");
    match resolve_target(&cfg1, TRUSTED_ROOT_TARGET, &how) {
        Err(TufError::Rollback { .. }) => {}
        other => panic!("expected the rollback to be refused, got {other:?}"),
    }

    // Metadata signed by a key the trusted root does not name.
    let trusted = fixture(|_| {});
    resolve_target(&trusted.file_config(), TRUSTED_ROOT_TARGET, &how).expect("trusted");
    let other_key = TestKey::generate(tmp.path(), "other.pk8");
    let other = LocalRepo::build(&tmp.path().join("other"), &RepoSpec::new(&other_key));
    let server = Server::start(&other.dir);
    match resolve_target(&trusted.http_config(&server), TRUSTED_ROOT_TARGET, &how) {
        Err(e @ TufError::Signature { .. }) => assert!(!e.is_unreachable()),
        other => panic!("expected a signature failure, got {other:?}"),
    }

    // Expired metadata, with nothing cached: not the embedded copy either.
    let expired = fixture(|spec| spec.timestamp_expires = in_days(-1));
    match resolve_target(&expired.file_config(), TRUSTED_ROOT_TARGET, &how) {
        Err(TufError::Expired { role }) => assert_eq!(role, "timestamp"),
        other => panic!("expected expired metadata to be refused, got {other:?}"),
    }
}

#[test]
fn offline_or_fresh_copies_are_used_without_asking_the_repository() {
    let fx = fixture(|_| {});
    let server = Server::start(&fx.repo.dir);
    let config = fx.http_config(&server);
    let offline = Resolve {
        offline: true,
        ..refresh_due(b"embedded")
    };
    // Offline before any refresh: the embedded copy, and no error.
    let first = resolve_target(&config, TRUSTED_ROOT_TARGET, &offline).expect("offline");
    assert_eq!(first.origin, Origin::Embedded);
    assert!(first.unreachable.is_none());
    assert!(
        !fx.cache.join("metadata").exists(),
        "offline touched the repository"
    );

    // A copy is fresh only if there is one: this refreshes.
    let fresh = Resolve {
        refresh_after: Duration::from_secs(3600),
        ..refresh_due(b"embedded")
    };
    let got = resolve_target(&config, TRUSTED_ROOT_TARGET, &fresh).expect("refresh");
    assert_eq!(got.origin, Origin::Refreshed);
    server.stop();
    for how in [fresh, offline] {
        let got = resolve_target(&config, TRUSTED_ROOT_TARGET, &how).expect("cached");
        assert_eq!(
            (got.bytes.as_slice(), got.origin),
            (TRUSTED_ROOT, Origin::Cache)
        );
        assert!(got.unreachable.is_none(), "{how:?} asked the repository");
    }
}

#[cfg(unix)]
#[test]
fn the_cache_is_created_for_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let fx = fixture(|_| {});
    fetch_target(&fx.file_config(), TRUSTED_ROOT_TARGET).expect("fetch");
    for dir in [
        &fx.cache,
        &fx.cache.join("metadata"),
        &fx.cache.join("targets"),
    ] {
        let mode = std::fs::metadata(dir)
            .expect("cache dir")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", dir.display());
    }
}
