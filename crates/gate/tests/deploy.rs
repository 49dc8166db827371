//! The deploy manifests (deploy/kubernetes) and the Helm chart
//! (deploy/helm/signet-admission) parse, hold what the webhook needs, and
//! carry a policy that loads. Helm is not needed: the chart's templates
//! use a small set of constructs that a renderer here substitutes from
//! values.yaml (an unknown construct fails the test).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use signet_gate::workload;
use signet_gate::yaml::parse_documents;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn docs(text: &str) -> Vec<Value> {
    parse_documents(text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .iter()
        .map(|d| d.to_json())
        .collect()
}

fn check(objects: &[Value], namespace: &str) {
    let kinds: BTreeSet<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ] {
        assert!(kinds.contains(kind), "no {kind} in {kinds:?}");
    }
    for o in objects {
        let kind = o["kind"].as_str().unwrap();
        if kind.ends_with("WebhookConfiguration") {
            let hook = &o["webhooks"][0];
            assert_eq!(hook["failurePolicy"], "Fail", "{o}");
            assert_eq!(hook["timeoutSeconds"], 10);
            assert_eq!(hook["sideEffects"], "None");
            assert_eq!(hook["admissionReviewVersions"][0], "v1");
            assert_eq!(hook["clientConfig"]["service"]["namespace"], namespace);
            let path = hook["clientConfig"]["service"]["path"].as_str().unwrap();
            assert_eq!(
                path,
                if kind.starts_with("Mutating") {
                    "/mutate"
                } else {
                    "/validate"
                }
            );
            let excluded = hook["namespaceSelector"]["matchExpressions"][0]["values"].to_string();
            assert!(excluded.contains("kube-system") && excluded.contains(namespace));
            let resources: Vec<String> = hook["rules"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r["resources"].as_array().unwrap().clone())
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            for r in [
                "pods",
                "deployments",
                "statefulsets",
                "daemonsets",
                "replicasets",
                "replicationcontrollers",
                "jobs",
                "cronjobs",
                "podtemplates",
            ] {
                assert!(resources.iter().any(|x| x == r), "{kind} misses {r}");
            }
        }
        if kind == "Deployment" {
            let found = workload::workloads(o).unwrap();
            assert_eq!(found.len(), 1);
            assert!(found[0].images[0]
                .image
                .starts_with("ghcr.io/signet-dev/signet:"));
            let c = &o["spec"]["template"]["spec"]["containers"][0];
            assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
            assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
            assert_eq!(c["readinessProbe"]["httpGet"]["scheme"], "HTTPS");
            let args: Vec<&str> = c["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            assert_eq!(&args[..2], &["admission", "serve"]);
            assert!(args.iter().any(|a| a.starts_with("--timeout=")));
        }
        if kind == "ConfigMap" {
            let text = o["data"]["policy.yaml"].as_str().unwrap();
            signet_policy::Policy::from_yaml(text, ".")
                .unwrap_or_else(|e| panic!("the shipped policy does not load: {e}"));
        }
    }
}

#[test]
fn kubernetes_manifests() {
    let dir = root().join("kubernetes");
    let mut objects = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        if f.file_name().unwrap() == "kustomization.yaml" {
            let k = docs(&std::fs::read_to_string(&f).unwrap());
            for r in k[0]["resources"].as_array().unwrap() {
                assert!(dir.join(r.as_str().unwrap()).is_file(), "{r}");
            }
            continue;
        }
        objects.extend(docs(&std::fs::read_to_string(&f).unwrap()));
    }
    assert!(objects.iter().any(|o| o["kind"] == "Namespace"));
    assert!(objects.iter().any(|o| o["kind"] == "Secret"));
    check(&objects, "signet-system");
}

/// Renders the constructs the chart uses: `.Values.x.y`, `.Release.Name`,
/// `.Release.Namespace`, `include "signet-admission.fullname" .`,
/// `toYaml X`, and the `quote` and `nindent N` filters, with `{{-`/`-}}`
/// whitespace trimming.
fn render(template: &str, values: &serde_yaml::Value, release: &str, namespace: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let (before, after) = rest.split_at(start);
        let end = after.find("}}").expect("unclosed {{");
        let mut expr = &after[2..end];
        out.push_str(before);
        if let Some(e) = expr.strip_prefix('-') {
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            expr = e;
        }
        let mut after_end = &after[end + 2..];
        if let Some(e) = expr.strip_suffix('-') {
            expr = e;
            after_end = after_end.trim_start();
        }
        let mut parts = expr.split('|').map(str::trim);
        let head = parts.next().unwrap();
        let lookup = |path: &str| -> serde_yaml::Value {
            let mut v = values.clone();
            for k in path.trim_start_matches(".Values.").split('.') {
                v = v
                    .get(k)
                    .unwrap_or_else(|| panic!("no value {path}"))
                    .clone();
            }
            v
        };
        let mut value: String =
            if head == "include \"signet-admission.fullname\" ." || head == ".Release.Name" {
                release.to_string()
            } else if head == ".Release.Namespace" {
                namespace.to_string()
            } else if let Some(p) = head.strip_prefix("toYaml ") {
                serde_yaml::to_string(&lookup(p.trim()))
                    .unwrap()
                    .trim_end()
                    .to_string()
            } else if head.starts_with(".Values.") {
                match lookup(head) {
                    serde_yaml::Value::String(s) => s,
                    serde_yaml::Value::Number(n) => n.to_string(),
                    serde_yaml::Value::Bool(b) => b.to_string(),
                    other => panic!("{head} is not a scalar: {other:?}"),
                }
            } else {
                panic!("the test renderer does not know {{{{{expr}}}}}");
            };
        for filter in parts {
            if filter == "quote" {
                value = format!("{value:?}");
            } else if let Some(n) = filter.strip_prefix("nindent ") {
                let pad = " ".repeat(n.trim().parse().unwrap());
                value = value
                    .trim_end()
                    .lines()
                    .map(|l| {
                        if l.is_empty() {
                            String::new()
                        } else {
                            format!("\n{pad}{l}")
                        }
                    })
                    .collect();
            } else {
                panic!("the test renderer does not know the filter {filter}");
            }
        }
        out.push_str(&value);
        rest = after_end;
    }
    out.push_str(rest);
    out
}

#[test]
fn helm_chart_renders_to_valid_manifests() {
    let chart = root().join("helm/signet-admission");
    let meta = docs(&std::fs::read_to_string(chart.join("Chart.yaml")).unwrap());
    assert_eq!(meta[0]["apiVersion"], "v2");
    assert_eq!(meta[0]["name"], "signet-admission");
    let values: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart.join("values.yaml")).unwrap()).unwrap();
    let mut objects = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(chart.join("templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    for f in files {
        let text = render(
            &std::fs::read_to_string(&f).unwrap(),
            &values,
            "signet",
            "signet-system",
        );
        assert!(!text.contains("{{"), "{}: unrendered template", f.display());
        objects.extend(docs(&text));
    }
    check(&objects, "signet-system");
    let deployment = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"],
        "256Mi"
    );
}
