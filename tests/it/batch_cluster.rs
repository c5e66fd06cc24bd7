//! The batch as jobs (issue 15): `recipe batch plan` gives the graph with
//! keys and one command per job; each job, run in its own build tree with
//! only the HTTP cache shared, builds exactly its package; `recipe batch
//! report` rebuilds the local batch's report from the jobs' records.
//! Synthetic `script` recipes for the build machine keep it cheap.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use crate::support;
use crate::support::remote_server::Server;
use crate::support::report::Report;

/// The shared builder (a host project) with this module's way of running
/// the binary.
struct Project(support::project::Project);

impl std::ops::Deref for Project {
    type Target = support::project::Project;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Project {
    fn new() -> Project {
        Project(support::project::Project::host())
    }

    /// A recipe whose build logs `built NAME` to the shared event file,
    /// runs `extra` and stages a file.
    fn recipe(&self, name: &str, depends: &[&str], extra: &str) -> &Project {
        let log = self.log_step(&format!("built {name}"));
        let steps: Vec<&str> = [log.as_str(), extra].into_iter().filter(|s| !s.is_empty()).collect();
        self.script(name, depends, &steps);
        self
    }

    /// The synthetic batch: a chain, an independent package, and a broken
    /// package with a dependent.
    fn batch() -> Project {
        let p = Project::new();
        p.recipe("base", &[], "")
            .recipe("mid", &["base"], "")
            .recipe("top", &["mid"], "")
            .recipe("other", &[], "")
            .recipe("broken", &["base"], "echo broken on purpose >&2; exit 3")
            .recipe("needs-broken", &["broken"], "");
        p
    }

    fn recipe_cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_recipe"));
        cmd.current_dir(self.path())
            .env("RECIPE_CACHE", self.path().join("cache"))
            .env("RECIPE_CONFIG", self.path().join("no-config.kdl"))
            .env("NO_COLOR", "1")
            .env_remove("RECIPE_REMOTE_CACHE")
            .env_remove("RECIPE_REMOTE_CACHE_SECRET");
        cmd
    }

    /// `recipe --no-sandbox ARGS` (the steps log outside their dirs).
    fn run(&self, args: &[&str]) -> Output {
        self.recipe_cmd()
            .arg("--no-sandbox")
            .args(args)
            .output()
            .expect("run recipe")
    }

    fn built(&self) -> Vec<String> {
        let mut v = self.event_lines();
        v.sort();
        v
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn plan(p: &Project, url: &str, records: &Path) -> serde_json::Value {
    let out = p.run(&[
        "batch",
        "plan",
        "--all",
        "--target",
        "host",
        "--records",
        records.to_str().expect("utf-8"),
        "--remote-cache",
        url,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("the plan is JSON")
}

fn job<'a>(plan: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    plan["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["id"] == id)
        .unwrap_or_else(|| panic!("no job {id} in {plan}"))
}

/// Runs a job's own command line, in a build tree of its own.
fn run_job(p: &Project, job: &serde_json::Value, tree: &Path) -> Output {
    let argv: Vec<String> = job["command"]
        .as_array()
        .expect("command")
        .iter()
        .map(|a| a.as_str().expect("string").to_string())
        .collect();
    assert_eq!(argv[0], env!("CARGO_BIN_EXE_recipe"), "{argv:?}");
    p.recipe_cmd()
        .args(&argv[1..])
        .args(["--build-dir", tree.to_str().expect("utf-8")])
        .output()
        .expect("run job")
}

/// (package@target) → (status, digest) of a report.json.
fn outcomes(report: &Path) -> BTreeMap<String, (String, Option<String>)> {
    Report::read(report).outcomes()
}

#[test]
fn plan_gives_keys_bottom_up_and_a_command_per_job() {
    let server = Server::start();
    let p = Project::batch();
    let records = p.path().join("records");
    let plan = plan(&p, &server.url(), &records);
    let ids: Vec<&str> = plan["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| j["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 6, "{plan}");
    // Stable: the same plan twice, byte for byte.
    let again = self::plan(&p, &server.url(), &records);
    assert_eq!(plan, again);
    let position = |id: &str| ids.iter().position(|i| *i == id).expect("listed");
    assert!(position("base@host") < position("mid@host") && position("mid@host") < position("top@host"));

    let base = job(&plan, "base@host");
    assert!(base["key"].as_str().is_some_and(|k| k.len() == 64), "{base}");
    assert_eq!(base["in_remote_cache"], false);
    assert_eq!(base["deps"], serde_json::json!([]));
    let mid = job(&plan, "mid@host");
    assert!(mid["key"].is_null(), "{mid}");
    assert!(
        mid["key_unknown_because"]
            .as_str()
            .is_some_and(|r| r.contains("base@host")),
        "{mid}"
    );
    assert_eq!(mid["deps"], serde_json::json!(["base@host"]));
    let command = mid["command"].as_array().expect("command");
    for word in ["batch", "run", "mid@host", "--records", "--remote-cache"] {
        assert!(command.iter().any(|c| c == word), "{word} in {command:?}");
    }
    assert!(records.join("plan.json").is_file());
    assert!(p.built().is_empty(), "planning builds nothing: {:?}", p.built());
}

/// `resources { cores N }` becomes the job's `cpus` (default 1), which
/// `recipe batch submit --slurm` turns into `--cpus-per-task`; the build key
/// does not change with it.
#[test]
fn cores_from_the_recipe_are_the_jobs_cpus() {
    let server = Server::start();
    let p = Project::batch();
    let records = p.path().join("records");
    let before = plan(&p, &server.url(), &records);
    let path = p.path().join("recipes/base/recipe.kdl");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, format!("{text}resources {{\n    cores 2\n}}\n")).expect("write");
    let lint = p.run(&["lint", "base"]);
    assert!(lint.status.success(), "{}", stderr(&lint));

    let after = plan(&p, &server.url(), &records);
    assert_eq!(job(&after, "base@host")["cpus"], 2, "{after}");
    assert_eq!(job(&after, "mid@host")["cpus"], 1, "{after}");
    assert_eq!(job(&before, "base@host")["cpus"], 1, "{before}");
    assert_eq!(
        job(&after, "base@host")["key"],
        job(&before, "base@host")["key"],
        "the allocation is not an input of the build"
    );

    std::fs::write(&path, format!("{text}resources {{\n    cores 0\n}}\n")).expect("write");
    let lint = p.run(&["lint", "base"]);
    let err = stderr(&lint);
    assert!(
        !lint.status.success() && err.contains("cores") && err.contains("between 1 and"),
        "{err}"
    );
}

#[test]
fn a_job_never_builds_a_dependency_and_names_the_missing_key() {
    let server = Server::start();
    let p = Project::batch();
    let records = p.path().join("records");
    let plan = plan(&p, &server.url(), &records);
    let out = run_job(&p, job(&plan, "mid@host"), &p.path().join("tree-mid"));
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(p.built().is_empty(), "nothing built: {:?}\n{err}", p.built());
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(records.join("jobs/mid@host.json")).expect("record")).expect("json");
    assert_eq!(record["status"], "failed", "{record}");
    let base_key = job(&plan, "base@host")["key"].as_str().expect("key").to_string();
    let error = record["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("base@host") && error.contains(&base_key) && error.contains("not in the remote cache"),
        "{record}"
    );
}

#[test]
fn jobs_in_separate_trees_rebuild_the_local_batch_report() {
    let server = Server::start();
    let p = Project::batch();
    let records = p.path().join("records");
    let plan = plan(&p, &server.url(), &records);

    // The workload manager's part: each job after its dependencies, and
    // only when they succeeded (afterok), each on a "machine" of its own.
    let mut ok: BTreeMap<String, bool> = BTreeMap::new();
    for (i, j) in plan["jobs"].as_array().expect("jobs").iter().enumerate() {
        let id = j["id"].as_str().expect("id").to_string();
        let deps_ok = j["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .all(|d| ok.get(d.as_str().unwrap_or_default()) == Some(&true));
        if !deps_ok {
            ok.insert(id, false);
            continue;
        }
        let out = run_job(&p, j, &p.path().join(format!("tree-{i}")));
        assert_eq!(out.status.success(), id != "broken@host", "{id}: {}", stderr(&out));
        ok.insert(id, out.status.success());
    }
    assert_eq!(
        p.built(),
        ["built base", "built broken", "built mid", "built other", "built top"],
        "each package built exactly once, by its own job"
    );
    let broken: serde_json::Value =
        serde_json::from_slice(&std::fs::read(records.join("jobs/broken@host.json")).expect("record")).expect("json");
    assert!(
        broken["log_tail"].as_array().is_some_and(|t| t
            .iter()
            .any(|l| l.as_str().unwrap_or_default().contains("broken on purpose"))),
        "{broken}"
    );

    let out = p.run(&["batch", "report", records.to_str().expect("utf-8")]);
    assert!(!out.status.success(), "a failed job fails the report: {}", stderr(&out));
    assert!(records.join("junit.xml").is_file() && records.join("report.html").is_file());
    let batch = outcomes(&records.join("report.json"));

    // The same batch on one machine.
    let local = p.path().join("local-report");
    let out = p.run(&[
        "build",
        "--all",
        "--target",
        "host",
        "--keep-going",
        "--no-remote-cache",
        // The reference builds everything itself: the jobs above filled
        // this cache's local store.
        "--no-local-store",
        "--build-dir",
        "local-tree",
        "--report",
        local.to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success(), "{}", stderr(&out));
    assert_eq!(batch, outcomes(&local.join("report.json")));
    assert_eq!(batch["needs-broken@host"].0, "skipped");
    assert_eq!(batch["broken@host"].0, "failed");

    // Compared with the previous night.
    let next = p.path().join("next");
    let out = p.run(&[
        "batch",
        "report",
        records.to_str().expect("utf-8"),
        "--out",
        next.to_str().expect("utf-8"),
        "--previous",
        local.join("report.json").to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(next.join("report.json")).expect("read")).expect("json");
    assert!(json["diff"].is_object(), "{}", json["diff"]);

    let status = p.run(&["batch", "status", records.to_str().expect("utf-8")]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("skipped  needs-broken@host  dependency broken@host failed")
            && text.contains("built    top@host"),
        "{text}"
    );

    // Planned again: everything that succeeded is in the cache, keys all known
    // except below the failure.
    let again = self::plan(&p, &server.url(), &p.path().join("records-2"));
    for id in ["base@host", "mid@host", "top@host", "other@host"] {
        let j = job(&again, id);
        assert_eq!(j["in_remote_cache"], true, "{j}");
    }
    assert_eq!(job(&again, "broken@host")["in_remote_cache"], false);
    assert!(job(&again, "needs-broken@host")["key"].is_null());
}

/// Records without a shared directory: each job writes into a directory of
/// its own "machine" and puts its record, log and artifacts into the cache
/// under the plan's batch id; `recipe batch status` and `report`, given only
/// plan.json, read them from there. A record the cache holds for another
/// job, or a damaged one, is refused rather than counted.
#[test]
fn records_travel_through_the_cache_without_a_shared_directory() {
    let server = Server::start();
    let p = Project::batch();
    let records = p.path().join("records");
    let plan = plan(&p, &server.url(), &records);
    let batch_id = plan["batch_id"].as_str().expect("batch id").to_string();
    assert!(recipe::remote::is_key(&batch_id), "{plan}");

    let mut ok: BTreeMap<String, bool> = BTreeMap::new();
    for (i, j) in plan["jobs"].as_array().expect("jobs").iter().enumerate() {
        let id = j["id"].as_str().expect("id").to_string();
        let deps_ok = j["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .all(|d| ok.get(d.as_str().unwrap_or_default()) == Some(&true));
        if !deps_ok {
            ok.insert(id, false);
            continue;
        }
        let mut job = j.clone();
        let argv = job["command"].as_array_mut().expect("command");
        assert!(argv.iter().any(|a| a == batch_id.as_str()), "{argv:?}");
        let at = argv.iter().position(|a| a == "--records").expect("--records") + 1;
        argv[at] = p.path().join(format!("node-{i}")).display().to_string().into();
        let out = run_job(&p, &job, &p.path().join(format!("tree-{i}")));
        assert_eq!(out.status.success(), id != "broken@host", "{id}: {}", stderr(&out));
        ok.insert(id, out.status.success());
    }
    assert!(
        !records.join("jobs").exists(),
        "nothing written into the planner's directory"
    );

    let records_arg = records.to_str().expect("utf-8");
    let status = p.run(&["batch", "status", records_arg]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("failed   broken@host")
            && text.contains("skipped  needs-broken@host  dependency broken@host failed")
            && text.contains("built    top@host"),
        "{text}{}",
        stderr(&status)
    );
    let out = p.run(&["batch", "report", records_arg]);
    assert!(!out.status.success(), "a failed job fails the report: {}", stderr(&out));
    let batch = outcomes(&records.join("report.json"));
    let log = std::fs::read_to_string(records.join("logs/broken@host.log")).expect("the log, from the cache");
    assert!(log.contains("broken on purpose"), "{log}");

    let local = p.path().join("local-report");
    let out = p.run(&[
        "build",
        "--all",
        "--target",
        "host",
        "--keep-going",
        "--no-remote-cache",
        "--no-local-store",
        "--build-dir",
        "local-tree",
        "--report",
        local.to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success(), "{}", stderr(&out));
    assert_eq!(batch, outcomes(&local.join("report.json")));

    // Hostile cache contents: top's record replaced by other's (a valid
    // record, of another job), then by a damaged copy.
    let key = |id: &str| format!("/ac/{}", recipe::batch::shared::record_key(&batch_id, id));
    let other = server.store.lock().expect("lock")[&key("other@host")].clone();
    std::fs::remove_dir_all(records.join("jobs")).ok();
    server.put(&key("top@host"), other.clone());
    let out = p.run(&["batch", "report", records_arg]);
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("top@host") && err.contains("expected `top@host`"),
        "{err}"
    );
    let mut damaged = String::from_utf8(other).expect("utf-8");
    damaged = damaged.replacen("built", "BUILT", 1);
    server.put(&key("top@host"), damaged.into_bytes());
    let out = p.run(&["batch", "status", records_arg]);
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("damaged"), "{err}");

    // A reader holding a fleet secret takes no untagged record.
    let out = p
        .recipe_cmd()
        .env("RECIPE_REMOTE_CACHE_SECRET", "a-fleet-secret-of-enough-bytes")
        .args(["batch", "status", records_arg])
        .output()
        .expect("run recipe");
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("base@host") && err.contains("no tag"),
        "{err}"
    );
}

#[test]
fn shards_build_each_package_once_and_merge_into_the_local_report() {
    let server = Server::start();
    let p = Project::new();
    p.recipe("base", &[], "")
        .recipe("mid", &["base"], "")
        .recipe("top", &["mid"], "")
        .recipe("other", &[], "")
        .recipe("leaf", &["base"], "")
        .recipe("tool", &["other", "mid"], "");
    let n = 3;
    let mut shard_reports = Vec::new();
    for k in 1..=n {
        // Separate build trees and caches: only the HTTP cache is shared.
        let report = p.path().join(format!("shard-report-{k}"));
        let out = p
            .recipe_cmd()
            .env("RECIPE_CACHE", p.path().join(format!("cache-{k}")))
            .args(["--no-sandbox", "build", "--all", "--target", "host", "--keep-going"])
            .args(["--shard", &format!("{k}/{n}")])
            .args([
                "--build-dir",
                &format!("shard-tree-{k}"),
                "--remote-cache",
                &server.url(),
            ])
            .args(["--report", report.to_str().expect("utf-8")])
            .output()
            .expect("run shard");
        assert!(out.status.success(), "shard {k}: {}", stderr(&out));
        shard_reports.push(report.join("report.json"));
    }
    assert_eq!(
        p.built(),
        [
            "built base",
            "built leaf",
            "built mid",
            "built other",
            "built tool",
            "built top"
        ],
        "together the shards build each package exactly once"
    );
    let merged = p.path().join("merged");
    let mut args = vec!["batch".to_string(), "report".into(), merged.display().to_string()];
    for r in &shard_reports {
        args.extend(["--shard-report".into(), r.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = p.run(&args);
    assert!(out.status.success(), "{}", stderr(&out));

    let local = p.path().join("local-report");
    let out = p.run(&[
        "build",
        "--all",
        "--target",
        "host",
        "--no-remote-cache",
        "--build-dir",
        "local-tree",
        "--report",
        local.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let merged = outcomes(&merged.join("report.json"));
    assert_eq!(merged.len(), 6);
    assert_eq!(merged, outcomes(&local.join("report.json")));

    let bad = p.run(&["build", "--all", "--target", "host", "--shard", "4/3"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("is not a shard"), "{}", stderr(&bad));
}
