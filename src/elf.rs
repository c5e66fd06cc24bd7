//! ELF facts the packaging and verification steps need: machine, class,
//! float ABI, NEEDED, RPATH/RUNPATH, the highest glibc and libstdc++ symbol
//! versions, and the manylinux baseline they need.

use std::path::Path;

use goblin::elf::Elf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// Machine name as the target files spell it: arm, aarch64, x86_64, …
    pub machine: String,
    pub class: u8,
    /// ARM EABI hard-float flag, when the file says.
    pub hard_float: Option<bool>,
    pub shared: bool,
    pub soname: Option<String>,
    pub needed: Vec<String>,
    pub rpaths: Vec<String>,
    pub runpaths: Vec<String>,
    /// Highest `GLIBC_2.N` version needed, as (2, N).
    pub glibc: Option<(u32, u32)>,
    /// Highest `GLIBCXX_3.4.N` and `CXXABI_1.3.N` versions needed (libstdc++),
    /// as their numbers: they bound the manylinux policy as glibc's do.
    pub glibcxx: Option<Vec<u32>>,
    pub cxxabi: Option<Vec<u32>>,
}

const EF_ARM_ABI_FLOAT_HARD: u32 = 0x400;
const EF_ARM_ABI_FLOAT_SOFT: u32 = 0x200;

/// ELF `e_machine` values and the names targets use for them (`elf machine=`).
pub const MACHINES: &[(u16, &str)] = {
    use goblin::elf::header::*;
    &[
        (EM_ARM, "arm"),
        (EM_AARCH64, "aarch64"),
        (EM_X86_64, "x86_64"),
        (EM_386, "i386"),
        (EM_RISCV, "riscv"),
    ]
};

fn machine_name(m: u16) -> String {
    MACHINES
        .iter()
        .find(|(code, _)| *code == m)
        .map_or_else(|| format!("machine-{m}"), |(_, name)| (*name).to_string())
}

/// `Ok(None)` for files that are not ELF.
pub fn inspect(path: &Path) -> std::io::Result<Option<ElfInfo>> {
    let bytes = std::fs::read(path)?;
    Ok(inspect_bytes(&bytes))
}

pub fn inspect_bytes(bytes: &[u8]) -> Option<ElfInfo> {
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        return None;
    }
    let elf = Elf::parse(bytes).ok()?;
    let machine = machine_name(elf.header.e_machine);
    let hard_float = (elf.header.e_machine == goblin::elf::header::EM_ARM).then(|| {
        let flags = elf.header.e_flags;
        flags & EF_ARM_ABI_FLOAT_HARD != 0 && flags & EF_ARM_ABI_FLOAT_SOFT == 0
    });
    let mut glibc = None;
    let (mut glibcxx, mut cxxabi) = (None, None);
    if let Some(verneed) = &elf.verneed {
        for need in verneed.iter() {
            for aux in need.iter() {
                let Some(name) = elf.dynstrtab.get_at(aux.vna_name) else {
                    continue;
                };
                if let Some(v) = name.strip_prefix("GLIBC_")
                    && let Some(parsed) = parse_version(v)
                {
                    glibc = glibc.max(Some(parsed));
                }
                for (prefix, slot) in [("GLIBCXX_", &mut glibcxx), ("CXXABI_", &mut cxxabi)] {
                    if let Some(v) = name.strip_prefix(prefix) {
                        let parts: Option<Vec<u32>> = v.split('.').map(|p| p.parse().ok()).collect();
                        *slot = (*slot).clone().max(parts);
                    }
                }
            }
        }
    }
    Some(ElfInfo {
        machine,
        class: if elf.is_64 { 64 } else { 32 },
        hard_float,
        shared: elf.header.e_type == goblin::elf::header::ET_DYN,
        soname: elf.soname.map(str::to_string),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        rpaths: elf.rpaths.iter().map(|s| s.to_string()).collect(),
        runpaths: elf.runpaths.iter().map(|s| s.to_string()).collect(),
        glibc,
        glibcxx,
        cxxabi,
    })
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some((major, minor))
}

/// Libraries every Linux system provides; never bundled (the manylinux
/// policies' allowed list).
pub fn is_system_library(soname: &str) -> bool {
    const SYSTEM: &[&str] = &[
        "libc.so.6",
        "libm.so.6",
        "libdl.so.2",
        "librt.so.1",
        "libpthread.so.0",
        "libgcc_s.so.1",
        "libstdc++.so.6",
        "libresolv.so.2",
        "libutil.so.1",
        "libcrypt.so.1",
        "ld-linux-armhf.so.3",
        "ld-linux-aarch64.so.1",
        "ld-linux-x86-64.so.2",
    ];
    SYSTEM.contains(&soname)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_elf_is_none() {
        assert_eq!(inspect_bytes(b"#!/bin/sh\n"), None);
    }

    #[test]
    fn reads_the_test_binary_itself() {
        let exe = std::env::current_exe().expect("current exe");
        let info = inspect(&exe).expect("readable").expect("is ELF");
        assert_eq!(info.class, 64);
        assert!(info.needed.iter().any(|n| n.starts_with("libc.so")), "{info:?}");
        assert!(info.glibc.is_some());
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("2.34"), Some((2, 34)));
        assert_eq!(parse_version("2"), Some((2, 0)));
        assert_eq!(parse_version("x"), None);
    }
}

/// The libstdc++ symbol versions each manylinux policy allows (as
/// auditwheel's policies list them), by the policy's glibc: a binary needing
/// a newer `GLIBCXX_`/`CXXABI_` version than a policy allows gets a later one.
/// (glibc baseline, highest GLIBCXX_ allowed, highest CXXABI_ allowed).
type CxxPolicy = ((u32, u32), [u32; 3], [u32; 3]);

const CXX_POLICIES: &[CxxPolicy] = &[
    ((2, 17), [3, 4, 19], [1, 3, 7]),
    ((2, 24), [3, 4, 22], [1, 3, 10]),
    ((2, 26), [3, 4, 24], [1, 3, 11]),
    ((2, 31), [3, 4, 28], [1, 3, 12]),
    ((2, 34), [3, 4, 29], [1, 3, 13]),
    ((2, 35), [3, 4, 30], [1, 3, 13]),
    ((2, 39), [3, 4, 33], [1, 3, 15]),
];

/// The oldest manylinux glibc baseline whose policy covers every versioned
/// symbol the binary needs (glibc's and libstdc++'s).
pub fn manylinux_glibc(info: &ElfInfo) -> (u32, u32) {
    let glibc = info.glibc.unwrap_or((2, 17)).max((2, 17));
    if info.glibcxx.is_none() && info.cxxabi.is_none() {
        return glibc;
    }
    let fits = |need: &Option<Vec<u32>>, max: &[u32; 3]| need.as_ref().is_none_or(|n| n.as_slice() <= max.as_slice());
    let cxx = CXX_POLICIES
        .iter()
        .find(|(_, glibcxx, cxxabi)| fits(&info.glibcxx, glibcxx) && fits(&info.cxxabi, cxxabi))
        // Newer than every policy known here: no older baseline than the
        // C library the binary was built against can be claimed.
        .map_or((2, 41), |(g, _, _)| *g);
    glibc.max(cxx)
}

#[cfg(test)]
mod policy_tests {
    use super::*;

    fn info(glibc: (u32, u32), glibcxx: Option<Vec<u32>>, cxxabi: Option<Vec<u32>>) -> ElfInfo {
        ElfInfo {
            machine: "arm".into(),
            class: 32,
            hard_float: Some(true),
            shared: true,
            soname: None,
            needed: Vec::new(),
            rpaths: Vec::new(),
            runpaths: Vec::new(),
            glibc: Some(glibc),
            glibcxx,
            cxxabi,
        }
    }

    #[test]
    fn libstdcxx_versions_raise_the_manylinux_baseline_as_auditwheel_does() {
        // A C extension: glibc alone decides.
        assert_eq!(manylinux_glibc(&info((2, 4), None, None)), (2, 17));
        assert_eq!(manylinux_glibc(&info((2, 34), None, None)), (2, 34));
        // Levenshtein's C++ module built by gcc 12: GLIBCXX_3.4.29 → 2_34.
        assert_eq!(
            manylinux_glibc(&info((2, 4), Some(vec![3, 4, 29]), Some(vec![1, 3, 9]))),
            (2, 34)
        );
        assert_eq!(
            manylinux_glibc(&info((2, 4), Some(vec![3, 4, 19]), Some(vec![1, 3, 7]))),
            (2, 17)
        );
        assert_eq!(
            manylinux_glibc(&info((2, 4), Some(vec![3, 4, 21]), Some(vec![1, 3, 12]))),
            (2, 31)
        );
        assert_eq!(manylinux_glibc(&info((2, 36), Some(vec![3, 4, 21]), None)), (2, 36));
    }
}
