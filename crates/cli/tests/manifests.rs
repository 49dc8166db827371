//! `signet verify-manifests` end to end: multi-document YAML, a directory
//! of manifests, stdin, `--pin` (in place, comments kept), the JSON and
//! SARIF reports and the exit codes, against a REAL registry holding
//! images signed by signet.

mod support {
    pub mod cli;
    pub mod registry;
    pub mod up;
}

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::cli::*;
use support::up::*;

fn with_stdin(dir: &Path, args: &[&str], input: &str) -> Output {
    let docker = docker_empty(dir);
    let mut child = Command::new(signet_bin())
        .current_dir(dir)
        .args(args)
        .env("SIGNET_OFFLINE", "1")
        .env("DOCKER_CONFIG", &docker)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn verify_manifests_pin_and_reports() {
    let Some((dir, _up, reg, root, signing)) = keyed_stack("manifests") else {
        return;
    };
    let web = reg.image("team/web", "1.0");
    let web_digest = reg.push_image("team/web", "1.0", "web");
    let job = reg.image("team/job", "2");
    let job_digest = reg.push_image("team/job", "2", "job");
    let unsigned = reg.image("team/unsigned", "1");
    reg.push_image("team/unsigned", "1", "unsigned");
    for image in [&web, &job] {
        ok(&sign_with_key(&dir, image, &root, &signing));
    }
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "apiVersion: signet.dev/v1\nkind: ImagePolicy\nmetadata: {{name: gitops}}\nspec:\n  rules:\n  - name: team\n    images: [\"{}/team/*\", \"127.0.0.1:1/team/*\"]\n    authorities:\n    - name: ci\n      key: {{path: k.pub}}\n",
            reg.host
        ),
    )
    .unwrap();

    // A repository: multi-document YAML with comments, and JSON.
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("apps/nested")).unwrap();
    let app_yaml = format!(
        "# the web tier\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod # production!\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: \"{web}\"   # keep this comment\n      initContainers:\n        - name: migrate\n          image: {job}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: web}}\n---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: nightly}}\nspec:\n  schedule: '0 3 * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{{name: job, image: '{job}'}}]\n"
    );
    let app = repo.join("apps/app.yaml");
    std::fs::write(&app, &app_yaml).unwrap();
    let pod_json = format!(
        "{{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",\n  \"metadata\": {{\"name\": \"p\"}},\n  \"spec\": {{\"containers\": [{{\"name\": \"c\", \"image\": \"{web}\"}}]}}\n}}\n"
    );
    let pod = repo.join("apps/nested/pod.json");
    std::fs::write(&pod, &pod_json).unwrap();
    std::fs::write(repo.join("README.md"), "image: not-a-manifest\n").unwrap();

    let repo_s = path(&repo).to_string();
    let policy_s = path(&policy).to_string();
    let trust = ["--trusted-root", root.as_str()];
    let mut args = vec![
        "verify-manifests",
        repo_s.as_str(),
        "--policy",
        policy_s.as_str(),
        "--output",
        "json",
    ];
    args.extend_from_slice(&trust);
    let out = sig(&dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["allowed"], true);
    // Two distinct (image, namespace) pairs per namespace: web and job in
    // prod, job and web in default.
    assert_eq!(doc["images"].as_array().unwrap().len(), 4, "{doc}");
    let workloads = doc["workloads"].as_array().unwrap();
    assert_eq!(workloads.len(), 4, "{doc}");
    assert!(workloads
        .iter()
        .any(|w| w["workload"] == "CronJob/nightly" && w["digest"] == job_digest.as_str()));
    assert!(workloads.iter().any(|w| w["workload"] == "Pod/p"
        && w["file"].as_str().unwrap().ends_with("pod.json")
        && w["line"] == 5));

    // --pin: the files are rewritten with digests, nothing else changes.
    args.push("--pin");
    let out = sig(&dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pinned = std::fs::read_to_string(&app).unwrap();
    assert_eq!(
        pinned,
        app_yaml
            .replace(&format!("\"{web}\""), &format!("\"{web}@{web_digest}\""))
            .replace(
                &format!("image: {job}\n"),
                &format!("image: {job}@{job_digest}\n")
            )
            .replace(&format!("'{job}'"), &format!("'{job}@{job_digest}'"))
    );
    assert!(pinned.contains("# keep this comment") && pinned.contains("# production!"));
    assert_eq!(
        std::fs::read_to_string(&pod).unwrap(),
        pod_json.replace(&web, &format!("{web}@{web_digest}"))
    );
    // Pinned manifests still pass (digest references are verified as is).
    let out = sig(&dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // A denied image: exit 1, nothing rewritten, SARIF points at its line.
    let bad = repo.join("apps/bad.yml");
    let bad_yaml = format!(
        "kind: Pod\nmetadata: {{name: bad, namespace: prod}}\nspec:\n  containers:\n  - name: c\n    image: {web}\n  - name: u\n    image: {unsigned}\n"
    );
    std::fs::write(&bad, &bad_yaml).unwrap();
    let mut sarif_args = vec![
        "verify-manifests",
        repo_s.as_str(),
        "--policy",
        policy_s.as_str(),
        "--output",
        "sarif",
        "--pin",
    ];
    sarif_args.extend_from_slice(&trust);
    let out = sig(&dir, &sarif_args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), bad_yaml);
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{sarif}");
    assert_eq!(results[0]["ruleId"], "signet/image-denied");
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        8
    );
    assert!(results[0]["message"]["text"]
        .as_str()
        .unwrap()
        .contains(&unsigned));
    std::fs::remove_file(&bad).unwrap();

    // stdin (`kustomize build | signet verify-manifests -`): --pin prints.
    let input = format!("kind: Pod\nmetadata: {{name: s}}\nspec:\n  containers:\n  - name: c\n    image: {web} # pinned below\n");
    let mut stdin_args = vec![
        "verify-manifests",
        "-",
        "--policy",
        policy_s.as_str(),
        "--pin",
    ];
    stdin_args.extend_from_slice(&trust);
    let out = with_stdin(&dir, &stdin_args, &input);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        input.replace(&web, &format!("{web}@{web_digest}"))
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("all allowed"));

    // A registry that is not there: exit 3; a manifest that does not
    // parse: exit 2.
    let down = "kind: Pod\nmetadata: {name: d}\nspec:\n  containers:\n  - {name: c, image: '127.0.0.1:1/team/x:1'}\n";
    let out = with_stdin(&dir, &stdin_args, down);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("registry"), "{}", text(&out));
    let out = with_stdin(&dir, &stdin_args, "kind: Pod\nspec: [unclosed\n");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
