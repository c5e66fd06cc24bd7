//! Load + render + plan on synthetic projects of 10,000 and 100,000 recipes.
//!
//! `cargo bench --bench load` (release). Sizes can be overridden:
//! `cargo bench --bench load -- 1000 10000`. Each size is measured twice:
//! `cold` parses every file (no parse cache: the first run on a tree, or after
//! editing every recipe) and `warm` reuses the parse cache (every later run;
//! see `recipe::recipe::parse_cache`). Both on a warm page cache, best of
//! `RUNS` (one cold run for very large trees).
//! Goal: ≤ 1 s in total for 10,000 recipes, and linear growth.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use recipe::model::project::{Project, ProjectPaths};
use recipe::plan::graph::plan;
use recipe::plan::render::render;

const RUNS: usize = 3;
const KINDS: &[&str] = &["autotools", "cmake", "make", "go", "python-wheel", "script"];

const TARGET: &str = r#"target armv7hf {
    triple "arm-linux-gnueabihf"
    arch "arm"
    debian-arch "armhf"
    cflags "-march=armv7-a" "-mfpu=vfpv3-d16" "-mfloat-abi=hard"
    go arch="arm" arm="7"
    python platform="linux_armv7l" machine="armv7l" lib-dir="linux-armv7"
    qemu "qemu-arm"
    toolchain debian suite="bookworm" {
        packages "gcc-arm-linux-gnueabihf"
    }
    sysroot "bench"
    elf machine="arm" class=32
}
"#;

fn name(i: usize) -> String {
    format!("pkg{i:06}")
}

/// A deterministic 64-hex-digit value (not a real hash; only its shape matters).
fn fake_sha(i: usize) -> String {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut s = String::with_capacity(64);
    for _ in 0..4 {
        x ^= x >> 33;
        x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        x ^= x >> 33;
        let _ = write!(s, "{x:016x}");
    }
    s
}

/// Dependencies point to lower indices only, so the graph is a DAG with
/// chains, diamonds and shared leaves (up to 3 deps each).
fn deps(i: usize) -> Vec<usize> {
    let mut d: Vec<usize> = [i.wrapping_sub(1), i / 2, i / 7 * 3]
        .into_iter()
        .filter(|&j| j < i && !i.is_multiple_of(5))
        .collect();
    d.sort_unstable();
    d.dedup();
    d
}

fn recipe_text(i: usize) -> String {
    let n = name(i);
    let kind = KINDS[i % KINDS.len()];
    let mut t = format!(
        r#"package {n} {{
    version "1.{}.{}"
    license "MIT OR Apache-2.0"
    homepage "https://example.invalid/{n}"
    summary "Synthetic package number {i}"
}}
source "https://example.invalid/{n}/archive/v{{{{ version }}}}.tar.gz" {{
    file "{n}_{{{{ version }}}}.orig.tar.gz"
    sha256 "{}"
    mirror debian package="{n}"
    mirror "https://mirror.example.invalid/{n}-{{{{ version }}}}.tar.gz"
    strip-components 1
}}
"#,
        i % 40,
        i % 7,
        fake_sha(i)
    );
    if i.is_multiple_of(3) {
        let _ = writeln!(t, "patch \"patches/0001-fix-{{{{ target.arch }}}}.patch\"");
    }
    let d = deps(i);
    if !d.is_empty() {
        let names: Vec<String> = d.into_iter().map(name).collect();
        let _ = writeln!(t, "depends {}", names.join(" "));
    }
    let _ = writeln!(t, "build {kind} {{");
    match kind {
        "autotools" => t.push_str(
            "    autoreconf #true\n    configure \"--host={{ target.triple }}\" \"--disable-static\"\n    make \"V=1\"\n",
        ),
        "cmake" => t.push_str("    args \"-DCMAKE_SYSTEM_PROCESSOR={{ target.arch }}\" \"-DBUILD_TESTING=OFF\"\n"),
        "make" => t.push_str("    make \"PREFIX=/usr\" \"CROSS={{ target.triple }}-\"\n    install \"PREFIX=/usr\"\n"),
        "go" => t.push_str("    mode \"c-shared\"\n    output \"lib{{ name }}.so\"\n    tags \"nosqlite3\"\n"),
        "python-wheel" => t.push_str("    lib-dir \"{{ name }}/_lib/{{ target.python.lib_dir }}\"\n"),
        _ => t.push_str("    step \"make -j1 CC={{ target.triple }}-gcc\"\n    step \"make install DESTDIR=$DESTDIR\"\n"),
    }
    t.push_str("    env CFLAGS=\"-O2 {{ target.cflags | join(' ') }}\"\n}\n");
    if i.is_multiple_of(4) {
        t.push_str("test {\n    run \"$RUN ./{{ name }}-selftest\"\n}\n");
    }
    t
}

fn generate(root: &Path, n: usize) {
    std::fs::create_dir_all(root.join("toolchains")).expect("mkdir");
    std::fs::create_dir_all(root.join("sysroots")).expect("mkdir");
    std::fs::write(root.join("toolchains/armv7hf.kdl"), TARGET).expect("write");
    std::fs::write(
        root.join("sysroots/bench.kdl"),
        "sysroot bench {\n    debian suite=\"trixie\"\n    packages \"libc6\" \"libc6-dev\"\n}\n",
    )
    .expect("write");
    (0..n).into_par_iter().for_each(|i| {
        let dir = root.join("recipes").join(name(i));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("recipe.kdl"), recipe_text(i)).expect("write");
    });
}

#[derive(Clone, Copy)]
struct Times {
    load: Duration,
    render: Duration,
    plan: Duration,
}

impl Times {
    fn total(&self) -> Duration {
        self.load + self.render + self.plan
    }
}

fn run_once(root: &Path, n: usize, cache: Option<&Path>) -> Times {
    let t0 = Instant::now();
    let paths = ProjectPaths::from_recipes_dir(&root.join("recipes"));
    let project = Project::load_with_cache(paths, cache).expect("project loads");
    let load = t0.elapsed();
    assert_eq!(
        project.recipes.len(),
        n,
        "broken: {:?}",
        project.broken.keys().take(3).collect::<Vec<_>>()
    );
    let target = project.target("armv7hf").expect("target");

    let t1 = Instant::now();
    let rendered: Vec<_> = project
        .recipes
        .par_iter()
        .map(|(_, raw)| render(raw, target).expect("renders"))
        .collect();
    let render_time = t1.elapsed();
    assert_eq!(rendered.len(), n);

    let t2 = Instant::now();
    let names: Vec<String> = project.recipes.keys().cloned().collect();
    let p = plan(&project, &names, &["armv7hf".to_string()]).unwrap_or_else(|_| panic!("plan failed"));
    let plan_time = t2.elapsed();
    assert_eq!(p.len(), n);
    Times {
        load,
        render: render_time,
        plan: plan_time,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect::<Vec<_>>();
    let sizes = if sizes.is_empty() { vec![10_000, 100_000] } else { sizes };
    println!(
        "recipe load benchmark ({} threads), best of {RUNS} runs on a warm page cache",
        rayon::current_num_threads()
    );
    println!(
        "{:>8}  {:>5}  {:>9}  {:>9}  {:>9}  {:>9}  {:>10}",
        "recipes", "parse", "load ms", "render ms", "plan ms", "total ms", "µs/recipe"
    );
    for n in sizes {
        let dir = tempfile::Builder::new()
            .prefix("recipe-bench-")
            .tempdir()
            .expect("tempdir");
        generate(dir.path(), n);
        let cache = dir.path().join("cache");
        let cold_runs = if n >= 50_000 { 1 } else { RUNS };
        for (label, runs, cache) in [("cold", cold_runs, None), ("warm", RUNS, Some(cache.as_path()))] {
            if cache.is_some() {
                run_once(dir.path(), n, cache); // fills the parse cache
            }
            let best = (0..runs)
                .map(|_| run_once(dir.path(), n, cache))
                .min_by_key(Times::total)
                .expect("runs");
            println!(
                "{n:>8}  {label:>5}  {:>9.1}  {:>9.1}  {:>9.1}  {:>9.1}  {:>10.1}",
                ms(best.load),
                ms(best.render),
                ms(best.plan),
                ms(best.total()),
                best.total().as_secs_f64() * 1e6 / n as f64
            );
        }
    }
}
