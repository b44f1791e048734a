//! Objects in an S3 bucket (AWS or any S3-compatible store), through `aws-sdk-s3`.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};

use super::{ObjectError, ObjectKey, ObjectStore};

/// Deletes one prefix removal runs at once.
const DELETE_CONCURRENCY: usize = 16;

/// How to reach the bucket. Credentials come from the environment only.
#[derive(Clone, Debug)]
pub struct S3Settings {
    pub bucket: String,
    /// Empty for AWS itself; e.g. `http://127.0.0.1:5000` for a local store.
    pub endpoint: String,
    pub region: String,
    /// Prepended to every key, e.g. `quire/`.
    pub prefix: String,
    /// Path-style URLs (`endpoint/bucket/key`), which most S3-compatible stores need.
    pub force_path_style: bool,
    /// Send checksums only when an operation requires them, for stores that reject the
    /// SDK's default aws-chunked CRC uploads.
    pub checksum_when_required: bool,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub timeout: Duration,
}

pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl S3Store {
    pub fn new(s: &S3Settings) -> Self {
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(s.region.clone()))
            .force_path_style(s.force_path_style)
            .credentials_provider(Credentials::new(
                &s.access_key_id,
                &s.secret_access_key,
                None,
                None,
                "quire-settings",
            ))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_timeout(s.timeout)
                    .build(),
            );
        if !s.endpoint.is_empty() {
            config = config.endpoint_url(&s.endpoint);
        }
        if s.checksum_when_required {
            config = config
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        }
        Self {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            bucket: s.bucket.clone(),
            prefix: s.prefix.clone(),
        }
    }

    /// The client, for tests that create their own buckets.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    fn full(&self, key: &ObjectKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }
}

/// Classifies an SDK error by its kind and HTTP status, never by its message.
fn classify<E, R>(e: SdkError<E, R>) -> ObjectError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
    SdkError<E, R>: std::error::Error + Send + Sync + 'static,
{
    let status = match &e {
        SdkError::ServiceError(service) => Some(service_status(service.raw())),
        _ => None,
    };
    match (&e, status) {
        (SdkError::TimeoutError(_) | SdkError::ResponseError(_), _) => {
            ObjectError::Unavailable(Box::new(e))
        }
        // A bad endpoint or TLS setup never gets better by trying again.
        (SdkError::DispatchFailure(d), _) if d.is_io() || d.is_timeout() => {
            ObjectError::Unavailable(Box::new(e))
        }
        (_, Some(Some(s))) if s == 429 || s >= 500 => ObjectError::Unavailable(Box::new(e)),
        _ => ObjectError::Other(Box::new(e)),
    }
}

fn service_status<R: std::fmt::Debug + 'static>(raw: &R) -> Option<u16> {
    // The raw response type is the SDK's HttpResponse; read its status through `Any`.
    let any: &dyn std::any::Any = raw as &dyn std::any::Any;
    any.downcast_ref::<aws_sdk_s3::config::http::HttpResponse>()
        .map(|r| r.status().as_u16())
}

impl S3Store {
    /// The object's body, still to be read; a missing key is [`ObjectError::NotFound`].
    async fn get_object(
        &self,
        key: &ObjectKey,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, ObjectError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await;
        match out {
            Ok(out) => Ok(out),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), GetObjectError::NoSuchKey(_)) => {
                Err(ObjectError::NotFound(key.to_string()))
            }
            Err(e) => Err(classify(e)),
        }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), ObjectError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn put_file(&self, key: &ObjectKey, path: &std::path::Path) -> Result<(), ObjectError> {
        // Read from the file as it is sent (one request: S3 takes up to 5 GB at once).
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| ObjectError::Other(Box::new(e)))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .body(body)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn get_to_file(
        &self,
        key: &ObjectKey,
        path: &std::path::Path,
    ) -> Result<u64, ObjectError> {
        use tokio::io::AsyncWriteExt;
        let mut out = self.get_object(key).await?;
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        let local = |e: std::io::Error| ObjectError::Other(Box::new(e));
        let written = async {
            let mut file = tokio::fs::File::create(&tmp).await.map_err(local)?;
            let mut n = 0u64;
            while let Some(chunk) = out
                .body
                .try_next()
                .await
                .map_err(|e| ObjectError::Unavailable(Box::new(e)))?
            {
                n += chunk.len() as u64;
                file.write_all(&chunk).await.map_err(local)?;
            }
            file.sync_all().await.map_err(local)?;
            tokio::fs::rename(&tmp, path).await.map_err(local)?;
            Ok(n)
        }
        .await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        written
    }

    async fn get(&self, key: &ObjectKey) -> Result<Bytes, ObjectError> {
        let out = self.get_object(key).await?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| ObjectError::Unavailable(Box::new(e)))?;
        Ok(body.into_bytes())
    }

    async fn exists(&self, key: &ObjectKey) -> Result<bool, ObjectError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), HeadObjectError::NotFound(_)) => {
                Ok(false)
            }
            Err(e) => Err(classify(e)),
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &ObjectKey) -> Result<u64, ObjectError> {
        let prefix = format!("{}/", self.full(prefix));
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(classify)?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        let count = keys.len() as u64;
        stream::iter(keys)
            .map(|key| async move {
                self.client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(classify)
            })
            .buffer_unordered(DELETE_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(count)
    }

    async fn check(&self) -> Result<(), ObjectError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
