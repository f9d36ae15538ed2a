//! Image-folder sources: one sub-folder of PNG or JPEG images per class.
//!
//! The sub-folders' names, sorted, are the classes `0, 1, ...`; within a
//! class the images are taken in the order of their sorted file names, so
//! a folder always gives the same samples in the same order. Names that
//! start with a dot (`.DS_Store`) are skipped; any other file must be an
//! image. Each image is decoded on the back end's threads, converted to the
//! source's channel count when the program says `convert = true` (and
//! refused otherwise), resized (stretched, or scaled and centre-cropped),
//! and kept as bytes, channels first: `[channels, height, width]`.

use super::idx::first_bad_byte;
use super::{cache, checked_values, content_hash, DataError, FeedValues};
use crate::tensor::Tensor;
use dlp_compiler::program::{Feed, Read, Source};
use image::imageops::FilterType;
use image::{ImageFormat, ImageReader};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// What an `images(...)` source asks of every image.
#[derive(Clone, Copy, Debug)]
pub struct Wanted {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub crop: bool,
    pub convert: bool,
}

impl Wanted {
    /// The folder of an image-folder source, and what it asks of its images.
    pub fn of(source: &Source) -> Option<(&str, Wanted)> {
        match source {
            Source::Images {
                path,
                height,
                width,
                channels,
                crop,
                convert,
            } => Some((
                path,
                Wanted {
                    channels: *channels,
                    height: *height,
                    width: *width,
                    crop: *crop,
                    convert: *convert,
                },
            )),
            Source::Csv { .. } => None,
        }
    }
}

/// Separate folders per split must name the same classes in the same
/// order, or a label would mean one class in training and another in test.
pub fn same_classes(sources: &[(String, Source)], base: &Path) -> Result<(), DataError> {
    let mut first: Option<(PathBuf, Vec<String>)> = None;
    for (_, source) in sources {
        let Some((path, _)) = Wanted::of(source) else {
            continue;
        };
        let dir = base.join(path);
        let classes = list(&dir)?.classes;
        match &first {
            None => first = Some((dir, classes)),
            Some((other, theirs)) if *theirs != classes => {
                return Err(DataError::new(
                    &dir,
                    format!(
                        "has the class folders {}, but {} has {}: every split's folder needs the same class folders, or a label would name different classes",
                        names_text(&classes),
                        other.display(),
                        names_text(theirs)
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

impl Wanted {
    /// Everything that decides the prepared pixels, for the cache's key
    /// (the decoder and the filter too: a change there needs a new
    /// [`cache::VERSION`]).
    fn definition(&self) -> String {
        format!(
            "channels={} height={} width={} crop={} convert={} filter=triangle",
            self.channels, self.height, self.width, self.crop, self.convert
        )
    }
}

/// The images of a folder: the class names, and each image's file and class.
#[derive(Debug, PartialEq)]
pub struct Listing {
    pub classes: Vec<String>,
    pub images: Vec<(PathBuf, usize)>,
}

/// The classes and images of `dir`, in their sorted order.
pub fn list(dir: &Path) -> Result<Listing, DataError> {
    let kind = std::fs::metadata(dir)
        .map_err(|e| DataError::new(dir, format!("cannot read the folder: {e}")))?;
    if !kind.is_dir() {
        return Err(DataError::new(
            dir,
            "is a file, not a folder: `images` reads a folder with one sub-folder of images per class",
        ));
    }
    let mut classes = Vec::new();
    for (name, path) in entries(dir)? {
        if std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            classes.push((name, path));
        }
    }
    if classes.is_empty() {
        return Err(DataError::new(
            dir,
            "has no sub-folders: an image folder holds one sub-folder of images per class (`cat/`, `dog/`, ...)",
        ));
    }
    let mut images = Vec::new();
    for (class, (name, path)) in classes.iter().enumerate() {
        let before = images.len();
        for (_, file) in entries(path)? {
            let meta = std::fs::metadata(&file)
                .map_err(|e| DataError::new(&file, format!("cannot read the file: {e}")))?;
            if !meta.is_file() {
                return Err(DataError::new(
                    &file,
                    "is not an image file: a class folder holds only images (PNG or JPEG), not folders or special files",
                ));
            }
            images.push((file, class));
        }
        if images.len() == before {
            return Err(DataError::new(
                path,
                format!("class folder `{name}` holds no images: every class needs at least one"),
            ));
        }
    }
    Ok(Listing {
        classes: classes.into_iter().map(|(n, _)| n).collect(),
        images,
    })
}

/// The entries of `dir` but hidden ones, sorted by name.
fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, DataError> {
    let cannot = |e: std::io::Error| DataError::new(dir, format!("cannot read the folder: {e}"));
    let mut named = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let entry = entry.map_err(cannot)?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(DataError::new(
                &path,
                "has a name that is not UTF-8: rename it (class names and their order come from the names)",
            ));
        };
        if !name.starts_with('.') {
            named.push((name, path));
        }
    }
    named.sort();
    Ok(named)
}

/// Reads every image of `dir` for the feeds that read the source (pixels
/// and labels); returns the number of samples and each feed's values, and
/// records one content hash for the whole folder (names and bytes).
pub fn read(
    dir: &Path,
    wanted: Wanted,
    feeds: &[&Feed],
    files: &mut Vec<(PathBuf, String)>,
) -> Result<(Listing, Vec<(String, FeedValues)>), DataError> {
    let listing = list(dir)?;
    for feed in feeds {
        if let (Read::Label, Some(n)) = (&feed.read, feed.classes) {
            if n != listing.classes.len() {
                return Err(DataError::in_field(
                    dir,
                    feed,
                    None,
                    format!(
                        "the folder has {} class folders ({}), but the field reads class({n}): the class count must be the number of sub-folders",
                        listing.classes.len(),
                        names_text(&listing.classes)
                    ),
                ));
            }
        }
    }
    // Every file is hashed, for the run record and the cache's key; the
    // pixels come from the cache when this folder was prepared this way
    // before, else from decoding every image (on the back end's threads).
    let hashes: Vec<String> = crate::cpu::pool().install(|| {
        listing
            .images
            .par_iter()
            .map(|(file, _)| Ok(content_hash(&read_image_file(file)?)))
            .collect::<Result<_, DataError>>()
    })?;
    let hash = folder_hash(dir, &listing, &hashes);
    files.push((dir.to_path_buf(), hash.clone()));
    let n = listing.images.len();
    let size = n * wanted.channels * wanted.height * wanted.width;
    let needs_pixels = feeds.iter().any(|f| matches!(f.read, Read::Image { .. }));
    let key = cache::key(&["images", &hash, &wanted.definition()]);
    let mut pixels = match needs_pixels.then(|| cache::load(&key)) {
        None => Vec::new(),
        Some(Some(cached)) if cached.len() == size => cached,
        Some(_) => {
            let decoded = decode_all(&listing, wanted)?;
            let what = format!(
                "{n} images, {}x{}x{}{}{}",
                wanted.channels,
                wanted.height,
                wanted.width,
                if wanted.crop { ", cropped" } else { "" },
                if wanted.convert { ", converted" } else { "" }
            );
            cache::store(&key, "images", &dir.display().to_string(), &what, &decoded);
            decoded
        }
    };
    let n = listing.images.len();
    let mut out = Vec::new();
    let mut image_feeds = feeds
        .iter()
        .filter(|f| matches!(f.read, Read::Image { .. }))
        .count();
    for feed in feeds {
        let values = match &feed.read {
            Read::Image { .. } => {
                // Each field reading the pixels gets them; the last takes them.
                image_feeds -= 1;
                let bytes = if image_feeds == 0 {
                    std::mem::take(&mut pixels)
                } else {
                    pixels.clone()
                };
                if let Some((i, m)) = first_bad_byte(&bytes, feed) {
                    let per_image = bytes.len() / n.max(1);
                    let file = &listing.images[i / per_image.max(1)].0;
                    return Err(DataError::in_field(file, feed, None, m));
                }
                let mut shape = vec![n];
                shape.extend(&feed.shape);
                FeedValues::bytes(shape, feed.dtype, bytes)
            }
            _ => {
                let labels = listing.images.iter().map(|(_, c)| *c as f64);
                let data = checked_values(labels, "class", 1, feed)
                    .map_err(|(i, m)| DataError::in_field(&listing.images[i].0, feed, None, m))?;
                let mut shape = vec![n];
                shape.extend(&feed.shape);
                FeedValues::tensor(Tensor::new(shape, data))
            }
        };
        out.push((feed.name.clone(), values));
    }
    Ok((listing, out))
}

fn read_image_file(file: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(file).map_err(|e| DataError::new(file, format!("cannot read the file: {e}")))
}

/// Every image of the folder decoded, one after the other.
fn decode_all(listing: &Listing, wanted: Wanted) -> Result<Vec<u8>, DataError> {
    let decoded: Vec<Vec<u8>> = crate::cpu::pool().install(|| {
        listing
            .images
            .par_iter()
            .map(|(file, _)| {
                decode(&read_image_file(file)?, wanted).map_err(|m| DataError::new(file, m))
            })
            .collect::<Result<_, DataError>>()
    })?;
    Ok(decoded.concat())
}

/// One hash for the folder: every image's path (from the folder) and the
/// hash of its bytes, so that a renamed, moved or changed image changes it.
fn folder_hash(dir: &Path, listing: &Listing, hashes: &[String]) -> String {
    let mut hasher = Sha256::new();
    for ((file, _), hash) in listing.images.iter().zip(hashes) {
        let name = file.strip_prefix(dir).unwrap_or(file);
        hasher.update(name.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(hash.as_bytes());
        hasher.update([b'\n']);
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

fn names_text(names: &[String]) -> String {
    const SHOWN: usize = 6;
    let mut text: Vec<String> = names.iter().take(SHOWN).map(|n| format!("`{n}`")).collect();
    if names.len() > SHOWN {
        text.push(format!("and {} more", names.len() - SHOWN));
    }
    text.join(", ")
}

/// One image file's bytes as `[channels, height, width]` bytes, or why not.
pub fn decode(bytes: &[u8], wanted: Wanted) -> Result<Vec<u8>, String> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read the image: {e}"))?;
    let format = match reader.format() {
        Some(f @ (ImageFormat::Png | ImageFormat::Jpeg)) => f,
        Some(other) => {
            return Err(format!(
                "is a {other:?} image: an image folder reads PNG and JPEG files only"
            ))
        }
        None => {
            return Err(
                "is not a PNG or JPEG image (an image folder holds only images; names starting with `.` are skipped)"
                    .to_string(),
            )
        }
    };
    let image = reader
        .decode()
        .map_err(|e| format!("cannot decode the {format:?} image: {e}"))?;
    let has = usize::from(image.color().channel_count());
    if has != wanted.channels && !wanted.convert {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        // There is no `channels = 2` (gray with alpha) to suggest.
        let or_channels = if has == 2 {
            String::new()
        } else {
            format!(", or set `channels = {has}`")
        };
        return Err(format!(
            "is {} image ({has} channel{}), but the source reads {} images ({} channel{}): convert every image with `images(..., convert = true)`{or_channels}",
            colour_name(has),
            plural(has),
            colour_name(wanted.channels),
            wanted.channels,
            plural(wanted.channels),
        ));
    }
    let (width, height) = (wanted.width as u32, wanted.height as u32);
    let image = if (image.width(), image.height()) == (width, height) {
        image
    } else if wanted.crop {
        image.resize_to_fill(width, height, FilterType::Triangle)
    } else {
        image.resize_exact(width, height, FilterType::Triangle)
    };
    let interleaved = match wanted.channels {
        1 => image.to_luma8().into_raw(),
        3 => image.to_rgb8().into_raw(),
        _ => image.to_rgba8().into_raw(),
    };
    Ok(channels_first(&interleaved, wanted.channels))
}

fn colour_name(channels: usize) -> &'static str {
    match channels {
        1 => "a grayscale",
        2 => "a grayscale-with-alpha",
        3 => "an RGB",
        _ => "an RGBA",
    }
}

/// `[height, width, channels]` bytes as `[channels, height, width]`.
fn channels_first(interleaved: &[u8], channels: usize) -> Vec<u8> {
    if channels == 1 {
        return interleaved.to_vec();
    }
    let pixels = interleaved.len() / channels;
    let mut planes = vec![0; interleaved.len()];
    for (p, pixel) in interleaved.chunks_exact(channels).enumerate() {
        for (c, &v) in pixel.iter().enumerate() {
            planes[c * pixels + p] = v;
        }
    }
    planes
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, Rgb, RgbImage};

    fn png(image: RgbImage) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        image.write_to(&mut bytes, ImageFormat::Png).unwrap();
        bytes.into_inner()
    }

    fn wanted(channels: usize, height: usize, width: usize, crop: bool) -> Wanted {
        Wanted {
            channels,
            height,
            width,
            crop,
            convert: true,
        }
    }

    #[test]
    fn pixels_come_channels_first() {
        // 2x1: a red pixel then a blue one.
        let mut image = RgbImage::new(2, 1);
        image.put_pixel(0, 0, Rgb([255, 0, 0]));
        image.put_pixel(1, 0, Rgb([0, 0, 255]));
        let bytes = decode(&png(image), wanted(3, 1, 2, false)).unwrap();
        assert_eq!(bytes, [255, 0, 0, 0, 0, 255]);
    }

    #[test]
    fn crop_keeps_the_centre_and_stretch_keeps_everything() {
        // 6x2: two black columns on each side of two white ones.
        let mut image = RgbImage::new(6, 2);
        for y in 0..2 {
            for x in 2..4 {
                image.put_pixel(x, y, Rgb([255, 255, 255]));
            }
        }
        let cropped = decode(&png(image.clone()), wanted(1, 2, 2, true)).unwrap();
        assert_eq!(cropped, [255; 4], "the centre 2x2 is white");
        let stretched = decode(&png(image), wanted(1, 2, 2, false)).unwrap();
        assert!(stretched.iter().all(|&v| v < 255), "{stretched:?}");
    }

    #[test]
    fn colour_is_converted_only_when_asked() {
        let image = png(RgbImage::from_pixel(2, 2, Rgb([0, 255, 0])));
        let strict = Wanted {
            convert: false,
            ..wanted(1, 2, 2, false)
        };
        let refused = decode(&image, strict).unwrap_err();
        assert!(refused.contains("an RGB image (3 channels)"), "{refused}");
        let gray = decode(&image, wanted(1, 2, 2, false)).unwrap();
        assert_eq!(gray.len(), 4);
        assert!(
            gray.iter().all(|&v| v > 100 && v < 255),
            "luma of green: {gray:?}"
        );
        let rgba = decode(&image, wanted(4, 2, 2, false)).unwrap();
        assert_eq!(&rgba[12..], [255; 4], "an added alpha is opaque");
    }

    #[test]
    fn only_png_and_jpeg_are_images() {
        let message = decode(b"GIF89a....", wanted(3, 1, 1, false)).unwrap_err();
        assert!(message.contains("PNG and JPEG"), "{message}");
        let message = decode(b"hello", wanted(3, 1, 1, false)).unwrap_err();
        assert!(message.contains("is not a PNG or JPEG image"), "{message}");
    }
}
