//! The person bucket: a hidden column of every person-level release table
//! that lets disclosure control count persons per cell cheaply.
//!
//! A person's bucket is six bits of their release pseudonym (itself HMAC
//! output), so it tells nothing the pseudonym does not. One person always
//! falls in one bucket, so the number of distinct buckets among a cell's
//! rows is an exact lower bound on the cell's distinct persons: a cell whose
//! rows span ten buckets has at least ten persons, and a cell with none has
//! no person. The column holds the bucket's bit of a 64-bit mask, so a cell
//! finds its buckets with one OR per row (`bit_count(bit_or(column))`),
//! where an exact distinct count must hash and keep every person. (Storing
//! the bit rather than the bucket number spares a shift per row, which cost
//! more than reading the column; rows grouped by pseudonym store it as runs.)
//!
//! ```
//! use niji_core::bucket;
//!
//! let b = bucket::of("abcdefghijklmnopabcdefghijklmnop");
//! assert!(u32::from(b) < bucket::BUCKETS);
//! assert_eq!(bucket::bit("abcdefghijklmnopabcdefghijklmnop"), 1 << b);
//! ```

/// The column's name (type `UBIGINT`). Researchers never see it: the
/// sandbox's granted views leave it out, and release exports drop it.
pub const COLUMN: &str = "__niji_bucket";

/// How many buckets there are: one bit each of a 64-bit mask.
pub const BUCKETS: u32 = 64;

/// The bucket of a release pseudonym (32 letters `a`–`p`, four bits to a
/// letter): the low two bits of the first letter and the four of the
/// second.
pub fn of(pseudonym: &str) -> u8 {
    let nibble = |i: usize| {
        pseudonym
            .as_bytes()
            .get(i)
            .map_or(0, |b| b.wrapping_sub(b'a') & 0x0f)
    };
    ((nibble(0) & 0x03) << 4) | nibble(1)
}

/// The bucket's bit, what the column holds.
pub fn bit(pseudonym: &str) -> u64 {
    1 << of(pseudonym)
}

/// The same bit in DuckDB SQL (a `UBIGINT`), for the pseudonym expression
/// `pseudonym`.
pub fn sql(pseudonym: &str) -> String {
    format!(
        "CAST(1 AS UBIGINT) << CAST(((ascii(substr({pseudonym}, 1, 1)) - 97) % 4) * 16 + (ascii(substr({pseudonym}, 2, 1)) - 97) % 16 AS UTINYINT)"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn buckets_spread_over_all_sixty_four() {
        let mut seen = [false; 64];
        for a in b'a'..=b'p' {
            for b in b'a'..=b'p' {
                let p = format!("{}{}aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", a as char, b as char);
                seen[usize::from(super::of(&p))] = true;
            }
        }
        assert!(seen.iter().all(|s| *s));
    }
}
