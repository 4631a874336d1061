//! `niji synth`.

use super::emit;
use crate::cli::SynthArgs;
use indicatif::{ProgressBar, ProgressStyle};
use niji_synth::{Period, SynthConfig, generate};
use serde::Serialize;
use std::time::Instant;

#[derive(Serialize)]
struct SynthReport {
    out: String,
    persons: u64,
    names: u64,
    insurance_spells: u64,
    eligibility_rows: u64,
    claims: u64,
    uke_files: u64,
    checkups: u64,
    checkup_archives: u64,
    dpc_stays: u64,
    dpc_files: u64,
    care_claims: u64,
    care_files: u64,
    fhir_bundles: u64,
    fhir_files: u64,
    bytes: u64,
    seconds: f64,
}

pub fn run(args: &SynthArgs) -> anyhow::Result<()> {
    let config = SynthConfig {
        persons: args.persons,
        seed: args.seed,
        period: Period::months(&args.from, &args.to)?,
        rates: args.rates(),
        noise: args.noise(),
        rare_per_100k: args.rare_per_100k,
    };
    // indicatif draws on standard error and hides itself when that is not a
    // terminal, so scripted runs and `--json` output stay clean.
    let bar = ProgressBar::new(args.persons).with_style(ProgressStyle::with_template(
        "{spinner} {bar:40} {pos}/{len} persons  {per_sec}  eta {eta}",
    )?);
    let started = Instant::now();
    let summary = generate(&config, &args.out, |done| bar.set_position(done));
    bar.finish_and_clear();
    let summary = summary?;
    let report = SynthReport {
        out: args.out.display().to_string(),
        persons: summary.persons,
        names: summary.names,
        insurance_spells: summary.insurance_spells,
        eligibility_rows: summary.eligibility_rows,
        claims: summary.claims,
        uke_files: summary.uke_files,
        checkups: summary.checkups,
        checkup_archives: summary.checkup_archives,
        dpc_stays: summary.dpc_stays,
        dpc_files: summary.dpc_files,
        care_claims: summary.care_claims,
        care_files: summary.care_files,
        fhir_bundles: summary.fhir_bundles,
        fhir_files: summary.fhir_files,
        bytes: summary.bytes,
        seconds: started.elapsed().as_secs_f64(),
    };
    tracing::info!(
        persons = report.persons,
        seconds = report.seconds,
        "synthetic population written"
    );
    emit(args.report.json, &report, |r| {
        format!(
            "wrote {} persons to {} in {:.1} s: {} names, {} insurance spells, {} eligibility rows, \
             {} claims in {} UKE files, {} checkups in {} archives, {} DPC stays in {} files, \
             {} care claims in {} files, {} FHIR bundles in {} files, {} bytes\n",
            r.persons,
            r.out,
            r.seconds,
            r.names,
            r.insurance_spells,
            r.eligibility_rows,
            r.claims,
            r.uke_files,
            r.checkups,
            r.checkup_archives,
            r.dpc_stays,
            r.dpc_files,
            r.care_claims,
            r.care_files,
            r.fhir_bundles,
            r.fhir_files,
            r.bytes
        )
    })
}
