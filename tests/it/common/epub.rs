//! epubcheck (Debian's, installed by scripts/install-deps) on an EPUB the tests got.

/// Asserts epubcheck finds no error and no warning in `epub`.
pub fn epubcheck(epub: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("book.epub");
    std::fs::write(&file, epub).unwrap();
    let check = std::process::Command::new("java")
        .args(["-jar", "/usr/share/java/epubcheck.jar"])
        .arg(&file)
        .output()
        .expect("java and epubcheck (scripts/install-deps installs them)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(check.status.success(), "epubcheck: {said}");
    assert!(said.contains("No errors or warnings detected"), "{said}");
}
