/*!
The shared vocabulary of niji: the words every other crate uses.

niji is a platform for the secondary use (二次利用) of Japanese health data.
This crate holds what the other crates must agree on and nothing that does
work of its own:

- [`bucket`]: the hidden person bucket of release tables, which lets
  disclosure control bound a cell's persons cheaply;
- [`config`]: the platform configuration (`niji.toml` plus `NIJI_*`
  environment overrides), loaded with errors that name the file and line;
- [`content`]: the canonical content schema every adapter writes, as Arrow
  schemas;
- [`person_index`]: the hidden person index of release tables, with which
  the analysis API keeps each released number's persons as a bitmap;
- [`person_rows`]: the most rows one person has in each release table,
  which lets disclosure control bound a cell's persons from its row count;
- [`role`]: who an account is — an administrator, a review-board member or an
  approved researcher;
- [`secret`]: a string that holds a secret (a passphrase, a password) and
  refuses to show it in `Debug` output.

```
use niji_core::config::{Config, LogFormat};

let config = Config::from_toml_str("data = \"/srv/niji\"\n[log]\nformat = \"json\"\n", "niji.toml")
    .expect("valid configuration");
assert_eq!(config.data, std::path::PathBuf::from("/srv/niji"));
assert_eq!(config.log.format, LogFormat::Json);
```
*/
#![deny(missing_docs)]

pub mod bucket;
pub mod busy;
pub mod config;
pub mod content;
pub mod geography;
pub mod person_index;
pub mod person_rows;
pub mod role;
pub mod secret;

pub use config::Config;
pub use role::Role;
pub use secret::SecretString;
