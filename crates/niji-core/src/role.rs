//! Account roles.

use std::fmt;
use std::str::FromStr;

/// What an account may do on the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Operates the platform: accounts, keys, releases. Never reads release
    /// data through the analysis API without a grant like anyone else.
    Admin,
    /// A member of a review board (expert committee) that judges applications.
    Reviewer,
    /// An approved researcher working inside a granted project.
    Researcher,
    /// A person whose data the platform holds, looking at who used it.
    /// (Source systems are not accounts: they hold per-facility
    /// credentials of their own, `niji sources`.)
    Citizen,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Reviewer, Role::Researcher, Role::Citizen];

    /// The role's name as stored and as typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Reviewer => "reviewer",
            Role::Researcher => "researcher",
            Role::Citizen => "citizen",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: expected admin, reviewer, researcher or citizen")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        let err = "root".parse::<Role>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown role `root`: expected admin, reviewer, researcher or citizen"
        );
    }
}
