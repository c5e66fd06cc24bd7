//! Go from Debian packages: a cgo `-buildmode=c-shared` library cross-built
//! for armv7hf through the toolchain wrappers, called from C under qemu.

use crate::support::toolchain::*;

#[test]
fn cgo_c_shared_library_for_armv7hf_runs_under_qemu() {
    run_ok(&mut recipe(&[
        "toolchain",
        "install",
        "--target",
        "armv7hf",
        "--qemu",
        "--go",
    ]));
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("go.mod"), "module example.com/shim\n\ngo 1.24\n").expect("write");
    std::fs::write(
        d.join("shim.go"),
        "package main\n\nimport \"C\"\n\n//export shim_answer\nfunc shim_answer() C.int { return 42 }\n\nfunc main() {}\n",
    )
    .expect("write");
    std::fs::write(
        d.join("main.c"),
        "#include <stdio.h>\nint shim_answer(void);\nint main(void) { printf(\"answer %d\\n\", shim_answer()); return 0; }\n",
    )
    .expect("write");
    let env_out = run_ok(&mut recipe(&["env", "--target", "armv7hf", "--go"]));
    std::fs::write(d.join("go.env"), &env_out.stdout).expect("write");
    let out = std::process::Command::new("/bin/bash")
        .env_clear()
        .env("GOPATH", "/ambient/gopath")
        .current_dir(d)
        .arg("-euc")
        .arg(
            ". ./go.env\n\
             test \"$(go env GOPATH)\" != /ambient/gopath\n\
             go build -buildmode=c-shared -o libshim.so .\n\
             $CC $CFLAGS main.c -o main -L. -lshim -Wl,-rpath,'$ORIGIN'",
        )
        .output()
        .expect("bash");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(elf_machine(&d.join("libshim.so")), 40);
    let mut run = recipe(&["run", "--target", "armv7hf", "--", "./main"]);
    run.current_dir(d);
    assert_eq!(stdout(&run_ok(&mut run)), "answer 42\n");
}
