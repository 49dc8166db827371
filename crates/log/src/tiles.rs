//! C2SP tlog-tiles addressing (<https://c2sp.org/tlog-tiles>).
//!
//! A tile at level `L`, index `N` holds up to [`TILE_WIDTH`] consecutive
//! hashes of the nodes at tree level `L * TILE_HEIGHT`, starting at node
//! `N * TILE_WIDTH`. A full tile is immutable; a partial tile of width `W`
//! is the first `W` hashes of the tile it will grow into, so any partial
//! tile is a prefix of every later version. Entry bundles follow the same
//! numbering over the leaves, each entry prefixed by its big-endian u16
//! length.

/// Tree levels per tile.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes in a full tile (2^TILE_HEIGHT).
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// Highest tile level a 64-bit tree can have (level 7 holds level-56 nodes).
pub const MAX_TILE_LEVEL: u8 = 7;
/// Largest entry an entry bundle can carry (u16 length prefix).
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// A hash tile, or (with `level == None`) an entry bundle, with its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Hash tile level; `None` for an entry bundle.
    pub level: Option<u8>,
    pub index: u64,
    /// 1..=256; 256 means a full tile.
    pub width: u16,
}

/// Writes `n` in the tile path encoding: groups of three digits, every group
/// but the last prefixed with `x` (`1234067` → `x001/x234/067`).
pub fn encode_index(n: u64, out: &mut String) {
    let digits = format!("{n:03}");
    let pad = (3 - digits.len() % 3) % 3;
    let padded = format!("{}{digits}", "0".repeat(pad));
    let groups: Vec<&str> = padded
        .as_bytes()
        .chunks(3)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    for (i, g) in groups.iter().enumerate() {
        if i + 1 < groups.len() {
            out.push('x');
            out.push_str(g);
            out.push('/');
        } else {
            out.push_str(g);
        }
    }
}

impl TileId {
    /// The path below the log prefix, e.g. `tile/0/x001/234.p/7` or
    /// `tile/entries/005`.
    pub fn path(&self) -> String {
        let mut out = String::from("tile/");
        match self.level {
            Some(l) => out.push_str(&l.to_string()),
            None => out.push_str("entries"),
        }
        out.push('/');
        encode_index(self.index, &mut out);
        if u64::from(self.width) < TILE_WIDTH {
            out.push_str(".p/");
            out.push_str(&self.width.to_string());
        }
        out
    }

    /// Parses the part of a tile path after `tile/`. Strict: the canonical
    /// encoding only, so each tile has exactly one path.
    pub fn parse(rest: &str) -> Option<TileId> {
        let (level_str, rest) = rest.split_once('/')?;
        let level = if level_str == "entries" {
            None
        } else {
            let l: u8 = parse_decimal(level_str)?.try_into().ok()?;
            if l > MAX_TILE_LEVEL {
                return None;
            }
            Some(l)
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((idx, w)) => {
                let w = parse_decimal(w)?;
                if w == 0 || w >= TILE_WIDTH {
                    return None;
                }
                (idx, w as u16)
            }
            None => (rest, TILE_WIDTH as u16),
        };
        let groups: Vec<&str> = index_part.split('/').collect();
        if groups.is_empty() || groups.len() > 7 {
            return None;
        }
        let mut index: u64 = 0;
        for (i, g) in groups.iter().enumerate() {
            let digits = if i + 1 < groups.len() {
                g.strip_prefix('x')?
            } else {
                g
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let v: u64 = digits.parse().ok()?;
            index = index.checked_mul(1000)?.checked_add(v)?;
        }
        let id = TileId {
            level,
            index,
            width,
        };
        // Reject non-canonical forms such as a leading `x000/`.
        (id.path().strip_prefix("tile/") == Some(rest_with_level(level_str, rest).as_str()))
            .then_some(id)
    }

    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }
}

fn rest_with_level(level: &str, rest: &str) -> String {
    format!("{level}/{rest}")
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// Number of nodes at tree level `level * TILE_HEIGHT` in a tree of `size`.
pub fn nodes_at_tile_level(size: u64, level: u8) -> u64 {
    size.checked_shr(u32::from(level) * TILE_HEIGHT)
        .unwrap_or(0)
}

/// The width (0..=255) of the right-edge (last, partial) tile at `level`
/// for a tree of `size`, and its index. Width 0 means there is none: every
/// tile at that level is full (or the level is empty).
pub fn right_edge(size: u64, level: u8) -> (u64, usize) {
    let n = nodes_at_tile_level(size, level);
    (n / TILE_WIDTH, (n % TILE_WIDTH) as usize)
}

/// Appends one entry to an entry bundle: big-endian u16 length, then bytes.
/// Entries longer than [`MAX_ENTRY_BYTES`] cannot be bundled; the API
/// refuses them before they reach the log.
pub fn push_bundle_entry(bundle: &mut Vec<u8>, entry: &[u8]) -> bool {
    let Ok(len) = u16::try_from(entry.len()) else {
        return false;
    };
    bundle.extend_from_slice(&len.to_be_bytes());
    bundle.extend_from_slice(entry);
    true
}

/// Splits an entry bundle back into entries (tests and clients).
pub fn split_bundle(mut data: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < 2 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let rest = &data[2..];
        if rest.len() < len {
            return None;
        }
        out.push(&rest[..len]);
        data = &rest[len..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(level: Option<u8>, index: u64, width: u16) -> TileId {
        TileId {
            level,
            index,
            width,
        }
    }

    #[test]
    fn paths_follow_the_spec() {
        assert_eq!(id(Some(0), 1234067, 256).path(), "tile/0/x001/x234/067");
        assert_eq!(id(Some(1), 0, 256).path(), "tile/1/000");
        assert_eq!(id(Some(0), 999, 256).path(), "tile/0/999");
        assert_eq!(id(Some(0), 1000, 256).path(), "tile/0/x001/000");
        assert_eq!(id(None, 5, 7).path(), "tile/entries/005.p/7");
        assert_eq!(id(Some(2), 1234067, 17).path(), "tile/2/x001/x234/067.p/17");
    }

    #[test]
    fn parse_round_trips_and_is_strict() {
        for t in [
            id(Some(0), 1234067, 256),
            id(Some(3), 0, 1),
            id(None, 5, 255),
            id(Some(7), u64::MAX / 2, 256),
        ] {
            let p = t.path();
            assert_eq!(
                TileId::parse(p.strip_prefix("tile/").unwrap()),
                Some(t),
                "{p}"
            );
        }
        for bad in [
            "0/1",
            "0/01",
            "0/x000/001",
            "0/001.p/0",
            "0/001.p/256",
            "0/001.p/07",
            "8/001",
            "0/x1/001",
            "0/",
            "entries/01",
            "0/001/",
            "00/001",
        ] {
            assert_eq!(TileId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn bundles_round_trip() {
        let mut b = Vec::new();
        assert!(push_bundle_entry(&mut b, b"abc"));
        assert!(push_bundle_entry(&mut b, b""));
        assert!(!push_bundle_entry(&mut b, &vec![0; 70000]));
        assert_eq!(split_bundle(&b).unwrap(), vec![&b"abc"[..], &b""[..]]);
        assert_eq!(split_bundle(&[0, 5, 1]), None);
    }
}
