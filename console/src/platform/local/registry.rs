//! The local registry: content-addressed blog binaries (`sha256-<hex>`) with movable tags and
//! pushed-at times, the local stand-in for ECR.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::files::{self, StateFileError};
use crate::rollout::{Image, UnixMillis};

/// An image digest: `sha256:` and 64 lowercase hex digits. Digests name blob files, so one
/// read from a file, the socket or a flag is parsed into this before it comes near a path;
/// anything else (`../../bin/sh`) is refused.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an image digest (`sha256:` and 64 lowercase hex digits)")]
pub struct BadDigest(String);

impl Digest {
    const PREFIX: &str = "sha256:";

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The blob's file name: `sha256-<hex>`, a single path component.
    fn file_name(&self) -> String {
        self.0.replacen(':', "-", 1)
    }
}

impl FromStr for Digest {
    type Err = BadDigest;

    fn from_str(s: &str) -> Result<Self, BadDigest> {
        let ok = s.strip_prefix(Self::PREFIX).is_some_and(|hex| {
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if ok {
            Ok(Digest(s.to_string()))
        } else {
            Err(BadDigest(s.to_string()))
        }
    }
}

impl TryFrom<String> for Digest {
    type Error = BadDigest;

    fn try_from(s: String) -> Result<Self, BadDigest> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

/// Reads as the string it is, for formatting and comparing; it is only made by parsing.
impl std::ops::Deref for Digest {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Index(#[from] StateFileError),
    #[error("{0}")]
    BadDigest(#[from] BadDigest),
    #[error(
        "`{0}` is not a valid tag: use 1 to 128 letters, digits, `_`, `.` or `-`, starting with a letter, digit or `_`"
    )]
    BadTag(String),
    #[error("no image is tagged `{tag}` in the local registry{}", known_tags(.known))]
    UnknownTag { tag: String, known: Vec<String> },
    #[error("{0} is not a file")]
    NotAFile(PathBuf),
    #[error("{}", unsafe_file(.path, .why))]
    NotYours { path: PathBuf, why: String },
    #[error(
        "{path} does not hold image {digest} any more (its content hashes to {found}): it was changed after it was stored, and is not run; remove it and publish the image again (`bluegreen local publish --tag TAG FILE`, or `bluegreen build`)"
    )]
    Tampered {
        path: PathBuf,
        digest: String,
        found: String,
    },
}

fn unsafe_file(path: &Path, why: &str) -> String {
    format!(
        "{} {why}: the daemon runs what the registry holds, so it does not trust it; if it is yours, `chown` it to this user and `chmod go-w` it, else remove the registry ({}) and publish again",
        path.display(),
        path.parent()
            .map_or(path, |p| p.parent().unwrap_or(p))
            .display()
    )
}

/// Refuses a registry file (or directory) that another user owns or that others may write:
/// the daemon executes the registry's blobs, as root on CI machines.
fn check_trusted(path: &Path, meta: &std::fs::Metadata) -> Result<(), RegistryError> {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    let why = if meta.uid() != me {
        Some(format!(
            "is owned by uid {}, not by this user (uid {me})",
            meta.uid()
        ))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "can be written by others (mode {:o})",
            meta.mode() & 0o777
        ))
    } else {
        None
    };
    match why {
        Some(why) => Err(RegistryError::NotYours {
            path: path.to_path_buf(),
            why,
        }),
        None => Ok(()),
    }
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
    images: BTreeMap<Digest, ImageEntry>,
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
    digest: Digest,
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

    /// The executable for `digest`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs().join(digest.file_name())
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
        // `local publish` runs in the CLI, with the user's umask: the modes are explicit.
        files::create_private_dir(&blobs).map_err(io(&blobs))?;
        let (digest, size) = hash_file(file)?;
        let blob = self.blob_path(&digest);
        if !blob.is_file() {
            let mut src = File::open(file).map_err(io(file))?;
            files::write_atomic_with(&blob, files::EXEC_MODE, |out| {
                std::io::copy(&mut src, out).map(|_| ())
            })
            .map_err(io(&blob))?;
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
            .find(|i| i.digest == digest.as_str())
            .unwrap_or(Image {
                digest: digest.into(),
                tags: tags.to_vec(),
                size_bytes: Some(size),
                pushed_at: Some(now),
            }))
    }

    /// The digest a tag (or a `sha256:` digest) names.
    pub fn resolve(&self, reference: &str) -> Result<Digest, RegistryError> {
        let index = self.read()?;
        if reference.starts_with(Digest::PREFIX) {
            let digest: Digest = reference.parse()?;
            if index.images.contains_key(&digest) {
                return Ok(digest);
            }
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
                digest: digest.to_string(),
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
                .filter(|t| t.digest.as_str() == i.digest)
                .map(|t| t.pushed_at)
                .chain(i.pushed_at)
                .max()
                .unwrap_or(0)
        };
        out.sort_by_key(|i| std::cmp::Reverse(latest(i)));
        Ok(out)
    }

    /// Reads the index, for the daemon to refuse to start on a damaged one rather than fail
    /// every deploy later, and refuses a registry (directory, index, blobs) another user owns
    /// or others may write.
    pub fn check(&self) -> Result<(), RegistryError> {
        let blobs = self.blobs();
        for path in [self.dir.clone(), self.index_path(), blobs.clone()] {
            match std::fs::symlink_metadata(&path) {
                Ok(meta) => check_trusted(&path, &meta)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
        }
        if let Ok(entries) = std::fs::read_dir(&blobs) {
            for entry in entries.flatten() {
                let path = entry.path();
                let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
                check_trusted(&path, &meta)?;
            }
        }
        self.read().map(|_| ())
    }

    /// Opens the blob of `digest` to be executed: a regular file of this user that others
    /// cannot write, whose content still hashes to `digest` (read from the descriptor
    /// returned, so what was checked is what runs: execute it as `/proc/self/fd/N`).
    pub fn open_verified(&self, digest: &Digest) -> Result<File, RegistryError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.blob_path(digest);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io(&path))?;
        let meta = file.metadata().map_err(io(&path))?;
        if !meta.is_file() {
            return Err(RegistryError::NotAFile(path));
        }
        check_trusted(&path, &meta)?;
        let (found, _) = hash_reader(&mut file, &path)?;
        if &found != digest {
            return Err(RegistryError::Tampered {
                path,
                digest: digest.to_string(),
                found: found.to_string(),
            });
        }
        Ok(file)
    }

    fn read(&self) -> Result<Index, RegistryError> {
        let path = self.index_path();
        let blobs = self.blobs();
        let index = files::read_json(&path, || {
            format!(
                "it names the image each tag points at; to start over, {} and publish again (`bluegreen build`, or `bluegreen local publish --tag TAG FILE`): the binaries in {} stay, but no tag names them until then",
                files::move_aside(&path),
                blobs.display()
            )
        })?;
        Ok(index.unwrap_or_default())
    }

    fn update(&self, f: impl FnOnce(&mut Index)) -> Result<(), RegistryError> {
        let lock_path = self.dir.join("index.lock");
        let lock_file = files::private_file()
            .write(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| io(&lock_path)(e.into()))?;
        let mut index = self.read()?;
        f(&mut index);
        let path = self.index_path();
        files::write_json(&path, &index).map_err(io(&path))
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

fn hash_file(path: &Path) -> Result<(Digest, u64), RegistryError> {
    let mut f = File::open(path).map_err(io(path))?;
    hash_reader(&mut f, path)
}

fn hash_reader(f: &mut impl Read, path: &Path) -> Result<(Digest, u64), RegistryError> {
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
    let digest = Digest(format!(
        "{}{}",
        Digest::PREFIX,
        hex::encode(hasher.finalize())
    ));
    Ok((digest, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use crate::platform::local::files::tests::{assert_damaged, assert_private};

    const GOOD: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_blob_is_checked_when_it_is_run_not_only_when_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = Registry::new(dir.path().join("registry"));
        let a = dir.path().join("a");
        fs::write(&a, b"#!/bin/sh\necho one\n").expect("write");
        let img = reg.publish(&a, &["v1".into()]).expect("publish");
        let digest: Digest = img.digest.parse().expect("digest");
        reg.open_verified(&digest).expect("as stored");
        reg.check().expect("a registry of our own");
        let blob = reg.blob_path(&digest);
        // Someone swaps the content in place (the mode is put back).
        let mode = fs::metadata(&blob).expect("meta").permissions();
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o700)).expect("chmod");
        fs::write(&blob, b"#!/bin/sh\necho evil\n").expect("replace");
        fs::set_permissions(&blob, mode).expect("chmod back");
        let e = reg.open_verified(&digest).expect_err("tampered");
        assert!(matches!(e, RegistryError::Tampered { .. }), "{e}");
        assert!(e.to_string().contains("publish the image again"), "{e}");
        // A blob others may write is refused before it is read, at start and when run.
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o777)).expect("chmod");
        let e = reg.open_verified(&digest).expect_err("open to others");
        assert!(
            e.to_string().contains("written by others (mode 777)"),
            "{e}"
        );
        let e = reg.check().expect_err("refused at start");
        assert!(e.to_string().contains("chmod go-w"), "{e}");
        // A symbolic link in place of a blob is not followed.
        fs::remove_file(&blob).expect("rm");
        std::os::unix::fs::symlink(&a, &blob).expect("symlink");
        assert!(reg.open_verified(&digest).is_err());
    }

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
        assert_eq!(reg.resolve("v2").expect("v2").as_str(), img.digest);
        let img_b = reg.publish(&b, &["v2".into()]).expect("publish b");
        assert_eq!(reg.resolve("v2").expect("moved").as_str(), img_b.digest);
        assert_eq!(reg.resolve("v1").expect("kept").as_str(), img.digest);
        assert_eq!(
            reg.resolve(&img.digest).expect("by digest").as_str(),
            img.digest
        );
        let images = reg.images().expect("list");
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].digest, img_b.digest, "newest first");
        let digest: Digest = img.digest.parse().expect("a digest");
        let mode = fs::metadata(reg.blob_path(&digest))
            .expect("blob")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o700,
            "blobs are executable, by their owner only"
        );
        let err = reg.resolve("v9").expect_err("unknown");
        assert!(err.to_string().contains("tags: v1, v2"), "{err}");
        assert!(matches!(
            reg.publish(&a, &["-bad".into()]),
            Err(RegistryError::BadTag(_))
        ));
    }

    #[test]
    fn only_sha256_and_64_lowercase_hex_digits_is_a_digest() {
        let d: Digest = GOOD.parse().expect("valid");
        assert_eq!(d.file_name(), GOOD.replace(':', "-"));
        let upper = GOOD.replace("abcdef", "ABCDEF");
        let unprefixed = GOOD.trim_start_matches("sha256:").to_string();
        for bad in [
            "../../bin/sh",
            "sha256:../../../../bin/sh",
            "sha256:0123abcd",
            upper.as_str(),
            unprefixed.as_str(),
            "sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            &format!("{GOOD}0"),
            &format!("{GOOD}/"),
        ] {
            let err = bad.parse::<Digest>().expect_err(bad).to_string();
            assert!(
                err.contains(&format!("{bad:?} is not an image digest")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_digest_from_the_socket_or_a_flag_is_parsed_before_it_is_looked_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = Registry::new(dir.path().join("registry"));
        let err = reg.resolve("sha256:../../bin/sh").expect_err("refused");
        assert!(matches!(err, RegistryError::BadDigest(_)), "{err}");
        assert!(err.to_string().contains("\"sha256:../../bin/sh\""), "{err}");
    }

    /// `tags.json` with `body`, and the error reading it gives.
    fn damaged_index(body: &str) -> (tempfile::TempDir, PathBuf, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = Registry::new(dir.path().join("registry"));
        fs::create_dir_all(dir.path().join("registry")).expect("mkdir");
        let path = reg.index_path();
        fs::write(&path, body).expect("write");
        let err = reg.check().expect_err("damaged").to_string();
        assert!(reg.resolve("v1").is_err() && reg.images().is_err());
        (dir, path, err)
    }

    #[test]
    fn a_damaged_index_is_an_error_naming_it_and_the_way_out() {
        let (_dir, path, err) = damaged_index("{\"tags\": {\"v1\": ");
        assert_damaged(&err, &path, "(EOF while parsing");
        assert!(
            err.contains("bluegreen local publish --tag TAG FILE"),
            "{err}"
        );
    }

    #[test]
    fn an_index_naming_a_path_instead_of_a_digest_is_refused() {
        for digest in ["../../../../bin/sh", "sha256:abc", &GOOD.to_uppercase()] {
            let body =
                format!("{{\"tags\": {{\"v1\": {{\"digest\": \"{digest}\", \"pushed_at\": 1}}}}}}");
            let why = format!("{digest:?} is not an image digest");
            let (_dir, path, err) = damaged_index(&body);
            assert_damaged(&err, &path, &why);
            let key = format!(
                "{{\"images\": {{\"{digest}\": {{\"size_bytes\": 1, \"pushed_at\": 1}}}}}}"
            );
            let (_dir, path, err) = damaged_index(&key);
            assert_damaged(&err, &path, &why);
        }
    }

    #[test]
    fn a_publish_from_the_cli_leaves_only_private_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = Registry::new(dir.path().join("state").join("registry"));
        let bin = dir.path().join("blog");
        fs::write(&bin, b"#!/bin/sh\n").expect("write");
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod");
        reg.publish(&bin, &["v1".into()]).expect("publish");
        reg.publish(&bin, &["v2".into()]).expect("again");
        assert_private(&dir.path().join("state"));
    }

    mod proptests {
        use super::*;
        use proptest::prelude::*;

        fn is_digest(s: &str) -> bool {
            s.strip_prefix("sha256:").is_some_and(|h| {
                h.len() == 64
                    && h.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
        }

        proptest! {
            #![proptest_config(crate::prop::config())]

            #[test]
            fn a_digest_is_exactly_sha256_and_64_lowercase_hex(
                s in prop_oneof!["\\PC{0,80}", "sha256:[0-9a-fA-F./]{62,66}", "sha256:[0-9a-f]{64}"],
            ) {
                match s.parse::<Digest>() {
                    Ok(d) => {
                        prop_assert!(is_digest(&s));
                        let name = d.file_name();
                        prop_assert!(!name.contains('/') && !name.contains("..") && name.starts_with("sha256-"));
                        prop_assert_eq!(d.to_string().parse::<Digest>().ok(), Some(d.clone()));
                        let json = serde_json::to_string(&d).expect("serializes");
                        prop_assert_eq!(serde_json::from_str::<Digest>(&json).ok(), Some(d));
                    }
                    Err(e) => {
                        prop_assert!(!is_digest(&s));
                        prop_assert!(e.to_string().contains("64 lowercase hex"));
                        let json = serde_json::to_string(&s).expect("serializes");
                        prop_assert!(serde_json::from_str::<Digest>(&json).is_err());
                    }
                }
            }

            #[test]
            fn a_tag_follows_ecr_rules(
                tag in prop_oneof!["\\PC{0,20}", "[A-Za-z0-9_][A-Za-z0-9_.-]{0,140}", "[./-][a-z]{0,4}"],
            ) {
                let valid = !tag.is_empty()
                    && tag.len() <= 128
                    && !tag.starts_with(['.', '-'])
                    && tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
                match validate_tag(&tag) {
                    Ok(()) => {
                        prop_assert!(valid);
                        prop_assert!(!tag.contains('/') && tag != "." && tag != "..");
                    }
                    Err(e) => {
                        prop_assert!(!valid);
                        prop_assert!(e.to_string().contains("1 to 128"));
                    }
                }
            }
        }
    }
}
