//! Every container image in Kubernetes objects, with where it is written,
//! and pinning them to digests.
//!
//! Kinds: Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
//! ReplicationController, Job, CronJob (its `jobTemplate`), PodTemplate,
//! any `*List` of those, and — so that a custom workload is not a way
//! around the gate — any other object with a pod template at
//! `spec.template.spec` (Argo Rollouts, Knative-style CRDs). In each pod
//! spec: `containers`, `initContainers` and `ephemeralContainers`.
//!
//! Pinning writes `IMAGE@sha256:…` where IMAGE is the reference exactly as
//! written (its tag kept: `repo:tag@sha256:…`), the form Kyverno's
//! `mutateDigest` writes; the runtime pulls by the digest and the tag
//! stays for people. An image already carrying a digest is left alone.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::yaml::{self, dotted, Node, Seg, Style, YamlError};

/// The container lists of a pod spec.
pub const CONTAINER_FIELDS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Most objects accepted in one `List` nesting level walk.
const MAX_LIST_DEPTH: usize = 8;

/// One image reference in an object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageUse {
    /// As written.
    pub image: String,
    /// The container's name.
    pub container: String,
    /// `containers`, `initContainers` or `ephemeralContainers`.
    pub field: String,
    /// Path of the image field from the document's root.
    #[serde(skip)]
    pub path: Vec<Seg>,
    /// The same path as a JSON pointer (`/spec/template/spec/containers/0/image`).
    pub pointer: String,
}

/// One object that runs containers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Workload {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub images: Vec<ImageUse>,
}

impl Workload {
    /// `Kind/namespace/name` (or `Kind/name`).
    pub fn id(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{ns}/{}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }
}

/// Where a kind keeps its pod spec, relative to the object.
pub fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pod" => &["spec"],
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => &["spec", "template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        "PodTemplate" => &["template", "spec"],
        _ => return None,
    })
}

fn str_at<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    let mut v = v;
    for k in keys {
        v = v.get(k)?;
    }
    v.as_str()
}

/// The workloads in one parsed document (an object or a `List`). `List`s
/// nested deeper than [`MAX_LIST_DEPTH`] are an error: kubectl unwraps any
/// depth, so skipping them would let their images through unchecked.
pub fn workloads(doc: &Value) -> Result<Vec<Workload>, String> {
    let mut out = Vec::new();
    collect(doc, &mut Vec::new(), &mut out, 0)?;
    Ok(out)
}

fn collect(
    obj: &Value,
    base: &mut Vec<Seg>,
    out: &mut Vec<Workload>,
    depth: usize,
) -> Result<(), String> {
    let Some(kind) = obj.get("kind").and_then(Value::as_str) else {
        return Ok(());
    };
    if kind.ends_with("List") {
        if depth >= MAX_LIST_DEPTH {
            return Err(format!(
                "{kind} at {} is nested in more than {MAX_LIST_DEPTH} lists",
                dotted(base)
            ));
        }
        if let Some(items) = obj.get("items").and_then(Value::as_array) {
            for (i, item) in items.iter().enumerate() {
                base.push(Seg::Key("items".into()));
                base.push(Seg::Index(i));
                collect(item, base, out, depth + 1)?;
                base.pop();
                base.pop();
            }
        }
        return Ok(());
    }
    let spec_path: &[&str] = match pod_spec_path(kind) {
        Some(p) => p,
        None if obj
            .pointer("/spec/template/spec")
            .is_some_and(has_containers) =>
        {
            &["spec", "template", "spec"]
        }
        None => return Ok(()),
    };
    let Some(spec) = spec_path.iter().try_fold(obj, |v, k| v.get(k)) else {
        return Ok(());
    };
    let mut images = Vec::new();
    for field in CONTAINER_FIELDS {
        let Some(list) = spec.get(field).and_then(Value::as_array) else {
            continue;
        };
        for (i, c) in list.iter().enumerate() {
            let Some(image) = c.get("image").and_then(Value::as_str) else {
                continue;
            };
            let mut path = base.clone();
            path.extend(spec_path.iter().map(|k| Seg::Key(k.to_string())));
            path.push(Seg::Key(field.into()));
            path.push(Seg::Index(i));
            path.push(Seg::Key("image".into()));
            images.push(ImageUse {
                image: image.to_string(),
                container: c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                field: field.to_string(),
                pointer: yaml::pointer(&path),
                path,
            });
        }
    }
    out.push(Workload {
        kind: kind.to_string(),
        name: str_at(obj, &["metadata", "name"])
            .or_else(|| str_at(obj, &["metadata", "generateName"]))
            .unwrap_or_default()
            .to_string(),
        namespace: str_at(obj, &["metadata", "namespace"]).map(str::to_string),
        images,
    });
    Ok(())
}

fn has_containers(spec: &Value) -> bool {
    CONTAINER_FIELDS
        .iter()
        .any(|f| spec.get(f).is_some_and(Value::is_array))
}

/// The pinned form of `image`: `image@digest` unless it already has one.
pub fn pinned(image: &str, digest: &str) -> Option<String> {
    if image.contains('@') {
        None
    } else {
        Some(format!("{image}@{digest}"))
    }
}

/// A manifest file (or stdin): its text, parsed documents and workloads.
#[derive(Debug, Clone)]
pub struct ManifestText {
    pub text: String,
    pub docs: Vec<Node>,
    /// (document index, workload) in order.
    pub workloads: Vec<(usize, Workload)>,
}

impl ManifestText {
    pub fn parse(text: String) -> Result<ManifestText, YamlError> {
        let docs = yaml::parse_documents(&text)?;
        let mut workloads = Vec::new();
        for (i, doc) in docs.iter().enumerate() {
            for w in self::workloads(&doc.to_json()).map_err(YamlError::Limit)? {
                workloads.push((i, w));
            }
        }
        Ok(ManifestText {
            text,
            docs,
            workloads,
        })
    }

    /// The 1-based line where the image at `path` of document `doc` is
    /// written.
    pub fn line_of(&self, doc: usize, path: &[Seg]) -> Option<usize> {
        match self.docs.get(doc)?.at(path)? {
            Node::Scalar { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The text with every image that has a digest in `digests` (keyed by
    /// the image as written) pinned in place. Fails, changing nothing,
    /// when an image scalar cannot be edited in place (a block scalar, an
    /// escape sequence).
    pub fn pin(&self, digests: &BTreeMap<String, String>) -> Result<String, String> {
        let mut edits: Vec<(usize, usize, String)> = Vec::new();
        for (doc, w) in &self.workloads {
            for u in &w.images {
                let Some(new) = digests.get(&u.image).and_then(|d| pinned(&u.image, d)) else {
                    continue;
                };
                let node = self.docs[*doc].at(&u.path);
                let Some(Node::Scalar {
                    value,
                    style,
                    start,
                    line,
                }) = node
                else {
                    return Err(format!("{}: {}: not a scalar", w.id(), u.pointer));
                };
                let (s, e) = yaml::scalar_span(&self.text, *start, *style, value).ok_or_else(|| {
                    format!(
                        "line {line}: cannot pin {value:?} in place (write it as a plain or quoted scalar on one line)"
                    )
                })?;
                let style = if *style == Style::Block {
                    Style::Plain
                } else {
                    *style
                };
                edits.push((s, e, yaml::render_scalar(style, &new)));
            }
        }
        // An anchored image used through aliases is one edit.
        edits.sort_by_key(|e| std::cmp::Reverse(e.0));
        edits.dedup_by(|a, b| a.0 == b.0);
        let mut text = self.text.clone();
        for (s, e, new) in edits {
            text.replace_range(s..e, &new);
        }
        Ok(text)
    }
}

/// A JSONPatch replacing each image of `workloads` (of one object) that
/// has a digest in `digests` with its pinned form (pointers relative to
/// the object).
pub fn pin_patch(workloads: &[Workload], digests: &BTreeMap<String, String>) -> Vec<Value> {
    let mut ops = Vec::new();
    for w in workloads {
        for u in &w.images {
            if let Some(new) = digests.get(&u.image).and_then(|d| pinned(&u.image, d)) {
                ops.push(json!({"op": "replace", "path": u.pointer, "value": new}));
            }
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(yaml_text: &str) -> Vec<(String, String, String)> {
        let m = ManifestText::parse(yaml_text.to_string()).unwrap();
        m.workloads
            .iter()
            .flat_map(|(_, w)| {
                w.images
                    .iter()
                    .map(|u| (w.kind.clone(), u.image.clone(), u.pointer.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn template(kind: &str, api: &str, prefix: &str, indent: usize) -> String {
        let pad = " ".repeat(indent);
        let body = format!(
            "{pad}containers:\n{pad}- name: app\n{pad}  image: reg.io/app:1\n{pad}initContainers:\n{pad}- name: init\n{pad}  image: reg.io/init:1\n{pad}ephemeralContainers:\n{pad}- name: debug\n{pad}  image: reg.io/debug:1\n"
        );
        format!("apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: x\n  namespace: ns\n{prefix}{body}")
    }

    #[test]
    fn every_kind() {
        let cases = [
            ("Pod", "v1", "spec:\n", 2, "/spec"),
            (
                "Deployment",
                "apps/v1",
                "spec:\n  template:\n    spec:\n",
                6,
                "/spec/template/spec",
            ),
            (
                "StatefulSet",
                "apps/v1",
                "spec:\n  template:\n    spec:\n",
                6,
                "/spec/template/spec",
            ),
            (
                "DaemonSet",
                "apps/v1",
                "spec:\n  template:\n    spec:\n",
                6,
                "/spec/template/spec",
            ),
            (
                "ReplicaSet",
                "apps/v1",
                "spec:\n  template:\n    spec:\n",
                6,
                "/spec/template/spec",
            ),
            (
                "ReplicationController",
                "v1",
                "spec:\n  template:\n    spec:\n",
                6,
                "/spec/template/spec",
            ),
            (
                "Job",
                "batch/v1",
                "spec:\n  template:\n    spec:\n",
                6,
                "/spec/template/spec",
            ),
            (
                "CronJob",
                "batch/v1",
                "spec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n",
                10,
                "/spec/jobTemplate/spec/template/spec",
            ),
            (
                "PodTemplate",
                "v1",
                "template:\n  spec:\n",
                4,
                "/template/spec",
            ),
            (
                "Rollout",
                "argoproj.io/v1alpha1",
                "spec:\n  template:\n    spec:\n",
                6,
                "/spec/template/spec",
            ),
        ];
        for (kind, api, prefix, indent, base) in cases {
            let found = images(&template(kind, api, prefix, indent));
            assert_eq!(
                found,
                vec![
                    (
                        kind.to_string(),
                        "reg.io/app:1".to_string(),
                        format!("{base}/containers/0/image")
                    ),
                    (
                        kind.to_string(),
                        "reg.io/init:1".to_string(),
                        format!("{base}/initContainers/0/image")
                    ),
                    (
                        kind.to_string(),
                        "reg.io/debug:1".to_string(),
                        format!("{base}/ephemeralContainers/0/image")
                    ),
                ],
                "{kind}"
            );
        }
    }

    /// kubectl unwraps `List`s of any depth: one deeper than the gate
    /// walks is an error, never a document without images.
    #[test]
    fn lists_too_deep_are_an_error() {
        let pod = serde_json::json!({"kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "evil.example/x:1"}]}});
        let wrap = |levels: usize| {
            (0..levels).fold(
                pod.clone(),
                |inner, _| serde_json::json!({"kind": "List", "items": [inner]}),
            )
        };
        assert_eq!(workloads(&wrap(MAX_LIST_DEPTH)).unwrap()[0].images.len(), 1);
        let err = workloads(&wrap(MAX_LIST_DEPTH + 1)).unwrap_err();
        assert!(err.contains("nested in more than"), "{err}");
        assert!(ManifestText::parse(wrap(MAX_LIST_DEPTH + 1).to_string()).is_err());
    }

    /// An image written under a YAML merge key is an image.
    #[test]
    fn images_under_merge_keys_are_found() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: app\n    <<: {image: \"evil.example.net/miner:latest\"}\n";
        assert_eq!(
            images(text),
            [(
                "Pod".to_string(),
                "evil.example.net/miner:latest".to_string(),
                "/spec/containers/0/image".to_string()
            )]
        );
    }

    #[test]
    fn lists_json_and_non_workloads() {
        let list = r#"{"apiVersion": "v1", "kind": "List", "items": [
            {"kind": "Pod", "metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "a:1"}]}},
            {"kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"image": "not-me"}},
            {"kind": "DeploymentList", "items": [{"kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "b:2"}]}}}}]}
        ]}"#;
        assert_eq!(
            images(list),
            vec![
                (
                    "Pod".into(),
                    "a:1".into(),
                    "/items/0/spec/containers/0/image".into()
                ),
                (
                    "Deployment".into(),
                    "b:2".into(),
                    "/items/2/items/0/spec/template/spec/containers/0/image".into()
                ),
            ]
        );
        let multi = "kind: Service\nmetadata: {name: s}\n---\n# comment\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: 'x:1'}]\n---\n";
        assert_eq!(
            images(multi),
            vec![(
                "Pod".into(),
                "x:1".into(),
                "/spec/containers/0/image".into()
            )]
        );
    }

    #[test]
    fn pin_keeps_comments_and_formatting() {
        let d = format!("sha256:{}", "a".repeat(64));
        let text = "# top comment\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web   # trailing\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: \"reg.io/web:1.0\" # the app\n        - name: side\n          image: reg.io/side:2\n      initContainers:\n        - {name: init, image: 'reg.io/init:3'}\n        - name: pinned\n          image: reg.io/p@sha256:0000000000000000000000000000000000000000000000000000000000000000\n---\nkind: Pod\nmetadata:\n  name: ünïcode\nspec:\n  containers:\n  - name: c\n    image: reg.io/web:1.0\n";
        let m = ManifestText::parse(text.to_string()).unwrap();
        let digests: BTreeMap<String, String> =
            ["reg.io/web:1.0", "reg.io/side:2", "reg.io/init:3"]
                .iter()
                .map(|i| (i.to_string(), d.clone()))
                .collect();
        let out = m.pin(&digests).unwrap();
        let expected = text
            .replace(
                "\"reg.io/web:1.0\" # the app",
                &format!("\"reg.io/web:1.0@{d}\" # the app"),
            )
            .replace(
                "image: reg.io/side:2\n",
                &format!("image: reg.io/side:2@{d}\n"),
            )
            .replace("'reg.io/init:3'}", &format!("'reg.io/init:3@{d}'}}"))
            .replace(
                "    image: reg.io/web:1.0\n",
                &format!("    image: reg.io/web:1.0@{d}\n"),
            );
        assert_eq!(out, expected);
        // Pinned output parses to the same objects with pinned images.
        let again = ManifestText::parse(out).unwrap();
        assert!(again
            .workloads
            .iter()
            .flat_map(|(_, w)| &w.images)
            .all(|u| u.image.contains("@sha256:")));
    }

    #[test]
    fn pin_refuses_block_scalars() {
        let text = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: >-\n      reg.io/a:1\n";
        let m = ManifestText::parse(text.to_string()).unwrap();
        let digests = BTreeMap::from([("reg.io/a:1".to_string(), "sha256:ab".to_string())]);
        assert!(m.pin(&digests).unwrap_err().contains("cannot pin"));
    }

    #[test]
    fn patch_for_admission() {
        let pod = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "a", "image": "r/a:1"}, {"name": "b", "image": "r/b@sha256:00"}],
            "initContainers": [{"name": "i", "image": "r/a:1"}]}});
        let digests = BTreeMap::from([
            ("r/a:1".to_string(), "sha256:11".to_string()),
            ("r/b@sha256:00".to_string(), "sha256:00".to_string()),
        ]);
        assert_eq!(
            pin_patch(&workloads(&pod).unwrap(), &digests),
            vec![
                json!({"op": "replace", "path": "/spec/containers/0/image", "value": "r/a:1@sha256:11"}),
                json!({"op": "replace", "path": "/spec/initContainers/0/image", "value": "r/a:1@sha256:11"}),
            ]
        );
    }
}
