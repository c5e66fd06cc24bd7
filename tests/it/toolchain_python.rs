//! A target root with trixie's armhf CPython + cffi (for wheel tests),
//! provisioned through the library API and run under qemu.

use crate::support::toolchain::*;
use recipe::model::project::{Project, ProjectPaths};
use recipe::toolchain::provision::ProvisionContext;
use recipe::toolchain::targetroot::ensure_target_root;

#[test]
fn armhf_python_with_cffi_runs_under_qemu() {
    let project = Project::load(ProjectPaths::from_recipes_dir(&repo().join("recipes"))).expect("project loads");
    let target = &project.targets["armv7hf"];
    // The settings a run would resolve from this process's environment.
    let config = recipe::settings::load_config(&recipe::settings::Environment::capture()).expect("config");
    let options = recipe::fetch::FetchOptions::from_loaded(&config, false, &Default::default());
    let mut ctx = ProvisionContext::from_options(cache(), options).expect("context");
    ctx.verbose = false;
    let packages = ["python3.13".to_string(), "python3-cffi".to_string()];
    let root = ensure_target_root(&ctx, target, "trixie", &packages).expect("root provisioned");
    assert_eq!(
        ensure_target_root(&ctx, target, "trixie", &packages).expect("again"),
        root
    );
    assert!(root.join("lib").is_symlink(), "merged-/usr links");
    let qemu = recipe::toolchain::qemu::ensure_qemu(&ctx).expect("qemu");
    let script = "import cffi, platform, sys; print(platform.machine(), sys.version_info[:2], cffi.__version__)";
    let out = qemu
        .command(
            target,
            &root,
            &[("PYTHONDONTWRITEBYTECODE".into(), "1".into())],
            &root.join("usr/bin/python3.13"),
            &["-c".to_string(), script.to_string()],
        )
        .expect("qemu command")
        .output()
        .expect("spawn");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).starts_with("armv7l (3, 13) 1."), "{}", stdout(&out));
    // Nothing was written into the cached root.
    assert!(!root.join("usr/lib/python3/dist-packages/cffi/__pycache__").exists());
}
