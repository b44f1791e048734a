//! Tesseract, run as one `tesseract` process per page: the pool can kill a page that runs
//! past its timeout (in-process timeouts do not reliably stop it: tesseract #2910), and a
//! crash takes down one page, not the service. Each process is single-threaded
//! (`OMP_THREAD_LIMIT=1`; Tesseract's own threading is 2–3× slower on small machines), and at
//! most one runs per core.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use quire_actors::ItemError;
use tokio::sync::Semaphore;

use super::{NormalizedPage, OcrEngine, OcrText};

pub struct Tesseract {
    binary: PathBuf,
    language: String,
    timeout: Duration,
    slots: Semaphore,
    /// The models `tesseract --list-langs` reported, read once it first answers.
    installed: tokio::sync::OnceCell<Vec<String>>,
}

impl Tesseract {
    /// `processes` pages at once (one per core is right), each stopped after `timeout`.
    pub fn new(
        binary: impl Into<PathBuf>,
        language: &str,
        timeout: Duration,
        processes: usize,
    ) -> Self {
        Self {
            binary: binary.into(),
            language: language.to_owned(),
            timeout,
            slots: Semaphore::new(processes.max(1)),
            installed: tokio::sync::OnceCell::new(),
        }
    }

    /// A language with no installed model fails every page the same way, so it is fatal
    /// for the job, naming the setting; told from the installed list, not from an error
    /// message.
    async fn check_language(&self) -> Result<(), ItemError> {
        let installed = self
            .installed
            .get_or_try_init(|| async {
                let out = self.command().arg("--list-langs").output().await;
                let out = out.map_err(|e| self.spawn_error(e))?;
                // The first line is a header ("List of available languages in …").
                let listed = String::from_utf8_lossy(&out.stdout);
                Ok::<_, ItemError>(
                    listed
                        .lines()
                        .skip(1)
                        .map(|l| l.trim().to_owned())
                        .collect(),
                )
            })
            .await?;
        let missing: Vec<&str> = self
            .language
            .split('+')
            .filter(|l| !installed.iter().any(|i| i == l))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(ItemError::fatal(
            "OCR_LANGUAGE_MISSING",
            format!(
                "Tesseract has no model for {} (installed: {}); install it (Debian: \
                 tesseract-ocr-<lang>) or set `ocr.language` (env QUIRE_OCR_LANGUAGE)",
                missing.join(", "),
                installed.join(", ")
            ),
        ))
    }

    fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.env("OMP_THREAD_LIMIT", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    fn spawn_error(&self, e: std::io::Error) -> ItemError {
        match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                ItemError::fatal(
                    "OCR_ENGINE_MISSING",
                    format!(
                        "`{}` cannot be run ({e}); install tesseract-ocr or set \
                         `ocr.tesseract_binary` (env QUIRE_OCR_TESSERACT_BINARY)",
                        self.binary.display()
                    ),
                )
            }
            _ => ItemError::retryable("OCR_ENGINE_FAILED", e.to_string()),
        }
    }
}

/// The text and the mean word confidence (in [0, 1]) of Tesseract's TSV output. Only TSV
/// is asked for: a second renderer (`txt` beside `tsv`) costs about 7% more CPU a page, and
/// the text is all in the TSV's word rows.
fn read_tsv(tsv: &str) -> (String, Option<f32>) {
    let mut text = String::new();
    let mut confs = Vec::new();
    let mut at: Option<(&str, &str, &str)> = None;
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [
            level,
            _page,
            block,
            par,
            line_no,
            _word,
            _l,
            _t,
            _w,
            _h,
            conf,
            word,
        ] = cols[..]
        else {
            continue;
        };
        if level != "5" || word.trim().is_empty() {
            continue;
        }
        let here = (block, par, line_no);
        match at {
            None => {}
            Some((b, p, _)) if (b, p) != (block, par) => text.push_str("\n\n"),
            Some(prev) if prev != here => text.push('\n'),
            Some(_) => text.push(' '),
        }
        at = Some(here);
        text.push_str(word);
        if let Ok(conf) = conf.parse::<f32>()
            && conf >= 0.0
        {
            confs.push(conf);
        }
    }
    if !text.is_empty() {
        text.push('\n');
    }
    let confidence =
        (!confs.is_empty()).then(|| confs.iter().sum::<f32>() / confs.len() as f32 / 100.0);
    (text, confidence)
}

#[async_trait]
impl OcrEngine for Tesseract {
    async fn recognize(&self, page: &NormalizedPage) -> Result<OcrText, ItemError> {
        self.check_language().await?;
        let _slot = super::slot(&self.slots).await?;
        let io =
            |e: std::io::Error| ItemError::retryable("OCR_IO", format!("OCR scratch files: {e}"));
        let dir = tempfile::tempdir().map_err(io)?;
        // Uncompressed: Tesseract spends no CPU decoding it (PNG costs a few percent).
        let input = dir.path().join("page.png");
        tokio::fs::write(&input, &page.png).await.map_err(io)?;
        let child = self
            .command()
            .arg(&input)
            .arg("stdout")
            .args(["-l", &self.language, "tsv"])
            .spawn()
            .map_err(|e| self.spawn_error(e))?;
        // On timeout the child is dropped, and with it killed.
        let finished = tokio::time::timeout(self.timeout, child.wait_with_output()).await;
        let out = match finished {
            Err(_) => {
                return Err(ItemError::retryable(
                    "TIMEOUT",
                    format!(
                        "OCR took longer than {:?}; the page was stopped",
                        self.timeout
                    ),
                ));
            }
            Ok(Err(e)) => return Err(ItemError::retryable("OCR_ENGINE_FAILED", e.to_string())),
            Ok(Ok(out)) => out,
        };
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: String = stderr.lines().rev().take(3).collect::<Vec<_>>().join(" / ");
            return Err(ItemError::retryable(
                "OCR_ENGINE_FAILED",
                format!("tesseract exited with {}: {tail}", out.status),
            ));
        }
        let (text, confidence) = read_tsv(&String::from_utf8_lossy(&out.stdout));
        if text.trim().is_empty() {
            return Err(ItemError::terminal(
                "EMPTY_TEXT",
                "no text was found on the page",
            ));
        }
        Ok(OcrText { text, confidence })
    }

    /// Local processes: no quota to share.
    fn provider(&self) -> &str {
        "tesseract"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_confidence_come_from_the_word_rows() {
        let tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n\
                   1\t1\t0\t0\t0\t0\t0\t0\t10\t10\t-1\t\n\
                   5\t1\t1\t1\t1\t1\t0\t0\t5\t5\t90\tHello\n\
                   5\t1\t1\t1\t1\t2\t0\t0\t5\t5\t70\tworld\n\
                   5\t1\t1\t1\t2\t1\t0\t0\t5\t5\t80\tagain\n\
                   5\t1\t2\t1\t1\t1\t0\t0\t5\t5\t80\tBye\n";
        assert_eq!(
            read_tsv(tsv),
            ("Hello world\nagain\n\nBye\n".to_owned(), Some(0.8))
        );
        assert_eq!(read_tsv("header\n"), (String::new(), None));
    }
}
