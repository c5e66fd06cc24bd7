use std::process::ExitCode;

use clap::Parser;

/// Reports wrap at `$COLUMNS` when it is set (tests pin it for stable output),
/// otherwise at the terminal's width or 80.
fn install_report_hook() {
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|w| *w >= 40);
    let _ = miette::set_hook(Box::new(move |_| {
        let opts = miette::MietteHandlerOpts::new();
        let opts = match width {
            Some(w) => opts.width(w),
            None => opts,
        };
        Box::new(opts.build())
    }));
}

fn main() -> ExitCode {
    install_report_hook();
    let cli = match recipe::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match recipe::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.exit_code();
            eprintln!("{:?}", miette::Report::new(e));
            ExitCode::from(code)
        }
    }
}
