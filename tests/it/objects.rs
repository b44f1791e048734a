//! The object store conformance suite, run against the folder adapter and against S3 on a
//! real local S3-compatible server (moto_server, started by scripts/ensure-s3).

use std::sync::Arc;

use bytes::Bytes;
use quire::objects::{FolderStore, ObjectError, ObjectKey, ObjectStore, S3Settings, S3Store};
use quire_actors::BookId;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Folder,
    S3,
}

fn s3_endpoint() -> String {
    std::env::var("QUIRE_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5055".to_owned())
}

fn s3_settings(endpoint: String, bucket: &str) -> S3Settings {
    S3Settings {
        bucket: bucket.to_owned(),
        endpoint,
        region: "us-east-1".into(),
        prefix: "quire/".into(),
        force_path_style: true,
        checksum_when_required: true,
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
        timeout: std::time::Duration::from_secs(10),
    }
}

/// A store of that kind, empty, for one test (a temp folder or a new bucket).
async fn store(kind: Kind) -> (Arc<dyn ObjectStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    match kind {
        Kind::Folder => (Arc::new(FolderStore::new(dir.path())), dir),
        Kind::S3 => {
            let bucket = format!("quire-test-{}", uuid::Uuid::new_v4().simple());
            let s3 = S3Store::new(&s3_settings(s3_endpoint(), &bucket));
            s3.client()
                .create_bucket()
                .bucket(&bucket)
                .send()
                .await
                .expect("a local S3 server must run (see scripts/ensure-s3)");
            (Arc::new(s3), dir)
        }
    }
}

fn key(s: &str) -> ObjectKey {
    ObjectKey::parse(s).unwrap()
}

async fn objects_round_trip_and_replace_whole(kind: Kind) {
    let (store, _dir) = store(kind).await;
    store.check().await.unwrap();
    let k = key("books/b1/pages/1/source.png");
    assert!(!store.exists(&k).await.unwrap());
    store
        .put(&k, Bytes::from_static(b"first version"))
        .await
        .unwrap();
    assert!(store.exists(&k).await.unwrap());
    assert_eq!(
        store.get(&k).await.unwrap(),
        Bytes::from_static(b"first version")
    );
    store.put(&k, Bytes::from_static(b"2nd")).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap(), Bytes::from_static(b"2nd"));
    store.delete(&k).await.unwrap();
    assert!(!store.exists(&k).await.unwrap());
    store.delete(&k).await.unwrap(); // deleting an absent object is fine
}

/// A file goes in and comes out streamed, byte for byte; a missing object writes no file.
async fn files_stream_in_and_out_whole(kind: Kind) {
    let (store, _dir) = store(kind).await;
    let work = tempfile::tempdir().unwrap();
    // 9 MiB and a bit, not a multiple of any chunk size.
    let bytes: Vec<u8> = (0..9 * 1024 * 1024 + 7).map(|i| (i % 251) as u8).collect();
    let from = work.path().join("book.pdf");
    std::fs::write(&from, &bytes).unwrap();
    let k = key("books/b1/imports/j1/source.pdf");
    store.put_file(&k, &from).await.unwrap();
    let to = work.path().join("copy.pdf");
    assert_eq!(
        store.get_to_file(&k, &to).await.unwrap(),
        bytes.len() as u64
    );
    assert!(std::fs::read(&to).unwrap() == bytes, "the copy differs");
    let missing = work.path().join("missing.pdf");
    assert!(matches!(
        store
            .get_to_file(&key("books/b1/imports/none.pdf"), &missing)
            .await,
        Err(ObjectError::NotFound(_))
    ));
    assert!(!missing.exists());
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        2,
        "no scratch file left"
    );
}

async fn a_missing_object_is_not_found(kind: Kind) {
    let (store, _dir) = store(kind).await;
    let k = key("books/none/pages/9/page.png");
    assert!(matches!(store.get(&k).await, Err(ObjectError::NotFound(_))));
    assert!(!store.exists(&k).await.unwrap());
}

async fn deleting_a_book_prefix_leaves_other_books(kind: Kind) {
    let (store, _dir) = store(kind).await;
    let (a, b) = (BookId::new(), BookId::new());
    for n in 1..=5 {
        store
            .put(
                &ObjectKey::page_source(a, n, None),
                Bytes::from(vec![n as u8; 10]),
            )
            .await
            .unwrap();
        store
            .put(
                &ObjectKey::page_image(a, n, None),
                Bytes::from(vec![0u8; 3]),
            )
            .await
            .unwrap();
    }
    store
        .put(
            &ObjectKey::page_source(b, 1, None),
            Bytes::from_static(b"keep"),
        )
        .await
        .unwrap();
    assert_eq!(store.delete_prefix(&ObjectKey::book(a)).await.unwrap(), 10);
    assert!(
        !store
            .exists(&ObjectKey::page_image(a, 3, None))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get(&ObjectKey::page_source(b, 1, None))
            .await
            .unwrap(),
        Bytes::from_static(b"keep")
    );
    assert_eq!(store.delete_prefix(&ObjectKey::book(a)).await.unwrap(), 0);
}

async fn large_objects_and_concurrent_writers(kind: Kind) {
    let (store, _dir) = store(kind).await;
    let big: Vec<u8> = (0..10 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let big = Bytes::from(big);
    let writers = (0..8).map(|n| {
        let (store, big) = (store.clone(), big.clone());
        async move { store.put(&key(&format!("big/{n}.bin")), big).await }
    });
    for res in futures_util::future::join_all(writers).await {
        res.unwrap();
    }
    for n in 0..8 {
        assert_eq!(store.get(&key(&format!("big/{n}.bin"))).await.unwrap(), big);
    }
}

macro_rules! on_both_stores {
    ($($name:ident),+ $(,)?) => {
        mod folder { $( #[actix_rt::test] async fn $name() { super::$name(super::Kind::Folder).await } )+ }
        mod s3 { $( #[actix_rt::test] async fn $name() { super::$name(super::Kind::S3).await } )+ }
    };
}

on_both_stores!(
    objects_round_trip_and_replace_whole,
    a_missing_object_is_not_found,
    files_stream_in_and_out_whole,
    deleting_a_book_prefix_leaves_other_books,
    large_objects_and_concurrent_writers,
);

/// Failures are classified by kind: an unreachable store is retryable, a missing bucket is
/// not.
#[actix_rt::test]
async fn s3_failures_are_classified_by_kind() {
    let nobody = S3Store::new(&s3_settings("http://127.0.0.1:9".into(), "any"));
    let err = nobody.check().await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    let missing = S3Store::new(&s3_settings(s3_endpoint(), "no-such-bucket-quire"));
    let err = missing.check().await.unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
}
