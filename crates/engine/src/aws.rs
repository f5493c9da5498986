//! Which AWS credentials a run gets: a named profile of the shared
//! credentials and config files, as AWS users keep them (static keys, MFA
//! session tokens, a role assumed from another profile), chosen by the
//! cluster's organization, else its blueprint, else the site's default.
//!
//! Only where to look reaches Terraform — the files' paths and the
//! profile's name, in its environment (`AWS_SHARED_CREDENTIALS_FILE`,
//! `AWS_CONFIG_FILE`, `AWS_PROFILE`). The keys stay in the files, which
//! must be private: never on a command line, in a variable (so never in a
//! state), or in a log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The AWS profiles runs use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsProfiles {
    /// The shared credentials file (default: the SDK's, `~/.aws/credentials`
    /// of the user Slipway runs as). It must not be readable by group or
    /// others.
    pub shared_credentials_file: Option<PathBuf>,
    /// The shared config file, where profiles name roles to assume, regions
    /// and endpoints (default: the SDK's, `~/.aws/config`).
    pub config_file: Option<PathBuf>,
    /// The profile of runs that no organization or blueprint entry names.
    pub profile: Option<String>,
    /// Profiles by organization: the account an organization pays from.
    pub organizations: BTreeMap<String, String>,
    /// Profiles by blueprint.
    pub blueprints: BTreeMap<String, String>,
}

impl AwsProfiles {
    /// The profile a run of `blueprint` for `organization` (none: a
    /// publishing check) uses: the organization's, else the blueprint's,
    /// else the default.
    pub fn profile_for(&self, organization: Option<&str>, blueprint: &str) -> Option<&str> {
        organization
            .and_then(|org| self.organizations.get(org))
            .or_else(|| self.blueprints.get(blueprint))
            .or(self.profile.as_ref())
            .map(String::as_str)
    }

    /// What Terraform's environment gets for such a run.
    pub fn environment(
        &self,
        organization: Option<&str>,
        blueprint: &str,
    ) -> Vec<(String, String)> {
        let mut env = Vec::new();
        let mut path = |name: &str, path: &Option<PathBuf>| {
            if let Some(path) = path {
                env.push((name.to_owned(), path.display().to_string()));
            }
        };
        path("AWS_SHARED_CREDENTIALS_FILE", &self.shared_credentials_file);
        path("AWS_CONFIG_FILE", &self.config_file);
        if let Some(profile) = self.profile_for(organization, blueprint) {
            env.push(("AWS_PROFILE".to_owned(), profile.to_owned()));
            // Older providers read profiles from the config file only when
            // asked to.
            env.push(("AWS_SDK_LOAD_CONFIG".to_owned(), "1".to_owned()));
        }
        env
    }

    /// Refuses a credentials file others may read, naming the fix.
    pub fn check(&self) -> Result<(), String> {
        let Some(file) = &self.shared_credentials_file else {
            return Ok(());
        };
        private_file(file)
    }
}

fn private_file(file: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file)
        .map_err(|e| {
            format!(
                "cannot read the AWS credentials file {}: {e}",
                file.display()
            )
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "the AWS credentials file {} may be read by others (mode {:o}): run chmod 600 {}",
            file.display(),
            mode & 0o777,
            file.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profiles() -> AwsProfiles {
        AwsProfiles {
            shared_credentials_file: Some("/etc/slipway/aws/credentials".into()),
            config_file: Some("/etc/slipway/aws/config".into()),
            profile: Some("site".into()),
            organizations: BTreeMap::from([("ops".into(), "ops-account".into())]),
            blueprints: BTreeMap::from([("aws-sliderule".into(), "sliderule".into())]),
        }
    }

    #[test]
    fn the_organization_then_the_blueprint_then_the_default_names_the_profile() {
        let p = profiles();
        assert_eq!(
            p.profile_for(Some("ops"), "aws-sliderule"),
            Some("ops-account")
        );
        assert_eq!(
            p.profile_for(Some("lab"), "aws-sliderule"),
            Some("sliderule")
        );
        assert_eq!(p.profile_for(None, "aws-sliderule"), Some("sliderule"));
        assert_eq!(p.profile_for(Some("lab"), "local"), Some("site"));
        assert_eq!(
            AwsProfiles::default().profile_for(Some("ops"), "local"),
            None
        );
    }

    #[test]
    fn terraform_gets_where_to_look_and_never_a_key() {
        let env = profiles().environment(Some("lab"), "aws-sliderule");
        let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(get("AWS_PROFILE"), Some("sliderule"));
        assert_eq!(
            get("AWS_SHARED_CREDENTIALS_FILE"),
            Some("/etc/slipway/aws/credentials")
        );
        assert_eq!(get("AWS_CONFIG_FILE"), Some("/etc/slipway/aws/config"));
        assert!(
            env.iter()
                .all(|(k, _)| !k.contains("KEY") && !k.contains("TOKEN"))
        );
        assert!(AwsProfiles::default().environment(None, "local").is_empty());
    }

    #[test]
    fn a_credentials_file_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(&file, "[base]\n").unwrap();
        let p = AwsProfiles {
            shared_credentials_file: Some(file.clone()),
            ..Default::default()
        };
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = p.check().unwrap_err();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        p.check().unwrap();
    }
}
