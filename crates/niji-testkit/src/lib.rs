/*!
Test fixtures built once and shared by every test process.

cargo-nextest runs each test in a process of its own, so a `OnceLock` in a
test binary no longer shares anything between tests. A fixture here is a
directory under the test target's scratch directory, keyed by the test
binary's build (its path, size and modification time) and by the programs
the fixture is made with, and built by the first process that asks for it
while the others wait on a lock file. A new build of either builds it
afresh; the fixtures of older builds are removed then.

A test that writes into a fixture takes a copy first ([`copy_dir`]).

```
// In an integration test the scratch directory is env!("CARGO_TARGET_TMPDIR").
let scratch = std::env::temp_dir().join("niji-testkit-doc");
let pop = niji_testkit::shared(&scratch, "population-400", &[], |dir| {
    std::fs::write(dir.join("persons.csv"), "person_id\n")
});
assert!(pop.join("persons.csv").exists());
```
*/
#![deny(missing_docs)]

pub mod ballista;
pub mod oidc;
pub mod postgres;

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};

/// The file whose presence says a fixture was built to its end.
const COMPLETE: &str = ".niji-fixture-complete";

/// The directory of fixture `name` under `scratch` (a test target's
/// `CARGO_TARGET_TMPDIR`), built by `build` into an empty directory if this
/// build of the test binary and of `programs` (executables `build` runs,
/// such as the `niji` binary) has not built it yet. Concurrent callers wait
/// for the one that builds. A build that fails or panics leaves nothing
/// that a later call would take as built; the panic is raised here with the
/// fixture's name.
pub fn shared(
    scratch: impl AsRef<Path>,
    name: &str,
    programs: &[&Path],
    build: impl FnOnce(&Path) -> io::Result<()>,
) -> PathBuf {
    match try_shared(scratch.as_ref(), name, programs, build) {
        Ok(dir) => dir,
        Err(err) => panic!("fixture {name}: {err}"),
    }
}

fn try_shared(
    scratch: &Path,
    name: &str,
    programs: &[&Path],
    build: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<PathBuf> {
    let root = scratch.join("fixtures");
    std::fs::create_dir_all(&root)?;
    let dir = root.join(format!("{name}-{:016x}", build_id(programs)?));
    // The lock is held until the fixture is whole; the operating system
    // releases it if this process dies while building.
    let lock = File::create(root.join(format!("{name}.lock")))?;
    lock.lock()?;
    if dir.join(COMPLETE).exists() {
        return Ok(dir);
    }
    remove_builds_of(&root, name)?;
    let building = root.join(format!("{name}.building"));
    if building.exists() {
        std::fs::remove_dir_all(&building)?;
    }
    std::fs::create_dir_all(&building)?;
    build(&building)?;
    File::create(building.join(COMPLETE))?;
    std::fs::rename(&building, &dir)?;
    Ok(dir)
}

/// Removes `name`'s fixtures of earlier builds, whose binaries are gone.
fn remove_builds_of(root: &Path, name: &str) -> io::Result<()> {
    let prefix = format!("{name}-");
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        // Only this fixture's own builds: `name-<16 hex digits>`.
        if rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_hexdigit()) {
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

/// Identifies the builds of the running test binary and of `programs`:
/// a file's path, size and modification time change whenever cargo links
/// it again.
fn build_id(programs: &[&Path]) -> io::Result<u64> {
    let exe = std::env::current_exe()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in std::iter::once(exe.as_path()).chain(programs.iter().copied()) {
        let meta = std::fs::metadata(file)?;
        file.hash(&mut hasher);
        meta.len().hash(&mut hasher);
        meta.modified()?.hash(&mut hasher);
    }
    Ok(hasher.finish())
}

/// Copies the directory tree `from` into `to` (created if missing): files,
/// directories and nothing else. For a test that writes into a fixture.
pub fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_name() == COMPLETE {
            continue;
        }
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixture_is_built_once_and_a_failed_build_leaves_nothing() {
        let scratch = std::env::temp_dir().join(format!("niji-testkit-{}", std::process::id()));
        let mut builds = 0;
        for _ in 0..3 {
            let dir = shared(&scratch, "counted", &[], |dir| {
                builds += 1;
                std::fs::write(dir.join("a"), "x")
            });
            assert_eq!(std::fs::read_to_string(dir.join("a")).unwrap(), "x");
        }
        assert_eq!(builds, 1);

        let failed = try_shared(&scratch, "failing", &[], |dir| {
            std::fs::write(dir.join("half"), "x")?;
            Err(io::Error::other("stopped half-way"))
        });
        assert!(failed.is_err());
        let again = shared(&scratch, "failing", &[], |dir| {
            std::fs::write(dir.join("whole"), "y")
        });
        assert!(again.join("whole").exists() && !again.join("half").exists());

        let copy = scratch.join("copy");
        copy_dir(&again, &copy).unwrap();
        assert!(copy.join("whole").exists() && !copy.join(COMPLETE).exists());
        std::fs::remove_dir_all(&scratch).unwrap();
    }
}
