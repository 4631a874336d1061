//! Medical facilities: clinics (診療所) and hospitals, some of them DPC
//! hospitals. About one clinic per 800 persons and one hospital per 6,000,
//! placed across prefectures by population. Facility codes (医療機関コード)
//! have the real seven-digit shape (district, serial, check digit) but are
//! synthetic.

use crate::insurer::check_digit;
use crate::reference::PREFECTURES;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A facility.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facility {
    /// Seven-digit facility code.
    pub code: String,
    /// Prefecture code, 1–47.
    pub prefecture: u32,
    /// Name as the IR record prints it.
    pub name: String,
    /// Whether it admits patients.
    pub hospital: bool,
    /// Whether it is a DPC hospital.
    pub dpc: bool,
    /// Whether its older claims date births in the era code.
    pub era_dates: bool,
}

/// All facilities, with an index by prefecture.
#[derive(Debug, Clone)]
pub struct Facilities {
    /// Every facility.
    pub all: Vec<Facility>,
    clinics: Vec<Vec<usize>>,
    hospitals: Vec<Vec<usize>>,
}

const CLINIC_NAMES: [&str; 8] = [
    "さくら内科クリニック",
    "みどり医院",
    "ひかり診療所",
    "中央内科",
    "あおば整形外科",
    "たちばな医院",
    "ふれあいクリニック",
    "やまびこ内科",
];
const HOSPITAL_NAMES: [&str; 4] = ["総合病院", "市民病院", "記念病院", "医療センター"];

impl Facilities {
    /// The facilities of a run: a function of the seed and the population
    /// size only, drawn from a stream of their own.
    pub fn new(seed: u64, persons: u64, era_share: f64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(1 << 62);
        let clinics = (persons / 800).max(5);
        let hospitals = (persons / 6000).max(2);
        let weights = WeightedIndex::new(PREFECTURES.iter().map(|(_, m)| *m)).expect("weights");
        let mut all = Vec::new();
        for i in 0..clinics + hospitals {
            let hospital = i >= clinics;
            let prefecture = weights.sample(&mut rng) as u32 + 1;
            let first_six = format!("{:02}{:04}", rng.random_range(1..=99), i % 10_000);
            let check = check_digit(&format!("0{first_six}"));
            let name = if hospital {
                format!(
                    "{}{}",
                    PREFECTURES[prefecture as usize - 1]
                        .0
                        .trim_end_matches(['都', '府', '県']),
                    HOSPITAL_NAMES[i as usize % HOSPITAL_NAMES.len()]
                )
            } else {
                CLINIC_NAMES[i as usize % CLINIC_NAMES.len()].to_owned()
            };
            all.push(Facility {
                code: format!("{first_six}{check}"),
                prefecture,
                name,
                hospital,
                // The first hospital is always a DPC hospital, so that even a
                // small run has DPC data; the others are with chance 0.55.
                dpc: hospital && (i == clinics || rng.random_bool(0.55)),
                era_dates: rng.random_bool(era_share),
            });
        }
        let by_pref = |want_hospital: bool| {
            let mut index = vec![Vec::new(); 48];
            for (i, f) in all.iter().enumerate() {
                if f.hospital == want_hospital {
                    index[f.prefecture as usize].push(i);
                }
            }
            index
        };
        let (clinics, hospitals) = (by_pref(false), by_pref(true));
        Self {
            all,
            clinics,
            hospitals,
        }
    }

    fn pick(index: &[Vec<usize>], prefecture: u32, rng: &mut impl Rng) -> usize {
        let local = &index[prefecture as usize];
        if !local.is_empty() {
            return local[rng.random_range(0..local.len())];
        }
        // No such facility in the prefecture: the nearest by code order.
        let any: Vec<usize> = index.iter().flatten().copied().collect();
        any[rng.random_range(0..any.len())]
    }

    /// A clinic in (or, failing that, near) the prefecture.
    pub fn clinic(&self, prefecture: u32, rng: &mut impl Rng) -> usize {
        Self::pick(&self.clinics, prefecture, rng)
    }

    /// A hospital in (or near) the prefecture.
    pub fn hospital(&self, prefecture: u32, rng: &mut impl Rng) -> usize {
        Self::pick(&self.hospitals, prefecture, rng)
    }
}
