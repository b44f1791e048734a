//! A minimal ZIP writer: entries stored uncompressed, as EPUB's `mimetype` must be (and as
//! every other entry may be). Enough for an EPUB, without a compression dependency.
//!
//! No ZIP64: an archive holds at most 65,535 entries and 4 GiB, and one past either is
//! refused ([`TooLarge`]) rather than written with wrapped counts and offsets.

/// The archive would need ZIP64.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the archive would pass ZIP's limits without ZIP64 (65,535 entries, 4 GiB)")]
pub struct TooLarge;

/// The archive, written in memory.
#[derive(Default)]
pub struct Zip {
    out: Vec<u8>,
    central: Vec<u8>,
    entries: u16,
}

impl Zip {
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<(), TooLarge> {
        let crc = crc32fast::hash(data);
        let offset = u32::try_from(self.out.len()).map_err(|_| TooLarge)?;
        let size = u32::try_from(data.len()).map_err(|_| TooLarge)?;
        let name_len = u16::try_from(name.len()).map_err(|_| TooLarge)?;
        let entries = self.entries.checked_add(1).ok_or(TooLarge)?;
        // Everything after this entry must stay addressable too.
        let end = self.out.len() + 30 + name.len() + data.len();
        u32::try_from(end + self.central.len() + 46 + name.len()).map_err(|_| TooLarge)?;
        // Local header: stored (method 0), UTF-8 names (flag 0x0800), 1980-01-01 00:00.
        let header = |sig: u32, out: &mut Vec<u8>, central: bool| {
            out.extend_from_slice(&sig.to_le_bytes());
            if central {
                out.extend_from_slice(&20u16.to_le_bytes()); // version made by
            }
            out.extend_from_slice(&20u16.to_le_bytes()); // version needed
            out.extend_from_slice(&0x0800u16.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // stored
            out.extend_from_slice(&0u16.to_le_bytes()); // time
            out.extend_from_slice(&0x0021u16.to_le_bytes()); // date
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&name_len.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        header(0x0403_4b50, &mut self.out, false);
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(data);
        header(0x0201_4b50, &mut self.central, true);
        self.central.extend_from_slice(&0u16.to_le_bytes()); // comment
        self.central.extend_from_slice(&0u16.to_le_bytes()); // disk
        self.central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        self.central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        self.central.extend_from_slice(&offset.to_le_bytes());
        self.central.extend_from_slice(name.as_bytes());
        self.entries = entries;
        Ok(())
    }

    pub fn finish(mut self) -> Vec<u8> {
        // `add` kept both within u32.
        let offset = self.out.len() as u32;
        let size = self.central.len() as u32;
        self.out.extend_from_slice(&self.central);
        self.out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        self.out.extend_from_slice(&self.entries.to_le_bytes());
        self.out.extend_from_slice(&self.entries.to_le_bytes());
        self.out.extend_from_slice(&size.to_le_bytes());
        self.out.extend_from_slice(&offset.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        self.out
    }
}
