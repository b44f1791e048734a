//! [`PdfTools`]: one method per call of a PDF tool, each a process of its own, killed when
//! its time runs out or its caller goes away (`kill_on_drop`).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::PdfError;
use super::analysis::OutlineEntry;

/// Where the tools are and how long one call may take.
#[derive(Clone, Debug)]
pub struct PdfToolsSettings {
    pub qpdf: PathBuf,
    pub pdftotext: PathBuf,
    pub pdftoppm: PathBuf,
    pub pdfinfo: PathBuf,
    /// One call on one page (its text, its size, rendering it).
    pub page_timeout: Duration,
    /// One call on the whole file (counting pages, the outline, the text layer).
    pub file_timeout: Duration,
}

impl Default for PdfToolsSettings {
    fn default() -> Self {
        Self {
            qpdf: "qpdf".into(),
            pdftotext: "pdftotext".into(),
            pdftoppm: "pdftoppm".into(),
            pdfinfo: "pdfinfo".into(),
            page_timeout: Duration::from_secs(120),
            file_timeout: Duration::from_secs(600),
        }
    }
}

/// A page rendered to a grey PNG.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub png: Vec<u8>,
    pub dpi: u32,
}

/// A file as qpdf reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    /// Encrypted, but readable without a password (an owner password only).
    pub encrypted: bool,
    pub pages: u32,
    pub outline: Vec<OutlineEntry>,
    /// One per page where the file labels its pages; empty otherwise.
    pub labels: Vec<Option<String>>,
}

#[derive(Clone, Debug)]
pub struct PdfTools {
    settings: PdfToolsSettings,
}

impl PdfTools {
    pub fn new(settings: PdfToolsSettings) -> Self {
        Self { settings }
    }

    pub fn settings(&self) -> &PdfToolsSettings {
        &self.settings
    }

    fn command(&self, tool: &Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(tool);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    fn spawn_error(tool: &Path, setting: &'static str, e: std::io::Error) -> PdfError {
        match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                PdfError::ToolMissing {
                    tool: tool.display().to_string(),
                    setting,
                    reason: e.to_string(),
                }
            }
            _ => PdfError::Io(e),
        }
    }

    /// Runs a prepared command to its end within `limit`.
    async fn run(
        &self,
        mut cmd: tokio::process::Command,
        tool: &Path,
        setting: &'static str,
        what: String,
        limit: Duration,
        stdin: Option<&[u8]>,
    ) -> Result<Output, PdfError> {
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Self::spawn_error(tool, setting, e))?;
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(bytes).await?;
            drop(pipe);
        }
        match tokio::time::timeout(limit, child.wait_with_output()).await {
            Err(_) => Err(PdfError::TimedOut { what, limit }),
            Ok(out) => Ok(out?),
        }
    }

    /// The last lines a tool wrote to stderr, for its error.
    fn stderr_tail(out: &Output) -> String {
        let stderr = String::from_utf8_lossy(&out.stderr);
        stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .join(" / ")
    }

    /// Writes a decrypted copy of `file` to `to`. The password goes through a pipe, never
    /// on a command line another process could read.
    pub async fn decrypt(
        &self,
        file: &Path,
        password: Option<&str>,
        to: &Path,
    ) -> Result<(), PdfError> {
        let mut cmd = self.command(&self.settings.qpdf);
        cmd.arg("--password-file=-")
            .arg("--decrypt")
            .arg(file)
            .arg(to);
        let out = self
            .run(
                cmd,
                &self.settings.qpdf,
                "qpdf_binary",
                "decrypting".into(),
                self.settings.file_timeout,
                Some(password.unwrap_or("").as_bytes()),
            )
            .await?;
        match out.status.code() {
            Some(0) | Some(3) => Ok(()),
            _ if String::from_utf8_lossy(&out.stderr).contains("invalid password") => {
                Err(if password.is_some() {
                    PdfError::WrongPassword
                } else {
                    PdfError::PasswordNeeded
                })
            }
            _ => Err(PdfError::Corrupted(Self::stderr_tail(&out))),
        }
    }

    /// What qpdf reads of the file in one call: encrypted or not, its pages, its outline
    /// (flat entries with their depth and first page) and its page labels. A file that
    /// needs a password is [`PdfError::PasswordNeeded`]; one qpdf cannot recover is
    /// corrupted.
    pub async fn inspect(&self, file: &Path) -> Result<Inspection, PdfError> {
        let mut cmd = self.command(&self.settings.qpdf);
        cmd.args([
            "--json",
            "--json-key=encrypt",
            "--json-key=pages",
            "--json-key=outlines",
            "--json-key=pagelabels",
        ])
        .arg(file);
        let out = self
            .run(
                cmd,
                &self.settings.qpdf,
                "qpdf_binary",
                "reading the file's structure".into(),
                self.settings.file_timeout,
                None,
            )
            .await?;
        // qpdf's exit codes: 0 fine, 3 warnings (a repaired file: its pages are what was
        // recovered), 2 errors.
        if !matches!(out.status.code(), Some(0) | Some(3)) {
            if String::from_utf8_lossy(&out.stderr).contains("invalid password") {
                return Err(PdfError::PasswordNeeded);
            }
            return Err(PdfError::Corrupted(Self::stderr_tail(&out)));
        }
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| PdfError::ToolFailed {
                tool: "qpdf".into(),
                message: format!("its JSON could not be read: {e}"),
            })?;
        let pages = doc["pages"].as_array().map_or(0, Vec::len) as u32;
        let mut outline = Vec::new();
        if let Some(items) = doc["outlines"].as_array() {
            flatten_outline(items, 0, &mut outline);
        }
        Ok(Inspection {
            encrypted: doc["encrypt"]["encrypted"].as_bool().unwrap_or(false),
            pages,
            outline,
            labels: super::analysis::labels(&doc["pagelabels"], pages),
        })
    }

    /// The text layer of pages `first..=last` (`None`: to the end), one string per page,
    /// read as pdftotext writes it (pages end with a form feed), so a long book is never
    /// one buffer.
    pub async fn text_layer(
        &self,
        file: &Path,
        first: u32,
        last: Option<u32>,
        limit: Duration,
    ) -> Result<Vec<String>, PdfError> {
        let mut cmd = self.command(&self.settings.pdftotext);
        cmd.args(["-enc", "UTF-8", "-f", &first.to_string()]);
        if let Some(last) = last {
            cmd.args(["-l", &last.to_string()]);
        }
        cmd.arg(file).arg("-");
        let read = async {
            let mut child = cmd
                .spawn()
                .map_err(|e| Self::spawn_error(&self.settings.pdftotext, "pdftotext_binary", e))?;
            let stdout = child.stdout.take().expect("stdout is piped");
            let mut reader = tokio::io::BufReader::new(stdout);
            let mut pages = Vec::new();
            let mut page = Vec::new();
            loop {
                page.clear();
                let n = reader.read_until(b'\x0c', &mut page).await?;
                if n == 0 {
                    break;
                }
                if page.last() == Some(&b'\x0c') {
                    page.pop();
                }
                pages.push(String::from_utf8_lossy(&page).into_owned());
            }
            let out = child.wait_with_output().await?;
            if !out.status.success() {
                return Err(PdfError::ToolFailed {
                    tool: "pdftotext".into(),
                    message: Self::stderr_tail(&out),
                });
            }
            Ok(pages)
        };
        let mut pages =
            tokio::time::timeout(limit, read)
                .await
                .map_err(|_| PdfError::TimedOut {
                    what: format!("reading the text from page {first}"),
                    limit,
                })??;
        // A page pdftotext wrote nothing for still counts: one entry a page.
        if let Some(last) = last {
            pages.resize((last + 1 - first) as usize, String::new());
        }
        Ok(pages)
    }

    /// A page's size in points (1/72 in), as its media box and rotation give it.
    pub async fn page_size(&self, file: &Path, page: u32) -> Result<(f64, f64), PdfError> {
        let mut cmd = self.command(&self.settings.pdfinfo);
        let n = page.to_string();
        cmd.args(["-f", &n, "-l", &n]).arg(file);
        let out = self
            .run(
                cmd,
                &self.settings.pdfinfo,
                "pdfinfo_binary",
                format!("measuring page {page}"),
                self.settings.page_timeout,
                None,
            )
            .await?;
        let text = String::from_utf8_lossy(&out.stdout);
        let size = text
            .lines()
            .find(|l| l.starts_with("Page") && l.contains(" size:"))
            .and_then(|l| {
                let dims = l.split(" size:").nth(1)?;
                let mut it = dims.split_whitespace();
                let w: f64 = it.next()?.parse().ok()?;
                it.next(); // "x"
                let h: f64 = it.next()?.parse().ok()?;
                Some((w, h))
            });
        let rotated = text
            .lines()
            .find(|l| l.starts_with("Page") && l.contains(" rot:"))
            .and_then(|l| l.split(" rot:").nth(1)?.trim().parse::<i32>().ok())
            .is_some_and(|r| r.rem_euclid(180) == 90);
        match size {
            Some((w, h)) if w > 0.0 && h > 0.0 => Ok(if rotated { (h, w) } else { (w, h) }),
            _ => Err(PdfError::ToolFailed {
                tool: "pdfinfo".into(),
                message: format!("no size for page {page}: {}", Self::stderr_tail(&out)),
            }),
        }
    }

    /// Renders one page to a grey PNG at `dpi`, lowered as needed to stay within
    /// `max_pixels` (a poster-sized page is rendered smaller, not refused, down to 50 dpi).
    pub async fn render(
        &self,
        file: &Path,
        page: u32,
        dpi: u32,
        max_pixels: u64,
        scratch: &Path,
    ) -> Result<Rendered, PdfError> {
        let (w, h) = self.page_size(file, page).await?;
        let dpi = fit_dpi(w, h, dpi, max_pixels).ok_or(PdfError::PageTooLarge {
            page,
            width_in: w / 72.0,
            height_in: h / 72.0,
            dpi: MIN_DPI,
            limit: max_pixels,
        })?;
        let prefix = scratch.join(format!("page-{page}"));
        let mut cmd = self.command(&self.settings.pdftoppm);
        let n = page.to_string();
        cmd.args([
            "-f",
            &n,
            "-l",
            &n,
            "-r",
            &dpi.to_string(),
            "-gray",
            "-png",
            "-singlefile",
        ])
        .arg(file)
        .arg(&prefix);
        let out = self
            .run(
                cmd,
                &self.settings.pdftoppm,
                "pdftoppm_binary",
                format!("rendering page {page}"),
                self.settings.page_timeout,
                None,
            )
            .await?;
        let png_path = prefix.with_extension("png");
        if !out.status.success() {
            let _ = tokio::fs::remove_file(&png_path).await;
            return Err(PdfError::ToolFailed {
                tool: "pdftoppm".into(),
                message: format!("page {page}: {}", Self::stderr_tail(&out)),
            });
        }
        let png = tokio::fs::read(&png_path).await?;
        let _ = tokio::fs::remove_file(&png_path).await;
        Ok(Rendered { png, dpi })
    }
}

/// The lowest resolution a page is rendered at to fit the pixel limit.
pub const MIN_DPI: u32 = 50;

/// `dpi`, or the highest resolution below it whose pixels fit `max_pixels`; `None` when
/// not even [`MIN_DPI`] fits.
pub fn fit_dpi(width_pt: f64, height_pt: f64, dpi: u32, max_pixels: u64) -> Option<u32> {
    let pixels = |dpi: u32| (width_pt / 72.0 * dpi as f64) * (height_pt / 72.0 * dpi as f64);
    if pixels(dpi) <= max_pixels as f64 {
        return Some(dpi);
    }
    let fitted = (dpi as f64 * (max_pixels as f64 / pixels(dpi)).sqrt()).floor() as u32;
    (fitted >= MIN_DPI).then_some(fitted)
}

/// qpdf's nested outline as entries in reading order, each with its depth.
fn flatten_outline(items: &[serde_json::Value], depth: u32, out: &mut Vec<OutlineEntry>) {
    for item in items {
        let title = item["title"].as_str().unwrap_or("").trim();
        let page = item["destpageposfrom1"].as_u64().map(|p| p as u32);
        if !title.is_empty() {
            out.push(OutlineEntry {
                depth,
                title: title.to_owned(),
                page,
            });
        }
        if let Some(kids) = item["kids"].as_array() {
            flatten_outline(kids, depth + 1, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_too_large_is_rendered_smaller_down_to_the_minimum() {
        // Letter at 300 dpi: 8.4 MP, within 40 MP.
        assert_eq!(fit_dpi(612.0, 792.0, 300, 40_000_000), Some(300));
        // 30 x 30 in at 300 dpi is 81 MP: lowered to fit 40 MP.
        let dpi = fit_dpi(2160.0, 2160.0, 300, 40_000_000).unwrap();
        assert!(
            dpi < 300 && (30.0 * dpi as f64).powi(2) <= 40_000_000.0,
            "{dpi}"
        );
        // A page a mile wide fits at no resolution.
        assert_eq!(fit_dpi(72.0 * 63_360.0, 792.0, 300, 40_000_000), None);
    }

    #[test]
    fn the_outline_is_flattened_in_reading_order_with_depths() {
        let json: serde_json::Value = serde_json::json!([
            { "title": "Chapter 1", "destpageposfrom1": 1, "kids": [
                { "title": "1.1 Start", "destpageposfrom1": 2, "kids": [] },
            ]},
            { "title": " ", "kids": [] },
            { "title": "Chapter 2", "destpageposfrom1": null, "kids": [] },
        ]);
        let mut out = Vec::new();
        flatten_outline(json.as_array().unwrap(), 0, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|e| (e.depth, e.title.as_str(), e.page))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, "Chapter 1", Some(1)),
                (1, "1.1 Start", Some(2)),
                (0, "Chapter 2", None)
            ]
        );
    }
}
