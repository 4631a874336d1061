//! レセ電 medical claim files (医科, `RECEIPTC.UKE`): one file per facility,
//! month of care and payer (社保 to the 支払基金, 国保 and 後期 to the
//! 国保連), CSV records in Shift_JIS (CP932) with CRLF line ends.
//!
//! A file is `IR` (facility), then per claim `RE` (claim header), `HO`
//! (insurance), `SN` (eligibility check, with the branch number), `SY`
//! (diagnoses), `SI` (procedures), `IY` (drugs), and last `GO` (totals).
//! Field positions follow domain.md §3: RE 2 claim number, 3 claim type,
//! 4 month of care, 5 name, 6 sex, 7 birth date, 9 admission date, 37 kana
//! name; HO 2 insurer, 3 symbol, 4 number, 5 days, 6 points; SN 4–7
//! insurer, symbol, number, branch; SY 2 code, 3 onset, 4 outcome, 6 name,
//! 7 main-diagnosis flag; SI/IY 2 care category, 3 payer class, 4 code,
//! 5 quantity, 6 points, 7 times, 14–44 the days of the month.
//!
//! The identity fields carry [`Noise`]: how real files write names, kana,
//! digits, dates and branch numbers. 国保 insurer numbers are written with
//! their six digits, as on the real claims.

use crate::Ymd;
use crate::care::Claim;
use crate::facility::{Facilities, Facility};
use crate::insurer::Scheme;
use crate::noise::{self, Noise};
use crate::population::{InsuranceSpell, Person, age_on};
use crate::spool::{Spool, Text};
use crate::{SynthError, writer::Output};
use chrono::{Datelike, Days, Months, NaiveDate};
use rand::Rng;
use std::collections::HashMap;
use std::path::Path;

/// Claims before this month date births in the era code at era facilities.
const ERA_UNTIL: (i32, u32) = (2020, 4);
/// Branch numbers are on claims from this month on.
const BRANCH_FROM: (i32, u32) = (2021, 4);
/// Writes claims into their files through a [`Spool`].
pub(crate) struct UkeWriter {
    spool: Spool,
    /// Claims and points per file, for its GO record.
    totals: HashMap<String, (u64, u64)>,
    claims: u64,
    line: Line,
}

fn month_key(d: NaiveDate) -> (i32, u32) {
    (d.year(), d.month())
}

/// The payer a claim goes to: 1 社保 (支払基金), 2 国保連.
fn payer(scheme: Scheme) -> u8 {
    if scheme.is_employee() { 1 } else { 2 }
}

/// The four-digit claim type (レセプト種別): 1 医科; 1 医保 or 3 後期;
/// 1 単独; then who and where (2 本人外来, 6 家族外来, 4 未就学外来, 8 高齢者外来,
/// and 1, 5, 3, 7 for the same inpatient).
pub fn claim_type(scheme: Scheme, branch: &str, age: u32, inpatient: bool) -> String {
    let system = if scheme == Scheme::Koki { '3' } else { '1' };
    let who = match age {
        _ if scheme == Scheme::Koki => ('7', '8'),
        70..=74 => ('7', '8'),
        0..=5 => ('3', '4'),
        _ if branch == "00" => ('1', '2'),
        _ => ('5', '6'),
    };
    let kind = if inpatient { who.0 } else { who.1 };
    format!("1{system}1{kind}")
}

/// The insurer number as a claim writes it: 国保's six digits unpadded.
pub(crate) fn written_insurer(spell: &InsuranceSpell) -> &str {
    if spell.card.scheme == Scheme::Kokuho {
        &spell.card.insurer[2..]
    } else {
        &spell.card.insurer
    }
}

/// Identity fields as one facility's system writes them.
struct Written {
    name: String,
    kana: String,
    symbol: String,
    number: String,
    birth: String,
    month: String,
}

fn write_identity(
    rng: &mut impl Rng,
    noise: &Noise,
    facility: &Facility,
    person: &Person,
    spell: &InsuranceSpell,
    claim: &Claim,
    care_day: NaiveDate,
) -> Written {
    let name = person.name_on(care_day);
    let separator = noise.separator(rng);
    let kana = noise
        .kana_name(rng, name.family.kana, name.given.kana)
        .unwrap_or_default();
    let era = facility.era_dates && month_key(claim.month) < ERA_UNTIL;
    let (birth, month) = if era {
        (
            noise::era_date(person.birth),
            noise::era_date(claim.month)[..5].to_owned(),
        )
    } else {
        (
            Ymd::new(person.birth, "").to_string(),
            Ymd::month(claim.month).to_string(),
        )
    };
    Written {
        name: format!("{}{separator}{}", name.family.kanji, name.given.kanji),
        kana,
        symbol: noise.digits(rng, &spell.card.symbol),
        number: noise.digits(rng, &spell.card.number),
        birth,
        month,
    }
}

/// One record, built field by field into a buffer that is reused for
/// every line, since a run writes tens of millions of them.
#[derive(Default)]
struct Line(String);

impl Line {
    /// Starts a record with its two-letter kind.
    fn start(&mut self, kind: &str) -> &mut Self {
        self.0.clear();
        self.0.push_str(kind);
        self
    }

    /// Appends one field.
    fn field(&mut self, value: impl std::fmt::Display) -> &mut Self {
        use std::fmt::Write;
        self.0.push(',');
        write!(self.0, "{value}").expect("writing to a String");
        self
    }

    /// Appends `n` empty fields.
    fn empty(&mut self, n: usize) -> &mut Self {
        self.0.extend(std::iter::repeat_n(',', n));
        self
    }

    /// Appends the 31 day-of-month fields of SI and IY records: `count` on
    /// the days given, empty on the others.
    fn days(&mut self, days: &[u32], count: u32) -> &mut Self {
        for d in 1..=31 {
            if days.contains(&d) {
                self.field(count);
            } else {
                self.empty(1);
            }
        }
        self
    }

    fn text(&self) -> &str {
        &self.0
    }
}

impl UkeWriter {
    pub(crate) fn new(root: &Path, persons: u64) -> Self {
        Self {
            spool: Spool::new(root, "uke", Text::ShiftJisCrlf, persons),
            totals: HashMap::new(),
            claims: 0,
            line: Line::default(),
        }
    }

    /// The claim file's path relative to the output directory.
    fn relative_path(facility: &Facility, month: NaiveDate, payer: u8) -> String {
        let payer = if payer == 1 { "shaho" } else { "kokuho" };
        format!(
            "uke/{}/{}/{payer}/RECEIPTC.UKE",
            Ymd::month(month),
            facility.code
        )
    }

    /// Writes one claim, and its row of `truth/records.csv`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn claim(
        &mut self,
        rng: &mut impl Rng,
        noise: &Noise,
        facilities: &Facilities,
        person: &Person,
        claim: &Claim,
        records: &mut Output,
    ) -> Result<(), SynthError> {
        let care_day = claim.month + Days::new(u64::from(claim.days[0]) - 1);
        let Some(spell) = person.spell_on(care_day) else {
            return Ok(());
        };
        let facility = &facilities.all[claim.facility];
        let payer = payer(spell.card.scheme);
        let path = Self::relative_path(facility, claim.month, payer);
        let id = write_identity(rng, noise, facility, person, spell, claim, care_day);
        let line = &mut self.line;
        if self.spool.lines(&path) == 0 {
            let billing = claim.month + Months::new(1);
            line.start("IR")
                .field(payer)
                .field(format_args!("{:02}", facility.prefecture))
                .field(1)
                .field(&facility.code)
                .empty(1)
                .field(&facility.name)
                .field(Ymd::month(billing))
                .field("00")
                .field(format_args!(
                    "0{}-{}",
                    &facility.code[..2],
                    &facility.code[2..]
                ));
            self.spool.line(&path, line.text())?;
        }
        let points = claim.points();
        let totals = self.totals.entry(path.clone()).or_insert((0, 0));
        totals.0 += 1;
        totals.1 += points;
        let claim_no = totals.0;
        let age = age_on(person.birth, care_day);
        // RE: 38 fields, the identity ones at the positions of domain.md §3.
        line.start("RE")
            .field(claim_no)
            .field(claim_type(
                spell.card.scheme,
                &spell.branch,
                age,
                claim.admitted.is_some(),
            ))
            .field(&id.month)
            .field(&id.name)
            .field(person.sex.code())
            .field(&id.birth)
            .empty(1);
        match claim.admitted {
            Some(d) => line.field(Ymd::new(d, "")),
            None => line.empty(1),
        };
        // The chart number is the hospital's own patient number, the same
        // one its DPC data carries as データ識別番号: stable at one
        // facility, unrelated between two.
        line.empty(4)
            .field(crate::dpc::data_id(facility, person))
            .empty(22)
            .field(&id.kana)
            .empty(1);
        let re_line = self.spool.line(&path, line.text())?;
        line.start("HO")
            .field(written_insurer(spell))
            .field(&id.symbol)
            .field(&id.number)
            .field(claim.days.len())
            .field(points)
            .empty(3);
        self.spool.line(&path, line.text())?;
        let branch_era = month_key(claim.month) >= BRANCH_FROM;
        let missing = if branch_era {
            noise.missing_branch / 25.0
        } else {
            noise.missing_branch
        };
        if !rng.random_bool(missing.clamp(0.0, 1.0)) {
            line.start("SN")
                .field(1)
                .field("01")
                .field(written_insurer(spell))
                .field(&id.symbol)
                .field(&id.number)
                .field(&spell.branch)
                .empty(2);
            self.spool.line(&path, line.text())?;
        }
        for (i, (condition, onset)) in claim.diagnoses.iter().enumerate() {
            let uncoded = rng.random_bool(0.03);
            line.start("SY")
                .field(if uncoded { "0000999" } else { condition.code })
                .field(Ymd::new(*onset, ""))
                .field(1)
                .empty(1)
                .field(if uncoded { condition.name } else { "" })
                .field(if i == 0 { "01" } else { "" })
                .empty(1);
            self.spool.line(&path, line.text())?;
        }
        for (procedure, days) in &claim.procedures {
            line.start("SI")
                .field(procedure.category)
                .field(1)
                .field(procedure.code)
                .empty(1)
                .field(procedure.points)
                .field(days.len())
                .empty(6)
                .days(days, 1);
            self.spool.line(&path, line.text())?;
        }
        for (drug, supply, day) in &claim.drugs {
            line.start("IY")
                .field(21)
                .field(1)
                .field(drug.code)
                .field(1)
                .field(drug.points_per_day)
                .field(supply)
                .empty(6)
                .days(&[*day], *supply);
            self.spool.line(&path, line.text())?;
        }
        let locator = format!("line:{re_line}");
        records.write([
            path.as_str(),
            locator.as_str(),
            person.id.to_string().as_str(),
        ])?;
        self.claims += 1;
        self.spool.relieve()
    }

    /// Writes every file's GO record and the rest of the queues. Returns
    /// (files, claims, bytes).
    pub(crate) fn finish(mut self) -> Result<(u64, u64, u64), SynthError> {
        for (path, (claims, points)) in &self.totals {
            self.line
                .start("GO")
                .field(claims)
                .field(points)
                .field("99");
            self.spool.line(path, self.line.text())?;
        }
        let (files, bytes) = self.spool.finish()?;
        Ok((files, self.claims, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_types_follow_the_receipt_kind_table() {
        assert_eq!(claim_type(Scheme::Kyokai, "00", 40, false), "1112");
        assert_eq!(claim_type(Scheme::Kyokai, "01", 40, false), "1116");
        assert_eq!(claim_type(Scheme::Kyokai, "01", 3, false), "1114");
        assert_eq!(claim_type(Scheme::Kokuho, "00", 72, false), "1118");
        assert_eq!(claim_type(Scheme::Koki, "00", 80, false), "1318");
        assert_eq!(claim_type(Scheme::Koki, "00", 80, true), "1317");
        assert_eq!(claim_type(Scheme::Kumiai, "00", 50, true), "1111");
        assert_eq!(claim_type(Scheme::Kumiai, "02", 50, true), "1115");
    }
}
