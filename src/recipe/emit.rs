//! A rendered recipe written back as KDL, with every value concrete (what
//! `recipe show` prints).

use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};

use super::rendered::{Mirror, OptionValue, Origin, Recipe, Source, Test};

fn node(name: &str, args: &[&str]) -> KdlNode {
    let mut n = KdlNode::new(name);
    for a in args {
        n.push(KdlEntry::new(*a));
    }
    n
}

fn child(parent: &mut KdlNode, n: KdlNode) {
    parent.ensure_children().nodes_mut().push(n);
}

/// The rendered recipe written back as KDL, so authors see concrete values.
pub fn to_kdl(r: &Recipe) -> String {
    let mut doc = KdlDocument::new();
    let mut pkg = node("package", &[&r.name]);
    child(&mut pkg, node("version", &[&r.version]));
    for (k, v) in [
        ("license", &r.license),
        ("homepage", &r.homepage),
        ("summary", &r.summary),
    ] {
        if let Some(v) = v {
            child(&mut pkg, node(k, &[v]));
        }
    }
    if !r.license_files.is_empty() {
        let files: Vec<&str> = r.license_files.iter().map(String::as_str).collect();
        child(&mut pkg, node("license-files", &files));
    }
    child(&mut pkg, node("target", &[&r.target]));
    doc.nodes_mut().push(pkg);
    for s in &r.sources {
        doc.nodes_mut().push(source_node(s));
    }
    for p in &r.patches {
        doc.nodes_mut().push(node("patch", &[&p.display().to_string()]));
    }
    for (key, list) in [
        ("depends", &r.depends),
        ("host-depends", &r.host_depends),
        ("sysroot-packages", &r.sysroot_packages),
    ] {
        if !list.is_empty() {
            let args: Vec<&str> = list.iter().map(String::as_str).collect();
            doc.nodes_mut().push(node(key, &args));
        }
    }
    doc.nodes_mut().push(build_node(r));
    if let Some(t) = &r.test {
        doc.nodes_mut().push(test_node(t));
    }
    if !r.resources.is_default() {
        let mut res = KdlNode::new("resources");
        let mut cores = KdlNode::new("cores");
        cores.push(KdlEntry::new(i128::from(r.resources.cores)));
        child(&mut res, cores);
        doc.nodes_mut().push(res);
    }
    doc.autoformat();
    doc.to_string()
}

fn source_node(s: &Source) -> KdlNode {
    let mut n = KdlNode::new("source");
    match &s.origin {
        Origin::Url { url } => n.push(KdlEntry::new(url.as_str())),
        Origin::Pypi { project } => n.push(KdlEntry::new_prop("pypi", project.as_str())),
        Origin::Debian { package } => n.push(KdlEntry::new_prop("debian", package.as_str())),
        Origin::Path { path } => n.push(KdlEntry::new_prop("path", path.display().to_string())),
    }
    child(&mut n, node("file", &[&s.file]));
    child(&mut n, node("sha256", &[&s.sha256]));
    for m in &s.mirrors {
        let mut mn = KdlNode::new("mirror");
        match m {
            Mirror::Url { url } => mn.push(KdlEntry::new(url.as_str())),
            Mirror::Debian { package } => {
                mn.push(KdlEntry::new("debian"));
                mn.push(KdlEntry::new_prop("package", package.as_str()));
            }
            Mirror::Pypi { project } => {
                mn.push(KdlEntry::new("pypi"));
                mn.push(KdlEntry::new_prop("project", project.as_str()));
            }
        }
        child(&mut n, mn);
    }
    let mut strip = KdlNode::new("strip-components");
    strip.push(KdlEntry::new(KdlValue::Integer(s.strip_components.into())));
    child(&mut n, strip);
    if !s.dest.is_empty() {
        child(&mut n, node("dest", &[&s.dest]));
    }
    if !s.extract {
        let mut e = KdlNode::new("extract");
        e.push(KdlEntry::new(false));
        child(&mut n, e);
    }
    n
}

fn build_node(r: &Recipe) -> KdlNode {
    let mut b = node("build", &[r.build.kind.name()]);
    for (k, v) in &r.build.options {
        let mut o = KdlNode::new(k.as_str());
        match v {
            OptionValue::Bool(x) => o.push(KdlEntry::new(*x)),
            OptionValue::Str(s) => o.push(KdlEntry::new(s.as_str())),
            OptionValue::List(l) => l.iter().for_each(|s| o.push(KdlEntry::new(s.as_str()))),
        }
        child(&mut b, o);
    }
    for (k, v) in &r.build.env {
        let mut e = KdlNode::new("env");
        e.push(KdlEntry::new_prop(k.as_str(), v.as_str()));
        child(&mut b, e);
    }
    b
}

fn test_node(t: &Test) -> KdlNode {
    let mut tn = KdlNode::new("test");
    for s in &t.steps {
        let kind = match s.kind {
            crate::recipe::raw::TestStepKind::Run => "run",
            crate::recipe::raw::TestStepKind::Python => "python",
        };
        child(&mut tn, node(kind, &[&s.command]));
    }
    if !t.requires.is_empty() {
        let args: Vec<&str> = t.requires.iter().map(String::as_str).collect();
        child(&mut tn, node("requires", &args));
    }
    tn
}
