//! `signet admission serve` end to end: the webhook over HTTPS (a test CA
//! and server certificate made with rcgen), a REAL registry
//! (docker-registry) holding images signed by signet (with a key, and
//! keyless against a private stack from `signet up`), and AdmissionReviews
//! for every workload kind POSTed to /validate and /mutate.

mod support {
    pub mod cli;
    pub mod registry;
    pub mod up;
}

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use support::cli::*;
use support::up::*;

/// A running `signet admission serve`, killed (by PID) when dropped.
pub struct Webhook {
    child: Child,
    pub url: String,
    pub ca: PathBuf,
    pub client: reqwest::blocking::Client,
}

impl Webhook {
    pub fn start(dir: &Path, policy: &Path, root: &str, extra: &[&str]) -> Webhook {
        let (ca, cert, key) = test_certs(dir, ["ca.pem", "server.pem", "server.key"]);
        let ready = dir.join("webhook.ready.json");
        let _ = std::fs::remove_file(&ready);
        let docker = docker_empty(dir);
        let log = std::fs::File::create(dir.join("webhook.log")).unwrap();
        let child = Command::new(signet_bin())
            .args(["admission", "serve", "--listen", "127.0.0.1:0"])
            .arg("--policy")
            .arg(policy)
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .arg("--ready-file")
            .arg(&ready)
            .args(["--trusted-root", root])
            .args(extra)
            .env("SIGNET_OFFLINE", "1")
            .env("DOCKER_CONFIG", &docker)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut hook = Webhook {
            child,
            url: String::new(),
            client: client(&ca),
            ca: ca.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                if let Ok(doc) = serde_json::from_str::<Value>(&text) {
                    hook.url = doc["url"].as_str().unwrap().to_string();
                    break;
                }
            }
            if let Ok(Some(status)) = hook.child.try_wait() {
                panic!(
                    "the webhook exited with {status}: {}",
                    std::fs::read_to_string(dir.join("webhook.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "the webhook did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        hook
    }

    pub fn post(&self, endpoint: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}/{endpoint}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}/{path}", self.url))
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client(ca: &Path) -> reqwest::blocking::Client {
    let certs = reqwest::Certificate::from_pem_bundle(&std::fs::read(ca).unwrap()).unwrap();
    reqwest::blocking::Client::builder()
        .tls_certs_merge(certs)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A workload of `kind` running `image` (as the API server sends it),
/// and the JSON pointer of its image.
pub fn workload(kind: &str, image: &str, namespace: &str) -> (Value, String) {
    let pod_spec = json!({"containers": [{"name": "app", "image": image}]});
    let (api, object, base) = match kind {
        "Pod" => ("v1", json!({"spec": pod_spec}), "/spec"),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => (
            "apps/v1",
            json!({"spec": {"template": {"spec": pod_spec}}}),
            "/spec/template/spec",
        ),
        "ReplicationController" => (
            "v1",
            json!({"spec": {"template": {"spec": pod_spec}}}),
            "/spec/template/spec",
        ),
        "Job" => (
            "batch/v1",
            json!({"spec": {"template": {"spec": pod_spec}}}),
            "/spec/template/spec",
        ),
        "CronJob" => (
            "batch/v1",
            json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": pod_spec}}}}}),
            "/spec/jobTemplate/spec/template/spec",
        ),
        "PodTemplate" => (
            "v1",
            json!({"template": {"spec": pod_spec}}),
            "/template/spec",
        ),
        other => panic!("no fixture for {other}"),
    };
    let mut object = object;
    object["apiVersion"] = json!(api);
    object["kind"] = json!(kind);
    object["metadata"] = json!({"name": "w", "namespace": namespace});
    (object, format!("{base}/containers/0/image"))
}

pub fn review(uid: &str, object: &Value, namespace: &str) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": object["kind"]},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "tester"},
            "object": object,
        }
    })
}

pub const KINDS: [&str; 9] = [
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "PodTemplate",
];

fn policy_text(reg: &str, closed: &str, oidc: &str, exempt_bad: bool) -> String {
    let exemptions = if exempt_bad {
        format!("  exemptions:\n  - images: [\"{reg}/team/bad\"]\n    reason: reload test\n")
    } else {
        String::new()
    };
    format!(
        r#"apiVersion: signet.dev/v1
kind: ImagePolicy
metadata: {{name: webhook-test}}
spec:
  default: deny
  rules:
  - name: team
    images: ["{reg}/team/*", "{closed}/team/*"]
    authorities:
    - name: ci-key
      key: {{path: k.pub}}
  - name: keyless
    images: ["{reg}/keyless/*"]
    authorities:
    - name: alice
      keyless: {{issuer: "{oidc}", subject: "{EMAIL}"}}
  - name: soft
    mode: warn
    images: ["{reg}/soft/*"]
    authorities:
    - name: ci-key
      key: {{path: k.pub}}
{exemptions}"#
    )
}

/// Replaces `path` atomically (a reader sees the old or the new file).
fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The JSONPatch of an AdmissionReview answer.
fn patch_of(doc: &Value) -> Value {
    let encoded = doc["response"]["patch"].as_str().expect("a patch");
    serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn webhook_end_to_end() {
    let Some((dir, up, reg, root, signing)) = keyed_stack("admission") else {
        return;
    };

    let good = reg.image("team/good", "1");
    let good_digest = reg.push_image("team/good", "1", "good 1");
    let bad = reg.image("team/bad", "1");
    reg.push_image("team/bad", "1", "bad 1");
    let soft = reg.image("soft/unsigned", "1");
    reg.push_image("soft/unsigned", "1", "soft 1");
    let keyless = reg.image("keyless/app", "1");
    let keyless_digest = reg.push_image("keyless/app", "1", "keyless 1");
    ok(&sign_with_key(&dir, &good, &root, &signing));
    let token = up.token(EMAIL);
    ok(&sig(
        &dir,
        &[
            "sign",
            &keyless,
            "--identity-token",
            &token,
            "--trusted-root",
            &root,
            "--signing-config",
            &signing,
        ],
    ));

    let closed = format!("127.0.0.1:{}", closed_port());
    let policy = dir.join("policy.yaml");
    let deny_bad = policy_text(&reg.host, &closed, &up.oidc_url, false);
    let exempt_bad = policy_text(&reg.host, &closed, &up.oidc_url, true);
    write_atomic(&policy, &deny_bad);
    let hook = Webhook::start(
        &dir,
        &policy,
        &root,
        &["--timeout", "3s", "--reload-interval", "100ms"],
    );
    let (code, body) = hook.get("healthz");
    assert_eq!((code, body.as_str()), (200, "ok"));
    let (code, body) = hook.get("readyz");
    assert_eq!(code, 200, "{body}");
    let first_version = serde_json::from_str::<Value>(&body).unwrap()["policyVersion"].clone();
    assert!(first_version.is_string());

    // Every kind: the signed image is allowed and pinned, the unsigned one
    // denied with the reason.
    for kind in KINDS {
        let (object, pointer) = workload(kind, &good, "apps");
        let (code, doc) = hook.post("validate", &review(&format!("v-{kind}"), &object, "apps"));
        assert_eq!(code, 200, "{doc}");
        assert_eq!(doc["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(doc["kind"], "AdmissionReview");
        assert_eq!(doc["response"]["uid"], format!("v-{kind}"));
        assert_eq!(doc["response"]["allowed"], true, "{kind}: {doc}");
        assert!(
            doc["response"].get("patch").is_none(),
            "validate never patches"
        );

        let (code, doc) = hook.post("mutate", &review(&format!("m-{kind}"), &object, "apps"));
        assert_eq!(code, 200);
        assert_eq!(doc["response"]["allowed"], true, "{kind}: {doc}");
        assert_eq!(doc["response"]["patchType"], "JSONPatch", "{kind}: {doc}");
        let patch = patch_of(&doc);
        assert_eq!(
            patch,
            json!([{"op": "replace", "path": pointer, "value": format!("{good}@{good_digest}")}]),
            "{kind}"
        );

        let (object, _) = workload(kind, &bad, "apps");
        for endpoint in ["validate", "mutate"] {
            let (code, doc) = hook.post(endpoint, &review("d", &object, "apps"));
            assert_eq!(code, 200);
            let r = &doc["response"];
            assert_eq!(r["allowed"], false, "{kind} {endpoint}: {doc}");
            assert_eq!(r["status"]["code"], 403);
            let message = r["status"]["message"].as_str().unwrap();
            assert!(message.contains(&bad), "{message}");
            assert!(message.contains("fail"), "{message}");
            assert!(r.get("patch").is_none());
        }
    }

    // Keyless: the identity from the stack's issuer satisfies its rule.
    let (object, pointer) = workload("Deployment", &keyless, "apps");
    // Allowed, with the image pinned to the verified digest.
    let assert_pinned = |doc: &Value| {
        assert_eq!(doc["response"]["allowed"], true, "{doc}");
        let patch = patch_of(doc);
        assert_eq!(patch[0]["path"], pointer.as_str());
        assert_eq!(
            patch[0]["value"],
            format!("{keyless}@{keyless_digest}").as_str()
        );
    };
    let (_, doc) = hook.post("mutate", &review("k", &object, "apps"));
    assert_pinned(&doc);

    // An UPDATE that leaves the image as it was is decided but not patched
    // (changing a running container's image string restarts it) ...
    let mut update = review("u", &object, "apps");
    update["request"]["operation"] = json!("UPDATE");
    update["request"]["oldObject"] = object.clone();
    let (_, doc) = hook.post("mutate", &update);
    assert_eq!(doc["response"]["allowed"], true, "{doc}");
    assert!(doc["response"].get("patch").is_none(), "{doc}");
    // ... one that changes it (`kubectl set image`) is pinned as on CREATE:
    // the kubelet must pull what was verified, not whatever the tag is now.
    let mut old = object.clone();
    *old.pointer_mut(&pointer).unwrap() = json!(format!("{keyless}-previous"));
    update["request"]["oldObject"] = old;
    let (_, doc) = hook.post("mutate", &update);
    assert_pinned(&doc);

    // A warn-mode rule admits the unsigned image, with a warning.
    let (object, _) = workload("Pod", &soft, "apps");
    let (_, doc) = hook.post("validate", &review("w", &object, "apps"));
    assert_eq!(doc["response"]["allowed"], true, "{doc}");
    let warnings = doc["response"]["warnings"].as_array().unwrap();
    assert!(warnings[0].as_str().unwrap().contains(&soft), "{doc}");

    // kube-system is not checked by default; an image no rule names is
    // denied by the policy's default.
    let (object, _) = workload("Pod", &bad, "kube-system");
    let (_, doc) = hook.post("validate", &review("ks", &object, "kube-system"));
    assert_eq!(doc["response"]["allowed"], true, "{doc}");
    let (object, _) = workload("Pod", &reg.image("elsewhere/x", "1"), "apps");
    let (_, doc) = hook.post("validate", &review("nr", &object, "apps"));
    assert_eq!(doc["response"]["allowed"], false, "{doc}");
    assert!(doc["response"]["status"]["message"]
        .as_str()
        .unwrap()
        .contains("no rule matches"));

    // A registry that does not answer: denied within the deadline, saying why.
    let (object, _) = workload("Pod", &format!("{closed}/team/x:1"), "apps");
    let started = Instant::now();
    let (code, doc) = hook.post("validate", &review("down", &object, "apps"));
    let took = started.elapsed();
    assert_eq!(code, 200);
    assert_eq!(doc["response"]["allowed"], false, "{doc}");
    let message = doc["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("registry") || message.contains("deadline"),
        "{message}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");

    // Malformed reviews are a 400, oversized bodies a 413.
    let (code, _) = hook.post("validate", &json!({"kind": "AdmissionReview"}));
    assert_eq!(code, 400);
    let (code, _) = hook.post("validate", &json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"object": {}}}));
    assert_eq!(code, 400);
    let r = hook
        .client
        .post(format!("{}/validate", hook.url))
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // The server answers 413 as soon as it sees the length, and may close
    // the connection while the client is still writing: either way the
    // body is refused (counted as invalid below) and the server lives on.
    let r = client(&hook.ca)
        .post(format!("{}/validate", hook.url))
        .body(vec![b' '; 4 * 1024 * 1024])
        .send();
    if let Ok(r) = r {
        assert_eq!(r.status().as_u16(), 413);
    }
    assert_eq!(hook.get("healthz").0, 200);

    // The metrics count what happened.
    let (code, metrics) = hook.get("metrics");
    assert_eq!(code, 200);
    let value = |line_start: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(line_start))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {line_start} in\n{metrics}"))
    };
    assert!(value("signet_admission_decisions_total{outcome=\"pass\"}") >= 19);
    assert!(value("signet_admission_decisions_total{outcome=\"fail\"}") >= 1);
    assert!(value("signet_admission_decisions_total{outcome=\"warn\"}") >= 1);
    assert!(value("signet_admission_cache_total{cache=\"decision\",result=\"hit\"}") >= 17);
    assert!(value("signet_admission_cache_total{cache=\"decision\",result=\"miss\"}") >= 2);
    assert!(
        value("signet_admission_requests_total{endpoint=\"validate\",allowed=\"invalid\"}") >= 4
    );
    assert!(value("signet_admission_request_duration_seconds_count") >= 40);

    // The load generator, briefly: a well-formed report.
    let out = sig(
        &dir,
        &[
            "bench",
            "admission",
            "--url",
            &format!("{}/validate", hook.url),
            "--cacert",
            path(&hook.ca),
            "--rate",
            "50",
            "--duration",
            "1s",
            "--image",
            &good,
            "--namespace",
            "apps",
            "--output",
            "json",
        ],
    );
    ok(&out);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["mode"], "cached");
    assert_eq!(report["scheduled"], 50, "{report}");
    assert_eq!(report["answered"], 50, "{report}");
    assert_eq!(report["allowed"], 50);
    assert_eq!(report["errors"], 0);
    let l = &report["latency_ms"];
    let (p50, p99, max) = (
        l["p50"].as_f64().unwrap(),
        l["p99"].as_f64().unwrap(),
        l["max"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{report}");
    let lag = &report["dispatch_lag_ms"];
    assert!(
        lag["p99"].as_f64().unwrap() <= lag["max"].as_f64().unwrap(),
        "{report}"
    );
    let histogram = report["histogram"].as_array().unwrap();
    assert_eq!(histogram.last().unwrap()["count"], 50);
    assert!(report["achieved_rate"].as_f64().unwrap() > 10.0);

    // Reload under load: clients keep asking about the unsigned image
    // while the policy flips between denying and exempting it. Every
    // request is answered with a well-formed review whose decision is
    // one of the two policies'.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let (object, _) = workload("Pod", &bad, "apps");
    let mut clients = Vec::new();
    for c in 0..8 {
        let client = hook.client.clone();
        let url = format!("{}/validate", hook.url);
        let stop = stop.clone();
        let answered = answered.clone();
        let object = object.clone();
        clients.push(std::thread::spawn(move || {
            let mut seen = (0usize, 0usize);
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let uid = format!("load-{c}-{i}");
                i += 1;
                let r = client
                    .post(&url)
                    .body(review(&uid, &object, "apps").to_string())
                    .send()
                    .expect("a request was dropped");
                assert_eq!(r.status().as_u16(), 200);
                let doc: Value =
                    serde_json::from_str(&r.text().expect("a body")).expect("a well-formed review");
                assert_eq!(doc["response"]["uid"], uid.as_str());
                match doc["response"]["allowed"].as_bool() {
                    Some(true) => seen.0 += 1,
                    Some(false) => {
                        assert!(doc["response"]["status"]["message"]
                            .as_str()
                            .unwrap()
                            .contains("fail"));
                        seen.1 += 1
                    }
                    None => panic!("no decision: {doc}"),
                }
                answered.fetch_add(1, Ordering::SeqCst);
            }
            seen
        }));
    }
    let mut version = first_version;
    for round in 0..6 {
        std::thread::sleep(Duration::from_millis(300));
        let text = if round % 2 == 0 {
            &exempt_bad
        } else {
            &deny_bad
        };
        write_atomic(&policy, &format!("{text}# round {round}\n"));
        // Wait for the new version to be in force before the next change.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, body) = hook.get("readyz");
            let now = serde_json::from_str::<Value>(&body).unwrap()["policyVersion"].clone();
            if now != version {
                version = now;
                break;
            }
            assert!(Instant::now() < deadline, "the policy was not reloaded");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let mut totals = (0, 0);
    for c in clients {
        let (allowed, denied) = c.join().unwrap();
        totals.0 += allowed;
        totals.1 += denied;
    }
    assert!(answered.load(Ordering::SeqCst) > 50);
    assert!(
        totals.0 > 0 && totals.1 > 0,
        "both policies answered: {totals:?}"
    );
    let (_, metrics) = hook.get("metrics");
    assert!(
        metrics.contains("signet_admission_reloads_total{result=\"ok\"} 6"),
        "{metrics}"
    );
    // The last policy (round 5: deny) is the one in force now.
    let (_, doc) = hook.post("validate", &review("after", &object, "apps"));
    assert_eq!(doc["response"]["allowed"], false);

    // A renewed certificate is served without a restart.
    let renewed = dir.join("renewed");
    std::fs::create_dir_all(&renewed).unwrap();
    let (new_ca, new_cert, new_key) = test_certs(&renewed, ["ca.pem", "server.pem", "server.key"]);
    std::fs::rename(&new_key, dir.join("server.key")).unwrap();
    std::fs::rename(&new_cert, dir.join("server.pem")).unwrap();
    let new_client = client(&new_ca);
    let deadline = Instant::now() + Duration::from_secs(10);
    while new_client
        .get(format!("{}/healthz", hook.url))
        .send()
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        client(&hook.ca)
            .get(format!("{}/healthz", hook.url))
            .send()
            .is_err(),
        "the old certificate is still served"
    );
    let mut hook = hook;
    hook.client = new_client;

    // A policy that does not load leaves the last good one in force.
    write_atomic(
        &policy,
        "apiVersion: signet.dev/v1\nkind: ImagePolicy\nspec: {",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !hook
        .get("metrics")
        .1
        .contains("signet_admission_reloads_total{result=\"error\"}")
    {
        assert!(
            Instant::now() < deadline,
            "the broken policy was not noticed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, doc) = hook.post("validate", &review("kept", &object, "apps"));
    assert_eq!(doc["response"]["allowed"], false);
    let (object, _) = workload("Pod", &good, "apps");
    let (_, doc) = hook.post("validate", &review("kept2", &object, "apps"));
    assert_eq!(doc["response"]["allowed"], true);
}

/// A registry that accepts connections and never answers (held open).
fn hanging_registry() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    addr.to_string()
}

/// `--max-verifications` bounds the registry work behind the webhook: with
/// one slot and a registry that never answers, the first image holds the
/// slot past its deadline and every other uncached image is denied as
/// busy, within the deadline, instead of piling up more blocked calls.
#[test]
fn uncached_verifications_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    setup_key(dir);
    let hang = hanging_registry();
    let policy = dir.join("policy.yaml");
    write_atomic(
        &policy,
        &format!(
            "apiVersion: signet.dev/v1\nkind: ImagePolicy\nmetadata: {{name: cap}}\nspec:\n  \
             default: deny\n  rules:\n  - name: team\n    images: [\"{hang}/*\"]\n    \
             authorities:\n    - name: ci-key\n      key: {{path: k.pub}}\n"
        ),
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/trust/public-good/trusted_root.json");
    let hook = Webhook::start(
        dir,
        &policy,
        root.to_str().unwrap(),
        &[
            "--timeout",
            "2s",
            "--max-verifications",
            "1",
            "--reload-interval",
            "1h",
        ],
    );
    let pod = |images: &[String]| {
        let containers: Vec<Value> = images
            .iter()
            .enumerate()
            .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
            .collect();
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "apps"},
            "spec": {"containers": containers},
        })
    };
    let message = |doc: &Value| {
        assert_eq!(doc["response"]["allowed"], false, "{doc}");
        doc["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let started = Instant::now();
    let images = [format!("{hang}/a:1"), format!("{hang}/b:1")];
    let (code, doc) = hook.post("validate", &review("two", &pod(&images), "apps"));
    assert_eq!(code, 200, "{doc}");
    let first = message(&doc);
    assert!(first.contains("2 image(s) denied"), "{first}");
    assert!(first.contains("busy: 1 image verifications"), "{first}");
    assert!(first.contains("deadline"), "{first}");

    // The slot is still held by the hung call: a new image is refused at
    // once as busy (within the deadline), not queued behind it.
    let (code, doc) = hook.post(
        "validate",
        &review("next", &pod(&[format!("{hang}/c:1")]), "apps"),
    );
    assert_eq!(code, 200, "{doc}");
    let next = message(&doc);
    assert!(next.contains("busy"), "{next}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );

    // Polling is hourly here: only SIGHUP reloads. A policy that exempts
    // the images admits them once the signal is handled.
    let version = |hook: &Webhook| {
        let (code, body) = hook.get("readyz");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["policyVersion"].clone()
    };
    let before = version(&hook);
    let text = std::fs::read_to_string(&policy).unwrap();
    write_atomic(
        &policy,
        &format!("{text}  exemptions:\n  - images: [\"{hang}/*\"]\n    reason: SIGHUP test\n"),
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(version(&hook), before, "reloaded without the signal");
    let hup = Command::new("kill")
        .args(["-HUP", &hook.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while version(&hook) == before {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload the policy"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, doc) = hook.post(
        "validate",
        &review("exempt", &pod(&[format!("{hang}/d:1")]), "apps"),
    );
    assert_eq!(doc["response"]["allowed"], true, "{doc}");
}
