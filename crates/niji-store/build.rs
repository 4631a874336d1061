//! Embeds the workspace's `migrations/<backend>/*.sql` into the crate, so
//! the binary carries the schema it was built with, for each backend, and
//! needs no files beside it.
//!
//! Nothing here may hold an absolute path: the target directory is shared by
//! every clone on a machine, and a compiled build script or its output from
//! one clone is reused by the next. So the directory is read from the
//! run-time CARGO_MANIFEST_DIR, rerun-if-changed paths are relative to the
//! package, and the generated code names files through `env!` in the library,
//! which is evaluated in the clone being compiled.

use std::fmt::Write as _;
use std::path::Path;

const DIR: &str = "../../migrations";
const BACKENDS: [&str; 3] = ["sqlite", "postgres", "duckdb"];

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo::rerun-if-changed={DIR}");
    let mut out = String::from(
        "/// The migrations embedded at build time: per backend, by file name.\n\
         pub(crate) static EMBEDDED: &[(&str, &[(&str, &str)])] = &[\n",
    );
    for backend in BACKENDS {
        let dir = Path::new(&manifest_dir).join(DIR).join(backend);
        println!("cargo::rerun-if-changed={DIR}/{backend}");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .map(|entry| entry.expect("readable migrations directory").file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        names.sort();
        writeln!(out, "    ({backend:?}, &[").unwrap();
        for name in &names {
            println!("cargo::rerun-if-changed={DIR}/{backend}/{name}");
            writeln!(
                out,
                "        ({name:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/{DIR}/{backend}/{name}\"))),"
            )
            .unwrap();
        }
        out.push_str("    ]),\n");
    }
    out.push_str("];\n");
    let target = Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded_migrations.rs");
    std::fs::write(target, out).expect("write embedded migrations");
}
