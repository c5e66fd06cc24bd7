//! The SPDX identifier of a source tree's license, guessed from the
//! distinctive phrases of its license files.
//!
//! GNU license texts are the same for "version N only" and "version N or
//! later" (the choice is in each source file's notice), so they are given as
//! `-or-later`, the form the FSF's own notice recommends; the recipe's
//! comment asks the author to check.

use std::path::Path;

/// What a license file says, and which file said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseGuess {
    /// An SPDX expression (`A AND B` when several files name different licenses).
    pub spdx: String,
    /// The license files it came from, relative to the tree's root.
    pub files: Vec<String>,
}

/// Enough of any license text to recognise it; the rest is not read.
const READ_LIMIT: u64 = 64 * 1024;

/// Whether a top-level file name looks like a license file.
fn is_license_file(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["COPYING", "LICENSE", "LICENCE", "COPYRIGHT"]
        .iter()
        .any(|p| upper.starts_with(p))
}

/// Looks at the license files at the top of `root`.
pub fn guess(root: &Path) -> Option<LicenseGuess> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_license_file(n))
        .collect();
    names.sort();
    let mut ids: Vec<&'static str> = Vec::new();
    let mut files = Vec::new();
    for name in names {
        let Some(text) = read_start(&root.join(&name)) else {
            continue;
        };
        if let Some(id) = identify(&text) {
            files.push(name);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    (!ids.is_empty()).then(|| LicenseGuess {
        spdx: ids.join(" AND "),
        files,
    })
}

fn read_start(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(READ_LIMIT)
        .read_to_end(&mut buf)
        .ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// Lower case, every run of whitespace (line breaks included) one space, so
/// phrases match however the file is wrapped.
fn normalize(text: &str) -> String {
    text.split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The license a text is, by phrases only that license's text contains.
pub fn identify(text: &str) -> Option<&'static str> {
    let t = normalize(text);
    let has = |p: &str| t.contains(p);
    // Lesser before plain GPL: the LGPL text names the GPL too.
    if has("gnu lesser general public license") {
        if has("version 3, 29 june 2007") {
            return Some("LGPL-3.0-or-later");
        }
        if has("version 2.1, february 1999") || has("version 2.1") {
            return Some("LGPL-2.1-or-later");
        }
    }
    if has("gnu general public license") {
        if has("version 3, 29 june 2007") {
            return Some("GPL-3.0-or-later");
        }
        if has("version 2, june 1991") {
            return Some("GPL-2.0-or-later");
        }
    }
    if has("apache license") && has("version 2.0") {
        return Some("Apache-2.0");
    }
    if has("permission is hereby granted, free of charge, to any person obtaining a copy")
        && has("the above copyright notice and this permission notice shall be included")
    {
        return Some("MIT");
    }
    if has("permission to use, copy, modify, and/or distribute this software for any purpose")
        || has("permission to use, copy, modify, and distribute this software for any purpose with or without fee")
    {
        return Some("ISC");
    }
    if has("redistribution and use in source and binary forms") {
        return Some(
            if has("neither the name of") || has("may be used to endorse or promote products") {
                "BSD-3-Clause"
            } else {
                "BSD-2-Clause"
            },
        );
    }
    if has("altered source versions must be plainly marked as such")
        && has("this notice may not be removed or altered from any source distribution")
    {
        return Some("Zlib");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licenses_by_their_phrases() {
        let gpl3 = "GNU GENERAL PUBLIC LICENSE\n   Version 3, 29 June 2007\n";
        assert_eq!(identify(gpl3), Some("GPL-3.0-or-later"));
        let gpl2 = "GNU GENERAL PUBLIC LICENSE\nVersion 2, June 1991";
        assert_eq!(identify(gpl2), Some("GPL-2.0-or-later"));
        let lgpl3 = "GNU LESSER GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n... the GNU General Public License";
        assert_eq!(identify(lgpl3), Some("LGPL-3.0-or-later"));
        let lgpl21 = "GNU LESSER GENERAL PUBLIC LICENSE\nVersion 2.1, February 1999";
        assert_eq!(identify(lgpl21), Some("LGPL-2.1-or-later"));
        let mit = "Permission is hereby granted, free of charge, to any person obtaining a copy\nof this software ... The above copyright notice and this permission notice shall be\nincluded in all copies";
        assert_eq!(identify(mit), Some("MIT"));
        let isc = "Permission to use, copy, modify, and/or distribute this software for any\npurpose with or without fee is hereby granted";
        assert_eq!(identify(isc), Some("ISC"));
        let bsd2 = "Redistribution and use in source and binary forms, with or without\nmodification, are permitted";
        assert_eq!(identify(bsd2), Some("BSD-2-Clause"));
        let bsd3 = format!("{bsd2}\n3. Neither the name of the copyright holder nor");
        assert_eq!(identify(&bsd3), Some("BSD-3-Clause"));
        let zlib = "3. Altered source versions must be plainly marked as such\n4. This notice may not be removed or altered from any source distribution.";
        assert_eq!(identify(zlib), Some("Zlib"));
        assert_eq!(
            identify("Apache License\n Version 2.0, January 2004"),
            Some("Apache-2.0")
        );
        assert_eq!(identify("All rights reserved."), None);
    }

    #[test]
    fn several_files_are_combined() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("LICENSE-MIT"), "Permission is hereby granted, free of charge, to any person obtaining a copy. The above copyright notice and this permission notice shall be included").unwrap();
        std::fs::write(dir.path().join("LICENSE-APACHE"), "Apache License Version 2.0").unwrap();
        std::fs::write(
            dir.path().join("README"),
            "GNU General Public License version 3, 29 June 2007",
        )
        .unwrap();
        let g = guess(dir.path()).unwrap();
        assert_eq!(g.spdx, "Apache-2.0 AND MIT");
        assert_eq!(g.files, vec!["LICENSE-APACHE", "LICENSE-MIT"]);
    }
}
