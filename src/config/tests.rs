use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_run_the_embedded_setup() {
    let s = Settings::load(None, &env(&[])).unwrap();
    assert!(s.database.url.starts_with("sqlite://"));
    assert_eq!(s.storage.path, PathBuf::from("./quire-data/objects"));
    assert_eq!(s.bind_addr().to_string(), "127.0.0.1:8080");
    assert!(!s.synthetic.enabled);
}

#[test]
fn environment_beats_file_beats_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quire.toml");
    std::fs::write(&file, "[runtime]\nlease_ttl_ms = 20000\nmax_attempts = 7\n").unwrap();
    let s = Settings::load(
        Some(&file),
        &env(&[
            ("QUIRE_RUNTIME_MAX_ATTEMPTS", "9"),
            ("QUIRE_DATABASE_URL", "postgres://x@h/db"),
        ]),
    )
    .unwrap();
    assert_eq!(s.runtime.lease_ttl_ms, 20000);
    assert_eq!(s.runtime.max_attempts, 9);
    assert_eq!(s.database.url, "postgres://x@h/db");
    // Nested tables take variables too, kinds with an underscore included.
    let s = Settings::load(
        None,
        &env(&[
            ("QUIRE_LIMITS_EXPORT_EPUB_JOB_MS", "0"),
            ("QUIRE_LIMITS_SYNTHETIC_ITEM_HARD_MS", "5000"),
            ("QUIRE_LIMITS_SYNTHETIC_ITEM_SOFT_MS", "0"),
        ]),
    )
    .unwrap();
    let limits = s.runtime_config().limits;
    assert_eq!(limits[&JobKind::ExportEpub].job, None);
    let synthetic = limits[&JobKind::Synthetic];
    assert_eq!(synthetic.item_hard, Some(Duration::from_secs(5)));
    assert_eq!(synthetic.item_soft, None);
    assert_eq!(
        limits[&JobKind::Ocr].item_soft,
        Some(Duration::from_secs(300))
    );
}

#[test]
fn errors_name_the_setting() {
    let e = Settings::load(None, &env(&[("QUIRE_RUNTIME_LEASE_TTL_MS", "soon")])).unwrap_err();
    assert!(e.to_string().contains("QUIRE_RUNTIME_LEASE_TTL_MS"), "{e}");
    let e = Settings::load(None, &env(&[("QUIRE_RUNTIME_LEASE_TTL", "5")])).unwrap_err();
    assert!(matches!(e, ConfigError::UnknownVariable { .. }), "{e}");
    let e = Settings::load(None, &env(&[("QUIRE_RUNTIME_LEASE_TTL_MS", "1000")])).unwrap_err();
    assert!(e.to_string().contains("runtime.lease_ttl_ms"), "{e}");
    // Settings that contradict each other name each other: a lease shorter than a
    // heartbeat plus the store timeout could expire under a live node.
    let e = Settings::load(None, &env(&[("QUIRE_RUNTIME_LEASE_TTL_MS", "12000")])).unwrap_err();
    let e = e.to_string();
    assert!(
        e.contains("runtime.lease_ttl_ms")
            && e.contains("runtime.heartbeat_interval_ms")
            && e.contains("runtime.store_timeout_ms"),
        "{e}"
    );
    let e = Settings::load(
        None,
        &env(&[("QUIRE_LIMITS_EXPORT_EPUB_ITEM_SOFT_MS", "2000000")]),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("limits.export_epub.item_soft_ms"),
        "{e}"
    );
    let e = Settings::load(
        None,
        &env(&[
            ("QUIRE_LIMITS_OCR_ITEM_HARD_MS", "1000"),
            ("QUIRE_LIMITS_OCR_ITEM_SOFT_MS", "0"),
        ]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("ocr.timeout_ms"), "{e}");
    let e = Settings::load(None, &env(&[("QUIRE_LIMITS_OCR_TIMEOUT_MS", "1")])).unwrap_err();
    assert!(matches!(e, ConfigError::UnknownVariable { .. }), "{e}");
    let e = Settings::load(None, &env(&[("QUIRE_DATABASE_URL", "mysql://x")])).unwrap_err();
    assert!(e.to_string().contains("database.url"), "{e}");
    let e = Settings::load(None, &env(&[("QUIRE_RUNTIME_RECOVERY", "maybe")])).unwrap_err();
    assert!(e.to_string().contains("recovery"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quire.toml");
    std::fs::write(&file, "[runtime]\nlease_tll_ms = 9000\n").unwrap();
    let e = Settings::load(Some(&file), &env(&[])).unwrap_err();
    assert!(e.to_string().contains("lease_tll_ms"), "{e}");
}

#[test]
fn the_decode_budget_is_512_mib_and_checked() {
    let s = Settings::load(None, &env(&[])).unwrap();
    assert_eq!(s.ocr.decode_budget_bytes, 512 << 20);
    let s = Settings::load(
        None,
        &env(&[("QUIRE_OCR_DECODE_BUDGET_BYTES", "134217728")]),
    );
    assert_eq!(s.unwrap().ocr.decode_budget_bytes, 128 << 20);
    for bad in ["0", "1048576", "1099511627776000"] {
        let e = Settings::load(None, &env(&[("QUIRE_OCR_DECODE_BUDGET_BYTES", bad)]));
        let e = e.unwrap_err().to_string();
        assert!(e.contains("ocr.decode_budget_bytes"), "{bad}: {e}");
    }
}
