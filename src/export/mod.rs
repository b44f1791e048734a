//! Exports of a book: EPUB 3 (guidelines, then the approved page text, per topic).

mod epub;
mod job;
mod zip;

pub use epub::{Chapter, EpubBook, MAX_FILES, MAX_NAV_LINKS, TooLarge, render};
pub use job::{ExportEpub, latest_export};
