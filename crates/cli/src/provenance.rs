//! SLSA v1 provenance predicates (<https://slsa.dev/provenance/v1>) from a
//! CI environment, for `signet attest --type slsaprovenance1 --generate`.
//!
//! A pure function of the environment variables given (a map, so tests use
//! fixed maps and never the process environment):
//!
//! - **GitHub Actions** (`GITHUB_ACTIONS=true`): GitHub's own build type,
//!   <https://actions.github.io/buildtypes/workflow/v1>, shaped as GitHub's
//!   artifact attestations (`actions/attest-build-provenance`) shape it:
//!   `externalParameters.workflow` {`ref`, `repository`, `path`},
//!   `internalParameters.github` {`event_name`, `repository_id`,
//!   `repository_owner_id`, `runner_environment`}, the source commit as the
//!   resolved dependency, `builder.id` = the workflow at its ref and
//!   `invocationId` = the run attempt's URL. GitHub's environment has no
//!   job start time, so `startedOn` is left out there, as GitHub does.
//! - **GitLab CI** (`GITLAB_CI=true`): build type [`GITLAB_BUILD_TYPE`],
//!   defined here as: `externalParameters` {`source` (the project URL),
//!   `entryPoint` (the job name), `configPath` (`CI_CONFIG_PATH`), `ref`
//!   (the git ref built), `pipelineSource`}; `internalParameters.gitlab`
//!   {`server_url`, `project_id`, `pipeline_id`, `job_id`, `runner_id`};
//!   the commit as the resolved dependency; `builder.id` = the runner
//!   (`<project>/-/runners/<id>`, as GitLab's own provenance), the job's
//!   URL as `invocationId`, and `CI_JOB_STARTED_AT` as `startedOn`.
//!
//! Variables that are required and missing are named in the error.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// GitHub's build type for a GitHub Actions workflow run.
pub const GITHUB_BUILD_TYPE: &str = "https://actions.github.io/buildtypes/workflow/v1";
/// signet's build type for a GitLab CI job (described in this module).
pub const GITLAB_BUILD_TYPE: &str = "https://github.com/signet-dev/signet/buildtypes/gitlab-ci/v1";

/// Why no provenance could be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvenanceError {
    #[error(
        "not running in a supported CI system (GitHub Actions: GITHUB_ACTIONS=true, \
         GitLab CI: GITLAB_CI=true); give the predicate with --predicate instead"
    )]
    NotInCi,
    #[error("{ci}: the environment lacks {}", missing.join(", "))]
    Missing {
        ci: &'static str,
        missing: Vec<String>,
    },
}

/// The environment, as a map of variable names to values.
pub type Env = BTreeMap<String, String>;

/// The SLSA v1 provenance predicate for the CI run `env` describes.
pub fn generate(env: &Env) -> Result<Value, ProvenanceError> {
    let flag = |name: &str| env.get(name).is_some_and(|v| v == "true");
    if flag("GITHUB_ACTIONS") {
        github(env)
    } else if flag("GITLAB_CI") {
        gitlab(env)
    } else {
        Err(ProvenanceError::NotInCi)
    }
}

/// The values of `names`, all required and non-empty.
fn required<'e, const N: usize>(
    env: &'e Env,
    ci: &'static str,
    names: [&str; N],
) -> Result<[&'e str; N], ProvenanceError> {
    let values = names.map(|name| env.get(name).map(String::as_str).filter(|v| !v.is_empty()));
    let missing: Vec<String> = names
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(name, _)| name.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(ProvenanceError::Missing { ci, missing });
    }
    Ok(values.map(Option::unwrap_or_default))
}

/// The optional variables that are set and non-empty, under their keys.
fn optional(env: &Env, pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .filter_map(|(key, name)| {
            env.get(*name)
                .filter(|v| !v.is_empty())
                .map(|v| (key.to_string(), Value::String(v.clone())))
        })
        .collect()
}

fn github(env: &Env) -> Result<Value, ProvenanceError> {
    let [server, repository, sha, git_ref, workflow_ref, run_id, run_attempt] = required(
        env,
        "GitHub Actions",
        [
            "GITHUB_SERVER_URL",
            "GITHUB_REPOSITORY",
            "GITHUB_SHA",
            "GITHUB_REF",
            "GITHUB_WORKFLOW_REF",
            "GITHUB_RUN_ID",
            "GITHUB_RUN_ATTEMPT",
        ],
    )?;
    let server = server.trim_end_matches('/');
    let repository_url = format!("{server}/{repository}");
    // GITHUB_WORKFLOW_REF is `owner/repo/PATH@REF`; the path and ref may
    // hold `@`, so strip the known prefix and suffix rather than split.
    let path = workflow_ref
        .strip_prefix(&format!("{repository}/"))
        .unwrap_or(workflow_ref);
    let path = path
        .strip_suffix(&format!("@{git_ref}"))
        .or_else(|| path.rsplit_once('@').map(|(p, _)| p))
        .unwrap_or(path);
    let github = optional(
        env,
        &[
            ("event_name", "GITHUB_EVENT_NAME"),
            ("repository_id", "GITHUB_REPOSITORY_ID"),
            ("repository_owner_id", "GITHUB_REPOSITORY_OWNER_ID"),
            ("runner_environment", "RUNNER_ENVIRONMENT"),
        ],
    );
    Ok(json!({
        "buildDefinition": {
            "buildType": GITHUB_BUILD_TYPE,
            "externalParameters": {
                "workflow": {
                    "ref": git_ref,
                    "repository": repository_url,
                    "path": path,
                }
            },
            "internalParameters": {"github": github},
            "resolvedDependencies": [{
                "uri": format!("git+{repository_url}@{git_ref}"),
                "digest": {"gitCommit": sha},
            }],
        },
        "runDetails": {
            "builder": {"id": format!("{server}/{workflow_ref}")},
            "metadata": {
                "invocationId": format!(
                    "{repository_url}/actions/runs/{run_id}/attempts/{run_attempt}"
                ),
            },
        },
    }))
}

fn gitlab(env: &Env) -> Result<Value, ProvenanceError> {
    let [project_url, sha, ref_name, job_name, job_id, runner_id] = required(
        env,
        "GitLab CI",
        [
            "CI_PROJECT_URL",
            "CI_COMMIT_SHA",
            "CI_COMMIT_REF_NAME",
            "CI_JOB_NAME",
            "CI_JOB_ID",
            "CI_RUNNER_ID",
        ],
    )?;
    let project_url = project_url.trim_end_matches('/');
    // A tag pipeline builds refs/tags/NAME; any other, the branch.
    let git_ref = match env.get("CI_COMMIT_TAG").filter(|t| !t.is_empty()) {
        Some(tag) => format!("refs/tags/{tag}"),
        None => format!("refs/heads/{ref_name}"),
    };
    let mut external = Map::new();
    external.insert("source".into(), json!(project_url));
    external.insert("entryPoint".into(), json!(job_name));
    external.insert("ref".into(), json!(git_ref));
    external.extend(optional(
        env,
        &[
            ("configPath", "CI_CONFIG_PATH"),
            ("pipelineSource", "CI_PIPELINE_SOURCE"),
        ],
    ));
    let gitlab = optional(
        env,
        &[
            ("server_url", "CI_SERVER_URL"),
            ("project_id", "CI_PROJECT_ID"),
            ("pipeline_id", "CI_PIPELINE_ID"),
            ("job_id", "CI_JOB_ID"),
            ("runner_id", "CI_RUNNER_ID"),
        ],
    );
    let mut metadata = Map::new();
    metadata.insert(
        "invocationId".into(),
        json!(format!("{project_url}/-/jobs/{job_id}")),
    );
    metadata.extend(optional(env, &[("startedOn", "CI_JOB_STARTED_AT")]));
    Ok(json!({
        "buildDefinition": {
            "buildType": GITLAB_BUILD_TYPE,
            "externalParameters": external,
            "internalParameters": {"gitlab": gitlab},
            "resolvedDependencies": [{
                "uri": format!("git+{project_url}@{git_ref}"),
                "digest": {"gitCommit": sha},
            }],
        },
        "runDetails": {
            "builder": {"id": format!("{project_url}/-/runners/{runner_id}")},
            "metadata": metadata,
        },
    }))
}

/// The process environment as an [`Env`] (variables that are not UTF-8
/// are left out).
pub fn process_env() -> Env {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn github_env() -> Env {
        env(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "myorg/app"),
            ("GITHUB_REPOSITORY_ID", "123"),
            ("GITHUB_REPOSITORY_OWNER_ID", "45"),
            ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("GITHUB_REF", "refs/tags/v1.0@rc"),
            (
                "GITHUB_WORKFLOW_REF",
                "myorg/app/.github/workflows/rel@se.yml@refs/tags/v1.0@rc",
            ),
            ("GITHUB_RUN_ID", "987"),
            ("GITHUB_RUN_ATTEMPT", "2"),
            ("GITHUB_EVENT_NAME", "push"),
            ("RUNNER_ENVIRONMENT", "github-hosted"),
        ])
    }

    #[test]
    fn github_actions_run() {
        let p = generate(&github_env()).unwrap();
        let def = &p["buildDefinition"];
        assert_eq!(def["buildType"], GITHUB_BUILD_TYPE);
        let wf = &def["externalParameters"]["workflow"];
        assert_eq!(wf["repository"], "https://github.com/myorg/app");
        assert_eq!(wf["ref"], "refs/tags/v1.0@rc");
        // `@` in both the path and the ref: prefix and suffix stripped.
        assert_eq!(wf["path"], ".github/workflows/rel@se.yml");
        assert_eq!(
            def["internalParameters"]["github"],
            json!({"event_name": "push", "repository_id": "123",
                   "repository_owner_id": "45", "runner_environment": "github-hosted"})
        );
        assert_eq!(
            def["resolvedDependencies"],
            json!([{"uri": "git+https://github.com/myorg/app@refs/tags/v1.0@rc",
                    "digest": {"gitCommit": "0123456789abcdef0123456789abcdef01234567"}}])
        );
        let run = &p["runDetails"];
        assert_eq!(
            run["builder"]["id"],
            "https://github.com/myorg/app/.github/workflows/rel@se.yml@refs/tags/v1.0@rc"
        );
        assert_eq!(
            run["metadata"]["invocationId"],
            "https://github.com/myorg/app/actions/runs/987/attempts/2"
        );
        assert!(run["metadata"].get("startedOn").is_none());
    }

    #[test]
    fn github_optional_parameters_are_left_out_not_empty() {
        let mut e = github_env();
        e.remove("GITHUB_EVENT_NAME");
        e.insert("RUNNER_ENVIRONMENT".into(), String::new());
        let p = generate(&e).unwrap();
        let gh = &p["buildDefinition"]["internalParameters"]["github"];
        assert!(gh.get("event_name").is_none(), "{gh}");
        assert!(gh.get("runner_environment").is_none(), "{gh}");
        assert_eq!(gh["repository_id"], "123");
    }

    #[test]
    fn github_missing_variables_are_named() {
        let mut e = github_env();
        e.remove("GITHUB_SHA");
        e.insert("GITHUB_RUN_ID".into(), String::new());
        let err = generate(&e).unwrap_err();
        assert_eq!(
            err,
            ProvenanceError::Missing {
                ci: "GitHub Actions",
                missing: vec!["GITHUB_SHA".into(), "GITHUB_RUN_ID".into()],
            }
        );
        assert!(
            err.to_string().contains("GITHUB_SHA, GITHUB_RUN_ID"),
            "{err}"
        );
    }

    fn gitlab_env() -> Env {
        env(&[
            ("GITLAB_CI", "true"),
            ("CI_SERVER_URL", "https://gitlab.example"),
            ("CI_PROJECT_URL", "https://gitlab.example/group/app"),
            ("CI_PROJECT_ID", "77"),
            ("CI_COMMIT_SHA", "fedcba9876543210fedcba9876543210fedcba98"),
            ("CI_COMMIT_REF_NAME", "main"),
            ("CI_CONFIG_PATH", ".gitlab-ci.yml"),
            ("CI_PIPELINE_ID", "1001"),
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_JOB_ID", "5005"),
            ("CI_JOB_NAME", "build-image"),
            ("CI_JOB_STARTED_AT", "2024-05-06T07:08:09Z"),
            ("CI_RUNNER_ID", "12"),
        ])
    }

    #[test]
    fn gitlab_job() {
        let p = generate(&gitlab_env()).unwrap();
        let def = &p["buildDefinition"];
        assert_eq!(def["buildType"], GITLAB_BUILD_TYPE);
        assert_eq!(
            def["externalParameters"],
            json!({"source": "https://gitlab.example/group/app", "entryPoint": "build-image",
                   "ref": "refs/heads/main", "configPath": ".gitlab-ci.yml",
                   "pipelineSource": "push"})
        );
        assert_eq!(
            def["internalParameters"]["gitlab"],
            json!({"server_url": "https://gitlab.example", "project_id": "77",
                   "pipeline_id": "1001", "job_id": "5005", "runner_id": "12"})
        );
        assert_eq!(
            def["resolvedDependencies"][0]["uri"],
            "git+https://gitlab.example/group/app@refs/heads/main"
        );
        assert_eq!(
            def["resolvedDependencies"][0]["digest"]["gitCommit"],
            "fedcba9876543210fedcba9876543210fedcba98"
        );
        let run = &p["runDetails"];
        assert_eq!(
            run["builder"]["id"],
            "https://gitlab.example/group/app/-/runners/12"
        );
        assert_eq!(
            run["metadata"],
            json!({"invocationId": "https://gitlab.example/group/app/-/jobs/5005",
                   "startedOn": "2024-05-06T07:08:09Z"})
        );
    }

    #[test]
    fn gitlab_tag_pipeline_builds_the_tag() {
        let mut e = gitlab_env();
        e.insert("CI_COMMIT_TAG".into(), "v2.0".into());
        e.insert("CI_COMMIT_REF_NAME".into(), "v2.0".into());
        let p = generate(&e).unwrap();
        assert_eq!(
            p["buildDefinition"]["externalParameters"]["ref"],
            "refs/tags/v2.0"
        );
    }

    #[test]
    fn gitlab_missing_variables_are_named() {
        let mut e = gitlab_env();
        e.remove("CI_RUNNER_ID");
        let err = generate(&e).unwrap_err();
        assert!(err.to_string().contains("GitLab CI"), "{err}");
        assert!(err.to_string().contains("CI_RUNNER_ID"), "{err}");
    }

    #[test]
    fn outside_ci_is_an_error() {
        assert_eq!(generate(&Env::new()), Err(ProvenanceError::NotInCi));
        // A variable that merely exists is not enough.
        let e = env(&[("GITHUB_ACTIONS", "false"), ("CI", "true")]);
        assert_eq!(generate(&e), Err(ProvenanceError::NotInCi));
    }
}
