//! `signet audit` end to end: pods listed from a fake Kubernetes API (our
//! half of the protocol: HTTPS with the kubeconfig's CA and bearer token,
//! paged with `continue`), images in a REAL registry signed by signet,
//! the gauges file, and the alert POSTed to a local listener.

mod support {
    pub mod cli;
    pub mod registry;
    pub mod up;
}

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use support::cli::*;
use support::up::*;

fn pod(ns: &str, name: &str, image: &str, running: Option<&str>) -> Value {
    let mut p = json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": [{"name": "app", "image": image}]},
        "status": {},
    });
    if let Some(d) = running {
        p["status"]["containerStatuses"] =
            json!([{"name": "app", "imageID": format!("docker-pullable://{image}@{d}")}]);
    }
    p
}

/// A fake API server: GET /api/v1/pods in two pages, bearer token
/// required. Returns its port; runs until the test process ends.
fn fake_kube_api(dir: &Path, pages: [Vec<Value>; 2]) -> (u16, PathBuf) {
    use axum::extract::Query;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    let (ca, cert, key) = test_certs(dir, ["kube-ca.pem", "kube.pem", "kube.key"]);
    let tls = signet_gate::admission::load_tls(&cert, &key).unwrap();
    let pages = Arc::new(pages);
    let app = axum::Router::new().route(
        "/api/v1/pods",
        get(
            move |headers: HeaderMap,
                  Query(q): Query<std::collections::HashMap<String, String>>| {
                let pages = pages.clone();
                async move {
                    if headers.get("authorization").and_then(|v| v.to_str().ok())
                        != Some("Bearer test-token")
                    {
                        return (
                            StatusCode::UNAUTHORIZED,
                            axum::Json(json!({"kind": "Status", "message": "Unauthorized"})),
                        );
                    }
                    assert_eq!(q.get("limit").map(String::as_str), Some("500"));
                    let (items, cont) = match q.get("continue").map(String::as_str) {
                        None => (pages[0].clone(), "page 2"),
                        Some("page 2") => (pages[1].clone(), ""),
                        Some(other) => panic!("unexpected continue {other}"),
                    };
                    (
                        StatusCode::OK,
                        axum::Json(json!({
                            "kind": "PodList", "apiVersion": "v1",
                            "metadata": {"continue": cont}, "items": items,
                        })),
                    )
                }
            },
        ),
    );
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = std_listener.local_addr().unwrap().port();
    std_listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            let tls = Arc::new(arc_swap::ArcSwap::new(tls));
            signet_gate::admission::serve_tls(
                listener,
                tls,
                app,
                std::future::pending(),
                Duration::from_secs(1),
            )
            .await
            .unwrap();
        });
    });
    (port, ca)
}

/// A one-shot HTTP listener: the body of the first POST it gets.
fn alert_listener() -> (u16, std::sync::mpsc::Receiver<Value>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            assert!(line.starts_with("POST /hook "), "{line}");
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .unwrap();
            tx.send(serde_json::from_slice(&body).unwrap()).unwrap();
        }
    });
    (port, rx)
}

#[test]
fn audit_cluster_manifests_and_lists() {
    let Some((dir, _up, reg, root, signing)) = keyed_stack("audit") else {
        return;
    };
    let good = reg.image("team/good", "1");
    let good_digest = reg.push_image("team/good", "1", "good");
    let bad = reg.image("team/bad", "1");
    let bad_digest = reg.push_image("team/bad", "1", "bad");
    ok(&sign_with_key(&dir, &good, &root, &signing));
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "apiVersion: signet.dev/v1\nkind: ImagePolicy\nmetadata: {{name: audit}}\nspec:\n  rules:\n  - name: team\n    images: [\"{}/team/*\"]\n    authorities:\n    - name: ci\n      key: {{path: k.pub}}\n",
            reg.host
        ),
    )
    .unwrap();

    let (port, ca) = fake_kube_api(
        &dir,
        [
            vec![pod("prod", "web-1", &good, Some(&good_digest))],
            vec![
                pod("prod-eu", "rogue", &bad, Some(&bad_digest)),
                pod("dev", "scratch", &bad, None),
            ],
        ],
    );
    let kubeconfig = dir.join("kubeconfig");
    let ca_data = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&ca).unwrap());
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\ncontexts:\n- name: test\n  context: {{cluster: fake, user: tester}}\nclusters:\n- name: fake\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority-data: {ca_data}\nusers:\n- name: tester\n  user:\n    token: test-token\n"
        ),
    )
    .unwrap();
    let (alert_port, alerts) = alert_listener();
    let hook = format!("http://127.0.0.1:{alert_port}/hook");
    let metrics = dir.join("audit.prom");
    // `signet audit --policy P SOURCE FILE --trusted-root R EXTRA…`.
    let audit = |source: &str, file: &Path, extra: &[&str]| {
        let mut args = vec![
            "audit",
            "--policy",
            path(&policy),
            source,
            path(file),
            "--trusted-root",
            &root,
        ];
        args.extend_from_slice(extra);
        sig(&dir, &args)
    };
    let out = audit(
        "--kubeconfig",
        &kubeconfig,
        &[
            "--output",
            "json",
            "--metrics-file",
            path(&metrics),
            "--alert-webhook",
            &hook,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["compliant"], false);
    assert_eq!(doc["containers"], 3, "{doc}");
    let bad_ones = doc["nonCompliant"].as_array().unwrap();
    assert_eq!(bad_ones.len(), 2, "{doc}");
    assert!(bad_ones.iter().all(|f| f["image"] == bad.as_str()));
    // The running digest is what was verified.
    let web = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["workload"] == "Pod/web-1")
        .unwrap();
    assert_eq!(web["running_digest"], good_digest.as_str());
    assert_eq!(web["decision"]["outcome"], "pass", "{web}");
    assert_eq!(
        web["decision"]["image"],
        format!("{good}@{good_digest}").as_str()
    );

    let gauges = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        gauges.contains("signet_audit_images{outcome=\"pass\"} 1\n"),
        "{gauges}"
    );
    assert!(
        gauges.contains("signet_audit_images{outcome=\"fail\"} 2\n"),
        "{gauges}"
    );
    assert!(
        gauges.contains("signet_audit_containers{outcome=\"fail\"} 2\n"),
        "{gauges}"
    );

    // Only the production namespace (prod-eu matches prod*) is alerted on.
    let alert = alerts.recv_timeout(Duration::from_secs(10)).unwrap();
    let findings = alert["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{alert}");
    assert_eq!(findings[0]["namespace"], "prod-eu");
    assert_eq!(findings[0]["workload"], "Pod/rogue");
    assert!(alert["text"].as_str().unwrap().contains(&bad));

    // A wrong token: the API refuses, exit 3 naming the API.
    let wrong = dir.join("kubeconfig-wrong");
    std::fs::write(
        &wrong,
        std::fs::read_to_string(&kubeconfig)
            .unwrap()
            .replace("test-token", "other"),
    )
    .unwrap();
    let out = audit("--kubeconfig", &wrong, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("401"), "{}", text(&out));
    assert!(!text(&out).contains("other"), "the token is never printed");

    // The token from an exec credential plugin (as EKS, GKE and AKS
    // kubeconfigs give it): the same audit.
    let plugin = dir.join("get-token");
    std::fs::write(
        &plugin,
        "#!/bin/sh\nprintf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"test-token\"}}'\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let exec = dir.join("kubeconfig-exec");
    std::fs::write(
        &exec,
        std::fs::read_to_string(&kubeconfig).unwrap().replace(
            "    token: test-token\n",
            "    exec: {apiVersion: client.authentication.k8s.io/v1, command: ./get-token, interactiveMode: Never}\n",
        ),
    )
    .unwrap();
    let out = audit("--kubeconfig", &exec, &["--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["containers"], 3, "{doc}");
    assert!(
        !text(&out).contains("test-token"),
        "the token is never printed"
    );

    // --serve-metrics: audits on its own and serves the gauges, until they
    // hold `needle`.
    let serve_until = |kubeconfig: &Path, needle: &str| {
        let log = dir.join("serve-metrics.log");
        let mut child = std::process::Command::new(signet_bin())
            .current_dir(&dir)
            .args([
                "audit",
                "--policy",
                path(&policy),
                "--kubeconfig",
                path(kubeconfig),
            ])
            .args([
                "--trusted-root",
                &root,
                "--serve-metrics",
                "127.0.0.1:0",
                "--interval",
                "1s",
            ])
            .env("SIGNET_OFFLINE", "1")
            .env("DOCKER_CONFIG", dir.join("docker-empty"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let served = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let url = text
                .split_whitespace()
                .find(|w| w.starts_with("http://127.0.0.1:"))
                .map(|w| w.trim_end_matches(',').to_string());
            if let Some(url) = url {
                if let Ok(r) = reqwest::blocking::get(&url) {
                    let body = r.text().unwrap();
                    if body.contains(needle) {
                        break body;
                    }
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {needle:?} served: {text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let _ = child.kill();
        let _ = child.wait();
        served
    };
    let served = serve_until(&kubeconfig, "signet_audit_images{outcome=\"fail\"} 2");
    assert!(
        served.contains("signet_audit_images{outcome=\"pass\"} 1"),
        "{served}"
    );
    assert!(served.contains("signet_audit_last_run_ok 1\n"), "{served}");
    // An audit that fails (the API refuses) says so, rather than leaving
    // counts that look current.
    let served = serve_until(&wrong, "signet_audit_last_run_ok 0\n");
    assert!(
        !served.contains("signet_audit_failed_runs_total 0\n"),
        "{served}"
    );

    // A list of images, and manifests.
    let list = dir.join("images.txt");
    std::fs::write(&list, format!("# running elsewhere\n{good}\nprod {good}\n")).unwrap();
    let out = audit("--images", &list, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("2 container(s) audited, 0 non-compliant"));
    std::fs::write(&list, format!("{good}\nstaging {bad}\n")).unwrap();
    let out = audit("--images", &list, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("NON-COMPLIANT staging/"));
    let manifest = dir.join("m.yaml");
    std::fs::write(
        &manifest,
        format!("kind: Deployment\nmetadata: {{name: d, namespace: prod}}\nspec:\n  template:\n    spec:\n      containers: [{{name: c, image: '{good}'}}]\n"),
    )
    .unwrap();
    let out = audit("--manifests", &manifest, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
