//! Where the gateway's configuration comes from: a configuration file, or a
//! snapshot directory, loaded the same way at start and on every reload.
//!
//! Guarantees: [`Source::load`] returns a gateway that passed every check of
//! its kind (a configuration's validation, or a snapshot's header, hash,
//! bytecheck and invariants), with the id it has as a snapshot, so logs name
//! a deployment the same way whichever way it was loaded. Errors are
//! sentences, one per problem; none is fatal to a running gateway (the caller
//! decides). Does not: watch files (see [`Source::watched_file`]).

use std::path::{Path, PathBuf};

use super::dir::CURRENT;
use super::{encode, id_of, read_current};
use crate::config::Gateway;

/// Where the gateway's configuration comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A YAML or JSON configuration file.
    Config(PathBuf),
    /// A snapshot directory: serve the snapshot its `current` names.
    Snapshots(PathBuf),
}

/// A loaded, validated gateway and what it is.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub gateway: Gateway,
    /// Snapshot id (for a config file: the id its compiled snapshot would have).
    pub id: String,
    /// The file it was read from: "config/gateway.yaml" or "snapshots/3f2a….snap".
    pub origin: String,
}

impl Source {
    /// A directory is a snapshot directory; anything else a config file.
    pub fn from_arg(path: &Path) -> Source {
        if path.is_dir() {
            Source::Snapshots(path.to_owned())
        } else {
            Source::Config(path.to_owned())
        }
    }

    /// Load, validate and resolve. Errors are full sentences, one per
    /// problem, config errors as `file:line:column: message`.
    pub fn load(&self) -> Result<Loaded, Vec<String>> {
        match self {
            Source::Config(path) => {
                let gateway = crate::config::load(path)
                    .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
                Ok(Loaded {
                    id: id_of(&encode(&gateway)),
                    gateway,
                    origin: path.display().to_string(),
                })
            }
            Source::Snapshots(dir) => {
                let (id, gateway) = read_current(dir).map_err(|e| vec![e.to_string()])?;
                Ok(Loaded {
                    gateway,
                    origin: dir.join(format!("{id}.snap")).display().to_string(),
                    id,
                })
            }
        }
    }

    /// The file whose change means "reload": the config file, or DIR/current.
    pub fn watched_file(&self) -> PathBuf {
        match self {
            Source::Config(path) => path.clone(),
            Source::Snapshots(dir) => dir.join(CURRENT),
        }
    }
}
