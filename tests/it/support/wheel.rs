//! A tiny pure-Python wheel (`tiny_wheel`, whose `VALUE` is given) for
//! image tests.

use std::path::Path;

/// A pure-Python wheel as `recipe build` would leave it in out/<target>/,
/// with a RECORD that lists every file's hash.
pub fn write_wheel(path: &Path, value: &str) {
    use base64::Engine as _;
    use sha2::Digest as _;
    use std::io::Write as _;
    let init = format!("VALUE = '{value}'\n");
    let files: [(&str, &str); 3] = [
        ("tiny_wheel/__init__.py", &init),
        (
            "tiny_wheel-1.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: tiny-wheel\nVersion: 1.0\n",
        ),
        (
            "tiny_wheel-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
    ];
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).expect("create wheel"));
    let opts = zip::write::SimpleFileOptions::default();
    let mut record = String::new();
    for (name, body) in files {
        zip.start_file(name, opts).expect("entry");
        zip.write_all(body.as_bytes()).expect("write");
        let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(body.as_bytes()));
        record.push_str(&format!("{name},sha256={hash},{}\n", body.len()));
    }
    record.push_str("tiny_wheel-1.0.dist-info/RECORD,,\n");
    zip.start_file("tiny_wheel-1.0.dist-info/RECORD", opts).expect("entry");
    zip.write_all(record.as_bytes()).expect("write");
    zip.finish().expect("finish wheel");
}
