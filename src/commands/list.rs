use crate::error::Error;
use crate::settings::Settings;

pub fn run(settings: &Settings) -> Result<(), Error> {
    let project = super::load(settings)?;
    let rows: Vec<[String; 4]> = project
        .recipes
        .values()
        .map(|r| {
            [
                r.name.value.clone(),
                r.version.value.clone(),
                r.build.kind.value.to_string(),
                r.license.as_ref().map_or_else(|| "-".to_string(), |l| l.value.clone()),
            ]
        })
        .collect();
    let header = ["NAME", "VERSION", "BUILD", "LICENSE"].map(str::to_string);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(rows.iter()) {
        println!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    for name in project.broken.keys() {
        eprintln!("warning: recipes/{name}/recipe.kdl has errors (run `recipe lint {name}`)");
    }
    Ok(())
}
