//! Render a raw recipe for one target: every string goes through minijinja in
//! strict mode, so an undefined variable is an error pointing at its template.

use std::collections::BTreeMap;

use miette::SourceSpan;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::model::target::Target;
use crate::recipe::error::{RecipeError, RecipeErrors};
use crate::recipe::raw::*;
use crate::recipe::rendered::*;

/// Variables a recipe template can use.
pub const VARIABLES: &str = "name, version, target.name, target.triple, target.arch, target.debian_arch, \
target.cflags, target.go.arch, target.go.arm, target.python.platform, target.python.machine, \
target.python.lib_dir, target.qemu, target.emulated";

#[derive(Serialize)]
struct TargetContext<'a> {
    #[serde(flatten)]
    target: &'a Target,
    emulated: bool,
}

#[derive(Serialize)]
struct Context<'a> {
    name: &'a str,
    version: &'a str,
    target: TargetContext<'a>,
}

/// Template steps (minijinja fuel) one recipe may spend rendering for one
/// target. Recipe templates substitute values and loop over short lists; the
/// budget turns a runaway loop into a diagnostic instead of a hang.
pub const FUEL: u64 = 100_000;
/// Largest text one template may render to.
pub const MAX_RENDERED_BYTES: usize = 1 << 20;

struct Renderer<'a> {
    env: Environment<'static>,
    ctx: minijinja::Value,
    raw: &'a RawRecipe,
    errors: Vec<RecipeError>,
    /// What is left of `FUEL`; `None` once it ran out (reported once).
    fuel: Option<u64>,
}

/// Collects rendered output, refusing to grow past `MAX_RENDERED_BYTES`.
#[derive(Default)]
struct CappedOutput {
    buf: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for CappedOutput {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + bytes.len() > MAX_RENDERED_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::other("rendered text too large"));
        }
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Renderer<'_> {
    fn text(&mut self, t: &Text) -> String {
        let s = &t.value;
        if !s.contains("{{") && !s.contains("{%") && !s.contains("{#") {
            return s.clone();
        }
        // Once the budget is spent (and reported), other templates stay empty.
        let Some(fuel) = self.fuel else {
            return String::new();
        };
        self.env.set_fuel(Some(fuel));
        let mut out = CappedOutput::default();
        let rendered = self.env.template_from_str(s).and_then(|tmpl| {
            tmpl.render_captured_to(&self.ctx, &mut out)
                .map(|c| c.state().fuel_levels())
        });
        match rendered {
            Ok(levels) => {
                let spent = levels.map_or(0, |(consumed, _)| consumed);
                self.fuel = Some(fuel.saturating_sub(spent));
                String::from_utf8_lossy(&out.buf).into_owned()
            }
            Err(_) if out.overflowed => {
                self.errors.push(limit_error(
                    self.raw,
                    t,
                    format!("template renders to more than {} MiB", MAX_RENDERED_BYTES >> 20),
                    "renders too much text",
                ));
                String::new()
            }
            Err(err) if err.kind() == minijinja::ErrorKind::OutOfFuel => {
                self.fuel = None;
                self.errors.push(limit_error(
                    self.raw,
                    t,
                    format!("templates of this recipe ran out of their budget of {FUEL} steps"),
                    "budget spent in this template",
                ));
                String::new()
            }
            Err(err) => {
                self.errors.push(template_error(self.raw, t, &err));
                String::new()
            }
        }
    }

    /// A rendered path must stay inside the package's tree.
    fn tree_path(&mut self, what: &str, t: &Text, rendered: &str) {
        if let Some(reason) = crate::recipe::tree_path::escape_reason(rendered) {
            self.errors.push(RecipeError::InvalidValue {
                src: self.raw.file.named(),
                span: t.span,
                what: what.to_string(),
                reason: format!("renders to `{rendered}`, which {reason}"),
                help: crate::recipe::tree_path::HELP.to_string(),
            });
        }
    }

    fn opt(&mut self, t: &Option<Text>) -> Option<String> {
        t.as_ref().map(|t| self.text(t))
    }

    fn texts(&mut self, ts: &[Text]) -> Vec<String> {
        ts.iter().map(|t| self.text(t)).collect()
    }
}

/// Narrows the span to the failing expression when the string is written
/// plainly (no escapes), so the caret sits under `{{ nope }}`.
fn template_error(raw: &RawRecipe, t: &Text, err: &minijinja::Error) -> RecipeError {
    let written = raw
        .file
        .text
        .get(t.span.offset()..t.span.offset() + t.span.len())
        .unwrap_or("");
    let plain = written.len() == t.value.len() + 2 && written.starts_with('"');
    let span: SourceSpan = match (err.range(), plain) {
        (Some(r), true) => (t.span.offset() + 1 + r.start, r.end.saturating_sub(r.start).max(1)).into(),
        _ => t.span,
    };
    let expr = err
        .range()
        .and_then(|r| t.value.get(r))
        .unwrap_or("")
        .trim()
        .to_string();
    let (message, label, help) = match err.kind() {
        minijinja::ErrorKind::UndefinedError => (
            if expr.is_empty() {
                "undefined variable".to_string()
            } else {
                format!("undefined variable `{expr}`")
            },
            "undefined".to_string(),
            format!("variables available in recipes: {VARIABLES}"),
        ),
        _ => (
            err.detail().map_or_else(|| err.kind().to_string(), |d| d.to_string()),
            "invalid template".to_string(),
            "templates use minijinja syntax: `{{ version }}`, `{% if target.emulated %}…{% endif %}`".to_string(),
        ),
    };
    RecipeError::Template {
        src: raw.file.named(),
        span,
        message,
        label,
        help,
    }
}

fn limit_error(raw: &RawRecipe, t: &Text, message: String, label: &str) -> RecipeError {
    RecipeError::Template {
        src: raw.file.named(),
        span: t.span,
        message,
        label: label.to_string(),
        help: "recipe templates substitute values and loop over short lists; shorten the loop or write the text out"
            .into(),
    }
}

fn default_file(origin: &Origin) -> Option<String> {
    match origin {
        Origin::Url { url } => {
            let path = url.split(['?', '#']).next().unwrap_or(url);
            path.rsplit('/').next().filter(|s| !s.is_empty()).map(str::to_string)
        }
        Origin::Path { path } => path.file_name().map(|f| f.to_string_lossy().into_owned()),
        Origin::Pypi { .. } | Origin::Debian { .. } => None,
    }
}

fn render_source(r: &mut Renderer, s: &RawSource, target: &str) -> Source {
    let errors_before = r.errors.len();
    let variant = match crate::recipe::per_target::variant_for(r.raw, s, target) {
        Ok(v) => v,
        Err(e) => {
            r.errors.push(*e);
            None
        }
    };
    let (file, sha256) = match variant {
        Some(v) => (
            v.file.as_ref().or(s.file.as_ref()),
            v.sha256.as_ref().or(s.sha256.as_ref()),
        ),
        None => (s.file.as_ref(), s.sha256.as_ref()),
    };
    let origin = match &s.origin {
        RawOrigin::Url(u) => Origin::Url { url: r.text(u) },
        RawOrigin::Pypi(p) => Origin::Pypi { project: r.text(p) },
        RawOrigin::Debian(p) => Origin::Debian { package: r.text(p) },
        RawOrigin::Path(p) => Origin::Path {
            path: r.raw.dir.join(r.text(p)),
        },
    };
    let file = match r.opt(&file.cloned()).or_else(|| default_file(&origin)) {
        Some(f) => f,
        // A template error in the origin already explains the empty name.
        None if r.errors.len() > errors_before => String::new(),
        None => {
            r.errors.push(RecipeError::MissingField {
                src: r.raw.file.named(),
                span: s.span,
                field: "`file`".into(),
                context: "`source`".into(),
                help: "pypi and debian sources name the file to fetch: `file \"name-{{ version }}.tar.gz\"`".into(),
            });
            String::new()
        }
    };
    let mirrors = s
        .mirrors
        .iter()
        .map(|m| match m {
            RawMirror::Url(u) => Mirror::Url { url: r.text(u) },
            RawMirror::Debian(p) => Mirror::Debian { package: r.text(p) },
            RawMirror::Pypi(p) => Mirror::Pypi { project: r.text(p) },
        })
        .collect();
    // Path sources, wheels and .debs (whose entries sit at the top, with no
    // project directory around them) keep every component.
    let lower = file.to_ascii_lowercase();
    let keep_all = matches!(origin, Origin::Path { .. }) || lower.ends_with(".whl") || lower.ends_with(".deb");
    Source {
        file,
        sha256: r.opt(&sha256.cloned()).unwrap_or_default(),
        mirrors,
        strip_components: s
            .strip_components
            .as_ref()
            .map_or(if keep_all { 0 } else { 1 }, |v| v.value as u32),
        dest: s.dest.as_ref().map_or_else(String::new, |d| {
            let dest = r.text(d);
            r.tree_path("dest", d, &dest);
            dest
        }),
        extract: s.extract.as_ref().is_none_or(|e| e.value),
        origin,
    }
}

fn render_build(r: &mut Renderer, b: &RawBuild) -> Build {
    let mut options = BTreeMap::new();
    for o in &b.options {
        let v = match &o.value {
            RawOptionValue::Bool(b) => OptionValue::Bool(b.value),
            RawOptionValue::Str(s) => {
                let text = r.text(s);
                if o.name.value == "subdir" {
                    r.tree_path("subdir", s, &text);
                }
                OptionValue::Str(text)
            }
            RawOptionValue::List(l) => OptionValue::List(r.texts(l)),
        };
        options.insert(o.name.value.clone(), v);
    }
    let env = b.env.iter().map(|(k, v)| (k.value.clone(), r.text(v))).collect();
    let (common, typed) = match crate::recipe::options::typed(b.kind.value, &options) {
        Ok(t) => t,
        Err(bad) => {
            let span = b
                .options
                .iter()
                .find(|o| o.name.value == bad.option)
                .map_or(b.span, |o| o.name.span);
            r.errors.push(RecipeError::InvalidValue {
                src: r.raw.file.named(),
                span,
                what: bad.option.to_string(),
                reason: format!("`{}` is not one of {}", bad.value, bad.expected.join(", ")),
                help: format!("write `{} \"{}\"`", bad.option, bad.expected[0]),
            });
            // The default mode, so rendering goes on and reports every problem.
            crate::recipe::options::with_mode(b.kind.value, &options, crate::recipe::options::GoMode::Exe)
        }
    };
    Build {
        kind: b.kind.value,
        options,
        env,
        common,
        typed,
    }
}

/// Renders `raw` for `target`.
pub fn render(raw: &RawRecipe, target: &Target) -> Result<Recipe, RecipeErrors> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let ctx = minijinja::Value::from(minijinja::value::Serde(Context {
        name: &raw.name.value,
        version: &raw.version.value,
        target: TargetContext {
            target,
            emulated: target.emulated(),
        },
    }));
    let mut r = Renderer {
        env,
        ctx,
        raw,
        errors: Vec::new(),
        fuel: Some(FUEL),
    };
    let sources = raw
        .sources
        .iter()
        .map(|s| render_source(&mut r, s, &target.name))
        .collect();
    let mut sysroot_packages = Vec::new();
    for p in &raw.sysroot_packages {
        let name = r.text(p);
        match crate::recipe::per_target::check_sysroot_package(raw, p, &name) {
            Some(e) => r.errors.push(e),
            None => sysroot_packages.push(name),
        }
    }
    // A set: order and repeats do not change the sysroot (nor the key).
    sysroot_packages.sort();
    sysroot_packages.dedup();
    let patches = raw.patches.iter().map(|p| raw.dir.join(r.text(p))).collect();
    let build = render_build(&mut r, &raw.build);
    let test = raw.test.as_ref().map(|t| Test {
        steps: t
            .steps
            .iter()
            .map(|s| TestStep {
                kind: s.kind,
                command: r.text(&s.command),
            })
            .collect(),
        requires: r.texts(&t.requires),
    });
    let recipe = Recipe {
        name: raw.name.value.clone(),
        version: raw.version.value.clone(),
        license: r.opt(&raw.license),
        license_files: r.texts(&raw.license_files),
        homepage: r.opt(&raw.homepage),
        summary: r.opt(&raw.summary),
        source_date_epoch: raw
            .source_date_epoch
            .as_ref()
            .and_then(|t| crate::recipe::parse::parse_epoch(&t.value)),
        target: target.name.clone(),
        dir: raw.dir.clone(),
        sources,
        patches,
        depends: raw.depends.iter().map(|d| d.value.clone()).collect(),
        host_depends: raw.host_depends.iter().map(|d| d.value.clone()).collect(),
        sysroot_packages,
        build,
        test,
        resources: crate::recipe::rendered::Resources {
            cores: raw
                .resources
                .as_ref()
                .and_then(|r| r.cores.as_ref())
                .and_then(|c| u32::try_from(c.value).ok())
                .unwrap_or(1),
        },
    };
    if r.errors.is_empty() {
        Ok(recipe)
    } else {
        Err(RecipeErrors { errors: r.errors })
    }
}

/// Renders every node of a plan: packages for their target, host tools for
/// the build machine (`host`, described by the caller: rendering does not
/// probe compilers). Reports the errors of every recipe together.
pub fn render_plan(
    project: &crate::model::project::Project,
    plan: &crate::plan::graph::Plan,
    host: &Target,
) -> Result<std::collections::BTreeMap<crate::plan::graph::NodeId, Recipe>, crate::plan::graph::PlanError> {
    let mut out = std::collections::BTreeMap::new();
    let mut errors = Vec::new();
    for ix in &plan.order {
        let id = plan.node(*ix);
        let target = if id.target == crate::plan::graph::HOST {
            host
        } else {
            project.target(&id.target)?
        };
        match render(&project.recipes[&id.name], target) {
            Ok(r) => {
                out.insert(id.clone(), r);
            }
            Err(e) => errors.extend(e.errors),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(RecipeErrors { errors }.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::target::*;
    use crate::recipe::SourceFile;
    use crate::recipe::parse::parse_recipe;
    use std::path::Path;

    pub fn armv7() -> Target {
        Target {
            name: "armv7hf".into(),
            triple: "arm-linux-gnueabihf".into(),
            arch: "arm".into(),
            debian_arch: "armhf".into(),
            cflags: vec![],
            ldflags: vec![],
            go: GoTarget {
                arch: "arm".into(),
                arm: Some("7".into()),
            },
            python: PythonTarget {
                platform: "linux_armv7l".into(),
                machine: "armv7l".into(),
                lib_dir: "linux-armv7".into(),
                versions: Vec::new(),
            },
            qemu: Some("qemu-arm".into()),
            toolchain: ToolchainSource::Host,
            sysroot: "debian-trixie".into(),
            elf: ElfExpect {
                machine: "arm".into(),
                class: 32,
            },
            test: crate::model::target::TestRuntime::default(),
            image: None,
        }
    }

    fn raw(text: &str) -> RawRecipe {
        parse_recipe(SourceFile::new("r.kdl", text), Path::new("/r")).expect("valid")
    }

    #[test]
    fn renders_variables() {
        let r = raw(
            "package foo { version \"1.2\" }\nsource \"https://h/foo-{{ version }}-{{ target.triple }}.tar.gz\"\nbuild script { step \"echo {{ target.python.lib_dir }}\" }\n",
        );
        let out = render(&r, &armv7()).expect("renders");
        assert_eq!(out.sources[0].file, "foo-1.2-arm-linux-gnueabihf.tar.gz");
        let crate::recipe::options::KindOptions::Script(script) = &out.build.typed else {
            panic!("a script build")
        };
        assert_eq!(script.steps, ["echo linux-armv7"]);
        assert_eq!(out.sources[0].strip_components, 1);
    }

    /// `resources { cores N }` reaches the rendered recipe and `recipe show`
    /// (only when not the default), never the serialized key inputs' meaning.
    #[test]
    fn resources_render_and_show() {
        let plain = render(&raw("package foo { version \"1\" }\nbuild make\n"), &armv7()).expect("renders");
        assert_eq!(plain.resources.cores, 1);
        assert!(!crate::recipe::emit::to_kdl(&plain).contains("resources"));
        let two = render(
            &raw("package foo { version \"1\" }\nbuild make\nresources { cores 2; }\n"),
            &armv7(),
        )
        .expect("renders");
        assert_eq!(two.resources.cores, 2);
        let shown = crate::recipe::emit::to_kdl(&two);
        assert!(shown.contains("resources {\n    cores 2\n}"), "{shown}");
    }

    #[test]
    fn undefined_variable_points_into_the_template() {
        let text = "package foo { version \"1\" }\nbuild script { step \"echo {{ target.triplet }}\" }\n";
        let err = render(&raw(text), &armv7()).expect_err("undefined");
        let RecipeError::Template { span, message, .. } = &err.errors[0] else {
            panic!("{err:?}");
        };
        assert!(message.contains("target.triplet"), "{message}");
        assert_eq!(&text[span.offset()..span.offset() + span.len()], "target.triplet");
    }

    #[test]
    fn template_error_in_the_url_is_reported_once() {
        // The URL renders to nothing; that must not add a "missing `file`" error.
        let text = "package foo { version \"1\" }\nsource \"https://h/{{ nope }}.tar.gz\"\nbuild make\n";
        let err = render(&raw(text), &armv7()).expect_err("undefined");
        let kinds: Vec<_> = err.errors.iter().map(RecipeError::kind).collect();
        assert_eq!(kinds, ["template"]);
    }
}
