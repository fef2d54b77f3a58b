//! The local registry: content-addressed blog binaries (`sha256-<hex>`) with movable tags and
//! pushed-at times, the local stand-in for ECR.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::rollout::{Image, UnixMillis};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a readable registry index: {source}")]
    Index {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "`{0}` is not a valid tag: use 1 to 128 letters, digits, `_`, `.` or `-`, starting with a letter, digit or `_`"
    )]
    BadTag(String),
    #[error("no image is tagged `{tag}` in the local registry{}", known_tags(.known))]
    UnknownTag { tag: String, known: Vec<String> },
    #[error("{0} is not a file")]
    NotAFile(PathBuf),
}

fn known_tags(known: &[String]) -> String {
    if known.is_empty() {
        "; it is empty: build first (`bluegreen build`, or `bluegreen local publish --tag TAG FILE`)".into()
    } else {
        format!(" (tags: {})", known.join(", "))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The index: which digest each tag names, and when each image and tag was pushed.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Index {
    #[serde(default)]
    images: BTreeMap<String, ImageEntry>,
    #[serde(default)]
    tags: BTreeMap<String, TagEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ImageEntry {
    size_bytes: u64,
    pushed_at: UnixMillis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TagEntry {
    digest: String,
    pushed_at: UnixMillis,
}

#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

impl Registry {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Registry { dir: dir.into() }
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("tags.json")
    }

    fn blobs(&self) -> PathBuf {
        self.dir.join("blobs")
    }

    /// The executable for `digest` (`sha256:<hex>`).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.blobs().join(digest.replace(':', "-"))
    }

    /// Stores `file` under its digest and points each tag at it (moving tags that named
    /// another image). Safe against concurrent publishers: blobs are renamed into place and
    /// the index is updated under a lock.
    pub fn publish(&self, file: &Path, tags: &[String]) -> Result<Image, RegistryError> {
        for tag in tags {
            validate_tag(tag)?;
        }
        if !file.is_file() {
            return Err(RegistryError::NotAFile(file.to_path_buf()));
        }
        let blobs = self.blobs();
        fs::create_dir_all(&blobs).map_err(io(&blobs))?;
        let (digest, size) = hash_file(file)?;
        let blob = self.blob_path(&digest);
        if !blob.is_file() {
            let tmp = blobs.join(format!(".incoming-{}", std::process::id()));
            fs::copy(file, &tmp).map_err(io(&tmp))?;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).map_err(io(&tmp))?;
            fs::rename(&tmp, &blob).map_err(io(&blob))?;
        }
        let now = crate::clock::now_millis();
        self.update(|index| {
            index.images.entry(digest.clone()).or_insert(ImageEntry {
                size_bytes: size,
                pushed_at: now,
            });
            for tag in tags {
                index.tags.insert(
                    tag.clone(),
                    TagEntry {
                        digest: digest.clone(),
                        pushed_at: now,
                    },
                );
            }
        })?;
        let images = self.images()?;
        Ok(images
            .into_iter()
            .find(|i| i.digest == digest)
            .unwrap_or(Image {
                digest,
                tags: tags.to_vec(),
                size_bytes: Some(size),
                pushed_at: Some(now),
            }))
    }

    /// The digest a tag (or a `sha256:` digest) names.
    pub fn resolve(&self, reference: &str) -> Result<String, RegistryError> {
        let index = self.read()?;
        if reference.starts_with("sha256:") && index.images.contains_key(reference) {
            return Ok(reference.to_string());
        }
        match index.tags.get(reference) {
            Some(t) if self.blob_path(&t.digest).is_file() => Ok(t.digest.clone()),
            _ => Err(RegistryError::UnknownTag {
                tag: reference.to_string(),
                known: index.tags.keys().cloned().collect(),
            }),
        }
    }

    /// Every image, newest first, with its tags.
    pub fn images(&self) -> Result<Vec<Image>, RegistryError> {
        let index = self.read()?;
        let mut out: Vec<Image> = index
            .images
            .iter()
            .map(|(digest, e)| Image {
                digest: digest.clone(),
                tags: index
                    .tags
                    .iter()
                    .filter(|(_, t)| &t.digest == digest)
                    .map(|(name, _)| name.clone())
                    .collect(),
                size_bytes: Some(e.size_bytes),
                pushed_at: Some(e.pushed_at),
            })
            .collect();
        // Newest first: an image re-tagged later counts as newer, as a fresh push would.
        let latest = |i: &Image| {
            index
                .tags
                .values()
                .filter(|t| t.digest == i.digest)
                .map(|t| t.pushed_at)
                .chain(i.pushed_at)
                .max()
                .unwrap_or(0)
        };
        out.sort_by_key(|i| std::cmp::Reverse(latest(i)));
        Ok(out)
    }

    fn read(&self) -> Result<Index, RegistryError> {
        let path = self.index_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| RegistryError::Index {
                path: path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn update(&self, f: impl FnOnce(&mut Index)) -> Result<(), RegistryError> {
        let lock_path = self.dir.join("index.lock");
        let lock_file = File::create(&lock_path).map_err(io(&lock_path))?;
        let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| io(&lock_path)(e.into()))?;
        let mut index = self.read()?;
        f(&mut index);
        let path = self.index_path();
        let tmp = self.dir.join(format!(".tags.json.{}", std::process::id()));
        let json = serde_json::to_vec_pretty(&index).map_err(|source| RegistryError::Index {
            path: path.clone(),
            source,
        })?;
        let mut out = File::create(&tmp).map_err(io(&tmp))?;
        out.write_all(&json).map_err(io(&tmp))?;
        out.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(())
    }
}

/// The rules ECR applies to an image tag.
pub fn validate_tag(tag: &str) -> Result<(), RegistryError> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::BadTag(tag.to_string()))
    }
}

fn hash_file(path: &Path) -> Result<(String, u64), RegistryError> {
    let mut f = File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((format!("sha256:{}", hex::encode(hasher.finalize())), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_move_and_digests_are_shared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = Registry::new(dir.path().join("registry"));
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::write(&a, b"one").expect("write");
        fs::write(&b, b"two").expect("write");
        let img = reg
            .publish(&a, &["v1".into(), "v2".into()])
            .expect("publish");
        assert!(img.digest.starts_with("sha256:"));
        assert_eq!(img.tags, vec!["v1", "v2"]);
        assert_eq!(reg.resolve("v2").expect("v2"), img.digest);
        let img_b = reg.publish(&b, &["v2".into()]).expect("publish b");
        assert_eq!(reg.resolve("v2").expect("moved"), img_b.digest);
        assert_eq!(reg.resolve("v1").expect("kept"), img.digest);
        let images = reg.images().expect("list");
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].digest, img_b.digest, "newest first");
        let mode = fs::metadata(reg.blob_path(&img.digest))
            .expect("blob")
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "blobs are executable");
        let err = reg.resolve("v9").expect_err("unknown");
        assert!(err.to_string().contains("tags: v1, v2"), "{err}");
        assert!(matches!(
            reg.publish(&a, &["-bad".into()]),
            Err(RegistryError::BadTag(_))
        ));
    }
}
